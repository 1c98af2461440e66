"""Door monitoring: a pure state machine over the strike, the door contact
and the exit button.

Every input is a method that takes the current monotonic time (seconds) and
returns the effects the service must carry out, in order: commands to the
strike and the alarm output, and events for the audit journal and the
webhooks.  Time only moves through those arguments, so the machine is
tested without sleeping.

- A release (entry granted, exit button, staffed free entry) opens a window
  of ``release_seconds``; the door opening inside it is authorised.  The
  strike is relocked as soon as the door closes again, or when the window
  ends with the door still shut.
- The door opening while the strike is locked raises ``forced_open``.
- The door open longer than ``held_open_seconds`` raises ``held_open``
  (not while the door is free in staffed hours).
- An alarm clears when the door closes.  The alarm output is on while any
  alarm stands.
- Each alarm is raised once while it stands (one ``AlarmRaised``, then one
  ``AlarmCleared``).  After a restart the alarms that stood when the service
  stopped are taken back (:meth:`DoorMonitor.restore`, from the audit): they
  are not raised again; the first reading of the contact clears them (door
  closed) or keeps them (door still open: the opening already alarmed, no
  new ``forced_open``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LockState(StrEnum):
    LOCKED = "locked"
    RELEASED = "released"  # a timed release window
    FREE = "free"  # held open for staffed free entry


class DoorState(StrEnum):
    UNKNOWN = "unknown"
    CLOSED = "closed"
    OPEN = "open"


class AlarmKind(StrEnum):
    HELD_OPEN = "held_open"
    FORCED_OPEN = "forced_open"


class ReleaseReason(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    STAFFED = "staffed"


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class ReleaseLock:
    seconds: float
    reason: ReleaseReason


@dataclass(frozen=True, slots=True)
class Relock:
    reason: str  # door_closed / window_ended / staffed_ended


@dataclass(frozen=True, slots=True)
class DoorChanged:
    state: DoorState


@dataclass(frozen=True, slots=True)
class ExitRequested:
    pass


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    kind: AlarmKind


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    kind: AlarmKind
    seconds: float  # how long it stood


@dataclass(frozen=True, slots=True)
class AlarmOutput:
    on: bool


Effect = ReleaseLock | Relock | DoorChanged | ExitRequested | AlarmRaised | AlarmCleared | AlarmOutput


class DoorMonitor:
    def __init__(self, *, release_seconds: float, held_open_seconds: float, exit_releases: bool = True) -> None:
        self.release_seconds = release_seconds
        self.held_open_seconds = held_open_seconds
        self.exit_releases = exit_releases
        self.lock = LockState.LOCKED
        self.door = DoorState.UNKNOWN
        self.release_until: float | None = None
        self.release_reason: ReleaseReason | None = None
        self.opened_at: float | None = None
        self.alarms: dict[AlarmKind, float] = {}
        #: Alarms taken back after a restart (:meth:`restore`), until the contact is first read.
        self._restored = False

    # ---------------------------------------------------------------- inputs

    def restore(self, now: float, standing: dict[AlarmKind, float]) -> list[Effect]:
        """Alarms that stood when the service last stopped (kind -> since, on this clock).

        They stand again without being raised again (the audit and the console
        already have their "raised"); only the alarm output is switched back on.
        Call before the door contact is first read.
        """
        fresh = {kind: min(since, now) for kind, since in standing.items() if kind not in self.alarms}
        if not fresh:
            return []
        first = not self.alarms
        self.alarms.update(fresh)
        self._restored = self.door is DoorState.UNKNOWN
        return [AlarmOutput(True)] if first else []

    def release(self, now: float, reason: ReleaseReason = ReleaseReason.ENTRY, seconds: float | None = None) -> list[Effect]:
        """Open a release window (entry granted or exit requested)."""
        seconds = self.release_seconds if seconds is None else seconds
        if self.lock is LockState.FREE:
            return []
        self.lock = LockState.RELEASED
        self.release_until = now + seconds
        self.release_reason = reason
        return [ReleaseLock(seconds, reason)]

    def set_free(self, now: float, free: bool, seconds: float) -> list[Effect]:
        """Staffed free entry on (strike held released for *seconds*) or off."""
        if free:
            self.lock = LockState.FREE
            self.release_until = now + seconds
            self.release_reason = ReleaseReason.STAFFED
            out: list[Effect] = [ReleaseLock(seconds, ReleaseReason.STAFFED)]
            # An alarm standing when free entry begins clears: the door is meant to be open.
            return out + self._clear_alarms(now)
        if self.lock is not LockState.FREE:
            return []
        self.lock = LockState.LOCKED
        self.release_until = None
        self.release_reason = None
        out = [Relock("staffed_ended")]
        if self.door is DoorState.OPEN:
            # Open at the end of free entry: an authorised opening, timed from now.
            self.opened_at = now
        return out

    def door_opened(self, now: float) -> list[Effect]:
        if self.door is DoorState.OPEN:
            return []
        restored, self._restored = self._restored, False
        self.door = DoorState.OPEN
        self.opened_at = now
        out: list[Effect] = [DoorChanged(DoorState.OPEN)]
        if self.lock is LockState.LOCKED and not restored:
            # (Still open at a restart while its alarm stood: that opening has been alarmed already.)
            out += self._raise(now, AlarmKind.FORCED_OPEN)
        return out

    def door_closed(self, now: float) -> list[Effect]:
        if self.door is DoorState.CLOSED:
            return []
        was_open = self.door is DoorState.OPEN
        self._restored = False
        self.door = DoorState.CLOSED
        self.opened_at = None
        out: list[Effect] = [DoorChanged(DoorState.CLOSED)]
        if was_open and self.lock is LockState.RELEASED:
            self.lock = LockState.LOCKED
            self.release_until = None
            self.release_reason = None
            out.append(Relock("door_closed"))
        return out + self._clear_alarms(now)

    def exit_pressed(self, now: float) -> list[Effect]:
        out: list[Effect] = [ExitRequested()]
        if self.exit_releases and self.lock is LockState.LOCKED:
            out += self.release(now, ReleaseReason.EXIT)
        return out

    def tick(self, now: float) -> list[Effect]:
        """Timers: the end of a release window, the held-open limit."""
        out: list[Effect] = []
        if self.lock is LockState.RELEASED and self.release_until is not None and now >= self.release_until:
            self.lock = LockState.LOCKED
            self.release_until = None
            self.release_reason = None
            out.append(Relock("window_ended"))
        if (
            self.door is DoorState.OPEN
            and self.lock is not LockState.FREE
            and self.opened_at is not None
            and now - self.opened_at >= self.held_open_seconds
            and AlarmKind.HELD_OPEN not in self.alarms
        ):
            out += self._raise(now, AlarmKind.HELD_OPEN)
        return out

    def next_deadline(self) -> float | None:
        """The next time :meth:`tick` has something to do, or None."""
        times = []
        if self.lock is LockState.RELEASED and self.release_until is not None:
            times.append(self.release_until)
        if (
            self.door is DoorState.OPEN
            and self.lock is not LockState.FREE
            and self.opened_at is not None
            and AlarmKind.HELD_OPEN not in self.alarms
        ):
            times.append(self.opened_at + self.held_open_seconds)
        return min(times) if times else None

    # ---------------------------------------------------------------- helpers

    def _raise(self, now: float, kind: AlarmKind) -> list[Effect]:
        if kind in self.alarms:
            return []
        first = not self.alarms
        self.alarms[kind] = now
        out: list[Effect] = [AlarmRaised(kind)]
        if first:
            out.append(AlarmOutput(True))
        return out

    def _clear_alarms(self, now: float) -> list[Effect]:
        if not self.alarms:
            return []
        out: list[Effect] = [AlarmCleared(kind, now - since) for kind, since in self.alarms.items()]
        self.alarms.clear()
        out.append(AlarmOutput(False))
        return out
