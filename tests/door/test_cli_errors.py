"""`bibkiosk door` errors are one line and exit 2, never a traceback; `door
status` / `door log` read only the state directory (no secret, no OSDP key)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime

from kiosk.cli import main
from kiosk.door.audit import AuditEvent, AuditJournal, Result

from .fsfaults import read_only_fs  # noqa: F401 - fixture

CONFIG = """
state_dir = "{state_dir}"

[library]
kind = "sip2"
host = "127.0.0.1"
port = 1
user = "door"

[devices.patron_reader]
url = "sim://door-controller?name=door"
[devices.pinpad]
url = "sim://door-controller?name=door"
[devices.lock]
url = "sim://door-controller?name=door"

[schedule.branches.default]
monday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
tuesday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
wednesday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
thursday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
friday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
saturday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
sunday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]

[door]
fail_mode = "fail_secure"

[secrets.pseudonym_key]
env = "BIBKIOSK_TEST_UNSET_PSEUDONYM_KEY"
[secrets.sip2_password]
env = "BIBKIOSK_TEST_UNSET_SIP2_PASSWORD"
"""


def write_config(tmp_path, state_dir="state", extra=""):
    path = tmp_path / "door.toml"
    path.write_text(CONFIG.format(state_dir=state_dir) + extra)
    path.chmod(0o600)
    return path


def env():
    e = dict(os.environ)
    for name in ("BIBKIOSK_TEST_UNSET_PSEUDONYM_KEY", "BIBKIOSK_TEST_UNSET_SIP2_PASSWORD", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        e.pop(name, None)
    return e


def door(*args, cwd=None, environ=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "kiosk", "door", *args], capture_output=True, text=True,
                          timeout=timeout, env=environ or env(), cwd=cwd)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("bibkiosk door")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.stderr


def test_unset_env_secret_is_one_line(tmp_path):
    one_line_error(door("--config", str(write_config(tmp_path)), cwd=tmp_path), "BIBKIOSK_TEST_UNSET_PSEUDONYM_KEY", "not set")


def test_log_since_too_far_back_is_one_line(tmp_path, capsys):
    cfg = write_config(tmp_path)
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite"):
        pass
    assert main(["door", "log", "--config", str(cfg), "--since", "99999999999999d"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "too far" in err
    assert main(["door", "log", "--config", str(cfg), "--since", "9999-12-31T23:59", "--until", "99999999999999w"]) == 2


def test_status_with_a_malformed_status_file_is_one_line(tmp_path):
    cfg = write_config(tmp_path)
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite"):
        pass
    status = tmp_path / "state" / "door-status.json"
    for bad in ({"running": True, "pid": os.getpid(), "period": "unmanned", "devices": [1]},
                {"running": True, "pid": os.getpid(), "alarms": [{"x": 1}], "period": {"kind": 3}},
                {"running": "yes", "devices": {"a": "ok"}}):
        status.write_text(json.dumps(bad))
        one_line_error(door("status", "--config", str(cfg)), "door-status.json", "malformed")
    status.write_text("{not json")
    one_line_error(door("status", "--config", str(cfg)), "door-status.json")


def test_status_and_log_need_no_secret_and_no_osdp_key(tmp_path):
    """The pseudonym key and the SIP2 password are unset env variables and the OSDP
    key file does not exist: staff still read the journal, by config or by --state-dir."""
    cfg = write_config(tmp_path, extra='[secrets.osdp_key]\nfile = "/nonexistent/osdp.key"\n')
    now = datetime.now().astimezone()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite") as j:
        j.record(now, AuditEvent.ENTRY, result=Result.GRANTED, card_ref="card:0badc0de", reader="door", source="online")
    for args in (("--config", str(cfg)), ("--state-dir", str(tmp_path / "state"))):
        r = door("log", *args, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout.splitlines()[0])["card_ref"] == "card:0badc0de"
        r = door("status", *args, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["entries_24h"]["granted"] == 1
    r = door("status")
    one_line_error(r, "--config FILE or --state-dir DIR")


def test_unwritable_state_dir_runs_locked_and_stops_cleanly(tmp_path, read_only_fs):
    """A read-only state_dir (root ignores modes; a read-only mount it cannot): the
    door runs (locked, refusing, alarm in the log) instead of a traceback, and SIGTERM stops it."""
    cfg = write_config(tmp_path, state_dir=str(read_only_fs / "state"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    environ = {**env(), "BIBKIOSK_TEST_UNSET_PSEUDONYM_KEY": "k" * 40, "BIBKIOSK_TEST_UNSET_SIP2_PASSWORD": "pw",
               "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "door", "--config", str(cfg)], env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        sock.settimeout(0.5)
        for _ in range(60):  # READY within 30 s, or the process ended (old code: a traceback)
            try:
                if sock.recv(4096).decode().startswith("READY=1"):
                    break
            except TimeoutError:
                assert proc.poll() is None, proc.communicate()[1]
        else:
            raise AssertionError("no READY=1")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "STATE NOT WRITABLE" in err


def test_config_check_warns_that_an_lcus_relay_rests_on_the_relock(tmp_path, capsys):
    cfg = write_config(tmp_path, state_dir="state").read_text().replace(
        '[devices.lock]\nurl = "sim://door-controller?name=door"', '[devices.lock]\nurl = "lcus:///dev/ttyUSB0"'
    )
    path = tmp_path / "lcus.toml"
    path.write_text(cfg)
    path.chmod(0o600)
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: devices.lock.url: an LCUS relay has no timer of its own" in out and "relock" in out
    assert out.strip().endswith("OK")
    path.write_text(cfg.replace('"fail_secure"', '"fail_safe"'))
    assert main(["config", "check", str(path)]) == 0
    assert "a magnetic lock wants release_state=off" in capsys.readouterr().out
