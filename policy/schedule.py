"""Opening schedule: staffed, unmanned and closed periods per branch.

The ``[schedule]`` table of the configuration::

    [schedule]
    announcements = [15, 10, 5]          # minutes before an unmanned period closes

    [schedule.branches.hoofdbib]
    monday = [
      { kind = "staffed",  from = "09:00", until = "12:00" },
      { kind = "unmanned", from = "12:00", until = "22:00" },
    ]
    friday = [ { kind = "unmanned", from = "20:00", until = "02:00" } ]   # across midnight
    exceptions = [
      { date = 2024-12-25, closed = true, note = "Kerstmis" },
      { date = 2024-12-24, periods = [ { kind = "staffed", from = "09:00", until = "12:00" } ] },
    ]

Times are wall-clock ``"HH:MM"`` strings in the library's local time;
``until`` may be ``"24:00"``, and an ``until`` at or before ``from`` means the
period runs past midnight into the next day.  Time not covered by any period
is closed.  A period belongs to the day it starts on: an exception date
replaces the periods that start on that date, and where a period from the
day before runs into a period that starts later, the later one wins from its
start (so ``closed = true`` on a date closes that whole date).  A branch
missing from ``branches`` uses the branch named ``default`` if there is one.

The functions take and return datetimes in that wall-clock time.  Aware
datetimes are treated by their own wall clock and results carry the same
tzinfo (a DST jump is not adjusted for).  Adjacent periods of the same kind
merge into one, so a period's ``end`` is the next change of kind.
"""

from __future__ import annotations

import datetime as _dt
import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .errors import UnknownBranch
from .models import PeriodKind

WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_MINUTES = 24 * 60
#: How far ``period_at`` and ``next_change`` look for a change of kind.
HORIZON_DAYS = 400

_HHMM = re.compile(r"(\d\d):(\d\d)")
_CLOSED, _UNMANNED = PeriodKind.CLOSED, PeriodKind.UNMANNED


def _hhmm(value: Any, *, allow_24: bool) -> str:
    if isinstance(value, _dt.time) and not value.second and not value.microsecond and value.tzinfo is None:
        return f"{value.hour:02d}:{value.minute:02d}"
    if isinstance(value, str):
        match = _HHMM.fullmatch(value.strip())
        if match:
            hours, minutes = int(match[1]), int(match[2])
            if (hours < 24 and minutes < 60) or (allow_24 and hours == 24 and minutes == 0):
                return f"{hours:02d}:{minutes:02d}"
    raise PydanticCustomError("hhmm", "expected HH:MM")


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


class PeriodSpec(BaseModel):
    """One period of a day: ``{kind, from, until}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: PeriodKind
    start: str = Field(alias="from")
    until: str

    @field_validator("start", mode="before")
    @classmethod
    def _check_start(cls, value: Any) -> str:
        return _hhmm(value, allow_24=False)

    @field_validator("until", mode="before")
    @classmethod
    def _check_until(cls, value: Any) -> str:
        return _hhmm(value, allow_24=True)

    @model_validator(mode="after")
    def _not_empty(self) -> PeriodSpec:
        if self.start == self.until:
            raise PydanticCustomError("empty_period", "period is empty: from equals until")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        """Minutes after the start day's midnight; above 1440 when the period runs past midnight."""
        end = _minutes(self.until)
        return end if end > self.start_minute else end + DAY_MINUTES


def _check_overlap(periods: list[PeriodSpec], spill_in: int = 0) -> None:
    """Periods of one day must not overlap each other (nor what runs in from the day before)."""
    spans = sorted((p.start_minute, p.end_minute) for p in periods)
    last_end = spill_in
    for start, end in spans:
        if start < last_end:
            raise PydanticCustomError(
                "overlap", "periods overlap at {at}", {"at": f"{start // 60:02d}:{start % 60:02d}"}
            )
        last_end = end


