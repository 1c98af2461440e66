"""The kiosk operated without touch (#16 item 2): a keyboard (a USB keypad is
one) and the PIN pad's keys move the focus, press and go back, rendered for
real offscreen against the real flows.  No touch event is used in the walks.
The focus ring is checked in the rendered frame's pixels and by the theme's
contrast arithmetic."""

from __future__ import annotations

import logging

from devices import sim
from kiosk.flows import State
from kiosk.ui import focus as F
from kiosk.ui import theme

from .kiosk_case import OK_CARD, KioskCase, kio

KEYS = {"tab": F.K_TAB, "enter": F.K_ENTER, "escape": F.K_ESCAPE, "backspace": F.K_BACKSPACE,
        "up": F.K_UP, "down": F.K_DOWN, "left": F.K_LEFT, "right": F.K_RIGHT, "space": F.K_SPACE}


class KeysCase(KioskCase):
    def roles_extra(self) -> dict:
        return {"pinpad": ["sim://pinpad"]}

    def setUp(self) -> None:
        super().setUp()
        self.touches = 0
        self.spoken: list[str] = []

    async def start(self) -> None:
        await self.frames()
        self.root.bind(on_focus_text=lambda _root, text: self.spoken.append(text))
        # the walks must not use touch: count any that reaches the kiosk
        self.Window.bind(on_touch_down=self._count_touch)
        self.on_close(lambda: self.Window.unbind(on_touch_down=self._count_touch))

    def _count_touch(self, *_a):
        self.touches += 1
        return False

    async def key(self, name: str, *, shift: bool = False, times: int = 1, code: int | None = None,
                  frame: bool = True) -> None:
        """*name* on the keyboard (*code*: another key code, a USB keypad's); *frame*: a frame
        after each (False: keys faster than the frame)."""
        code = code or KEYS.get(name) or ord(name)
        for _ in range(times):
            self.Window.dispatch("on_key_down", code, 0, name if len(name) == 1 else None,
                                 ["shift"] if shift else [])
            self.Window.dispatch("on_key_up", code, 0)
            if frame:
                await self.frames()
            else:
                await self.flows.settle()

    async def key_login(self, card: str = OK_CARD, pin: str = "1234") -> None:
        """Tap *card*, type *pin* on the keyboard, Enter."""
        sim.tap_card(card)
        await self.frames()
        for digit in pin:
            await self.key(digit)
        await self.key("enter")
        assert self.flows.state is State.MENU

    async def pad(self, keys: str) -> None:
        for k in keys:
            sim.press_keys(k)
            await self.frames()

    def focused_text(self) -> str:
        return F.focus_text(self.root.focus.focused) if self.root.focus.focused is not None else ""

    async def move_to(self, text: str, step) -> None:
        """Press *step* until the focus is on *text* (what a patron listening to speech does)."""
        for _ in range(30):
            if text in self.focused_text():
                return
            await step()
        raise AssertionError(f"focus never reached {text!r}; on {self.focused_text()!r}")

    async def ring_pixels(self, points):
        """The kiosk rendered for real into a frame buffer of its size (the
        offscreen window's own buffer is smaller than the kiosk); RGB at
        each (x, y) point, origin bottom left."""
        from kivy.graphics import ClearBuffers, ClearColor, Fbo, Translate

        self.advance_frames(2)
        root = self.root
        w, h = int(root.width), int(root.height)
        index = root.parent.canvas.indexof(root.canvas)
        root.parent.canvas.remove(root.canvas)
        fbo = Fbo(size=(w, h), with_stencilbuffer=True)
        with fbo:
            ClearColor(0, 0, 0, 1)
            ClearBuffers()
            Translate(-root.x, -root.y, 0)
        fbo.add(root.canvas)
        try:
            fbo.draw()
            data = fbo.pixels
        finally:
            fbo.remove(root.canvas)
            root.parent.canvas.insert(index, root.canvas)
        out = []
        for x, y in points:
            i = (int(y) * w + int(x)) * 4
            out.append(tuple(data[i:i + 3]))
        return out


def _near(rgb, name, tol=40):
    want = [round(c * 255) for c in theme.rgb(name)]
    return all(abs(a - b) <= tol for a, b in zip(rgb, want))


