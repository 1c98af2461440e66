"""Larger text (200 %) and high contrast (issue 16 item 3), rendered for real
offscreen: every screen State in nl, fr and en with long content (long
titles, 20 loans, refusals), checked for clipping, for boxes outside the
window and for the contrast of every drawn text against the pixels behind it
(4.5:1; 7:1 in high contrast).  And the switches on the top bar, kept for
the session and gone after it (real flows, touches).

Set BIBKIOSK_DISPLAY_SHOTS=DIR to also write each checked frame as a PNG."""

from __future__ import annotations

import os

from kivy.tests.common import GraphicUnitTest

from devices import sim
from kiosk.flows import State
from kiosk.i18n import LANGUAGES
from kiosk.ui import theme

from .display_check import _ancestors, contrast_problems, layout_problems, long_view
from .kiosk_case import OK_CARD, KioskCase, kio


class DisplayRenderTest(GraphicUnitTest):
    def setUp(self) -> None:
        super().setUp()
        self.Window.size = (1280, 800)

    def tearDown(self, *args) -> None:
        from kiosk.ui.display import DISPLAY

        DISPLAY.apply(large_text=False, high_contrast=False)
        super().tearDown(*args)

    @staticmethod
    def _frame(root):
        """The kiosk drawn into a 1280x800 offscreen buffer (the test window's
        own GL surface stays at GraphicUnitTest's 320x240) and read back."""
        texture = root.export_as_image().texture
        return texture.pixels, texture.width, texture.height

    def check_every_screen(self, *, large_text: bool, high_contrast: bool) -> None:
        from kiosk.ui.app import KioskRoot

        root = KioskRoot(None)
        self.render(root)
        minimum = theme.MIN_CONTRAST_HIGH if high_contrast else theme.MIN_CONTRAST
        shots = os.environ.get("BIBKIOSK_DISPLAY_SHOTS")
        mode = "-".join(n for n, on in (("large", large_text), ("contrast", high_contrast)) if on)
        problems = []
        scrolled: set[State] = set()
        for lang in LANGUAGES:
            for state in State:
                root.render_now(long_view(state, lang, large_text=large_text, high_contrast=high_contrast))
                self.advance_frames(4)
                assert root.ids.sm.current == state.value
                frame = self._frame(root)
                where = f"{mode} {lang} {state.value}"
                problems += [f"{where}: {p}" for p in layout_problems(root, frame[1:])]
                problems += [f"{where}: {p}" for p in contrast_problems(root, frame, minimum)]
                if root._screens[state].page.do_scroll_y:
                    scrolled.add(state)
                if shots:
                    os.makedirs(shots, exist_ok=True)
                    root.export_to_png(os.path.join(shots, f"{state.value}-{lang}-{mode or 'plain'}.png"))
        assert not problems, "\n".join(problems[:60]) + f"\n({len(problems)} problems)"
        return scrolled

    def test_every_screen_at_200_percent(self):
        self.check_every_screen(large_text=True, high_contrast=False)

    def test_every_screen_in_high_contrast(self):
        self.check_every_screen(large_text=False, high_contrast=True)

    def test_every_screen_at_200_percent_in_high_contrast(self):
        self.check_every_screen(large_text=True, high_contrast=True)

    def test_every_screen_as_it_was(self):
        """The checks hold for the kiosk's own display too (they are not tuned
        to the switches), and at its own text size no screen scrolls, however
        long its content (its lists scroll inside it)."""
        assert self.check_every_screen(large_text=False, high_contrast=False) == set()

    def test_text_really_doubles_and_colours_really_change(self):
        from kiosk.ui.app import KioskRoot

        root = KioskRoot(None)
        self.render(root)
        root.render_now(long_view(State.MENU, "nl", large_text=False, high_contrast=False))
        self.advance_frames(3)
        title, borrow = root._screens[State.MENU].ids.title, root._screens[State.MENU].ids.borrow
        size, bg = title.font_size, tuple(borrow.bg)
        # at the kiosk's own size the menu fits: its page does not scroll (a tap is not held back)
        assert not root._screens[State.MENU].page.do_scroll_y
        root.render_now(long_view(State.MENU, "nl", large_text=True, high_contrast=True))
        self.advance_frames(3)
        assert title.font_size == 2 * size
        assert root._screens[State.MENU].page.do_scroll_y  # at 200 % it no longer fits: it scrolls
        assert borrow.role == "secondary"  # borrowing refused (R1): drawn as secondary
        assert tuple(borrow.bg) != bg and tuple(borrow.bg[:3]) == theme.rgb("secondary", theme.HIGH_CONTRAST)
        # a screen not shown while switching follows too
        idle_title = root._screens[State.IDLE].ids.title
        assert idle_title.font_size == sp_scaled(theme.FONT_TITLE + 8)
        assert tuple(idle_title.color[:3]) == theme.rgb("text", theme.HIGH_CONTRAST)


