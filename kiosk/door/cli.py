"""``bibkiosk door``: run the door controller, read its audit journal, show its state.

    bibkiosk door --config FILE                 run the door service (also: door run --config FILE)
    bibkiosk door relock --config FILE [--after-stop]   drive every lock locked (needs only [devices])
    bibkiosk door log (--config FILE | --state-dir DIR) [--since 2h|2026-11-23|2026-11-23T18:00] [--json]
    bibkiosk door status (--config FILE | --state-dir DIR) [--json]

`log` and `status` read only the state directory (`--state-dir`, or the
config's `state_dir`): no secret, no OSDP key, no library system.

Exit codes: 0 success, 2 error (configuration, state files, devices).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

EXIT_OK, EXIT_ERROR = 0, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "door",
        help="the entrance door controller (run, log, status)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="machine configuration (TOML) with a [door] section")
    p.set_defaults(func=_run, door_action="run")
    dsub = p.add_subparsers(dest="door_action", metavar="[ACTION]", required=False)

    run = dsub.add_parser("run", help="run the door service (the default)")
    run.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    run.set_defaults(func=_run)

    relock = dsub.add_parser(
        "relock", help="drive every lock locked (systemd ExecStartPre= / ExecStopPost=); needs only [devices]",
    )
    relock.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    relock.add_argument(
        "--after-stop", action="store_true",
        help="as ExecStopPost=: a fail_safe door that systemd reports stopped cleanly is left as the service put it",
    )
    relock.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds per lock (default 10)")
    relock.set_defaults(func=_relock)

    log = dsub.add_parser("log", help="the audit journal, for staff")
    log.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    log.add_argument("--state-dir", metavar="DIR", default=None, help="the door's state directory (instead of --config)")
    log.add_argument(
        "--since", metavar="WHEN", default="24h",
        help="start: a duration back from now (30m, 2h, 7d) or a date/time (2026-11-23, 2026-11-23T18:00); default 24h",
    )
    log.add_argument("--until", metavar="WHEN", default=None, help="end, same forms as --since")
    log.add_argument("--event", metavar="EVENT", default=None, help="only this event (entry, alarm, exit, door.opened, ...)")
    log.add_argument("--card", metavar="REF", default=None, help="only this card reference (card:...)")
    log.add_argument("--limit", type=int, default=None, metavar="N", help="only the last N rows")
    log.add_argument("--json", action="store_true", help="one JSON object per line")
    log.set_defaults(func=_log)

    status = dsub.add_parser("status", help="live state, occupancy estimate, last events")
    status.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    status.add_argument("--state-dir", metavar="DIR", default=None, help="the door's state directory (instead of --config)")
    status.add_argument("--json", action="store_true", help="JSON output")
    status.set_defaults(func=_status)


# --------------------------------------------------------------------------- helpers


def _err(msg: str) -> int:
    print(f"bibkiosk door: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _load(args: argparse.Namespace):
    from kiosk.config import ConfigError, load_config

    if not getattr(args, "config", None):
        raise _Usage("--config FILE is required")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise _Usage(_config_message(exc)) from None
    if config.door is None:
        raise _Usage(f"{args.config}: no [door] section")
    return config


def _config_message(exc) -> str:
    """A ConfigError as one line (the first problem, and how many more)."""
    problems = list(exc.problems) or [("", "invalid")]
    path, msg = problems[0]
    line = f"{exc.source}: {path}: {msg}" if path else f"{exc.source}: {msg}"
    if len(problems) > 1:
        line += f" (and {len(problems) - 1} more: bibkiosk config check {exc.source})"
    return line


def _one_line(exc: BaseException) -> str:
    """An exception as one line for the user (a traceback is never shown)."""
    from kiosk.config import ConfigError

    if isinstance(exc, ConfigError):
        return _config_message(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or type(exc).__name__}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def state_dir_from(args: argparse.Namespace) -> Path:
    """``--state-dir``, else the config's ``state_dir`` read from the TOML alone
    (relative to the file; no validation, no secrets)."""
    from kiosk.door.lifecycle import RelockError, read_document

    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    if not getattr(args, "config", None):
        raise _Usage("--config FILE or --state-dir DIR is required")
    try:
        document = read_document(args.config)
    except RelockError as exc:
        raise _Usage(str(exc)) from None
    raw = document.get("state_dir", "/var/lib/bibkiosk")
    if not isinstance(raw, str) or not raw:
        raise _Usage(f"{args.config}: state_dir must be a path")
    path = Path(raw)
    if not path.is_absolute():
        path = (Path(args.config).resolve().parent / path).resolve()
    return path


class _Usage(Exception):
    pass


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_when(text: str, now: datetime) -> datetime:
    """A duration back from *now* (``90s``, ``30m``, ``2h``, ``7d``, ``1w``) or an ISO date / date-time (local)."""
    text = text.strip()
    match = _DURATION.match(text.lower())
    if match:
        n, unit = int(match[1]), match[2]
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        try:
            return now - timedelta(seconds=n * seconds)
        except (OverflowError, ValueError):
            raise _Usage(f"{text[:40]!r} reaches back too far") from None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day).astimezone()
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise _Usage(f"cannot read {text[:40]!r} as a time: use 30m, 2h, 7d, 2026-11-23 or 2026-11-23T18:00") from None
    return moment if moment.tzinfo else moment.astimezone()


# --------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    """Run the service.  Every way out of here leaves the locks locked: the
    service locks first and on stop; when it cannot be built or started (a bad
    config, an unset secret, an unwritable disk...) the locks are driven locked
    from ``[devices]`` alone before the one-line error."""
    # Lock first: the locks whose release only our process ends (LCUS relays) are
    # driven locked from [devices] alone, before the configuration is even validated
    # (OSDP: the PD's own timer ends any release; the service locks it as it opens it).
    _relock_after_failure(args, early=True)
    from kiosk.door.service import DoorService

    try:
        config = _load(args)
    except _Usage as exc:
        _relock_after_failure(args)
        return _err(str(exc))

    stopped_ok = True

    async def main() -> None:
        nonlocal stopped_ok
        service = DoorService(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, service.request_stop)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
                pass
        from kiosk.fleet.door import door_extras  # [fleet] link and [metrics], when configured

        async with door_extras(service, config):
            await service.run()
        stopped_ok = service.stopped_in_fail_mode_state

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        import logging

        logging.getLogger("kiosk.door").debug("door service failed", exc_info=True)
        _relock_after_failure(args)
        return _err(_one_line(exc))
    if not stopped_ok:
        # Non-zero, so that systemd's ExecStopPost= relocks (docs/door.md).
        return _err("the lock did not take its stop state; relock it (bibkiosk door relock)")
    return EXIT_OK


def _relock_after_failure(args: argparse.Namespace, *, early: bool = False) -> None:
    """Best effort: the locks of ``[devices]`` driven locked (at start, ``early``:
    those without a hardware timer; after a failed start or run: all)."""
    import logging

    from kiosk.door.lifecycle import HARDWARE_TIMED, RelockError, relock_sync

    log = logging.getLogger("kiosk.door")
    if not getattr(args, "config", None):
        return
    try:
        report = relock_sync(args.config, skip_schemes=HARDWARE_TIMED if early else frozenset())
    except RelockError:
        return  # no [devices.lock], or the file is unreadable: the error itself says so
    except Exception as exc:  # noqa: BLE001
        log.error("relock after the failure: %s", _one_line(exc))
        return
    for label, why in report.failed:
        log.error("relock after the failure: %s NOT LOCKED: %s", label, why)


# --------------------------------------------------------------------------- relock


def _relock(args: argparse.Namespace) -> int:
    from kiosk.door.lifecycle import RelockError, relock_sync

    if not getattr(args, "config", None):
        return _err("--config FILE is required")
    if not args.timeout > 0:
        return _err("--timeout must be positive")
    try:
        report = relock_sync(args.config, timeout=args.timeout, after_stop=args.after_stop)
    except RelockError as exc:
        return _err(str(exc))
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        return _err(_one_line(exc))
    for warning in report.warnings:
        print(f"bibkiosk door relock: warning: {warning}", file=sys.stderr)
    if report.skipped:
        print(report.skipped)
        return EXIT_OK
    for label in report.locked:
        print(f"locked {label} ({report.seconds:.2f} s)")
    for label, why in report.failed:
        print(f"bibkiosk door relock: {label}: NOT LOCKED: {why}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_ERROR


# --------------------------------------------------------------------------- log


def _log(args: argparse.Namespace) -> int:
    from kiosk.door.audit import AuditJournal
    from kiosk.door.errors import DoorError

    try:
        state_dir = state_dir_from(args)
        now = datetime.now().astimezone()
        since = parse_when(args.since, now)
        until = parse_when(args.until, now) if args.until else None
        if args.limit is not None and args.limit < 1:
            raise _Usage("--limit must be at least 1")
    except _Usage as exc:
        return _err(str(exc))

    path = state_dir / "door-audit.sqlite"
    try:
        with AuditJournal(path, readonly=True) as journal:
            rows = journal.entries(since=since, until=until, event=args.event, card_ref=args.card, limit=args.limit)
    except DoorError as exc:
        return _err(str(exc))
    except (OverflowError, ValueError, OSError) as exc:
        return _err(_one_line(exc))
    out = sys.stdout
    if args.json:
        for row in rows:
            out.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK
    if not rows:
        print(f"no events since {since.astimezone().strftime('%Y-%m-%d %H:%M')}")
        return EXIT_OK
    print(f"{'time':19}  {'event':20} {'result':11} {'rules':10} {'source':8} {'reader':12} {'card':22} detail")
    for row in rows:
        at = row.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{at:19}  {row.event:20} {row.result or '-':11} {','.join(row.rules) or '-':10} {row.source or '-':8} "
            f"{(row.reader or '-')[:12]:12} {row.card_ref or '-':22} {row.detail or ''}".rstrip()
        )
    return EXIT_OK


# --------------------------------------------------------------------------- status


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: The status file's keys and the JSON types they must have (anything else: malformed).
_LIVE_TYPES: dict[str, tuple[type, ...]] = {
    "pid": (int,), "running": (bool,), "updated": (str,), "branch": (str, type(None)), "fail_mode": (str,),
    "period": (dict, type(None)), "lock": (str,), "door": (str,), "alarms": (list,), "library": (str,),
    "devices": (dict,), "webhooks": (dict, type(None)), "occupancy": (dict, type(None)),
    "lockdown": (bool,), "lockdown_info": (dict, type(None)),
}


def _read_live(path: Path) -> tuple[dict | None, str | None]:
    """The service's status file, or (None, why) when it is missing or malformed."""
    try:
        live = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} unreadable ({_one_line(exc)[:80]})"
    if not isinstance(live, dict):
        return None, f"{path.name} malformed (not an object)"
    for key, types in _LIVE_TYPES.items():
        if key in live and not isinstance(live[key], types):
            return None, f"{path.name} malformed ({key})"
    period = live.get("period") or {}
    if not all(isinstance(v, (str, type(None))) for v in period.values()):
        return None, f"{path.name} malformed (period)"
    if not all(isinstance(v, str) for v in live.get("alarms") or []):
        return None, f"{path.name} malformed (alarms)"
    return live, None


