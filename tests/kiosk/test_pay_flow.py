"""The pay flow end to end: sim:// devices and a simulated payment terminal,
the embedded library system with the demo data over real SIP2, the payment
journal, the real policy.  A patron blocked by R2 pays the membership fee and
borrows in the same session; R1 pays only what lifts the block; every
terminal outcome has its screen and a way back; one amount everywhere."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices import PaymentOutcome, open_device, sim
from kiosk.adapter import EmbeddedLibrarySystem
from kiosk.flows import LineStatus, State, Ui
from kiosk.flows.pay import PAYABLE_RULES
from kiosk.payments import PaymentJournal, PaymentService, PaymentState, library_booker

from .harness import close_harness, make_harness
from .test_e2e import AVAILABLE, NOW, PIN, settings

R1_CARD, R2_CARD, R5_CARD, R6_CARD = "29999000000020", "29999000000030", "29999000000060", "29999000000070"


@pytest.fixture
async def library(tmp_path):
    system = EmbeddedLibrarySystem("demo", database=tmp_path / "library.sqlite", clock=lambda: NOW)
    await system.start()
    yield system
    await system.close()


class Spy:
    """Counts the 37s the payment service sends (amounts in cents)."""

    def __init__(self, library):
        self.inner = library_booker(library)
        self.sent: list[int] = []

    async def __call__(self, card, line, transaction_id):
        self.sent.append(line.amount_cents)
        return await self.inner(card, line, transaction_id)


@pytest.fixture
async def h(library, tmp_path):
    harness = await make_harness(library, tmp_path, settings=settings(library), now=lambda: NOW)
    terminal = open_device("sim://payment?name=kiosk-pay")
    await terminal.open()
    journal = PaymentJournal(tmp_path / "payments.sqlite", pseudonym_key=b"k" * 16)
    spy = Spy(library)
    harness.flows.payments = PaymentService(journal, terminal, booker=spy, terminal_timeout=30)
    harness.spy = spy
    harness.pay_journal = journal
    yield harness
    await close_harness(harness)
    await terminal.close()
    journal.close()


async def login(h, card):
    await h.tap(card)
    assert h.state is State.PIN, h.text()
    await h.pin(PIN)
    assert h.state is State.MENU, h.text()


async def pay(h, outcome: str) -> None:
    sim.script_payments([outcome], name="kiosk-pay")
    await h.press(Ui.PAY_START)


async def test_r2_pays_the_membership_fee_and_borrows_in_the_same_session(h, library):
    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    assert h.state is State.PAY, h.text()
    pv = h.view.pay
    assert pv.total == "€ 60,00" and pv.lifts and len(pv.lines) == 1
    assert h.view.pay.pay_label.render("nl") == "Nu € 60,00 betalen"
    await pay(h, "approve")
    assert h.state is State.BORROW, h.text()
    assert "Betaald: € 60,00. Je kunt weer lenen." in h.text()  # (View.pay stage "done")
    # one amount: the screen, the terminal's charge, the 37
    assert pv.total_cents == sim.payments(name="kiosk-pay")[-1].amount_cents == sum(h.spy.sent) == 6000
    await h.scan(AVAILABLE[0])
    assert [ln.status for ln in h.view.lines] == [LineStatus.OK], h.text()
    [record] = h.pay_journal.records()
    assert record.state is PaymentState.BOOKED and record.card is None


async def test_r1_pays_only_what_lifts_the_block(h):
    await login(h, R1_CARD)  # 8.00 (1 Nov) + 4.50 (2 Nov) against a maximum of 10.00
    await h.press(Ui.BORROW)
    pv = h.view.pay
    assert h.state is State.PAY and pv.total == "€ 12,50" and pv.lifts
    assert pv.can_choose_needed and pv.needed_total == "€ 8,00"
    assert [needed for *_x, needed in pv.lines] == [True, False]  # the oldest charge is what lifts it
    await h.press(Ui.PAY_TOGGLE, "0")  # only the newer charge: 8.00 stays open, below the maximum
    assert h.view.pay.lifts and h.view.pay.total == "€ 4,50"
    await h.press(Ui.PAY_TOGGLE, "1")  # nothing chosen: nothing lifts
    assert not h.view.pay.lifts and h.view.pay.total == "€ 0,00"
    await h.press(Ui.PAY_START)
    assert h.state is State.PAY and sim.payments(name="kiosk-pay") == []
    await h.press(Ui.PAY_NEEDED)
    assert h.view.pay.lifts and h.view.pay.total == "€ 8,00"
    await pay(h, "approve")
    assert h.state is State.BORROW, h.text()
    assert sim.payments(name="kiosk-pay")[-1].amount_cents == 800 == sum(h.spy.sent)


async def test_registrations_in_the_chosen_language_not_the_library_dutch(h, library):
    """Issue 13, one language on every screen: the Wise registrations' descriptions
    ("Boete") stood as unmarked Dutch under a French screen.  A known type is the
    kiosk's own words; an unknown one is the library's text, marked as the library's."""
    from kiosk.i18n import translate

    h.flows.set_language("fr")
    await login(h, R1_CARD)  # two registrations of type 2 ("Boete", a fine), 1 and 2 November
    await h.press(Ui.BORROW)
    assert h.state is State.PAY and h.view.language == "fr"
    labels = [label.render("fr") for label, *_x in h.view.pay.lines]
    assert labels == ["Amende du 01/11/2026", "Amende du 02/11/2026"]
    assert "Boete" not in h.text()
    assert [label.render("en") for label, *_x in h.view.pay.lines][0] == "Fine of 01/11/2026"

    from types import SimpleNamespace as R

    from kiosk.flows.pay import owed_from_registrations

    odd = owed_from_registrations([R(adm_id="9", kind=5, description="Parkeerkaart", title="", amount=2.0, status="I",
                                     created=None)])
    assert odd[0].label.render("fr") == translate("kiosk", "kiosk.outcome.library_says", "fr", text="Parkeerkaart")
    assert odd[0].line.description == "Parkeerkaart"  # what the payment journal and staff keep: the library's text


