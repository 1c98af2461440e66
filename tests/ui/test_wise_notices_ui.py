"""#13 item 6 on screen, rendered for real offscreen: the menu shows the
patron's notification (marked as the library's message), the return screen
says "put it on the hold shelf" for a Wise CL 03.  The real flows, the
embedded library system over SIP2 (demo data) and sim:// devices."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

from kivy.tests.common import GraphicUnitTest, UnitTestTouch

from devices import sim
from kiosk.adapter import EmbeddedLibrarySystem
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State
from kiosk.i18n import translate
from kiosk.journal import Journal
from kiosk.library.server import site_rules
from policy import DEFAULT_PIN_REQUIRED

NOW = datetime(2026, 11, 23, 12, 0).astimezone()
OK_CARD = "29999000000010"  # Demo Klant OK: one notification, lent HOLD_ITEM
HOLD_ITEM = "30000000000104"  # a hold waits for it here: CL 03 on return
ROLES = {
    "patron_reader": ["sim://patron"],
    "item_reader": ["sim://rfid"],
    "scanner": ["sim://scanner"],
    "indicator": ["sim://indicator"],
    "printer": ["sim://printer"],
}


def kio(key, lang="nl", **params):
    return translate("kiosk", key, lang, **params)


class Clock:
    t = 1000.0

    def __call__(self):
        return self.t


class WiseNoticesUiTest(GraphicUnitTest):
    def setUp(self):
        super().setUp()
        self.Window.size = (1280, 800)

    async def _with_kiosk(self, scenario):
        from kiosk.ui.app import KioskRoot

        with tempfile.TemporaryDirectory() as tmp:
            library = EmbeddedLibrarySystem("demo", database=Path(tmp) / "lib.sqlite", clock=lambda: NOW)
            await library.start()
            journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"ui-test-key")
            rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
            self.flows = KioskFlows(library, journal, DeviceHub(ROLES), FlowSettings(rules=rules),
                                    monotonic=Clock(), now=lambda: NOW)
            await self.flows.start(ticker=False)
            self.root = KioskRoot(self.flows)
            self.render(self.root)
            try:
                await scenario()
            finally:
                await self.flows.close()
                journal.close()
                await library.close()

    async def frames(self, n=3):
        for _ in range(3):
            for _ in range(10):
                await asyncio.sleep(0)
            await self.flows.settle()
        self.advance_frames(n)

    def screen_text(self) -> str:
        return "\n".join(self.root.visible_texts())

    async def touch(self, text: str):
        button = self.root.find_button(text)
        assert button is not None, f"no enabled button {text!r} on screen: {self.root.visible_texts()}"
        x, y = button.to_window(*button.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        await self.frames()

    def test_menu_notification_and_hold_shelf_on_return(self):
        async def scenario():
            await self.frames()
            sim.tap_card(OK_CARD)
            await self.frames()
            for digit in "1234":
                await self.touch(digit)
            await self.touch(kio("kiosk.button.ok"))
            assert self.flows.state is State.MENU
            notification = kio("kiosk.outcome.library_says", text="Vanaf 1 december zijn we op maandag gesloten.")
            assert notification in self.screen_text()
            await self.touch(kio("kiosk.button.return"))
            sim.place_items([sim.tag_for(HOLD_ITEM, secured=False)])
            await self.frames()
            assert self.flows.state is State.RETURN
            text = self.screen_text()
            assert kio("kiosk.return.hold_shelf") in text, text
            assert notification not in text

        asyncio.run(self._with_kiosk(scenario))
