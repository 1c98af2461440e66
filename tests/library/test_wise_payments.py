"""Payments booked by the embedded library (issue 14 item 5): a 37 with CG =
adm_id pays that registration — a part leaves the rest open, more than is
open is refused, the same BK for the same registration is booked once, and a
refusal says why; the block lifts as soon as the payment is booked (R1 below
the maximum, R2 fee paid -> status normal -> the patron borrows)."""

from __future__ import annotations

from datetime import datetime

import pytest

from kiosk.i18n import translate
from kiosk.library import PaymentRefused
from kiosk.library.datafile import dump_data, load_data, parse_data
from kiosk.library.server import LibraryServer, site_rules
from kiosk.library.store import Store
from kiosk.sip2.client import Sip2Client
from policy import DEFAULT_PIN_REQUIRED, Action, decide

from .conftest import NOW, settings_for
from .demo_cards import PIN

R1, R2, R2_REMINDER, R3, R4, R5 = (
    "29999000000020", "29999000000030", "29999000000190", "29999000000040", "29999000000050", "29999000000060",
)  # fmt: skip
FREE_BOOK = "30000000000043"
BOOKED = datetime(2026, 11, 23, 12, 0).astimezone()


def _t(key: str, lang: str = "nl", **params) -> str:
    return translate("library", key, lang, **params)


