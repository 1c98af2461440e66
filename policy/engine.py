"""``decide``: may this patron do this action now, and if not, why not.

Pure and fast: no I/O, no clock reads (``now`` is an argument), no model
validation in the hot path.  Allowed decisions are shared constants; denied
decisions are built once per (action, rules that fired, message parameters)
and cached.  Treat returned decisions (and their ``message.params``) as
read-only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from .errors import PolicyError, UnknownAction
from .models import (
    Action,
    CardState,
    Decision,
    IdentifiedBy,
    LockoutRule,
    Message,
    PatronSnapshot,
    PeriodKind,
    PinCheck,
    RuleHit,
    SiteRules,
    SubscriptionStatus,
)
from .rules import BORROWING, RULES, allowed_key

_CHECKOUT, _RENEW, _RETURN, _HOLD, _PAY, _ENTRY = (
    Action.CHECKOUT, Action.RENEW, Action.RETURN, Action.HOLD, Action.PAY, Action.ENTRY,
)
_STAFFED, _CLOSED = PeriodKind.STAFFED, PeriodKind.CLOSED
_ACTIVE, _REPLACED, _BLOCKED, _LOST = CardState.ACTIVE, CardState.REPLACED, CardState.BLOCKED, CardState.LOST
_TEMPORARY = IdentifiedBy.TEMPORARY_NUMBER
_RIGHT, _WRONG = PinCheck.RIGHT, PinCheck.WRONG
_BLACKLIST = SubscriptionStatus.BLACKLIST
_GONE = frozenset({SubscriptionStatus.DEREGISTERED, SubscriptionStatus.INVALID})
_NOT_PAID = SubscriptionStatus.NOT_PAID
_FEE_OPEN = frozenset({SubscriptionStatus.INVOICED, SubscriptionStatus.REMINDER})
_NORMAL = SubscriptionStatus.NORMAL
_R3_ACTIONS = BORROWING | {_HOLD}
_ZERO = Decimal(0)
_CENT = Decimal("0.01")

_HITS: dict[str, RuleHit] = {
    rule: RuleHit.model_construct(rule=rule, staff=info.staff) for rule, info in RULES.items()
}
_ALLOWED: dict[Action, Decision] = {
    action: Decision.model_construct(
        action=action,
        allowed=True,
        rules=(),
        message=Message.model_construct(key=allowed_key(action), params={}),
        staff=f"allowed: {action.value}",
    )
    for action in Action
}
_CACHE: dict[tuple, Decision] = {}
_CACHE_LIMIT = 4096


def lockout_until(failed_pin_attempts: Sequence[datetime], rule: LockoutRule, now: datetime) -> datetime | None:
    """The moment PIN actions unlock, or None when not locked out at *now*.

    A lockout starts at a wrong PIN that completes ``rule.attempts`` wrong
    PINs within ``rule.window_minutes`` (first to last), and lasts
    ``rule.lockout_minutes`` from that wrong PIN.  Attempts after *now* are
    ignored.  Locked while ``now < until``.
    """
    need = rule.attempts
    if len(failed_pin_attempts) < need:
        return None
    try:
        times = sorted(t for t in failed_pin_attempts if t <= now)
    except TypeError:
        raise PolicyError("failed_pin_attempts and now must be datetimes, all naive or all aware") from None
    if len(times) < need:
        return None
    window = timedelta(minutes=rule.window_minutes)
    until = None
    for i in range(need - 1, len(times)):
        if times[i] - times[i - need + 1] <= window:
            until = times[i]
    if until is None:
        return None
    until += timedelta(minutes=rule.lockout_minutes)
    return until if until > now else None


def pin_needed(action: Action, rules: SiteRules, period: PeriodKind | None = None) -> bool:
    """Does *action* need the right PIN?  ``rules.pin_required`` decides,
    except for ENTRY: outside staffed hours (unmanned, closed or unknown
    period) it always needs the PIN, in staffed hours never (an invariant
    of the door, not a setting)."""
    if action is _ENTRY:
        # Staffed: the door is open to the public (or to any valid card): no PIN.
        return period is not _STAFFED
    return action in rules.pin_required


def tries_left(failed_pin_attempts: Sequence[datetime], rule: LockoutRule, now: datetime) -> int:
    """How many more wrong PINs the patron may give before the lockout
    (``rule.attempts`` within ``rule.window_minutes``); 0 when locked out."""
    if lockout_until(failed_pin_attempts, rule, now) is not None:
        return 0
    since = now - timedelta(minutes=rule.window_minutes)
    recent = sum(1 for t in failed_pin_attempts if since < t <= now)
    return max(0, rule.attempts - recent)


def locked_out(
    action: Action,
    rules: SiteRules,
    now: datetime,
    failed_pin_attempts: Sequence[datetime],
    *,
    period: PeriodKind | None = None,
) -> Decision | None:
    """The L1 decision when a PIN action is locked out at *now* (before any
    PIN is asked or any patron is looked up), else None.  Its message (the
    minutes left) is the one :func:`decide` gives."""
    if not failed_pin_attempts or not pin_needed(action, rules, period):
        return None
    until = lockout_until(failed_pin_attempts, rules.lockout, now)
    if until is None:
        return None
    return _denied(action, ["L1"], PatronSnapshot.model_construct(), rules, now, until, None, None)


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _age_verdict(verdicts: tuple[tuple[int, bool], ...], minimum: int) -> bool:
    """A1 from the library system's verdicts: at least *minimum* years old
    when a verdict says so; unknown (no verdict that tells) counts as no."""
    for years, at_least in verdicts:
        if at_least and years >= minimum:
            return True
    return False


def _amount(value: Decimal, language: str | None) -> str:
    text = f"{value.quantize(_CENT):.2f}"
    if not (language or "").lower().startswith("en"):
        text = text.replace(".", ",")
    return text


def decide(
    action: Action,
    patron: PatronSnapshot,
    rules: SiteRules,
    now: datetime,
    *,
    period: PeriodKind | None = None,
    failed_pin_attempts: Sequence[datetime] = (),
    staffed_card: bool = False,
) -> Decision:
    """Decide whether *patron* may do *action* at *now*.

    *period* is the kind of opening period at the patron's branch now (see
    ``period_at``); it matters for ENTRY only: STAFFED admits everyone (the
    door is open to the public) or, with *staffed_card* (the door's
    ``staffed_entry = "card"``), everyone with a valid card (U1, C1–C4 only);
    CLOSED refuses (S1), UNMANNED and None check badge, age, the entry blocks
    and always the PIN (:func:`pin_needed`), whatever ``pin_required`` says.  *failed_pin_attempts* are
    the times of this card's recent wrong PINs (state kept by the caller).
    Every rule that fired is listed, most important first; the message is
    the first rule's.
    """
    if action.__class__ is not Action:
        try:
            action = Action(action)
        except ValueError:
            raise UnknownAction(f"unknown action {action!r}") from None
    entry = action is _ENTRY
    if entry and period is _STAFFED and not staffed_card:
        return _ALLOWED[_ENTRY]
    hits: list[str] = []
    if entry and period is _CLOSED:
        hits.append("S1")

    # Identity and card.
    if action is not _RETURN:
        if not patron.known:
            # Nothing else is known of a card the library system does not
            # know: no PIN to check, no badge, no subscription.
            hits.append("U1")
            return _denied(action, hits, patron, rules, now, None, None, None)
        if patron.identified_by is _TEMPORARY:
            hits.append("C1")
        state = patron.card_state
        if state is not None and state is not _ACTIVE:
            hits.append("C2" if state is _REPLACED else "C3" if state is _BLOCKED else "C4")
        flags = patron.flags
        if flags is not None and flags.card_reported_lost and state is not _LOST:
            hits.append("C4")
        if entry and period is _STAFFED:
            # Staffed card-only entry: the card itself, nothing else.
            return _ALLOWED[_ENTRY] if not hits else _denied(action, hits, patron, rules, now, None, None, None)
    else:
        flags = patron.flags

    # PIN and lockout.
    locked_until = None
    if pin_needed(action, rules, period):
        if failed_pin_attempts:
            locked_until = lockout_until(failed_pin_attempts, rules.lockout, now)
            if locked_until is not None:
                hits.append("L1")
        pin = patron.pin
        if pin is not _RIGHT:
            hits.append("P1" if pin is _WRONG else "P2")

    # Subscription status and money (not known when only the SIP2 flags are).
    total = old_total = None
    if action is not _RETURN:
        blocks = rules.entry_blocks if entry else None
        if not patron.flags_only:
            sub = patron.subscription
            today = now.date()
            if sub is not None:
                status = sub.status
                if status is _BLACKLIST:
                    if not entry or "BL" in blocks:
                        hits.append("BL")
                elif status in _GONE:
                    if not entry or "R6" in blocks:
                        hits.append("R6")
                end = sub.end
                if end is not None and end < today and (not entry or "X1" in blocks):
                    hits.append("X1")
                if status is _NOT_PAID:
                    if action in BORROWING or (entry and "R5" in blocks):
                        hits.append("R5")
                elif (status in _FEE_OPEN or (status is _NORMAL and not sub.fee_paid)) and (
                    action in BORROWING or (entry and "R2" in blocks)
                ):
                    hits.append("R2")
            if patron.replacement_invoice and (action in BORROWING or (entry and "R4" in blocks)):
                hits.append("R4")
            if patron.charges and (action in _R3_ACTIONS or (entry and ("R1" in blocks or "R3" in blocks))):
                branch = patron.branch
                days = rules.charge_age_days.get(branch, rules.default_charge_age_days) if branch is not None else (
                    rules.default_charge_age_days
                )
                cutoff = today - timedelta(days=days) if days is not None else None
                total = old_total = _ZERO
                has_old = False
                for charge in patron.charges:
                    if not charge.paid:
                        total += charge.amount
                        if cutoff is not None and charge.created < cutoff:
                            has_old = True
                            old_total += charge.amount
                if has_old and action is not _PAY and (not entry or "R3" in blocks):
                    hits.append("R3")
                if action is not _HOLD:
                    maximum = (
                        rules.max_charges.get(sub.type_code, rules.default_max_charges)
                        if sub is not None
                        else rules.default_max_charges
                    )
                    if maximum is not None and total > maximum and (not entry or "R1" in blocks):
                        hits.append("R1")
        if flags is not None:
            if action is _CHECKOUT or entry:
                refused = flags.charge_privileges_denied and (not entry or "LS" in blocks)
            elif action is _RENEW:
                refused = flags.renewal_privileges_denied
            elif action is _HOLD:
                refused = flags.hold_privileges_denied
            else:
                refused = False
            if refused:
                hits.append("LS")

    # Unmanned entry: age and badge.
    if entry:
        minimum = rules.min_entry_age
        if minimum is not None:
            birth = patron.birth_date
            if birth is not None:
                old_enough = _age(birth, now.date()) >= minimum
            else:
                old_enough = _age_verdict(patron.age_verdicts, minimum)
            if not old_enough:
                hits.append("A1")
        wanted = rules.unmanned_badge.strip().casefold()
        for badge in patron.badges:
            if badge.active and (
                badge.name.strip().casefold() == wanted or (badge.code is not None and badge.code.strip().casefold() == wanted)
            ):
                break
        else:
            hits.append("B1")

    if not hits:
        return _ALLOWED[action]
    return _denied(action, hits, patron, rules, now, locked_until, total, old_total)


def _denied(
    action: Action,
    hits: list[str],
    patron: PatronSnapshot,
    rules: SiteRules,
    now: datetime,
    locked_until: datetime | None,
    total: Decimal | None,
    old_total: Decimal | None,
) -> Decision:
    first = hits[0]
    key = RULES[first].message_key
    params: tuple = ()
    if first == "L1" and locked_until is not None:
        params = (("minutes", max(1, math.ceil((locked_until - now).total_seconds() / 60))),)
    elif first == "A1" and rules.min_entry_age is not None:
        key = "policy.A1.age"
        params = (("age", rules.min_entry_age),)
    elif first == "LS" and patron.screen_message:
        key = "policy.LS.screen"
        params = (("screen_message", patron.screen_message.strip()),)
    elif rules.show_amounts and first in ("R1", "R3"):
        amount = total if first == "R1" else old_total
        if amount is not None:
            key += ".amount"
            params = (("amount", _amount(amount, patron.language)),)
    cache_key = (action, tuple(hits), key, params)
    decision = _CACHE.get(cache_key)
    if decision is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        decision = Decision.model_construct(
            action=action,
            allowed=False,
            rules=tuple(_HITS[h] for h in hits),
            message=Message.model_construct(key=key, params=dict(params)),
            staff="denied: " + "; ".join(RULES[h].staff for h in hits),
        )
        _CACHE[cache_key] = decision
    return decision


__all__ = ["decide", "locked_out", "lockout_until", "pin_needed", "tries_left"]
