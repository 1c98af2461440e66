"""Named guards of the kiosk flows: each asks ``policy.decide`` one question.

A guard returns the policy :class:`~policy.Decision` (allowed or not, the
rules that fired, the patron message) so the flow can both branch on it and
show its message.  The guards hold no state: the rules and the clock come
from the context.  The card, the PIN and the lockout are not guards: the one
identification core (:mod:`kiosk.identify`) settles them before any guard
is asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from policy import Action, Decision, PatronSnapshot, SiteRules, decide



@dataclass(frozen=True, slots=True)
class GuardContext:
    patron: PatronSnapshot
    rules: SiteRules
    now: datetime
    failed_pin_attempts: Sequence[datetime] = ()


def _decide(action: Action, ctx: GuardContext) -> Decision:
    return decide(action, ctx.patron, ctx.rules, ctx.now, failed_pin_attempts=ctx.failed_pin_attempts)


def needs_pin(rules: SiteRules) -> bool:
    """Does this site ask the PIN at identification (for borrowing or renewing)?"""
    return bool({Action.CHECKOUT, Action.RENEW} & set(rules.pin_required))


def may_borrow(ctx: GuardContext) -> Decision:
    return _decide(Action.CHECKOUT, ctx)


def may_renew(ctx: GuardContext) -> Decision:
    return _decide(Action.RENEW, ctx)


def may_return(ctx: GuardContext) -> Decision:
    return _decide(Action.RETURN, ctx)


def may_hold(ctx: GuardContext) -> Decision:
    return _decide(Action.HOLD, ctx)


def blocks(ctx: GuardContext) -> list[Decision]:
    """Every refusing decision for the patron's account page, one per message."""
    out: list[Decision] = []
    seen: set[str] = set()
    for decision in (may_borrow(ctx), may_renew(ctx), may_hold(ctx)):
        if decision.allowed:
            continue
        key = decision.message.key + repr(sorted(decision.message.params.items()))
        if key not in seen:
            seen.add(key)
            out.append(decision)
    return out

