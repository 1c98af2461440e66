"""Small widgets of the kiosk UI.  Their look is in kiosk.kv; here only the
properties the look binds to."""

from __future__ import annotations

from functools import lru_cache
from math import hypot

from kivy.animation import Animation
from kivy.factory import Factory
from kivy.graphics import BorderImage
from kivy.graphics.texture import Texture
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    DictProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from . import theme


def release_text_surfaces(*, alternate: bool = True) -> None:
    """Make Kivy's text provider let go of each label's pixels once they are
    on the texture.

    Kivy's SDL2 provider keeps the SDL surface it drew a label's text into
    (a full RGBA copy of the text) on the core label after the texture is
    filled, for as long as the label lives: on this kiosk's screens that is
    several MB held twice.  Idempotent; a provider without ``_surface``
    (PIL, Pango) is left as it is.

    Each text also goes into its texture at once (:func:`_refresh_now`);
    *alternate*: into the label's other texture, two per label (needed only
    when frames are not finished at their swap, see
    :func:`kiosk.ui.runner.finish_frames`; the first call decides)."""
    from kivy.core.text import Label as CoreLabel

    if getattr(CoreLabel, "_bibkiosk_releases_surface", False):
        return
    render_end = CoreLabel._render_end

    def _render_end(self):  # noqa: ANN001, ANN202
        try:
            return render_end(self)  # a copy of the pixels (ImageData)
        finally:
            if getattr(self, "_surface", None) is not None:
                self._surface = None

    CoreLabel._render_end = _render_end
    global _kivy_refresh
    _kivy_refresh = CoreLabel.refresh
    CoreLabel.refresh = _refresh_now
    CoreLabel._bibkiosk_alternate = alternate
    CoreLabel._bibkiosk_releases_surface = True


_kivy_refresh = None


def _refresh_now(self) -> None:  # noqa: ANN001 - wraps kivy.core.text.LabelBase.refresh
    """Kivy's ``LabelBase.refresh``, but (1) the text's pixels go into the
    texture at once, in the clock phase, not when the frame first binds the
    texture, and (2) into the label's other texture, not the one the last
    frame drew: each label keeps two and alternates.

    On a software renderer (Mesa llvmpipe) writing a texture that a frame
    still being rasterised uses makes the writer wait for that frame, and
    Kivy's delayed fill does it in the middle of drawing the next one.
    Measured in bench/kiosk.py: 0.2-1.2 s per changed text on this machine
    (more with other load), the larger part of every slow patron step.  Two
    textures per label, never more: a fresh texture per text instead is
    memory the renderer frees late (RSS grew ~15 MB a session).

    (2) only while frames are not finished at their swap
    (``BIBKIOSK_FINISH_FRAMES=0``): a finished frame is no longer in flight
    when the next text changes, so one texture per label does, and the
    second one is memory for nothing (bench/kiosk.py: ~2 MB)."""
    alternate = self._bibkiosk_alternate
    one_px = type(self)._texture_1px
    current = self.texture
    if alternate and current is not None and current is not one_px:
        self.texture = getattr(self, "_bibkiosk_spare", None)  # Kivy reuses it when the size fits, else makes a new one
    _kivy_refresh(self)
    texture = self.texture
    if alternate and texture is not current and current is not one_px:
        self._bibkiosk_spare = current
    if texture is not None and texture is not one_px and self._cached_lines:
        texture.ask_update(None)  # no delayed fill
        self._render_real()


def _rounded_pixels(r: int) -> bytes:
    """White RGBA pixels of a (2r+2)-pixel square with corners of radius *r*,
    alpha the share of each pixel inside (antialiased edges)."""
    n = 2 * r + 2
    out = bytearray(b"\xff" * (n * n * 4))
    for y in range(n):
        cy = min(max(y + 0.5, r), n - r)  # the nearest point of the inner square: the corner's centre
        for x in range(n):
            cx = min(max(x + 0.5, r), n - r)
            d = hypot(x + 0.5 - cx, y + 0.5 - cy)
            out[(y * n + x) * 4 + 3] = round(255 * min(max(r - d + 0.5, 0.0), 1.0))
    return bytes(out)


@lru_cache(maxsize=None)
def rounded_texture(r: int) -> Texture:
    """The shared 9-patch texture of :class:`RoundedBox` for corners of *r* pixels."""
    pixels = _rounded_pixels(r)
    texture = Texture.create(size=(2 * r + 2, 2 * r + 2), colorfmt="rgba")
    texture.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte")
    texture.add_reload_observer(lambda tex: tex.blit_buffer(pixels, colorfmt="rgba", bufferfmt="ubyte"))
    return texture


class RoundedBox(BorderImage):
    """A filled rounded rectangle with antialiased corners, in the current
    ``Color``: kv ``RoundedBox:`` with ``pos``, ``size`` and ``radius``, like
    ``SmoothRoundedRectangle`` (one radius for the four corners).

    It is a 9-patch of one small texture shared by every box of that radius:
    one draw.  ``SmoothRoundedRectangle`` is two (its mesh and an
    antialiasing line), and on the software renderer (Mesa llvmpipe) each
    draw of a screen costs memory: 164 KB per SmoothRoundedRectangle, 70 KB
    per RoundedBox, drawn 100 at a time.  The screens the kiosk keeps have
    33 of them: bench/kiosk.py -1.9 MB after 25 sessions."""

    _radius = 0.0

    def __init__(self, **kwargs):
        # a box smaller than its two corners (an empty badge is 0 x 0) draws
        # them smaller, inside its size, as SmoothRoundedRectangle clamps its
        # radius; unscaled they would spill out around it
        kwargs.setdefault("auto_scale", "both_lower")
        super().__init__(**kwargs)

    @property
    def radius(self) -> list[float]:
        return [self._radius]

    @radius.setter
    def radius(self, value) -> None:  # noqa: ANN001 - a number or kv's [r] / [r, r, r, r]
        r = float(value[0] if isinstance(value, (list, tuple)) else value)
        px = max(1, round(r))
        self._radius = r
        self.texture = rounded_texture(px)
        self.border = (px, px, px, px)