class DisplaySwitchTest(KioskCase):
    """The switches on the top bar, by touch, through the real flows."""

    def tearDown(self, *args) -> None:
        from kiosk.ui.display import DISPLAY

        DISPLAY.apply(large_text=False, high_contrast=False)
        super().tearDown(*args)

    async def touch(self, text: str, settle: bool = True) -> None:
        """A touch; at 200 % a screen may scroll, and a scrolling view hands
        a tap to its button 0.2 s later (Kivy's ScrollView): wait for it."""
        import asyncio

        button = self.root.find_button(text)
        page = getattr(self.root.ids.sm.current_screen, "page", None)
        if button is not None and page is not None and page.do_scroll_y and page in _ancestors(button):
            page.scroll_to(button, animate=False)  # the patron scrolls to it first
            self.advance_frames(2)
        await super().touch(text, settle=False)
        for _ in range(8):
            await asyncio.sleep(0.05)
            self.advance_frames(1)
        await self.frames()

    def test_switches_beside_the_language_bar_kept_for_the_session_and_reset_after(self):
        from kiosk.ui.display import DISPLAY

        async def scenario():
            await self.frames()
            for lang in ("fr", "en", "nl"):  # labelled in each language
                self.flows.set_language(lang)
                await self.frames()
                text = self.screen_text()
                assert kio("kiosk.display.large_text", lang) in text and kio("kiosk.display.high_contrast", lang) in text
            await self.touch(kio("kiosk.display.high_contrast"))
            assert self.flows.view.high_contrast and DISPLAY.high_contrast
            assert self.root.find_button(kio("kiosk.display.high_contrast")).role == "lang_active"
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.display.large_text"))
            assert self.flows.state is State.MENU and DISPLAY.text_scale == theme.LARGE_TEXT_SCALE
            for button in ("kiosk.button.borrow", "kiosk.button.menu", "kiosk.button.account"):
                await self.touch(kio(button))
                assert DISPLAY.large_text and DISPLAY.high_contrast, button
            screen = self.root.ids.sm.current_screen
            assert screen.ids.title.font_size == sp_scaled(theme.FONT_TITLE)
            await self.touch(kio("kiosk.button.finish"))
            if self.flows.state is State.RECEIPT:
                await self.touch(kio("kiosk.button.no_receipt"))
            assert self.flows.state is State.SUMMARY and DISPLAY.large_text and DISPLAY.high_contrast
            await self.touch(kio("kiosk.button.ok"))
            assert self.flows.state is State.IDLE
            assert not DISPLAY.large_text and not DISPLAY.high_contrast
            assert self.root.find_button(kio("kiosk.display.large_text")).role == "lang"
            sim.tap_card(OK_CARD)  # the next patron starts with the kiosk's own display
            await self.frames()
            assert self.flows.state is State.PIN and DISPLAY.text_scale == 1.0

        self.run_scenario(scenario)


def sp_scaled(size: float) -> float:
    from kivy.metrics import sp

    return sp(size) * theme.LARGE_TEXT_SCALE
