"""End to end through SIP2: the embedded library system's answers and the
adapter's snapshots lead to the same decisions as the policy on the data."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from kiosk.adapter import ItemStatus
from kiosk.i18n import translate
from kiosk.library.server import site_rules
from kiosk.sip2.client import Sip2Client
from kiosk.sip2.messages import CheckoutRequest
from policy import DEFAULT_PIN_REQUIRED, Action, CardState, IdentifiedBy, PeriodKind, PinCheck, decide

from .conftest import NOW, settings_for
from .demo_cards import CHECKOUT, ENTRY, LANGUAGE, PIN


def _rules(server, branch=None):
    return site_rules(server.store, branch_id=branch).model_copy(update={"pin_required": DEFAULT_PIN_REQUIRED})


@pytest.mark.parametrize("card, expected", sorted(CHECKOUT.items()))
async def test_checkout_decision_via_adapter(demo_server, library, card, expected):
    patron = await library.identify(card, PIN)
    decision = decide(Action.CHECKOUT, patron, _rules(demo_server, patron.branch), NOW)
    assert decision.rule_ids() == expected
    if card != "00000000000000":
        assert patron.pin is PinCheck.RIGHT
        assert patron.language == LANGUAGE.get(card, "nl")


@pytest.mark.parametrize("card, expected", sorted(CHECKOUT.items()))
async def test_checkout_through_sip2_matches_policy(demo_server, client, card, expected):
    """The library system itself refuses a checkout for the same rule, and
    says why in the patron's language (AF)."""
    answer = await client.checkout(card, "30000000000043", PIN)
    assert answer.ok is (expected == [])
    lang = LANGUAGE.get(card, "nl")
    if expected:
        key = f"policy.{expected[0]}"
        assert answer.screen_message == (translate("policy", key, lang),)
        assert answer.desensitize is False
    else:
        assert answer.screen_message == (translate("library", "library.checkout_ok", lang, due="14-12-2026" if lang != "en" else "2026-12-14"),)
        assert answer.due_date.startswith("20261214")


@pytest.mark.parametrize("card, expected", sorted(ENTRY.items()))
async def test_unmanned_entry(demo_server, library, card, expected):
    patron = await library.identify(card, PIN)
    decision = decide(Action.ENTRY, patron, _rules(demo_server, patron.branch), NOW, period=PeriodKind.UNMANNED)
    assert decision.rule_ids() == expected


async def test_badge_states_reach_the_snapshot(library):
    holder = await library.identify("29999000000010")
    assert [(b.name, b.active) for b in holder.badges] == [("Onbemande openingsuren", True)]
    missing = await library.identify("29999000000150")
    assert missing.badges == ()
    off = await library.identify("29999000000160")
    assert [(b.name, b.active) for b in off.badges] == [("Onbemande openingsuren Zuid", False)]
    assert off.branch == "9903"


@pytest.mark.parametrize(
    "card, state",
    [("29999000000010", CardState.ACTIVE), ("29999000000110", CardState.REPLACED),
     ("29999000000120", CardState.BLOCKED), ("29999000000130", CardState.LOST)],
)
async def test_card_states(library, card, state):
    patron = await library.identify(card)
    assert patron.card_state is state and patron.identified_by is IdentifiedBy.CARD


async def test_temporary_number_and_unknown_card(library):
    temp = await library.identify("2X1986")
    assert temp.identified_by is IdentifiedBy.TEMPORARY_NUMBER and temp.card_state is None
    unknown = await library.identify("00000000000000", "1234")
    assert not unknown.known and unknown.pin is PinCheck.UNKNOWN


async def test_pin_right_wrong_unknown(library):
    assert (await library.identify("29999000000010", "1234")).pin is PinCheck.RIGHT
    assert (await library.identify("29999000000010", "9999")).pin is PinCheck.WRONG
    assert (await library.identify("29999000000010")).pin is PinCheck.UNKNOWN


async def test_wrong_pin_refuses_checkout(client):
    answer = await client.checkout("29999000000010", "30000000000043", "0000")
    assert not answer.ok
    assert answer.screen_message == (translate("policy", "policy.P1", "nl"),)


