"""Our server core against the PyPI ``sip2`` client (import name ``Sip2``):
an independent, synchronous SC that reads each reply with one recv."""

from __future__ import annotations

import logging

import pytest
from Sip2.sip2 import Sip2
from Sip2.wrapper import Sip2Wrapper
from sip2_fixtures import ACCOUNT, CARD, PIN, FakeLibrary, ThreadedServer


@pytest.fixture
def library():
    handler = FakeLibrary(login_required=True)
    with ThreadedServer(handler) as server:
        yield handler, server


def sip2_client(port: int, tmp_path, **extra) -> Sip2:
    client = Sip2()
    client.hostName = "127.0.0.1"
    client.hostPort = port
    client.tlsEnable = False
    client.socketTimeout = 5
    client.hostEncoding = "cp850"
    client.institutionId = "BIB"
    client.scLocation = "KIOSK1"
    client.logfile_path = str(tmp_path)
    client.loglevel = "WARNING"
    for key, value in extra.items():
        setattr(client, key, value)
    return client


@pytest.mark.parametrize("error_detection", [True, False])
def test_login_patron_information_checkin(library, tmp_path, error_detection):
    handler, server = library
    client = sip2_client(server.port, tmp_path, withCrc=error_detection, withSeq=error_detection)
    assert client.connect()
    try:
        refused = client.sip_patron_information_response(
            client.get_response(client.sip_patron_information_request("none"))
        )
        assert refused["variable"]["BL"] == ["N"]  # not logged in yet: refused

        login = client.sip_login_response(client.get_response(client.sip_login_request(*ACCOUNT)))
        assert login["fixed"]["Ok"] == "1"

        status = client.sip_sc_status_response(client.get_response(client.sip_sc_status_request()))
        assert status["fixed"]["OnlineStatus"] == "Y"
        assert status["fixed"]["CheckinOk"] == "Y" and status["fixed"]["ProtocolVersion"] == "2.00"
        assert status["variable"]["AO"] == ["BIB"]

        client.patron, client.patronpwd = CARD, PIN
        info = client.sip_patron_information_response(
            client.get_response(client.sip_patron_information_request("charged"))
        )
        assert info["fixed"]["ChargedItemsCount"] == "0002"
        assert info["variable"]["AE"] == ["Jan Peeters"]
        assert info["variable"]["BL"] == ["Y"] and info["variable"]["CQ"] == ["Y"]
        assert info["variable"]["AU"] == ["30001001", "30001002"]

        client.patronpwd = "0000"
        wrong = client.sip_patron_information_response(
            client.get_response(client.sip_patron_information_request("none"))
        )
        assert wrong["variable"]["CQ"] == ["N"]

        checkin = client.sip_checkin_response(client.get_response(client.sip_checkin_request("30001001")))
        assert checkin["fixed"]["Ok"] == "1" and checkin["fixed"]["Resensitize"] == "Y"
        assert checkin["variable"]["AB"] == ["30001001"] and checkin["variable"]["AQ"] == ["MAIN"]
        assert handler.items["30001001"].on_loan_to is None

        unknown = client.sip_checkin_response(client.get_response(client.sip_checkin_request("nope")))
        assert unknown["fixed"]["Ok"] == "0"
    finally:
        client.disconnect()
        logging.getLogger("Sip2").handlers.clear()
    assert handler.seen == ["93", "99", "63", "63", "09", "09"]


def test_sip2_wrapper_session(library, tmp_path):
    handler, server = library
    wrapper = Sip2Wrapper(
        {
            "hostName": "127.0.0.1", "hostPort": server.port, "tlsEnable": False, "hostEncoding": "cp850",
            "institutionId": "BIB", "scLocation": "KIOSK1", "logfile_path": str(tmp_path), "loglevel": "WARNING",
        },
        True,
    )  # fmt: skip
    try:
        assert wrapper.login_device(*ACCOUNT) is True  # login, then an ACS status that says online
        assert wrapper.login_patron(CARD, PIN) is True
        assert list(wrapper.get_patron_chargedItems()) == ["30001001", "30001002"]
        result = wrapper.sip_item_checkin("30001002")
        assert result["fixed"]["Ok"] == "1"
        assert wrapper.login_patron(CARD, "0000") is False
    finally:
        wrapper.disconnect()
        logging.getLogger("Sip2").handlers.clear()
    assert handler.logins == 1
