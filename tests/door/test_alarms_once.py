"""One "raised" when an alarm starts, one "cleared" when it ends: in the audit,
on the webhooks and on the fleet link (whose events are the audit's rows),
also across a restart of the door while the alarm stands.

In-process, with sim:// devices and real files.  A patron store that cannot be
written is a store whose ``hold_attempt`` fails as a full disk does (the real
full tmpfs is in test_identify_shared.py; here the audit must stay writable to
be read).
"""

from __future__ import annotations

import asyncio
import time

from devices import open_device, sim
from kiosk.door.audit import AuditJournal
from kiosk.door.service import DoorService
from kiosk.fleet.door import DoorFleet
from kiosk.identify import StoreError

from .conftest import UNMANNED, Clock, door_config
from .test_service_sim import CARD, FAST, PIN, StaticLibrary, enter, patron, until

STORE_ALARM = "patron_store_unwritable"
RECHECK_SECONDS = 30.0  # kiosk.identify.recheck


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeLink:
    """What DoorFleet hands the fleet link: events (the outbox) and the retained state."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.states: list[dict] = []

    def event(self, type_, at=None, **body):
        self.events.append((type_, body))

    def set_state(self, state):
        self.states.append(state)

    def alarm_events(self) -> list[tuple[str, str]]:
        return [(b["result"], b["detail"]) for t, b in self.events if t == "alarm"]


def door(tmp_path, clock, mono, hook=None, devices=None, **kw) -> tuple[DoorService, FakeLink]:
    cfg = door_config(tmp_path, **({"webhooks": [hook.url]} if hook else {}), **kw)
    svc = DoorService(cfg, library=StaticLibrary({CARD: (PIN, patron())}), clock=clock, monotonic=mono or time.monotonic,
                      tick_seconds=0.05, scrypt=FAST, webhook_options={"backoff": 0.05}, devices=devices)
    link = FakeLink()
    DoorFleet(svc).attach(link)
    return svc, link


def store_fails(svc: DoorService) -> None:
    def hold_attempt(card, now):
        raise StoreError("patron store patrons.sqlite: database or disk is full")

    svc.store.hold_attempt = hold_attempt  # type: ignore[method-assign]


def audit_alarms(tmp_path, kind: str) -> list[str]:
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        return [e.detail for e in j.entries(event="alarm") if e.result == kind]


def hooked(hook, kind: str) -> list[str]:
    return [p["state"] for p in hook.received if p.get("event") == "alarm" and p.get("alarm") == kind]


async def test_a_standing_store_alarm_is_raised_once_not_at_every_card(tmp_path, hook):
    """Every card while the store cannot be written fails the same way (E2); the old door
    wrote a new 'raised' (audit row, state row, webhook, fleet event) for each of them."""
    clock, mono = Clock(UNMANNED), Mono()
    svc, link = door(tmp_path, clock, mono, hook)
    await svc.start()
    try:
        store_fails(svc)
        for _ in range(3):
            sim.tap_card(CARD, name="door")
            out = await svc.next_outcome(5)
            assert not out.granted and out.rules == ("E2",)
        await svc.settle()
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == STORE_ALARM)
        await asyncio.sleep(0.3)  # the webhook workers had time for any more
        assert STORE_ALARM in svc.status()["alarms"]
        assert link.alarm_events() == [(STORE_ALARM, "raised")]
        assert [b["result"] for t, b in link.events if t == "state"] == [STORE_ALARM]
        assert hooked(hook, STORE_ALARM) == ["raised"]
    finally:
        await svc.stop()
    assert audit_alarms(tmp_path, STORE_ALARM) == ["raised"]


async def test_a_store_alarm_standing_at_a_restart_stands_on_without_a_second_raised(tmp_path, hook):
    """Stopped while patron_store_unwritable stood: the restarted door has it in its status (the
    console's retained state) from the start, writes no new 'raised', and clears it once."""
    clock, mono = Clock(UNMANNED), Mono()
    svc, link = door(tmp_path, clock, mono, hook)
    await svc.start()
    try:
        store_fails(svc)
        sim.tap_card(CARD, name="door")
        assert (await svc.next_outcome(5)).rules == ("E2",)
        await svc.settle()
    finally:
        await svc.stop()

    clock.advance(minutes=2)
    mono.t += 120
    svc, link = door(tmp_path, clock, mono, hook)
    await svc.start()
    try:
        assert STORE_ALARM in svc.status()["alarms"]
        assert STORE_ALARM in link.states[0]["alarms"]  # the first retained state already says so
        store_fails(svc)  # the store still cannot be written: the same alarm, not a new one
        sim.tap_card(CARD, name="door")
        assert (await svc.next_outcome(5)).rules == ("E2",)
        await svc.settle()
        assert link.alarm_events() == []
        # Room again: housekeeping's next look clears it, once.
        del svc.store.hold_attempt
        mono.t += RECHECK_SECONDS + 1
        await until(lambda: STORE_ALARM not in svc.status()["alarms"])
        assert link.alarm_events() == [(STORE_ALARM, "cleared")]
        assert link.states[-1]["alarms"] == [] or STORE_ALARM not in link.states[-1]["alarms"]
        assert (await enter(svc)).granted
    finally:
        await svc.stop()
    assert audit_alarms(tmp_path, STORE_ALARM) == ["raised", "cleared"]
    await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == STORE_ALARM and p["state"] == "cleared")
    assert hooked(hook, STORE_ALARM) == ["raised", "cleared"]


