"""Screens are built when first shown and the ones not kept are dropped when
the kiosk comes to rest (issue 16, memory): a screen's widgets, label
textures and vertex buffers are memory the renderer holds while it exists."""

from __future__ import annotations

import asyncio
import gc
import weakref

from devices import sim
from kiosk.flows import State
from kiosk.ui.app import KEPT_SCREENS

from .kiosk_case import OK_CARD, KioskCase, kio


class LazyScreensTest(KioskCase):
    async def borrow_one(self, item: str = "30000000000029") -> None:
        await self.login(OK_CARD)
        await self.touch(kio("kiosk.button.borrow"))
        sim.place_items([item])
        await self.frames()
        assert kio("kiosk.status.ok.borrow") in self.screen_text()
        await self.touch(kio("kiosk.button.finish"))
        await self.touch(kio("kiosk.button.no_receipt"))
        await self.touch(kio("kiosk.button.ok"))
        sim.remove_items()
        await self.frames()
        assert self.flows.state is State.IDLE

    def test_only_the_kept_screens_exist_before_the_first_patron(self):
        async def scenario():
            await self.frames()
            assert self.root.built_screens() == set(KEPT_SCREENS)
            assert State.BORROW not in self.root.built_screens()

        self.run_scenario(scenario)

    def test_screens_built_on_first_show_and_dropped_at_rest(self):
        async def scenario():
            await self.frames()
            assert State.BORROW not in self.root.built_screens()
            await self.borrow_one()
            assert self.flows.state is State.IDLE
            assert {State.BORROW, State.RECEIPT, State.SUMMARY} <= self.root.built_screens()
            borrow = weakref.ref(self.root.screen(State.BORROW))
            self.root._release(0)  # the kiosk came to rest (RELEASE_AFTER)
            assert self.root.built_screens() == set(KEPT_SCREENS)
            gc.collect()
            assert borrow() is None
            # The next patron gets a new borrow screen that works as before.
            await self.borrow_one("30000000000036")
            assert kio("kiosk.idle.title") in self.screen_text()

        self.run_scenario(scenario)

    def test_the_last_screen_shown_is_released_too(self):
        """The screen manager's transition keeps the screen it switched away
        from; dropping it must not leave it alive there."""
        async def scenario():
            await self.frames()
            await self.borrow_one()
            summary = weakref.ref(self.root.screen(State.SUMMARY))
            self.root._release(0)
            gc.collect()
            assert summary() is None, gc.get_referrers(summary())

        self.run_scenario(scenario)

    def test_a_drop_keeps_the_shown_screen(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            self.root.drop_screens()  # not at rest: nothing shown may go
            assert State.BORROW in self.root.built_screens()
            assert kio("kiosk.borrow.instructions") in self.screen_text()

        self.run_scenario(scenario)


class _Cycle:
    """Garbage only the cycle collector frees (as Kivy widgets are)."""

    def __init__(self) -> None:
        self.me = self


class CollectAfterScreenChangeTest(KioskCase):
    """A session's garbage is collected after each screen change, once the new
    screen's first frame is drawn, not when Python's thresholds happen to
    allow it: until then it takes fresh obmalloc arenas that a few
    long-lived objects pin for good (bench/kiosk.py memory, issue 16)."""

    def test_garbage_is_collected_after_the_new_screens_first_frame(self):
        async def scenario():
            await self.frames()
            gc.disable()  # only the kiosk's own passes collect now
            try:
                cycle = _Cycle()
                gone = weakref.ref(cycle)
                del cycle
                sim.tap_card(OK_CARD)
                for _ in range(10):
                    await asyncio.sleep(0)
                await self.flows.settle()
                assert kio("kiosk.pin.title") not in self.screen_text()  # nothing drawn yet ...
                assert gone() is not None  # ... and nothing collected before the frame
                await self.frames()
                assert kio("kiosk.pin.title") in self.screen_text()
                assert gone() is None
            finally:
                gc.enable()

        self.run_scenario(scenario)

    def test_one_pass_per_frame_however_many_changes(self):
        async def scenario():
            await self.frames()
            from kiosk.ui import app

            before = app.COLLECTS["count"]
            self.root._collect_after_frame()
            self.root._collect_after_frame()
            await self.frames()
            assert app.COLLECTS["count"] == before + 1

        self.run_scenario(scenario)


class LazyHelpTest(KioskCase):
    def test_the_help_overlay_is_built_when_first_opened(self):
        async def scenario():
            await self.frames()
            assert self.root._help.built is None  # ~0.5 MB of widgets most patrons never see
            await self.touch(kio("kiosk.help.button"))
            assert self.root._help.built is not None
            assert kio("kiosk.help.title") in self.screen_text()
            await self.touch(kio("kiosk.help.close"))
            assert kio("kiosk.help.title") not in self.screen_text()

        self.run_scenario(scenario)


class MenuForgetsAtRestTest(KioskCase):
    def test_the_menu_drops_the_last_patrons_texts_at_rest(self):
        """The menu screen is kept between patrons; at rest it no longer holds the
        last patron's loan count or the library's message for them (nor their
        pixels); the next patron's menu shows their own."""
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            menu = self.root.screen(State.MENU)
            shown = menu.ids.info.text
            assert shown
            await self.touch(kio("kiosk.button.finish"))
            await self.frames()
            if self.flows.state is State.SUMMARY:
                await self.touch(kio("kiosk.button.ok"))
                await self.frames()
            assert self.flows.state is State.IDLE
            self.root._release(0)  # the kiosk came to rest (RELEASE_AFTER)
            assert menu.ids.info.text == "" and menu.ids.notifications.text == ""
            await self.login(OK_CARD)
            assert menu.ids.info.text == shown
            assert shown in self.screen_text()

        self.run_scenario(scenario)


class RendererAtRestTest(KioskCase):
    borrow_one = LazyScreensTest.borrow_one

    def test_at_rest_the_renderer_lets_go_of_the_last_frame_once_it_is_drawn(self):
        """At start and after each patron, the kiosk at rest has the renderer
        let go of the last frame's binning (kiosk.ui.runner.release_frame_memory,
        tests/ui/test_renderer_memory.py), after the screens are dropped (a
        frame that drop draws would bin anew); not while a patron is at it."""
        import kiosk.ui.app as app_module

        calls = []
        real = app_module.release_frame_memory
        app_module.release_frame_memory = lambda: calls.append(self.flows.state) or real()
        try:
            async def scenario():
                await self.frames()
                # at start: the kiosk waits idle (the release may have come already)
                root = self.root
                assert root._release_timer.is_triggered or root._release_frame_timer.is_triggered or calls
                root._release_timer.cancel()
                root._release_frame_timer.cancel()
                calls.clear()
                self.root._release(0)
                assert self.root._release_frame_timer.is_triggered and calls == []
                self.root._release_frame(0)
                assert calls == [State.IDLE]
                await self.borrow_one()
                assert root._release_timer.is_triggered or root._release_frame_timer.is_triggered or len(calls) == 2
                await self.login(OK_CARD)  # a patron comes (back)
                assert not root._release_timer.is_triggered
                before = list(calls)
                root._release_frame(0)
                assert calls == before  # nothing while a patron is at it

            self.run_scenario(scenario)
        finally:
            app_module.release_frame_memory = real
