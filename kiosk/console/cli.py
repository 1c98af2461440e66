"""``bibkiosk console``: the staff console.

    bibkiosk console --config FILE                      serve (uvicorn) on [console] listen:port
    bibkiosk console --config FILE user NAME --role viewer|operator|admin [--language nl] [--totp]
                                                        create or replace a staff account; the
                                                        password from $BIBKIOSK_CONSOLE_PASSWORD
                                                        or asked on the terminal
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="the staff console (web): all sites, alarms, audit, why refused?, remote actions",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--config", required=True, metavar="FILE", help="console configuration (TOML)")
    sub2 = p.add_subparsers(dest="console_command", metavar="COMMAND")
    u = sub2.add_parser("user", help="create or replace a staff account")
    u.add_argument("name")
    u.add_argument("--role", required=True, choices=("viewer", "operator", "admin"))
    u.add_argument("--language", default="nl", choices=("nl", "fr", "en"))
    u.add_argument("--totp", action="store_true", help="require a TOTP code at login (prints the secret once)")
    p.set_defaults(func=main)


def _err(text: str) -> int:
    print(f"bibkiosk console: {text}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    from kiosk.config import ConfigError
    from kiosk.console.config import load_console_config
    from kiosk.console.errors import ConsoleError

    try:
        cfg = load_console_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        if getattr(args, "console_command", None) == "user":
            return _user(cfg, args)
        return serve(cfg)
    except ConsoleError as exc:
        return _err(str(exc))


def _user(cfg, args: argparse.Namespace) -> int:
    from kiosk.console.auth import add_staff
    from kiosk.console.errors import AuthError
    from kiosk.console.store import ConsoleStore

    password = os.environ.get("BIBKIOSK_CONSOLE_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
    store = ConsoleStore(cfg.store_url())
    try:
        secret = add_staff(store, args.name, password, args.role, args.language, totp=args.totp)
        store.audit("(cli)", "staff.add", ok=True, detail=f"{args.name} {args.role}")
    except AuthError as exc:
        return _err(str(exc))
    finally:
        store.close()
    print(f"staff account {args.name} ({args.role}) saved")
    if secret:
        print(f"TOTP secret (enter it in the authenticator app now; it is not shown again): {secret}")
    return 0


def serve(cfg) -> int:
    asyncio.run(run_server(cfg))
    return 0


async def run_server(cfg, *, started: asyncio.Event | None = None) -> None:
    import uvicorn

    from kiosk.console.app import create_app

    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.console.listen, port=cfg.console.port, log_level="warning",
                                           proxy_headers=True, forwarded_allow_ips="127.0.0.1", access_log=False))
    print(f"bibkiosk console on http://{cfg.console.listen}:{cfg.console.port}", file=sys.stderr, flush=True)
    from kiosk.notify import Notifier, watchdog_loop

    notifier = Notifier()

    async def notify_when_up() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        notifier.ready(f"console on {cfg.console.listen}:{cfg.console.port}")
        if started is not None:
            started.set()
        if notifier.ping_interval():
            await watchdog_loop(notifier)

    task = asyncio.create_task(notify_when_up())
    try:
        await server.serve()
    finally:
        task.cancel()
        notifier.stopping()
