"""Keyboard and keypad operation of the kiosk: a focus over the buttons of
the screen shown now, moved and activated by keys, drawn as a focus ring.

What can take the focus: every enabled, visible button (``ButtonBehavior``:
:class:`~kiosk.ui.widgets.KButton`, a loan or pay row) of the top bar and of
the shown screen, in reading order (the widget tree's order: top to bottom,
left to right).  An overlay with buttons is modal: its buttons and the top bar
(which stays usable under overlays) only; the busy overlay has none and
leaves nothing focused.  The PIN screen's digit keys are not in the order:
digits are typed, and a focus on them would speak or show which digit is
next.

The keys (also in docs/accessibility.md):

===========================  ================================  =============================
key                          everywhere but the PIN screen     on the PIN screen
===========================  ================================  =============================
Tab / Shift+Tab              next / previous                   same
arrows                       nearest button that way           same
Enter, space, keypad Enter   press the focused button          same (focus starts on OK)
Escape                       back (Cancel / Menu / Back / OK)  Cancel
Backspace                    back                              delete the last digit
digits 0-9 (keyboard)        PIN pad mapping (below)           a PIN digit
keypad 8 4 6 2 (calculator   up, left, right, down; 5 press;   a PIN digit
layout, arrows as printed)   0 next; * back
PIN pad 2 4 6 8 (phone       up, left, right, down; 5 or #     the PIN's (# enter, * clear)
layout, OSDP or sim)         press; 0 next; * back
===========================  ================================  =============================

The PIN screen's column holds while nothing covers it: under an overlay with
buttons (help, the idle warning) the keys are those of every other screen,
on the overlay, and the digits typed so far stay as they were.

"Back" is the way out: an overlay's Close (the idle warning's More time),
else the screen's first usable of Cancel, Back, Menu, No (receipt), OK,
Done.  The ring shows once a key was used and hides at the next touch (a
touch patron sees no ring) and back at rest; the focus itself is kept all
the time, and :class:`KioskRoot` dispatches ``on_focus_text(text)`` with the
focused button's visible text whenever a key moves the focus (speech output
speaks it; a focus the kiosk placed itself on a new screen is not announced,
so the screen's own speech is not cut off); a row that can be ticked adds
whether it is ("selected" / "not selected", :meth:`FocusManager.announcement`;
ticking it is spoken by the screen's speech, which says the changed row
again).  Nothing here logs: key values
and button texts (titles of a patron's loans) never reach a log.

The ring is two bands of :data:`~kiosk.ui.theme.FOCUS_BAND_DP` each around
the button, the inner one in the ring colour that contrasts most with the
button, the outer one in the colour that contrasts most with what the button
sits on (:func:`kiosk.ui.theme.focus_ring`), so it meets WCAG 2.2 SC 2.4.13
(at least a 2 dp solid perimeter, 3:1 against both).  It is drawn on the
root's ``canvas.after``: above every screen and overlay, and the focused
button is scrolled into view (SC 2.4.11, focus not obscured).
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.graphics import Color, InstructionGroup, Line
from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.scrollview import ScrollView

from . import theme

# Kivy key codes (kivy.core.window.Keyboard.keycodes)
K_BACKSPACE, K_TAB, K_ENTER, K_ESCAPE, K_SPACE = 8, 9, 13, 27, 32
K_UP, K_DOWN, K_RIGHT, K_LEFT = 273, 274, 275, 276
K_NUMPAD0, K_NUMPAD9 = 256, 265
K_NUMPAD_MUL, K_NUMPAD_ENTER = 268, 271
_ARROWS = {K_UP: "up", K_DOWN: "down", K_LEFT: "left", K_RIGHT: "right"}

#: What a PIN pad key does outside the PIN screen (phone layout: 2 on top).
PAD_KEYS: dict[str, str] = {
    "2": "up", "8": "down", "4": "left", "6": "right",
    "5": "select", "#": "select", "0": "next", "*": "back",
}
#: A USB numeric keypad (calculator layout, 8 on top; the arrows printed on it).
NUMPAD_KEYS: dict[int, str] = {
    K_NUMPAD0 + 8: "up", K_NUMPAD0 + 2: "down", K_NUMPAD0 + 4: "left", K_NUMPAD0 + 6: "right",
    K_NUMPAD0 + 5: "select", K_NUMPAD0: "next", K_NUMPAD_MUL: "back", K_NUMPAD_ENTER: "select",
}
#: A screen's way back, first usable wins.
BACK_IDS = ("close", "cancel", "back", "menu", "no", "ok", "finish")
_DIRECTIONS = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}


def _real(widget: Any) -> Any:
    """The widget behind a kv ``ids`` entry (those are weak proxies: ``is`` fails on them)."""
    return getattr(widget, "__self__", widget)


def _visible(widget: Any) -> bool:
    # Not by size: a screen just switched to is laid out only at the next frame.
    return getattr(widget, "opacity", 1) > 0


def focus_text(widget: Any) -> str:
    """What the focused widget says: a button's text, or the visible texts of
    a row (title, due date, status), in reading order."""
    text = getattr(widget, "text", None)
    if isinstance(text, str):
        return text.strip()
    parts: list[str] = []

    def walk(w: Any) -> None:
        if getattr(w, "opacity", 1) == 0:
            return
        t = getattr(w, "text", None)
        if isinstance(t, str) and t.strip():
            parts.append(t.strip())
        for child in reversed(w.children):
            walk(child)

    for child in reversed(widget.children):
        walk(child)
    return ", ".join(parts)


def _ident(widget: Any) -> str:
    """The item a row or a row's button is about (empty for other buttons)."""
    return str(getattr(widget, "item_id", "") or getattr(widget, "index", "")
               or getattr(widget.parent, "item_id", "") or "")


