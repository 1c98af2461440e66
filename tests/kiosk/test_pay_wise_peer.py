"""The pay flow against the Wise-dialect peer (tests/adapter/wise_peer.py,
written from wise-sip2.md): the registrations come from 41/42, each is paid
with a 37 whose CG is its adm_id and whose BK is the payment's transaction
id, and a re-sent 37 (same BK) is booked once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from devices import open_device, sim
from kiosk.flows import FlowSettings, State, Ui
from kiosk.payments import PaymentJournal, PaymentService, PaymentState, library_booker
from policy import SiteRules

from ..adapter.test_wise_peer import wise_system
from ..adapter.wise_peer import WisePeer, wise_peer
from .harness import close_harness, make_harness

NOW = datetime(2026, 11, 23, 12, 0).astimezone()
R2, R1 = "22000000000052", "22000000000060"
RULES = SiteRules(default_max_charges=Decimal("10.00"), default_charge_age_days=30, pin_required=frozenset(),
                  show_amounts=True)


class LiftingPeer(WisePeer):
    """As Wise: once nothing is open the flags no longer deny and BV is 0."""

    def __init__(self):
        super().__init__()
        self.fee_paid: list[tuple[str | None, str, str | None]] = []

    def on_fee_paid(self, msg, session):
        self.fee_paid.append((msg.fee_identifier, msg.fee_amount, msg.transaction_id))
        answer = super().on_fee_paid(msg, session)
        p = self.patrons.get(msg.patron_identifier)
        if p is not None:
            left = sum(Decimal(line.split("~")[4].strip()) for line in p.registrations)
            p.bv = f"{left:.2f}"
            if left <= Decimal("10.00") and not any(line.split("~")[8].strip() == "1" for line in p.registrations):
                p.flags = " " * 14
        return answer


@pytest.fixture
async def h(tmp_path):
    peer = LiftingPeer()
    async with wise_peer(peer) as (port, _):
        library = wise_system(port)
        harness = await make_harness(library, tmp_path, settings=FlowSettings(rules=RULES), now=lambda: NOW)
        terminal = open_device("sim://payment?name=wise-pay")
        await terminal.open()
        journal = PaymentJournal(tmp_path / "payments.sqlite", pseudonym_key=b"k" * 16)
        harness.flows.payments = PaymentService(journal, terminal, library)
        harness.peer, harness.library, harness.pay_journal = peer, library, journal
        try:
            yield harness
        finally:
            await close_harness(harness)
            await terminal.close()
            journal.close()
            await library.close()


async def test_wise_r2_fee_paid_by_adm_id_then_borrowing(h):
    await h.tap(R2)
    assert h.state is State.MENU, h.text()
    await h.press(Ui.BORROW)
    assert h.state is State.PAY, h.text()
    assert h.view.pay.total == "€ 20,00" and h.view.pay.lifts
    sim.script_payments(["approve"], name="wise-pay")
    await h.press(Ui.PAY_START)
    [record] = h.pay_journal.records()
    assert record.state is PaymentState.BOOKED
    assert h.peer.fee_paid == [("7001", "20.00", f"{record.ref}.0")]  # CG = adm_id, BK = our id
    assert h.state is State.BORROW, h.text()


async def test_wise_r1_only_the_registration_that_lifts_the_block(h):
    await h.tap(R1)
    await h.press(Ui.BORROW)
    pv = h.view.pay
    assert h.state is State.PAY and pv.total == "€ 12,50" and pv.needed_total == "€ 7,50"
    await h.press(Ui.PAY_NEEDED)
    sim.script_payments(["approve"], name="wise-pay")
    await h.press(Ui.PAY_START)
    assert h.peer.fee_paid[-1][:2] == ("7002", "7.50")
    assert h.state is State.BORROW, h.text()


async def test_wise_resent_37_with_the_same_bk_is_booked_once(h):
    await h.tap(R2)
    booker = library_booker(h.library)
    from kiosk.payments import LineKind, PayLine

    line = PayLine(2000, LineKind.MEMBERSHIP_FEE, "7001")
    first = await booker(R2, line, "bkpretry.0")
    again = await booker(R2, line, "bkpretry.0")  # a lost 38, re-sent after a restart
    assert first.accepted and again.accepted
    assert list(h.peer.paid) == ["bkpretry.0"]
