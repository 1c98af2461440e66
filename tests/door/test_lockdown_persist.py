"""A lockdown is on record in the audit and stands again after a restart until staff
resume; what a corrupt record means (docs/door.md, "Lockdown across a restart").

In-process, sim:// devices and real files (the SIGKILL of the real process, with
OSDP and the fleet, is tests/fleet/test_door_lockdown_restart.py).  The old door
kept the lockdown in memory only: every restart here was back in normal service.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

from devices import sim
from kiosk.door.audit import AuditJournal, standing_lockdown
from kiosk.door.service import DoorService
from kiosk.fleet.door import DoorFleet

from .conftest import STAFFED, UNMANNED, Clock, door_config
from .test_alarms_once import FakeLink, audit_alarms, hooked
from .test_service_sim import CARD, FAST, PIN, StaticLibrary, enter, patron

ALARM = "lockdown_unconfirmed"


def door(tmp_path, clock, hook=None, **kw) -> tuple[DoorService, FakeLink]:
    cfg = door_config(tmp_path, **({"webhooks": [hook.url]} if hook else {}), **kw)
    svc = DoorService(cfg, library=StaticLibrary({CARD: (PIN, patron())}), clock=clock, monotonic=time.monotonic,
                      tick_seconds=0.05, scrypt=FAST, webhook_options={"backoff": 0.05})
    link = FakeLink()
    DoorFleet(svc).attach(link)
    return svc, link


async def locked_down(tmp_path, clock, reason: str = "incident") -> None:
    """A door locked down by anna (on record in its audit), then stopped."""
    svc, _ = door(tmp_path, clock)
    await svc.start()
    try:
        await svc.remote_lockdown(staff="anna", reason=reason)
    finally:
        await svc.stop()


async def refused_ld(svc: DoorService) -> None:
    sim.tap_card(CARD, name="door")
    out = await svc.next_outcome(5)
    assert (out.granted, out.rules) == (False, ("LD",)), out


def test_standing_lockdown_is_the_last_lockdown_without_a_resume():
    t = UNMANNED
    assert standing_lockdown([]) is None
    rows = [(1, t, "lockdown", "staff=anna reason=fire drill at 9"), (2, t, "release", "staff=x reason=y")]
    got = standing_lockdown(rows)
    assert (got.seq, got.staff, got.reason) == (1, "anna", "fire drill at 9")
    assert standing_lockdown([*rows, (3, t, "resume", "staff=bert reason=ok")]) is None
    again = standing_lockdown([*rows, (3, t, "resume", "staff=bert reason=ok"), (4, t, "lockdown", "staff=carl reason=")])
    assert (again.seq, again.staff, again.reason) == (4, "carl", "")


async def test_a_lockdown_in_staffed_free_entry_stands_after_a_restart_no_free_entry(tmp_path):
    """Locked down in staffed hours (free entry): the restarted door does not release the strike
    for free entry; the card is refused LD; status and the retained state say lockdown."""
    clock = Clock(STAFFED)
    svc, _ = door(tmp_path, clock)
    await svc.start()
    try:
        assert svc.monitor.lock.value == "free"
        await svc.remote_lockdown(staff="anna", reason="incident")
    finally:
        await svc.stop()
    clock.advance(minutes=5)
    svc, link = door(tmp_path, clock)
    await svc.start()
    try:
        st = svc.status()
        assert st["lockdown"] is True and st["lock"] == "locked"
        assert st["lockdown_info"]["staff"] == "anna" and st["lockdown_info"]["reason"] == "incident"
        assert st["lockdown_info"]["recorded"] is True and st["lockdown_info"]["restored"] is True
        assert link.states[-1]["mode"] == "lockdown" and link.states[0]["mode"] == "lockdown"
        assert all(cmd == "lock" for cmd, _ in sim.lock_history(name="door"))  # never released at this start
        await refused_ld(svc)
        await svc.remote_resume(staff="bert", reason="all clear")
        assert svc.monitor.lock.value == "free" and link.states[-1]["mode"] == "staffed"
    finally:
        await svc.stop()
    svc, _ = door(tmp_path, clock)
    await svc.start()
    try:
        assert svc.status()["lockdown"] is False and svc.monitor.lock.value == "free"
    finally:
        await svc.stop()


async def test_purge_keeps_the_row_of_a_standing_lockdown(tmp_path):
    """A lockdown older than the audit retention still stands: its row is not purged (the
    rows around it are); once resumed, it goes with the others."""
    clock = Clock(UNMANNED)
    await locked_down(tmp_path, clock, reason="long works")
    path = tmp_path / "state" / "door-audit.sqlite"
    with AuditJournal(path) as j:
        later = clock() + timedelta(days=40)
        assert j.purge(later, 28) > 0
        kept = j.lockdown()
        assert kept is not None and kept.staff == "anna"
        assert [e.result for e in j.entries(event="remote")] == ["lockdown"]
    clock.advance(days=40)
    svc, _ = door(tmp_path, clock)
    await svc.start()
    try:
        assert svc.status()["lockdown"] is True
        await refused_ld(svc)
        await svc.remote_resume(staff="anna", reason="done")
    finally:
        await svc.stop()
    with AuditJournal(path) as j:
        j.purge(clock() + timedelta(days=40), 28)
        assert j.lockdown() is None and j.entries(event="remote") == []


def corrupt_but_readable(path) -> None:
    """quick_check fails (a NOT NULL the rows break), the rows themselves still read."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA writable_schema=ON")
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name='audit'").fetchone()[0]
    db.execute("UPDATE sqlite_master SET sql=? WHERE name='audit'", (sql.replace("card_ref TEXT,", "card_ref TEXT NOT NULL,"),))
    db.commit()
    db.close()
    assert sqlite3.connect(path).execute("PRAGMA quick_check").fetchone()[0] != "ok"


