"""Our server against an independent SIP2 client: PyPI `sip2` (import name
`Sip2`), synchronous, reading every reply with one recv — so replies stay
short.  The server runs as `bibkiosk library serve` in a subprocess."""

from __future__ import annotations

import logging

import pytest

try:
    from Sip2.sip2 import Sip2
except ImportError as exc:  # pragma: no cover - a broken environment must fail, not skip
    raise RuntimeError("PyPI package 'sip2' (import name Sip2) is required: pip install sip2") from exc


def _connect(serve_process, tmp_path, *args: str):
    server = serve_process("--demo", *args)
    client = Sip2()
    client.hostName = "127.0.0.1"
    client.hostPort = server.port
    client.tlsEnable = False
    client.institutionId = "9999"
    client.scLocation = "9901"
    client.loglevel = "ERROR"
    client.logfile_path = str(tmp_path)
    client.socketTimeout = 5
    client.hostEncoding = "cp850"  # the server's character set (French texts have accents)
    client.connect()
    return client


@pytest.fixture
def pypi_client(serve_process, tmp_path):
    client = _connect(serve_process, tmp_path)
    yield client
    client.disconnect()
    logging.getLogger().handlers.clear()


@pytest.fixture
def pypi_wise_client(serve_process, tmp_path):
    client = _connect(serve_process, tmp_path, "--dialect", "wise")
    yield client
    client.disconnect()
    logging.getLogger().handlers.clear()


def _login(client, user="kiosk1", password="kiosk1"):
    return client.sip_login_response(client.get_response(client.sip_login_request(user, password)))


def test_login_status_patron_information_checkin(pypi_client):
    c = pypi_client
    assert _login(c)["fixed"]["Ok"] == "1"
    status = c.sip_sc_status_response(c.get_response(c.sip_sc_status_request()))
    assert status["fixed"]["OnlineStatus"] == "Y" and status["fixed"]["CheckinOk"] == "Y"
    assert status["variable"]["AO"] == ["9999"]

    c.patron, c.patronpwd = "29999000000010", "1234"
    raw = c.get_response(c.sip_patron_information_request("charged"))
    assert len(raw.encode()) < 4096  # one recv of the client
    info = c.sip_patron_information_response(raw)
    assert info["fixed"]["PatronStatus"] == " " * 14
    assert info["fixed"]["ChargedItemsCount"] == "0003"
    assert info["variable"]["BL"] == ["Y"] and info["variable"]["CQ"] == ["Y"]
    assert info["variable"]["AE"] == ["Demo Klant OK"]
    assert info["variable"]["AU"] == ["30000000000012", "30000000000104", "30000000000135"]
    assert info["variable"]["XB"] == ["Onbemande openingsuren"]

    c.patron, c.patronpwd = "29999000000030", "1234"
    r2 = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    assert r2["fixed"]["PatronStatus"][0] == "Y"  # charge privileges denied (R2)
    assert r2["variable"]["XS"] == ["invoiced"] and r2["variable"]["BV"] == ["60.00"]

    checkin = c.sip_checkin_response(c.get_response(c.sip_checkin_request("30000000000012")))
    assert checkin["fixed"]["Ok"] == "1"
    assert checkin["variable"]["AJ"] == ["De Avonden"]
    hold = c.sip_checkin_response(c.get_response(c.sip_checkin_request("30000000000104")))
    assert hold["fixed"]["Alert"] == "Y" and hold["variable"]["CL"] == ["03"]


def test_wrong_login_and_checkout(pypi_client):
    c = pypi_client
    assert _login(c, password="nope")["fixed"]["Ok"] == "0"
    assert _login(c)["fixed"]["Ok"] == "1"
    c.patron, c.patronpwd = "29999000000150", "1234"
    out = c.sip_checkout_response(c.get_response(c.sip_checkout_request("E004015000000036")))
    assert out["fixed"]["Ok"] == "1"
    assert out["variable"]["AH"][0].startswith("2026") or out["variable"]["AH"][0][:4].isdigit()
    info = c.sip_item_information_response(c.get_response(c.sip_item_information_request("30000000000036")))
    assert info["fixed"]["CirculationStatus"] == "04"


def _fr(key: str) -> str:
    from kiosk.i18n import translate

    return translate("library", key, "fr")


def test_answers_come_in_the_language_the_request_names(pypi_client):
    """The 63's language field (002 French) rules the answer's texts, not the
    Dutch patron record; 000 leaves them in the record's language.  A later
    checkout of that patron on the connection (an 11 names no language) comes
    in the same language."""
    from kiosk.i18n import translate

    c = pypi_client
    assert _login(c)["fixed"]["Ok"] == "1"
    c.patron, c.patronpwd = "29999000000030", "1234"  # Dutch record, R2: the AF says why
    c.language = "002"
    info = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    assert info["fixed"]["Language"] == "002"
    assert info["variable"]["AF"][0] == translate("policy", "policy.R2", "fr")
    c.language = "000"
    info = c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    assert info["fixed"]["Language"] == "005"
    assert info["variable"]["AF"][0] == translate("policy", "policy.R2", "nl")

    c.patron = "29999000000010"  # Dutch record; the item waits for another patron's hold
    c.language = "002"
    c.sip_patron_information_response(c.get_response(c.sip_patron_information_request("none")))
    out = c.sip_checkout_response(c.get_response(c.sip_checkout_request("30000000000128")))
    assert out["fixed"]["Ok"] == "0"
    assert out["variable"]["AF"] == [_fr("library.item_on_hold")]


def test_pure_wise_answers_in_the_request_language_too(pypi_wise_client):
    c = pypi_wise_client
    assert _login(c)["fixed"]["Ok"] == "1"
    c.patron, c.patronpwd = "29999000000110", "1234"  # the replaced card: Wise's "Pas niet geldig!"
    c.language = "002"
    status = c.sip_patron_status_response(c.get_response(c.sip_patron_status_request()))
    assert status["fixed"]["Language"] == "002"
    assert status["variable"]["AF"][0] == _fr("library.card_invalid")
