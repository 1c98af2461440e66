"""``bibkiosk sip2 registrations`` and ``pay`` against a Wise-dialect peer;
``raw 97``; a hostile peer's control characters are escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sip2_fixtures import ThreadedServer

from kiosk.sip2 import LoginResponse, PatronInformationResponse, Sip2Handler
from kiosk.sip2.render import escape_text
from tests.adapter.wise_peer import ACCOUNT, WisePeer

ROOT = Path(__file__).resolve().parents[2]
CARD = "22000000000060"


@pytest.fixture(scope="module")
def peer():
    handler = WisePeer()
    with ThreadedServer(handler) as server:
        yield server, handler


@pytest.fixture(scope="module")
def password_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pw") / "sip2.pw"
    path.write_text(ACCOUNT[1] + "\n")
    return path


def bibkiosk(port, password_file, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "kiosk", "sip2", "--port", str(port), "--user", ACCOUNT[0], "--password-file",
            str(password_file), "--institution", "WISE", "--timeout", "3"]  # fmt: skip
    return subprocess.run([*base, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_registrations_lists_adm_id_type_amount_dates(peer, password_file):
    server, _ = peer
    result = bibkiosk(server.port, password_file, "registrations", CARD, "--pin", "-", stdin="1234\n")
    assert result.returncode == 0, result.stderr
    assert "registrations: 2" in result.stdout
    assert "adm_id 7002: type 2 (fine), amount 7.50, created 2026-11-20, based on 2026-11-18, status I" in result.stdout
    doc = json.loads(bibkiosk(server.port, password_file, "registrations", CARD, "--pin", "-", "--json",
                              stdin="1234\n").stdout)  # fmt: skip
    assert [(r["adm_id"], r["type"], r["amount"], r["created"]) for r in doc["registrations"]] == [
        ("7002", 2, "7.50", "2026-11-20"), ("7003", 2, "5.00", "2026-11-21")]


def test_pay_exit_0_when_booked_and_1_when_refused(peer, password_file):
    server, handler = peer
    ok = bibkiosk(server.port, password_file, "pay", CARD, "--registration", "7003", "--amount", "5.00", "--pin", "-",
                  "--transaction-id", "bk-cli-1", stdin="1234\n")  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "payment_accepted: True" in ok.stdout and handler.paid["bk-cli-1"] == "7003"
    refused = bibkiosk(server.port, password_file, "pay", CARD, "--registration", "9999", "--amount", "1")
    assert refused.returncode == 1 and "-> refused" in refused.stdout
    bad = bibkiosk(server.port, password_file, "pay", CARD, "--registration", "7002", "--amount", "-3")
    assert bad.returncode == 2 and "--amount" in bad.stderr and "Traceback" not in bad.stderr


def test_raw_97_works(peer, password_file):
    server, _ = peer
    result = bibkiosk(server.port, password_file, "raw", "97")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("98 AcsStatus")  # the last answer (the 98 of the connect), sent again


class Hostile(Sip2Handler):
    def on_login(self, msg, session):
        return LoginResponse(ok=True)

    def on_patron_information(self, msg, session):
        return PatronInformationResponse(
            patron_identifier=msg.patron_identifier, personal_name="\x1b]0;pwned\x07\x1b[2J",
            screen_message=("ok\x7f\x1b[31m",), extra_fields=(("XX", "\x1bc"),),
        )


def test_a_hostile_peer_cannot_send_escape_sequences_to_the_terminal(password_file):
    with ThreadedServer(Hostile()) as server:
        text = bibkiosk(server.port, password_file, "patron-info", "1")
        js = bibkiosk(server.port, password_file, "--json", "patron-info", "1")
    for out in (text.stdout, js.stdout):
        assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in out), repr(out)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in text.stdout and "ok\\x7f\\x1b[31m" in text.stdout
    assert json.loads(js.stdout)["fields"]["AE"] == "\x1b]0;pwned\x07\x1b[2J"  # JSON keeps the value, escaped
    assert escape_text("a\u202eb\x9b") == "a\\u202eb\\x9b"  # bidi overrides and C1 too