@pytest.fixture(params=["extended", "wise"])
async def paying(request, tmp_path):
    """A client of the demo library in each dialect (payments work the same)."""
    store = Store.create(tmp_path / "library.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW, dialect=request.param)
    await server.start("127.0.0.1", 0)
    async with Sip2Client(settings_for(server.port)) as c:
        c.store = store
        c.dialect = request.param
        yield c
    await server.close()
    store.close()


async def _open(client, card) -> dict[str, str]:
    return {r.adm_id: r.amount for r in (await client.registrations(card, PIN)).registrations}


async def _decision(client, card, action=Action.CHECKOUT):
    from kiosk.adapter import Sip2LibrarySystem

    async with Sip2LibrarySystem(settings_for(client.settings.port)) as library:
        patron = await library.identify(card, PIN)
    rules = site_rules(client.store, branch_id=patron.branch).model_copy(update={"pin_required": DEFAULT_PIN_REQUIRED})
    return decide(action, patron, rules, NOW)


async def test_partial_then_full_payment_lifts_r1(paying):
    c = paying
    assert not (await c.checkout(R1, FREE_BOOK, PIN)).ok  # 12.50 open, maximum 10.00
    part = await c.pay_registration(R1, "5000201", "2.00", transaction_id="K1-T1")
    assert part.payment_accepted and part.transaction_id == "K1-T1"
    assert part.screen_message == (_t("library.payment_part", amount="6.00"),)
    assert await _open(c, R1) == {"5000201": "6.00", "5000202": "4.50"}
    assert not (await c.checkout(R1, FREE_BOOK, PIN)).ok  # 10.50: still above the maximum
    rest = await c.pay_registration(R1, "5000201", "6.00", transaction_id="K1-T2")
    assert rest.payment_accepted and rest.screen_message == (_t("library.payment_ok"),)
    assert await _open(c, R1) == {"5000202": "4.50"}
    info = await c.patron_information(R1, PIN)
    assert info.fee_amount == "4.50" and not info.patron_status.charge_privileges_denied
    assert (await c.checkout(R1, FREE_BOOK, PIN)).ok  # 4.50 <= 10.00: R1 lifted, borrows at once


async def test_same_transaction_id_books_once(paying):
    c = paying
    first = await c.pay_registration(R1, "5000201", "3.00", transaction_id="K1-RETRY")
    again = await c.pay_registration(R1, "5000201", "3.00", transaction_id="K1-RETRY")  # the 38 was lost: re-sent
    assert first.payment_accepted and again.payment_accepted
    assert await _open(c, R1) == {"5000201": "5.00", "5000202": "4.50"}  # booked once
    assert [p[:4] for p in c.store.payments()] == [("K1-RETRY", "5000201", "900002", 300)]
    other = await c.pay_registration(R1, "5000201", "4.00", transaction_id="K1-RETRY")
    assert not other.payment_accepted and other.screen_message == (_t("library.payment_conflict"),)
    # The same BK may pay a second registration (one payment of several registrations).
    second = await c.pay_registration(R1, "5000202", "4.50", transaction_id="K1-RETRY")
    assert second.payment_accepted
    assert await _open(c, R1) == {"5000201": "5.00"}
    # A full payment re-sent after the registration is paid is still answered as booked.
    full = await c.pay_registration(R1, "5000201", "5.00", transaction_id="K1-FULL")
    full_again = await c.pay_registration(R1, "5000201", "5.00", transaction_id="K1-FULL")
    assert full.payment_accepted and full_again.payment_accepted
    assert await _open(c, R1) == {} and len(c.store.payments()) == 3


@pytest.mark.parametrize(
    "card, adm_id, amount, currency, reason",
    [
        (R1, "5000201", "8.01", "EUR", "overpayment"),
        (R1, "9999999", "1.00", "EUR", "unknown_registration"),
        (R1, "5000301", "1.00", "EUR", "unknown_registration"),  # Demo Klant R2's fee: not this patron's
        (R1, "5000201", "0.00", "EUR", "amount"),
        (R1, "5000201", "-1.00", "EUR", "amount"),
        (R1, "5000201", "1.005", "EUR", "amount"),  # never rounded
        (R1, "5000201", "1e2", "EUR", "amount"),
        (R1, "5000201", "abc", "EUR", "amount"),
        (R1, "5000201", "1.00", "USD", "currency"),
        (R2, "5000301", "60.01", "EUR", "overpayment"),
    ],
)
async def test_refusals_say_why_and_book_nothing(paying, card, adm_id, amount, currency, reason):
    c = paying
    before = await _open(c, card)
    answer = await c.pay_registration(card, adm_id, amount, transaction_id="K1-BAD", currency=currency)
    assert not answer.payment_accepted
    assert answer.screen_message == (_t(f"library.payment_{reason}"),)
    assert await _open(c, card) == before and c.store.payments() == []


async def test_paid_registration_and_unknown_patron_are_refused(paying):
    c = paying
    assert (await c.pay_registration(R3, "5000401", "2.00", transaction_id="K1-A")).payment_accepted
    twice = await c.pay_registration(R3, "5000401", "2.00", transaction_id="K1-B")  # another payment
    assert not twice.payment_accepted and twice.screen_message == (_t("library.payment_already_paid", "en"),)
    unknown = await c.pay_registration("00000000000000", "5000401", "2.00", transaction_id="K1-C")
    assert not unknown.payment_accepted
    assert unknown.screen_message == (translate("policy", "policy.U1", None),)


async def test_r2_fee_paid_status_normal_patron_borrows(paying):
    c = paying
    assert (await c.patron_status(R2, PIN)).patron_status.charge_privileges_denied
    if c.dialect == "extended":
        assert (await _decision(c, R2)).rule_ids() == ["R2"]
    part = await c.pay_registration(R2, "5000301", "20.00", transaction_id="K1-FEE-1")
    assert part.payment_accepted and part.screen_message == (_t("library.payment_part", amount="40.00"),)
    assert not (await c.checkout(R2, FREE_BOOK, PIN)).ok  # the whole fee must be paid
    assert c.store.patron("900003").subscription.status.value == "invoiced"
    rest = await c.pay_registration(R2, "5000301", "40.00", transaction_id="K1-FEE-2")
    assert rest.payment_accepted
    sub = c.store.patron("900003").subscription
    assert sub.status.value == "normal" and sub.fee_paid and sub.fee_open_cents == 0
    info = await c.patron_information(R2, PIN)
    assert info.fee_amount == "0.00" and not info.patron_status.excessive_outstanding_fees
    assert not (await c.patron_status(R2, PIN)).patron_status.charge_privileges_denied
    assert (await _decision(c, R2)).allowed  # the adapter's view: no rule left
    assert (await c.checkout(R2, FREE_BOOK, PIN)).ok  # and the library lends


@pytest.mark.parametrize("card, adm_id, patron", [(R2_REMINDER, "5001901", "900019"), (R5, "5000601", "900006")])
async def test_reminder_and_not_paid_become_normal_when_the_fee_is_paid(paying, card, adm_id, patron):
    c = paying
    assert not (await c.checkout(card, FREE_BOOK, PIN)).ok
    assert (await c.pay_registration(card, adm_id, "60.00", transaction_id=f"K1-{adm_id}")).payment_accepted
    assert c.store.patron(patron).subscription.status.value == "normal"
    assert (await c.checkout(card, FREE_BOOK, PIN)).ok


async def test_replacement_invoice_paid_lifts_r4(paying):
    c = paying
    assert not (await c.checkout(R4, FREE_BOOK, PIN)).ok
    assert (await c.pay_registration(R4, "5000501", "8.95", transaction_id="K1-NOTA")).payment_accepted
    assert (await c.checkout(R4, FREE_BOOK, PIN)).ok


async def test_old_charge_paid_lifts_r3(paying):
    c = paying
    assert not (await c.checkout(R3, FREE_BOOK, PIN)).ok
    assert (await c.pay_registration(R3, "5000401", "2.00", transaction_id="K1-OLD")).payment_accepted
    assert (await c.checkout(R3, FREE_BOOK, PIN)).ok


# --------------------------------------------------------------------------- the store


def test_bookings_survive_a_save_and_a_restart(tmp_path):
    """The payments are in the state and in the saved data file: a 37 re-sent
    after a restart (same BK) is still booked once."""
    store = Store.create(tmp_path / "a.sqlite", load_data("demo"))
    first = store.book_payment("900002", "5000201", 300, transaction_id="K1-T9", booked=BOOKED)
    assert not first.duplicate and first.open_cents == 500 and not first.fee
    saved = dump_data(store.to_data())
    store.close()
    again = Store.create(tmp_path / "b.sqlite", parse_data(saved))
    repeat = again.book_payment("900002", "5000201", 300, transaction_id="K1-T9", booked=BOOKED)
    assert repeat.duplicate and repeat.open_cents == 500
    assert [r.open_cents for r in again.registrations("900002")] == [500, 450]
    assert dump_data(again.to_data()) == saved
    again.close()


def test_store_refusals(tmp_path):
    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    try:
        for adm_id, cents, reason in (
            ("5000201", 801, "overpayment"),
            ("5000201", 0, "amount"),
            ("nope", 100, "unknown_registration"),
        ):
            with pytest.raises(PaymentRefused) as info:
                store.book_payment("900002", adm_id, cents, transaction_id=None, booked=BOOKED)
            assert info.value.reason == reason
        fee = store.book_payment("900003", "5000301", 6000, transaction_id=None, booked=BOOKED)
        assert fee.fee and fee.open_cents == 0
        with pytest.raises(PaymentRefused) as info:
            store.book_payment("900003", "5000301", 100, transaction_id=None, booked=BOOKED)
        assert info.value.reason == "already_paid"
        # Without a BK nothing can be recognised: each 37 books.
        store.book_payment("900002", "5000201", 100, transaction_id=None, booked=BOOKED)
        store.book_payment("900002", "5000201", 100, transaction_id=None, booked=BOOKED)
        assert store.registrations("900002")[0].open_cents == 600
        assert store.integrity_problems() == []
    finally:
        store.close()


def test_written_off_fee_is_not_a_registration(tmp_path):
    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    try:
        assert store.registrations("900007") == []  # R6: deregistered, the fee written off
        adm = store.registrations("900001", paid=True)[0].adm_id  # a paid fee got an assigned id
        with pytest.raises(PaymentRefused) as info:
            store.book_payment("900001", adm, 100, transaction_id=None, booked=BOOKED)
        assert info.value.reason == "already_paid"
    finally:
        store.close()
