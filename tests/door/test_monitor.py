"""Door monitor state machine: release window, relock, held-open, forced-open."""

from __future__ import annotations

from kiosk.door.monitor import (
    AlarmCleared,
    AlarmKind,
    AlarmOutput,
    AlarmRaised,
    DoorChanged,
    DoorMonitor,
    DoorState,
    ExitRequested,
    LockState,
    ReleaseLock,
    ReleaseReason,
    Relock,
)


def m() -> DoorMonitor:
    mon = DoorMonitor(release_seconds=8, held_open_seconds=30)
    mon.door_closed(0)
    return mon


def test_entry_opens_window_and_relocks_when_door_closes():
    mon = m()
    assert mon.release(10) == [ReleaseLock(8, ReleaseReason.ENTRY)]
    assert mon.next_deadline() == 18
    assert mon.door_opened(12) == [DoorChanged(DoorState.OPEN)]
    assert mon.door_closed(14) == [DoorChanged(DoorState.CLOSED), Relock("door_closed")]
    assert mon.lock is LockState.LOCKED and mon.next_deadline() is None


def test_window_ends_unused():
    mon = m()
    mon.release(10)
    assert mon.tick(17.9) == []
    assert mon.tick(18) == [Relock("window_ended")]
    assert mon.door_opened(19) == [DoorChanged(DoorState.OPEN), AlarmRaised(AlarmKind.FORCED_OPEN), AlarmOutput(True)]


def test_forced_open_clears_on_close():
    mon = m()
    mon.door_opened(5)
    assert mon.alarms.keys() == {AlarmKind.FORCED_OPEN}
    out = mon.door_closed(7)
    assert out == [DoorChanged(DoorState.CLOSED), AlarmCleared(AlarmKind.FORCED_OPEN, 2), AlarmOutput(False)]


def test_held_open_after_limit_then_cleared():
    mon = m()
    mon.release(0)
    mon.door_opened(1)
    assert mon.tick(8) == [Relock("window_ended")]  # the strike relocks, the door is still (legitimately) open
    assert mon.next_deadline() == 31
    assert mon.tick(30.9) == []
    assert mon.tick(31) == [AlarmRaised(AlarmKind.HELD_OPEN), AlarmOutput(True)]
    assert mon.tick(60) == []  # raised once
    assert mon.door_closed(61) == [DoorChanged(DoorState.CLOSED), AlarmCleared(AlarmKind.HELD_OPEN, 30), AlarmOutput(False)]


def test_forced_then_held_share_the_output():
    mon = m()
    mon.door_opened(0)
    out = mon.tick(30)
    assert out == [AlarmRaised(AlarmKind.HELD_OPEN)]
    out = mon.door_closed(31)
    assert out.count(AlarmOutput(False)) == 1 and len([e for e in out if isinstance(e, AlarmCleared)]) == 2


def test_exit_button_releases():
    mon = m()
    assert mon.exit_pressed(0) == [ExitRequested(), ReleaseLock(8, ReleaseReason.EXIT)]
    assert mon.door_opened(1) == [DoorChanged(DoorState.OPEN)]
    assert mon.exit_pressed(2) == [ExitRequested()]  # already released


def test_staffed_free_entry_never_alarms():
    mon = m()
    out = mon.set_free(0, True, 3600)
    assert out == [ReleaseLock(3600, ReleaseReason.STAFFED)]
    mon.door_opened(1)
    assert mon.tick(1000) == [] and mon.next_deadline() is None
    mon.door_closed(1001)
    assert mon.lock is LockState.FREE  # closing does not relock in free mode
    mon.door_opened(1002)
    assert mon.set_free(1003, False, 0) == [Relock("staffed_ended")]
    assert mon.tick(1033) == [AlarmRaised(AlarmKind.HELD_OPEN), AlarmOutput(True)]


def test_free_mode_clears_standing_alarm():
    mon = m()
    mon.door_opened(0)
    out = mon.set_free(1, True, 100)
    assert AlarmOutput(False) in out and not mon.alarms


# --------------------------------------------------------------------------- alarms across a restart


def test_restored_alarm_is_not_raised_again_when_the_door_is_still_open():
    """A restart while held_open stood: it stands again (output on), no AlarmRaised, and the
    open door read at start is the opening already alarmed (no new forced_open)."""
    mon = DoorMonitor(release_seconds=8, held_open_seconds=30)
    assert mon.restore(100, {AlarmKind.HELD_OPEN: 40}) == [AlarmOutput(True)]
    assert mon.door_opened(100) == [DoorChanged(DoorState.OPEN)]
    assert mon.tick(200) == []  # held_open stands: not raised again
    assert mon.door_closed(210) == [DoorChanged(DoorState.CLOSED), AlarmCleared(AlarmKind.HELD_OPEN, 170), AlarmOutput(False)]
    # A later forced opening is a new alarm.
    assert mon.door_opened(220) == [DoorChanged(DoorState.OPEN), AlarmRaised(AlarmKind.FORCED_OPEN), AlarmOutput(True)]


def test_restored_alarm_clears_when_the_door_is_found_closed():
    mon = DoorMonitor(release_seconds=8, held_open_seconds=30)
    mon.restore(50, {AlarmKind.FORCED_OPEN: 45})
    out = mon.door_closed(50)
    assert out == [DoorChanged(DoorState.CLOSED), AlarmCleared(AlarmKind.FORCED_OPEN, 5), AlarmOutput(False)]


def test_restore_after_the_first_reading_changes_nothing_about_forced_open():
    mon = m()  # contact read already
    mon.restore(5, {AlarmKind.HELD_OPEN: 1})
    out = mon.door_opened(6)
    assert AlarmRaised(AlarmKind.FORCED_OPEN) in out and AlarmOutput(True) not in out  # the output is on already
    assert mon.restore(7, {AlarmKind.FORCED_OPEN: 1}) == []  # stands already
