"""Schedule driver (pure) and the service's announcements, outputs and building-empty check."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from devices import sim
from kiosk.door.audit import AuditJournal
from kiosk.door.schedule import Announce, ClosingCheck, PeriodChanged, ScheduleDriver, announcement_sound
from kiosk.door.service import DoorService
from policy import PeriodKind, Schedule

from .conftest import SCHEDULE, Clock, door_config, local
from .test_service_sim import CARD, FAST, PIN, StaticLibrary, enter, patron

SCHED = Schedule.model_validate(SCHEDULE)


def test_driver_reports_periods_announcements_and_closing():
    d = ScheduleDriver(SCHED, None)
    t = local(2026, 11, 23, 21, 40)
    (first,) = d.poll(t)
    assert isinstance(first, PeriodChanged) and first.new.kind is PeriodKind.UNMANNED and first.old is None
    got = []
    while t < local(2026, 11, 23, 22, 1):
        t += timedelta(seconds=30)
        got += d.poll(t)
    anns = [e.announcement.minutes_before for e in got if isinstance(e, Announce)]
    assert anns == [15, 10, 5]
    kinds = [type(e) for e in got if not isinstance(e, Announce)]
    assert kinds == [PeriodChanged, ClosingCheck]


def test_missed_announcements_are_not_played_late():
    d = ScheduleDriver(SCHED, None)
    d.poll(local(2026, 11, 23, 21, 0))
    got = d.poll(local(2026, 11, 23, 21, 56))  # the service was stalled for 56 minutes
    assert [e.announcement.minutes_before for e in got if isinstance(e, Announce)] == [5]


def test_staffed_to_unmanned_has_no_closing_check():
    d = ScheduleDriver(SCHED, None)
    d.poll(local(2026, 11, 23, 11, 59))
    got = d.poll(local(2026, 11, 23, 12, 0))
    assert [type(e) for e in got] == [PeriodChanged]


def test_announcement_sound_lookup(tmp_path):
    assert announcement_sound(tmp_path, 5) is None
    (tmp_path / "closing.wav").write_bytes(b"RIFF")
    (tmp_path / "closing-5.wav").write_bytes(b"RIFF")
    assert announcement_sound(tmp_path, 5).name == "closing-5.wav"
    assert announcement_sound(tmp_path, 10).name == "closing.wav"


async def test_service_announces_switches_outputs_and_checks_the_building(tmp_path, hook):
    played = tmp_path / "played.txt"
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    (sounds / "closing-15.wav").write_bytes(b"RIFF....WAVE")
    (sounds / "closing.wav").write_bytes(b"RIFF....WAVE")
    cmd = [sys.executable, "-c", f"import sys; open({str(played)!r}, 'a').write(sys.argv[1] + '\\n')"]
    clock = Clock(local(2026, 11, 23, 21, 44))
    lib = StaticLibrary({CARD: (PIN, patron())})
    cfg = door_config(
        tmp_path, webhooks=[hook.url], announcement_sounds=str(sounds), sound_command=cmd,
        closing_outputs=["sim://lock?name=sign"], building_empty_check=True,
    )
    messages = []
    svc = DoorService(cfg, library=lib, clock=clock, tick_seconds=0.02, scrypt=FAST, on_message=messages.append)
    await svc.start()
    try:
        assert (await enter(svc)).granted  # one person in, nobody out
        for _ in range(17 * 2):
            clock.advance(seconds=30)
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.3)
        assert svc.status()["period"]["kind"] == "closed"
        assert sim.lock_history(name="sign")[0][0] == "release"
        assert sim.lock_history(name="sign")[-1] == ("lock", None)
    finally:
        await svc.stop()
    lines = played.read_text().split()
    assert [p.rsplit("/", 1)[-1] for p in lines] == ["closing-15.wav", "closing.wav", "closing.wav"]
    assert [m.text for m in messages if m.kind == "announcement"] == [
        "De bibliotheek sluit over 15 minuten.", "De bibliotheek sluit over 10 minuten.", "De bibliotheek sluit over 5 minuten.",
    ]
    check = await asyncio.to_thread(hook.wait_for, lambda p: p["event"] == "building_empty_check")
    assert check["state"] == "occupied" and check["estimate"] == 1
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        assert j.last("building.empty_check").result == "occupied"
        assert len(j.entries(event="announcement")) == 3


def test_holidays_and_special_days_come_from_the_schedule():
    data = {**SCHEDULE, "branches": {"default": {
        **SCHEDULE["branches"]["default"],
        "exceptions": [
            {"date": "2026-12-25", "closed": True, "note": "Kerstmis"},
            {"date": "2026-12-24", "periods": [{"kind": "unmanned", "from": "10:00", "until": "16:00"}]},
        ],
    }}}
    d = ScheduleDriver(Schedule.model_validate(data), None)
    assert d.period_at(local(2026, 12, 25, 14, 0)).kind is PeriodKind.CLOSED
    assert d.period_at(local(2026, 12, 24, 10, 30)).kind is PeriodKind.UNMANNED  # normally staffed
    got = []
    t = local(2026, 12, 24, 15, 40)
    d.poll(t)
    while t < local(2026, 12, 24, 16, 1):
        t += timedelta(seconds=30)
        got += d.poll(t)
    assert [e.announcement.minutes_before for e in got if isinstance(e, Announce)] == [15, 10, 5]
    assert any(isinstance(e, ClosingCheck) for e in got)