async def test_snapshot_details(library):
    r1 = await library.identify("29999000000020")
    assert [str(c.amount) for c in r1.charges] == ["8.00", "4.50"]
    assert r1.charges[0].created == date(2026, 11, 1)
    assert r1.subscription.type_code == "53" and r1.branch == "9902"
    r2 = await library.identify("29999000000030")
    assert r2.subscription.status.value == "invoiced" and not r2.subscription.fee_paid
    r4 = await library.identify("29999000000050")
    assert r4.replacement_invoice
    young = await library.identify("29999000000170", "1234")  # the birth date only after the right PIN
    assert young.birth_date == date(2014, 5, 1)
    assert r1.flags is not None and not r1.flags_only
    assert not r1.flags.charge_privileges_denied  # details decide; no duplicate "LS"


async def test_fourteen_flags_and_standard_fields(client):
    r2 = await client.patron_information("29999000000030")
    assert r2.patron_status.charge_privileges_denied and r2.patron_status.renewal_privileges_denied
    assert not r2.patron_status.hold_privileges_denied  # R2 allows holds
    assert r2.patron_status.excessive_outstanding_fees
    assert r2.valid_patron is True and r2.valid_patron_password is None
    assert r2.fee_amount == "60.00" and r2.currency_type == "EUR" and r2.fee_limit == "10.00"
    assert r2.language == 5
    r1 = await client.patron_information("29999000000020")
    assert r1.patron_status.excessive_outstanding_fines and r1.fee_amount == "12.50"
    r4 = await client.patron_information("29999000000050")
    assert r4.patron_status.too_many_items_billed
    lost = await client.patron_information("29999000000130")
    assert lost.patron_status.card_reported_lost
    unknown = await client.patron_information("nope")
    assert unknown.valid_patron is False and unknown.patron_status.charge_privileges_denied
    status = await client.patron_status("29999000000030", "1234")
    assert status.valid_patron and status.valid_patron_password and status.patron_status.charge_privileges_denied


async def test_item_lists(client):
    charged = await client.patron_information("29999000000010", "1234", summary="charged")
    assert charged.charged_items == ("30000000000012", "30000000000104", "30000000000135")
    assert charged.charged_items_count == 3 and charged.unavailable_holds_count == 1
    waiting = await client.patron_information("29999000000010", "1234", summary="unavailable")
    assert waiting.unavailable_hold_items == ("30000000000142",)
    ready = await client.patron_information("29999999999999"[:0] + "29999000000180", "1234", summary="hold")
    assert ready.hold_items == ("30000000000128",)
    overdue = await client.patron_information("29999000000050", "1234", summary="overdue")
    assert overdue.overdue_items == ("30000000000081",) and overdue.overdue_items_count == 1
    fines = await client.patron_information("29999000000020", "1234", summary="fine")
    assert fines.fine_items == ("20261101 8.00 Boete", "20261102 4.50 Boete")
    window = await client.patron_information("29999000000010", "1234", summary="charged", start_item=2, end_item=2)
    assert window.charged_items == ("30000000000104",)


async def test_account_screen(library):
    account = await library.account("29999000000010", PIN)
    assert account.name == "Demo Klant OK"
    assert [(loan.item_id, loan.title, loan.due) for loan in account.loans] == [
        ("30000000000012", "De Avonden", date(2026, 12, 1)),
        ("30000000000104", "Tirza", date(2026, 12, 5)),
        ("30000000000135", "Oorlog en Terpentijn", date(2026, 12, 10)),
    ]
    assert [(h.item_id, h.ready) for h in account.holds] == [("30000000000142", False)]
    holder = await library.account("29999000000180", PIN)
    assert [(h.item_id, h.title, h.ready) for h in holder.holds] == [
        ("30000000000128", "Het verdriet van Belgie", True),
        ("30000000000104", "Tirza", False),
    ]
    unknown = await library.account("nope")
    assert not unknown.patron.known and unknown.loans == ()


async def test_rfid_and_barcode_ids_and_sets(library):
    result = await library.checkout("29999000000150", "E004015000000050", pin=PIN)
    assert result.ok and result.parts == 3 and result.desensitize and result.media_type == "004"
    assert result.due == date(2026, 12, 14)  # audio: 21 days
    info = await library.item_information("30000000000050")
    assert info.status is ItemStatus.ON_LOAN and info.due == date(2026, 12, 14) and info.parts == 3
    dvd = await library.checkout("29999000000150", "E004015000000067", pin=PIN)
    assert dvd.ok and dvd.due == date(2026, 11, 30)  # dvd: 7 days
    back = await library.checkin("E004015000000050")
    assert back.ok and back.resensitize and not back.hold_shelf and back.parts == 3
    assert (await library.item_information("E004015000000050")).status is ItemStatus.AVAILABLE
    unknown = await library.item_information("nope")
    assert unknown.status is ItemStatus.UNKNOWN