class KeyboardWalkTest(KeysCase):
    def test_keyboard_borrow_walk_card_pin_menu_item_summary(self):
        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            assert kio("kiosk.pin.title") in self.screen_text()
            assert self.focused_text() == kio("kiosk.button.ok")  # the first primary action
            for digit in "1234":
                await self.key(digit)
            assert self.flows.view.pin_length == 4
            assert self.focused_text() == kio("kiosk.button.ok")  # digits never take the focus
            await self.key("enter")
            assert self.flows.state is State.MENU
            assert self.focused_text() == kio("kiosk.button.borrow")
            await self.key("enter")
            assert self.flows.state is State.BORROW
            sim.place_items(["30000000000029"])
            await self.frames()
            assert "Max Havelaar" in self.screen_text()
            await self.move_to(kio("kiosk.button.finish"), lambda: self.key("tab"))
            await self.key("enter")
            assert self.flows.state is State.RECEIPT
            assert self.focused_text() == kio("kiosk.button.yes_receipt")
            await self.key("right")
            assert self.focused_text() == kio("kiosk.button.no_receipt")
            await self.key("space")
            assert self.flows.state is State.SUMMARY
            assert kio("kiosk.summary.borrowed", count=1) in self.screen_text()
            await self.key("enter")
            assert self.flows.state is State.IDLE
            assert self.touches == 0
            # every move by a key was announced (not the focus a new screen starts with); no PIN digit ever was
            assert kio("kiosk.button.no_receipt") in self.spoken
            assert kio("kiosk.button.borrow") not in self.spoken
            assert not any(t.strip() in "0123456789" for t in self.spoken if t.strip())

        self.run_scenario(scenario)

    def test_keyboard_account_and_back_tab_order_and_escape(self):
        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            for digit in "1234":
                await self.key(digit)
            await self.key("backspace")  # deletes a digit on the PIN screen
            assert self.flows.view.pin_length == 3
            await self.key("4")
            assert self.flows.view.pin_length == 4, self.flows.view.pin_length
            await self.key("enter")
            assert self.flows.state is State.MENU, (self.focused_text(), self.screen_text())
            # arrows move in the 2x2 grid: borrow -> (down) renew -> (right) account
            await self.key("down")
            assert self.focused_text() == kio("kiosk.button.renew")
            await self.key("right")
            assert self.focused_text() == kio("kiosk.button.account")
            await self.key("enter")
            assert self.flows.state is State.ACCOUNT
            assert kio("kiosk.account.title") in self.screen_text()
            # Tab reaches the top bar and wraps; Shift+Tab goes back
            order = []
            for _ in range(8):
                await self.key("tab")
                order.append(self.focused_text())
            assert "English" in order and kio("kiosk.button.menu") in order
            before = self.focused_text()
            await self.key("tab")
            await self.key("tab", shift=True)
            assert self.focused_text() == before
            await self.key("escape")  # back: the account's Menu button
            assert self.flows.state is State.MENU
            assert kio("kiosk.menu.title") in self.screen_text()
            assert self.touches == 0

        self.run_scenario(scenario)


    def test_typed_text_azerty_digits_hash_and_star(self):
        """Layouts that shift the digits (AZERTY: the key code is '&', the text
        '1') and '#' / '*' reach the kiosk as text; a key already handled by
        its code (the keypad's digits) is not taken twice."""

        async def typed(code: int, text: str, modifiers=()):
            self.Window.dispatch("on_key_down", code, 0, None, list(modifiers))
            self.Window.dispatch("on_textinput", text)
            self.Window.dispatch("on_key_up", code, 0)
            await self.frames()

        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            for code, text in ((38, "1"), (233, "2"), (34, "3")):  # AZERTY & é " with Shift
                await typed(code, text, ["shift"])
            await typed(F.K_NUMPAD0 + 4, "4")  # the keypad: by its code, its text not again
            assert self.flows.view.pin_length == 4
            await typed(ord("3"), "#", ["shift"])  # '#' on a QWERTY keyboard: enter
            assert self.flows.state is State.MENU
            assert self.focused_text() == kio("kiosk.button.borrow")
            await typed(ord("8"), "8")  # off the PIN screen a digit moves (PIN pad mapping: down)
            assert self.focused_text() == kio("kiosk.button.renew")
            await typed(ord("8"), "*", ["shift"])  # '*': back (the menu's way out: Done)
            assert self.flows.state in (State.RECEIPT, State.SUMMARY)
            assert self.touches == 0

        self.run_scenario(scenario)

    def test_focus_survives_rows_built_anew(self):
        """A re-render that builds the rows again (other widgets, same loans)
        keeps the focus on the same loan."""

        async def scenario():
            await self.start()
            await self.key_login()
            await self.key("down")
            await self.key("enter")
            assert self.flows.state is State.RENEW
            await self.key("up")
            await self.key("up")
            loan = self.root.focus.focused
            assert type(loan).__name__ == "LoanRow"
            rows = self.root.ids.sm.current_screen.ids.rows
            rows.clear_widgets()  # sync_children now makes new LoanRows
            self.root.render_now()
            await self.frames()
            now = self.root.focus.focused
            assert now is not loan and now.item_id == loan.item_id and now in rows.children
            await self.key("enter")
            assert [ln.selected for ln in self.flows.view.loans if ln.item_id == loan.item_id] == [True]

        self.run_scenario(scenario)


    def test_any_overlay_is_modal_its_close_is_back_and_the_focus_comes_back(self):
        """An overlay the kiosk puts over a screen (help, the idle warning: a
        root child named ...Overlay) takes the focus; Escape presses its
        Close; when it goes the focus is back where it was."""
        from kivy.lang import Builder
        from kivy.uix.floatlayout import FloatLayout

        class ProbeOverlay(FloatLayout):
            def __init__(self, **kw):
                self.pressed = []
                super().__init__(**kw)

        Builder.load_string("""
<ProbeOverlay>:
    KButton:
        id: call
        text: 'Call'
        size_hint: None, None
        size: 200, 80
        pos: 100, 300
        on_release: root.pressed.append('call')
    KButton:
        id: close
        text: 'Close'
        role: 'secondary'
        size_hint: None, None
        size: 200, 80
        pos: 400, 300
        on_release: root.pressed.append('close')
""", filename="probe_overlay.kv")

        async def scenario():
            self.on_close(lambda: Builder.unload_file("probe_overlay.kv"))
            await self.start()
            await self.key_login()
            await self.key("down")
            before = self.root.focus.focused
            assert F.focus_text(before) == kio("kiosk.button.renew")
            probe = ProbeOverlay()
            self.root.add_widget(probe)
            self.root.render_now()
            await self.frames()
            focus = self.root.focus
            assert self.focused_text() == "Call"
            names = [F.focus_text(w) for w in focus.focusables()]
            assert "Call" in names and "Close" in names and kio("kiosk.button.borrow") not in names
            await self.key("escape")
            assert probe.pressed == ["close"]
            self.root.remove_widget(probe)
            self.root.render_now()
            await self.frames()
            assert focus.focused is before
            assert self.flows.state is State.MENU

        self.run_scenario(scenario)


