"""The schedule driver: period changes, closing announcements, the building-empty check.

:class:`ScheduleDriver` is polled with the current time and returns what
happened since the previous poll, using the policy's schedule functions
(``period_at``, ``announcements_due``).  It never sleeps and never reads a
clock itself, so a test drives it with any times it likes; the service polls
it every ``tick`` seconds with its clock.

Events:

- :class:`PeriodChanged` (also once at the first poll): staffed / unmanned /
  closed;
- :class:`Announce`: ``m`` minutes before an unmanned period ends in a closed
  one (``schedule.announcements``, e.g. 15, 10, 5);
- :class:`ClosingCheck`: an unmanned period has just ended in a closed one:
  time for the building-empty check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from policy import Announcement, Period, PeriodKind, Schedule, announcements_due, period_at


@dataclass(frozen=True, slots=True)
class PeriodChanged:
    old: Period | None
    new: Period


@dataclass(frozen=True, slots=True)
class Announce:
    announcement: Announcement


@dataclass(frozen=True, slots=True)
class ClosingCheck:
    at: datetime
    ended: Period


ScheduleEvent = PeriodChanged | Announce | ClosingCheck

#: Missed announcements older than this (the service was down) are not played late.
STALE_ANNOUNCEMENT = timedelta(minutes=2)


class ScheduleDriver:
    def __init__(self, schedule: Schedule, branch: str | None) -> None:
        self.schedule = schedule
        self.branch = branch
        self.period: Period | None = None
        self._last: datetime | None = None

    def period_at(self, at: datetime) -> Period:
        return period_at(self.schedule, self.branch, at)

    def poll(self, now: datetime) -> list[ScheduleEvent]:
        out: list[ScheduleEvent] = []
        current = self.period_at(now)
        previous = self.period
        if previous is None or current.kind is not previous.kind or current.start != previous.start:
            out.append(PeriodChanged(previous, current))
            if (
                previous is not None
                and previous.kind is PeriodKind.UNMANNED
                and current.kind is PeriodKind.CLOSED
            ):
                out.append(ClosingCheck(now, previous))
            self.period = current
        if self._last is not None and now > self._last:
            for ann in announcements_due(self.schedule, self.branch, self._last, now):
                if now - ann.at <= STALE_ANNOUNCEMENT:
                    out.append(Announce(ann))
        self._last = now
        return out


def announcement_sound(directory: Path | None, minutes_before: int) -> Path | None:
    """The WAV for an announcement: ``closing-<m>.wav`` if present, else ``closing.wav``."""
    if directory is None:
        return None
    for name in (f"closing-{minutes_before}.wav", "closing.wav"):
        path = directory / name
        if path.is_file():
            return path
    return None


#: The chime shipped with bibkiosk (used when ``announcement_sounds`` is not set).
DEFAULT_SOUNDS = Path(__file__).resolve().parent.parent / "sounds" / "door"
