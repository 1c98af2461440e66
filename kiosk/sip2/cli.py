"""``bibkiosk sip2``: ask a library system over SIP2 and show its answer.

For staff and reader vendors who must see what the library system says.  It
connects, logs in (93, when --user is given), sends an SC status (99), sends
the request, prints the decoded answer and exits 0 on an answer, 1 on a
refusal (ok=0, invalid patron, wrong PIN, offline, payment refused) and 2 on
an error (unreachable, timeout, garbage, login refused, bad arguments).

Passwords are read from files (--password-file, --terminal-password-file),
never from the command line.  ``--pin -`` reads the PIN from standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2

SUMMARY_CHOICES = ("holds", "overdue", "charged", "fines", "recall", "unavailable")
HOLD_MODE_CHOICES = {"add": "+", "delete": "-", "change": "*"}

_EPILOG = """\
commands:
  status                              SC status (99), show the ACS status (98)
  patron-status CARD [--pin PIN]      patron status (23/24)
  patron-info CARD [--pin PIN] [--summary KIND]
                                      patron information (63/64); KIND is one of
                                      holds, overdue, charged, fines, recall, unavailable
  item-info ITEM                      item information (17/18)
  checkout CARD ITEM [--pin PIN]      check an item out (11/12)
  checkin ITEM                        check an item in (09/10)
  renew CARD ITEM [--pin PIN]         renew one item (29/30)
  renew-all CARD [--pin PIN]          renew all items (65/66)
  hold CARD ITEM [--pin PIN] [--mode MODE] [--pickup LOCATION]
                                      place (add), cancel (delete) or change a hold (15/16)
  end-session CARD [--pin PIN]        end the patron session (35/36)
  registrations CARD [--pin PIN] [--flag FB]
                                      the patron's registrations (Wise SIP2+ 41/42): adm_id,
                                      type, amount, dates
  pay CARD --registration ADM_ID --amount X [--pin PIN]
                                      pay one registration (37 with CG = adm_id); exit 0 when
                                      the 38 says Y, 1 when refused
  raw 'FRAME'                         send a hand-written frame (AY/AZ are added)

exit status: 0 answer, 1 refusal (ok=0, invalid patron, wrong PIN), 2 error

