"""The registry of every rule the policy decides with (see docs/rules.md).

``RULES`` maps a rule id to its title, the actions it denies, whether its
effect on ENTRY is a library setting (``SiteRules.entry_blocks``), the
patron-facing message key and a fixed English staff explanation.  The order
of ``RULES`` is the order of importance used in decisions: the first rule in
a decision is the one the patron is told about.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Action

ALL_BUT_RETURN: frozenset[Action] = frozenset(a for a in Action if a is not Action.RETURN)
BORROWING: frozenset[Action] = frozenset({Action.CHECKOUT, Action.RENEW})


@dataclass(frozen=True, slots=True)
class RuleInfo:
    rule: str
    title: str
    #: Actions this rule denies when it applies.  ENTRY is listed for rules
    #: that always deny entry in unmanned hours; for ``entry_setting`` rules it
    #: is decided by ``SiteRules.entry_blocks``.  For P1, P2 and L1 the actions
    #: are ``SiteRules.pin_required`` and for LS the library system's flags.
    denies: frozenset[Action]
    entry_setting: bool
    message_key: str
    staff: str
    #: Where the rule comes from: the digest (wise-rules.md) or this project.
    source: str = "bibkiosk"


def _rule(rule: str, title: str, denies, entry_setting: bool, staff: str, source: str = "bibkiosk") -> RuleInfo:
    return RuleInfo(rule, title, frozenset(denies), entry_setting, f"policy.{rule}", staff, source)


_PIN_ACTIONS = frozenset(Action)  # effective set: SiteRules.pin_required

#: Every rule, most important first.
RULES: dict[str, RuleInfo] = {
    r.rule: r
    for r in (
        _rule("S1", "Closed: not an entry period", {Action.ENTRY}, False,
              "S1: the branch is closed now; entry only in staffed or unmanned periods"),
        _rule("U1", "Card unknown to the library system", ALL_BUT_RETURN, False,
              "U1: the library system does not know this card"),
        _rule("C1", "Temporary patron number (online registration)", ALL_BUT_RETURN, False,
              "C1: temporary patron number from online registration (e-books only); the card must be collected at the desk",
              "seed 000"),
        _rule("C2", "Replaced card", ALL_BUT_RETURN, False,
              "C2: this card was replaced by a newer card ('Vervangen')", "seed 001"),
        _rule("C3", "Blocked card", ALL_BUT_RETURN, False,
              "C3: this card is blocked ('Pas niet geldig!')", "seed 001"),
        _rule("C4", "Card reported lost", ALL_BUT_RETURN, False,
              "C4: this card is reported lost"),
        _rule("L1", "Locked out after wrong PINs", _PIN_ACTIONS, False,
              "L1: too many wrong PINs within the lockout window; PIN actions are locked for a while"),
        _rule("P1", "Wrong PIN", _PIN_ACTIONS, False, "P1: the PIN entered is wrong"),
        _rule("P2", "PIN required but not given", _PIN_ACTIONS, False,
              "P2: this action needs the PIN and it was not verified"),
        _rule("BL", "Blacklist", ALL_BUT_RETURN, True,
              "BL: subscription status is Zwarte lijst (blacklist); only returns", "digest"),
        _rule("R6", "Deregistered or invalid subscription", ALL_BUT_RETURN, True,
              "R6: subscription status Uitgeschreven (9) / Ongeldig; only returns until the subscription is renewed",
              "seed 003"),
        _rule("X1", "Subscription expired", ALL_BUT_RETURN, True,
              "X1: the subscription end date is past (behaves as R6); only returns until it is renewed", "seed 002"),
        _rule("R5", "Status Niet betaald", BORROWING, True,
              "R5: subscription status Niet betaald (4): membership fee unpaid too long; no check out or renew until paid",
              "seed 003"),
        _rule("R2", "Membership fee open", BORROWING, True,
              "R2: membership fee open (Gefactureerd/Herinnering); no check out or renew until the whole fee is paid",
              "seed 003"),
        _rule("R4", "Replacement invoice", BORROWING, True,
              "R4: a replacement invoice (NOTA) is open; no check out or renew until the items are paid or returned",
              "seed 003"),
        _rule("R3", "Charge older than X days", BORROWING | {Action.HOLD}, True,
              "R3: an unpaid charge is older than the branch's limit; no check out, renew or hold until paid",
              "seed 003"),
        _rule("R1", "Charges above the maximum", BORROWING, True,
              "R1: open charges exceed the maximum for this subscription type; no check out or renew until paid down",
              "seed 003"),
        _rule("LS", "The library system refuses", {Action.CHECKOUT, Action.RENEW, Action.HOLD}, True,
              "LS: the library system's patron status denies this privilege (only its SIP2 flags are known)"),
        _rule("A1", "Under the minimum age for unmanned entry", {Action.ENTRY}, False,
              "A1: under the minimum age for unmanned entry, or birth date unknown"),
        _rule("B1", "No unmanned-hours badge", {Action.ENTRY}, False,
              "B1: no active unmanned-hours badge; entry in unmanned hours needs it"),
    )
}

#: Rule ids in order of importance (the order of RULES).
RULE_ORDER: tuple[str, ...] = tuple(RULES)
#: The rule ids of the digest (wise-rules.md).
DIGEST_RULES: tuple[str, ...] = ("R1", "R2", "R3", "R4", "R5", "R6")


def allowed_key(action: Action | str) -> str:
    """The message key for an allowed action, e.g. ``policy.allowed.checkout``."""
    return f"policy.allowed.{Action(action).value}"


def message_keys() -> list[str]:
    """Every message key ``decide`` can produce (for catalog checks)."""
    keys = [info.message_key for info in RULES.values()]
    keys += [f"policy.{rule}.amount" for rule in AMOUNT_RULES]
    keys += ["policy.LS.screen", "policy.A1.age"]
    keys += [allowed_key(a) for a in Action]
    return keys


#: Rules whose message gets an ``amount`` parameter when ``SiteRules.show_amounts`` is on.
AMOUNT_RULES: tuple[str, ...] = ("R1", "R3")
