"""Paying at the kiosk, exactly once: the payment journal and the payment service.

A payment goes through three durable steps, each committed (SQLite, WAL,
``synchronous=FULL``) before the next one starts:

1. **intent** - what the patron chose to pay (lines, amount, our reference)
   is written *before* the terminal is asked;
2. **terminal result** - the terminal's answer (outcome, its transaction
   reference, its receipt lines) is written *before* the library system is
   told;
3. **booking** - one SIP2 37 per line (``CG`` = the registration's
   ``adm_id``, ``BK`` = ``REF.N``, the same on every re-send), and the
   library's 38 after each.

After a crash, a kill -9, a dropped SIP2 link or a 38 N, :meth:`PaymentService.recover`
(run at start and from the idle loop) finishes the work and never charges
twice or loses a taken payment:

* an **intent** without a terminal result is resolved with the terminal's
  status request (by our reference); a payment the terminal never saw, or did
  not take, is closed as ``not_charged``; one the terminal cannot tell about
  yet stays open (and staff are told when it stays open too long);
* an **approved** payment not yet booked is sent to the library system again,
  with the same ``BK`` transaction ids, until every line is booked;
* a line the library **refuses** (38 N) makes the payment ``refused``: staff
  are told (the alarm hook: webhooks) and it is listed by ``bibkiosk
  payments`` until staff acknowledge it - never silently dropped.

The card number is kept on a row only while the library system still needs
it (to book, or re-book after staff fix a refusal) and erased once settled;
logs and alarms carry the keyed pseudonym (``card_ref``).  The file is mode
0600 under the state directory (``payments.sqlite``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from devices.base import PaymentOutcome, PaymentRequest, PaymentResult, PaymentTerminal
from kiosk.adapter.base import LibrarySystemError, LibrarySystemUnavailable
from kiosk.privacy import pseudonym

__all__ = [
    "LineKind",
    "PayLine",
    "PaymentState",
    "PaymentRecord",
    "PaymentJournal",
    "PaymentJournalError",
    "BookingAnswer",
    "PaymentService",
    "PayReport",
    "RecoveryReport",
    "library_booker",
    "open_payment_journal",
    "cents",
    "format_amount",
]

log = logging.getLogger("kiosk.payments")

SCHEMA_VERSION = 1
JOURNAL_NAME = "payments.sqlite"


def cents(amount: Decimal | int | str) -> int:
    """A money amount (Decimal / str with at most 2 decimals) as integer cents."""
    value = Decimal(str(amount)) * 100
    if value != value.to_integral_value():
        raise ValueError("an amount has at most two decimals")
    return int(value)


def format_amount(amount_cents: int, lang: str = "nl", currency: str = "EUR") -> str:
    """``€ 12,50`` (nl, fr) / ``€12.50`` (en): the one way amounts are written for patrons."""
    whole, part = divmod(int(amount_cents), 100)
    symbol = "€" if currency == "EUR" else currency + " "
    if lang == "en":
        return f"{symbol}{whole}.{part:02d}"
    return f"{symbol} {whole},{part:02d}"


class PaymentJournalError(Exception):
    """Root of the payment journal's errors."""


class LineKind(StrEnum):
    CHARGE = "charge"  # a registration (fine, fee) with an adm_id
    MEMBERSHIP_FEE = "membership_fee"
    INVOICE = "invoice"  # replacement invoice (NOTA)
    TOTAL = "total"  # no itemised registrations: what is owed (BV) as one amount


@dataclass(frozen=True, slots=True)
class PayLine:
    """One thing the patron pays: a registration (``adm_id``), the fee, or a total."""

    amount_cents: int
    kind: LineKind = LineKind.CHARGE
    adm_id: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int) or self.amount_cents <= 0:
            raise ValueError("a payment line needs a positive whole number of cents")

    def to_json(self) -> dict[str, Any]:
        return {"amount_cents": self.amount_cents, "kind": self.kind.value, "adm_id": self.adm_id,
                "description": self.description}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PayLine:
        return cls(int(data["amount_cents"]), LineKind(data["kind"]), data.get("adm_id"), data.get("description") or "")


