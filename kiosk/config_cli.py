"""``bibkiosk config check FILE``: validate a machine configuration."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check a configuration file", description=__doc__)
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser("check", help="validate FILE strictly; print OK or every error")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from kiosk.config import ConfigError, config_warnings, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for path, msg in exc.problems:
            print(f"{exc.source}: {path}: {msg}" if path else f"{exc.source}: {msg}", file=sys.stderr)
        print(f"{len(exc.problems)} error(s)", file=sys.stderr)
        return 2
    from kiosk.door.lifecycle import config_warnings as door_warnings

    for path, msg in [*config_warnings(config), *door_warnings(config)]:
        print(f"{args.file}: warning: {path}: {msg}")
    for warning in policy_warnings(config):
        print(f"{args.file}: warning: {warning}")
    print(f"{args.file}: OK")
    return 0


def policy_warnings(config: object) -> list[str]:
    """Settings that do not mean what they seem to."""
    from policy import Action

    out: list[str] = []
    policy = getattr(config, "policy", None)
    if policy is not None and Action.ENTRY not in policy.pin_required:
        out.append(
            "policy.pin_required: lacks \"entry\"; it is ignored for unmanned entry, which always needs the "
            "right PIN (and never one in staffed hours)"
        )
    return out
