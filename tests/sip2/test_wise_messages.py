"""Wise's SIP2+ registrations (41/42) and the 37 that pays one by adm_id:
golden frames, lenient YZ parsing, round trips, fuzz, the client methods and
the server core's dispatch (refusal by default).  Wire forms from
/work/shared/wise-sip2.md (kiosk.sip2.dialects.WISE_ASSUMED)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysip2.codec import verify_checksum

from kiosk.sip2 import (
    ClientSettings,
    FeePaidRequest,
    FeePaidResponse,
    LocalSip2Error,
    LoginResponse,
    Registration,
    RegistrationsRequest,
    RegistrationsResponse,
    Sip2Client,
    Sip2Codec,
    Sip2Handler,
    Sip2Server,
    redact_frame,
)
from kiosk.sip2.messages import register_sensitive_codes

UTC = timezone.utc
T = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
CARD = "22000000000019"


def test_41_golden_frame():
    msg = RegistrationsRequest.for_flag(
        "FB", transaction_date=T, institution_id="BIB", patron_identifier=CARD, terminal_password="", patron_password="1234"
    )
    frame = Sip2Codec(tz=UTC).encode(msg, 0)
    assert frame == b"4120260302    093000AOBIB|AA22000000000019|AC|AD1234|FBY|AY0AZF14E\r"
    assert verify_checksum(frame.rstrip(b"\r"))
    assert msg.flags == ("FB",)
    assert Sip2Codec(tz=UTC).decode(frame) == msg
    with pytest.raises(LocalSip2Error) as info:
        RegistrationsRequest.for_flag("FD", patron_identifier=CARD)
    assert info.value.field == "flag"


# A 42 as wise-sip2.md describes it: spaces around '~' may appear, values may be empty.
WISE_42 = (
    "4220260302    093001AOBIB|AA22000000000019|"
    "YZ01-02-2026 ~ Boete ~ De Avonden ~ 28-01-2026 ~ 1.50 ~ I ~  ~ 5001 ~ 2 ~ |"
    "YZ15-09-2025~Contributie~Lidgeld volwassene~~20.00~I~~5002~1~|"
    "YZ10-10-2025~Nota~Materiaalvergoeding~~35.00~D~01-12-2025~5003~2~|"
    "YZ03-01-2026~Boete~Kaas~~4.00~R~~5004~2~01-04-2026|"
    "AFU hebt 4 openstaande registraties|AY1AZ"
)


def _with_checksum(text: str) -> bytes:
    from kiosk.sip2 import checksum

    data = text.encode("cp850")
    return data + checksum(data).encode() + b"\r"


def test_42_golden_frame_read_leniently():
    codec = Sip2Codec(tz=UTC)
    answer = codec.decode(_with_checksum(WISE_42))
    assert isinstance(answer, RegistrationsResponse)
    assert answer.patron_identifier == CARD and answer.screen_message == ("U hebt 4 openstaande registraties",)
    fine, fee, nota, arranged = answer.registrations
    assert (fine.created_date, fine.description, fine.title, fine.based_on_date) == (
        date(2026, 2, 1), "Boete", "De Avonden", date(2026, 1, 28))
    assert (fine.amount_value, fine.status, fine.adm_id, fine.kind_number, fine.kind_name) == (
        Decimal("1.50"), "I", "5001", 2, "fine")
    assert fine.collection is None and not fine.under_arrangement
    assert fee.is_contribution and fee.amount_value == Decimal("20.00") and fee.adm_id == "5002"
    assert nota.status == "D" and nota.collection == date(2025, 12, 1)
    assert arranged.under_arrangement and arranged.arrangement == date(2026, 4, 1)
    # re-encoded byte for byte (YZ lines are kept as sent)
    assert codec.encode(answer, 1) == _with_checksum(WISE_42)


def test_registration_parsing_is_lenient():
    short = Registration.from_wire("01-02-2026~Boete")
    assert short.description == "Boete" and short.adm_id == "" and short.amount_value is None and short.kind_number is None
    long = Registration.from_wire("01-02-2026~Boete~t~~1.00~I~~9~2~~x~y")
    assert long.adm_id == "9" and long.extra == ("x", "y")
    assert Registration.from_wire(long.to_wire()) == long
    odd = Registration.from_wire("2026-02-01~~~~ 2,50 ~~~~ 01 ~")
    assert odd.created_date == date(2026, 2, 1) and odd.amount_value == Decimal("2.50") and odd.is_contribution
    assert Registration.from_wire("31-02-2026~~~~-1~~~~x~").created_date is None
    assert Registration.from_wire("~~~~-1~~~~x~").amount_value is None
    built = Registration.build(created=date(2026, 2, 1), description="Boete", amount=150, adm_id="7", kind=2)
    assert built.to_wire() == "01-02-2026~Boete~~~1.50~I~~7~2~"
    with pytest.raises(LocalSip2Error):
        Registration(description="a~b")


values = st.text(alphabet=st.characters(blacklist_characters="|\r\n\x00~", blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_characters="|\r\n\x00", blacklist_categories=("Cs",)), max_size=120))
def test_any_yz_value_parses_without_raising(text):
    reg = Registration.from_wire(text)
    for view in ("created_date", "based_on_date", "amount_value", "kind_number", "kind_name", "arrangement", "collection"):
        getattr(reg, view)
    assert Registration.from_wire(reg.to_wire()) == reg


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(values.map(str.strip), min_size=10, max_size=10), extra=st.lists(values.map(str.strip).filter(bool), max_size=2))
def test_registration_round_trip(fields, extra):
    reg = Registration(*fields, extra=tuple(extra))
    msg = RegistrationsResponse.of([reg, reg], institution_id="BIB", patron_identifier=CARD, transaction_date=T)
    codec = Sip2Codec("utf-8", tz=UTC)
    back = codec.decode(codec.encode(msg, 4))
    assert back == msg and back.registrations == (reg, reg)


def test_37_by_registration_golden_frame():
    msg = FeePaidRequest(
        transaction_date=T, fee_type=1, payment_type=2, currency_type="EUR", fee_amount="1.50", institution_id="BIB",
        patron_identifier=CARD, terminal_password="", patron_password="1234", fee_identifier="5001",
        transaction_id="bk-0001",
    )
    frame = Sip2Codec(tz=UTC).encode(msg, 2)
    assert frame.startswith(b"3720260302    0930000102EURBV1.50|AOBIB|AA22000000000019|AC|AD1234|CG5001|BKbk-0001|AY2AZ")
    assert verify_checksum(frame.rstrip(b"\r"))


def test_registrations_are_masked_in_logs_and_configured_codes_follow():
    frame = Sip2Codec(tz=UTC).encode(RegistrationsResponse.of(
        [Registration.from_wire("01-02-2026~Boete~De Avonden~~1.50~I~~5001~2~")], institution_id="BIB",
        patron_identifier=CARD, transaction_date=T,
    ), 0)
    text = redact_frame(frame)
    assert "Avonden" not in text and CARD not in text and "YZ<" in text
    # a site that moved the birth date to QB: masked once the code is registered
    from kiosk.sip2 import PatronInformationResponse

    info = PatronInformationResponse(patron_identifier=CARD, extra_fields=(("QB", "19800101"),))
    wire = Sip2Codec().encode(info, 0)
    assert "19800101" in redact_frame(wire) and "19800101" not in redact_frame(wire, sensitive={"QB"})
    register_sensitive_codes({"QB"})
    assert "19800101" not in redact_frame(wire) and "19800101" not in repr(info)


def test_the_codec_imports_without_asyncio_or_pydantic():
    code = (
        "import sys\n"
        "import kiosk.sip2, kiosk.sip2.codec, kiosk.sip2.messages, kiosk.sip2.redact, kiosk.sip2.errors\n"
        "from kiosk.sip2 import Sip2Codec, RegistrationsResponse, decode\n"
        "bad = [m for m in ('asyncio', 'pydantic') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "from kiosk.sip2 import Sip2Client  # the client still comes on first use\n"
        "assert 'asyncio' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


class WiseRegistrations(Sip2Handler):
    """A Wise-style handler: 41 lists registrations, 37 pays one by adm_id."""

    def __init__(self) -> None:
        super().__init__(institution_id="BIB")
        self.open = {"5001": Decimal("1.50"), "5002": Decimal("20.00")}
        self.seen_bk: dict[str, bool] = {}
        self.requests: list = []

    def on_login(self, msg, session):
        return LoginResponse(ok=True)

    def on_registrations(self, msg, session):
        self.requests.append(msg)
        regs = [Registration.build(created=date(2026, 2, 1), description="Boete", amount=amt, adm_id=adm, kind=2 if adm == "5001" else 1)
                for adm, amt in self.open.items()]
        return RegistrationsResponse.of(regs, institution_id="BIB", patron_identifier=msg.patron_identifier)

    def on_fee_paid(self, msg, session):
        duplicate = msg.transaction_id in self.seen_bk
        ok = duplicate or (msg.fee_identifier in self.open and Decimal(msg.fee_amount) == self.open[msg.fee_identifier])
        if ok and not duplicate:
            del self.open[msg.fee_identifier]
            self.seen_bk[msg.transaction_id] = True
        return FeePaidResponse(payment_accepted=ok, institution_id="BIB", patron_identifier=msg.patron_identifier,
                               transaction_id=msg.transaction_id)


async def test_client_lists_and_pays_registrations_against_the_server_core():
    handler = WiseRegistrations()
    server = Sip2Server(handler)
    port = await server.start("127.0.0.1", 0)
    try:
        async with Sip2Client(ClientSettings(port=port, user="sip", password="pw", institution="BIB")) as client:
            answer = await client.registrations(CARD, "1234", flag="FC")
            assert handler.requests[-1].flags == ("FC",) and handler.requests[-1].patron_password == "1234"
            assert [r.adm_id for r in answer.registrations] == ["5001", "5002"]
            paid = await client.pay_registration(CARD, "5001", "1.50", transaction_id="bk-1", pin="1234")
            assert paid.payment_accepted and paid.transaction_id == "bk-1"
            again = await client.pay_registration(CARD, "5001", "1.50", transaction_id="bk-1", pin="1234")
            assert again.payment_accepted  # the same BK: recognised as the same payment
            refused = await client.pay_registration(CARD, "5002", "1.00", transaction_id="bk-2")
            assert not refused.payment_accepted
            assert [r.adm_id for r in (await client.registrations(CARD)).registrations] == ["5002"]
            with pytest.raises(LocalSip2Error):
                await client.pay_registration(CARD, "", "1.00", transaction_id="bk-3")
    finally:
        await server.close()


async def test_server_core_refuses_41_by_default():
    server = Sip2Server(Sip2Handler(institution_id="BIB"))
    port = await server.start("127.0.0.1", 0)
    try:
        async with Sip2Client(ClientSettings(port=port, institution="BIB", status_on_connect=False)) as client:
            answer = await client.registrations(CARD)
            assert isinstance(answer, RegistrationsResponse)
            assert answer.registrations == () and answer.screen_message == ("Not supported",)
            assert answer.patron_identifier == CARD
    finally:
        await server.close()
