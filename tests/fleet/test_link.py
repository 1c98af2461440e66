"""The fleet link against a real Mosquitto: delivery through a broker outage,
the ACL, the last will, retained state, commands answered once."""

from __future__ import annotations

import asyncio
import os
import socket
import stat

import pytest

from kiosk.fleet.console_link import ConsoleLink
from kiosk.fleet.errors import CommandTimeout
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink
from kiosk.fleet.topics import Command, encode, now_iso

from .conftest import CONSOLE, MemorySink

pytestmark = pytest.mark.timeout(40)


async def _console(fleet, sink, client_id="console-test"):
    link = ConsoleLink(fleet.settings(CONSOLE), sink, client_id=client_id)
    await link.start()
    await link.wait_connected()
    await asyncio.sleep(0.1)  # subscriptions are in place once connected; settle the SUBACKs
    return link


async def test_every_event_arrives_once_through_a_broker_restart(fleet, tmp_path):
    sink = MemorySink()
    console = await _console(fleet, sink, "console-restart")
    journal = FleetJournal(tmp_path / "fleet.sqlite")
    device = FleetLink(fleet.settings("b1-door"), journal)
    await device.start()
    await device.wait_connected()
    sent: list[str] = []
    try:
        for i in range(60):
            sent.append(device.event("entry", result="granted", card_ref=f"card:{i:016x}", rules=[]))
            if i % 10 == 0:
                await asyncio.sleep(0.01)
        # Broker stops during traffic: some events still unacknowledged.
        fleet.broker.stop()
        for i in range(60, 140):
            sent.append(device.event("entry", result="refused", rules=["P1"], card_ref=f"card:{i:016x}"))
        await asyncio.sleep(0.3)
        assert journal.queue_length() > 0, "events queued in the journal while the broker is down"
        fleet.broker.start()
        await sink.wait(lambda: len(sink.events) >= len(sent), timeout=30)
        await device.wait_drained()
        await asyncio.sleep(0.3)  # a late duplicate would show here
        await console.drain()
        assert sorted(sink.events) == sorted(sent)
        assert len(sink.events) == 140
        assert device.connections >= 2
    finally:
        await device.stop()
        await console.stop()
        journal.close()


async def test_a_devices_credentials_cannot_publish_commands(fleet, tmp_path):
    import aiomqtt

    sink = MemorySink()
    console = await _console(fleet, sink, "console-acl")
    got: list[Command] = []

    async def handler(cmd: Command):
        got.append(cmd)
        return {"done": cmd.action}

    journal = FleetJournal(tmp_path / "b2.sqlite")
    target = FleetLink(fleet.settings("b2-door"), journal, on_command=handler)
    await target.start()
    await target.wait_connected()
    await asyncio.sleep(0.1)
    forged = {"id": "forged1", "action": "release", "staff": "mallory", "reason": "x", "args": {"seconds": 30},
              "at": now_iso(), "expires": "2999-01-01T00:00:00+00:00"}
    try:
        # Another device's account, and the device's own account, both publish a command.
        for user in ("b1-door", "b2-door"):
            s = fleet.settings(user)
            async with aiomqtt.Client(s.host, s.port, username=s.username, password=s.password,
                                      tls_context=s.tls_context(), identifier=f"attacker-{user}") as attacker:
                await attacker.publish("bibkiosk/v1/b2/door/cmd", encode({**forged, "id": f"forged-{user}"}), qos=1)
                # ... nor may it read another site's events or write another device's state.
                await attacker.publish("bibkiosk/v1/b1/kiosk/state", b'{"online":true,"mode":"fake"}', qos=1, retain=True)
        # The console's command arrives (and after the forged ones: same broker, in order).
        reply = await console.command("b2", "door", "release", staff="anna", reason="test", args={"seconds": 5})
        assert reply["ok"] and reply["result"] == {"done": "release"}
        assert [c.id for c in got] == [reply["id"]]
        assert ("b1", "kiosk") not in sink.states
        # Audited on the device side with staff and reason.
        rows = journal.commands()
        assert [(r["action"], r["staff"], r["reason"], r["ok"]) for r in rows] == [("release", "anna", "test", True)]
    finally:
        await target.stop()
        await console.stop()
        journal.close()