class ExceptionDay(BaseModel):
    """A date with other hours: closed all day, or its own periods (holidays, special hours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: _dt.date
    closed: bool = False
    periods: list[PeriodSpec] = Field(default_factory=list)
    note: str | None = None

    @model_validator(mode="after")
    def _closed_or_periods(self) -> ExceptionDay:
        if self.closed and self.periods:
            raise PydanticCustomError("exception_day", "give either closed = true or periods, not both")
        if not self.closed and not self.periods:
            raise PydanticCustomError("exception_day", "give closed = true or at least one period")
        _check_overlap(self.periods)
        return self


class BranchSchedule(BaseModel):
    """The week of one branch, plus its exception dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    monday: list[PeriodSpec] = Field(default_factory=list)
    tuesday: list[PeriodSpec] = Field(default_factory=list)
    wednesday: list[PeriodSpec] = Field(default_factory=list)
    thursday: list[PeriodSpec] = Field(default_factory=list)
    friday: list[PeriodSpec] = Field(default_factory=list)
    saturday: list[PeriodSpec] = Field(default_factory=list)
    sunday: list[PeriodSpec] = Field(default_factory=list)
    exceptions: list[ExceptionDay] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> BranchSchedule:
        for index, name in enumerate(WEEKDAYS):
            before = getattr(self, WEEKDAYS[index - 1])
            spill = max((p.end_minute - DAY_MINUTES for p in before), default=0)
            periods = getattr(self, name)
            try:
                _check_overlap(periods, max(spill, 0))
            except PydanticCustomError as exc:
                raise PydanticCustomError("overlap", f"{name}: {exc.message()}") from None
        seen: set[_dt.date] = set()
        for exc_day in self.exceptions:
            if exc_day.date in seen:
                raise PydanticCustomError(
                    "duplicate_date", "exception date {date} is given twice", {"date": exc_day.date.isoformat()}
                )
            seen.add(exc_day.date)
        return self

    def periods_on(self, day: _dt.date) -> list[tuple[int, int, PeriodKind]]:
        """(start minute, end minute, kind) of the periods that start on *day*, exceptions applied."""
        for exc_day in self.exceptions:
            if exc_day.date == day:
                if exc_day.closed:
                    return [(0, DAY_MINUTES, _CLOSED)]
                return [(p.start_minute, p.end_minute, p.kind) for p in exc_day.periods]
        return [(p.start_minute, p.end_minute, p.kind) for p in getattr(self, WEEKDAYS[day.weekday()])]


class Schedule(BaseModel):
    """The ``[schedule]`` table: branches and closing announcements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    branches: dict[str, BranchSchedule] = Field(default_factory=dict)
    #: Minutes before an unmanned period closes at which to announce it.
    announcements: list[int] = Field(default_factory=lambda: [15, 10, 5])

    @field_validator("announcements")
    @classmethod
    def _announcements(cls, value: list[int]) -> list[int]:
        for minutes in value:
            if not 1 <= minutes <= DAY_MINUTES:
                raise PydanticCustomError("announcement", "announcement minutes must be between 1 and 1440")
        if len(set(value)) != len(value):
            raise PydanticCustomError("announcement", "announcement minutes are given twice")
        return sorted(value, reverse=True)


class Period(BaseModel):
    """A stretch of one kind.  ``start``/``end`` are None when no change lies within HORIZON_DAYS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: PeriodKind
    start: datetime | None
    end: datetime | None