async def test_a_corrupt_audit_whose_lockdown_can_be_read_locks_down_again(tmp_path):
    """The journal is corrupt (moved aside) but its lockdown row reads: the door locks down again
    and writes the lockdown into the new journal, so the next restart finds it too."""
    clock = Clock(UNMANNED)
    await locked_down(tmp_path, clock)
    corrupt_but_readable(tmp_path / "state" / "door-audit.sqlite")
    for _ in range(2):
        svc, _ = door(tmp_path, clock)
        await svc.start()
        try:
            st = svc.status()
            assert st["lockdown"] is True and st["lockdown_info"]["staff"] == "anna"
            assert ALARM not in st["alarms"]
            await refused_ld(svc)
        finally:
            await svc.stop()
    assert list((tmp_path / "state").glob("door-audit.sqlite.corrupt-*"))


async def test_an_unreadable_lockdown_record_normal_service_and_a_standing_alarm_until_staff_decide(tmp_path, hook):
    """The journal is garbage (moved aside, nothing can be read from it): whether a lockdown stood
    cannot be confirmed.  Corrupt state does not keep the door out of service: normal unmanned
    entry, locked; the alarm lockdown_unconfirmed stands (status, retained state, webhook), also
    across a restart, until staff resume (or lock down)."""
    clock = Clock(UNMANNED)
    await locked_down(tmp_path, clock)
    state = tmp_path / "state"
    for name in ("door-audit.sqlite", "door-audit.sqlite-wal", "door-audit.sqlite-shm"):
        if (state / name).exists():
            (state / name).unlink()
    (state / "door-audit.sqlite").write_bytes(b"garbage, not a database " * 200)
    svc, link = door(tmp_path, clock, hook=hook)
    await svc.start()
    try:
        st = svc.status()
        assert st["lockdown"] is False and st["lock"] == "locked"
        assert ALARM in st["alarms"] and "audit_corrupt" in st["alarms"]
        assert ALARM in link.states[-1]["alarms"] and link.states[-1]["mode"] == "unmanned"
        out = await enter(svc)
        assert out.granted, out  # in service
        hook.wait_for(lambda p: p.get("alarm") == ALARM and p["state"] == "raised")
    finally:
        await svc.stop()
    svc, link = door(tmp_path, clock, hook=hook)
    await svc.start()
    try:
        assert ALARM in svc.status()["alarms"]  # stands until staff decide, not raised again
        await svc.remote_resume(staff="bert", reason="no lockdown wanted")
        assert ALARM not in svc.status()["alarms"] and ALARM not in link.states[-1]["alarms"]
        hook.wait_for(lambda p: p.get("alarm") == ALARM and p["state"] == "cleared")
    finally:
        await svc.stop()
    assert audit_alarms(tmp_path, ALARM) == ["raised", "cleared"]
    assert hooked(hook, ALARM) == ["raised", "cleared"]
