"""#11: the patron store cannot be written: the rendered kiosk says on every
screen, in the patron's language, that PIN actions are out of service, and
a PIN is refused without being checked."""

from __future__ import annotations

from pathlib import Path

from .kiosk_case import OK_CARD, KioskCase, kio


class StoreAlarmTest(KioskCase):
    async def flows_extra(self, tmp: Path, library) -> dict:
        (tmp / "patrons.sqlite").mkdir()  # the store beside the journal cannot be opened
        return {}

    def test_the_notice_is_on_every_screen_and_no_pin_is_checked(self):
        async def scenario():
            from kiosk.flows.alarms import STORE_ALARM

            await self.frames()
            assert STORE_ALARM in self.flows.alarms
            assert kio("kiosk.alarm.pin_out_of_service") in self.screen_text()
            self.flows.set_language("fr")
            await self.frames()
            text = self.screen_text()
            assert kio("kiosk.alarm.pin_out_of_service", "fr") in text
            assert kio("kiosk.alarm.pin_out_of_service", "nl") not in text
            await self.login(OK_CARD, lang="fr")
            text = self.screen_text()
            assert kio("kiosk.pin.out_of_service", "fr") in text and kio("kiosk.alarm.pin_out_of_service", "fr") in text

        self.run_scenario(scenario)
