"""The LCUS relay on a real pty, `bibkiosk door` in its own process (as systemd runs it):

- kill -9 during a release leaves the relay ON; `bibkiosk door relock --config`
  (what ExecStopPost= / ExecStartPre= run) drives it OFF (locked) although the
  pseudonym key's env variable is unset and the audit journal is garbage;
- SIGTERM with ``fail_mode = "fail_safe"`` (a magnetic lock: relay on = holds)
  ends with the release frame and nothing after it; `relock --after-stop`
  leaves it so after a clean stop and relocks after any other end.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from devices.relay import lcus_frame

from .conftest import PSEUDONYM_KEY

ON, OFF = lcus_frame(1, True), lcus_frame(1, False)

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def schedule(kind: str) -> str:
    return "[schedule.branches.default]\n" + "".join(
        f'{day} = [{{ kind = "{kind}", from = "00:00", until = "24:00" }}]\n' for day in DAYS
    )


class Pty:
    """A real pty pair; the driver opens the slave path, the test reads the master."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.data = b""

    def read_until(self, want: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while want not in self.data:
            left = deadline - time.monotonic()
            assert left > 0, f"{want.hex()} not seen; got {self.data.hex()}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.data += os.read(self.master, 4096)
        return self.data

    def drain(self, quiet: float = 0.3) -> bytes:
        """Everything until the line has been quiet for *quiet* seconds."""
        while True:
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                return self.data
            self.data += os.read(self.master, 4096)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def relay():
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def scanner():
    p = Pty()
    yield p
    p.close()


def frames(data: bytes) -> list[bytes]:
    assert len(data) % 4 == 0, data.hex()
    return [data[i:i + 4] for i in range(0, len(data), 4)]


def start_door(tmp_path: Path, config: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, socket.socket]:
    cfg = tmp_path / "door.toml"
    cfg.write_text(config)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), BIBKIOSK_TEST_PSEUDONYM_KEY=PSEUDONYM_KEY,
               **(env_extra or {}))
    env.pop("WATCHDOG_USEC", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "-v", "door", "--config", str(cfg)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    while not sock.recv(4096).decode().startswith("READY=1"):
        pass
    return proc, sock


def relock(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("BIBKIOSK_TEST_PSEUDONYM_KEY", "SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")}
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "door", "relock", "--config", str(tmp_path / "door.toml"), *args],
        capture_output=True, text=True, timeout=60, env={**base, **(env or {})}, cwd=tmp_path,
    )


CARD_ONLY = """
state_dir = "state"
[library]
kind = "embedded"
data = "demo"
[devices.patron_reader]
url = "serial://{scanner}"
[devices.lock]
url = "lcus://{relay}?max_release=60"
{schedule}
[door]
fail_mode = "fail_secure"
staffed_entry = "card"
release_seconds = 60
[secrets.pseudonym_key]
env = "BIBKIOSK_TEST_PSEUDONYM_KEY"
"""


def test_kill_9_during_a_release_then_relock_drives_the_relay_locked(tmp_path, relay, scanner):
    config = CARD_ONLY.format(scanner=scanner.path, relay=relay.path, schedule=schedule("staffed"))
    proc, sock = start_door(tmp_path, config)
    try:
        assert frames(relay.drain())[-1] == OFF  # locked first
        scanner.write(b"29999000000111\r")  # demo card, active: staffed card-only entry
        relay.read_until(ON)
        proc.kill()  # kill -9 during the 60 s release
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        sock.close()
    assert frames(relay.drain())[-1] == ON  # nothing relocked it: the timer lived in the process
    # What ExecStopPost= runs, with none of what the service needs: the env secret
    # unset (relock() drops it), the audit journal garbage.
    (tmp_path / "state" / "door-audit.sqlite").write_bytes(b"garbage" * 100)
    before = len(relay.data)
    r = relock(tmp_path, "--after-stop", env={"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"})
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and r.stdout.startswith(f"locked lcus://{relay.path}")
    new = frames(relay.drain()[before:])
    assert new and set(new) == {OFF}


MAGLOCK = """
state_dir = "state"
[library]
kind = "embedded"
data = "demo"
[devices.patron_reader]
url = "sim://door-controller?name=door"
[devices.pinpad]
url = "sim://door-controller?name=door"
[devices.lock]
url = "lcus://{relay}?release_state=off&max_release=60"
{schedule}
[door]
fail_mode = "fail_safe"
[secrets.pseudonym_key]
env = "BIBKIOSK_TEST_PSEUDONYM_KEY"
"""


def test_sigterm_fail_safe_ends_released_and_after_stop_leaves_it(tmp_path, relay):
    """A magnetic lock (relay ON holds it): SIGTERM under fail_safe ends with the
    release (relay OFF) and nothing after it, as docs/door.md says."""
    proc, sock = start_door(tmp_path, MAGLOCK.format(relay=relay.path, schedule=schedule("unmanned")))
    try:
        assert frames(relay.drain())[-1] == ON  # locked (energised) at start
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert frames(relay.drain())[-1] == OFF  # released, and stays so: no re-energising at close
    before = len(relay.data)
    clean = {"SERVICE_RESULT": "success", "EXIT_CODE": "exited", "EXIT_STATUS": "0"}
    r = relock(tmp_path, "--after-stop", env=clean)
    assert r.returncode == 0 and "left as the service put it" in r.stdout, r.stderr
    assert relay.drain()[before:] == b""
    # Any other end (here: a failed stop, status 2) relocks.
    r = relock(tmp_path, "--after-stop", env={**clean, "EXIT_STATUS": "2"})
    assert r.returncode == 0, r.stderr
    assert set(frames(relay.drain()[before:])) == {ON}