@pytest.mark.parametrize(("outcome", "banner"), [
    ("decline", "kiosk.pay.result.declined"),
    ("cancel", "kiosk.pay.result.cancelled"),
    ("timeout", "kiosk.pay.result.timeout"),
    ("offline", "kiosk.pay.result.offline"),
])
async def test_terminal_outcomes_come_back_to_the_choice(h, outcome, banner):
    await login(h, R5_CARD)
    await h.press(Ui.BORROW)
    assert h.state is State.PAY
    await pay(h, outcome)
    assert h.state is State.PAY and h.view.pay.banner.key == banner, h.text()
    assert h.spy.sent == [] and h.pay_journal.records()[-1].state is PaymentState.NOT_CHARGED
    await pay(h, "approve")  # a way forward: try again
    assert h.state is State.BORROW, h.text()


async def test_cancel_on_the_kiosk_aborts_the_terminal(h):
    import asyncio

    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    h.flows.press(Ui.PAY_START)  # nothing scripted: the terminal waits for a card
    for _ in range(200):
        await asyncio.sleep(0.005)
        if sim.payment_waiting(name="kiosk-pay"):
            break
    assert h.state is State.PAYING and h.view.pay.stage == "terminal"
    h.flows.cancel_payment()
    await h.settle()
    assert h.state is State.PAY and h.view.pay.banner.key == "kiosk.pay.result.cancelled"
    await h.press(Ui.PAY_BACK)
    assert h.state is State.MENU


async def test_amounts_hidden_before_the_pin_unless_show_amounts(library, tmp_path):
    from policy import Action

    rules = settings(library).rules.model_copy(update={"pin_required": frozenset({Action.ENTRY})})
    for show, expected in ((False, ""), (True, "€ 60,00")):
        harness = await make_harness(library, tmp_path / str(show),
                                     settings=settings(library).__class__(rules=rules.model_copy(update={"show_amounts": show})),
                                     now=lambda: NOW)
        terminal = open_device(f"sim://payment?name=hide-{show}")
        async with terminal:
            with PaymentJournal(tmp_path / f"p{show}.sqlite", pseudonym_key=b"k" * 16) as journal:
                harness.flows.payments = PaymentService(journal, terminal, library=library)
                await harness.tap(R2_CARD)
                assert harness.state is State.MENU  # no PIN at this site
                await harness.press(Ui.BORROW)
                assert harness.state is State.PAY
                assert harness.view.pay.total == expected and all(a == expected for _l, a, *_r in harness.view.pay.lines)
                label = harness.view.pay.pay_label.render("nl")
                assert ("60" in label) is show
        await close_harness(harness)


