"""``bibkiosk payments --config FILE``: the payments staff must look at.

Lists the kiosk's payments that are not settled: ``refused`` (the terminal
took the money, the library system refused to book it: book it by hand,
then ``--acknowledge REF``), ``approved`` (taken, booking still being
retried) and ``intent`` (the terminal's answer still unknown).  ``--all``
lists every payment.  Exit 0 when nothing needs staff, 1 when something
does, 2 for an error.  No card numbers are shown: ``card_ref`` is the keyed
pseudonym the kiosk logs use.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("payments", help="list kiosk payments that need staff (refused, not yet booked)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="machine configuration (TOML)")
    p.add_argument("--all", action="store_true", help="every payment, not only the ones that need staff")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--acknowledge", metavar="REF", help="staff have booked refused payment REF by hand")
    p.add_argument("--note", default="", help="with --acknowledge: what was done")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kiosk.config import ConfigError, load_config
    from kiosk.payments import JOURNAL_NAME, STAFF_STATES, PaymentJournal, PaymentJournalError, format_amount

    try:
        config = load_config(args.config)
        key = config.secret("pseudonym_key")
    except ConfigError as exc:
        for path, msg in getattr(exc, "problems", [("", str(exc))]):
            print(f"{args.config}: {path}: {msg}" if path else f"{args.config}: {msg}", file=sys.stderr)
        return 2
    if not key:
        print(f"{args.config}: secrets.pseudonym_key: required by the payment journal", file=sys.stderr)
        return 2
    path = config.state_dir / JOURNAL_NAME
    if not path.exists():
        print(f"bibkiosk payments: no payment journal at {path} (no payment taken yet)")
        return 0
    try:
        journal = PaymentJournal(path, pseudonym_key=key.encode())
    except PaymentJournalError as exc:
        print(f"bibkiosk payments: {exc}", file=sys.stderr)
        return 2
    with journal:
        if args.acknowledge:
            try:
                record = journal.acknowledge(args.acknowledge, args.note)
            except PaymentJournalError as exc:
                print(f"bibkiosk payments: {exc}", file=sys.stderr)
                return 2
            print(f"{record.ref}: acknowledged")
            return 0
        records = journal.records(None if args.all else STAFF_STATES)
        needs_staff = [r for r in journal.records(STAFF_STATES)]
    for r in records:
        if args.json:
            print(json.dumps(r.to_dict(), sort_keys=True))
            continue
        when = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        booked = sum(b.state == "booked" for b in r.bookings)
        print(f"{r.ref}  {when}  {r.state.value:12} {format_amount(r.amount_cents, 'en', r.currency):>10}  "
              f"{r.card_ref}  lines {booked}/{len(r.lines)} booked  terminal {r.terminal_ref or '-'}"
              + (f"  ({r.message})" if r.message else ""))
    if not args.json:
        print(f"{len(needs_staff)} payment(s) need staff" if needs_staff else "no payment needs staff")
    return 1 if needs_staff else 0
