"""Property tests of the Wise handlers (41 registrations, 37 by adm_id) in
both dialects: whatever a client sends, the answer is a 42 / 38 that goes
out on the wire, and the books balance — every registration's paid part is
exactly the sum of the payments booked against it, never more than its
amount, and each (BK, adm_id) is booked at most once."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.library.datafile import load_data
from kiosk.library.server import LibraryHandler
from kiosk.library.store import Store
from kiosk.sip2.codec import decode, encode
from kiosk.sip2.messages import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    FeePaidRequest,
    FeePaidResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    RegistrationsRequest,
    RegistrationsResponse,
)
from kiosk.sip2.server import Sip2Session

from .conftest import NOW

DEMO = load_data("demo")
CARDS = [c.number for p in DEMO.patrons for c in p.cards] + ["2X1986"]
ITEMS = [i.item_id for i in DEMO.items]
BRANCHES = [b.branch_id for b in DEMO.branches]
ADM_IDS = [c.adm_id for p in DEMO.patrons for c in p.charges if c.adm_id] + [
    p.subscription.fee_adm_id for p in DEMO.patrons if p.subscription and p.subscription.fee_adm_id
] + ["1000001", "1000002"]
safe_text = st.text(st.characters(blacklist_characters="|\r\n\x00", blacklist_categories=("Cs",)), max_size=20)
card = st.one_of(st.sampled_from(CARDS), safe_text)
pin = st.one_of(st.none(), st.sampled_from(["1234", "0000", ""]), safe_text)
flag = st.one_of(st.none(), st.booleans())
amount = st.one_of(
    st.sampled_from(["0.50", "1.00", "2.00", "4.50", "8.00", "8.95", "60.00", "60.01", "0", "-1", "1.005", "1,50", " 2.00 "]),
    st.decimals(min_value=0, max_value=100, places=2).map(str),
    safe_text,
)

requests = st.one_of(
    st.builds(RegistrationsRequest, patron_identifier=card, patron_password=pin, flag_fa=flag, flag_fb=flag, flag_fc=flag),
    st.builds(
        FeePaidRequest,
        patron_identifier=card,
        patron_password=pin,
        fee_amount=amount,
        fee_identifier=st.one_of(st.sampled_from(ADM_IDS), safe_text),
        transaction_id=st.one_of(st.none(), st.sampled_from(["", "T1", "T2", "T3"]), safe_text),
        currency_type=st.sampled_from(["EUR", "USD", "   ", "eur"]),
        fee_type=st.integers(0, 99),
        payment_type=st.integers(0, 99),
    ),
    # the answers that carry the other Wise fields: GL, AF, XS (64, 24), FV (12), CL (10)
    st.builds(PatronInformationRequest, patron_identifier=card, patron_password=pin),
    st.builds(PatronStatusRequest, patron_identifier=card, patron_password=st.one_of(st.just(""), safe_text)),
    st.builds(CheckoutRequest, patron_identifier=card, item_identifier=st.sampled_from(ITEMS), patron_password=pin),
    st.builds(CheckinRequest, item_identifier=st.sampled_from(ITEMS),
              current_location=st.one_of(st.sampled_from(BRANCHES), safe_text)),
)  # fmt: skip
ANSWERS = {
    RegistrationsRequest: RegistrationsResponse,
    FeePaidRequest: FeePaidResponse,
    PatronInformationRequest: PatronInformationResponse,
    PatronStatusRequest: PatronStatusResponse,
    CheckoutRequest: CheckoutResponse,
    CheckinRequest: CheckinResponse,
}
#: Codes a pure-Wise answer may carry beyond the message's SIP2 2.00 fields.
WISE_CODES = {"GL", "XS", "FV", "YZ"}


@pytest.fixture(scope="module", params=["extended", "wise"])
def handler(request, tmp_path_factory):
    store = Store.create(tmp_path_factory.mktemp("wise-fuzz") / "s.sqlite", DEMO)
    handler = LibraryHandler(store, clock=lambda: NOW, dialect=request.param)
    handler.probe_throttle.base = 0.0  # throttling has its own tests (test_edge.py): no waiting on unknown cards
    yield handler
    store.close()


def _books_balance(store: Store) -> None:
    conn = store._conn
    booked: dict[str, int] = {}
    for _, adm_id, _, cents, _ in store.payments():
        booked[adm_id] = booked.get(adm_id, 0) + cents
    for adm_id, total, paid_cents, paid in conn.execute("SELECT adm_id, amount_cents, paid_cents, paid FROM charges"):
        assert 0 <= paid_cents <= total
        assert paid_cents == booked.get(adm_id, 0), adm_id
        assert bool(paid) is (paid_cents == total)
    for adm_id, paid_cents, fee_paid, fee in conn.execute(
        "SELECT s.fee_adm_id, s.fee_paid_cents, s.fee_paid, t.fee_cents FROM subscriptions s"
        " JOIN subscription_types t ON t.code = s.type_code"
    ):
        assert 0 <= paid_cents <= fee and paid_cents == booked.get(adm_id, 0), adm_id
    keys = [(t, a) for t, a, *_ in store.payments() if t is not None]
    assert len(keys) == len(set(keys))
    assert store.integrity_problems() == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(requests, min_size=1, max_size=6))
def test_wise_handlers_answer_everything_and_the_books_balance(handler, batch):
    session = Sip2Session(connection_id=1, logged_in=True)

    async def go():
        for msg in batch:
            answer = await handler.handle(msg, session)
            assert isinstance(answer, ANSWERS[type(msg)])
            frame = encode(answer, encoding=handler.encoding)  # it goes out on the wire ...
            assert isinstance(decode(frame, encoding=handler.encoding), ANSWERS[type(msg)])  # ... and reads back
            if handler.pure_wise:
                assert {code for code, _ in answer.extra_fields} <= WISE_CODES
            if isinstance(answer, CheckinResponse) and answer.sort_bin is not None:
                assert answer.sort_bin in ("03", "02") and answer.alert
            if isinstance(answer, RegistrationsResponse):
                for line in answer.registrations:
                    assert line.adm_id and line.amount_value is not None and line.amount_value > 0

    asyncio.run(go())
    _books_balance(handler.store)