async def test_a_forced_door_still_open_at_a_restart_is_not_raised_again(tmp_path, hook):
    """forced_open, then held_open stood when the door was restarted with the door still open:
    both stand again (status, retained state) with no new 'raised' (the old door raised
    forced_open anew: the open door read at start, the strike locked; and held_open again
    after held_open_seconds); closing the door clears each once."""
    clock = Clock(UNMANNED)
    ctrl = open_device("sim://door-controller?name=door")  # given: it stays open (and the door with it) across the restart
    devices = {"lock": [ctrl], "patron_reader": [ctrl], "pinpad": [ctrl], "door_contact": [ctrl], "indicator": [ctrl]}
    svc, link = door(tmp_path, clock, None, hook, devices=devices, held_open_seconds=0.3)
    await svc.start()
    try:
        sim.open_door(name="door")
        await until(lambda: svc.status()["alarms"] == ["forced_open", "held_open"])
    finally:
        await svc.stop()

    clock.advance(seconds=20)
    svc, link = door(tmp_path, clock, None, hook, devices=devices, held_open_seconds=0.3)
    try:
        await svc.start()
        assert ctrl.door_open is True
        assert svc.status()["alarms"] == ["forced_open", "held_open"]
        assert link.states[0]["alarms"] == ["forced_open", "held_open"]
        await asyncio.sleep(0.6)  # twice held_open_seconds, the door still open
        await svc.settle()
        assert link.alarm_events() == []
        sim.close_door(name="door")
        await until(lambda: svc.status()["alarms"] == [])
        await svc.settle()
        assert sorted(link.alarm_events()) == [("forced_open", "cleared"), ("held_open", "cleared")]
    finally:
        await svc.stop()
        await ctrl.close()
    assert audit_alarms(tmp_path, "forced_open") == ["raised", "cleared"]
    assert audit_alarms(tmp_path, "held_open") == ["raised", "cleared"]
    await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "held_open" and p["state"] == "cleared")
    assert hooked(hook, "forced_open") == ["raised", "cleared"]


async def test_a_door_alarm_standing_at_a_restart_with_the_door_closed_is_cleared_at_start(tmp_path):
    """Stopped with the door forced open; closed while the door was down: the restarted door
    finds it closed and writes the 'cleared' the audit was waiting for."""
    clock, mono = Clock(UNMANNED), Mono()
    svc, link = door(tmp_path, clock, mono)
    await svc.start()
    try:
        sim.open_door(name="door")
        await until(lambda: svc.status()["alarms"] == ["forced_open"])
    finally:
        await svc.stop()
    clock.advance(minutes=1)
    mono.t += 60
    svc, link = door(tmp_path, clock, mono)  # a new sim door: closed
    await svc.start()
    try:
        assert svc.status()["alarms"] == []
        assert link.alarm_events() == [("forced_open", "cleared")]
    finally:
        await svc.stop()
    assert audit_alarms(tmp_path, "forced_open") == ["raised", "cleared"]


async def test_a_corrupt_audit_alarm_ends_at_the_restart_with_a_cleared(tmp_path):
    """audit_corrupt stands until the next restart (the old journal was moved aside, the
    new one works): that restart writes its 'cleared' so the audit does not leave it open."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "door-audit.sqlite").write_bytes(b"\x13\x37 not an audit journal " * 400)
    clock, mono = Clock(UNMANNED), Mono()
    svc, _ = door(tmp_path, clock, mono)
    await svc.start()
    assert "audit_corrupt" in svc.status()["alarms"]
    await svc.stop()
    clock.advance(minutes=1)
    svc, link = door(tmp_path, clock, mono)
    await svc.start()
    try:
        assert "audit_corrupt" not in svc.status()["alarms"]
        assert link.alarm_events() == [("audit_corrupt", "cleared")]
    finally:
        await svc.stop()
    assert audit_alarms(tmp_path, "audit_corrupt") == ["raised", "cleared"]
    # A third start: nothing stands, nothing is written about it.
    clock.advance(minutes=1)
    svc, link = door(tmp_path, clock, mono)
    await svc.start()
    await svc.stop()
    assert link.alarm_events() == [] and audit_alarms(tmp_path, "audit_corrupt") == ["raised", "cleared"]