async def test_no_terminal_no_offer_and_unpayable_rules_not_offered(h):
    await login(h, R6_CARD)  # deregistered: payment does not lift it
    await h.press(Ui.BORROW)
    assert h.state is State.MESSAGE
    await h.press(Ui.OK)
    await h.press(Ui.FINISH)
    await h.press(Ui.OK)
    h.flows.payments = None
    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    assert h.state is State.MESSAGE  # no terminal: the policy's message, as before
    assert {"R1", "R2", "R3", "R4", "R5"} == PAYABLE_RULES


async def test_payment_receipt_printed_and_on_the_visit_receipt(h):
    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    await pay(h, "approve")
    await h.settle()
    receipts = sim.printed()
    assert receipts, "the payment's own receipt"
    text = "\n".join(receipts[-1].lines)
    assert "Betaald: € 60,00" in text and "SIM" in text and "AKKOORD / ACCEPTE / APPROVED" in text
    await h.scan(AVAILABLE[1])
    await h.press(Ui.FINISH)
    assert h.state is State.RECEIPT
    await h.press(Ui.RECEIPT_YES)
    text = "\n".join(sim.printed()[-1].lines)
    assert "Betaald: € 60,00" in text and "Referentie: SIM" in text


async def test_approved_but_library_down_is_kept_and_told(h, library):
    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    from kiosk.adapter.base import LibrarySystemUnavailable

    async def down(*_a, **_k):
        raise LibrarySystemUnavailable("link down")

    h.spy.inner = down
    await pay(h, "approve")
    assert h.state is State.MESSAGE and h.view.title.key == "kiosk.pay.taken.title", h.text()
    assert "Referentie: SIM" in h.text()
    [record] = h.pay_journal.records()
    assert record.state is PaymentState.APPROVED  # kept, to be booked
    h.spy.inner = library_booker(library)
    report = await h.flows.payments.recover()
    assert report.booked == 1 and h.pay_journal.get(record.ref).state is PaymentState.BOOKED
    assert sim.payments(name="kiosk-pay")[-1].outcome is PaymentOutcome.APPROVED


async def test_idle_timeout_on_the_pay_screen_ends_the_session(h):
    await login(h, R2_CARD)
    await h.press(Ui.BORROW)
    assert h.state is State.PAY
    await h.advance(h.flows.settings.idle_timeout_seconds + 1)
    assert h.state is State.IDLE and h.flows.session is None and h.view.pay is None


def test_r4_invoice_line_lifts_the_block_when_paid():
    from datetime import date

    from kiosk.flows.pay import OwedLine, after_payment, owed_from_registrations
    from kiosk.payments import LineKind, PayLine
    from policy import Action, Charge, PatronSnapshot, SiteRules, Subscription, decide
    from types import SimpleNamespace as R

    regs = [R(adm_id="1", kind=2, description="Nota", title="Materiaalvergoeding", amount=8.95, status="I",
              created=date(2026, 11, 1)),
            R(adm_id="2", kind=2, description="Boete", title="Kaas", amount=1.0, status="I", created=date(2026, 11, 20)),
            R(adm_id="3", kind=2, description="Boete", title="Reeks", amount=5.0, status="R", created=date(2026, 8, 1))]
    owed = owed_from_registrations(regs)
    assert [o.line.kind for o in owed] == [LineKind.INVOICE, LineKind.CHARGE]  # the arrangement (R) need not be paid
    snap = PatronSnapshot(subscription=Subscription(type_code="A"), replacement_invoice=True,
                          charges=(Charge(amount=1, created=date(2026, 11, 20)),))
    rules = SiteRules(default_max_charges=10, pin_required=frozenset())
    now = datetime(2026, 11, 23, 12, 0).astimezone()
    assert "R4" in decide(Action.CHECKOUT, snap, rules, now).rule_ids()
    after = after_payment(snap, owed[:1], owed)
    assert decide(Action.CHECKOUT, after, rules, now).allowed
    assert "R4" in decide(Action.CHECKOUT, after_payment(snap, owed[1:], owed), rules, now).rule_ids()