def _key_of(widget: Any, index: int) -> tuple:
    """What identifies a focused widget again after a re-render."""
    return (type(widget).__name__, _ident(widget), getattr(widget, "text", ""), index)


class FocusManager:
    """The focus of one :class:`~kiosk.ui.app.KioskRoot`."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.focused: Any = None
        self.ring_shown = False
        self._context: tuple | None = None
        self._under: tuple | None = None  # (screen, key) of the focus under an overlay
        self._window: Any = None
        self._ring = InstructionGroup()
        self._inner_colour, self._outer_colour = Color(0, 0, 0, 0), Color(0, 0, 0, 0)
        self._inner, self._outer = Line(width=1), Line(width=1)
        for instruction in (self._inner_colour, self._inner, self._outer_colour, self._outer):
            self._ring.add(instruction)
        root.canvas.after.add(self._ring)
        self._drawn: tuple | None = None
        self._follow_ev = Clock.create_trigger(self._follow, 0, interval=True)
        root.bind(parent=self._attach)
        self._attach(root, root.parent)

    # ------------------------------------------------------------------ input wiring

    def _attach(self, _root: Any, parent: Any) -> None:
        from kivy.core.window import Window

        window = Window if parent is not None else None
        if window is self._window:
            return
        if self._window is not None:
            self._window.unbind(on_key_down=self._on_key_down, on_textinput=self._on_text,
                                on_touch_down=self._on_touch_down)
        if window is not None:
            window.bind(on_key_down=self._on_key_down, on_textinput=self._on_text,
                        on_touch_down=self._on_touch_down)
        self._window = window

    def _on_touch_down(self, *_args: Any) -> bool:
        self.show_ring(False)
        return False

    def _on_key_down(self, _window: Any, key: int, _scancode: int, _codepoint: str | None,
                     modifiers: list[str]) -> bool:
        self._text_taken = False
        if self.root.get_root_window() is None or "ctrl" in modifiers or "alt" in modifiers:
            return False
        self._render_due()  # an overlay opened this frame covers the PIN screen already
        on_pin = self._on_pin_screen()
        # A digit by its key code: the keypad's, or the main row's unshifted (QWERTY).  Other
        # layouts (AZERTY: digits are shifted) and '#' / '*' come as text (_on_text).
        digit = str(key - K_NUMPAD0) if K_NUMPAD0 <= key <= K_NUMPAD9 else (
            chr(key) if 48 <= key <= 57 and "shift" not in modifiers else None)
        if on_pin:
            action = ("pin_digit" if digit is not None else "pin_back" if key == K_BACKSPACE
                      else "pin_clear" if key == K_NUMPAD_MUL else None)
            if action is not None:
                self._text_taken = key != K_BACKSPACE  # its text (if any) is this key's
                self._active()
                self.root.press(action, digit)
                return True
        command: str | None = None
        if key == K_TAB:
            command = "previous" if "shift" in modifiers else "next"
        elif key in _ARROWS:
            command = _ARROWS[key]
        elif key in (K_ENTER, K_SPACE, K_NUMPAD_ENTER):
            command = "select"
        elif key in (K_ESCAPE, K_BACKSPACE):
            command = "back"
        elif key in NUMPAD_KEYS:
            command = NUMPAD_KEYS[key]
        elif digit is not None:
            command = PAD_KEYS.get(digit)
        if command is None:
            return False
        self._text_taken = True
        self.command(command)  # on what is shown now (the idle warning too) ...
        self._active()  # ... then: the patron is here (that lifts the warning)
        return True

    _text_taken = False

    def _on_text(self, _window: Any, text: str) -> None:
        """Typed characters the key codes did not give: digits on layouts
        that shift them, ``#`` and ``*`` (the PIN pad's keys on a keyboard)."""
        if self._text_taken:  # the key already did it
            self._text_taken = False
            return
        if self.root.get_root_window() is None:
            return
        self._render_due()
        for char in text:
            if self._on_pin_screen():
                action = ("pin_digit" if char.isdigit() and char.isascii() else
                          "pin_enter" if char == "#" else "pin_clear" if char == "*" else None)
                if action is not None:
                    self._active()
                    self.root.press(action, char if action == "pin_digit" else None)
            elif char in PAD_KEYS:
                self.command(PAD_KEYS[char])
                self._active()

    def pad_key(self, key: str) -> None:
        """A PIN pad key pressed outside the PIN screen or while an overlay
        covers it (from the flows)."""
        command = PAD_KEYS.get(key)
        if command is not None:
            self.command(command)

    def _active(self) -> None:
        flows = self.root.flows
        if flows is not None and hasattr(flows, "activity"):
            flows.activity()

    def _render_due(self) -> None:
        """A key faster than the frame: act on the new view (a render due is done now)."""
        pending = getattr(self.root, "_render_trigger", None)
        if pending is not None and pending.is_triggered:
            pending.cancel()
            self.root.render_now()

    def _on_pin_screen(self) -> bool:
        """The PIN screen with no overlay over it: digits are the PIN's."""
        from kiosk.flows.model import State

        return self.root.ids.sm.current == State.PIN.value and not self._overlay_buttons()

    # ------------------------------------------------------------------ commands

    def command(self, name: str) -> None:
        """``next``, ``previous``, ``up``/``down``/``left``/``right``, ``select`` or ``back``."""
        self._render_due()
        self.show_ring(True)
        self.refresh()
        items = self.focusables()
        if not items:
            return
        if name not in ("select", "back"):
            self._moved = True
        if name == "select":
            if self.focused is not None:
                self.activate()
            else:
                self.set_focus(self._initial(items) or items[0], announce=True)
            return
        if name == "back":
            target = self.back_button()
            if target is not None:
                self.set_focus(target)
                self.activate()
            return
        current = self.focused if self.focused in items else None
        if current is None:
            self.set_focus(self._initial(items) or items[0], announce=True)
            return
        if name in _DIRECTIONS:
            # Within the screen (or overlay) first: the top bar only when nothing there lies
            # that way (however its buttons happen to line up with the screen's).
            bar = _real(self.root.ids.topbar)
            content = [w for w in items if w.parent is not bar and not _inside(w, bar)]
            target = (self._nearest(current, content, _DIRECTIONS[name]) if current in content else None) \
                or self._nearest(current, items, _DIRECTIONS[name])
            if target is None:  # nothing that way: go on in reading order
                name = "next" if name in ("down", "right") else "previous"
            else:
                self.set_focus(target, announce=True)
                return
        i = items.index(current)
        self.set_focus(items[(i + (1 if name == "next" else -1)) % len(items)], announce=True)

    def activate(self) -> None:
        """Press the focused button the way a touch does (its on_press and on_release)."""
        widget = self.focused
        if widget is not None and not widget.disabled and widget.get_root_window() is not None:
            widget.trigger_action(duration=0)

    def back_button(self) -> Any:
        """The way out of what is shown: an overlay's Close (or its only
        button), else the screen's first usable of :data:`BACK_IDS`."""
        overlays, buttons = self._overlays(), self._overlay_buttons()
        holder = overlays[0] if overlays else self.root.ids.sm.current_screen
        usable = set(map(id, buttons if overlays else self.focusables()))
        for name in BACK_IDS:
            widget = _real(holder.ids.get(name)) if holder is not None else None
            if widget is not None and id(widget) in usable:
                return widget
        return buttons[0] if buttons else None

    # ------------------------------------------------------------------ what can be focused

    def _overlays(self) -> list[Any]:
        """The overlay on top (idle warning, help, busy: a root child whose
        class is an ``...Overlay``), as a list of none or one; it covers those
        below it."""
        for child in self.root.children:  # topmost first
            if type(child).__name__.endswith("Overlay"):
                return [child]
        return []

    def _overlay_buttons(self) -> list[Any]:
        out: list[Any] = []
        for overlay in self._overlays():
            self._collect(overlay, out, None)
        return out

    def _collect(self, widget: Any, out: list[Any], screen: Any) -> None:
        for child in reversed(widget.children):
            if getattr(child, "opacity", 1) == 0:
                continue
            if isinstance(child, ButtonBehavior):
                if not child.disabled and _visible(child) and not self._skipped(child, screen):
                    out.append(child)
                continue
            self._collect(child, out, screen)

    @staticmethod
    def _skipped(widget: Any, screen: Any) -> bool:
        # The PIN screen's digit keys: digits are typed, never focused.
        keypad = _real(screen.ids.get("keypad")) if screen is not None else None
        return keypad is not None and widget.parent is keypad and str(getattr(widget, "text", "")).isdigit()

    def focusables(self) -> list[Any]:
        """The focus order now: top bar, then the overlay's buttons (modal) or the screen's."""
        out: list[Any] = []
        self._collect(_real(self.root.ids.topbar), out, None)
        overlays = self._overlays()
        if overlays:
            for overlay in overlays:
                self._collect(overlay, out, None)
        else:
            screen = self.root.ids.sm.current_screen
            if screen is not None:
                self._collect(screen, out, screen)
        return out

    def _initial(self, items: list[Any]) -> Any:
        """A screen's first focus: its first primary action."""
        bar = _real(self.root.ids.topbar)
        content = [w for w in items if w.parent is not bar and not _inside(w, bar)]
        for widget in content:
            if getattr(widget, "role", "") in ("primary", "success"):
                return widget
        return content[0] if content else None

    @staticmethod
    def _nearest(current: Any, items: list[Any], direction: tuple[int, int]) -> Any:
        cx, cy = current.to_window(*current.center)
        dx, dy = direction
        best, best_score = None, None
        for widget in items:
            if widget is current:
                continue
            x, y = widget.to_window(*widget.center)
            along = (x - cx) * dx + (y - cy) * dy
            if along <= dp(4):
                continue
            across = abs((x - cx) * dy) + abs((y - cy) * dx)
            score = along + 2 * across
            if best_score is None or score < best_score:
                best, best_score = widget, score
        return best

    # ------------------------------------------------------------------ keeping the focus

    def refresh(self) -> None:
        """After a render: keep the focus on the same button (re-created rows
        included); reset it to the first primary action on another screen;
        back where it was when an overlay goes."""
        items = self.focusables()
        screen = self.root.ids.sm.current
        overlays = tuple(type(o).__name__ for o in self._overlays())
        previous, self._context = self._context, (screen, overlays)
        if previous == self._context:
            if not self._moved:  # untouched: it follows the first primary action (enabled late?)
                target = self._initial(items)
                if target is not self.focused:
                    self.set_focus(target)
                    return
            if self.focused is not None and self.focused not in items:
                self.set_focus(self._recover(self._last_key, items) or self._initial(items))
            else:
                self._remember(items)
            return
        same_screen = previous is not None and previous[0] == screen
        self._moved = False
        if screen == "idle" and not same_screen:
            self.show_ring(False)  # the session is over: the next patron may well touch
        target = None
        if same_screen and not previous[1] and overlays:  # an overlay came over this screen
            self._under = self._last_key
        elif same_screen and previous[1] and not overlays:  # and went
            target = self._recover(self._under, items)
            self._moved = target is not None
        if not overlays or not same_screen:
            self._under = None
        if overlays and not self._overlay_buttons():
            self.set_focus(None)  # busy: nothing to press
        else:
            self.set_focus(target or self._initial(items))

    _last_key: tuple | None = None
    _moved = False  # the patron moved the focus on this screen

    def _remember(self, items: list[Any]) -> None:
        if self.focused is not None and self.focused in items:
            self._last_key = _key_of(self.focused, items.index(self.focused))

    @staticmethod
    def _recover(key: tuple | None, items: list[Any]) -> Any:
        if key is None or not items:
            return None
        kind, ident, text, index = key
        if ident:
            for widget in items:
                if type(widget).__name__ == kind and _ident(widget) == ident:
                    return widget
        for widget in items:
            if type(widget).__name__ == kind and getattr(widget, "text", "") == text:
                return widget
        return items[min(index, len(items) - 1)]

    def set_focus(self, widget: Any, *, announce: bool = False) -> None:
        """Focus *widget* (None: nothing).  *announce*: the patron moved it
        (a key): ``on_focus_text`` goes out.  A focus the kiosk placed itself
        (a new screen, an overlay) is not announced: it would cut off the
        screen's own speech."""
        self.focused = widget
        self._remember(self.focusables())
        if widget is not None and self.ring_shown:  # a touch patron's lists are not scrolled
            self._scroll_into_view(widget)
        self._drawn = None
        self._draw()
        if announce and widget is not None:
            self.root.dispatch("on_focus_text", self.announcement(widget))

    def announcement(self, widget: Any) -> str:
        """What a key's move onto *widget* announces: its visible text; a row
        that can be ticked (a loan to renew, an owed line to pay) also says
        whether it is, in the patron's language."""
        text = focus_text(widget)
        selected = getattr(widget, "selected", None)
        if not isinstance(selected, bool):
            return text
        from kiosk.flows.speech import S

        state = self.root.tr(S("speech.selected" if selected else "speech.not_selected"))
        return f"{text}, {state}" if text else state

    @staticmethod
    def _scroll_into_view(widget: Any) -> None:
        parent = widget.parent
        while parent is not None and parent is not parent.parent:
            if isinstance(parent, ScrollView):
                parent.scroll_to(widget, padding=dp(12), animate=False)
                return
            parent = parent.parent

    # ------------------------------------------------------------------ the ring

    def show_ring(self, shown: bool) -> None:
        if shown == self.ring_shown:
            return
        self.ring_shown = shown
        if shown:
            if self.focused is not None:
                self._scroll_into_view(self.focused)
            self._follow_ev()
        else:
            self._follow_ev.cancel()
        self._drawn = None
        self._draw()

    def _follow(self, _dt: float) -> None:
        self._draw()

    def ring_geometry(self) -> tuple[float, float, float, float] | None:
        """The focused widget's box in window coordinates, or None."""
        widget = self.focused
        if widget is None or widget.get_root_window() is None:
            return None
        x, y = widget.to_window(widget.x, widget.y)
        right, top = widget.to_window(widget.right, widget.top)
        return x, y, right - x, top - y

    def ring_colours(self) -> tuple[str, str]:
        """(inner, outer) ring colours (palette names) for the focused widget."""
        return theme.focus_ring(_fill_of(self.focused), self._backdrop(self.focused))

    def _backdrop(self, widget: Any) -> str:
        from .widgets import ItemRow, Panel

        parent = widget.parent if widget is not None else None
        bar = _real(self.root.ids.topbar)
        while parent is not None and parent is not self.root:
            if parent is bar:
                return theme.hex_of(theme.rgba("topbar"))
            if isinstance(parent, Panel):
                return theme.hex_of(theme.rgba(parent.fill))
            if isinstance(parent, ItemRow):
                return theme.hex_of(theme.rgba("surface"))
            parent = parent.parent
        return theme.hex_of(theme.rgba("bg"))

    def _draw(self) -> None:
        box = self.ring_geometry() if self.ring_shown else None
        if box is None:
            if self._drawn != ():
                self._inner_colour.a = self._outer_colour.a = 0
                self._inner.points = self._outer.points = []
                self._drawn = ()
            return
        inner, outer = self.ring_colours()
        state = (box, theme.rgba(inner), theme.rgba(outer))
        if state == self._drawn:
            return
        self._drawn = state
        x, y, w, h = box
        band = dp(theme.FOCUS_BAND_DP)
        gap = dp(3) if not hasattr(self.focused, "role") else 0  # rows have a 3 dp border of their own
        radius = dp(14)
        # Kivy strokes a Line *width* to each side of its path: a band of 2*width.
        for colour, line, name, offset in ((self._inner_colour, self._inner, inner, gap + band / 2),
                                           (self._outer_colour, self._outer, outer, gap + band * 1.5)):
            colour.rgba = theme.rgba(name)
            line.width = band / 2
            line.rounded_rectangle = (x - offset, y - offset, w + 2 * offset, h + 2 * offset, radius + offset)


def _inside(widget: Any, ancestor: Any) -> bool:
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _fill_of(widget: Any) -> str:
    if widget is None:
        return theme.hex_of(theme.rgba("bg"))
    bg = getattr(widget, "bg", None)
    if bg is not None and hasattr(widget, "role"):
        return theme.hex_of(tuple(bg))
    return theme.hex_of(theme.rgba("primary" if getattr(widget, "selected", False) else "surface"))
