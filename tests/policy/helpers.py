"""Shared builders for the policy tests: a clean patron, demo site rules, a fixed 'now'."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from policy import (
    Action,
    Badge,
    CardState,
    Charge,
    IdentifiedBy,
    PatronSnapshot,
    PeriodKind,
    PinCheck,
    SiteRules,
    Subscription,
    SubscriptionStatus,
    decide,
)

NOW = datetime(2024, 3, 14, 18, 30)  # a Thursday evening
TODAY = NOW.date()
BADGE = "Onbemande openingsuren"
NON_ENTRY = (Action.CHECKOUT, Action.RENEW, Action.RETURN, Action.HOLD, Action.PAY)
ALL_ACTIONS = tuple(Action)

RULES = SiteRules(
    max_charges={"53": Decimal("10.00"), "jeugd": Decimal("5.00")},
    default_max_charges=Decimal("20.00"),
    charge_age_days={"annen": 14, "zuidlaren": 30},
    default_charge_age_days=60,
)


def clean(**overrides) -> PatronSnapshot:
    """An adult patron with an active card, a normal paid subscription, the badge and the right PIN."""
    values = dict(
        identified_by=IdentifiedBy.CARD,
        card_state=CardState.ACTIVE,
        subscription=Subscription(
            type_code="53", start=date(2023, 8, 1), end=date(2024, 7, 31), status=SubscriptionStatus.NORMAL
        ),
        charges=(),
        replacement_invoice=False,
        badges=(Badge(name=BADGE),),
        birth_date=date(1985, 1, 1),
        pin=PinCheck.RIGHT,
        language="nl",
        branch="annen",
    )
    values.update(overrides)
    return PatronSnapshot(**values)


def sub(**overrides) -> Subscription:
    values = dict(type_code="53", start=date(2023, 8, 1), end=date(2024, 7, 31), status=SubscriptionStatus.NORMAL)
    values.update(overrides)
    return Subscription(**values)


def charge(amount: str, days_old: int, paid: bool = False) -> Charge:
    from datetime import timedelta

    return Charge(amount=Decimal(amount), created=TODAY - timedelta(days=days_old), paid=paid)


def verdict(action: Action, patron: PatronSnapshot, rules: SiteRules = RULES, *, period=PeriodKind.UNMANNED, **kw):
    return decide(action, patron, rules, NOW, period=period, **kw)