class PinPadWalkTest(KeysCase):
    def test_pinpad_renew_one_loan(self):
        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            await self.pad("1234#")  # on the PIN screen the keys are the PIN's
            assert self.flows.state is State.MENU
            assert self.focused_text() == kio("kiosk.button.borrow")
            await self.pad("8")  # down: renew
            assert self.focused_text() == kio("kiosk.button.renew")
            await self.pad("#")
            assert self.flows.state is State.RENEW
            assert self.focused_text() == kio("kiosk.renew.selected")
            await self.pad("2")  # up: onto the loans
            loan = self.root.focus.focused
            assert type(loan).__name__ == "LoanRow" and not loan.selected
            item = loan.item_id
            await self.pad("5")  # press: select it
            rows = {r.item_id: r for r in self.root.ids.sm.current_screen.ids.rows.children}
            assert rows[item].selected
            assert self.root.focus.focused is not None and self.root.focus.focused.item_id == item  # kept
            await self.move_to(kio("kiosk.renew.selected"), lambda: self.pad("0"))
            await self.pad("#")
            loans = {ln.item_id: ln for ln in self.flows.view.loans}
            assert loans[item].status is not None
            assert [i for i, ln in loans.items() if ln.status is not None] == [item]  # only that one
            await self.pad("*")  # back: Menu
            assert self.flows.state is State.MENU
            assert self.touches == 0

        self.run_scenario(scenario)

    def test_pinpad_return_without_card(self):
        async def scenario():
            await self.start()
            assert self.flows.state is State.IDLE
            await self.pad("#")  # idle: the focus starts on Return
            assert self.flows.state is State.RETURN
            sim.place_items([sim.tag_for("30000000000104", secured=False)])
            await self.frames()
            assert "Tirza" in self.screen_text()
            assert self.focused_text() == kio("kiosk.button.finish")  # no Menu without a card
            await self.pad("#")
            assert self.flows.state in (State.RECEIPT, State.SUMMARY)
            if self.flows.state is State.RECEIPT:
                await self.pad("#")
            assert self.flows.state is State.SUMMARY
            assert kio("kiosk.summary.returned", count=1) in self.screen_text()
            assert self.root.focus.ring_shown
            await self.pad("#")
            assert self.flows.state is State.IDLE
            assert not self.root.focus.ring_shown  # at rest again: no ring for the next patron
            assert self.touches == 0

        self.run_scenario(scenario)

    def test_pin_never_reaches_a_log_or_the_focus(self):
        records = []

        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())

        handler = Keep(level=logging.DEBUG)
        root_logger = logging.getLogger()
        old = root_logger.level
        root_logger.addHandler(handler)
        root_logger.setLevel(logging.DEBUG)

        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            await self.pad("9753")
            for digit in "8642":
                await self.key(digit)
            await self.pad("#")

        try:
            self.run_scenario(scenario)
        finally:
            root_logger.removeHandler(handler)
            root_logger.setLevel(old)
        text = "\n".join(records)
        assert "9753" not in text and "8642" not in text and "97538642" not in text
        assert not any(t.strip().isdigit() for t in self.spoken)



