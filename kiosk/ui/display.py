"""The patron's display settings as the kv rules see them: the text scale
(the larger-text switch: every font size x :data:`theme.LARGE_TEXT_SCALE`)
and the active palette (the high-contrast switch).

The flows own the choice (``View.large_text`` / ``View.high_contrast``, kept
for the session); :class:`~kiosk.ui.app.KioskRoot` hands each new View to
:meth:`Display.apply`.  kv rules import :data:`DISPLAY` as ``D`` and bind to
it, so a switch redraws every screen, hidden ones too::

    #:import D kiosk.ui.display.DISPLAY
    color: D.palette[self.tone]
    font_size: sp(theme.FONT_BODY) * D.text_scale

(kv bindings to a global dispatcher are dropped when their widget is
collected, so rows built per session leave nothing behind.)
"""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, DictProperty, NumericProperty

from . import theme

_TABLES = {name: theme.rgba_table(palette) for name, palette in theme.PALETTES.items()}


class Display(EventDispatcher):
    #: every font size is multiplied by this (1 or theme.LARGE_TEXT_SCALE)
    text_scale = NumericProperty(1.0)
    large_text = BooleanProperty(False)
    high_contrast = BooleanProperty(False)
    #: colour name -> Kivy rgba of the active palette
    palette = DictProperty(_TABLES["default"])

    def apply(self, *, large_text: bool, high_contrast: bool) -> bool:
        """Show the display the patron chose; True when anything changed."""
        changed = large_text != self.large_text or high_contrast != self.high_contrast
        if high_contrast != self.high_contrast:
            name = "high_contrast" if high_contrast else "default"
            theme.use_palette(name)  # first: Python-side readers (theme.rgba) see the new palette
            self.high_contrast = high_contrast
            self.palette = _TABLES[name]
        if large_text != self.large_text:
            self.large_text = large_text
            self.text_scale = theme.LARGE_TEXT_SCALE if large_text else 1.0
        return changed

    def alpha(self, name: str, alpha: float, _palette: object = None) -> tuple[float, float, float, float]:
        """An active colour with *alpha* (kv: ``D.alpha('scrim', 0.55, D.palette)`` binds to the palette)."""
        r, g, b, _a = self.palette[name]
        return (r, g, b, alpha)


DISPLAY = Display()


# ---------------------------------------------------------------------- the top bar


from kivy.metrics import dp  # noqa: E402
from kivy.properties import ObjectProperty  # noqa: E402
from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.layout import Layout  # noqa: E402
from kivy.uix.scrollview import ScrollView  # noqa: E402

from .widgets import KButton  # noqa: E402


class FitScroll(ScrollView):
    """A vertical ScrollView whose one child is at least as tall as the view
    and scrolls only when it needs more room (200 % text).  While it fits,
    scrolling is off and touches reach the buttons at once (a scrolling
    ScrollView holds a tap back ~0.2 s to tell it from a drag)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("do_scroll_x", False)
        kwargs.setdefault("do_scroll_y", False)
        kwargs.setdefault("bar_width", dp(10))
        super().__init__(**kwargs)
        self.bind(height=self._fit)

    def add_widget(self, widget, *args, **kwargs):
        super().add_widget(widget, *args, **kwargs)
        widget.size_hint_y = None
        widget.bind(minimum_height=self._fit)
        self._fit()

    def _fit(self, *_args) -> None:
        if not self.children:
            return
        child = self.children[0]
        child.height = max(self.height, child.minimum_height)
        self.do_scroll_y = child.minimum_height > self.height + 1


class TopBarButton(KButton):
    """A top-bar button (language, display switches): one line, as wide as
    its text needs (the larger-text switch makes it wider)."""


class DisplaySwitches(BoxLayout):
    """The two display switches beside the language buttons (display.kv)."""

    kroot = ObjectProperty(None, allownone=True)


class TopBar(Layout):
    """The top bar: the kiosk's name on the left, its buttons right-aligned.
    Buttons that do not fit on one row wrap onto the next (200 % text), the
    name takes what is left of the first row and wraps in it."""

    def __init__(self, **kwargs):
        self.padding_x, self.padding_y, self.spacing = dp(20), dp(8), dp(12)
        super().__init__(**kwargs)
        self.size_hint_y = None
        self.bind(pos=self._trigger_layout, width=self._trigger_layout)

    def do_layout(self, *_args) -> None:
        if not self.children:
            return
        name = self.children[-1]  # the first child: the kiosk's name
        avail = self.width - 2 * self.padding_x
        rows: list[list] = [[]]
        used = 0.0
        min_name = dp(180) * DISPLAY.text_scale
        items = list(reversed(self.children[:-1]))
        for item in items:
            w = item.width
            limit = avail - (min_name + self.spacing if len(rows) == 1 else 0)
            if rows[-1] and used + self.spacing + w > limit:
                rows.append([])
                used = 0.0
            used += (self.spacing if rows[-1] else 0) + w
            rows[-1].append(item)
        widths = [sum(c.width for c in row) + self.spacing * max(len(row) - 1, 0) for row in rows]
        name.width = max(avail - widths[0] - (self.spacing if rows[0] else 0), dp(10))
        heights = [max([c.height for c in row] + ([name.height] if i == 0 else []) or [0])
                   for i, row in enumerate(rows)]
        total = sum(heights) + self.spacing * (len(rows) - 1) + 2 * self.padding_y
        self.height = max(total, dp(80))
        top = self.top - self.padding_y - max(0.0, (self.height - total) / 2)
        for i, row in enumerate(rows):
            x = self.right - self.padding_x - widths[i]
            for c in row:
                c.pos = (x, top - heights[i] + (heights[i] - c.height) / 2)
                x += c.width + self.spacing
            if i == 0:
                name.pos = (self.x + self.padding_x, top - heights[0] + (heights[0] - name.height) / 2)
            top -= heights[i] + self.spacing