class Announcement(BaseModel):
    """Announce at ``at`` that the unmanned period closes in ``minutes_before`` minutes (at ``period_end``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    minutes_before: int
    period_end: datetime
    branch: str


def _branch(schedule: Schedule, branch: str | None) -> BranchSchedule:
    found = schedule.branches.get(branch) if branch is not None else None
    if found is None:
        found = schedule.branches.get("default")
    if found is None:
        raise UnknownBranch(f"the schedule has no branch {branch!r} and no 'default' branch")
    return found


def _segments(bs: BranchSchedule, lo: _dt.date, hi: _dt.date) -> list[list]:
    """Merged [start, end, kind] covering [lo 00:00, hi 00:00) exactly, gaps closed."""
    raw: list[tuple[datetime, datetime, PeriodKind]] = []
    day = lo - timedelta(days=1)
    while day < hi:
        midnight = datetime(day.year, day.month, day.day)
        for start, end, kind in bs.periods_on(day):
            raw.append((midnight + timedelta(minutes=start), midnight + timedelta(minutes=end), kind))
        day += timedelta(days=1)
    raw.sort(key=lambda r: r[0])
    window_lo = datetime(lo.year, lo.month, lo.day)
    window_hi = datetime(hi.year, hi.month, hi.day)
    out: list[list] = []

    def push(start: datetime, end: datetime, kind: PeriodKind) -> None:
        if out and out[-1][2] is kind and out[-1][1] == start:
            out[-1][1] = end
        else:
            out.append([start, end, kind])

    cursor = window_lo
    for index, (start, end, kind) in enumerate(raw):
        if index + 1 < len(raw) and raw[index + 1][0] < end:
            end = raw[index + 1][0]  # the later period wins from its start
        start, end = max(start, window_lo), min(end, window_hi)
        if end <= start:
            continue
        if start > cursor:
            push(cursor, start, _CLOSED)
        push(start, end, kind)
        cursor = end
    if cursor < window_hi:
        push(cursor, window_hi, _CLOSED)
    return out


def _wall(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo is not None else at


def period_at(schedule: Schedule, branch: str | None, at: datetime) -> Period:
    """The period (kind, start, end) that *at* falls in; start inclusive, end exclusive."""
    bs = _branch(schedule, branch)
    wall = _wall(at)
    day = wall.date()
    back, ahead = 1, 2
    while True:
        lo, hi = day - timedelta(days=back), day + timedelta(days=ahead)
        segs = _segments(bs, lo, hi)
        seg = next(s for s in segs if s[0] <= wall < s[1])
        open_lo = seg[0] == datetime(lo.year, lo.month, lo.day)
        open_hi = seg[1] == datetime(hi.year, hi.month, hi.day)
        grow_lo = open_lo and back < HORIZON_DAYS
        grow_hi = open_hi and ahead < HORIZON_DAYS
        if not (grow_lo or grow_hi):
            break
        if grow_lo:
            back = min(back * 4, HORIZON_DAYS)
        if grow_hi:
            ahead = min(ahead * 4, HORIZON_DAYS)
    tz = at.tzinfo
    start = None if open_lo else seg[0].replace(tzinfo=tz)
    end = None if open_hi else seg[1].replace(tzinfo=tz)
    return Period(kind=seg[2], start=start, end=end)


def next_change(schedule: Schedule, branch: str | None, at: datetime) -> datetime | None:
    """When the kind of period changes next after *at* (None if not within HORIZON_DAYS)."""
    return period_at(schedule, branch, at).end


def announcements_due(schedule: Schedule, branch: str | None, since: datetime, until: datetime) -> list[Announcement]:
    """Closing announcements due in the half-open interval (*since*, *until*], oldest first.

    An announcement is due ``m`` minutes (each of ``schedule.announcements``)
    before an unmanned period ends in a closed one, if the unmanned period
    had begun by then.  Unmanned followed by staffed is no closing and is
    not announced.  Call with consecutive intervals and nothing is missed
    or repeated.
    """
    bs = _branch(schedule, branch)
    lo_wall, hi_wall = _wall(since), _wall(until)
    if hi_wall <= lo_wall or not schedule.announcements:
        return []
    longest = timedelta(minutes=max(schedule.announcements))
    lo = lo_wall.date() - timedelta(days=1)
    hi = (hi_wall + longest).date() + timedelta(days=2)
    segs = _segments(bs, lo, hi)
    tz = until.tzinfo
    name = branch if branch is not None else "default"
    due: list[Announcement] = []
    for index in range(len(segs) - 1):
        start, end, kind = segs[index]
        if kind is not _UNMANNED or segs[index + 1][2] is not _CLOSED:
            continue
        if end <= lo_wall or end - longest > hi_wall:
            continue
        for minutes in schedule.announcements:
            moment = end - timedelta(minutes=minutes)
            if lo_wall < moment <= hi_wall and moment >= start:
                due.append(
                    Announcement(
                        at=moment.replace(tzinfo=tz),
                        minutes_before=minutes,
                        period_end=end.replace(tzinfo=tz),
                        branch=name,
                    )
                )
    due.sort(key=lambda a: a.at)
    return due
