"""Benchmark: policy.decide decisions per second on one core over a mix of patrons.

Target (issue 2): 200,000 decisions/s or more.  There is no peer implementation
to compare with, so the JSON line has peer and ratio null; the ratio against
the target is printed above it.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policy import (  # noqa: E402
    Action,
    Badge,
    CardState,
    Charge,
    IdentifiedBy,
    PatronSnapshot,
    PatronStatusFlags,
    PeriodKind,
    PinCheck,
    SiteRules,
    Subscription,
    SubscriptionStatus,
    decide,
)

TARGET = 200_000
NOW = datetime(2024, 3, 14, 18, 30)
TODAY = NOW.date()
ROUNDS = 7
PER_ROUND = 200_000


def patrons() -> list[PatronSnapshot]:
    badge = (Badge(name="Onbemande openingsuren"),)

    def sub(status=SubscriptionStatus.NORMAL, end=date(2024, 12, 31), fee_paid=True, code="53"):
        return Subscription(type_code=code, start=date(2023, 1, 1), end=end, status=status, fee_paid=fee_paid)

    def charge(amount, days, paid=False):
        return Charge(amount=Decimal(amount), created=TODAY - timedelta(days=days), paid=paid)

    base = dict(card_state=CardState.ACTIVE, subscription=sub(), badges=badge, birth_date=date(1980, 5, 1),
                pin=PinCheck.RIGHT, language="nl", branch="annen")
    mix = [
        {},  # clean
        {},
        {"charges": (charge("0.40", 3), charge("2.00", 200, paid=True))},  # small recent charge, old paid
        {"charges": (charge("7.00", 3), charge("4.50", 5))},  # R1
        {"charges": (charge("1.00", 40),)},  # R3
        {"subscription": sub(SubscriptionStatus.REMINDER, fee_paid=False)},  # R2
        {"subscription": sub(SubscriptionStatus.NOT_PAID, fee_paid=False)},  # R5
        {"subscription": sub(SubscriptionStatus.DEREGISTERED)},  # R6
        {"subscription": sub(end=TODAY - timedelta(days=10))},  # X1
        {"replacement_invoice": True},  # R4
        {"card_state": CardState.REPLACED},  # C2
        {"identified_by": IdentifiedBy.TEMPORARY_NUMBER, "card_state": None},  # C1
        {"badges": ()},  # B1 at the door
        {"badges": (Badge(name="Onbemande openingsuren", active=False),)},  # switched off
        {"pin": PinCheck.UNKNOWN},  # P2
        {"pin": PinCheck.WRONG},  # P1
        {"subscription": None, "flags_only": True, "flags": PatronStatusFlags(charge_privileges_denied=True),
         "screen_message": "Kom langs aan de balie."},  # LS
        {"charges": (charge("30", 100), charge("5", 2)), "replacement_invoice": True,
         "subscription": sub(SubscriptionStatus.INVOICED, fee_paid=False)},  # many at once
    ]
    return [PatronSnapshot(**{**base, **extra}) for extra in mix]


def workload() -> list[tuple]:
    rules = SiteRules(
        max_charges={"53": Decimal("10.00")}, default_max_charges=Decimal("20"),
        charge_age_days={"annen": 14}, default_charge_age_days=60, min_entry_age=16,
    )
    lockout = [NOW - timedelta(minutes=m) for m in (1, 2, 3, 4, 5)]
    periods = [PeriodKind.UNMANNED, PeriodKind.STAFFED, PeriodKind.CLOSED, None]
    calls = []
    for i, patron in enumerate(patrons()):
        for j, action in enumerate(Action):
            period = periods[(i + j) % len(periods)]
            pins = lockout if (i * 7 + j) % 23 == 0 else ()
            calls.append((action, patron, rules, NOW, period, pins))
    return calls


def run_round(calls: list[tuple], n: int) -> float:
    reps = n // len(calls) + 1
    seq = (calls * reps)[:n]
    start = time.perf_counter()
    for action, patron, rules, now, period, pins in seq:
        decide(action, patron, rules, now, period=period, failed_pin_attempts=pins)
    return n / (time.perf_counter() - start)


def main() -> int:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})  # one core
    except (AttributeError, OSError):
        pass
    calls = workload()
    allowed = sum(decide(a, p, r, t, period=pe, failed_pin_attempts=pi).allowed for a, p, r, t, pe, pi in calls)
    print(f"workload: {len(calls)} distinct (action, patron, period) calls, {allowed} allowed, "
          f"{len(calls) - allowed} denied; {ROUNDS} rounds of {PER_ROUND:,} decisions")
    run_round(calls, 20_000)  # warm-up (fills the decision cache)
    gc.disable()
    rates = [run_round(calls, PER_ROUND) for _ in range(ROUNDS)]
    gc.enable()
    median = statistics.median(rates)
    print(f"decisions/s per round: {', '.join(f'{r:,.0f}' for r in rates)}")
    print(f"median: {median:,.0f} decisions/s ({1e6 / median:.2f} µs/decision); "
          f"target {TARGET:,}/s, ratio against target {median / TARGET:.2f}")
    print(json.dumps({"bench": "policy", "metric": "decisions_per_second", "value": round(median),
                      "unit": "decisions/s", "peer": None, "ratio": None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
