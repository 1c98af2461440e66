"""`bibkiosk library serve --demo --dialect wise` against an independent SIP2
client: PyPI `sip2` (import name `Sip2`).  It frames and checksums its own
requests — the 41 with its generic message builder, the 37 with its own
fee-paid request (CG, BK) — and parses our answers with its own parser."""

from __future__ import annotations

import logging

import pytest

try:
    from Sip2.sip2 import Sip2
except ImportError as exc:  # pragma: no cover - a broken environment must fail, not skip
    raise RuntimeError("PyPI package 'sip2' (import name Sip2) is required: pip install sip2") from exc

R1 = "29999000000020"


@pytest.fixture
def wise_peer(serve_process, tmp_path):
    server = serve_process("--demo", "--dialect", "wise")
    client = Sip2()
    client.hostName = "127.0.0.1"
    client.hostPort = server.port
    client.tlsEnable = False
    client.institutionId = "9999"
    client.scLocation = "9901"
    client.loglevel = "ERROR"
    client.logfile_path = str(tmp_path)
    client.socketTimeout = 5
    client.connect()
    login = client.sip_login_response(client.get_response(client.sip_login_request("kiosk1", "kiosk1")))
    assert login["fixed"]["Ok"] == "1"
    yield client
    client.disconnect()
    logging.getLogger().handlers.clear()


def _registrations(c: Sip2, card: str, flag: str = "FB") -> list[list[str]]:
    """A 41 built by the PyPI client's own message builder; the 42's YZ
    values split as wise-sip2.md describes."""
    c._request_new("41")
    c._request_addOpt_fixed(c._datestamp(), 18)
    c._request_addOpt_var("AO", c.institutionId)
    c._request_addOpt_var("AA", card)
    c._request_addOpt_var("AC", "")
    c._request_addOpt_var("AD", "1234")
    c._request_addOpt_var(flag, "Y")
    raw = c.get_response(c._request_return())
    assert raw.startswith("42")
    fields = c._response_parse_varData(raw, 20)
    assert fields["AA"] == [card]
    return [line.split("~") for line in fields.get("YZ", [])]


def _pay(c: Sip2, card: str, adm_id: str, amount: str, bk: str) -> dict:
    c.patron, c.patronpwd = card, ""
    return c.sip_fee_paid_response(c.get_response(c.sip_fee_paid_request(1, 2, amount, adm_id, bk)))


def test_pure_wise_patron_information_and_checkin(wise_peer):
    c = wise_peer
    c.patron, c.patronpwd = "29999000000010", "1234"
    info = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    fields = info["variable"]
    assert fields["GL"] == ["OBOU"] and fields["XS"] == ["5"]
    assert not {"XB", "XF", "XR", "XG", "XC", "XT", "PB", "PC", "XH", "XD", "XE"} & set(fields)
    assert fields["AF"] == ["Vanaf 1 december zijn we op maandag gesloten."]
    c.patron = "29999000000030"
    r2 = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    assert r2["fixed"]["PatronStatus"][0] == "Y" and r2["variable"]["XS"] == ["2"] and r2["variable"]["BV"] == ["60.00"]
    hold = c.sip_checkin_response(c.get_response(c.sip_checkin_request("30000000000104", currentLocation="9901")))
    assert hold["fixed"]["Alert"] == "Y" and hold["variable"]["CL"] == ["03"]


def test_registrations_and_payment_by_adm_id(wise_peer):
    c = wise_peer
    lines = _registrations(c, R1)
    assert [(v[7], v[4], v[8]) for v in lines] == [("5000201", "8.00", "2"), ("5000202", "4.50", "2")]
    assert all(len(v) == 10 for v in lines)
    first = _pay(c, R1, "5000201", "3.00", "PYPI-1")
    assert first["fixed"]["PaymentAccepted"] == "Y" and first["variable"]["BK"] == ["PYPI-1"]
    again = _pay(c, R1, "5000201", "3.00", "PYPI-1")  # re-sent: booked once
    assert again["fixed"]["PaymentAccepted"] == "Y"
    assert [(v[7], v[4]) for v in _registrations(c, R1)] == [("5000201", "5.00"), ("5000202", "4.50")]
    over = _pay(c, R1, "5000202", "4.51", "PYPI-2")
    assert over["fixed"]["PaymentAccepted"] == "N" and over["variable"]["AF"]
    fee = _registrations(c, "29999000000030")
    assert [(v[1], v[7], v[8]) for v in fee] == [("Contributie", "5000301", "1")]
    assert _pay(c, "29999000000030", "5000301", "60.00", "PYPI-3")["fixed"]["PaymentAccepted"] == "Y"
    assert _registrations(c, "29999000000030") == []
    c.patron, c.patronpwd = "29999000000030", "1234"
    info = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    assert info["fixed"]["PatronStatus"] == " " * 14 and info["variable"]["XS"] == ["5"]  # status normal
    out = c.sip_checkout_response(c.get_response(c.sip_checkout_request("30000000000043")))
    assert out["fixed"]["Ok"] == "1"  # the fee is paid: the patron borrows


# --------------------------------------------------------------------------- pysip2's codec as the peer


async def test_pysip2_codec_reads_every_pure_wise_answer(tmp_path):
    """pysip2 (an independent SIP2 2.00 codec) encodes 63 and 37 requests and
    decodes our pure-Wise answers: every demo card's 64 is a well-formed
    SIP2 2.00 message, and a 37 by adm_id is answered with a 38 it reads."""
    import asyncio

    import pysip2.models as pm
    from pysip2.codec import decode_as, encode_message

    from kiosk.library.datafile import load_data
    from kiosk.library.server import LibraryServer
    from kiosk.library.store import Store

    from .conftest import NOW
    from .demo_cards import CHECKOUT

    store = Store.create(tmp_path / "s.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW, dialect="wise")
    port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seq = 0

    async def ask(request, answer_type):
        nonlocal seq
        seq = (seq + 1) % 10
        writer.write(encode_message(request, sequence_number=seq, checksum=True))
        await writer.drain()
        return decode_as(await asyncio.wait_for(reader.readuntil(b"\r"), 5), answer_type).message

    try:
        login = await ask(pm.LoginRequest(uid_algorithm="0", pwd_algorithm="0", login_user_id="kiosk1",
                                          login_password="kiosk1", location_code="9901"), pm.LoginResponse)  # fmt: skip
        assert login.ok == "1"
        when = "20261123    120000"
        for card in sorted(CHECKOUT):
            info = await ask(
                pm.PatronInformationRequest(language="005", transaction_date=when, summary=" " * 10,
                                            institution_id="9999", patron_identifier=card, patron_password="1234"),
                pm.PatronInformationResponse,
            )  # fmt: skip
            assert info.patron_identifier == card
            assert info.valid_patron == ("N" if card == "00000000000000" else "Y")
        paid = await ask(
            pm.FeePaidRequest(transaction_date=when, fee_type="01", payment_type="02", currency_type="EUR",
                              fee_amount="4.50", institution_id="9999", patron_identifier=R1,
                              fee_identifier="5000202", transaction_id="PYSIP2-1"),
            pm.FeePaidResponse,
        )  # fmt: skip
        assert paid.payment_accepted == "Y" and paid.transaction_id == "PYSIP2-1"
        assert [r.open_cents for r in store.registrations("900002")] == [800]
    finally:
        writer.close()
        await server.close()
        store.close()
