"""Named guards of the kiosk flows: each asks ``policy.decide`` one question.

A guard returns the policy :class:`~policy.Decision` (allowed or not, the
rules that fired, the patron message) so the flow can both branch on it and
show its message.  The guards hold no state: the lockout history comes from
the journal, the rules and the clock from the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from policy import Action, Decision, PatronSnapshot, SiteRules, decide

#: Rules about the card itself: refused before any PIN is asked.
CARD_RULES = frozenset({"U1", "C1", "C2", "C3", "C4"})
PIN_RULES = frozenset({"P1", "P2", "L1"})


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


def card_usable(ctx: GuardContext) -> Decision | None:
    """The card is known, not temporary, not replaced, blocked or lost, and the
    patron is not locked out: None, else the refusing decision."""
    decision = _decide(Action.CHECKOUT, ctx)
    hits = set(decision.rule_ids())
    if not decision.allowed and hits & (CARD_RULES | {"L1"}):
        return decision
    return None


def pin_accepted(ctx: GuardContext) -> Decision | None:
    """The PIN given was right and the patron is not locked out: None, else the
    refusing decision (P1 wrong PIN, L1 locked out)."""
    for action in (Action.CHECKOUT, Action.RENEW):
        if action not in ctx.rules.pin_required:
            continue
        decision = _decide(action, ctx)
        if not decision.allowed and set(decision.rule_ids()) & (PIN_RULES | CARD_RULES):
            return decision
    return None


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


GUARDS = {
    "card_usable": card_usable,
    "pin_accepted": pin_accepted,
    "may_borrow": may_borrow,
    "may_renew": may_renew,
    "may_return": may_return,
    "may_hold": may_hold,
}
