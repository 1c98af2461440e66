"""`bibkiosk door --config FILE` as systemd runs it: READY=1 and WATCHDOG=1 over a
real $NOTIFY_SOCKET, `door status` while it runs, SIGTERM -> fail-mode state, exit 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from kiosk.door.audit import AuditJournal

from .conftest import PSEUDONYM_KEY, find_secrets

CONFIG = """
state_dir = "state"

[library]
kind = "embedded"
data = "demo"

[devices.patron_reader]
url = "sim://door-controller?name=door"
[devices.pinpad]
url = "sim://door-controller?name=door"
[devices.lock]
url = "sim://door-controller?name=door"
[devices.door_contact]
url = "sim://door-controller?name=door"

[schedule.branches.default]
monday    = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
tuesday   = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
wednesday = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
thursday  = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
friday    = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
saturday  = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]
sunday    = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]

[door]
fail_mode = "{fail_mode}"

[secrets.pseudonym_key]
env = "BIBKIOSK_TEST_PSEUDONYM_KEY"
"""


def test_run_under_a_notify_socket_then_sigterm(tmp_path):
    cfg = tmp_path / "door.toml"
    cfg.write_text(CONFIG.format(fail_mode="fail_secure"))
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="600000", BIBKIOSK_TEST_PSEUDONYM_KEY=PSEUDONYM_KEY)
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "-v", "door", "--config", str(cfg)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        got = []
        while not any(m.startswith("READY=1") for m in got):
            got.append(sock.recv(4096).decode())
        ready = next(m for m in got if m.startswith("READY=1"))
        assert "STATUS=door ready: unmanned" in ready
        # The watchdog keeps coming (every WATCHDOG_USEC / 2).
        pings = 0
        deadline = time.monotonic() + 10
        while pings < 3 and time.monotonic() < deadline:
            if sock.recv(4096).decode() == "WATCHDOG=1":
                pings += 1
        assert pings == 3
        status = subprocess.run(
            [sys.executable, "-m", "kiosk", "door", "status", "--config", str(cfg), "--json"],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
        )
        report = json.loads(status.stdout)
        assert report["running"] is True and report["period"]["kind"] == "unmanned" and report["lock"] == "locked"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        sock.setblocking(False)
        rest = []
        while True:
            try:
                rest.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
        assert "STOPPING=1" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()
    assert "Traceback" not in err
    assert "door service stopped" in err
    assert not find_secrets(out + err)
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        services = [(e.result, e.detail) for e in j.entries(event="service")]
    assert services == [("started", "fail_mode=fail_secure"), ("stopped", "fail_mode=fail_secure")]
    status = subprocess.run(
        [sys.executable, "-m", "kiosk", "door", "status", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    assert "door service: not running" in status.stdout
