"""Cards, identity, PIN, lockout, badge, age, schedule kind and the library system's own flags."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from policy import (
    RULE_ORDER,
    RULES,
    Action,
    Badge,
    CardState,
    Decision,
    IdentifiedBy,
    LockoutRule,
    PatronSnapshot,
    PatronStatusFlags,
    PeriodKind,
    PinCheck,
    PolicyError,
    SiteRules,
    SubscriptionStatus,
    UnknownAction,
    decide,
    lockout_until,
)

from .helpers import ALL_ACTIONS, BADGE, NOW, RULES as SITE, charge, clean, sub, verdict

CO, RN, RT, HD, PY, EN = Action.CHECKOUT, Action.RENEW, Action.RETURN, Action.HOLD, Action.PAY, Action.ENTRY

CARD_CASES = [
    ("C1", dict(identified_by=IdentifiedBy.TEMPORARY_NUMBER, card_state=None)),
    ("C2", dict(card_state=CardState.REPLACED)),
    ("C3", dict(card_state=CardState.BLOCKED)),
    ("C4", dict(card_state=CardState.LOST)),
    ("C4", dict(flags=PatronStatusFlags(card_reported_lost=True))),
    ("U1", dict(known=False, subscription=None, badges=(), card_state=None)),
]


@pytest.mark.parametrize(("rule", "change"), CARD_CASES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(CARD_CASES)])
def test_card_rules_refuse_all_but_return_even_at_the_door(rule, change) -> None:
    patron = clean(**change)
    no_entry_blocks = SITE.model_copy(update={"entry_blocks": frozenset()})
    for rules in (SITE, no_entry_blocks):
        for action in ALL_ACTIONS:
            decision = verdict(action, patron, rules)
            if action is RT:
                assert decision.allowed
            else:
                assert not decision.allowed
                assert decision.rule_ids()[0] == rule
                assert decision.message.key == f"policy.{rule}"


def test_unknown_card_names_only_what_is_known() -> None:
    """No PIN, badge or subscription can be judged for a card nobody knows."""
    unknown = clean(known=False, subscription=None, badges=(), card_state=None, pin=PinCheck.UNKNOWN)
    for action in (CO, RN, HD, PY, EN):
        assert verdict(action, unknown).rule_ids() == ["U1"]
    closed = decide(EN, unknown, SITE, NOW, period=PeriodKind.CLOSED)
    assert closed.rule_ids() == ["S1", "U1"]


def test_replaced_card_advice_names_the_newest_card() -> None:
    from kiosk.i18n import translate

    decision = verdict(CO, clean(card_state=CardState.REPLACED))
    assert "nieuwste pas" in translate("policy", decision.message.key, "nl")
    assert "newest card" in translate("policy", decision.message.key, "en")


def test_eid_without_card_state_is_fine() -> None:
    patron = clean(identified_by=IdentifiedBy.EID, card_state=None)
    assert all(verdict(a, patron).allowed for a in ALL_ACTIONS)


# PIN ---------------------------------------------------------------------------------------------


def test_wrong_pin() -> None:
    patron = clean(pin=PinCheck.WRONG)
    for action in (CO, RN, HD, EN):
        assert verdict(action, patron).rule_ids() == ["P1"]
    assert verdict(RT, patron).allowed and verdict(PY, patron).allowed


def test_pin_not_given() -> None:
    patron = clean(pin=PinCheck.UNKNOWN)
    assert verdict(CO, patron).rule_ids() == ["P2"]
    assert verdict(CO, patron).message.key == "policy.P2"
    assert verdict(PY, patron).allowed


def test_pin_required_is_a_setting() -> None:
    rules = SITE.model_copy(update={"pin_required": frozenset({PY, RT})})
    patron = clean(pin=PinCheck.UNKNOWN)
    assert verdict(CO, patron, rules).allowed
    assert verdict(PY, patron, rules).rule_ids() == ["P2"]
    assert verdict(RT, patron, rules).rule_ids() == ["P2"]
    assert SiteRules.model_validate({"pin_required": ["entry", "pay"]}).pin_required == {EN, PY}


def test_pin_comes_after_card_and_before_money() -> None:
    patron = clean(card_state=CardState.BLOCKED, pin=PinCheck.WRONG, replacement_invoice=True)
    assert verdict(CO, patron).rule_ids() == ["C3", "P1", "R4"]


# Lockout ---------------------------------------------------------------------------------------


RULE5 = LockoutRule(attempts=5, window_minutes=15, lockout_minutes=15)


def fails(*minutes_ago: float):
    return [NOW - timedelta(minutes=m) for m in minutes_ago]


def test_lockout_counts_within_the_window() -> None:
    assert lockout_until(fails(1, 2, 3, 4), RULE5, NOW) is None
    assert lockout_until(fails(0, 1, 2, 3, 4), RULE5, NOW) == NOW + timedelta(minutes=15)
    # five wrong PINs spread over more than the window: no lockout
    assert lockout_until(fails(0, 4, 8, 12, 16), RULE5, NOW) is None
    # the window is inclusive: first to fifth exactly 15 minutes apart
    assert lockout_until(fails(0, 4, 8, 12, 15), RULE5, NOW) == NOW + timedelta(minutes=15)


def test_lockout_expires() -> None:
    attempts = fails(10, 11, 12, 13, 14)
    until = NOW - timedelta(minutes=10) + timedelta(minutes=15)
    assert lockout_until(attempts, RULE5, NOW) == until
    assert lockout_until(attempts, RULE5, until - timedelta(seconds=1)) == until
    assert lockout_until(attempts, RULE5, until) is None  # locked while now < until
    # later attempts (not yet happened at 'now') are ignored
    assert lockout_until(fails(-1, -2, -3, -4, -5), RULE5, NOW) is None


def test_lockout_with_mixed_datetimes_is_a_policy_error() -> None:
    from datetime import timezone

    aware = [NOW.replace(tzinfo=timezone.utc)] * 5
    with pytest.raises(PolicyError, match="naive or all aware"):
        lockout_until(aware, RULE5, NOW)


def test_lockout_in_decide() -> None:
    patron = clean()
    attempts = fails(0.5, 1, 2, 3, 4)
    decision = verdict(EN, patron, failed_pin_attempts=attempts)
    assert decision.rule_ids() == ["L1"]
    assert decision.message.key == "policy.L1"
    assert decision.message.params == {"minutes": 15}
    assert verdict(EN, patron, failed_pin_attempts=attempts[1:]).allowed
    # not a PIN action: not locked
    assert verdict(RT, patron, failed_pin_attempts=attempts).allowed
    assert verdict(PY, patron, failed_pin_attempts=attempts).allowed
    # with a wrong PIN too, both are listed, lockout first
    assert verdict(CO, clean(pin=PinCheck.WRONG), failed_pin_attempts=attempts).rule_ids() == ["L1", "P1"]
    # minutes left round up
    later = decide(EN, patron, SITE, NOW + timedelta(minutes=14, seconds=1), period=PeriodKind.UNMANNED,
                   failed_pin_attempts=attempts)
    assert later.message.params == {"minutes": 1}


# Badge, age, schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "badges",
    [(), (Badge(name=BADGE, active=False),), (Badge(name="Gezinspas"),)],
    ids=["absent", "switched-off", "other-badge"],
)
def test_no_badge_no_unmanned_entry(badges) -> None:
    patron = clean(badges=badges)
    decision = verdict(EN, patron)
    assert decision.rule_ids() == ["B1"]
    assert decision.message.key == "policy.B1"
    assert verdict(EN, patron, period=PeriodKind.STAFFED).allowed
    for action in (CO, RN, RT, HD, PY):  # already inside: the kiosk does not need the badge
        assert verdict(action, patron).allowed


def test_badge_name_is_matched_case_insensitively_and_configurable() -> None:
    assert verdict(EN, clean(badges=(Badge(name="ONBEMANDE OPENINGSUREN"),))).allowed
    rules = SITE.model_copy(update={"unmanned_badge": "Open Bib"})
    assert verdict(EN, clean(badges=(Badge(name="open bib"),)), rules).allowed
    assert verdict(EN, clean(), rules).rule_ids() == ["B1"]


def test_period_none_means_unmanned_for_entry() -> None:
    assert decide(EN, clean(badges=()), SITE, NOW).rule_ids() == ["B1"]
    assert decide(EN, clean(), SITE, NOW).allowed


def test_closed_refuses_entry_first() -> None:
    decision = verdict(EN, clean(badges=(), pin=PinCheck.UNKNOWN), period=PeriodKind.CLOSED)
    assert decision.rule_ids() == ["S1", "P2", "B1"]
    assert decision.message.key == "policy.S1"
    assert verdict(EN, clean(), period=PeriodKind.CLOSED).rule_ids() == ["S1"]
    # the schedule only gates the door
    assert verdict(CO, clean(), period=PeriodKind.CLOSED).allowed


def test_minimum_age() -> None:
    rules = SITE.model_copy(update={"min_entry_age": 16})
    sixteen_today = date(NOW.year - 16, NOW.month, NOW.day)
    assert verdict(EN, clean(birth_date=sixteen_today), rules).allowed
    assert verdict(EN, clean(birth_date=sixteen_today + timedelta(days=1)), rules).rule_ids() == ["A1"]
    assert verdict(EN, clean(birth_date=None), rules).rule_ids() == ["A1"]  # unknown: fail closed
    assert verdict(EN, clean(birth_date=None)).allowed  # no limit set
    assert verdict(CO, clean(birth_date=sixteen_today + timedelta(days=1)), rules).allowed
    assert verdict(EN, clean(birth_date=None), rules, period=PeriodKind.STAFFED).allowed


# The library system's flags ---------------------------------------------------------------------


def flags_only(**flags) -> PatronSnapshot:
    return PatronSnapshot(
        card_state=None,
        flags=PatronStatusFlags(**flags),
        flags_only=True,
        badges=(Badge(name=BADGE),),
        pin=PinCheck.RIGHT,
    )


def test_flags_only_charge_denied() -> None:
    patron = flags_only(charge_privileges_denied=True, excessive_outstanding_fines=True)
    assert verdict(CO, patron).rule_ids() == ["LS"]
    assert verdict(EN, patron).rule_ids() == ["LS"]
    assert verdict(RN, patron).allowed  # renewal privileges are a flag of their own
    assert verdict(HD, patron).allowed
    assert verdict(PY, patron).allowed and verdict(RT, patron).allowed
    lenient = SITE.model_copy(update={"entry_blocks": SITE.entry_blocks - {"LS"}})
    assert verdict(EN, patron, lenient).allowed


def test_flags_only_renew_and_hold() -> None:
    patron = flags_only(renewal_privileges_denied=True, hold_privileges_denied=True)
    assert verdict(RN, patron).rule_ids() == ["LS"]
    assert verdict(HD, patron).rule_ids() == ["LS"]
    assert verdict(CO, patron).allowed


def test_flags_only_ignores_what_is_not_known() -> None:
    patron = flags_only().model_copy(update={"subscription": sub(status=SubscriptionStatus.BLACKLIST)})
    assert verdict(CO, patron).allowed


def test_ls_carries_the_screen_message() -> None:
    patron = flags_only(charge_privileges_denied=True).model_copy(update={"screen_message": " Kom langs aan de balie. "})
    decision = verdict(CO, patron)
    assert decision.message.key == "policy.LS.screen"
    assert decision.message.params == {"screen_message": "Kom langs aan de balie."}
    assert "Kom langs" not in decision.staff  # may hold personal data: not in the staff text


def test_flags_alongside_details_are_listed_after_them() -> None:
    patron = clean(replacement_invoice=True, flags=PatronStatusFlags(charge_privileges_denied=True))
    assert verdict(CO, patron).rule_ids() == ["R4", "LS"]


def test_sip2_flags_round_trip() -> None:
    flags = PatronStatusFlags.from_sip2("Y   Y         ")
    assert flags.charge_privileges_denied and flags.card_reported_lost
    assert not flags.renewal_privileges_denied
    assert flags.to_sip2() == "Y   Y         "
    with pytest.raises(PolicyError):
        PatronStatusFlags.from_sip2("YY")


# Messages, ordering, API ------------------------------------------------------------------------


def test_amounts_only_when_the_site_enables_them() -> None:
    patron = clean(charges=(charge("12.5", 1),))
    assert verdict(CO, patron).message.params == {}
    shown = SITE.model_copy(update={"show_amounts": True})
    assert verdict(CO, patron, shown).message.model_dump() == {"key": "policy.R1.amount", "params": {"amount": "12,50"}}
    english = clean(charges=(charge("12.5", 1),), language="en")
    assert verdict(CO, english, shown).message.params == {"amount": "12.50"}
    old = clean(charges=(charge("3", 100), charge("2", 1)))
    assert verdict(HD, old, shown).message.model_dump() == {"key": "policy.R3.amount", "params": {"amount": "3,00"}}


def test_every_rule_is_reachable_and_ordered() -> None:
    """One scenario per rule id; together they fire every rule in RULES."""
    rules = SITE.model_copy(update={"min_entry_age": 18})
    worst = clean(
        identified_by=IdentifiedBy.TEMPORARY_NUMBER,
        card_state=CardState.REPLACED,
        pin=PinCheck.WRONG,
        subscription=sub(status=SubscriptionStatus.BLACKLIST, end=NOW.date() - timedelta(days=1)),
        replacement_invoice=True,
        charges=(charge("50", 100),),
        flags=PatronStatusFlags(charge_privileges_denied=True, card_reported_lost=True),
        badges=(),
        birth_date=None,
    )
    seen: list[str] = []
    for patron, kw in [
        (worst, dict(period=PeriodKind.CLOSED, failed_pin_attempts=fails(0, 1, 2, 3, 4))),
        (clean(card_state=CardState.BLOCKED, pin=PinCheck.UNKNOWN), {}),
        (clean(known=False), dict(period=PeriodKind.CLOSED)),
        (clean(subscription=sub(status=SubscriptionStatus.DEREGISTERED)), {}),
        (clean(subscription=sub(status=SubscriptionStatus.NOT_PAID)), {}),
        (clean(subscription=sub(status=SubscriptionStatus.INVOICED)), {}),
    ]:
        decision = verdict(EN, patron, rules, **kw)
        ids = decision.rule_ids()
        assert ids == sorted(ids, key=RULE_ORDER.index), ids
        seen += ids
    assert set(seen) == set(RULES), set(RULES) - set(seen)


def test_decision_api() -> None:
    decision = verdict(CO, clean(replacement_invoice=True))
    assert isinstance(decision, Decision)
    assert decision.action is CO and decision.allowed is False
    assert decision.rule_ids() == ["R4"]
    assert decision.rules[0].rule == "R4" and "replacement invoice" in decision.rules[0].staff
    with pytest.raises(Exception):
        decision.allowed = True  # frozen
    allowed = verdict(CO, clean())
    assert allowed.allowed and allowed.rules == () and allowed.message.params == {}
    assert allowed.staff == "allowed: checkout"
    # validated round trip: decisions serialise and load back equal
    assert Decision.model_validate(decision.model_dump()) == decision


def test_action_as_string_and_unknown_action() -> None:
    assert decide("checkout", clean(), SITE, NOW).action is CO
    with pytest.raises(UnknownAction):
        decide("borrow", clean(), SITE, NOW)
    with pytest.raises(PolicyError):
        decide("borrow", clean(), SITE, NOW)


def test_staff_text_has_no_personal_data() -> None:
    patron = clean(charges=(charge("12.34", 100),), language="en", branch="annen", birth_date=date(1970, 5, 6))
    decision = verdict(CO, patron, SITE.model_copy(update={"show_amounts": True}))
    for secret in ("12.34", "12,34", "annen", "1970", "53"):
        assert secret not in decision.staff
