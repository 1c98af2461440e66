"""Opening schedule: period edges, holidays, across midnight, next change, closing announcements."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from policy import (
    Announcement,
    Period,
    PeriodKind,
    Schedule,
    UnknownBranch,
    announcements_due,
    next_change,
    period_at,
)

ST, UN, CL = PeriodKind.STAFFED, PeriodKind.UNMANNED, PeriodKind.CLOSED

TOML = """
[schedule]
announcements = [5, 15, 10]

[schedule.branches.annen]
monday = [
  { kind = "staffed",  from = "09:00", until = "12:00" },
  { kind = "unmanned", from = "12:00", until = "22:00" },
]
tuesday = [
  { kind = "unmanned", from = "08:00", until = "10:00" },
  { kind = "staffed",  from = "10:00", until = "17:00" },
]
wednesday = [ { kind = "staffed", from = "09:00", until = "12:00" }, { kind = "staffed", from = "12:00", until = "17:00" } ]
friday = [ { kind = "unmanned", from = "20:00", until = "02:00" } ]
saturday = [ { kind = "unmanned", from = "10:00", until = "10:10" } ]
exceptions = [
  { date = 2024-12-25, closed = true, note = "Kerstmis" },
  { date = 2024-12-24, periods = [ { kind = "staffed", from = "09:00", until = "12:00" } ] },
  { date = 2024-12-28, closed = true },
]

