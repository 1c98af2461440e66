"""The embedded library speaks Wise (docs/sip2-fields.md, kiosk/library/wise.py):
GL badge codes, the Wise status, AF notifications, 41/42 with YZ lines, CL
03/02, FV questions — in the extended dialect (the default: Wise's fields and
our own) and in pure Wise (``--dialect wise``: nothing but what Wise sends)."""

from __future__ import annotations

import asyncio
import re

import pytest

from kiosk.i18n import translate
from kiosk.library.datafile import load_data
from kiosk.library.server import LibraryServer
from kiosk.library.store import Store
from kiosk.sip2.client import Sip2Client
from kiosk.sip2.messages import MESSAGE_TYPES

from .conftest import NOW, settings_for
from .demo_cards import CHECKOUT, PIN

#: card -> the Wise status digit sent (pure Wise) in the subscription-status field.
WISE_STATUS = {
    "29999000000010": "5",
    "29999000000020": "5",
    "29999000000030": "2",  # invoiced
    "29999000000190": "3",  # reminder
    "29999000000060": "4",  # not paid
    "29999000000070": "9",  # deregistered
    "29999000000080": "9",  # invalid
    "29999000000090": "8",  # blacklist (banned)
    "29999000000100": "9",  # ended 2025-12-31
    "2X1986": "7",  # online registration, no card yet
}
#: Codes a pure-Wise answer may carry beyond the message's SIP2 2.00 fields.
WISE_CODES = {"GL", "XS", "FV", "YZ"}
BADGE_HOLDERS = {"29999000000010", "29999000000020", "29999000000170", "29999000000180"}