async def test_state_retained_and_last_will(fleet, tmp_path):
    journal = FleetJournal(tmp_path / "k.sqlite")
    assert stat.S_IMODE(os.stat(tmp_path / "k.sqlite").st_mode) == 0o600
    device = FleetLink(fleet.settings("b1-kiosk", kind="kiosk"), journal)
    await device.start()
    await device.wait_connected()
    device.set_state({"online": True, "mode": "staffed", "library": "online", "devices": {"printer": "up"}})
    await device.wait_drained()
    await asyncio.sleep(0.2)
    # A console that comes later still sees the state (retained).
    sink = MemorySink()
    console = await _console(fleet, sink, "console-retained")
    try:
        await sink.wait(lambda: ("b1", "kiosk") in sink.states and ("b1", "kiosk", True) in sink.statuses)
        assert sink.states[("b1", "kiosk")]["devices"] == {"printer": "up"}
        # The device's connection drops without a goodbye: the broker publishes its will.
        raw = device._client._client.socket()
        raw.shutdown(socket.SHUT_RDWR)
        await sink.wait(lambda: ("b1", "kiosk", False) in sink.statuses)
        # ... and it comes back by itself.
        await sink.wait(lambda: sink.statuses[-1] == ("b1", "kiosk", True))
    finally:
        await device.stop()
        await console.stop()
        journal.close()


async def test_command_redelivered_is_carried_out_once_and_expired_refused(fleet, tmp_path):
    sink = MemorySink()
    console = await _console(fleet, sink, "console-once")
    runs: list[str] = []

    async def handler(cmd: Command):
        runs.append(cmd.id)
        return {"n": len(runs)}

    journal = FleetJournal(tmp_path / "o.sqlite")
    device = FleetLink(fleet.settings("b2-door"), journal, on_command=handler)
    await device.start()
    await device.wait_connected()
    await asyncio.sleep(0.1)
    try:
        a = await console.command("b2", "door", "lockdown", staff="jo", reason="drill", command_id="c-same")
        b = await console.command("b2", "door", "lockdown", staff="jo", reason="drill", command_id="c-same")
        assert a["ok"] and b["ok"] and a["result"] == b["result"] == {"n": 1}
        assert runs == ["c-same"]
        with pytest.raises(CommandTimeout):
            await console.command("b2", "nosuch", "resume", staff="jo", reason="x", timeout=0.5)
        # A malformed command is dropped with a log line; the link goes on.
        await console._client.publish("bibkiosk/v1/b2/door/cmd", b"{not json", qos=1)
        c = await console.command("b2", "door", "resume", staff="jo", reason="after")
        assert c["ok"]
        await sink.wait(lambda: len([e for e in sink.events.values() if e["type"] == "command"]) >= 2)
    finally:
        await device.stop()
        await console.stop()
        journal.close()


class FailingSink(MemorySink):
    """A store that cannot write (StoreError) while ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = True
        self.attempts = 0

    def add_events(self, batch):
        self.attempts += 1
        if self.failing:
            raise RuntimeError("store down")
        return super().add_events(batch)


async def test_the_console_acknowledges_an_event_only_once_stored(fleet, tmp_path):
    """Not stored: not acknowledged, so a console that stops then gets it again from its persistent session;
    stored: acknowledged (the broker's in-flight window keeps moving, and a later session brings none back)."""
    journal = FleetJournal(tmp_path / "ack.sqlite")
    device = FleetLink(fleet.settings("b1-door"), journal)
    broken = FailingSink()
    console = await _console(fleet, broken, "console-ack")
    await device.start()
    await device.wait_connected()
    try:
        first = [device.event("entry", result="granted", rules=[], card_ref=f"card:{i:016x}") for i in range(30)]
        await device.wait_drained()
        async with asyncio.timeout(10):
            while console.received < 30 or broken.attempts < 2:
                await asyncio.sleep(0.05)
        assert broken.events == {}
        await console.stop()  # gone with 30 events received and none stored

        sink = MemorySink()
        console = await _console(fleet, sink, "console-ack")
        await sink.wait(lambda: set(first) <= set(sink.events))
        # More than the broker's in-flight window (max_inflight_messages 200): only moves when acknowledged.
        more = [device.event("entry", result="refused", rules=["P1"], card_ref=f"card:{i:016x}") for i in range(250)]
        await sink.wait(lambda: len(sink.events) == 280, timeout=20)
        await device.wait_drained()
        await console.drain()
        await asyncio.sleep(0.3)
        await console.stop()
        assert sorted(sink.events) == sorted(first + more)

        again = MemorySink()
        console = await _console(fleet, again, "console-ack")
        await asyncio.sleep(1.0)
        assert again.raw == 0, "events stored and acknowledged came back"
    finally:
        await device.stop()
        await console.stop()
        journal.close()
