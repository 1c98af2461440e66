"""Whatever a SIP2 client sends, the handler answers with the right kind of
message (it never relies on the server core's error fallback) and the store
stays consistent."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.library.datafile import load_data
from kiosk.library.server import LibraryHandler
from kiosk.library.store import Store
from kiosk.sip2.messages import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    FeePaidRequest,
    FeePaidResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    Summary,
)
from kiosk.sip2.server import Sip2Session

from .conftest import NOW

DEMO = load_data("demo")
CARDS = [c.number for p in DEMO.patrons for c in p.cards] + ["2X1986"]
ITEMS = [i.item_id for i in DEMO.items] + [i.rfid for i in DEMO.items if i.rfid]
safe_text = st.text(st.characters(blacklist_characters="|\r\n\x00", blacklist_categories=("Cs",)), max_size=30)
card = st.one_of(st.sampled_from(CARDS), safe_text)
item = st.one_of(st.sampled_from(ITEMS), safe_text)
pin = st.one_of(st.none(), st.sampled_from(["1234", "0000", ""]), safe_text)
date = st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))

requests = st.one_of(
    st.builds(CheckoutRequest, patron_identifier=card, item_identifier=item, patron_password=pin,
              no_block=st.booleans(), nb_due_date=date, sc_renewal_policy=st.booleans()),
    st.builds(CheckinRequest, item_identifier=item, no_block=st.booleans(), return_date=date),
    st.builds(RenewRequest, patron_identifier=card, item_identifier=st.one_of(st.none(), item),
              patron_password=pin, no_block=st.booleans(), nb_due_date=date),
    st.builds(RenewAllRequest, patron_identifier=card, patron_password=pin),
    st.builds(PatronInformationRequest, patron_identifier=card, patron_password=pin,
              summary=st.frozensets(st.sampled_from(list(Summary)), max_size=3),
              start_item=st.one_of(st.none(), st.integers(0, 9999)), end_item=st.one_of(st.none(), st.integers(0, 9999))),
    st.builds(ItemInformationRequest, item_identifier=item),
    st.builds(FeePaidRequest, patron_identifier=card, fee_amount=st.one_of(safe_text, st.sampled_from(["1.00", "60.00", "-5", "1e9"])),
              fee_type=st.integers(0, 99)),
)  # fmt: skip

ANSWERS = {
    CheckoutRequest: CheckoutResponse,
    CheckinRequest: CheckinResponse,
    RenewRequest: RenewResponse,
    RenewAllRequest: RenewAllResponse,
    PatronInformationRequest: PatronInformationResponse,
    ItemInformationRequest: ItemInformationResponse,
    FeePaidRequest: FeePaidResponse,
}


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    store = Store.create(tmp_path_factory.mktemp("fuzz") / "s.sqlite", DEMO)
    handler = LibraryHandler(store, clock=lambda: NOW)
    # Throttling has its own tests (test_edge.py): no waiting on unknown cards here.
    handler.probe_throttle.base = 0.0
    yield handler
    store.close()


@settings(max_examples=600)
@given(batch=st.lists(requests, min_size=1, max_size=5))
def test_handler_answers_everything(handler, batch):
    session = Sip2Session(connection_id=1, logged_in=True)

    async def go():
        for msg in batch:
            answer = await handler.handle(msg, session)
            assert isinstance(answer, ANSWERS[type(msg)])

    asyncio.run(go())
    assert handler.store.integrity_problems() == []
