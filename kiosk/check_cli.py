"""``bibkiosk check``: "why can't this patron check out / get in?"

    bibkiosk check (--library DATAFILE | --config KIOSKCONFIG) --card CARD [--pin PIN]
                   --action checkout|renew|return|hold|entry [--at YYYY-MM-DDTHH:MM]
                   [--branch ID] [--period staffed|unmanned|closed] [--json]

With ``--library`` (a data file, or ``demo`` for the bundled demo data) the
embedded library system is started on a free loopback port and asked over
real SIP2, exactly as a kiosk would; with ``--config`` the configured library
system is asked.  The decision is the policy's (``policy.decide``), with the
site rules of the configuration (``--config``) or of the data file
(``--library``: charge maxima per subscription type, charge age, unmanned
badge and entry age of the branch).

Without ``--pin`` the PIN rules are left out (staff rarely know the PIN);
with it, the PIN is verified.  ``--period`` answers "could this patron get
in during unmanned hours?" whatever the clock says; without it and without a
configured schedule, entry is judged as during unmanned hours.

Prints the decision, every rule that fired with the evidence it was derived
from (which field, which registration, amount and date) and the patron
message in the patron's language; ``--json`` prints one object
``{"allowed": bool, "rules": [...], "message": "...", "language": "nl",
"evidence": [{"rule", "source", "detail"}, ...]}``.
Exit 0 allowed, 1 denied (an unknown card is denied with rule U1), 2 error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR = 0, 1, 2
ACTIONS = ("checkout", "renew", "return", "hold", "entry")
PERIODS = ("staffed", "unmanned", "closed")


class CheckError(Exception):
    """Something the staff member must fix (bad argument, unreachable library system)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    allowed: bool
    rules: list[str]
    staff: list[str]
    message: str
    language: str
    period: str | None
    pin_checked: bool
    branch: str | None
    #: (rule, source, detail) for the rules that fired: what the library system sent
    evidence: tuple[tuple[str, str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed, "rules": self.rules, "message": self.message, "language": self.language,
            "evidence": [{"rule": r, "source": s, "detail": d} for r, s, d in self.evidence],
        }  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "check",
        help="why can't this patron check out / get in? (asks the library system, decides with the policy)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--library", metavar="DATAFILE", help="embedded library system data file, or 'demo'")
    source.add_argument("--config", metavar="KIOSKCONFIG", help="kiosk/door configuration: ask its library system")
    parser.add_argument("--card", required=True, help="card number (or temporary patron number)")
    parser.add_argument("--pin", help="the patron's PIN (verified; without it the PIN rules are left out)")
    parser.add_argument("--action", required=True, choices=ACTIONS)
    parser.add_argument("--at", metavar="YYYY-MM-DDTHH:MM", help="decide as at this local time (default: now)")
    parser.add_argument("--branch", metavar="ID", help="branch (default: the door's/kiosk's, else the patron's)")
    parser.add_argument("--period", choices=PERIODS, help="judge entry as during this kind of period")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=main)


def _parse_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now().astimezone()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CheckError(f"--at {text!r}: expected YYYY-MM-DDTHH:MM") from None
    return value.astimezone() if value.tzinfo is None else value


