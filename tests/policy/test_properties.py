"""Hypothesis properties of ``decide``: clean badge-holders may do everything in unmanned hours,
adding a block never turns a denial into an allowance, and decisions are deterministic."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from policy import (
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
import policy.engine as engine
from policy.rules import message_keys

from .helpers import BADGE, NOW, RULES, TODAY

EXAMPLES = 3000

RULE_SETS = [
    RULES,
    SiteRules(),
    RULES.model_copy(update={"min_entry_age": 16, "show_amounts": True}),
    RULES.model_copy(update={"entry_blocks": frozenset(), "pin_required": frozenset()}),
    RULES.model_copy(update={"pin_required": frozenset(Action), "entry_blocks": frozenset({"R1", "R6"})}),
]

days_ago = st.integers(min_value=-5, max_value=800).map(lambda n: TODAY - timedelta(days=n))
amounts = st.decimals(min_value=0, max_value=60, places=2, allow_nan=False, allow_infinity=False)
charges = st.builds(Charge, amount=amounts, created=days_ago, paid=st.booleans())
badges = st.builds(
    Badge, name=st.sampled_from([BADGE, BADGE.upper(), "Gezinspas", "Open Bib"]), active=st.booleans()
)
subscriptions = st.builds(
    Subscription,
    type_code=st.sampled_from(["53", "jeugd", "99"]),
    start=st.none() | days_ago,
    end=st.none() | st.integers(-60, 400).map(lambda n: TODAY + timedelta(days=n)),
    status=st.sampled_from(list(SubscriptionStatus)),
    fee_paid=st.booleans(),
)
flag_sets = st.builds(PatronStatusFlags, **{name: st.booleans() for name in PatronStatusFlags.model_fields})
patrons = st.builds(
    PatronSnapshot,
    identified_by=st.sampled_from(list(IdentifiedBy)),
    card_state=st.none() | st.sampled_from(list(CardState)),
    subscription=st.none() | subscriptions,
    charges=st.lists(charges, max_size=4).map(tuple),
    replacement_invoice=st.booleans(),
    badges=st.lists(badges, max_size=3).map(tuple),
    birth_date=st.none() | st.dates(min_value=date(1920, 1, 1), max_value=TODAY),
    pin=st.sampled_from(list(PinCheck)),
    language=st.sampled_from([None, "nl", "fr", "en"]),
    branch=st.sampled_from([None, "annen", "zuidlaren", "elders"]),
    flags=st.none() | flag_sets,
    flags_only=st.booleans(),
    screen_message=st.none() | st.sampled_from(["", "Kom langs aan de balie."]),
    known=st.booleans(),
)
periods = st.sampled_from([None, PeriodKind.STAFFED, PeriodKind.UNMANNED, PeriodKind.CLOSED])
attempts = st.lists(st.integers(0, 40).map(lambda m: NOW - timedelta(minutes=m)), max_size=8)


# 1. A clean badge-holder may do everything in unmanned hours ------------------------------------

clean_charges = st.one_of(
    st.builds(Charge, amount=amounts, created=days_ago, paid=st.just(True)),  # paid: any age, any amount
    st.builds(  # unpaid: young and small (below every maximum, younger than every X)
        Charge,
        amount=st.decimals(min_value=0, max_value=Decimal("1.00"), places=2),
        created=st.integers(0, 14).map(lambda n: TODAY - timedelta(days=n)),
        paid=st.just(False),
    ),
)
clean_patrons = st.builds(
    PatronSnapshot,
    identified_by=st.sampled_from([IdentifiedBy.CARD, IdentifiedBy.EID, IdentifiedBy.UNKNOWN]),
    card_state=st.sampled_from([CardState.ACTIVE, None]),
    subscription=st.none()
    | st.builds(
        Subscription,
        type_code=st.sampled_from(["53", "jeugd", "99"]),
        start=st.none() | days_ago,
        end=st.none() | st.integers(0, 400).map(lambda n: TODAY + timedelta(days=n)),
        status=st.just(SubscriptionStatus.NORMAL),
        fee_paid=st.just(True),
    ),
    charges=st.lists(clean_charges, max_size=4).map(tuple),
    replacement_invoice=st.just(False),
    badges=st.lists(badges, max_size=3).map(lambda bs: (Badge(name=BADGE),) + tuple(bs)),
    birth_date=st.dates(min_value=date(1920, 1, 1), max_value=date(2000, 1, 1)),
    pin=st.just(PinCheck.RIGHT),
    language=st.sampled_from([None, "nl", "fr", "en"]),
    branch=st.sampled_from([None, "annen", "zuidlaren", "elders"]),
    flags=st.none() | st.just(PatronStatusFlags()),
    flags_only=st.booleans(),
    screen_message=st.none() | st.just("Welkom"),
    known=st.just(True),
)


@settings(max_examples=EXAMPLES)
@given(patron=clean_patrons, rules=st.sampled_from(RULE_SETS), pins=attempts.map(lambda a: a[:4]))
def test_clean_badge_holder_may_do_everything_in_unmanned_hours(patron, rules, pins) -> None:
    for action in Action:
        decision = decide(action, patron, rules, NOW, period=PeriodKind.UNMANNED, failed_pin_attempts=pins)
        assert decision.allowed, (action, decision.rule_ids())
        assert decision.message.key == f"policy.allowed.{action.value}"


# 2. Monotonicity -------------------------------------------------------------------------------


def _blocks(patron: PatronSnapshot, draw) -> list[tuple[str, PatronSnapshot, bool]]:
    """(name, patron with one more block, whether the rule ids must be a superset)."""
    out = []
    add = lambda name, superset=True, **update: out.append((name, patron.model_copy(update=update), superset))  # noqa: E731
    add("unpaid charge", charges=patron.charges + (draw(st.builds(Charge, amount=amounts, created=days_ago)),))
    add("replacement invoice", replacement_invoice=True)
    add("unknown card", superset=False, known=False)  # U1 alone: nothing else is known of the card
    add("temporary number", identified_by=IdentifiedBy.TEMPORARY_NUMBER)
    add("badges gone", badges=())
    add("badges switched off", badges=tuple(b.model_copy(update={"active": False}) for b in patron.badges))
    add("younger", birth_date=TODAY - timedelta(days=365 * 10))
    add("birth date unknown", birth_date=None)
    if patron.card_state in (None, CardState.ACTIVE):
        add("bad card", card_state=draw(st.sampled_from([CardState.REPLACED, CardState.BLOCKED, CardState.LOST])))
    if patron.pin is PinCheck.RIGHT:
        add("wrong pin", pin=PinCheck.WRONG)
        add("pin not given", pin=PinCheck.UNKNOWN)
    elif patron.pin is PinCheck.UNKNOWN:
        add("pin given wrong", superset=False, pin=PinCheck.WRONG)  # P2 becomes P1: still denied
    flags = patron.flags or PatronStatusFlags()
    extra = draw(flag_sets)
    merged = PatronStatusFlags(**{k: getattr(flags, k) or getattr(extra, k) for k in PatronStatusFlags.model_fields})
    add("library system flags", flags=merged)
    sub = patron.subscription
    if sub is not None:
        if sub.status is SubscriptionStatus.NORMAL:
            status = draw(st.sampled_from([s for s in SubscriptionStatus if s is not SubscriptionStatus.NORMAL]))
            # with the fee flagged open (R2) a status can replace R2 (R5, R6): still denied, not a superset
            add("status", sub.fee_paid, subscription=sub.model_copy(update={"status": status}))
        add("fee open", subscription=sub.model_copy(update={"fee_paid": False}))
        add("expired", subscription=sub.model_copy(update={"end": TODAY - timedelta(days=draw(st.integers(1, 90)))}))
    return out


@settings(max_examples=EXAMPLES)
@given(
    patron=patrons,
    rules=st.sampled_from(RULE_SETS),
    period=periods,
    pins=attempts,
    more_pins=attempts,
    data=st.data(),
)
def test_adding_a_block_never_allows_what_was_denied(patron, rules, period, pins, more_pins, data) -> None:
    variants = _blocks(patron, data.draw)
    tighter_periods = {None: [PeriodKind.CLOSED], PeriodKind.STAFFED: [PeriodKind.UNMANNED, PeriodKind.CLOSED, None],
                       PeriodKind.UNMANNED: [PeriodKind.CLOSED], PeriodKind.CLOSED: []}[period]
    for action in Action:
        base = decide(action, patron, rules, NOW, period=period, failed_pin_attempts=pins)
        later = []
        for name, blocked, superset in variants:
            later.append((name, decide(action, blocked, rules, NOW, period=period, failed_pin_attempts=pins), superset))
        later.append(("more wrong pins", decide(action, patron, rules, NOW, period=period,
                                                failed_pin_attempts=pins + more_pins), True))
        for tighter in tighter_periods:
            later.append((f"period {tighter}", decide(action, patron, rules, NOW, period=tighter,
                                                     failed_pin_attempts=pins), True))
        for name, decision, superset in later:
            if not base.allowed:
                assert not decision.allowed, (action, name, base.rule_ids())
            if superset:
                assert set(base.rule_ids()) <= set(decision.rule_ids()), (action, name, base.rule_ids(),
                                                                         decision.rule_ids())


# 3. Deterministic --------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES)
@given(patron=patrons, rules=st.sampled_from(RULE_SETS), period=periods, pins=attempts)
def test_decide_is_deterministic(patron, rules, period, pins) -> None:
    copy = PatronSnapshot.model_validate(patron.model_dump())
    for action in Action:
        first = decide(action, patron, rules, NOW, period=period, failed_pin_attempts=pins)
        engine._CACHE.clear()
        again = decide(action, copy, rules, NOW, period=period, failed_pin_attempts=list(reversed(pins)))
        assert first == again
        assert first.model_dump() == again.model_dump()
        # the decision is consistent with itself
        assert first.allowed == (not first.rules)
        if first.allowed:
            assert first.message.key == f"policy.allowed.{action.value}"
        else:
            # the message is the first rule's: its own key, or that key with one of its variants
            top = first.rules[0].rule
            assert first.message.key in {k for k in message_keys() if k == f"policy.{top}" or k.startswith(f"policy.{top}.")}
        if action is Action.RETURN and Action.RETURN not in rules.pin_required:
            assert first.allowed