def _lockdown_line(info: dict, running: bool) -> str:
    since = str(info.get("since") or "?")[:19].replace("T", " ")
    who = f" by {info['staff']}" if info.get("staff") else ""
    why = f": {info['reason']}" if info.get("reason") else ""
    line = f"LOCKDOWN since {since}{who}{why} (every card refused LD until staff resume)"
    if info.get("recorded") is False:
        line += "; NOT RECORDED (full disk): it ends if the service restarts"
    elif not running:
        line += "; on record: the next start locks down again"
    return line


def _status(args: argparse.Namespace) -> int:
    from kiosk.door.audit import AuditJournal
    from kiosk.door.errors import DoorError

    try:
        state_dir = state_dir_from(args)
    except _Usage as exc:
        return _err(str(exc))

    live, problem = _read_live(state_dir / "door-status.json")
    running = bool(live and live.get("running") and _pid_alive(live.get("pid")))
    now = datetime.now().astimezone()
    report: dict = {"running": running, "state_dir": str(state_dir)}
    if problem:
        report["status_error"] = problem
    try:
        with AuditJournal(state_dir / "door-audit.sqlite", readonly=True) as journal:
            occ = journal.occupancy(now)
            report["occupancy"] = {
                "since": occ.since.isoformat(), "entries": occ.entries, "exits": occ.exits, "estimate": occ.estimate,
            }
            on_record = journal.lockdown()
            report["lockdown_on_record"] = None if on_record is None else {
                "staff": on_record.staff, "reason": on_record.reason, "since": on_record.at.astimezone().isoformat(), "recorded": True,
            }
            last_entry = journal.last("entry")
            last_alarm = journal.last("alarm")
            report["last_entry"] = last_entry.as_dict() if last_entry else None
            report["last_alarm"] = last_alarm.as_dict() if last_alarm else None
            day = journal.entries(since=now - timedelta(hours=24), event="entry")
            report["entries_24h"] = {
                "granted": sum(1 for e in day if e.result == "granted"),
                "refused": sum(1 for e in day if e.result == "refused"),
                "error": sum(1 for e in day if e.result == "error"),
            }
    except DoorError as exc:
        report["audit_error"] = str(exc)
    except (OverflowError, ValueError, OSError) as exc:
        report["audit_error"] = _one_line(exc)
    if live:
        for key in ("pid", "updated", "branch", "fail_mode", "period", "lock", "door", "alarms", "library", "devices", "webhooks"):
            report[key] = live.get(key)
    # The lockdown: the running service's (also one it could not record); else the one on
    # record in the audit, which the next start takes back.
    if running:
        report["lockdown"] = live.get("lockdown_info") or ({"recorded": None} if live.get("lockdown") else None)
    else:
        report["lockdown"] = report.get("lockdown_on_record")
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return EXIT_ERROR if "audit_error" in report or problem else EXIT_OK
    print(f"door service: {'running (pid ' + str(report.get('pid')) + ')' if running else 'not running'}")
    if live:
        period = report.get("period") or {}
        print(f"  branch: {report.get('branch') or 'default'}   fail mode: {report.get('fail_mode')}")
        end = period.get("end")
        print(f"  period: {period.get('kind', '?')}" + (f" until {end[:16].replace('T', ' ')}" if end else ""))
        print(f"  lock: {report.get('lock')}   door: {report.get('door')}   alarms: {', '.join(report.get('alarms') or []) or 'none'}")
        print(f"  library system: {report.get('library')}")
    if report.get("lockdown"):
        print("  " + _lockdown_line(report["lockdown"], running))
    if live:
        for label, detail in (report.get("devices") or {}).items():
            print(f"  device {label}: {detail}")
        if not running:
            print(f"  (last state written {str(report.get('updated'))[:19].replace('T', ' ')})")
    if problem:
        print(f"  status file: {problem}")
    if "audit_error" in report:
        print(f"  audit journal: {report['audit_error']}")
        return EXIT_ERROR
    occ = report["occupancy"]
    print(
        f"occupancy estimate: {occ['estimate']} (entries {occ['entries']}, exits {occ['exits']} "
        f"since {occ['since'][:16].replace('T', ' ')} UTC)"
    )
    e24 = report["entries_24h"]
    print(f"last 24 h: {e24['granted']} granted, {e24['refused']} refused, {e24['error']} errors")
    if report.get("last_alarm"):
        a = report["last_alarm"]
        print(f"last alarm: {a['result']} {a['detail']} at {a['at'][:19].replace('T', ' ')} UTC")
    if problem:
        print(f"bibkiosk door: {problem}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
