"""``bibkiosk demo``: a dry run of the library rules on demo patrons.

For every rule the policy knows, a demo patron that triggers it is asked
through ``policy.decide`` for the actions a kiosk and a door perform, and the
decision is printed with the patron message in Dutch, French and English.
(The touch kiosk replaces this with the full demo once it exists.)
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from decimal import Decimal


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demo", description=__doc__)
    p.add_argument("--language", choices=("nl", "fr", "en"), default=None, help="only this language")
    p.set_defaults(func=_run)


def demo_patrons() -> list[tuple[str, object]]:
    from policy import (
        Badge,
        CardState,
        Charge,
        IdentifiedBy,
        PatronSnapshot,
        PinCheck,
        Subscription,
        SubscriptionStatus,
    )

    badge = (Badge(name="Onbemande openingsuren"),)
    normal = Subscription(type_code="53", start=date(2026, 1, 1), end=date(2027, 1, 31),
                          status=SubscriptionStatus.NORMAL, fee_paid=True)

    def patron(**kw):
        base = dict(card_state=CardState.ACTIVE, subscription=normal, badges=badge, pin=PinCheck.RIGHT,
                    birth_date=date(1985, 1, 1), branch="9401")
        base.update(kw)
        return PatronSnapshot(**base)

    def sub(status, fee_paid=True, end=date(2027, 1, 31)):
        return Subscription(type_code="53", start=date(2026, 1, 1), end=end, status=status, fee_paid=fee_paid)

    S = SubscriptionStatus
    return [
        ("badge holder, nothing open", patron()),
        ("R1 charges above the maximum", patron(charges=(Charge(amount=Decimal("12.50"), created=date(2026, 11, 1)),))),
        ("R2 membership fee open", patron(subscription=sub(S.INVOICED, fee_paid=False))),
        ("R3 a charge older than 60 days", patron(charges=(Charge(amount=Decimal("1.00"), created=date(2026, 6, 1)),))),
        ("R4 replacement invoice", patron(replacement_invoice=True)),
        ("R5 status Niet betaald", patron(subscription=sub(S.NOT_PAID, fee_paid=False))),
        ("R6 status Uitgeschreven", patron(subscription=sub(S.DEREGISTERED))),
        ("blacklist", patron(subscription=sub(S.BLACKLIST))),
        ("subscription expired", patron(subscription=sub(S.NORMAL, end=date(2026, 10, 31)))),
        ("replaced card", patron(card_state=CardState.REPLACED)),
        ("blocked card", patron(card_state=CardState.BLOCKED)),
        ("temporary patron number", patron(identified_by=IdentifiedBy.TEMPORARY_NUMBER, card_state=None)),
        ("no badge", patron(badges=())),
        ("badge type switched off", patron(badges=(Badge(name="Onbemande openingsuren", active=False),))),
        ("wrong PIN", patron(pin=PinCheck.WRONG)),
        ("under the entry age", patron(birth_date=date(2014, 5, 1))),
    ]


def _run(args: argparse.Namespace) -> int:
    from kiosk.i18n import LANGUAGES, translate
    from policy import Action, PeriodKind, SiteRules, decide

    rules = SiteRules(default_max_charges=Decimal("10.00"), default_charge_age_days=60, min_entry_age=16)
    now = datetime(2026, 11, 23, 18, 30)
    languages = [args.language] if args.language else list(LANGUAGES)
    print(f"bibkiosk demo: the library rules on demo patrons, {now:%Y-%m-%d %H:%M}, unmanned hours\n")
    for title, patron in demo_patrons():
        print(f"== {title}")
        for action in (Action.CHECKOUT, Action.RENEW, Action.RETURN, Action.ENTRY):
            decision = decide(action, patron, rules, now, period=PeriodKind.UNMANNED)
            verdict = "allowed" if decision.allowed else "DENIED "
            print(f"   {action.value:<9} {verdict} {' '.join(decision.rule_ids()) or '-'}")
        decision = decide(Action.CHECKOUT, patron, rules, now, period=PeriodKind.UNMANNED)
        if decision.allowed:
            decision = decide(Action.ENTRY, patron, rules, now, period=PeriodKind.UNMANNED)
        for lang in languages:
            print(f"   [{lang}] {translate('policy', decision.message.key, lang, **decision.message.params)}")
        print()
    return 0
