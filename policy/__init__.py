"""bibkiosk policy: the library rules, pure.

Models in, decision out: ``decide(action, patron, rules, now)`` says whether
a patron may check out, renew, return, place a hold, pay or enter, and why
not (rule ids R1–R6 from the Wise digest plus the ids in docs/rules.md).
No I/O, no clock reads, nothing imported from kiosk, devices or hardware
libraries.  Patron-facing texts live in the ``policy`` gettext domain; the
kiosk renders ``decision.message`` with
``kiosk.i18n.translate("policy", msg.key, lang, **msg.params)``.
"""

from __future__ import annotations

from .engine import decide, locked_out, lockout_until, pin_needed, tries_left
from .errors import PolicyError, UnknownAction, UnknownBranch
from .models import (
    DEFAULT_ENTRY_BLOCKS,
    DEFAULT_PIN_REQUIRED,
    ENTRY_BLOCKABLE,
    Action,
    Badge,
    CardState,
    Charge,
    Decision,
    Evidence,
    IdentifiedBy,
    LockoutRule,
    Message,
    PatronSnapshot,
    PatronStatusFlags,
    PeriodKind,
    PinCheck,
    RuleHit,
    SiteRules,
    Subscription,
    SubscriptionStatus,
    evidence_for,
)
from .rules import AMOUNT_RULES, DIGEST_RULES, RULE_ORDER, RULES, RuleInfo, allowed_key, message_keys
from .schedule import (
    WEEKDAYS,
    Announcement,
    BranchSchedule,
    ExceptionDay,
    Period,
    PeriodSpec,
    Schedule,
    announcements_due,
    next_change,
    period_at,
)

__all__ = [
    "AMOUNT_RULES",
    "DEFAULT_ENTRY_BLOCKS",
    "DEFAULT_PIN_REQUIRED",
    "DIGEST_RULES",
    "ENTRY_BLOCKABLE",
    "RULES",
    "RULE_ORDER",
    "WEEKDAYS",
    "Action",
    "Announcement",
    "Badge",
    "BranchSchedule",
    "CardState",
    "Charge",
    "Decision",
    "Evidence",
    "ExceptionDay",
    "IdentifiedBy",
    "LockoutRule",
    "Message",
    "PatronSnapshot",
    "PatronStatusFlags",
    "Period",
    "PeriodKind",
    "PeriodSpec",
    "PinCheck",
    "PolicyError",
    "RuleHit",
    "RuleInfo",
    "Schedule",
    "SiteRules",
    "Subscription",
    "SubscriptionStatus",
    "UnknownAction",
    "UnknownBranch",
    "allowed_key",
    "announcements_due",
    "decide",
    "evidence_for",
    "locked_out",
    "lockout_until",
    "message_keys",
    "next_change",
    "period_at",
    "pin_needed",
    "tries_left",
]
