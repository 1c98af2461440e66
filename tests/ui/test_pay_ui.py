"""The pay screens, rendered for real offscreen, driven by touches: a patron
blocked by R2 pays the membership fee on the simulated terminal and borrows
in the same session; Cancel on the kiosk while the terminal waits; the
amount on screen is the amount the terminal charged."""

from __future__ import annotations

import asyncio

from devices import open_device, sim
from kiosk.flows import State
from kiosk.payments import PaymentJournal, PaymentService

from .kiosk_case import R2_CARD, KioskCase, kio


class PayUiTest(KioskCase):
    async def flows_extra(self, tmp, library):
        payments = PaymentJournal(tmp / "payments.sqlite", pseudonym_key=b"ui-test-key")
        self.on_close(payments.close)
        terminal = open_device("sim://payment?name=ui-pay")
        await terminal.open()
        self.on_close(terminal.close)
        return {"payments": PaymentService(payments, terminal, library)}

    async def panel_press(self, panel, text: str):
        """Touch a button of the demo's simulator panel (beside the kiosk screen)."""
        from kiosk.ui.widgets import KButton

        found = []

        def walk(widget):
            if isinstance(widget, KButton) and widget.text == text:
                found.append(widget)
            for child in widget.children:
                walk(child)

        walk(panel)
        assert found, f"no panel button {text!r}"
        found[0].dispatch("on_release")
        await self.frames()

    def test_r2_pays_by_touch_and_borrows(self):
        async def scenario():
            await self.frames()
            await self.login(R2_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            text = self.screen_text()
            assert self.flows.state is State.PAY
            assert kio("kiosk.pay.title") in text and kio("kiosk.pay.offer") in text
            assert kio("kiosk.pay.reason.fee") in text and kio("kiosk.pay.line.fee") in text
            assert "balie" not in text  # the pay screen never sends the patron to a desk
            assert kio("kiosk.pay.lifts") in text and kio("kiosk.pay.total", amount="€ 60,00") in text
            # the patron declines on the terminal: a clear banner, the choice again
            sim.script_payments(["decline"], name="ui-pay")
            await self.touch(kio("kiosk.pay.button", amount="€ 60,00"))
            assert self.flows.state is State.PAY and kio("kiosk.pay.result.declined") in self.screen_text()
            # nothing scripted: the terminal waits; the kiosk shows the terminal screen; Cancel aborts it
            await self.touch(kio("kiosk.pay.button", amount="€ 60,00"), settle=False)
            for _ in range(100):
                if sim.payment_waiting(name="ui-pay"):
                    break
                await asyncio.sleep(0.01)
            self.advance_frames(3)
            text = self.screen_text()
            assert kio("kiosk.paying.title") in text and kio("kiosk.paying.amount", amount="€ 60,00") in text
            await self.touch(kio("kiosk.paying.cancel"))
            assert kio("kiosk.pay.result.cancelled") in self.screen_text()
            # approved: straight to borrowing, the block gone
            sim.script_payments(["approve"], name="ui-pay")
            await self.touch(kio("kiosk.pay.button", amount="€ 60,00"))
            assert self.flows.state is State.BORROW, self.screen_text()
            assert kio("kiosk.pay.done_borrow", amount="€ 60,00") in self.screen_text()
            assert sim.payments(name="ui-pay")[-1].amount_cents == 6000
            sim.place_items(["30000000000029"])
            await self.frames()
            assert "Max Havelaar" in self.screen_text() and kio("kiosk.status.ok.borrow") in self.screen_text()

        self.run_scenario(scenario)

    def test_not_now_goes_back_and_french(self):
        async def scenario():
            await self.frames()
            await self.login(R2_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            await self.touch("Français")
            text = self.screen_text()
            assert kio("kiosk.pay.title", "fr") in text and kio("kiosk.pay.total", "fr", amount="€ 60,00") in text
            await self.touch(kio("kiosk.pay.back", "fr"))
            assert self.flows.state is State.MENU

        self.run_scenario(scenario)

    def test_demo_panel_answers_the_simulated_terminal(self):
        """bibkiosk demo: the simulator panel's terminal buttons answer the payment the terminal waits on."""
        from kiosk.ui.simpanel import SimPanel

        async def scenario():
            panel = SimPanel(self.root, cards=[], items=[], payment_terminal="ui-pay")
            panel.toggle()
            await self.frames()
            await self.login(R2_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            await self.touch(kio("kiosk.pay.button", amount="€ 60,00"), settle=False)
            for _ in range(100):
                if sim.payment_waiting(name="ui-pay"):
                    break
                await asyncio.sleep(0.01)
            await self.panel_press(panel, "terminal: timeout")
            assert kio("kiosk.pay.result.timeout") in self.screen_text()
            await self.touch(kio("kiosk.pay.button", amount="€ 60,00"), settle=False)
            for _ in range(100):
                if sim.payment_waiting(name="ui-pay"):
                    break
                await asyncio.sleep(0.01)
            await self.panel_press(panel, "terminal: approve")
            assert self.flows.state is State.BORROW, self.screen_text()

        self.run_scenario(scenario)

    def test_registrations_in_the_screen_language(self):
        """Issue 13: the Wise registrations ("Boete") stood as unmarked Dutch on a French
        pay screen.  Rendered: the kiosk's own words for the type, in French, then English."""

        async def scenario():
            await self.frames()
            await self.touch("Français")
            await self.login("29999000000020", lang="fr")  # Demo Klant R1: two fines (type 2) above the maximum
            await self.touch(kio("kiosk.button.borrow", "fr"))
            assert self.flows.state is State.PAY, self.screen_text()
            text = self.screen_text()
            assert kio("kiosk.pay.title", "fr") in text
            assert "Amende du 01/11/2026" in text and "Amende du 02/11/2026" in text, text
            assert "Boete" not in text
            await self.touch("English")
            text = self.screen_text()
            assert "Fine of 01/11/2026" in text and "Boete" not in text and "Amende" not in text

        self.run_scenario(scenario)