async def run_check(
    *,
    card: str,
    action: str,
    library: str | None = None,
    config: str | None = None,
    pin: str | None = None,
    at: datetime | None = None,
    branch: str | None = None,
    period: str | None = None,
) -> CheckResult:
    """The check, as a function (the CLI prints its result)."""
    from kiosk.adapter import EmbeddedLibrarySystem, LibrarySystemError, library_system_from_config
    from kiosk.i18n import normalise_language, translate
    from kiosk.identify.core import Refuse
    from policy import Action, PeriodKind, PolicyError, evidence_for, period_at

    at = at or datetime.now().astimezone()
    act = Action(action)
    schedule = None
    default_language = None
    if library is not None:
        system = EmbeddedLibrarySystem(library, clock=lambda: at)
        rules = None
        where = branch
    else:
        from kiosk.config import ConfigError, load_config

        try:
            cfg = load_config(config)
        except ConfigError as exc:
            raise CheckError(str(exc)) from None
        try:
            system = library_system_from_config(cfg)
        except LibrarySystemError as exc:
            raise CheckError(str(exc)) from None
        rules = cfg.policy
        schedule = cfg.schedule
        default_language = cfg.kiosk.language
        where = branch or (cfg.door.branch if cfg.door else None) or cfg.kiosk.branch
    staffed_card = False
    if library is None:
        door_cfg = getattr(cfg, "door", None)
        staffed_card = door_cfg is not None and door_cfg.staffed_entry.value == "card"
    try:
        async with system:
            # The patron's branch first (no PIN): it chooses the site rules and the schedule.
            first = await system.identify(card, None)
            if library is not None:
                from kiosk.library.server import site_rules

                where = where or first.branch
                if where is not None and where not in system.store.branches():
                    raise CheckError(f"--branch {where!r}: no such branch in the data file")
                rules = site_rules(system.store, branch_id=where)
                from policy import DEFAULT_PIN_REQUIRED

                rules = rules.model_copy(update={"pin_required": DEFAULT_PIN_REQUIRED})
            else:
                where = where or first.branch
            assert rules is not None
            kind = None
            if act is Action.ENTRY:
                if period is not None:
                    kind = PeriodKind(period)
                elif schedule is not None:
                    try:
                        kind = period_at(schedule, where, at).kind
                    except PolicyError as exc:
                        raise CheckError(f"schedule: {exc}") from None
                else:
                    kind = PeriodKind.UNMANNED
            # The decision is the identification core's, as at the door and the kiosk.
            outcome, patron = await _decide(system, card, pin, act, kind, rules, at, staffed_card)
            patron = patron or first  # closed: the core asks nobody; the evidence is the first answer's
    except LibrarySystemError as exc:
        raise CheckError(f"library system: {exc}") from None
    if isinstance(outcome, Refuse) and outcome.decision is None:
        raise CheckError(f"library system: {outcome.staff}")
    decision = outcome.decision
    assert decision is not None
    lang = normalise_language((patron.language if patron else None) or default_language)
    text = translate("policy", decision.message.key, lang, **decision.message.params)
    return CheckResult(
        allowed=decision.allowed,
        rules=decision.rule_ids(),
        staff=[hit.staff for hit in decision.rules],
        message=text,
        language=lang,
        period=kind.value if kind is not None else None,
        pin_checked=pin is not None,
        branch=where,
        evidence=tuple((e.rule, e.source, e.detail) for e in evidence_for(decision, patron)),
    )


async def _decide(system: Any, card: str, pin: str | None, action: Any, period: Any, rules: Any, at: datetime,
                  staffed_card: bool) -> tuple[Any, Any]:
    """One identification through the core (its store in memory: a staff check counts nothing)."""
    import secrets

    from kiosk.identify import CoreSettings, Front, Identification, IdentifyDriver, PatronStore, ScryptParams
    from kiosk.identify.core import Grant, Refuse

    store = PatronStore(":memory:", secrets.token_bytes(32), scrypt=ScryptParams(n=2, r=1, p=1))
    core = Identification(CoreSettings(rules=rules, front=Front.CHECK, offline=False, staffed_card=staffed_card))
    driver = IdentifyDriver(core, store, system, clock=lambda: at)
    try:
        out = await driver.present(card, action=action, period=period, pin=pin)
        if pin is not None and not any(isinstance(e, (Grant, Refuse)) for e in out):
            out = []
    finally:
        await driver.close()
        store.close()
    outcome = next((e for e in out if isinstance(e, (Grant, Refuse))), None)
    if outcome is None:
        raise CheckError("no decision (library system unreachable?)")
    return outcome, core.snapshot


def _safe(text: str) -> str:
    from kiosk.sip2.render import escape_text

    return escape_text(text)


def _print(result: CheckResult, action: str) -> None:
    verdict = "ALLOWED" if result.allowed else "DENIED"
    print(f"{action}: {verdict}")
    if result.period:
        print(f"period: {result.period}" + (f" (branch {result.branch})" if result.branch else ""))
    if not result.pin_checked:
        print("PIN: not checked (no --pin given)")
    if result.rules:
        print("rules:")
        for rule, staff in zip(result.rules, result.staff):
            text = staff.split(": ", 1)[1] if staff.startswith(rule + ":") else staff
            print(f"  {rule:3} {text}")
            for _rule, source, detail in (e for e in result.evidence if e[0] == rule):
                print(f"      evidence ({_safe(source)}): {_safe(detail)}")
    else:
        print("rules: none")
    print(f"patron message ({result.language}): {result.message}")


def main(args: argparse.Namespace) -> int:
    try:
        at = _parse_at(args.at)
        result = asyncio.run(
            run_check(
                card=args.card,
                action=args.action,
                library=args.library,
                config=args.config,
                pin=args.pin,
                at=at,
                branch=args.branch,
                period=args.period,
            )
        )
    except CheckError as exc:
        print(f"bibkiosk check: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        _print(result, args.action)
    return EXIT_ALLOWED if result.allowed else EXIT_DENIED
