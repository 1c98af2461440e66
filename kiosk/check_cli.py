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

With ``--config`` the machine's own wrong-PIN budget counts: the patron
store in ``state_dir`` (shared by the kiosk and the door) is read, read-only
(a check never counts a wrong PIN, clears one or creates the file), so a
locked-out patron shows as "locked out until HH:MM (L1)".

Prints the decision, every rule that fired with the evidence it was derived
from (which field, which registration, amount and date), the patron's
wrong PINs on this machine and the patron message in the patron's language;
``--json`` prints one object ``{"allowed": bool, "rules": [...], "message":
"...", "language": "nl", "evidence": [{"rule", "source", "detail"}, ...],
"lockout": {"wrong_pins", "tries_left", "locked_until", "note"}}`` (``lockout``
with ``--config`` only).
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
    #: The machine's wrong-PIN budget for this patron (``--config``: read from
    #: state_dir, never written): wrong PINs in the kept window, when the
    #: lockout ends (None: not locked out), tries left before it.
    wrong_pins: int | None = None
    locked_until: datetime | None = None
    tries_left: int | None = None
    #: Why the budget could not be read (no store yet, no key, …); None when it was.
    lockout_note: str | None = None
    #: Whose budget it is: "patron number (XI)", "patron barcode as answered (AA)" or "card"
    budget_of: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "allowed": self.allowed, "rules": self.rules, "message": self.message, "language": self.language,
            "evidence": [{"rule": r, "source": s, "detail": d} for r, s, d in self.evidence],
        }  # fmt: skip
        if self.wrong_pins is not None or self.lockout_note is not None:
            out["lockout"] = {
                "wrong_pins": self.wrong_pins, "tries_left": self.tries_left,
                "locked_until": self.locked_until.isoformat(timespec="seconds") if self.locked_until else None,
                "note": self.lockout_note, "budget_of": self.budget_of,
            }  # fmt: skip
        return out


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
    machine: tuple[Any, str | None] | None = None  # (state_dir, pseudonym key) of --config
    key_problem: str | None = None
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
        try:
            machine = (cfg.state_dir, cfg.secret("pseudonym_key"))
        except ConfigError as exc:
            machine = (cfg.state_dir, None)
            key_problem = str(exc)
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
            # The decision is the identification core's, as at the door and the kiosk,
            # over the machine's own wrong-PIN budget (read-only) with --config.
            store, note = _open_budget(machine, rules, key_problem)
            try:
                outcome, patron = await _decide(system, card, pin, act, kind, rules, at, staffed_card, store)
                budget = _budget(store, card, patron or first, rules, at) if store is not None else None
            finally:
                if store is not None:
                    store.close()
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
        wrong_pins=budget[0] if budget else None,
        locked_until=budget[1] if budget else None,
        tries_left=budget[2] if budget else None,
        lockout_note=note,
        budget_of=_budget_of(patron) if budget else None,
    )


def _budget_of(patron: Any) -> str:
    """Whose wrong-PIN budget the check read (docs/identify.md)."""
    from kiosk.adapter.sip2 import AA_IDENTITY

    pid = getattr(patron, "patron_id", None) or ""
    if pid.startswith(AA_IDENTITY):
        return "patron barcode as answered (AA)"
    return "patron number (XI)" if pid else "card"


def _open_budget(machine: tuple[Any, str | None] | None, rules: Any, key_problem: str | None) -> tuple[Any, str | None]:
    """The machine's patron store (state_dir/patrons.sqlite) opened read-only,
    or (None, why not).  ``--library`` has no machine: (None, None)."""
    if machine is None:
        return None, None
    from datetime import timedelta

    from kiosk.identify import STORE_NAME, PatronStore, StoreError

    state_dir, key = machine
    path = state_dir / STORE_NAME
    if not key:
        return None, f"wrong PINs not read: {key_problem or 'no secrets.pseudonym_key in the configuration'}"
    if not path.is_file():
        return None, f"no wrong PINs recorded on this machine ({path} does not exist yet)"
    lock = rules.lockout
    try:
        store = PatronStore(path, key.encode(), readonly=True,
                            keep=timedelta(minutes=lock.window_minutes + lock.lockout_minutes))
    except StoreError as exc:
        return None, f"wrong PINs not read: {exc}"
    return store, None


def _budget(store: Any, card: str, patron: Any, rules: Any, at: datetime) -> tuple[int, datetime | None, int] | None:
    """(wrong PINs, locked until, tries left) of the card's patron in the machine's store."""
    from kiosk.identify import StoreError
    from policy import lockout_until, tries_left

    try:
        failures = store.failures(card, getattr(patron, "patron_id", None), at)
    except StoreError:
        return None
    return len(failures), lockout_until(failures, rules.lockout, at), tries_left(failures, rules.lockout, at)


async def _decide(system: Any, card: str, pin: str | None, action: Any, period: Any, rules: Any, at: datetime,
                  staffed_card: bool, machine_store: Any = None) -> tuple[Any, Any]:
    """One identification through the core.  *machine_store*: the machine's
    patron store, read-only (its lockouts count; the check counts nothing);
    None: an empty one in memory."""
    import secrets

    from kiosk.identify import CoreSettings, Front, Identification, IdentifyDriver, PatronStore, ScryptParams
    from kiosk.identify.core import Grant, Refuse

    own = machine_store is None
    store = PatronStore(":memory:", secrets.token_bytes(32), scrypt=ScryptParams(n=2, r=1, p=1)) if own else machine_store
    core = Identification(CoreSettings(rules=rules, front=Front.CHECK, offline=False, staffed_card=staffed_card))
    driver = IdentifyDriver(core, store, system, clock=lambda: at)
    try:
        out = await driver.present(card, action=action, period=period, pin=pin)
        if pin is not None and not any(isinstance(e, (Grant, Refuse)) for e in out):
            out = []
    finally:
        await driver.close()
        if own:
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
    if result.locked_until is not None:
        print(f"wrong PINs: locked out until {result.locked_until.astimezone():%H:%M} (L1), "
              f"{result.wrong_pins} wrong PINs on this machine (budget of the {result.budget_of})")
    elif result.wrong_pins is not None:
        print(f"wrong PINs: {result.wrong_pins} on this machine, {result.tries_left} tries left before the lockout"
              f" (budget of the {result.budget_of})")
    elif result.lockout_note:
        print(f"wrong PINs: {result.lockout_note}")
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
