"""Invariants the policy keeps whatever the settings say: unmanned entry
always needs the right PIN; staffed card-only entry is decided (the card
rules, C1 included); the lockout's L1 message and the tries left come from
one place."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policy import (
    Action,
    CardState,
    IdentifiedBy,
    LockoutRule,
    PeriodKind,
    PinCheck,
    SiteRules,
    decide,
    locked_out,
    pin_needed,
    tries_left,
)

from .helpers import NOW, RULES, clean, verdict

NO_ENTRY_PIN = RULES.model_copy(update={"pin_required": frozenset({Action.CHECKOUT})})


@pytest.mark.parametrize("pin", [PinCheck.WRONG, PinCheck.UNKNOWN])
@pytest.mark.parametrize("period", [PeriodKind.UNMANNED, None])
def test_unmanned_entry_needs_the_right_pin_whatever_pin_required_says(pin, period):
    d = verdict(Action.ENTRY, clean(pin=pin), NO_ENTRY_PIN, period=period)
    assert not d.allowed and d.rule_ids()[0] == ("P1" if pin is PinCheck.WRONG else "P2")
    assert verdict(Action.ENTRY, clean(), NO_ENTRY_PIN, period=period).allowed
    assert pin_needed(Action.ENTRY, NO_ENTRY_PIN, period)


def test_six_wrong_pins_lock_unmanned_entry_out_even_without_entry_in_pin_required():
    fails = [NOW - timedelta(minutes=m) for m in range(6)]
    d = verdict(Action.ENTRY, clean(), NO_ENTRY_PIN, failed_pin_attempts=fails)
    assert not d.allowed and d.rule_ids() == ["L1"]


def test_staffed_entry_never_needs_a_pin_and_card_only_checks_the_card():
    assert not pin_needed(Action.ENTRY, RULES, PeriodKind.STAFFED)
    assert verdict(Action.ENTRY, clean(pin=PinCheck.WRONG, badges=()), period=PeriodKind.STAFFED).allowed
    card = dict(period=PeriodKind.STAFFED, staffed_card=True)
    assert verdict(Action.ENTRY, clean(pin=PinCheck.UNKNOWN, badges=()), **card).allowed  # no badge, no PIN
    assert verdict(Action.ENTRY, clean(known=False), **card).rule_ids() == ["U1"]
    # C1 was missing from the door's own card rules: now the policy's.
    assert verdict(Action.ENTRY, clean(identified_by=IdentifiedBy.TEMPORARY_NUMBER), **card).rule_ids() == ["C1"]
    assert verdict(Action.ENTRY, clean(card_state=CardState.REPLACED), **card).rule_ids() == ["C2"]
    assert verdict(Action.ENTRY, clean(card_state=CardState.BLOCKED), **card).rule_ids() == ["C3"]
    assert verdict(Action.ENTRY, clean(card_state=CardState.LOST), **card).rule_ids() == ["C4"]


def test_locked_out_gives_decides_message_and_minutes():
    rules = RULES.model_copy(update={"lockout": LockoutRule(attempts=3, window_minutes=15, lockout_minutes=15)})
    fails = [NOW - timedelta(minutes=2, seconds=30), NOW - timedelta(minutes=2), NOW - timedelta(seconds=61)]
    before = locked_out(Action.ENTRY, rules, NOW, fails, period=PeriodKind.UNMANNED)
    full = decide(Action.ENTRY, clean(), rules, NOW, period=PeriodKind.UNMANNED, failed_pin_attempts=fails)
    assert before is not None and before.rule_ids() == ["L1"]
    assert before.message == full.message and before.message.params == {"minutes": 14}  # ceil, once
    assert locked_out(Action.ENTRY, rules, NOW, fails[:2], period=PeriodKind.UNMANNED) is None
    assert locked_out(Action.ENTRY, rules, NOW, fails, period=PeriodKind.STAFFED) is None


def test_tries_left():
    rule = LockoutRule(attempts=5, window_minutes=15, lockout_minutes=15)
    assert tries_left([], rule, NOW) == 5
    assert tries_left([NOW - timedelta(minutes=1)] * 3, rule, NOW) == 2
    assert tries_left([NOW - timedelta(minutes=20)] * 3, rule, NOW) == 5  # outside the window
    assert tries_left([NOW - timedelta(minutes=1)] * 5, rule, NOW) == 0
    assert SiteRules().lockout.attempts == 5