class OverlayOverPinTest(KeysCase):
    """An overlay with buttons over the PIN screen (help, the idle warning)
    takes every key: the keyboard's digits, the USB keypad's and the PIN
    pad's move, press and go back on it and never type or clear a digit;
    once it closes the PIN typed before it is still there and typing goes on."""

    async def pin_with_help_between(self, press) -> None:
        """*press(keys, frame=True)*: keys of one input ('#' enter, '*' back, digits)."""
        await self.start()
        sim.tap_card(OK_CARD)
        await self.frames()
        await press("12")
        assert self.flows.view.pin_length == 2
        await self.move_to(kio("kiosk.help.button"), lambda: self.key("tab"))
        await self.key("enter", frame=False)  # opens the help; the next keys come before its frame
        await press("1379", frame=False)  # no move on any pad: nothing at all
        await self.frames()
        assert self.flows.view.help is not None
        assert self.flows.view.pin_length == 2
        assert self.focused_text() == kio("kiosk.help.close")
        await press("0")  # next: round the help's buttons and the top bar
        assert self.flows.view.pin_length == 2 and self.flows.view.help is not None
        assert self.focused_text() != kio("kiosk.help.close")
        await press("*")  # back: the help's Close (not the PIN cleared)
        assert self.flows.view.help is None and self.flows.state is State.PIN
        assert self.flows.view.pin_length == 2  # neither typed nor cleared under the help
        await press("34")
        assert self.flows.view.pin_length == 4
        await press("#")
        assert self.flows.state is State.MENU  # 1234: the digits typed before the help are still there
        assert self.touches == 0

    def test_keyboard_digits_operate_the_help_over_the_pin_screen(self):
        async def press(keys, frame=True):
            for k in keys:
                if k == "*":
                    await self.key("escape", frame=frame)
                elif k == "#":
                    await self.move_to(kio("kiosk.button.ok"), lambda: self.key("tab"))
                    await self.key("enter")
                else:
                    await self.key(k, frame=frame)

        self.run_scenario(lambda: self.pin_with_help_between(press))

    def test_usb_keypad_digits_operate_the_help_over_the_pin_screen(self):
        async def press(keys, frame=True):
            for k in keys:
                if k == "#":
                    # its digits are the PIN's again: the keyboard's Tab back to OK (the focus is
                    # back on the help button), the keypad's Enter presses it
                    await self.move_to(kio("kiosk.button.ok"), lambda: self.key("tab"))
                    await self.key("enter", code=F.K_NUMPAD_ENTER)
                else:
                    code = F.K_NUMPAD_MUL if k == "*" else F.K_NUMPAD0 + int(k)
                    await self.key(k, code=code, frame=frame)

        self.run_scenario(lambda: self.pin_with_help_between(press))

    def test_pin_pad_keys_operate_the_help_over_the_pin_screen(self):
        async def press(keys, frame=True):
            await self.pad(keys)

        self.run_scenario(lambda: self.pin_with_help_between(press))

    def test_pin_pad_keys_operate_the_idle_warning_over_the_pin_screen(self):
        async def warning():
            s = self.flows.settings
            self.clock.t += s.idle_timeout_seconds - s.idle_warning_seconds + 1
            await self.flows.tick()
            await self.frames()
            assert self.focused_text() == kio("kiosk.button.more_time")

        async def scenario():
            await self.start()
            sim.tap_card(OK_CARD)
            await self.frames()
            await self.pad("12")
            await warning()
            await self.pad("5")  # press: More time
            assert self.flows.view.warning_seconds is None and self.flows.state is State.PIN
            assert self.flows.view.pin_length == 2
            await warning()
            await self.pad("*")  # back: More time, not the PIN cleared
            assert self.flows.view.warning_seconds is None and self.flows.state is State.PIN
            assert self.flows.view.pin_length == 2
            await warning()
            await self.pad("7")  # no move: the patron is here, the warning goes, no digit
            assert self.flows.view.warning_seconds is None and self.flows.view.pin_length == 2
            await self.pad("34#")
            assert self.flows.state is State.MENU
            assert self.touches == 0

        self.run_scenario(scenario)


