"""A console killed between receiving events and storing them loses none: it
acknowledges an event to the broker (PUBACK) only once the event is stored,
so the broker keeps it in the console's persistent session and delivers it
again when the console is back; the store keeps each event id once.

``bibkiosk console`` runs as its own process against the real Mosquitto;
tests/fleet/console_crash.py makes it die (SIGKILL) at its store step."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.console import console_connected
from kiosk.fleet.broker import free_port
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink

from .conftest import CONSOLE

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 40


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def _console_config(tmp: Path, fleet, client_id: str) -> tuple[Path, int, Path]:
    port = free_port()
    store = tmp / "console.sqlite"
    _private(tmp / "broker.secret", fleet.passwords[CONSOLE])
    _private(tmp / "session.secret", "s" * 40)
    config = _private(tmp / "console.toml", "\n".join([
        "[console]", f"port = {port}", "secure_cookies = false", 'language = "en"', f'store = "{store}"',
        f'client_id = "{client_id}"',
        "[broker]", 'host = "127.0.0.1"', f"port = {fleet.broker.port}", f'username = "{CONSOLE}"',
        f'ca_file = "{fleet.broker.ca_file}"',
        "[secrets]", 'broker_password = { file = "broker.secret" }', 'session_key = { file = "session.secret" }',
        "[sites.b1]", 'name = "Centrum"',
    ]) + "\n")
    return config, port, store


def _start(args: list[str], log: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    if console_connected(proc, port, 30):
        return proc
    assert proc.poll() is None, f"console exited: {log.read_text(errors='replace')[-2000:]}"
    proc.kill()
    raise AssertionError("console did not connect to the broker")


def _stored(store: Path) -> dict[str, int]:
    if not store.exists():
        return {}
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {row[0]: row[1] for row in db.execute("SELECT id, COUNT(*) FROM events GROUP BY id")}
    except sqlite3.OperationalError:
        return {}  # no schema yet
    finally:
        db.close()


async def _publish(fleet, tmp: Path) -> list[str]:
    journal = FleetJournal(tmp / "door-fleet.sqlite")
    device = FleetLink(fleet.settings("b1-door"), journal)
    await device.start()
    try:
        await device.wait_connected()
        sent = [device.event("entry", result="granted", rules=[], card_ref=f"card:{i:016x}", reader="front")
                for i in range(EVENTS)]
        await device.wait_drained(20)  # the broker has every event (it acknowledged them to the door)
        return sent
    finally:
        await device.stop()
        journal.close()


@pytest.mark.parametrize("mode", ["before", "after"])
async def test_a_console_killed_at_its_store_step_stores_every_event_once(fleet, tmp_path, mode):
    """before: killed after receiving every event, none stored (the store step never completed).
    after: killed once the first batch was stored but before its acknowledgement went out."""
    config, port, store = _console_config(tmp_path, fleet, f"console-crash-{mode}")
    log = tmp_path / "console.log"
    crashing = _start(["-m", "tests.fleet.console_crash", mode, str(EVENTS), "console", "--config", str(config)], log, port)
    proc = None
    try:
        sent = await _publish(fleet, tmp_path)
        deadline = time.monotonic() + 30
        while crashing.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert crashing.returncode == -signal.SIGKILL, f"the console did not die at its store step: {crashing.returncode}"
        if mode == "before":
            assert _stored(store) == {}
        else:
            assert _stored(store), "the first batch was stored before the console died"

        proc = _start(["-m", "kiosk", "console", "--config", str(config)], log, port)
        deadline = time.monotonic() + 30
        while len(_stored(store)) < EVENTS and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a late duplicate would show here
        stored = _stored(store)
        assert sorted(stored) == sorted(sent), f"{len(stored)} of {EVENTS} events stored after the restart"
        assert set(stored.values()) == {1}
    finally:
        if crashing.poll() is None:
            crashing.kill()
            crashing.wait(10)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
