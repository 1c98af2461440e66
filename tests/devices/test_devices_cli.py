"""``bibkiosk devices list|test`` through the real command dispatcher."""

from __future__ import annotations

import json
import subprocess
import sys

from kiosk.cli import main


def test_list_text(capsys):
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    for heading in ("PC/SC readers:", "Serial ports:", "Input devices (HID scanners):", "URL schemes:"):
        assert heading in out
    assert "sim://" in out and "lcus://" in out and "escpos+net://" in out


def test_list_json(capsys):
    assert main(["devices", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    schemes = {row["scheme"]: row for row in data["schemes"]}
    assert schemes["serial"]["kinds"] == ["scanner"]
    assert schemes["sim"]["kinds"] == ["all"]
    assert isinstance(data["pcsc"]["available"], bool)


def test_test_sim_passes(capsys):
    assert main(["devices", "test", "sim://rfid", "--faults"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "rfid      security bit" in out


def test_test_json_and_kind_filter(capsys):
    assert main(["devices", "test", "sim://door-controller", "--kind", "lock", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and {r["suite"] for r in report["results"]} == {"device", "lock"}


def test_bad_url_is_exit_2(capsys):
    assert main(["devices", "test", "nfc://x"]) == 2
    err = capsys.readouterr().err
    assert "unknown device URL scheme" in err and "sim" in err
    assert main(["devices", "test", "sim://patron?colour=red"]) == 2
    assert "valid: kind, name, pay_delay, reader, speak_seconds, tags" in capsys.readouterr().err


def test_interactive_relay_over_pty_with_yes(pty_peer):
    # A real process, a real pty: the lock suite needs only confirmations, answered by --yes.
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "devices", "test", f"lcus://{pty_peer.path}", "--yes", "--timeout", "3"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "-> yes (--yes)" in proc.stdout and "PASSED" in proc.stdout
    assert bytes.fromhex("A00101A2") in pty_peer.drain()
    # The report's header comes first, above the prompts; it is not repeated below them.
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"bibkiosk conformance: lcus://{pty_peer.path}") and "follow the prompts" in first
    assert proc.stdout.index("bibkiosk conformance:") < proc.stdout.index("-> yes (--yes)")
    assert proc.stdout.count("bibkiosk conformance:") == 1


def test_interactive_no_answers_fail(pty_peer):
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk", "devices", "test", f"lcus://{pty_peer.path}", "--timeout", "3"],
        input="n\n", capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "answered no" in proc.stdout and "FAILED" in proc.stdout