[schedule.branches.default]
sunday = [ { kind = "unmanned", from = "00:00", until = "24:00" } ]
"""

SCHEDULE = Schedule.model_validate(tomllib.loads(TOML)["schedule"])
MON = datetime(2024, 12, 16)  # a Monday
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))


def at(day: datetime, hhmm: str, seconds: int = 0) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return day.replace(hour=hours, minute=minutes, second=seconds)


def kind(moment: datetime, branch: str = "annen") -> PeriodKind:
    return period_at(SCHEDULE, branch, moment).kind


def test_announcements_are_sorted_latest_first() -> None:
    assert SCHEDULE.announcements == [15, 10, 5]


def test_edges_of_a_period() -> None:
    assert kind(at(MON, "08:59", 59)) is CL
    assert kind(at(MON, "09:00")) is ST  # the start minute belongs to the period
    assert kind(at(MON, "11:59", 59)) is ST
    assert kind(at(MON, "12:00")) is UN  # the end minute belongs to the next one
    assert kind(at(MON, "21:59", 59)) is UN
    assert kind(at(MON, "22:00")) is CL


def test_period_bounds_and_merging() -> None:
    assert period_at(SCHEDULE, "annen", at(MON, "13:00")) == Period(kind=UN, start=at(MON, "12:00"), end=at(MON, "22:00"))
    # two adjacent staffed periods are one period: no change at 12:00
    assert period_at(SCHEDULE, "annen", at(WED, "10:00")) == Period(kind=ST, start=at(WED, "09:00"), end=at(WED, "17:00"))
    # the closed stretch between Monday night and Tuesday morning
    assert period_at(SCHEDULE, "annen", at(TUE, "03:00")) == Period(kind=CL, start=at(MON, "22:00"), end=at(TUE, "08:00"))


def test_across_midnight() -> None:
    assert kind(at(FRI, "19:59")) is CL
    assert kind(at(FRI, "20:00")) is UN
    assert kind(at(SAT, "00:00")) is UN
    assert kind(at(SAT, "01:59", 59)) is UN
    assert kind(at(SAT, "02:00")) is CL
    assert period_at(SCHEDULE, "annen", at(SAT, "01:00")) == Period(kind=UN, start=at(FRI, "20:00"), end=at(SAT, "02:00"))


def test_holiday_closed_all_day_and_special_hours() -> None:
    eve, christmas = datetime(2024, 12, 24), datetime(2024, 12, 25)  # a Tuesday and a Wednesday
    assert kind(at(eve, "08:30")) is CL  # the special hours replace Tuesday's 08:00 unmanned period
    assert kind(at(eve, "09:00")) is ST
    assert kind(at(eve, "12:00")) is CL
    assert kind(at(eve, "16:00")) is CL
    assert kind(at(christmas, "10:00")) is CL  # a Wednesday, but closed
    assert period_at(SCHEDULE, "annen", at(christmas, "10:00")) == Period(
        kind=CL, start=at(eve, "12:00"), end=datetime(2024, 12, 27, 20, 0)
    )


def test_closed_date_cuts_a_period_running_in_from_the_day_before() -> None:
    friday = datetime(2024, 12, 27)  # the Saturday after is closed
    assert kind(at(friday, "23:00")) is UN
    assert period_at(SCHEDULE, "annen", at(friday, "23:00")).end == datetime(2024, 12, 28)
    assert kind(datetime(2024, 12, 28, 1, 0)) is CL


def test_next_change() -> None:
    assert next_change(SCHEDULE, "annen", at(MON, "10:00")) == at(MON, "12:00")
    assert next_change(SCHEDULE, "annen", at(MON, "12:00")) == at(MON, "22:00")
    assert next_change(SCHEDULE, "annen", at(MON, "23:00")) == at(TUE, "08:00")
    assert next_change(SCHEDULE, "annen", at(TUE, "09:59")) == at(TUE, "10:00")  # unmanned → staffed
    assert next_change(SCHEDULE, "annen", at(SAT, "01:00")) == at(SAT, "02:00")
    # Saturday 10:10 → closed through Sunday (no Sunday hours in annen) until Monday 09:00
    assert next_change(SCHEDULE, "annen", at(SAT, "11:00")) == at(MON + timedelta(days=7), "09:00")


def test_default_branch_and_unknown_branch() -> None:
    assert kind(at(SUN, "03:00"), "elsewhere") is UN
    assert kind(at(SUN, "03:00"), None) is UN
    assert period_at(SCHEDULE, None, at(SUN, "12:00")) == Period(kind=UN, start=SUN, end=SUN + timedelta(days=1))
    with pytest.raises(UnknownBranch):
        period_at(Schedule(branches={"annen": {}}), "zuidlaren", MON)


def test_a_branch_without_hours_is_always_closed() -> None:
    schedule = Schedule(branches={"x": {}})
    assert period_at(schedule, "x", MON) == Period(kind=CL, start=None, end=None)
    assert next_change(schedule, "x", MON) is None
    assert announcements_due(schedule, "x", MON, MON + timedelta(days=7)) == []


def test_aware_datetimes_keep_their_tzinfo() -> None:
    tz = timezone(timedelta(hours=1))
    moment = at(MON, "13:00").replace(tzinfo=tz)
    period = period_at(SCHEDULE, "annen", moment)
    assert period.kind is UN and period.end == at(MON, "22:00").replace(tzinfo=tz)


def test_announcements_before_closing() -> None:
    due = announcements_due(SCHEDULE, "annen", at(MON, "21:00"), at(MON, "22:00"))
    assert due == [
        Announcement(at=at(MON, "21:45"), minutes_before=15, period_end=at(MON, "22:00"), branch="annen"),
        Announcement(at=at(MON, "21:50"), minutes_before=10, period_end=at(MON, "22:00"), branch="annen"),
        Announcement(at=at(MON, "21:55"), minutes_before=5, period_end=at(MON, "22:00"), branch="annen"),
    ]
    # half-open (since, until]
    assert [a.minutes_before for a in announcements_due(SCHEDULE, "annen", at(MON, "21:45"), at(MON, "21:50"))] == [10]


def test_announcements_across_midnight() -> None:
    due = announcements_due(SCHEDULE, "annen", at(SAT, "01:00"), at(SAT, "02:00"))
    assert [(a.at, a.minutes_before) for a in due] == [
        (at(SAT, "01:45"), 15), (at(SAT, "01:50"), 10), (at(SAT, "01:55"), 5)
    ]


def test_no_announcement_when_unmanned_hands_over_to_staff() -> None:
    assert announcements_due(SCHEDULE, "annen", at(TUE, "07:00"), at(TUE, "11:00")) == []


def test_short_period_announces_only_what_fits() -> None:
    due = announcements_due(SCHEDULE, "annen", at(SAT, "09:00"), at(SAT, "11:00"))
    # 10 minutes before 10:10 is the period's first minute: announced; 15 minutes before is not in it
    assert [(a.at, a.minutes_before) for a in due] == [(at(SAT, "10:00"), 10), (at(SAT, "10:05"), 5)]


def test_polling_minute_by_minute_misses_and_repeats_nothing() -> None:
    start = MON
    whole_week = announcements_due(SCHEDULE, "annen", start, start + timedelta(days=7))
    polled: list[Announcement] = []
    moment = start
    while moment < start + timedelta(days=7):
        polled += announcements_due(SCHEDULE, "annen", moment, moment + timedelta(minutes=1))
        moment += timedelta(minutes=1)
    assert polled == whole_week
    # Monday 22:00 (3), Saturday 02:00 (3), Saturday 10:10 (2); Tuesday hands over to staff
    assert len(whole_week) == 8


# Validation -------------------------------------------------------------------------------------


def errors(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate(data)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in info.value.errors()]


@pytest.mark.parametrize("bad", ["9:00", "25:00", "12:60", "noon", "12h00", 900, "24:01"])
def test_bad_time_says_expected_hhmm(bad) -> None:
    found = errors({"branches": {"annen": {"monday": [{"kind": "staffed", "from": "09:00", "until": bad}]}}})
    assert found == [("branches.annen.monday.0.until", "expected HH:MM")]


def test_24_00_only_as_until() -> None:
    assert errors({"branches": {"a": {"monday": [{"kind": "staffed", "from": "24:00", "until": "10:00"}]}}}) == [
        ("branches.a.monday.0.from", "expected HH:MM")
    ]


def test_toml_local_time_is_accepted() -> None:
    data = tomllib.loads('[a]\nmonday = [{ kind = "staffed", from = 09:00:00, until = 12:30:00 }]')
    schedule = Schedule.model_validate({"branches": data})
    assert schedule.branches["a"].monday[0].start == "09:00"


@pytest.mark.parametrize(
    ("data", "path", "text"),
    [
        ({"branches": {"a": {"mondag": []}}}, "branches.a.mondag", "Extra inputs are not permitted"),
        ({"branches": {"a": {"monday": [{"kind": "open", "from": "09:00", "until": "10:00"}]}}},
         "branches.a.monday.0.kind", "Input should be"),
        ({"branches": {"a": {"monday": [{"kind": "staffed", "from": "09:00", "until": "09:00"}]}}},
         "branches.a.monday.0", "period is empty"),
        ({"branches": {"a": {"monday": [{"kind": "staffed", "from": "09:00", "until": "12:00"},
                                        {"kind": "unmanned", "from": "11:00", "until": "13:00"}]}}},
         "branches.a", "monday: periods overlap at 11:00"),
        ({"branches": {"a": {"sunday": [{"kind": "unmanned", "from": "20:00", "until": "08:00"}],
                             "monday": [{"kind": "staffed", "from": "07:00", "until": "12:00"}]}}},
         "branches.a", "monday: periods overlap at 07:00"),
        ({"branches": {"a": {"exceptions": [{"date": "2024-12-25", "closed": True}, {"date": "2024-12-25", "closed": True}]}}},
         "branches.a", "exception date 2024-12-25 is given twice"),
        ({"branches": {"a": {"exceptions": [{"date": "2024-12-25"}]}}},
         "branches.a.exceptions.0", "give closed = true or at least one period"),
        ({"branches": {"a": {"exceptions": [{"date": "2024-12-25", "closed": True,
                                             "periods": [{"kind": "staffed", "from": "09:00", "until": "10:00"}]}]}}},
         "branches.a.exceptions.0", "give either closed = true or periods, not both"),
        ({"announcements": [0]}, "announcements", "announcement minutes must be between 1 and 1440"),
        ({"announcements": [5, 5]}, "announcements", "announcement minutes are given twice"),
        ({"branch": {}}, "branch", "Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_path(data, path, text) -> None:
    found = errors(data)
    assert any(loc == path and text in msg for loc, msg in found), found


def test_holiday_on_a_date_object() -> None:
    schedule = Schedule(branches={"a": {"exceptions": [{"date": date(2024, 1, 1), "closed": True}],
                                        "monday": [{"kind": "staffed", "from": "09:00", "until": "17:00"}]}})
    assert period_at(schedule, "a", datetime(2024, 1, 1, 10)).kind is CL
    assert period_at(schedule, "a", datetime(2024, 1, 8, 10)).kind is ST