class FocusRingTest(KeysCase):
    def test_ring_is_drawn_above_overlays_and_hidden_after_a_touch(self):
        from kivy.metrics import dp
        from kivy.tests.common import UnitTestTouch

        async def scenario():
            await self.start()
            await self.key_login()
            await self.key("down")  # the ring shows once a key is used
            focus = self.root.focus
            assert focus.ring_shown and self.focused_text() == kio("kiosk.button.renew")
            x, y, w, h = focus.ring_geometry()
            inner, outer = focus.ring_colours()
            assert (inner, outer) == ("focus", "focus_halo")  # a dark button on the paper background
            band = dp(theme.FOCUS_BAND_DP)
            cx = x + w / 2
            pts = [(cx, y - band / 2), (cx, y - band * 1.5), (x - band / 2, y + h / 2), (cx, y + h / 2 + 0)]
            px = await self.ring_pixels(pts)
            assert _near(px[0], inner) and _near(px[1], outer) and _near(px[2], inner), px
            # both bands are solid and at least 2 dp thick, all round (below, left, above, right)
            for edge in ((cx, y, 0, -1), (x, y + h / 2, -1, 0), (cx, y + h, 0, 1), (x + w, y + h / 2, 1, 0)):
                ex, ey, dx, dy = edge
                column = await self.ring_pixels([(ex + dx * (k + 0.5), ey + dy * (k + 0.5))
                                                 for k in range(int(band * 3))])
                bands = [("i" if _near(c, inner, 20) else "o" if _near(c, outer, 20) else "-") for c in column]
                assert bands.count("i") >= dp(2) and bands.count("o") >= dp(2), (edge, bands)
            # the idle warning overlay: the focus goes to its button, the ring is drawn over the scrim
            s = self.flows.settings
            self.clock.t += s.idle_timeout_seconds - s.idle_warning_seconds + 1
            await self.flows.tick()
            await self.frames()
            assert self.focused_text() == kio("kiosk.button.more_time")
            x, y, w, h = focus.ring_geometry()
            px = await self.ring_pixels([(x + w / 2, y - band / 2), (x + w / 2, y + h + band * 1.5)])
            inner, outer = focus.ring_colours()
            assert _near(px[0], inner) and _near(px[1], outer), px
            await self.key("enter")
            assert kio("kiosk.warning.title") not in self.screen_text()
            assert self.focused_text() == kio("kiosk.button.renew")  # back where it was
            # a touch hides the ring (the focus stays)
            touch = UnitTestTouch(5, 5)
            touch.touch_down()
            touch.touch_up()
            await self.frames()
            assert not focus.ring_shown
            x, y, w, h = focus.ring_geometry()
            px = await self.ring_pixels([(x + w / 2, y - band / 2)])
            assert _near(px[0], "bg", tol=12), px

        self.run_scenario(scenario)

    def test_every_screen_focus_order_ring_contrast_and_way_back(self):
        """On every screen, in both palettes: the top bar is in the focus
        order, no PIN digit key is, the ring around each focusable button
        reaches 3:1 against the button and what it sits on (the theme's
        contrast arithmetic on the colours drawn), and a way back exists."""

        async def scenario():
            await self.start()
            focus = self.root.focus
            focus.show_ring(True)
            for high_contrast in (False, True):
                for state in State:
                    self.flows.view.state = state
                    self.flows.view.high_contrast = high_contrast
                    self.root.render_now(self.flows.view)
                    self.advance_frames(2)
                    palette = theme.active_palette()
                    assert (palette is theme.HIGH_CONTRAST) is high_contrast
                    items = focus.focusables()
                    names = [F.focus_text(w) for w in items]
                    assert {"Nederlands", "Français", "English"} <= set(names), (state, names)
                    if state is State.PIN:
                        assert not any(n.isdigit() for n in names), names
                    for widget in items:
                        focus.set_focus(widget)
                        inner, outer = focus.ring_colours()
                        fill, back = F._fill_of(widget), focus._backdrop(widget)
                        assert theme.contrast(inner, fill, palette) >= theme.MIN_FOCUS_CONTRAST, (
                            state, F.focus_text(widget), inner, fill)
                        assert theme.contrast(outer, back, palette) >= theme.MIN_FOCUS_CONTRAST, (
                            state, F.focus_text(widget), outer, back)
                        x, y, w, h = focus.ring_geometry()
                        assert w > 0 and h > 0
                    if state not in (State.IDLE, State.OUT_OF_ORDER):
                        assert focus.back_button() is not None, state
            self.flows.view.high_contrast = False
            self.root.render_now(self.flows.view)

        self.run_scenario(scenario)