async def test_hold_by_another_patron_blocks_renewal_and_checkout(library):
    renew = await library.renew("29999000000010", "30000000000104", pin=PIN)
    assert not renew.ok and renew.screen_message == translate("library", "library.renew_hold", "nl")
    # The item on the hold shelf for 900018 cannot be borrowed by someone else.
    other = await library.checkout("29999000000010", "30000000000128", pin=PIN)
    assert not other.ok and other.screen_message == translate("library", "library.item_on_hold", "nl")
    mine = await library.checkout("29999000000180", "30000000000128", pin=PIN)
    assert mine.ok


async def test_checkin_tells_the_hold_shelf(library):
    result = await library.checkin("30000000000104")
    assert result.ok and result.hold_shelf and result.sort_bin == "03" and result.alert
    assert result.screen_message == translate("library", "library.checkin_hold", "nl")
    info = await library.item_information("30000000000104")
    assert info.status is ItemStatus.ON_HOLD_SHELF and info.hold_queue_length == 1
    again = await library.checkin("30000000000104")  # still belongs on the hold shelf
    assert again.ok and again.hold_shelf
    on_shelf = await library.checkin("30000000000043")
    assert on_shelf.ok and not on_shelf.hold_shelf
    assert on_shelf.screen_message == translate("library", "library.checkin_not_on_loan", "nl")


async def test_renewal_limits_per_item_type(library):
    ok = await library.renew("29999000000010", "30000000000012", pin=PIN)
    assert ok.ok and ok.due == date(2026, 12, 22)
    maxed = await library.renew("29999000000010", "30000000000135", pin=PIN)
    assert not maxed.ok and maxed.screen_message == translate("library", "library.renewal_limit", "nl")
    game = await library.checkout("29999000000150", "30000000000074", pin=PIN)
    assert game.ok
    no_renewals = await library.renew("29999000000150", "30000000000074", pin=PIN)
    assert not no_renewals.ok  # games: 0 renewals
    everything = await library.renew_all("29999000000010", pin=PIN)
    assert everything.ok and everything.renewed == ("30000000000012",)
    assert set(everything.unrenewed) == {"30000000000104", "30000000000135"}
    not_mine = await library.renew("29999000000150", "30000000000012", pin=PIN)
    assert not not_mine.ok


async def test_rule_refuses_renewal(library):
    r2 = await library.renew("29999000000030", "30000000000012", pin=PIN)
    assert not r2.ok and r2.screen_message == translate("policy", "policy.R2", "nl")
    r2_all = await library.renew_all("29999000000030", pin=PIN)
    assert not r2_all.ok


async def test_checkout_of_own_loan_is_a_renewal(client):
    answer = await client.checkout("29999000000010", "30000000000012", PIN, sc_renewal_policy=True)
    assert answer.ok and answer.renewal_ok
    foreign = await client.checkout("29999000000150", "30000000000012", PIN)
    assert not foreign.ok


async def test_no_block_checkout_is_accepted_whatever_the_rules(library, demo_server):
    result = await library.checkout("29999000000030", "30000000000043", no_block=True, due=date(2026, 12, 24))
    assert result.ok and result.due == date(2026, 12, 24)
    assert demo_server.store.item("30000000000043").loan.patron == "900003"
    back = await library.checkin("30000000000043", no_block=True, return_date=datetime(2026, 11, 20, 10, 0).astimezone())
    assert back.ok


async def test_loan_limit(demo_server, library):
    with demo_server.store.transaction() as conn:
        conn.execute("UPDATE subscription_types SET loan_limit = 3 WHERE code = '53'")
    result = await library.checkout("29999000000010", "30000000000043", pin=PIN)
    assert not result.ok and result.screen_message == translate("library", "library.loan_limit", "nl")


async def test_payments(library):
    paid = await library.pay("29999000000020", "10.00")
    assert paid.accepted
    patron = await library.identify("29999000000020", PIN)
    assert [str(c.amount) for c in patron.charges] == ["2.50"]
    fee = await library.pay("29999000000030", "60.00", membership_fee=True)
    assert fee.accepted
    patron = await library.identify("29999000000030", PIN)
    assert patron.subscription.status.value == "normal" and patron.subscription.fee_paid
    assert not (await library.pay("29999000000010", "1.00")).accepted  # nothing open


