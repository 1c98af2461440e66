"""The ``bibkiosk`` command.

Each sub-command lives in its own module, which exposes
``register(subparsers) -> None``: it adds its parser and sets
``func=callable(args) -> int`` as a default.  Exit codes across every
sub-command: 0 success / allowed, 1 refused / denied, 2 error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Sub-command modules, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "kiosk.config_cli",
    "kiosk.kiosk_cli",
    "kiosk.sip2.cli",
    "kiosk.door.cli",
    "kiosk.library.cli",
    "kiosk.check_cli",
    "kiosk.devices_cli",
    "kiosk.payments_cli",
    "kiosk.console.cli",
)

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # pragma: no cover - argparse path
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bibkiosk",
        description="Self-service kiosk and unmanned-entry door for libraries (SIP2, OCLC Wise rules).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from kiosk.logsafe import install

    install(
        [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
