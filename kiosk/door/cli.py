"""``bibkiosk door``: run the door controller, read its audit journal, show its state.

    bibkiosk door --config FILE                 run the door service (also: door run --config FILE)
    bibkiosk door log --config FILE [--since 2h|2026-11-23|2026-11-23T18:00] [--json]
    bibkiosk door status --config FILE [--json]

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

    log = dsub.add_parser("log", help="the audit journal, for staff")
    log.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
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
        raise _Usage("\n".join(f"{exc.source}: {p}: {m}" if p else f"{exc.source}: {m}" for p, m in exc.problems)) from None
    if config.door is None:
        raise _Usage(f"{args.config}: no [door] section")
    return config


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
        return now - timedelta(seconds=n * seconds)
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day).astimezone()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Usage(f"cannot read {text[:40]!r} as a time: use 30m, 2h, 7d, 2026-11-23 or 2026-11-23T18:00") from None
    return moment if moment.tzinfo else moment.astimezone()


# --------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from kiosk.door.errors import DoorError
    from kiosk.door.service import DoorService

    try:
        config = _load(args)
    except _Usage as exc:
        return _err(str(exc))

    async def main() -> None:
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

    try:
        asyncio.run(main())
    except DoorError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


# --------------------------------------------------------------------------- log


def _log(args: argparse.Namespace) -> int:
    from kiosk.door.audit import AuditJournal
    from kiosk.door.errors import DoorError

    try:
        config = _load(args)
        now = datetime.now().astimezone()
        since = parse_when(args.since, now)
        until = parse_when(args.until, now) if args.until else None
        if args.limit is not None and args.limit < 1:
            raise _Usage("--limit must be at least 1")
    except _Usage as exc:
        return _err(str(exc))
    from kiosk.door.service import state_dir_of

    path = state_dir_of(config) / "door-audit.sqlite"
    try:
        with AuditJournal(path, readonly=True) as journal:
            rows = journal.entries(since=since, until=until, event=args.event, card_ref=args.card, limit=args.limit)
    except DoorError as exc:
        return _err(str(exc))
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


def _status(args: argparse.Namespace) -> int:
    from kiosk.door.audit import AuditJournal
    from kiosk.door.errors import DoorError

    try:
        config = _load(args)
    except _Usage as exc:
        return _err(str(exc))
    from kiosk.door.service import state_dir_of

    state_dir = state_dir_of(config)
    live: dict | None = None
    try:
        live = json.loads((state_dir / "door-status.json").read_text(encoding="utf-8"))
        if not isinstance(live, dict):
            live = None
    except (OSError, ValueError):
        live = None
    running = bool(live and live.get("running") and _pid_alive(live.get("pid")))
    now = datetime.now().astimezone()
    report: dict = {"running": running, "state_dir": str(state_dir)}
    try:
        with AuditJournal(state_dir / "door-audit.sqlite", readonly=True) as journal:
            occ = journal.occupancy(now)
            report["occupancy"] = {
                "since": occ.since.isoformat(), "entries": occ.entries, "exits": occ.exits, "estimate": occ.estimate,
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
    if live:
        for key in ("pid", "updated", "branch", "fail_mode", "period", "lock", "door", "alarms", "library", "devices", "webhooks"):
            report[key] = live.get(key)
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return EXIT_OK if "audit_error" not in report else EXIT_ERROR
    print(f"door service: {'running (pid ' + str(report.get('pid')) + ')' if running else 'not running'}")
    if live:
        period = report.get("period") or {}
        print(f"  branch: {report.get('branch') or 'default'}   fail mode: {report.get('fail_mode')}")
        end = period.get("end")
        print(f"  period: {period.get('kind', '?')}" + (f" until {end[:16].replace('T', ' ')}" if end else ""))
        print(f"  lock: {report.get('lock')}   door: {report.get('door')}   alarms: {', '.join(report.get('alarms') or []) or 'none'}")
        print(f"  library system: {report.get('library')}")
        for label, detail in (report.get("devices") or {}).items():
            print(f"  device {label}: {detail}")
        if not running:
            print(f"  (last state written {str(report.get('updated'))[:19].replace('T', ' ')})")
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
    return EXIT_OK
