"""Holds (SIP2 15/16) against the embedded library system, over real SIP2:
placing, the queue position, cancelling, and every refusal (in the
patron's language), with the store as the witness."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.i18n import translate
from kiosk.library.datafile import HoldStatus, load_data
from kiosk.library.server import LibraryHandler
from kiosk.library.store import Store
from kiosk.sip2.messages import HoldRequest, HoldResponse
from kiosk.sip2.server import Sip2Session

from .conftest import NOW
from .demo_cards import PIN

OK_CARD = "29999000000010"  # 900001, holds 30000000000104 (Tirza) on loan
NO_BADGE = "29999000000150"  # 900015
YOUNG = "29999000000170"  # 900017
HOLDER = "29999000000180"  # 900018 (English): waits for Tirza, has 30000000000128 on the hold shelf
R3_CARD = "29999000000040"  # English; an old charge: no holds (R3)
TIRZA = "30000000000104"
AANSLAG = "30000000000043"  # on the shelf, nobody holds it
GAME = "30000000000074"


def _holds(server, item_id: str) -> list[tuple[str, HoldStatus]]:
    """(patron id, status) of the item's holds in the store, oldest first."""
    return [(patron, status) for _, patron, status in server.store.item(item_id).holds]


def _t(key: str, lang: str = "nl", **params) -> tuple[str]:
    return (translate("library", key, lang, **params),)


async def test_the_server_says_it_supports_holds(client):
    assert client.acs_status.supports("15")


async def test_place_queue_and_cancel(demo_server, client):
    assert _holds(demo_server, TIRZA) == [("900018", HoldStatus.WAITING)]

    first = await client.hold(NO_BADGE, TIRZA, PIN)
    assert isinstance(first, HoldResponse)
    assert first.ok and not first.available and first.queue_position == 2
    assert first.item_identifier == TIRZA and first.title_identifier == "Tirza" and first.institution_id == "9999"
    assert first.pickup_location == "9901"  # no BS: the item's branch
    assert first.screen_message == _t("library.hold_ok", position=2)
    second = await client.hold(YOUNG, TIRZA, PIN)
    assert second.ok and second.queue_position == 3
    assert _holds(demo_server, TIRZA) == [
        ("900018", HoldStatus.WAITING), ("900015", HoldStatus.WAITING), ("900017", HoldStatus.WAITING)
    ]  # fmt: skip
    assert (await client.item_information(TIRZA)).hold_queue_length == 3
    mine = await client.patron_information(NO_BADGE, PIN, summary="unavailable")  # lists only after the right PIN
    assert mine.unavailable_hold_items == (TIRZA,) and mine.unavailable_holds_count == 1

    again = await client.hold(NO_BADGE, TIRZA, PIN)  # a second '+' changes nothing
    assert not again.ok and again.queue_position == 2 and again.screen_message == _t("library.hold_exists")

    cancelled = await client.hold(NO_BADGE, TIRZA, PIN, mode="-")
    assert cancelled.ok and cancelled.queue_position is None and cancelled.title_identifier == "Tirza"
    assert cancelled.screen_message == _t("library.hold_cancelled")
    assert _holds(demo_server, TIRZA) == [("900018", HoldStatus.WAITING), ("900017", HoldStatus.WAITING)]
    moved_up = await client.hold(YOUNG, TIRZA, PIN)
    assert not moved_up.ok and moved_up.queue_position == 2
    nothing_left = await client.hold(NO_BADGE, TIRZA, PIN, mode="-")
    assert not nothing_left.ok and nothing_left.screen_message == _t("library.hold_not_found")

    # placed again: at the back of the queue
    back = await client.hold(NO_BADGE, TIRZA, PIN)
    assert back.ok and back.queue_position == 3


async def test_pickup_location_and_the_hold_shelf(demo_server, client):
    unknown = await client.hold(NO_BADGE, AANSLAG, PIN, pickup_location="0000")
    assert not unknown.ok and unknown.screen_message == _t("library.hold_pickup_unknown")
    assert _holds(demo_server, AANSLAG) == []
    placed = await client.hold(NO_BADGE, AANSLAG, PIN, pickup_location="9903")
    assert placed.ok and placed.queue_position == 1 and placed.pickup_location == "9903"
    # returned: the hold becomes available at the chosen branch
    back = await client.checkin(AANSLAG)
    assert back.ok and back.sort_bin == "02" and back.permanent_location == "9903"  # picked up elsewhere: in transport
    assert _holds(demo_server, AANSLAG) == [("900015", HoldStatus.AVAILABLE)]
    ready = await client.hold(NO_BADGE, AANSLAG, PIN)
    assert not ready.ok and ready.available and ready.queue_position is None
    other = await client.hold(YOUNG, AANSLAG, PIN)
    assert other.ok and not other.available and other.queue_position == 1  # first of those still waiting


