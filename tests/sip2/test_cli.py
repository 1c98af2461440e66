"""``bibkiosk sip2``: answers, refusals and errors (exit 0/1/2), --json, --help."""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest
from sip2_fixtures import ACCOUNT, BLOCKED_CARD, CARD, PIN, FakeLibrary, ThreadedServer

import kiosk.cli
from kiosk.sip2 import cli as sip2_cli

COMMANDS = ["status", "patron-status", "patron-info", "item-info", "checkout", "checkin", "renew", "renew-all",
            "hold", "end-session", "raw"]  # fmt: skip


def bibkiosk(argv: list[str]) -> int:
    """What ``bibkiosk`` does, with only our command registered (the other
    command modules belong to other parts of the system)."""
    parser = kiosk.cli._Parser(prog="bibkiosk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=kiosk.cli._Parser)
    sip2_cli.register(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return int(args.func(args))


def test_registered_in_the_bibkiosk_command():
    assert "kiosk.sip2.cli" in kiosk.cli.COMMAND_MODULES


@pytest.fixture(scope="module")
def library():
    with ThreadedServer(FakeLibrary()) as server:
        yield server


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "sip2.pw"
    path.write_text(ACCOUNT[1] + "\n")
    return path


@pytest.fixture
def run(library, password_file, capsys):
    def run_(*argv: str, port: int | None = None, password=None):
        base = ["sip2", "--port", str(port or library.port), "--user", ACCOUNT[0],
                "--password-file", str(password or password_file), "--institution", "BIB", "--timeout", "3"]  # fmt: skip
        code = bibkiosk(base + list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run_


def test_help_documents_every_command(capsys):
    assert bibkiosk(["sip2", "--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert f"\n  {command}" in text, command
    for option in ("--host", "--port", "--tls", "--user", "--password-file", "--institution", "--location",
                   "--encoding", "--json", "--pin", "--summary", "holds", "unavailable", "exit status"):  # fmt: skip
        assert option in text, option
    for command in COMMANDS:
        assert bibkiosk(["sip2", command, "--help"]) == 0
        assert "usage: bibkiosk sip2 " + command in capsys.readouterr().out


def test_status(run):
    code, out, _ = run("status")
    assert code == 0
    assert out.startswith("98 AcsStatus") and "online_status: True" in out and "AO institution_id: BIB" in out


def test_patron_info_json(run):
    code, out, _ = run("--json", "patron-info", CARD, "--pin", PIN, "--summary", "charged")
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "64" and doc["name"] == "PatronInformationResponse" and doc["refused"] is False
    assert doc["fields"]["AU"] == ["30001001", "30001002"]
    assert doc["fields"]["AE"] == "Jan Peeters" and doc["fields"]["BL"] == "Y" and doc["fields"]["CQ"] == "Y"
    assert doc["fields"]["CB"] == "0010" and doc["fields"]["PB"] == "19800101"
    assert doc["fixed"]["charged_items_count"] == 2 and doc["fixed"]["language"] == 0
    assert len(doc["flags"]) == 14 and not any(doc["flags"].values())


def test_json_option_after_the_command(run):
    code, out, _ = run("item-info", "30001003", "--json")
    assert code == 0 and json.loads(out)["fields"]["AJ"] == "Max Havelaar"


def test_refusals_exit_1(run):
    assert run("patron-info", "0000000")[0] == 1  # invalid patron
    assert run("patron-status", CARD, "--pin", "9999")[0] == 1  # wrong PIN
    code, out, _ = run("checkout", BLOCKED_CARD, "30001003", "--pin", "0000")
    assert code == 1 and "-> refused" in out
    code, out, _ = run("--json", "checkin", "no-such-item")
    assert code == 1 and json.loads(out)["refused"] is True


def test_answers_exit_0(run, monkeypatch):
    assert run("patron-status", CARD)[0] == 0
    assert run("checkout", CARD, "30001003", "--pin", PIN)[0] == 0
    assert run("renew", CARD, "30001003")[0] == 0
    assert run("renew-all", CARD)[0] == 0
    assert run("end-session", CARD)[0] == 0
    assert run("checkin", "30001003")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PIN + "\n"))
    code, out, _ = run("--json", "patron-status", CARD, "--pin", "-")
    assert code == 0 and json.loads(out)["fields"]["CQ"] == "Y"


def test_hold(run):
    code, out, _ = run("hold", CARD, "30001003", "--pin", PIN)
    assert code == 0
    assert out.startswith("16 HoldResponse") and "ok: True" in out and "BR queue_position: 1" in out
    code, out, _ = run("--json", "hold", CARD, "30001003", "--pickup", "NOORD")
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "16" and doc["name"] == "HoldResponse" and doc["refused"] is False
    assert doc["fixed"]["ok"] is True and doc["fields"]["BS"] == "NOORD" and doc["fields"]["AJ"] == "Max Havelaar"
    assert run("hold", CARD, "30001003", "--mode", "delete", "--pin", PIN)[0] == 0
    code, out, _ = run("hold", CARD, "30001003", "--mode", "delete")  # nothing left to cancel
    assert code == 1 and "-> refused" in out
    assert run("hold", CARD, "no-such-item")[0] == 1
    assert run("hold", CARD, "30001003", "--pin", "9999")[0] == 1  # wrong PIN
    code, out, _ = run("--json", "hold", CARD, "30001003", "--mode", "change")
    assert code == 1 and json.loads(out)["refused"] is True
    assert run("hold", CARD)[0] == 2  # argparse: ITEM missing
    assert run("hold", CARD, "30001003", "--mode", "+")[0] == 2  # modes are named


def test_raw_frames(run):
    code, out, _ = run("raw", "9900802.00")
    assert code == 0 and out.startswith("98 AcsStatus")
    code, out, _ = run("--json", "raw", "1720240115    104500AOBIB|AB30001003|")
    assert code == 0 and json.loads(out)["name"] == "ItemInformationResponse"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_errors_exit_2(run, tmp_path):
    code, _, err = run("status", port=free_port())
    assert code == 2 and "connection" in err and "unreachable" in err
    code, out, err = run("--json", "status", port=free_port())
    assert code == 2 and json.loads(out)["error"] == "connection"
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("nope\n")
    code, _, err = run("status", password=wrong)
    assert code == 2 and "login refused" in err
    code, _, err = run("status", password=tmp_path / "missing.pw")
    assert code == 2 and "password file" in err
    assert run("checkout", CARD)[0] == 2  # argparse: ITEM missing
    assert run()[0] == 2  # no command
    code, _, err = run("--encoding", "klingon", "status")
    assert code == 2 and "encoding" in err
    assert run("raw", "9")[0] == 2


def test_garbage_answers_exit_2(password_file, capsys):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            while conn.recv(4096):
                conn.sendall(b"94\xff\xfe garbage|AY9AZ0000\r")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = bibkiosk(["sip2", "--port", str(port), "--user", "u", "--password-file", str(password_file),
                     "--timeout", "2", "--retries", "1", "status"])  # fmt: skip
    assert code == 2
    assert "unreadable answer" in capsys.readouterr().err
    listener.close()


def test_the_real_bibkiosk_entry_point(library, password_file):
    """End to end through ``python -m kiosk`` (every command module loaded)."""
    import subprocess
    import sys

    helped = subprocess.run([sys.executable, "-m", "kiosk", "sip2", "--help"], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    for command in COMMANDS:
        assert f"\n  {command}" in helped.stdout
    asked = subprocess.run(
        [sys.executable, "-m", "kiosk", "sip2", "--port", str(library.port), "--user", ACCOUNT[0],
         "--password-file", str(password_file), "--json", "patron-info", CARD, "--pin", PIN],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["fields"]["AE"] == "Jan Peeters"
    refused = subprocess.run(
        [sys.executable, "-m", "kiosk", "sip2", "--port", str(library.port), "--user", ACCOUNT[0],
         "--password-file", str(password_file), "patron-info", "0000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
