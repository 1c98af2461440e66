"""Walk wise-rules.md row by row: what each rule denies, what it still allows, what lifts it.

Every row runs in unmanned hours with an otherwise clean badge-holder, so the
only rule that can fire is the one under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import pytest

from policy import Action, PatronSnapshot, PeriodKind, SiteRules, SubscriptionStatus

from .helpers import ALL_ACTIONS, RULES, TODAY, charge, clean, sub, verdict

CO, RN, RT, HD, PY, EN = Action.CHECKOUT, Action.RENEW, Action.RETURN, Action.HOLD, Action.PAY, Action.ENTRY


@dataclass(frozen=True)
class Row:
    rule: str
    case: str
    blocked: Callable[[], PatronSnapshot]
    denied: frozenset[Action]  # ENTRY included: denied by the default entry blocks
    lifted: Callable[[], PatronSnapshot]  # the condition that lifts the rule

    @property
    def allowed(self) -> frozenset[Action]:
        return frozenset(ALL_ACTIONS) - self.denied


BORROW = frozenset({CO, RN, EN})
ALL_BUT_RETURN = frozenset(ALL_ACTIONS) - {RT}

ROWS = [
    # R1: charges above the maximum per subscription type (53: 10.00); the membership fee is no charge.
    Row("R1", "above the type maximum", lambda: clean(charges=(charge("6.00", 3), charge("4.01", 2))),
        BORROW, lambda: clean(charges=(charge("6.00", 3, paid=True), charge("4.01", 2)))),
    Row("R1", "paid down to exactly the maximum", lambda: clean(charges=(charge("12.00", 3),)),
        BORROW, lambda: clean(charges=(charge("10.00", 3), charge("2.00", 3, paid=True)))),
    Row("R1", "other type, other maximum", lambda: clean(subscription=sub(type_code="jeugd"), charges=(charge("5.50", 1),)),
        BORROW, lambda: clean(subscription=sub(type_code="jeugd"), charges=(charge("5.00", 1),))),
    Row("R1", "unknown type uses the default maximum", lambda: clean(subscription=sub(type_code="99"), charges=(charge("20.01", 1),)),
        BORROW, lambda: clean(subscription=sub(type_code="99"), charges=(charge("19.99", 1),))),
    # R2: membership fee open (Gefactureerd / Herinnering); lifted when the whole fee is paid.
    Row("R2", "status invoiced", lambda: clean(subscription=sub(status=SubscriptionStatus.INVOICED, fee_paid=False)),
        BORROW, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL, fee_paid=True))),
    Row("R2", "status reminder", lambda: clean(subscription=sub(status=SubscriptionStatus.REMINDER, fee_paid=False)),
        BORROW, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL, fee_paid=True))),
    Row("R2", "normal status, fee flagged open", lambda: clean(subscription=sub(fee_paid=False)),
        BORROW, lambda: clean(subscription=sub(fee_paid=True))),
    # R3: a charge older than X days (annen: 14) blocks check out, renew, hold; lifted when paid.
    Row("R3", "charge older than the branch's X", lambda: clean(charges=(charge("0.50", 15),)),
        BORROW | {HD}, lambda: clean(charges=(charge("0.50", 15, paid=True),))),
    Row("R3", "other branch, other X", lambda: clean(branch="zuidlaren", charges=(charge("0.50", 31),)),
        BORROW | {HD}, lambda: clean(branch="zuidlaren", charges=(charge("0.50", 30),))),
    Row("R3", "branch without X uses the default", lambda: clean(branch=None, charges=(charge("0.50", 61),)),
        BORROW | {HD}, lambda: clean(branch=None, charges=(charge("0.50", 60),))),
    # R4: replacement invoice; lifted when the items are paid for or returned.
    Row("R4", "replacement invoice open", lambda: clean(replacement_invoice=True),
        BORROW, lambda: clean(replacement_invoice=False)),
    # R5: status Niet betaald; lifted when paid (status becomes Normaal).
    Row("R5", "status not paid", lambda: clean(subscription=sub(status=SubscriptionStatus.NOT_PAID, fee_paid=False)),
        BORROW, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL))),
    # R6: Uitgeschreven / invalid: only return; lifted when the subscription is renewed.
    Row("R6", "deregistered", lambda: clean(subscription=sub(status=SubscriptionStatus.DEREGISTERED)),
        ALL_BUT_RETURN, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL))),
    Row("R6", "invalid / cancelled", lambda: clean(subscription=sub(status=SubscriptionStatus.INVALID)),
        ALL_BUT_RETURN, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL))),
    # X1: an expired subscription behaves as R6 (seed 002: no automatic renewal).
    Row("X1", "end date past", lambda: clean(subscription=sub(end=TODAY - timedelta(days=1))),
        ALL_BUT_RETURN, lambda: clean(subscription=sub(end=TODAY))),
    # BL: Zwarte lijst: everything but return.
    Row("BL", "blacklist", lambda: clean(subscription=sub(status=SubscriptionStatus.BLACKLIST)),
        ALL_BUT_RETURN, lambda: clean(subscription=sub(status=SubscriptionStatus.NORMAL))),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.rule}-{r.case}")
def test_row_denies(row: Row) -> None:
    patron = row.blocked()
    for action in sorted(row.denied):
        decision = verdict(action, patron)
        assert not decision.allowed, (action, decision)
        assert decision.rule_ids() == [row.rule], (action, decision.rule_ids())
        assert decision.message.key == f"policy.{row.rule}"
        assert decision.staff.startswith("denied: " + row.rule)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.rule}-{r.case}")
def test_row_still_allows(row: Row) -> None:
    patron = row.blocked()
    assert RT in row.allowed, "return stays allowed under every library rule"
    for action in sorted(row.allowed):
        decision = verdict(action, patron)
        assert decision.allowed, (action, decision)
        assert decision.rule_ids() == []
        assert decision.message.key == f"policy.allowed.{action.value}"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.rule}-{r.case}")
def test_row_lifted(row: Row) -> None:
    patron = row.lifted()
    for action in ALL_ACTIONS:
        decision = verdict(action, patron)
        assert decision.allowed, (action, decision.rule_ids())


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.rule}-{r.case}")
def test_row_entry_is_a_library_setting(row: Row) -> None:
    patron = row.blocked()
    assert not verdict(EN, patron).allowed
    lenient = RULES.model_copy(update={"entry_blocks": RULES.entry_blocks - {row.rule}})
    assert verdict(EN, patron, lenient).allowed
    # ...and the setting does not touch the kiosk actions.
    for action in sorted(row.denied - {EN}):
        assert not verdict(action, patron, lenient).allowed


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.rule}-{r.case}")
def test_row_staffed_entry_is_open(row: Row) -> None:
    assert verdict(EN, row.blocked(), period=PeriodKind.STAFFED).allowed


def test_the_membership_fee_is_not_a_charge() -> None:
    # An open fee with no charges: R2 only, never R1.
    patron = clean(subscription=sub(status=SubscriptionStatus.INVOICED, fee_paid=False))
    assert verdict(CO, patron).rule_ids() == ["R2"]


def test_charge_of_exactly_x_days_is_not_older_than_x() -> None:
    assert verdict(CO, clean(charges=(charge("1.00", 14),))).allowed
    assert verdict(CO, clean(charges=(charge("1.00", 15),))).rule_ids() == ["R3"]


def test_r3_disabled_without_any_setting() -> None:
    rules = SiteRules()
    assert decide_ok(rules, clean(charges=(charge("1.00", 3650),)))


def test_r1_disabled_without_a_maximum() -> None:
    rules = SiteRules(max_charges={"jeugd": 5})
    assert decide_ok(rules, clean(charges=(charge("1000.00", 1),)))


def decide_ok(rules: SiteRules, patron: PatronSnapshot) -> bool:
    return all(verdict(a, patron, rules).allowed for a in ALL_ACTIONS)


def test_r1_and_r3_fire_together_most_important_first() -> None:
    patron = clean(charges=(charge("11.00", 20),))
    assert verdict(CO, patron).rule_ids() == ["R3", "R1"]
    assert verdict(HD, patron).rule_ids() == ["R3"]  # R1 does not deny holds


def test_not_paid_gets_its_own_clear_message() -> None:
    from kiosk.i18n import translate

    decision = verdict(CO, clean(subscription=sub(status=SubscriptionStatus.NOT_PAID, fee_paid=False)))
    assert decision.message.key == "policy.R5"
    assert "lidgeld" in translate("policy", decision.message.key, "nl")
    assert "cotisation" in translate("policy", decision.message.key, "fr")
    assert "membership fee" in translate("policy", decision.message.key, "en")


def test_deregistered_and_expired_both_listed() -> None:
    patron = clean(subscription=sub(status=SubscriptionStatus.DEREGISTERED, end=TODAY - timedelta(days=40)))
    assert verdict(CO, patron).rule_ids() == ["R6", "X1"]
    assert verdict(RT, patron).allowed


def test_all_blocks_at_once_in_order() -> None:
    patron = clean(
        subscription=sub(status=SubscriptionStatus.REMINDER, fee_paid=False),
        replacement_invoice=True,
        charges=(charge("30.00", 100),),
    )
    assert verdict(CO, patron).rule_ids() == ["R2", "R4", "R3", "R1"]
    assert verdict(RN, patron).rule_ids() == ["R2", "R4", "R3", "R1"]
    assert verdict(HD, patron).rule_ids() == ["R3"]
    assert verdict(PY, patron).allowed
    assert verdict(RT, patron).allowed
    assert verdict(EN, patron).rule_ids() == ["R2", "R4", "R3", "R1"]