def test_focus_ring_colours_meet_wcag_focus_appearance():
    """Each band is >= 2 dp and >= 3:1 against the control (inner) and its
    backdrop (outer); two different bands also stand apart from each other."""
    assert theme.FOCUS_BAND_DP >= 2
    for palette in theme.PALETTES.values():
        for fill, backdrop in theme.FOCUS_PAIRS:
            inner, outer = theme.focus_ring(fill, backdrop, palette)
            assert theme.contrast(inner, fill, palette) >= theme.MIN_FOCUS_CONTRAST, (fill, inner)
            assert theme.contrast(outer, backdrop, palette) >= theme.MIN_FOCUS_CONTRAST, (backdrop, outer)
            assert inner == outer or theme.contrast(inner, outer, palette) >= theme.MIN_FOCUS_CONTRAST


def test_hex_of_round_trips_the_palette():
    for name in theme.PALETTE:
        assert theme.hex_of(theme.rgba(name, palette=theme.PALETTE)) == theme.PALETTE[name].upper()


class SpeechKeysTest(KeysCase):
    """Keys alone with speech output: switched on from the keyboard, the
    focused button spoken on each move, the PIN never."""

    def roles_extra(self) -> dict:
        return {"pinpad": ["sim://pinpad"], "speech": ["sim://tts?name=keys-tts"]}

    async def said(self) -> list[str]:
        await self.frames()
        await self.root.speech.settle()
        return [u.text for u in sim.spoken(name="keys-tts")]

    def test_speech_on_by_keyboard_and_pin_pad_moves_spoken(self):
        from kiosk.i18n import translate

        async def scenario():
            await self.start()
            await self.move_to(translate("speech", "speech.button", "nl"), lambda: self.key("tab"))
            await self.key("enter")
            assert self.root.speech.on
            sim.tap_card(OK_CARD)
            await self.frames()
            await self.pad("1234#")
            assert self.flows.state is State.MENU
            await self.pad("8")
            said = await self.said()
            assert said[-1] == kio("kiosk.button.renew")
            assert translate("speech", "speech.pin.dot", "nl") in said  # each PIN key a dot
            assert not any(text.strip() in "1234" for text in said) and "1234" not in " ".join(said), said
            assert self.touches == 0

        self.run_scenario(scenario)


