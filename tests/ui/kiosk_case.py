"""The shared base of the kiosk's rendered UI tests: the real flows over the
embedded library system (demo data, SIP2 in-process) and sim:// devices,
rendered offscreen by Kivy with real GL, driven by touches on its buttons.

Subclass :class:`KioskCase`; override :meth:`settings_extra` for more
FlowSettings and :meth:`flows_extra` for more KioskFlows arguments (e.g. a
payment service; it may register closers with :meth:`on_close`)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from kivy.tests.common import GraphicUnitTest, UnitTestTouch

from devices import sim
from kiosk.adapter import EmbeddedLibrarySystem
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows
from kiosk.i18n import translate
from kiosk.journal import Journal
from kiosk.library.server import site_rules
from policy import DEFAULT_PIN_REQUIRED

NOW = datetime(2026, 11, 23, 12, 0).astimezone()
OK_CARD = "29999000000010"
R2_CARD = "29999000000030"
ROLES = {
    "patron_reader": ["sim://patron"],
    "item_reader": ["sim://rfid"],
    "scanner": ["sim://scanner"],
    "indicator": ["sim://indicator"],
    "printer": ["sim://printer"],
}


def kio(key: str, lang: str = "nl", **params: Any) -> str:
    return translate("kiosk", key, lang, **params)


class Clock:
    """The flows' monotonic clock, moved by the test."""

    t = 1000.0

    def __call__(self) -> float:
        return self.t


class KioskCase(GraphicUnitTest):
    """Each test runs a scenario coroutine on one asyncio loop (the flows'
    loop); Kivy frames are advanced between steps."""

    def setUp(self) -> None:
        super().setUp()
        self.Window.size = (1280, 800)

    def run_scenario(self, scenario: Callable[[], Awaitable[None]]) -> None:
        asyncio.run(self._with_kiosk(scenario))

    # -- hooks for subclasses -------------------------------------------------------------

    def settings_extra(self) -> dict:
        return {}

    def roles_extra(self) -> dict:
        """More device roles (e.g. ``{"speech": ["sim://tts"]}``)."""
        return {}

    async def flows_extra(self, tmp: Path, library: EmbeddedLibrarySystem) -> dict:
        return {}

    def on_close(self, closer: Callable[[], Any]) -> None:
        """Run *closer* (sync or async) after the scenario, newest first."""
        self._closers.append(closer)

    # -- the kiosk ------------------------------------------------------------------------

    async def _with_kiosk(self, scenario: Callable[[], Awaitable[None]]) -> None:
        from kiosk.ui.app import KioskRoot

        self._closers: list[Callable[[], Any]] = []
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            library = EmbeddedLibrarySystem("demo", database=tmp / "lib.sqlite", clock=lambda: NOW)
            await library.start()
            self.on_close(library.close)
            journal = Journal(tmp / "journal.sqlite", pseudonym_key=b"ui-test-key")
            self.on_close(journal.close)
            rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
            self.clock = Clock()
            extra = await self.flows_extra(tmp, library)
            self.flows = KioskFlows(library, journal, DeviceHub({**ROLES, **self.roles_extra()}),
                                    FlowSettings(rules=rules, **self.settings_extra()),
                                    monotonic=self.clock, now=lambda: NOW, **extra)
            self.on_close(self.flows.close)
            try:
                await self.flows.start(ticker=False)
                self.root = KioskRoot(self.flows)
                self.render(self.root)
                await scenario()
            finally:
                for closer in reversed(self._closers):
                    result = closer()
                    if asyncio.iscoroutine(result):
                        await result

    # -- driving it ---------------------------------------------------------------------

    async def frames(self, n: int = 3) -> None:
        for _ in range(3):
            for _ in range(10):
                await asyncio.sleep(0)
            await self.flows.settle()
        self.advance_frames(n)

    def screen_text(self) -> str:
        return "\n".join(self.root.visible_texts())

    async def touch(self, text: str, settle: bool = True) -> None:
        button = self.root.find_button(text)
        assert button is not None, f"no enabled button {text!r} on screen: {self.root.visible_texts()}"
        x, y = button.to_window(*button.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        if settle:
            await self.frames()
        else:
            for _ in range(20):
                await asyncio.sleep(0.005)
            self.advance_frames(2)

    async def login(self, card: str, pin: str = "1234", lang: str | None = None) -> None:
        sim.tap_card(card)
        await self.frames()
        lang = lang or self.flows.view.language
        assert kio("kiosk.pin.title", lang) in self.screen_text()
        for digit in pin:
            await self.touch(digit)
        assert self.flows.view.pin_length == len(pin)
        await self.touch(kio("kiosk.button.ok", lang))
