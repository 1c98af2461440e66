"""``bibkiosk library``: the embedded library system.

    bibkiosk library serve --data FILE [--host 127.0.0.1] [--port 6001]
                           [--tls-cert F --tls-key F] [--state DB] [--save]
                           [--dialect extended|wise]
    bibkiosk library serve --demo
    bibkiosk library patron-run --data FILE --date YYYY-MM-DD [--profile seed003|seed002]
    bibkiosk library check-data FILE
    bibkiosk library schema

``serve`` loads the data file into SQLite (``--state``: resume that state
file when it was loaded from this very data, else rebuild it; default a
fresh temporary file) and serves SIP2 until SIGINT/SIGTERM; ``--save``
writes the state back to the data file on a clean exit.
``patron-run`` updates FILE in place and prints what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
from datetime import date
from pathlib import Path

from .errors import LibraryError

log = logging.getLogger("kiosk.library.cli")

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("library", help="the embedded library system (SIP2 server, patron run)")
    cmds = parser.add_subparsers(dest="library_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), EXIT_ERROR)[1])

    serve = cmds.add_parser("serve", help="serve SIP2 from a data file")
    source = serve.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE", help="JSON data file (see docs/library-data.md)")
    source.add_argument("--demo", action="store_true", help="the bundled demo data (docs/demo-data.md)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=6001, help="TCP port (0: a free port, printed at start)")
    serve.add_argument("--tls-cert", metavar="F", help="PEM certificate (chain) for TLS")
    serve.add_argument("--tls-key", metavar="F", help="PEM private key for TLS")
    serve.add_argument("--state", metavar="DB", help="SQLite state file (default: a fresh temporary file)")
    serve.add_argument("--save", action="store_true", help="write the state back to the data file on exit")
    serve.add_argument("--encoding", default="cp850", help="SIP2 character set (default cp850)")
    serve.add_argument(
        "--dialect",
        choices=("extended", "wise"),
        help="extended: Wise's fields and bibkiosk's extension fields; wise: exactly what a Wise site sends"
        " (default: the data file's server.dialect, else extended)",
    )
    serve.add_argument("--fault-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    serve.set_defaults(func=_serve)

    run = cmds.add_parser("patron-run", help="the monthly patron run on a data file (in place)")
    run.add_argument("--data", metavar="FILE", required=True)
    run.add_argument("--date", metavar="YYYY-MM-DD", required=True, help="the run's date (normally the 1st)")
    run.add_argument(
        "--profile",
        choices=("seed003", "seed002"),
        help="interval profile (default: the data file's patron_run settings; seed 003 values)",
    )
    run.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    run.set_defaults(func=_patron_run)

    check = cmds.add_parser("check-data", help="validate a data file")
    check.add_argument("file")
    check.set_defaults(func=_check_data)

    schema = cmds.add_parser("schema", help="print the data file's JSON Schema")
    schema.set_defaults(func=_schema)


def encoding_problem(encoding: str) -> str | None:
    """Why *encoding* cannot be a SIP2 character set (None: it can): it must
    be a text encoding that keeps ASCII as ASCII (cp850, latin-1, utf-8 …)."""
    import codecs

    try:
        info = codecs.lookup(encoding)
    except (LookupError, ValueError):
        return "unknown character set"
    if not getattr(info, "_is_text_encoding", True):
        return "not a character set (a codec such as rot13 or hex)"
    sample = "93AZ09|AY1\r"
    try:
        ascii_safe = sample.encode(info.name) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        ascii_safe = False
    if not ascii_safe:
        return "does not keep ASCII as ASCII (SIP2 frames are ASCII; use cp850, latin-1 or utf-8)"
    return None


def _fail(message: str) -> int:
    print(f"bibkiosk library: {message}", file=sys.stderr)
    return EXIT_ERROR


def _serve(args: argparse.Namespace) -> int:
    from kiosk.notify import Notifier, watchdog_loop

    from .datafile import demo_path, load_data, save_data
    from .server import LibraryServer, tls_context
    from .store import Store

    if bool(args.tls_cert) != bool(args.tls_key):
        return _fail("--tls-cert and --tls-key go together")
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: expected 0..65535")
    problem = encoding_problem(args.encoding)
    if problem:
        return _fail(f"--encoding {args.encoding!r}: {problem}")
    data_path = demo_path() if args.demo else Path(args.data)
    try:
        data = load_data(data_path)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except LibraryError as exc:
        return _fail(str(exc))
    tmp = None
    try:
        if args.state:
            store, resumed = Store.open_or_create(args.state, data, fault_delay=args.fault_delay_ms / 1000)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="bibkiosk-library-")
            store, resumed = Store.create(Path(tmp.name) / "library.sqlite", data), False
        store.fault_delay = args.fault_delay_ms / 1000
    except LibraryError as exc:
        return _fail(str(exc))

    async def serve() -> int:
        server = LibraryServer(store, encoding=args.encoding, dialect=args.dialect)
        try:
            port = await server.start(args.host, args.port, tls=tls)
        except OSError as exc:
            print(f"bibkiosk library: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
            return EXIT_ERROR
        print(
            f"library: serving SIP2 on {args.host}:{port}{' (TLS)' if tls else ''} "
            f"from {'the demo data' if args.demo else data_path}, dialect {server.handler.dialect}"
            f"{' (resumed state ' + str(args.state) + ')' if resumed else ''}",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        notifier = Notifier()
        notifier.ready(f"serving SIP2 on {args.host}:{port}")
        pings = asyncio.create_task(watchdog_loop(notifier)) if notifier.ping_interval() else None
        await stop.wait()
        notifier.stopping()
        if pings is not None:
            pings.cancel()
        await server.close()
        notifier.close()
        return EXIT_OK

    try:
        code = asyncio.run(serve())
        if code == EXIT_OK and args.save and not args.demo:
            save_data(store.to_data(), data_path)
            print(f"library: state saved to {data_path}", flush=True)
        return code
    finally:
        store.close()
        if tmp is not None:
            tmp.cleanup()


def _patron_run(args: argparse.Namespace) -> int:
    from .datafile import load_data, save_data
    from .patron_run import PROFILES, run_on_data

    try:
        run_date = date.fromisoformat(args.date)
    except ValueError:
        return _fail(f"--date {args.date!r}: expected YYYY-MM-DD")
    try:
        data = load_data(args.data)
    except LibraryError as exc:
        return _fail(str(exc))
    settings = PROFILES[args.profile] if args.profile else None
    new, changes = run_on_data(data, run_date, settings)
    if run_date.day != 1:
        print(f"note: {run_date} is not the 1st of a month (the patron run normally runs on the 1st)")
    for change in changes:
        print(change.describe())
    if not changes:
        print("patron run: nothing to change")
        return EXIT_OK
    if args.dry_run:
        print(f"patron run: {len(changes)} change(s) (dry run, nothing written)")
        return EXIT_OK
    try:
        save_data(new, args.data)
    except OSError as exc:
        return _fail(f"cannot write {args.data}: {exc.strerror}")
    print(f"patron run: {len(changes)} change(s) written to {args.data}")
    return EXIT_OK


def _check_data(args: argparse.Namespace) -> int:
    from .datafile import load_data

    try:
        data = load_data(args.file)
    except LibraryError as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    print(f"{args.file}: ok ({len(data.patrons)} patrons, {len(data.items)} items, {len(data.loans)} loans)")
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from .datafile import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK
