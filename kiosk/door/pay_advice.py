"""Where and how to pay, for a patron refused at the door for a block that payment lifts.

At the door in unmanned hours there is no desk, so a refusal for R1–R5 never
says "pay at the desk": it names what is open (the membership fee, charges,
an invoice) and where to pay it - at the kiosk inside during staffed hours,
and online on the library's portal when ``[payments] portal_url`` is set.
"""

from __future__ import annotations

from kiosk.i18n import translate

#: Rules a payment lifts, and the text naming what is open.
_REASONS = {"R2": "door.pay.reason.fee", "R5": "door.pay.reason.fee", "R1": "door.pay.reason.charges",
            "R3": "door.pay.reason.charges", "R4": "door.pay.reason.invoice"}
PAYABLE = frozenset(_REASONS)


def payment_advice(rule_ids: tuple[str, ...] | list[str], lang: str, portal_url: str | None) -> tuple[str, dict] | None:
    """``(key, params)`` of the door text for a refusal that payment lifts, or None.

    Only when every rule that fired is one a payment lifts (a deregistered or
    blacklisted patron is told the policy's own text)."""
    rules = [r for r in rule_ids if r]
    if not rules or not set(rules) <= PAYABLE:
        return None
    reason = translate("door", _REASONS[rules[0]], lang)
    if portal_url:
        return "door.pay.portal", {"reason": reason, "portal": portal_url}
    return "door.pay.kiosk", {"reason": reason}