async def test_refusals(demo_server, client):
    unknown_item = await client.hold(NO_BADGE, "39999999999999", PIN)
    assert not unknown_item.ok and unknown_item.queue_position is None
    assert unknown_item.item_identifier == "39999999999999" and unknown_item.title_identifier is None
    assert unknown_item.screen_message == _t("library.hold_item_unknown")
    no_item = await client.hold(NO_BADGE, None, PIN, title_id="Tirza")  # title-level holds: not here
    assert not no_item.ok and no_item.screen_message == _t("library.hold_item_unknown")

    wrong_pin = await client.hold(NO_BADGE, TIRZA, "0000")
    assert not wrong_pin.ok and wrong_pin.screen_message == (translate("policy", "policy.P1", "nl"),)

    unknown_patron = await client.hold("00000000000000", TIRZA, PIN)
    assert not unknown_patron.ok and unknown_patron.screen_message == (translate("policy", "policy.U1", None),)

    rule = await client.hold(R3_CARD, TIRZA, PIN)
    assert not rule.ok and rule.screen_message == (translate("policy", "policy.R3", "en"),)

    own = await client.hold(OK_CARD, TIRZA, PIN)
    assert not own.ok and own.screen_message == _t("library.hold_own_loan")

    change = await client.hold(HOLDER, TIRZA, PIN, mode="*")
    assert not change.ok and change.title_identifier == "Tirza"
    assert change.screen_message == _t("library.hold_change", "en")

    with demo_server.store.transaction() as conn:
        conn.execute("UPDATE item_types SET holdable = 0 WHERE code = 'game'")
    not_holdable = await client.hold(NO_BADGE, GAME, PIN)
    assert not not_holdable.ok and not_holdable.screen_message == _t("library.hold_not_holdable")

    assert _holds(demo_server, TIRZA) == [("900018", HoldStatus.WAITING)]
    assert _holds(demo_server, GAME) == []


async def test_cancelling_checks_the_pin_but_no_rules(demo_server, client):
    placed = await client.hold(NO_BADGE, TIRZA, PIN)
    assert placed.ok
    wrong_pin = await client.hold(NO_BADGE, TIRZA, "0000", mode="-")
    assert not wrong_pin.ok and wrong_pin.screen_message == (translate("policy", "policy.P1", "nl"),)
    assert ("900015", HoldStatus.WAITING) in _holds(demo_server, TIRZA)
    # the hold shelf patron (English) may cancel, without a PIN too
    cancelled = await client.hold(HOLDER, "30000000000128", mode="-")
    assert cancelled.ok and cancelled.screen_message == _t("library.hold_cancelled", "en")
    assert _holds(demo_server, "30000000000128") == []
    unknown_item = await client.hold(HOLDER, "39999999999999", PIN, mode="-")
    assert not unknown_item.ok and unknown_item.screen_message == _t("library.hold_item_unknown", "en")


async def test_no_card_pin_or_name_in_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG, logger="kiosk")
    await client.hold(NO_BADGE, TIRZA, PIN)
    await client.hold(NO_BADGE, TIRZA, "9876")
    await client.hold(R3_CARD, TIRZA, PIN)
    await client.hold(NO_BADGE, TIRZA, PIN, mode="-")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "hold placed" in text and "hold refused" in text and "hold cancelled" in text
    for secret in (NO_BADGE, R3_CARD, PIN, "9876", "Demo Klant"):
        assert secret not in text


# -- whatever arrives, the handler answers a 16 and the store stays sound --------

DEMO = load_data("demo")
CARDS = [c.number for p in DEMO.patrons for c in p.cards] + ["2X1986"]
ITEMS = [i.item_id for i in DEMO.items] + [i.rfid for i in DEMO.items if i.rfid]
safe_text = st.text(st.characters(blacklist_characters="|\r\n\x00", blacklist_categories=("Cs",)), max_size=30)

holds = st.builds(
    HoldRequest,
    hold_mode=st.sampled_from(["+", "+", "-", "*"]),
    patron_identifier=st.one_of(st.sampled_from(CARDS), safe_text),
    item_identifier=st.one_of(st.none(), st.sampled_from(ITEMS), safe_text),
    patron_password=st.one_of(st.none(), st.sampled_from([PIN, "0000", ""]), safe_text),
    pickup_location=st.one_of(st.none(), st.sampled_from(["9901", "9902", "9903", ""]), safe_text),
    hold_type=st.one_of(st.none(), st.integers(0, 9)),
)


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    store = Store.create(tmp_path_factory.mktemp("holds") / "s.sqlite", DEMO)
    handler = LibraryHandler(store, clock=lambda: NOW)
    handler.probe_throttle.base = 0.0  # throttling has its own tests (test_edge.py)
    yield handler
    store.close()


@settings(max_examples=300)
@given(batch=st.lists(holds, min_size=1, max_size=6))
def test_handler_answers_every_hold(handler, batch):
    session = Sip2Session(connection_id=1, logged_in=True)

    async def go():
        for msg in batch:
            answer = await handler.handle(msg, session)
            assert isinstance(answer, HoldResponse)
            assert len(answer.screen_message) == 1
            if msg.patron_identifier.isascii():  # else replaced by what cp850 can carry
                assert answer.patron_identifier == msg.patron_identifier
            if answer.ok and msg.hold_mode == "+":
                assert answer.queue_position is not None and answer.queue_position >= 1
            if msg.hold_mode == "*":
                assert not answer.ok

    asyncio.run(go())
    assert handler.store.integrity_problems() == []
    for item in DEMO.items:
        holders = [patron for _, patron, _ in handler.store.item(item.item_id).holds]
        assert len(holders) == len(set(holders))  # never two live holds of one patron on one item