class PaymentState(StrEnum):
    INTENT = "intent"  # written before the terminal was asked
    APPROVED = "approved"  # the terminal took the money; not every line booked yet
    BOOKED = "booked"  # every line booked (38 Y)
    REFUSED = "refused"  # the library refused a line: staff must act
    NOT_CHARGED = "not_charged"  # the terminal did not take money
    ACKNOWLEDGED = "acknowledged"  # a refused payment that staff have dealt with


OPEN_STATES = (PaymentState.INTENT, PaymentState.APPROVED)
STAFF_STATES = (PaymentState.INTENT, PaymentState.APPROVED, PaymentState.REFUSED)


@dataclass(frozen=True, slots=True)
class Booking:
    line_no: int
    line: PayLine
    transaction_id: str  # BK: the same on every re-send
    state: str  # pending | booked | refused
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    ref: str
    state: PaymentState
    card_ref: str
    amount_cents: int
    currency: str
    lines: tuple[PayLine, ...]
    created_at: float
    updated_at: float
    terminal_outcome: PaymentOutcome | None = None
    terminal_ref: str = ""
    receipt_lines: tuple[str, ...] = ()
    bookings: tuple[Booking, ...] = ()
    attempts: int = 0
    message: str | None = None
    alarmed: bool = False
    card: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # never the card number
        return (f"PaymentRecord({self.ref}, {self.state.value}, {self.amount_cents} {self.currency}, "
                f"card_ref={self.card_ref})")

    def to_dict(self) -> dict[str, Any]:
        """For staff (``bibkiosk payments --json``): no card number."""
        return {
            "ref": self.ref, "state": self.state.value, "card_ref": self.card_ref,
            "amount_cents": self.amount_cents, "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "created_at": self.created_at, "updated_at": self.updated_at,
            "terminal_outcome": self.terminal_outcome.value if self.terminal_outcome else None,
            "terminal_ref": self.terminal_ref,
            "bookings": [{"line_no": b.line_no, "transaction_id": b.transaction_id, "state": b.state,
                          "message": b.message} for b in self.bookings],
            "attempts": self.attempts, "message": self.message,
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS payment (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    ref          TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL,
    card_ref     TEXT NOT NULL,
    card         TEXT,
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    lines        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    terminal_outcome TEXT,
    terminal_ref TEXT NOT NULL DEFAULT '',
    receipt      TEXT NOT NULL DEFAULT '[]',
    attempts     INTEGER NOT NULL DEFAULT 0,
    message      TEXT,
    alarmed      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS payment_state ON payment (state, seq);
CREATE TABLE IF NOT EXISTS booking (
    ref      TEXT NOT NULL REFERENCES payment(ref),
    line_no  INTEGER NOT NULL,
    bk       TEXT NOT NULL,
    state    TEXT NOT NULL,
    message  TEXT,
    at       REAL,
    PRIMARY KEY (ref, line_no)
);
"""

_COLUMNS = ("ref, state, card_ref, card, amount_cents, currency, lines, created_at, updated_at, terminal_outcome, "
            "terminal_ref, receipt, attempts, message, alarmed")


class PaymentJournal:
    """The payment journal file.  Not thread-safe: use it from the event loop's thread."""

    def __init__(self, path: str | os.PathLike[str], *, pseudonym_key: bytes,
                 clock: Callable[[], float] = time.time) -> None:
        if not pseudonym_key:
            raise PaymentJournalError("the payment journal needs a pseudonym key (config secrets.pseudonym_key)")
        from kiosk.statefile import StateFileError, open_sqlite

        self.path = Path(path)
        self._key = pseudonym_key
        self._clock = clock
        old_umask = os.umask(0o077)
        try:
            opened = open_sqlite(self.path, schema=_SCHEMA)
        except StateFileError as exc:
            raise PaymentJournalError(str(exc)) from None
        finally:
            os.umask(old_umask)
        self.moved_aside = opened.moved_aside
        self._db = opened.conn
        self._db.isolation_level = None
        for suffix in ("", "-wal", "-shm"):
            try:
                os.chmod(f"{self.path}{suffix}", 0o600)
            except FileNotFoundError:
                pass
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise PaymentJournalError(f"{self.path}: payment journal schema {row[0]}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PaymentJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def card_ref(self, card: str) -> str:
        return pseudonym(card, self._key)

    # -- reading
    def _record(self, row: tuple) -> PaymentRecord:
        (ref, state, card_ref, card, amount, currency, lines, created, updated, outcome, terminal_ref, receipt,
         attempts, message, alarmed) = row
        bookings = tuple(
            Booking(n, PayLine.from_json(json.loads(lines)[n]), bk, st, msg)
            for n, bk, st, msg in self._db.execute(
                "SELECT line_no, bk, state, message FROM booking WHERE ref=? ORDER BY line_no", (ref,))
        )
        return PaymentRecord(
            ref=ref, state=PaymentState(state), card_ref=card_ref, amount_cents=amount, currency=currency,
            lines=tuple(PayLine.from_json(d) for d in json.loads(lines)), created_at=created, updated_at=updated,
            terminal_outcome=PaymentOutcome(outcome) if outcome else None, terminal_ref=terminal_ref,
            receipt_lines=tuple(json.loads(receipt)), bookings=bookings, attempts=attempts, message=message,
            alarmed=bool(alarmed), card=card,
        )

    def get(self, ref: str) -> PaymentRecord:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM payment WHERE ref=?", (ref,)).fetchone()
        if row is None:
            raise PaymentJournalError(f"no payment {ref[:40]!r} in the journal")
        return self._record(row)

    def records(self, states: Iterable[PaymentState] | None = None, *, limit: int | None = None) -> list[PaymentRecord]:
        """Payments oldest first (only in *states* when given; the last *limit*)."""
        sql = f"SELECT {_COLUMNS} FROM payment"
        args: list[Any] = []
        if states is not None:
            wanted = [PaymentState(s).value for s in states]
            sql += f" WHERE state IN ({','.join('?' * len(wanted))})"
            args += wanted
        sql += " ORDER BY seq"
        rows = self._db.execute(sql, args).fetchall()
        if limit is not None:
            rows = rows[-limit:]
        return [self._record(r) for r in rows]

    def open_payments(self) -> list[PaymentRecord]:
        return self.records(OPEN_STATES)

    # -- writing (each call is one durable commit)
    def intent(self, card: str, lines: Sequence[PayLine], currency: str = "EUR") -> PaymentRecord:
        """Step 1: record what will be asked of the terminal; returns the record with its new reference."""
        if not lines:
            raise PaymentJournalError("a payment needs at least one line")
        ref = "bkp" + secrets.token_hex(8)
        now = self._clock()
        amount = sum(line.amount_cents for line in lines)
        self._db.execute(
            "INSERT INTO payment (ref, state, card_ref, card, amount_cents, currency, lines, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (ref, PaymentState.INTENT, self.card_ref(card), card, amount, currency,
             json.dumps([line.to_json() for line in lines]), now, now),
        )
        return self.get(ref)

    def terminal_result(self, ref: str, result: PaymentResult) -> PaymentRecord:
        """Step 2: the terminal's final answer.  APPROVED opens one pending booking per line."""
        record = self.get(ref)
        if record.state is not PaymentState.INTENT:
            return record  # already recorded (a second resolution of the same payment)
        if not result.outcome.final:
            self._db.execute("UPDATE payment SET attempts=attempts+1, message=?, updated_at=? WHERE ref=?",
                             (result.detail[:200] or result.outcome.value, self._clock(), ref))
            return self.get(ref)
        now = self._clock()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if result.outcome.charged:
                if result.amount_cents != record.amount_cents:
                    msg = f"terminal took {result.amount_cents} cents, {record.amount_cents} asked"
                else:
                    msg = None
                self._db.execute(
                    "UPDATE payment SET state=?, terminal_outcome=?, terminal_ref=?, receipt=?, updated_at=?, message=? "
                    "WHERE ref=?",
                    (PaymentState.APPROVED, result.outcome.value, result.terminal_reference,
                     json.dumps(list(result.receipt_lines)), now, msg, ref),
                )
                for n, _line in enumerate(record.lines):
                    self._db.execute("INSERT OR IGNORE INTO booking (ref, line_no, bk, state) VALUES (?,?,?,?)",
                                     (ref, n, f"{ref}.{n}", "pending"))
            else:
                self._db.execute(
                    "UPDATE payment SET state=?, terminal_outcome=?, card=NULL, updated_at=?, message=? WHERE ref=?",
                    (PaymentState.NOT_CHARGED, result.outcome.value, now, result.detail[:200] or None, ref),
                )
        return self.get(ref)

    def booking_answer(self, ref: str, line_no: int, accepted: bool, message: str | None = None) -> PaymentRecord:
        """Step 3: the library's 38 for one line.  Settles the payment when every line is answered."""
        now = self._clock()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE booking SET state=?, message=?, at=? WHERE ref=? AND line_no=? AND state='pending'",
                             ("booked" if accepted else "refused", (message or "")[:200] or None, now, ref, line_no))
            states = [r[0] for r in self._db.execute("SELECT state FROM booking WHERE ref=?", (ref,))]
            if "pending" not in states:
                if "refused" in states:
                    self._db.execute("UPDATE payment SET state=?, updated_at=?, message=? WHERE ref=?",
                                     (PaymentState.REFUSED, now, (message or "refused by the library system")[:200], ref))
                else:
                    self._db.execute("UPDATE payment SET state=?, card=NULL, updated_at=? WHERE ref=?",
                                     (PaymentState.BOOKED, now, ref))
        return self.get(ref)

    def note_attempt(self, ref: str, message: str) -> None:
        self._db.execute("UPDATE payment SET attempts=attempts+1, message=?, updated_at=? WHERE ref=?",
                         (message[:200], self._clock(), ref))

    def mark_alarmed(self, ref: str) -> None:
        self._db.execute("UPDATE payment SET alarmed=1 WHERE ref=?", (ref,))

    def acknowledge(self, ref: str, note: str = "") -> PaymentRecord:
        """Staff have dealt with a refused payment: it leaves the staff listing; the card is erased."""
        record = self.get(ref)
        if record.state is not PaymentState.REFUSED:
            raise PaymentJournalError(f"payment {ref} is {record.state.value}, only a refused payment is acknowledged")
        self._db.execute("UPDATE payment SET state=?, card=NULL, message=?, updated_at=? WHERE ref=?",
                         (PaymentState.ACKNOWLEDGED, (note or "acknowledged by staff")[:200], self._clock(), ref))
        return self.get(ref)


def open_payment_journal(state_dir: str | os.PathLike[str], pseudonym_key: bytes) -> PaymentJournal:
    return PaymentJournal(Path(state_dir) / JOURNAL_NAME, pseudonym_key=pseudonym_key)


# --- booking with the library system ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingAnswer:
    accepted: bool
    message: str | None = None


#: ``book(card, line, transaction_id) -> BookingAnswer``; raises LibrarySystemUnavailable when it cannot be asked.
Booker = Callable[[str, PayLine, str], Awaitable[BookingAnswer]]


def library_booker(library: Any) -> Booker:
    """Book through the library adapter: a 37 per line, ``CG`` = adm_id, ``BK`` = our transaction id."""

    async def book(card: str, line: PayLine, transaction_id: str) -> BookingAnswer:
        amount = Decimal(line.amount_cents) / 100
        pay_registration = getattr(library, "pay_registration", None)
        if line.adm_id and pay_registration is not None:
            answer = await pay_registration(card, line.adm_id, amount, transaction_id=transaction_id)
        else:
            try:
                answer = await library.pay(card, amount, membership_fee=line.kind is LineKind.MEMBERSHIP_FEE,
                                           transaction_id=transaction_id)
            except TypeError:  # an adapter without transaction ids
                answer = await library.pay(card, amount, membership_fee=line.kind is LineKind.MEMBERSHIP_FEE)
        return BookingAnswer(bool(answer.accepted), getattr(answer, "screen_message", None))

    return book


# --- the service ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayReport:
    """What became of one payment at the kiosk, for the screen and the receipt."""

    record: PaymentRecord
    result: PaymentResult

    @property
    def charged(self) -> bool:
        return self.record.state in (PaymentState.APPROVED, PaymentState.BOOKED, PaymentState.REFUSED,
                                     PaymentState.ACKNOWLEDGED)

    @property
    def booked(self) -> bool:
        return self.record.state is PaymentState.BOOKED


@dataclass(slots=True)
class RecoveryReport:
    resolved: int = 0  # intents the terminal status settled
    not_charged: int = 0
    booked: int = 0  # payments fully booked now
    refused: int = 0
    still_open: int = 0


Alarm = Callable[[dict[str, Any]], None]


class PaymentService:
    """Runs payments through terminal and library, journal first (see the module docstring)."""

    def __init__(
        self,
        journal: PaymentJournal,
        terminal: PaymentTerminal,
        library: Any = None,
        *,
        booker: Booker | None = None,
        alarm: Alarm | None = None,
        currency: str = "EUR",
        terminal_timeout: float = 120.0,
        alarm_after_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if booker is None and library is None:
            raise ValueError("a payment service needs the library system (or a booker)")
        self.journal = journal
        self.terminal = terminal
        self.book: Booker = booker or library_booker(library)
        self.alarm = alarm or (lambda payload: None)
        self.currency = currency
        self.terminal_timeout = terminal_timeout
        self.alarm_after = alarm_after_seconds
        self._clock = clock
        self.current: str | None = None  # the reference being paid now
        self._busy = False  # a payment runs: recover() waits for the next round
        if journal.moved_aside is not None:
            self._raise({"event": "payment_journal_moved_aside", "path": str(journal.moved_aside)})

    def _raise(self, payload: dict[str, Any]) -> None:
        log.error("payment alarm: %s", json.dumps(payload, sort_keys=True))
        try:
            self.alarm(payload)
        except Exception:  # noqa: BLE001 - an alarm hook never breaks a payment
            log.exception("payment alarm hook failed")

    def _alarm_for(self, record: PaymentRecord, event: str) -> None:
        if record.alarmed:
            return
        self._raise({"event": event, "ref": record.ref, "card_ref": record.card_ref, "state": record.state.value,
                     "amount_cents": record.amount_cents, "currency": record.currency,
                     "terminal_ref": record.terminal_ref, "message": record.message})
        self.journal.mark_alarmed(record.ref)

    # -- one payment
    async def pay(self, card: str, lines: Sequence[PayLine], *, on_sent: Callable[[PaymentRecord], None] | None = None) -> PayReport:
        """Intent → terminal → result → bookings.  Never raises for the terminal or the library system."""
        self._busy = True
        try:
            return await self._pay(card, lines, on_sent)
        finally:
            self._busy = False

    async def _pay(self, card: str, lines: Sequence[PayLine], on_sent: Callable[[PaymentRecord], None] | None) -> PayReport:
        record = self.journal.intent(card, lines, self.currency)  # 1. durable before the terminal is asked
        request = PaymentRequest(record.ref, record.amount_cents, self.currency, timeout=self.terminal_timeout)
        self.current = record.ref
        try:
            if on_sent is not None:
                on_sent(record)
            try:
                result = await self.terminal.pay(request)
            except Exception as exc:  # noqa: BLE001 - a driver fault: resolve like a lost answer
                log.warning("payment %s: terminal driver failed (%s)", record.ref, type(exc).__name__)
                result = PaymentResult(PaymentOutcome.UNKNOWN, record.ref, currency=self.currency,
                                       detail=f"driver: {type(exc).__name__}")
            if not result.outcome.final:
                result = await self._status(record.ref) or result
        finally:
            self.current = None
        record = self.journal.terminal_result(record.ref, result)  # 2. durable before the library is told
        if record.state is PaymentState.APPROVED:
            record = await self._book(record)  # 3.
        elif record.state is PaymentState.INTENT:
            log.warning("payment %s: outcome unknown; the status request will be repeated", record.ref)
        return PayReport(record, result)

    async def abort(self) -> None:
        """The patron pressed Cancel on the kiosk while the terminal waits."""
        ref = self.current
        if ref is not None:
            await self.terminal.abort(ref)

    async def _status(self, ref: str) -> PaymentResult | None:
        try:
            return await self.terminal.payment_status(ref)
        except Exception as exc:  # noqa: BLE001
            log.warning("payment %s: status request failed (%s)", ref, type(exc).__name__)
            return None

    async def _book(self, record: PaymentRecord) -> PaymentRecord:
        for booking in record.bookings:
            if booking.state != "pending":
                continue
            if record.card is None:  # cannot happen while pending; never guess a patron
                self.journal.note_attempt(record.ref, "no card kept to book with")
                break
            try:
                answer = await self.book(record.card, booking.line, booking.transaction_id)
            except LibrarySystemUnavailable as exc:
                self.journal.note_attempt(record.ref, f"library system unavailable: {type(exc).__name__}")
                log.warning("payment %s: booking postponed (library system unavailable)", record.ref)
                break
            except LibrarySystemError as exc:
                answer = BookingAnswer(False, f"{type(exc).__name__}")
            record = self.journal.booking_answer(record.ref, booking.line_no, answer.accepted, answer.message)
        record = self.journal.get(record.ref)
        if record.state is PaymentState.REFUSED:
            self._alarm_for(record, "payment_refused_by_library")
        elif record.state is PaymentState.BOOKED:
            log.info("payment %s booked (%d lines)", record.ref, len(record.lines))
        return record

    # -- after a restart, and from the idle loop
    async def recover(self) -> RecoveryReport:
        """Finish every open payment as far as terminal and library allow now."""
        report = RecoveryReport()
        if self._busy:
            return report  # the running payment books itself; the next round takes the rest
        for record in self.journal.open_payments():
            if record.state is PaymentState.INTENT:
                if record.ref == self.current:
                    continue
                result = await self._status(record.ref)
                if result is None or not result.outcome.final:
                    self.journal.terminal_result(record.ref, result or PaymentResult(
                        PaymentOutcome.UNKNOWN, record.ref, detail="status not available"))
                    record = self.journal.get(record.ref)
                else:
                    if result.outcome is PaymentOutcome.NOT_FOUND:
                        result = replace(result, detail="the terminal never saw the payment")
                    record = self.journal.terminal_result(record.ref, result)
                    report.resolved += 1
                    if record.state is PaymentState.NOT_CHARGED:
                        report.not_charged += 1
            if record.state is PaymentState.APPROVED:
                record = await self._book(record)
            if record.state is PaymentState.BOOKED:
                report.booked += 1
            elif record.state is PaymentState.REFUSED:
                report.refused += 1
            elif record.state in OPEN_STATES:
                report.still_open += 1
                if self._clock() - record.created_at > self.alarm_after:
                    self._alarm_for(record, "payment_not_settled")
        return report


# --- wiring (bibkiosk kiosk, bibkiosk demo) ------------------------------------------------------


class PaymentRuntime:
    """The payment terminal, journal, service, staff webhooks and the recovery loop of one kiosk."""

    def __init__(self, service: PaymentService, terminal: PaymentTerminal, webhooks: Any = None,
                 *, every_seconds: float = 30.0) -> None:
        self.service = service
        self.terminal = terminal
        self.webhooks = webhooks
        self.every = every_seconds
        self._task: Any = None

    @classmethod
    async def start(cls, url: str, state_dir: str | os.PathLike[str], pseudonym_key: bytes, library: Any, *,
                    webhooks: Sequence[str] = (), currency: str = "EUR", terminal_timeout: float = 120.0,
                    alarm_after_minutes: float = 10, extra: dict[str, Any] | None = None) -> PaymentRuntime:
        import asyncio

        from devices.registry import open_device

        terminal = open_device(url, kind="payment", **(extra or {}))
        await terminal.open()
        sender = None
        if webhooks:
            from kiosk.door.webhooks import WebhookSender

            sender = WebhookSender(list(webhooks))
            sender.start()
        journal = open_payment_journal(state_dir, pseudonym_key)
        service = PaymentService(journal, terminal, library, alarm=sender.send if sender else None, currency=currency,
                                 terminal_timeout=terminal_timeout, alarm_after_seconds=alarm_after_minutes * 60)
        runtime = cls(service, terminal, sender)
        runtime._task = asyncio.create_task(runtime._loop(), name="payments recovery")
        return runtime

    async def _loop(self) -> None:
        import asyncio

        while True:
            try:
                report = await self.service.recover()
                if report.resolved or report.booked:
                    log.info("payments recovered: %s", report)
            except Exception:  # noqa: BLE001 - retried next round
                log.exception("payment recovery failed")
            await asyncio.sleep(self.every)

    async def close(self) -> None:
        import asyncio

        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.terminal.close()
        self.service.journal.close()
        if self.webhooks is not None:
            self.webhooks.stop()
