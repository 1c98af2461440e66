"""The monthly patron run: every example of seeds 002 and 003."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from kiosk.library.datafile import HoldStatus, SubscriptionStatus, parse_data
from kiosk.library.patron_run import PROFILES, months_between, run_on_data, run_on_store
from kiosk.library.store import Store

from .helpers import ISSUE_EXAMPLE, text

S = SubscriptionStatus


def _data(start: str, *, end: str = "2099-12-31", status: str = "invoiced", fee_paid: bool = False, fee: float = 60.0):
    raw = copy.deepcopy(ISSUE_EXAMPLE)
    raw["subscription_types"][0]["fee"] = fee
    raw["patrons"][0]["subscription"].update(start=start, end=end, status=status, fee_paid=fee_paid)
    raw["holds"] = [{"patron": "413700", "item": "30000000000012", "created": start}]
    return parse_data(text(raw))


def _walk(data, runs, profile="seed003"):
    """Run the patron run on each date; the status after each run."""
    seen = []
    for run in runs:
        data, _changes = run_on_data(data, date.fromisoformat(run), PROFILES[profile])
        seen.append(data.patrons[0].subscription.status)
    return data, seen


def test_seed003_registered_26_october_unpaid():
    """Seed 003: 'iemand die zich op 26 oktober inschrijft maar de contributie
    niet betaalt, zal op 1 januari de status Niet betaald krijgen en op
    1 februari ongeldig worden'; Herinnering after 2 months."""
    data = _data("2026-10-26")
    data, seen = _walk(data, ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01", "2027-03-01"])
    assert seen == [S.INVOICED, S.REMINDER, S.NOT_PAID, S.DEREGISTERED, S.DEREGISTERED]
    sub = data.patrons[0].subscription
    assert sub.fee_written_off and not sub.fee_paid  # the fee is written off ("kwijtgescholden")
    assert data.holds[0].status is HoldStatus.CANCELLED  # open holds cancelled


def test_seed003_reminder_only_in_some_cases():
    settings = PROFILES["seed003"].model_copy(update={"reminder_after_months": None})
    data = _data("2026-10-26")
    seen = []
    for run in ["2026-12-01", "2027-01-01", "2027-02-01"]:
        data, _ = run_on_data(data, date.fromisoformat(run), settings)
        seen.append(data.patrons[0].subscription.status)
    assert seen == [S.INVOICED, S.NOT_PAID, S.DEREGISTERED]


def test_seed003_paid_in_time_never_moves():
    data = _data("2026-10-26", status="normal", fee_paid=True)
    _, seen = _walk(data, ["2026-12-01", "2027-01-01", "2027-02-01"])
    assert seen == [S.NORMAL] * 3


def test_seed003_free_subscription_never_moves():
    data = _data("2026-10-26", status="invoiced", fee=0.0)
    _, seen = _walk(data, ["2027-01-01", "2027-02-01"])
    assert seen == [S.INVOICED, S.INVOICED]


def test_seed002_new_subscription_before_30_april():
    """Seed 002: 'vóór 30 april een nieuw lidmaatschap … op 1 mei de status
    herinnering, op 1 oktober de status Niet betaald en op 1 december wordt het
    lidmaatschap ongeldig' — and the fee is written off ('afgeboekt')."""
    data = _data("2021-04-20", end="2022-04-30")
    runs = [f"2021-{m:02d}-01" for m in range(5, 13)]
    data, seen = _walk(data, runs, "seed002")
    assert seen == [S.REMINDER] * 5 + [S.NOT_PAID, S.NOT_PAID, S.INVALID]
    assert data.patrons[0].subscription.fee_written_off


def test_seed002_five_months_to_pay():
    """'De lener heeft 5 maanden de tijd om de contributie te betalen'."""
    data = _data("2021-04-20", end="2022-04-30")
    data, seen = _walk(data, ["2021-05-01", "2021-09-01"], "seed002")
    assert seen == [S.REMINDER, S.REMINDER]


@pytest.mark.parametrize("profile", ["seed002", "seed003"])
def test_subscription_past_its_end_expires(profile):
    """Seed 002: subscriptions end at the end of a month and are not renewed
    automatically; the run on the 1st finds them past their end."""
    data = _data("2025-05-01", end="2026-04-30", status="normal", fee_paid=True)
    data, changes = run_on_data(data, date(2026, 4, 1), PROFILES[profile])
    assert changes == []
    data, changes = run_on_data(data, date(2026, 5, 1), PROFILES[profile])
    assert [c.reason for c in changes] == ["expired"]
    assert data.patrons[0].subscription.status is S.INVALID


def test_blacklist_is_never_touched():
    data = _data("2020-01-01", end="2020-12-31", status="blacklist")
    _, changes = run_on_data(data, date(2027, 1, 1))
    assert changes == []


def test_store_run_matches_data_run(tmp_path):
    data = _data("2026-10-26")
    store = Store.create(tmp_path / "s.sqlite", data)
    for run in ["2026-12-01", "2027-01-01", "2027-02-01"]:
        data, expected = run_on_data(data, date.fromisoformat(run))
        got = run_on_store(store, date.fromisoformat(run))
        assert got == expected
    exported = store.to_data()
    assert exported.patrons[0].subscription == data.patrons[0].subscription
    assert exported.holds == data.holds
    store.close()


def test_months_between():
    assert months_between(date(2026, 10, 26), date(2027, 1, 1)) == 3
    assert months_between(date(2026, 10, 1), date(2026, 10, 31)) == 0


def test_describe_change():
    data = _data("2026-10-26", status="not_paid")
    _, changes = run_on_data(data, date(2027, 2, 1))
    assert changes[0].describe() == (
        "patron 413700: not_paid -> deregistered (deregistered), membership fee written off, 1 hold(s) cancelled"
    )