examples:
  bibkiosk sip2 --host wise.example --port 6001 --user kiosk1 --password-file /etc/bibkiosk/sip2.pw \\
      --institution BIB --location KIOSK1 patron-info 2000123456 --summary charged
  bibkiosk sip2 --json item-info 30001234
  bibkiosk sip2 raw '9900802.00'
  echo 1234 | bibkiosk sip2 --user kiosk1 --password-file sip2.pw registrations 22000000000019 --pin -
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sip2",
        help="ask a library system over SIP2 and show its answer",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    conn = p.add_argument_group("connection")
    conn.add_argument("--host", default="127.0.0.1", help="library system host (default 127.0.0.1)")
    conn.add_argument("--port", type=int, default=6001, help="SIP2 port (default 6001)")
    conn.add_argument("--tls", action="store_true", help="use TLS")
    conn.add_argument("--ca-file", type=Path, help="CA certificates to verify the server with (TLS)")
    conn.add_argument("--cert-file", type=Path, help="client certificate (TLS)")
    conn.add_argument("--key-file", type=Path, help="client certificate key (TLS)")
    conn.add_argument("--user", help="login account (CN); without it no 93 login is sent")
    conn.add_argument("--password-file", type=Path, help="file whose first line is the login password (CO)")
    conn.add_argument("--terminal-password-file", type=Path, help="file whose first line is the terminal password (AC)")
    conn.add_argument("--institution", default="", help="institution id (AO)")
    conn.add_argument("--location", help="location code (CP in the login, AP in checkins)")
    conn.add_argument("--encoding", default="cp850", help="character set on the wire (default cp850; e.g. utf-8)")
    conn.add_argument("--no-error-detection", action="store_true", help="send no AY/AZ sequence and checksum")
    conn.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer (default 10)")
    conn.add_argument("--retries", type=int, default=2, help="resends and reconnects (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=_no_command)

    csub = p.add_subparsers(dest="sip2_command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        c = csub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
        c.set_defaults(func=_run)
        return c

    command("status", "send an SC status (99) and show the ACS status (98)")
    c = command("patron-status", "patron status (23/24)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c = command("patron-info", "patron information (63/64)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c.add_argument("--summary", choices=SUMMARY_CHOICES, help="list these items in the answer")
    c = command("item-info", "item information (17/18)")
    c.add_argument("item", metavar="ITEM", help="item identifier (AB)")
    c = command("checkout", "check an item out (11/12)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("item", metavar="ITEM", help="item identifier (AB)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c = command("checkin", "check an item in (09/10)")
    c.add_argument("item", metavar="ITEM", help="item identifier (AB)")
    c = command("renew", "renew one item (29/30)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("item", metavar="ITEM", help="item identifier (AB)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c = command("renew-all", "renew all items of a patron (65/66)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c = command("hold", "place, cancel or change a hold (15/16)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("item", metavar="ITEM", help="item identifier (AB)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c.add_argument("--mode", choices=tuple(HOLD_MODE_CHOICES), default="add",
                   help="add (default), delete or change the hold")  # fmt: skip
    c.add_argument("--pickup", metavar="LOCATION", help="pickup location (BS)")
    c = command("end-session", "end a patron session (35/36)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c = command("registrations", "the patron's registrations (Wise SIP2+ 41/42)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c.add_argument("--flag", choices=("FA", "FB", "FC"), default="FB",
                   help="the 41 request flag the site's Wise wants (default FB)")  # fmt: skip
    c = command("pay", "pay one registration (Wise: a 37 with CG = its adm_id)")
    c.add_argument("card", metavar="CARD", help="patron identifier (AA)")
    c.add_argument("--registration", required=True, metavar="ADM_ID", help="the registration's adm_id (YZ value 8)")
    c.add_argument("--amount", required=True, metavar="X", help="amount in euro, e.g. 1.50")
    c.add_argument("--pin", help="patron PIN (AD); '-' reads it from standard input")
    c.add_argument("--payment-type", type=int, choices=(0, 1, 2), default=0,
                   help="SIP2 payment type: 0 cash (default), 1 VISA, 2 credit card")  # fmt: skip
    c.add_argument("--transaction-id", metavar="BK",
                   help="our transaction id (BK); give the same one again to retry a payment (default: a new one)")  # fmt: skip
    c = command("raw", "send a hand-written frame; AY/AZ are added unless --no-error-detection")
    c.add_argument("frame", metavar="FRAME", help="frame text, e.g. '9900802.00'")


def _no_command(args: argparse.Namespace) -> int:
    print("bibkiosk sip2: error: a COMMAND is required (see bibkiosk sip2 --help)", file=sys.stderr)
    return EXIT_ERROR


def _read_secret(path: Path | None, what: str):
    from pydantic import SecretStr

    if path is None:
        return None
    try:
        from kiosk.files import SECRET_LIMIT, read_bounded

        text = read_bounded(path, SECRET_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read the {what} file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = text.splitlines()
    return SecretStr(lines[0] if lines else "")


class _UsageError(Exception):
    pass


def _settings(args: argparse.Namespace):
    from pydantic import ValidationError

    from .client import ClientSettings

    try:
        return ClientSettings(
            host=args.host,
            port=args.port,
            tls=args.tls,
            ca_file=args.ca_file,
            cert_file=args.cert_file,
            key_file=args.key_file,
            user=args.user,
            password=_read_secret(args.password_file, "password"),
            terminal_password=_read_secret(args.terminal_password_file, "terminal password"),
            institution=args.institution,
            location=args.location,
            encoding=args.encoding,
            error_detection=not args.no_error_detection,
            timeout=args.timeout,
            connect_timeout=min(args.timeout, 10.0) if args.timeout > 0 else 5.0,
            retries=args.retries,
            keepalive_seconds=None,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise _UsageError(problems) from None


def _amount(text: str) -> str:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise _UsageError(f"--amount {text!r}: expected an amount in euro such as 1.50") from None
    if not value.is_finite() or value <= 0 or value >= 1_000_000:
        raise _UsageError(f"--amount {text!r}: expected a positive amount below 1000000")
    return f"{value.quantize(Decimal('0.01'))}"


def _new_bk() -> str:
    import secrets

    return "bibkiosk-" + secrets.token_hex(8)


def _pin(args: argparse.Namespace) -> str | None:
    pin = getattr(args, "pin", None)
    if pin == "-":
        pin = sys.stdin.readline().rstrip("\r\n")
    return pin


async def _ask(args: argparse.Namespace, settings, pin: str | None):
    from .client import Sip2Client

    cmd = args.sip2_command
    async with Sip2Client(settings) as client:
        if cmd == "status":
            return await client.sc_status()
        if cmd == "patron-status":
            return await client.patron_status(args.card, pin)
        if cmd == "patron-info":
            return await client.patron_information(args.card, pin, args.summary)
        if cmd == "item-info":
            return await client.item_information(args.item)
        if cmd == "checkout":
            return await client.checkout(args.card, args.item, pin)
        if cmd == "checkin":
            return await client.checkin(args.item)
        if cmd == "renew":
            return await client.renew(args.card, args.item, pin)
        if cmd == "renew-all":
            return await client.renew_all(args.card, pin)
        if cmd == "hold":
            return await client.hold(
                args.card, args.item, pin, mode=HOLD_MODE_CHOICES[args.mode], pickup_location=args.pickup
            )
        if cmd == "end-session":
            return await client.end_session(args.card, pin)
        if cmd == "registrations":
            return await client.registrations(args.card, pin, flag=args.flag)
        if cmd == "pay":
            return await client.pay_registration(
                args.card, args.registration, _amount(args.amount), transaction_id=args.transaction_id or _new_bk(),
                pin=pin, payment_type=args.payment_type,
            )
        if cmd == "raw":
            return await client.raw(args.frame)
    raise _UsageError(f"unknown command {cmd!r}")  # pragma: no cover - argparse prevents it


def _run(args: argparse.Namespace) -> int:
    from .errors import LocalSip2Error, RemoteSip2Error, Sip2ConnectionError, Sip2Error, Sip2LoginError
    from .render import dumps_safe, escape_text, format_message, is_refusal, message_to_dict

    as_json = getattr(args, "json", False)

    def fail(kind: str, text: str) -> int:
        if as_json:
            print(dumps_safe({"error": kind, "message": text}))
        print(f"bibkiosk sip2: {kind}: {escape_text(text)}", file=sys.stderr)
        return EXIT_ERROR

    try:
        settings = _settings(args)
        if args.sip2_command == "pay":
            args.amount = _amount(args.amount)
        pin = _pin(args)
        answer = asyncio.run(_ask(args, settings, pin))
    except _UsageError as exc:
        return fail("bad arguments", str(exc))
    except Sip2LoginError as exc:
        return fail("login refused", str(exc))
    except Sip2ConnectionError as exc:
        return fail("connection", str(exc))
    except RemoteSip2Error as exc:
        return fail("unreadable answer", str(exc))
    except LocalSip2Error as exc:
        return fail("bad request", str(exc))
    except Sip2Error as exc:  # pragma: no cover - every subclass is listed above
        return fail("error", str(exc))
    refused = is_refusal(answer, pin_given=bool(pin))
    if as_json:
        doc = message_to_dict(answer)
        doc["refused"] = refused
        print(dumps_safe(doc))
    else:
        print(format_message(answer))
        if refused:
            print("-> refused")
    return EXIT_REFUSED if refused else EXIT_OK