Factory.register("RoundedBox", cls=RoundedBox)


def _darker(rgba: tuple[float, float, float, float], by: float = 0.18) -> tuple[float, float, float, float]:
    r, g, b, a = rgba
    return (r * (1 - by), g * (1 - by), b * (1 - by), a)


class KLabel(Label):
    """Wrapping text in the palette's text colour; grows to fit its text."""

    tone = StringProperty("text")
    #: the font size (sp) at 100 %; kv multiplies it by the display's text scale
    font_base = NumericProperty(theme.FONT_BODY)


class KButton(ButtonBehavior, Label):
    """A big, flat, rounded touch button.  ``role`` picks its colours."""

    role = StringProperty("primary")
    bg = ColorProperty(theme.rgba("primary"))
    bg_down = ColorProperty(_darker(theme.rgba("primary")))
    fg = ColorProperty(theme.rgba("primary_text"))
    action = StringProperty("")
    arg = StringProperty("")
    font_base = NumericProperty(28)  # sp at 100 % (see KLabel)
    #: wrap the text to the button's width (else one line; the width follows the text)
    wrap = BooleanProperty(True)
    #: the active palette (bound to kiosk.ui.display in kv): a switch recolours the button
    palette = DictProperty()
    #: the height when its text fits (kv grows it for a longer or larger text)
    min_height = NumericProperty(0)
    #: as tall as this at least (a bottom bar makes its buttons even)
    fill_height = NumericProperty(0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._apply_role()
        self.bind(role=lambda *_: self._apply_role(), palette=lambda *_: self._apply_role())

    def _apply_role(self) -> None:
        role = self.role
        bg, fg = {
            "primary": ("primary", "primary_text"),
            "secondary": ("secondary", "secondary_text"),
            "success": ("success", "success_text"),
            "danger": ("danger", "danger_text"),
            "lang": ("lang", "topbar_text"),
            "lang_active": ("lang_active", "lang_active_text"),
        }.get(role, ("primary", "primary_text"))
        self.bg = theme.rgba(bg)
        self.bg_down = _darker(theme.rgba(bg))
        self.fg = theme.rgba(fg)


class Badge(Label):
    """A status pill ("Borrowed", "Not possible", ...); its colours follow
    ``tone`` and the active palette (kv)."""

    tone = StringProperty("working")
    font_base = NumericProperty(theme.FONT_SMALL)


class Panel(BoxLayout):
    """A white rounded panel."""

    fill = StringProperty("surface")


class ItemRow(BoxLayout):
    """One item line: title, status badge, reason / advice, and (when an item
    already lent to the patron is offered for renewal) a Renew button."""

    title = StringProperty("")
    status = StringProperty("")
    tone = StringProperty("working")
    detail = StringProperty("")
    extra = StringProperty("")
    due = StringProperty("")
    overdue = BooleanProperty(False)
    offer = StringProperty("")  # the Renew button's text; empty: no button
    item_id = StringProperty("")
    kroot = ObjectProperty(None, allownone=True)


def sync_children(container, specs: list[tuple[type, dict]]) -> None:
    """Make *container*'s children (in display order) match *specs*, reusing
    widgets of the same class and changing only properties that differ, so
    Kivy re-renders only texts that changed."""
    current = list(reversed(container.children))
    for index, (klass, props) in enumerate(specs):
        widget = current[index] if index < len(current) else None
        if widget is not None and type(widget) is klass:
            for key, value in props.items():
                if getattr(widget, key) != value:
                    setattr(widget, key, value)
            continue
        for stale in current[index:]:
            container.remove_widget(stale)
        current = current[:index]
        widget = klass(**props)
        container.add_widget(widget)
        current.append(widget)
    for stale in current[len(specs):]:
        container.remove_widget(stale)


class LoanRow(ButtonBehavior, BoxLayout):
    """A loan on the renew screen: tap to select."""

    title = StringProperty("")
    due = StringProperty("")
    overdue = BooleanProperty(False)
    selected = BooleanProperty(False)
    status = StringProperty("")
    tone = StringProperty("working")
    detail = StringProperty("")
    item_id = StringProperty("")
    kroot = ObjectProperty(None, allownone=True)


class PinDots(Widget):
    """The typed PIN shown as dots."""

    count = NumericProperty(0)


class BusyBar(Widget):
    """An indeterminate progress bar (a block sliding back and forth)."""

    phase = NumericProperty(0.0)

    def on_parent(self, _widget, parent) -> None:
        Animation.cancel_all(self, "phase")
        if parent is not None:
            anim = Animation(phase=1.0, duration=0.9) + Animation(phase=0.0, duration=0.9)
            anim.repeat = True
            anim.start(self)
