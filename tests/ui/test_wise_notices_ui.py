"""#13 item 6 on screen, rendered for real offscreen: the menu shows the
patron's notification (marked as the library's message), the return screen
says "put it on the hold shelf" for a Wise CL 03.  The real flows, the
embedded library system over SIP2 (demo data) and sim:// devices."""

from __future__ import annotations

from devices import sim
from kiosk.flows import State

from .kiosk_case import OK_CARD, KioskCase, kio

HOLD_ITEM = "30000000000104"  # a hold waits for it here: CL 03 on return (OK_CARD: one notification, lent it)


class WiseNoticesUiTest(KioskCase):
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

        self.run_scenario(scenario)