async def test_end_session(library):
    await library.end_session("29999000000010")


async def test_login_is_required_with_accounts(demo_server):
    from kiosk.adapter import LibrarySystemLoginRefused, Sip2LibrarySystem

    bad = Sip2LibrarySystem(settings_for(demo_server.port, password="wrong"))
    with pytest.raises(LibrarySystemLoginRefused):
        await bad.identify("29999000000010")
    await bad.close()
    from kiosk.sip2.client import ClientSettings, Sip2Client

    anonymous = Sip2Client(ClientSettings(port=demo_server.port, keepalive_seconds=None))
    async with anonymous:
        answer = await anonymous.patron_information("29999000000010")
        assert answer.valid_patron is False  # refused: not logged in


async def test_block_patron_blocks_the_card(demo_server, library):
    async with Sip2Client(settings_for(demo_server.port, user="staff1", password="staff1")) as staff:
        answer = await staff.block_patron("29999000000010", "card kept")  # 01 needs the staff role
    assert answer.valid_patron
    patron = await library.identify("29999000000010")
    assert patron.card_state is CardState.BLOCKED


async def test_garbage_frames_do_not_hurt(demo_server, client):
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", demo_server.port)
    writer.write(b"\x00\xff garbage |||\r11NN" + b"x" * 100 + b"\r")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(100), 5)
    assert data.startswith(b"96")
    writer.close()
    assert (await client.patron_information("29999000000010")).valid_patron


async def test_checkout_message_names_rule_in_french(client):
    req = CheckoutRequest(institution_id="9999", patron_identifier="29999000000060", item_identifier="30000000000043")
    answer = await client.request(req)
    assert answer.screen_message == (translate("policy", "policy.R5", "fr"),)


async def test_extension_codes_are_settings_on_both_sides(tmp_path):
    import json

    from kiosk.adapter import FieldCodes, Sip2LibrarySystem
    from kiosk.library.datafile import load_data, parse_data
    from kiosk.library.server import LibraryServer
    from kiosk.library.store import Store

    raw = json.loads(load_data("demo").model_dump_json(by_alias=True))
    raw["server"]["fields"] = {"badges": "ZB", "subscription_status": "ZS", "charges": "ZG"}
    store = Store.create(tmp_path / "s.sqlite", parse_data(json.dumps(raw)))
    async with LibraryServer(store, clock=lambda: NOW) as server:
        port = await server.start()
        codes = FieldCodes(badges="ZB", subscription_status="ZS", charges="ZG")
        async with Sip2LibrarySystem(settings_for(port), fields=codes) as system:
            patron = await system.identify("29999000000020", PIN)
            assert [b.name for b in patron.badges] == ["Onbemande openingsuren"]
            assert len(patron.charges) == 2 and not patron.flags_only
            answer = await system.client.patron_information("29999000000020")
            assert answer.extra("ZB") == "Onbemande openingsuren" and answer.extra("XB") is None
        # An adapter with the default codes sees none of the moved fields.
        async with Sip2LibrarySystem(settings_for(port)) as other:
            patron = await other.identify("29999000000020", PIN)
            assert patron.badges == ()
    store.close()


async def test_text_the_charset_cannot_carry_still_goes_out(tmp_path):
    """cp850 has no '€': a title with one must not turn a made loan into an error."""
    import json

    from kiosk.library.datafile import load_data, parse_data
    from kiosk.library.server import LibraryServer
    from kiosk.library.store import Store
    from kiosk.sip2.client import Sip2Client

    raw = json.loads(load_data("demo").model_dump_json(by_alias=True))
    raw["items"][3]["title"] = "Sparen in € — een gids…"
    store = Store.create(tmp_path / "s.sqlite", parse_data(json.dumps(raw)))
    async with LibraryServer(store, clock=lambda: NOW) as server:
        port = await server.start()
        async with Sip2Client(settings_for(port)) as client:
            answer = await client.checkout("29999000000150", "30000000000043", PIN)
            assert answer.ok and answer.title_identifier == "Sparen in EUR - een gids..."
            assert answer.print_line == ("Sparen in EUR - een gids... - 14-12-2026",)
    store.close()