async def _serve(tmp_path, dialect: str | None) -> tuple[LibraryServer, Store]:
    store = Store.create(tmp_path / f"library-{dialect}.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW, dialect=dialect)
    await server.start("127.0.0.1", 0)
    return server, store


@pytest.fixture
async def wise_server(tmp_path):
    server, store = await _serve(tmp_path, "wise")
    yield server
    await server.close()
    store.close()


@pytest.fixture
async def wise_client(wise_server):
    async with Sip2Client(settings_for(wise_server.port)) as c:
        yield c


@pytest.fixture(params=["extended", "wise"])
async def any_client(request, tmp_path):
    server, store = await _serve(tmp_path, request.param)
    async with Sip2Client(settings_for(server.port)) as c:
        c.dialect = request.param
        yield c
    await server.close()
    store.close()


def _codes(answer) -> list[str]:
    return [code for code, _ in answer.extra_fields]


def _values(answer, code: str) -> list[str]:
    return [value for c, value in answer.extra_fields if c == code]


# --------------------------------------------------------------------------- patron fields


async def test_badge_codes_in_gl_in_both_dialects(any_client):
    for card in BADGE_HOLDERS:
        for answer in (await any_client.patron_information(card), await any_client.patron_status(card)):
            assert _values(answer, "GL") == ["OBOU"], card
    assert _values(await any_client.patron_information("29999000000150"), "GL") == []  # no badge
    switched_off = await any_client.patron_information("29999000000160")
    assert _values(switched_off, "GL") == []  # a switched-off badge type is not sent
    if any_client.dialect == "extended":
        assert _values(switched_off, "XB") == ["Onbemande openingsuren Zuid;off"]  # still shown, for the demo


@pytest.mark.parametrize("card, digit", sorted(WISE_STATUS.items()))
async def test_wise_status_digit_under_pure_wise(wise_client, card, digit):
    answer = await wise_client.patron_information(card)
    assert _values(answer, "XS") == [digit]


async def test_extended_dialect_sends_status_names_and_every_extension(client):
    any_client = client  # the demo server, in its default dialect
    r2 = await any_client.patron_information("29999000000030", "1234")  # PB only after the right PIN
    assert _values(r2, "XS") == ["invoiced"] and _values(r2, "XF") == ["60.00"]
    assert {"PB", "XS", "XF", "XR", "XC", "XT", "XB", "XH", "XD", "XE"} <= set(_codes(r2))
    r1 = await any_client.patron_information("29999000000020")
    assert _values(r1, "XG") == ["20261101 8.00", "20261102 4.50"]
    r4 = await any_client.patron_information("29999000000050")
    assert _values(r4, "XR") == ["Y"]
    temporary = await any_client.patron_information("2X1986")
    assert _values(temporary, "XS") == ["7"] and _values(temporary, "XT") == ["Y"]  # status 7 has no name


@pytest.mark.parametrize("card", sorted(set(CHECKOUT) | set(WISE_STATUS)))
async def test_pure_wise_sends_nothing_but_wise(wise_client, card):
    """Every field of every answer is a SIP2 2.00 field of that message or
    one Wise documents (GL, FV, YZ) or the status field."""
    answers = [
        await wise_client.patron_information(card, PIN, summary="charged"),
        await wise_client.patron_status(card, PIN),
        await wise_client.checkout(card, "30000000000050", PIN),  # a 3-part set: no XN under pure Wise
        await wise_client.checkout(card, "30000000000074", PIN),  # FV question
        await wise_client.renew(card, "30000000000012", PIN),
        await wise_client.registrations(card, PIN),
        await wise_client.checkin("30000000000050"),
        await wise_client.item_information("30000000000050"),
    ]
    for answer in answers:
        assert set(_codes(answer)) <= WISE_CODES, (type(answer).__name__, answer.extra_fields)


async def test_pure_wise_refusal_names_no_rule(wise_client):
    """Wise has no field for the rule: the refusal text is general (the kiosk
    names the rule the evidence shows); an unusable card still says so."""
    general = translate("library", "library.wise_refused", "nl")
    for card in ("29999000000020", "29999000000030", "29999000000050", "29999000000070"):
        info = await wise_client.patron_information(card, PIN)
        assert info.screen_message == (general,)
        checkout = await wise_client.checkout(card, "30000000000043", PIN)
        assert not checkout.ok and checkout.screen_message == (general,)
    replaced = await wise_client.patron_information("29999000000110", PIN)
    assert replaced.screen_message == (translate("library", "library.card_invalid", "nl"),)
    wrong_pin = await wise_client.checkout("29999000000010", "30000000000043", "0000")
    assert wrong_pin.screen_message == (translate("policy", "policy.P1", "nl"),)


async def test_notifications_in_af(any_client):
    ok = await any_client.patron_information("29999000000010", PIN)
    assert ok.screen_message == ("Vanaf 1 december zijn we op maandag gesloten.",)
    hold = await any_client.patron_information("29999000000180", PIN)
    assert hold.screen_message == ("Your hold is ready at Demo Centrum.", "Remember to renew your subscription.")
    assert all(len(text) <= 60 for text in hold.screen_message)
    status = await any_client.patron_status("29999000000180", PIN)
    assert status.screen_message == hold.screen_message


async def test_refusal_comes_before_notifications(tmp_path):
    data = load_data("demo")
    r2 = next(p for p in data.patrons if p.patron_id == "900003")
    r2.notifications = ["Je lidkaart is klaar.", "Tot ziens!"]
    store = Store.create(tmp_path / "s.sqlite", data)
    server = LibraryServer(store, clock=lambda: NOW)
    await server.start("127.0.0.1", 0)
    try:
        async with Sip2Client(settings_for(server.port)) as c:
            info = await c.patron_information("29999000000030", PIN)
            assert info.screen_message == (translate("policy", "policy.R2", "nl"), "Je lidkaart is klaar.", "Tot ziens!")
    finally:
        await server.close()
        store.close()


# --------------------------------------------------------------------------- items


async def test_fv_questions_on_checkout(any_client):
    game = await any_client.checkout("29999000000010", "30000000000074", PIN)
    assert game.ok and _values(game, "FV") == [translate("library", "library.question_attachments", "nl")]
    dvd = await any_client.checkout("29999000000180", "30000000000067", PIN)  # English patron
    assert dvd.ok and _values(dvd, "FV") == [translate("library", "library.question_damaged", "en")]
    plain = await any_client.checkout("29999000000010", "30000000000043", PIN)
    assert plain.ok and _values(plain, "FV") == []
    parts = await any_client.checkout("29999000000010", "30000000000050", PIN)
    assert _values(parts, "XN") == (["3"] if any_client.dialect == "extended" else [])


async def test_hold_bins_on_checkin(any_client):
    """Tirza (held by Demo Klant Hold, pickup at its branch 9901) returned at
    9901 goes to the hold shelf (03); an item whose hold is picked up at
    another branch goes in transport (02)."""
    back = await any_client.checkin("30000000000104", location="9901")
    assert back.ok and back.alert and back.sort_bin == "03"
    assert back.screen_message == (translate("library", "library.checkin_hold", "nl"),)  # the language of who returns it
    placed = await any_client.hold("29999000000150", "30000000000043", PIN, pickup_location="9902")
    assert placed.ok
    away = await any_client.checkin("30000000000043", location="9901")
    assert away.alert and away.sort_bin == "02"
    assert away.screen_message == (translate("library", "library.checkin_hold_transport", "nl"),)
    plain = await any_client.checkin("30000000000012")
    assert plain.sort_bin is None and not plain.alert


# --------------------------------------------------------------------------- 41/42


async def test_registrations_of_each_rule(any_client):
    r1 = await any_client.registrations("29999000000020", PIN)
    assert r1.registration_lines == (
        "01-11-2026~Boete~De Tweeling~31-10-2026~8.00~I~~5000201~2~",
        "02-11-2026~Boete~Pluk van de Petteflet~01-11-2026~4.50~I~~5000202~2~",
    )
    r2 = (await any_client.registrations("29999000000030", PIN)).registrations
    assert [(r.adm_id, r.kind_number, r.amount_value, r.created_date.isoformat()) for r in r2] == [
        ("5000301", 1, 60, "2026-11-01")
    ]
    assert r2[0].is_contribution and r2[0].description == "Contributie" and r2[0].title == "Compleet"
    r3 = (await any_client.registrations("29999000000040", PIN)).registrations
    assert [(r.adm_id, r.created_date.isoformat()) for r in r3] == [("5000401", "2025-01-15")]
    r4 = (await any_client.registrations("29999000000050", PIN)).registrations
    assert [(r.adm_id, r.description) for r in r4] == [("5000501", "Materiaalvergoedingsnota")]
    r5 = (await any_client.registrations("29999000000060", PIN)).registrations
    assert [(r.adm_id, r.kind_number) for r in r5] == [("5000601", 1)]
    for card in ("29999000000010", "29999000000070"):  # nothing open; the R6 fee was written off
        assert (await any_client.registrations(card, PIN)).registration_lines == ()


async def test_registrations_refused_for_unknown_card_and_wrong_pin(any_client):
    unknown = await any_client.registrations("00000000000000", PIN)
    assert unknown.registration_lines == () and unknown.screen_message == (translate("policy", "policy.U1", None),)
    wrong = await any_client.registrations("29999000000020", "0000")
    assert wrong.registration_lines == () and wrong.screen_message == (translate("policy", "policy.P1", "nl"),)
    no_pin = await any_client.registrations("29999000000020")
    assert len(no_pin.registration_lines) == 2


async def test_paid_registrations_variant(any_client):
    before = (await any_client.registrations("29999000000020", PIN, flag="FC")).registrations
    assert [(r.kind_number, r.amount) for r in before] == [(1, "60.00")]  # the paid membership fee
    paid = await any_client.pay_registration("29999000000020", "5000201", "8.00", transaction_id="T-paid-1")
    assert paid.payment_accepted
    open_now = await any_client.registrations("29999000000020", PIN, flag="FB")
    assert [r.adm_id for r in open_now.registrations] == ["5000202"]
    for flag in ("FA", "FC"):
        listed = await any_client.registrations("29999000000020", PIN, flag=flag)
        assert [(r.adm_id, r.amount) for r in listed.registrations][1:] == [("5000201", "8.00")]


def _frame(body: str) -> bytes:
    """A SIP2 frame with sequence number and checksum, computed here (not by
    our codec): two's complement of the 16-bit byte sum through AZ."""
    text = body + "AY1AZ"
    checksum = (-sum(text.encode("ascii"))) & 0xFFFF
    return f"{text}{checksum:04X}\r".encode("ascii")


async def test_41_42_with_real_frames(wise_server):
    """A 41 written out by hand, byte for byte, and the 42 read back with a
    regular expression: the wire form of wise-sip2.md."""
    reader, writer = await asyncio.open_connection("127.0.0.1", wise_server.port)
    try:

        async def ask(body: str) -> str:
            writer.write(_frame(body))
            await writer.drain()
            return (await asyncio.wait_for(reader.readuntil(b"\r"), 5)).decode("cp850")

        assert (await ask("9300CNkiosk1|COkiosk1|CP9901|")).startswith("941")
        answer = await ask("4120261123    120000AO9999|AA29999000000020|AC|AD1234|FBY|")
        match = re.fullmatch(
            r"42(\d{8}.{4}\d{6})AO9999\|AA29999000000020\|"
            r"YZ01-11-2026~Boete~De Tweeling~31-10-2026~8\.00~I~~5000201~2~\|"
            r"YZ02-11-2026~Boete~Pluk van de Petteflet~01-11-2026~4\.50~I~~5000202~2~\|"
            r"AY1AZ[0-9A-F]{4}\r",
            answer,
        )
        assert match, answer
        fee = await ask("4120261123    120000AO9999|AA29999000000030|AC|AD1234|FBY|")
        assert "|YZ01-11-2026~Contributie~Compleet~01-11-2026~60.00~I~~5000301~1~|" in fee
        paid = await ask("3720261123    1200000100EURBV8.00|AO9999|AA29999000000020|AC|CG5000201|BKraw-1|")
        assert re.match(r"38Y\d{8}.{4}\d{6}AO9999\|AA29999000000020\|BKraw-1\|AF", paid), paid
        again = await ask("4120261123    120000AO9999|AA29999000000020|AC|AD1234|FBY|")
        assert "5000201" not in again and "|YZ02-11-2026~Boete~Pluk van de Petteflet~01-11-2026~4.50~I~~5000202~2~|" in again
    finally:
        writer.close()


async def test_data_file_dialect_and_cli_dialect(tmp_path):
    data = load_data("demo")
    data.server.dialect = "wise"
    store = Store.create(tmp_path / "s.sqlite", data)
    try:
        assert LibraryServer(store).handler.dialect == "wise"
        assert LibraryServer(store, dialect="extended").handler.dialect == "extended"
        assert store.to_data().server.dialect == "wise"
    finally:
        store.close()


def test_message_types_know_41_and_42():
    assert {"41", "42"} <= set(MESSAGE_TYPES)
