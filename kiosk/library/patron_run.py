"""The monthly patron run (klantenrun) of the embedded library system.

On the 1st of every month Wise moves the status of unpaid subscriptions and
expires subscriptions past their end.  For an unpaid *new paid* subscription
that started in month S, at the run in month M (seed 003, the default):

- M − S = 2 → Herinnering (reminder), only from Gefactureerd (invoiced);
- M − S ≥ 3 → Niet betaald (not paid);
- at the next run still unpaid → Uitgeschreven (deregistered): the fee is
  written off and the patron's open holds are cancelled.

Seed 003's example: registered 26 October, unpaid → Niet betaald on
1 January → Uitgeschreven on 1 February.  Seed 002 (2021) used older
intervals — reminder after 1 month, not paid after 6, invalid after 8 (the
example: new subscription in April → reminder 1 May, not paid 1 October,
invalid 1 December); ``PROFILES["seed002"]`` has them.

A subscription whose end lies before the run date becomes ``invalid``
(subscriptions are not renewed automatically; seed 002).  Blacklisted
patrons are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .datafile import DataFile, HoldStatus, PatronRunSettings, SubscriptionStatus
from .store import Store

__all__ = ["PROFILES", "RunChange", "plan_subscription", "run_on_data", "run_on_store"]

#: Interval profiles: seed 003 (current, the default) and seed 002 (2021).
PROFILES: dict[str, PatronRunSettings] = {
    "seed003": PatronRunSettings(),
    "seed002": PatronRunSettings(
        reminder_after_months=1, not_paid_after_months=6, deregister_after_months=8, deregistered_status="invalid"
    ),
}

_UNPAID = (SubscriptionStatus.INVOICED, SubscriptionStatus.REMINDER, SubscriptionStatus.NOT_PAID)
_ENDED = (SubscriptionStatus.DEREGISTERED, SubscriptionStatus.INVALID, SubscriptionStatus.BLACKLIST)


@dataclass(frozen=True, slots=True)
class RunChange:
    """One status change made by the run."""

    patron_id: str
    reason: str  # "reminder", "not_paid", "deregistered", "expired"
    old_status: SubscriptionStatus
    new_status: SubscriptionStatus
    fee_written_off: bool = False
    holds_cancelled: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"patron {self.patron_id}: {self.old_status.value} -> {self.new_status.value} ({self.reason})"
        if self.fee_written_off:
            text += ", membership fee written off"
        if self.holds_cancelled:
            text += f", {len(self.holds_cancelled)} hold(s) cancelled"
        return text


def months_between(start: date, run_date: date) -> int:
    """Calendar months from the month of *start* to the month of *run_date*."""
    return (run_date.year * 12 + run_date.month) - (start.year * 12 + start.month)


def plan_subscription(
    *,
    status: SubscriptionStatus,
    start: date,
    end: date,
    fee_open: bool,
    run_date: date,
    settings: PatronRunSettings,
) -> tuple[str, SubscriptionStatus] | None:
    """What the run does to one subscription: ``(reason, new_status)`` or None.

    ``fee_open`` is true for a paid subscription whose fee is neither paid nor
    written off."""
    if status in _ENDED:
        return None
    if fee_open and status in _UNPAID:
        months = months_between(start, run_date)
        if status is SubscriptionStatus.NOT_PAID and months >= settings.deregister_after_months:
            return "deregistered", SubscriptionStatus(settings.deregistered_status)
        if status is not SubscriptionStatus.NOT_PAID and months >= settings.not_paid_after_months:
            return "not_paid", SubscriptionStatus.NOT_PAID
        if (
            status is SubscriptionStatus.INVOICED
            and settings.reminder_after_months is not None
            and months >= settings.reminder_after_months
        ):
            return "reminder", SubscriptionStatus.REMINDER
    if end < run_date:
        return "expired", SubscriptionStatus.INVALID
    return None


def run_on_data(
    data: DataFile, run_date: date, settings: PatronRunSettings | None = None
) -> tuple[DataFile, list[RunChange]]:
    """The run over a data file: a new :class:`DataFile` and what changed."""
    settings = settings or data.patron_run
    fees = {t.code: t.fee for t in data.subscription_types}
    new = data.model_copy(deep=True)
    changes: list[RunChange] = []
    for patron in new.patrons:
        sub = patron.subscription
        if sub is None:
            continue
        fee_open = fees.get(sub.subscription_type, 0) > 0 and not sub.fee_paid and not sub.fee_written_off
        planned = plan_subscription(
            status=sub.status, start=sub.start, end=sub.end, fee_open=fee_open, run_date=run_date, settings=settings
        )
        if planned is None:
            continue
        reason, new_status = planned
        old = sub.status
        sub.status = new_status
        written_off = False
        cancelled: list[str] = []
        if reason == "deregistered":
            sub.fee_written_off = written_off = True
            for hold in new.holds:
                if hold.patron == patron.patron_id and hold.status is not HoldStatus.CANCELLED:
                    hold.status = HoldStatus.CANCELLED
                    cancelled.append(hold.item)
        changes.append(RunChange(patron.patron_id, reason, old, new_status, written_off, tuple(cancelled)))
    return new, changes


def run_on_store(store: Store, run_date: date, settings: PatronRunSettings | None = None) -> list[RunChange]:
    """The run over a live store, in one transaction (whole or not at all)."""
    settings = settings or store.patron_run_settings()
    changes: list[RunChange] = []
    with store.transaction():
        for patron_id, sub in store.subscriptions():
            planned = plan_subscription(
                status=sub.status,
                start=sub.start,
                end=sub.end,
                fee_open=sub.fee_open_cents > 0,
                run_date=run_date,
                settings=settings,
            )
            if planned is None:
                continue
            reason, new_status = planned
            deregister = reason == "deregistered"
            store.set_subscription(patron_id, status=new_status, fee_written_off=True if deregister else None)
            cancelled = tuple(store.cancel_holds_of(patron_id)) if deregister else ()
            changes.append(RunChange(patron_id, reason, sub.status, new_status, deregister, cancelled))
    return changes
