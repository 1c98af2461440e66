"""The pay screens, rendered for real offscreen, driven by touches: a patron
blocked by R2 pays the membership fee on the simulated terminal and borrows
in the same session; Cancel on the kiosk while the terminal waits; the
amount on screen is the amount the terminal charged."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

from kivy.tests.common import GraphicUnitTest, UnitTestTouch

from devices import open_device, sim
from kiosk.adapter import EmbeddedLibrarySystem
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State
from kiosk.i18n import translate
from kiosk.journal import Journal
from kiosk.library.server import site_rules
from kiosk.payments import PaymentJournal, PaymentService
from policy import DEFAULT_PIN_REQUIRED

NOW = datetime(2026, 11, 23, 12, 0).astimezone()
R2_CARD = "29999000000030"
ROLES = {"patron_reader": ["sim://patron"], "item_reader": ["sim://rfid"], "scanner": ["sim://scanner"],
         "indicator": ["sim://indicator"], "printer": ["sim://printer"]}


def kio(key, lang="nl", **params):
    return translate("kiosk", key, lang, **params)


class Clock:
    t = 1000.0

    def __call__(self):
        return self.t


class PayUiTest(GraphicUnitTest):
    def setUp(self):
        super().setUp()
        self.Window.size = (1280, 800)

    def run_scenario(self, scenario):
        asyncio.run(self._with_kiosk(scenario))

    async def _with_kiosk(self, scenario):
        from kiosk.ui.app import KioskRoot

        with tempfile.TemporaryDirectory() as tmp:
            library = EmbeddedLibrarySystem("demo", database=Path(tmp) / "lib.sqlite", clock=lambda: NOW)
            await library.start()
            journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"ui-test-key")
            payments = PaymentJournal(Path(tmp) / "payments.sqlite", pseudonym_key=b"ui-test-key")
            terminal = open_device("sim://payment?name=ui-pay")
            await terminal.open()
            rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
            self.flows = KioskFlows(library, journal, DeviceHub(ROLES), FlowSettings(rules=rules), monotonic=Clock(),
                                    now=lambda: NOW, payments=PaymentService(payments, terminal, library))
            await self.flows.start(ticker=False)
            self.root = KioskRoot(self.flows)
            self.render(self.root)
            try:
                await scenario()
            finally:
                await self.flows.close()
                await terminal.close()
                payments.close()
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

    async def touch(self, text: str, settle: bool = True):
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

    async def login(self, card, pin="1234"):
        sim.tap_card(card)
        await self.frames()
        for digit in pin:
            await self.touch(digit)
        await self.touch(kio("kiosk.button.ok"))

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
