"""`bibkiosk door log|status` on a real audit journal, and argument errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from kiosk.cli import main
from kiosk.door.audit import AuditEvent, AuditJournal, Result
from kiosk.door.cli import _Usage, parse_when

from .conftest import PSEUDONYM_KEY

CONFIG = """
state_dir = "state"

[library]
kind = "embedded"
data = "demo"

[devices.patron_reader]
url = "sim://door-controller?name=door"

[devices.lock]
url = "sim://door-controller?name=door"

[schedule.branches.default]
monday = [{{ kind = "unmanned", from = "12:00", until = "22:00" }}]

[door]
fail_mode = "fail_secure"

[secrets.pseudonym_key]
value = "{key}"
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "door.toml"
    path.write_text(CONFIG.format(key=PSEUDONYM_KEY))
    path.chmod(0o600)
    return path


def journal(tmp_path):
    return AuditJournal(tmp_path / "state" / "door-audit.sqlite")


def test_parse_when():
    now = datetime(2026, 11, 23, 18, 0).astimezone()
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("2026-11-20", now).date().isoformat() == "2026-11-20"
    assert parse_when("2026-11-20T08:30", now).hour == 8
    with pytest.raises(_Usage):
        parse_when("yesterday-ish", now)


def test_log_text_and_json(tmp_path, config_file, capsys):
    now = datetime.now().astimezone()
    with journal(tmp_path) as j:
        j.record(now - timedelta(hours=30), AuditEvent.ENTRY, result=Result.GRANTED, card_ref="card:old")
        j.record(now - timedelta(minutes=5), AuditEvent.ENTRY, result=Result.REFUSED, card_ref="card:0123abcd", rules=["B1"], reader="door", source="online")
        j.record(now - timedelta(minutes=4), AuditEvent.ALARM, result="forced_open", detail="raised")
    assert main(["door", "log", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "card:0123abcd" in out and "B1" in out and "forced_open" in out and "card:old" not in out
    assert main(["door", "log", "--config", str(config_file), "--since", "2d", "--json", "--event", "entry"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["card_ref"] for r in rows] == ["card:old", "card:0123abcd"] and rows[1]["rules"] == ["B1"]


def test_status_shows_occupancy(tmp_path, config_file, capsys):
    now = datetime.now().astimezone()
    with journal(tmp_path) as j:
        for _ in range(3):
            j.record(now - timedelta(seconds=5), AuditEvent.ENTRY, result=Result.GRANTED)
        j.record(now - timedelta(seconds=4), AuditEvent.EXIT)
    assert main(["door", "status", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "not running" in out and "occupancy estimate: 2 (entries 3, exits 1" in out
    assert main(["door", "status", "--config", str(config_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["occupancy"]["estimate"] == 2 and report["running"] is False


def test_errors_are_clear_not_tracebacks(tmp_path, config_file):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "kiosk", "door", *args], capture_output=True, text=True, timeout=60)

    r = run("log", "--config", str(config_file))
    assert r.returncode == 2 and "no audit journal" in r.stderr and "Traceback" not in r.stderr
    r = run("log", "--config", str(config_file), "--since", "soonish")
    assert r.returncode == 2 and "cannot read" in r.stderr
    r = run("status", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "nodoor.toml"
    bad.write_text('[library]\nkind = "embedded"\ndata = "demo"\n')
    r = run("--config", str(bad))
    assert r.returncode == 2 and "no [door] section" in r.stderr
    r = run()
    assert r.returncode == 2 and "--config FILE is required" in r.stderr