class SpeechRowsTest(KeysCase):
    """A key's move onto a row that can be ticked (a loan on the renew
    screen, an owed line on the pay screen) says whether it is, in the
    patron's language; ticking it with select says the row's new state."""

    roles_extra = SpeechKeysTest.roles_extra
    said = SpeechKeysTest.said

    async def flows_extra(self, tmp, library):
        from devices import open_device
        from kiosk.payments import PaymentJournal, PaymentService

        payments = PaymentJournal(tmp / "payments.sqlite", pseudonym_key=b"ui-test-key")
        self.on_close(payments.close)
        terminal = open_device("sim://payment?name=keys-pay")
        await terminal.open()
        self.on_close(terminal.close)
        return {"payments": PaymentService(payments, terminal, library)}

    async def to_row(self, kind: str):
        await self.move_to("", lambda: self.key("up"))  # any focus
        for _ in range(30):
            if type(self.root.focus.focused).__name__ == kind:
                return self.root.focus.focused
            await self.key("up")
        raise AssertionError(f"no {kind} reached; on {self.focused_text()!r}")

    async def keyboard_login(self, card: str, lang: str) -> None:
        sim.tap_card(card)
        await self.frames()
        await self.move_to({"fr": "Français", "nl": "Nederlands"}[lang], lambda: self.key("tab"))
        await self.key("enter")
        assert self.flows.view.language == lang
        for digit in "1234":
            await self.key(digit)
        await self.move_to(kio("kiosk.button.ok", lang), lambda: self.key("tab"))
        await self.key("enter")
        assert self.flows.state is State.MENU

    def check_renew(self, lang: str) -> None:
        from kiosk.i18n import translate

        yes, no = (translate("speech", k, lang) for k in ("speech.selected", "speech.not_selected"))

        async def scenario():
            await self.start()
            self.root.speech.set_on(True)
            await self.keyboard_login(OK_CARD, lang)
            await self.move_to(kio("kiosk.button.renew", lang), lambda: self.key("tab"))
            await self.key("enter")
            assert self.flows.state is State.RENEW
            row = await self.to_row("LoanRow")
            visible = F.focus_text(row)
            assert not row.selected and row.title in visible
            assert (await self.said())[-1] == f"{visible}, {no}"
            assert self.spoken[-1] == f"{visible}, {no}"  # on_focus_text says it too
            await self.key("enter")  # select: ticks it
            said = (await self.said())[-1]
            assert row.title in said and said.split(". ")[-1] == yes, said
            await self.key("down")
            await self.key("up")
            assert self.root.focus.focused.item_id == row.item_id
            assert (await self.said())[-1] == f"{F.focus_text(self.root.focus.focused)}, {yes}"
            await self.key("space")  # and off again
            assert (await self.said())[-1].split(". ")[-1] == no
            assert self.touches == 0

        self.run_scenario(scenario)

    def test_loan_row_says_selected_or_not_in_dutch(self):
        self.check_renew("nl")

    def test_loan_row_says_selected_or_not_in_french(self):
        self.check_renew("fr")

    def test_pay_row_says_selected_or_not_in_french_and_dutch(self):
        from kiosk.i18n import translate

        from .kiosk_case import R2_CARD

        async def scenario():
            await self.start()
            self.root.speech.set_on(True)
            await self.keyboard_login(R2_CARD, "fr")
            await self.move_to(kio("kiosk.button.borrow", "fr"), lambda: self.key("tab"))
            await self.key("enter")  # R2 pays first
            assert self.flows.state is State.PAY
            row = await self.to_row("PayRow")
            assert row.selected
            assert (await self.said())[-1] == f"{F.focus_text(row)}, {translate('speech', 'speech.selected', 'fr')}"
            await self.key("enter")  # not this one
            said = (await self.said())[-1]  # the changed line again, then the total
            assert translate("speech", "speech.not_selected", "fr") in said.split(". "), said
            await self.move_to("Nederlands", lambda: self.key("tab"))
            await self.key("enter")
            row = await self.to_row("PayRow")
            assert (await self.said())[-1] == f"{F.focus_text(row)}, {translate('speech', 'speech.not_selected', 'nl')}"

        self.run_scenario(scenario)
