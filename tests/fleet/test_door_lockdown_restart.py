"""A lockdown survives the door being killed: the real ``bibkiosk door --config``
process, with a real OSDP reader and strike (a libosdp PD in another process over
a socat pty), on the real Mosquitto with the console's own link.

Staff lock the door down from the console; the door process is killed with
SIGKILL (a crash, a watchdog kill) and started again, as systemd would.  The old
door kept the lockdown only in memory: the restarted door was back in normal
unmanned entry (it asked the next card for its PIN), its status and the
console's retained state said ``unmanned``.  Now the lockdown is taken back from
the audit: locked, the card refused ``LD`` at once, ``door status`` and the
retained state say lockdown, also after a second kill.  ``resume`` ends it on
record: killed and started again, the door is in normal service (the card is
asked its PIN and let in).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.door.audit import AuditJournal
from kiosk.fleet.console_link import ConsoleLink
from tests.devices.conftest_osdp import osdp_bus, osdp_key, pd  # noqa: F401 - fixtures

from .conftest import CONSOLE, MemorySink, b2_door_toml

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]
CARD, PIN = "29999000000010", "1234"  # the demo library's patron with the unmanned badge
DEVICE = ("b2", "door")


def door_toml(tmp: Path, fleet, bus, key: bytes) -> Path:
    key_file = tmp / "osdp.key"
    key_file.write_text(key.hex())
    key_file.chmod(0o600)
    url = (f"osdp://{bus.url_path}?address=101&scbk_file={key_file}&card_format=decimal"
           "&strike_output=0&door_input=0&exit_input=1&name=entrance")
    return b2_door_toml(tmp, fleet, device_url=url, roles=("patron_reader", "pinpad", "lock", "door_contact", "indicator"),
                        door=["pin_timeout_seconds = 10"], metrics=[], pseudonym_key="door-lockdown-key-0123456789")


class Door:
    """``bibkiosk door --config`` in its own process."""

    def __init__(self, tmp: Path, cfg: Path) -> None:
        self.tmp, self.cfg = tmp, cfg
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[str] = []

    def start(self) -> None:
        log = open(self.tmp / f"door-{len(self.logs)}.log", "wb")  # noqa: SIM115
        self.logs.append(log.name)
        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", "-v", "door", "--config", str(self.cfg)],
                                     cwd=self.tmp, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def output(self) -> str:
        return "\n".join(Path(p).read_text(errors="replace")[-3000:] for p in self.logs)

    def status(self) -> dict:
        out = subprocess.run([sys.executable, "-m", "kiosk", "door", "status", "--config", str(self.cfg), "--json"],
                             capture_output=True, text=True, timeout=60, cwd=self.tmp,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        return json.loads(out.stdout)

    def status_text(self) -> str:
        return subprocess.run([sys.executable, "-m", "kiosk", "door", "status", "--config", str(self.cfg)],
                              capture_output=True, text=True, timeout=60, cwd=self.tmp,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout


def entries(tmp: Path) -> list[tuple[str | None, tuple[str, ...]]]:
    path = tmp / "state" / "door-audit.sqlite"
    if not path.exists():
        return []
    with AuditJournal(path, readonly=True) as j:
        return [(e.result, e.rules) for e in j.entries(event="entry")]


async def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def drain(pd) -> None:  # noqa: F811
    """Forget what the PD reported so far (the start's indicator commands)."""
    while not pd.events.empty():
        pd.events.get_nowait()


def tap(pd, card: str) -> None:  # noqa: F811
    drain(pd)
    pd.card(int(card).to_bytes(6, "big"), 48)


def led(pd, color: int, timeout: float = 20) -> dict:  # noqa: F811
    return pd.expect(lambda ev: ev["ev"] == "command" and ev["command"] == "led" and ev.get("on_color") == color, timeout)


async def restarted(door: Door, sink: MemorySink, pd) -> dict:  # noqa: F811
    """Kill the door (SIGKILL), start it again; the first retained state of the new process."""
    door.kill()
    # Not running: `door status` shows the lockdown on record, which the next start takes back.
    down = door.status()
    assert down["running"] is False and down["lockdown"]["staff"] == "anna", down
    assert "the next start locks down again" in door.status_text()
    await sink.wait(lambda: sink.statuses[-1] == (*DEVICE, False), timeout=20)
    sink.states.pop(DEVICE, None)
    seen = len(pd.seen)
    door.start()
    await sink.wait(lambda: sink.states.get(DEVICE, {}).get("online") is True, timeout=60)
    # The reader is up again (the new process polls it) before a card is shown.
    await asyncio.to_thread(pd.expect, lambda ev: ev["ev"] == "command" and len(pd.seen) > seen, 30)
    return sink.states[DEVICE]


async def test_a_lockdown_survives_sigkill_and_restart_until_resumed(fleet, tmp_path, osdp_bus, osdp_key, pd):  # noqa: F811
    sink = MemorySink()
    console = ConsoleLink(fleet.settings(CONSOLE), sink, client_id="console-door-lockdown")
    await console.start()
    await console.wait_connected()
    door = Door(tmp_path, door_toml(tmp_path, fleet, osdp_bus, osdp_key))
    door.start()
    try:
        await sink.wait(lambda: sink.states.get(DEVICE, {}).get("mode") == "unmanned", timeout=60)
        reply = await console.command(*DEVICE, "lockdown", staff="anna", reason="incident at the entrance", timeout=20)
        assert reply["ok"] and reply.get("recorded", True) is not False, reply
        await sink.wait(lambda: sink.states[DEVICE].get("mode") == "lockdown", timeout=20)

        # Killed while locked down, started again: still locked down.
        state = await restarted(door, sink, pd)
        assert state["mode"] == "lockdown" and state["lock"] == "locked", state
        assert state["lockdown_since"], state
        status = door.status()
        assert status["running"] is True and status["lock"] == "locked"
        assert status["lockdown"]["staff"] == "anna" and status["lockdown"]["reason"] == "incident at the entrance"
        assert status["lockdown"]["restored"] is True
        assert "LOCKDOWN since" in door.status_text()
        tap(pd, CARD)
        await wait_for(lambda: len(entries(tmp_path)) == 1, 30, "the card's audit row")
        assert entries(tmp_path)[-1] == ("refused", ("LD",)), entries(tmp_path)
        await asyncio.to_thread(led, pd, 1)  # red: refused, no PIN asked

        # Killed again (the lockdown is on record, not re-ordered): still locked down.
        state = await restarted(door, sink, pd)
        assert state["mode"] == "lockdown", state
        tap(pd, CARD)
        await wait_for(lambda: len(entries(tmp_path)) == 2, 30, "the card's audit row")
        assert entries(tmp_path)[-1] == ("refused", ("LD",))

        # Resume, on record; killed and started again: normal unmanned entry.
        reply = await console.command(*DEVICE, "resume", staff="anna", reason="all clear", timeout=20)
        assert reply["ok"], reply
        await sink.wait(lambda: sink.states[DEVICE].get("mode") == "unmanned", timeout=20)
        door.kill()
        assert door.status()["lockdown"] is None  # nothing on record for the next start
        await sink.wait(lambda: sink.statuses[-1] == (*DEVICE, False), timeout=20)
        door.start()
        sink.states.pop(DEVICE, None)
        await sink.wait(lambda: sink.states.get(DEVICE, {}).get("online") is True, timeout=60)
        assert sink.states[DEVICE]["mode"] == "unmanned" and sink.states[DEVICE]["lockdown_since"] is None
        await wait_for(lambda: door.status().get("lockdown", "?") is None and door.status()["running"], 30, "status")
        tap(pd, CARD)
        await asyncio.to_thread(led, pd, 3)  # amber: the PIN is asked
        pd.keys(PIN + "#")
        await wait_for(lambda: len(entries(tmp_path)) == 3, 30, "the card's audit row")
        assert entries(tmp_path)[-1] == ("granted", ()), entries(tmp_path)
    except BaseException:
        print(door.output())
        raise
    finally:
        door.stop()
        await console.stop()
