"""The kiosk's transaction journal and offline queue (SQLite, WAL, synchronous).

Every circulation transaction is written here *before* it goes to the library
system and again *after* the answer, so that staff can always reconstruct
what happened at the kiosk, and so that nothing a patron did is lost when the
library system cannot be reached.

Two kinds of rows live in one table, ``txn``:

* online transactions: ``sent`` (written and committed before the request)
  → ``ok`` | ``refused`` | ``failed`` (link trouble: the outcome is unknown to
  the kiosk).  A row still ``sent`` when the journal is opened again belongs
  to a process that died mid-request; it becomes ``interrupted`` for staff.
* offline transactions (the library system was unreachable): ``queued`` →
  ``sending`` → ``replayed`` | ``rejected``.  They are replayed strictly in
  the order they were queued, one at a time, with SIP2's no-block flag.

Exactly once, across kill -9 and power loss
-------------------------------------------
Each commit is durable before the next step starts (WAL with
``synchronous=FULL``).  Before a queued transaction is sent, the replayer asks
the library system for a *fingerprint* of the state the transaction would
change (for an item: its circulation status and due date) and commits it with
the row's move to ``sending``.  A row found in ``sending`` after a restart is
ambiguous (did the request reach the library system before the crash?), so
the replayer probes again: a fingerprint that differs means the transaction
was applied, and it is marked ``replayed`` without sending it a second time;
an identical one means it never arrived, and it is sent.  Only the replayed
row can be ambiguous, because rows go out strictly one after another.

Personal data: rows carry a keyed pseudonym of the card (``card_ref``).  The
card number itself is kept only on an offline row while it waits for replay
(the library system needs it) and is erased as soon as the row is settled.
No PIN is ever stored; a recently verified patron's PIN is remembered only as
a salted scrypt hash, for offline checkout when the site requires a PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from kiosk.files import private_file
from kiosk.privacy import pseudonym

SCHEMA_VERSION = 1


class JournalError(Exception):
    """Root of the journal's errors."""


class JournalCorrupt(JournalError):
    """The journal file cannot be used (not SQLite, or a schema we do not know)."""


class UnknownTransaction(JournalError):
    """finish() for a transaction id the journal never recorded: a bug of ours."""


class TxnKind(StrEnum):
    CHECKOUT = "checkout"
    CHECKIN = "checkin"
    RENEW = "renew"
    RENEW_ALL = "renew_all"


class TxnMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class TxnState(StrEnum):
    SENT = "sent"
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    QUEUED = "queued"
    SENDING = "sending"
    REPLAYED = "replayed"
    REJECTED = "rejected"


PENDING_STATES = (TxnState.QUEUED, TxnState.SENDING)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    txn_id: str
    kind: TxnKind
    mode: TxnMode
    state: TxnState
    card_ref: str | None
    item_id: str | None
    created_at: datetime
    finished_at: datetime | None
    due: str | None
    message: str | None
    attempts: int
    # Only on an offline row that still waits for replay.
    card: str | None = None
    before: str | None = None

    def __repr__(self) -> str:  # never show the card number
        return (
            f"JournalEntry(seq={self.seq}, kind={self.kind.value}, mode={self.mode.value}, "
            f"state={self.state.value}, card_ref={self.card_ref}, item_id={self.item_id!r})"
        )


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What the library system answered to a replayed transaction."""

    ok: bool
    message: str | None = None
    due: str | None = None


@dataclass(slots=True)
class ReplayReport:
    replayed: int = 0
    rejected: int = 0
    recovered: int = 0  # ambiguous rows found already applied
    stopped_by: BaseException | None = None

    @property
    def complete(self) -> bool:
        return self.stopped_by is None


SendFn = Callable[[JournalEntry], Awaitable[ReplayOutcome]]
ProbeFn = Callable[[JournalEntry], Awaitable[str]]

_COLUMNS = (
    "seq, txn_id, kind, mode, state, card_ref, item_id, created_at, finished_at, due, message, attempts, card, before"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS txn (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    txn_id      TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    state       TEXT NOT NULL,
    card_ref    TEXT,
    item_id     TEXT,
    created_at  REAL NOT NULL,
    finished_at REAL,
    due         TEXT,
    message     TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    card        TEXT,
    before      TEXT
);
CREATE INDEX IF NOT EXISTS txn_pending ON txn (state, seq);
CREATE INDEX IF NOT EXISTS txn_card ON txn (card_ref, mode, kind, state);
CREATE TABLE IF NOT EXISTS verified (
    card_ref    TEXT PRIMARY KEY,
    verified_at REAL NOT NULL,
    pin_hash    BLOB
);
CREATE TABLE IF NOT EXISTS pin_failure (
    card_ref    TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pin_failure_card ON pin_failure (card_ref, at);
"""


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Journal:
    """One journal file.  Not thread-safe: use it from the event loop's thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        pseudonym_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not pseudonym_key:
            raise JournalError("the journal needs a pseudonym key (config secrets.pseudonym_key)")
        self.path = Path(path)
        self._key = pseudonym_key
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            private_file(self.path)  # card references and transactions: owner only (0600)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise JournalCorrupt(f"{self.path}: journal schema {row[0]}, expected {SCHEMA_VERSION}")
            # A process that died mid-request leaves online rows 'sent'.
            self._db.execute(
                "UPDATE txn SET state=?, finished_at=? WHERE mode=? AND state=?",
                (TxnState.INTERRUPTED, self._clock(), TxnMode.ONLINE, TxnState.SENT),
            )
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(f"{self.path}: not a usable journal ({exc})") from None

    # ------------------------------------------------------------------ helpers

    def card_ref(self, card: str) -> str:
        return pseudonym(card, self._key)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, row: tuple) -> JournalEntry:
        (seq, txn_id, kind, mode, state, card_ref, item_id, created, finished, due, message, attempts, card, before) = row
        return JournalEntry(
            seq=seq,
            txn_id=txn_id,
            kind=TxnKind(kind),
            mode=TxnMode(mode),
            state=TxnState(state),
            card_ref=card_ref,
            item_id=item_id,
            created_at=_ts(created),
            finished_at=_ts(finished),
            due=due,
            message=message,
            attempts=attempts,
            card=card,
            before=before,
        )

    def get(self, txn_id: str) -> JournalEntry:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM txn WHERE txn_id=?", (txn_id,)).fetchone()
        if row is None:
            raise UnknownTransaction(txn_id)
        return self._row(row)

    def entries(self, *, limit: int | None = None) -> list[JournalEntry]:
        """All rows, oldest first (the last *limit* when given)."""
        if limit is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM txn ORDER BY seq").fetchall()
        else:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM txn ORDER BY seq DESC LIMIT ?", (int(limit),)).fetchall()
            rows.reverse()
        return [self._row(r) for r in rows]

    # ------------------------------------------------------------------ online

    def begin(self, kind: TxnKind, card: str | None, item_id: str | None = None) -> str:
        """Record a transaction about to be sent to the library system; returns its id."""
        txn_id = uuid.uuid4().hex
        self._db.execute(
            "INSERT INTO txn (txn_id, kind, mode, state, card_ref, item_id, created_at) VALUES (?,?,?,?,?,?,?)",
            (txn_id, TxnKind(kind), TxnMode.ONLINE, TxnState.SENT, self.card_ref(card) if card else None, item_id, self._clock()),
        )
        return txn_id

    def finish(
        self,
        txn_id: str,
        *,
        ok: bool | None,
        due: str | None = None,
        message: str | None = None,
    ) -> None:
        """Record the library system's answer: ok True/False, or None when the
        link failed and the outcome is unknown."""
        state = TxnState.FAILED if ok is None else TxnState.OK if ok else TxnState.REFUSED
        cur = self._db.execute(
            "UPDATE txn SET state=?, finished_at=?, due=?, message=? WHERE txn_id=? AND mode=?",
            (state, self._clock(), due, message, txn_id, TxnMode.ONLINE),
        )
        if cur.rowcount != 1:
            raise UnknownTransaction(txn_id)

    # ------------------------------------------------------------------ offline

    def enqueue(self, kind: TxnKind, card: str | None, item_id: str) -> JournalEntry:
        """Queue a transaction made while the library system was unreachable."""
        kind = TxnKind(kind)
        if kind not in (TxnKind.CHECKOUT, TxnKind.CHECKIN):
            raise JournalError(f"{kind.value} cannot be queued offline")
        if kind is TxnKind.CHECKOUT and not card:
            raise JournalError("an offline checkout needs the patron's card")
        txn_id = uuid.uuid4().hex
        self._db.execute(
            "INSERT INTO txn (txn_id, kind, mode, state, card_ref, item_id, created_at, card) VALUES (?,?,?,?,?,?,?,?)",
            (
                txn_id,
                kind,
                TxnMode.OFFLINE,
                TxnState.QUEUED,
                self.card_ref(card) if card else None,
                item_id,
                self._clock(),
                card,
            ),
        )
        return self.get(txn_id)

    def pending(self) -> list[JournalEntry]:
        """Offline transactions still waiting for the library system, in order."""
        return [
            self._row(r)
            for r in self._db.execute(
                f"SELECT {_COLUMNS} FROM txn WHERE state IN (?,?) ORDER BY seq", PENDING_STATES
            )
        ]

    def pending_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM txn WHERE state IN (?,?)", PENDING_STATES).fetchone()[0]

    def offline_checkouts(self, card: str) -> int:
        """How many offline checkouts of this patron still wait for replay."""
        return self._db.execute(
            "SELECT count(*) FROM txn WHERE card_ref=? AND mode=? AND kind=? AND state IN (?,?)",
            (self.card_ref(card), TxnMode.OFFLINE, TxnKind.CHECKOUT, *PENDING_STATES),
        ).fetchone()[0]

    def _settle(self, entry: JournalEntry, state: TxnState, outcome: ReplayOutcome | None, message: str | None = None) -> None:
        self._db.execute(
            "UPDATE txn SET state=?, finished_at=?, due=?, message=?, card=NULL WHERE seq=?",
            (
                state,
                self._clock(),
                outcome.due if outcome else None,
                (outcome.message if outcome else None) or message,
                entry.seq,
            ),
        )

    async def replay(self, send: SendFn, probe: ProbeFn) -> ReplayReport:
        """Send every queued transaction, oldest first, exactly once.

        *probe(entry)* returns a fingerprint of the library system's state that
        the transaction changes; *send(entry)* sends it (with no-block) and
        returns the outcome.  Either may raise (link down): replay stops there
        and resumes, safely, on the next call.
        """
        report = ReplayReport()
        while True:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM txn WHERE state IN (?,?) ORDER BY seq LIMIT 1", PENDING_STATES
            ).fetchone()
            if row is None:
                return report
            entry = self._row(row)
            try:
                fingerprint = await probe(entry)
            except Exception as exc:  # noqa: BLE001 - any failure stops the replay
                report.stopped_by = exc
                return report
            if entry.state is TxnState.SENDING and fingerprint != entry.before:
                # The request reached the library system before we died.
                self._settle(entry, TxnState.REPLAYED, None, "applied before an interruption")
                report.recovered += 1
                report.replayed += 1
                continue
            self._db.execute(
                "UPDATE txn SET state=?, before=?, attempts=attempts+1 WHERE seq=?",
                (TxnState.SENDING, fingerprint, entry.seq),
            )
            try:
                outcome = await send(entry)
            except Exception as exc:  # noqa: BLE001
                report.stopped_by = exc
                return report
            if outcome.ok:
                self._settle(entry, TxnState.REPLAYED, outcome)
                report.replayed += 1
            else:
                self._settle(entry, TxnState.REJECTED, outcome)
                report.rejected += 1

    # ------------------------------------------------------------------ verified patrons

    def _pin_hash(self, card_ref: str, pin: str) -> bytes:
        salt = hmac.new(self._key, card_ref.encode(), hashlib.sha256).digest()
        return hashlib.scrypt(pin.encode(), salt=salt, n=2**12, r=8, p=1, dklen=32)

    def remember_verified(self, card: str, *, pin: str | None = None, when: datetime | None = None) -> None:
        """The library system accepted this patron (and PIN) online just now."""
        ref = self.card_ref(card)
        at = (when or datetime.fromtimestamp(self._clock(), UTC)).timestamp()
        self._db.execute(
            "INSERT INTO verified (card_ref, verified_at, pin_hash) VALUES (?,?,?) "
            "ON CONFLICT(card_ref) DO UPDATE SET verified_at=excluded.verified_at, "
            "pin_hash=COALESCE(excluded.pin_hash, verified.pin_hash)",
            (ref, at, self._pin_hash(ref, pin) if pin else None),
        )

    def recently_verified(
        self, card: str, within: timedelta, *, pin: str | None = None, now: datetime | None = None
    ) -> bool:
        """Was this patron verified online within *within*?  When *pin* is
        given it must match the PIN given then."""
        ref = self.card_ref(card)
        row = self._db.execute("SELECT verified_at, pin_hash FROM verified WHERE card_ref=?", (ref,)).fetchone()
        if row is None:
            return False
        at = (now or datetime.fromtimestamp(self._clock(), UTC)).timestamp()
        if at - row[0] > within.total_seconds():
            return False
        if pin is not None:
            return row[1] is not None and hmac.compare_digest(row[1], self._pin_hash(ref, pin))
        return True

    def forget_verified(self, card: str) -> None:
        """The library system refused this patron online: no offline checkout."""
        self._db.execute("DELETE FROM verified WHERE card_ref=?", (self.card_ref(card),))

    # ------------------------------------------------------------------ wrong PINs (lockout)

    def record_pin_failure(self, card: str, *, when: datetime | None = None) -> None:
        at = (when or datetime.fromtimestamp(self._clock(), UTC)).timestamp()
        self._db.execute("INSERT INTO pin_failure (card_ref, at) VALUES (?, ?)", (self.card_ref(card), at))

    def pin_failures(self, card: str, *, since: datetime) -> list[datetime]:
        """The times of this card's wrong PINs since *since* (for policy's L1)."""
        rows = self._db.execute(
            "SELECT at FROM pin_failure WHERE card_ref=? AND at>=? ORDER BY at", (self.card_ref(card), since.timestamp())
        )
        return [datetime.fromtimestamp(r[0], UTC) for r in rows]

    def clear_pin_failures(self, card: str) -> None:
        self._db.execute("DELETE FROM pin_failure WHERE card_ref=?", (self.card_ref(card),))

    def purge(self, *, older_than: timedelta) -> int:
        """Forget settled rows and verifications older than *older_than*."""
        cutoff = self._clock() - older_than.total_seconds()
        cur = self._db.execute(
            "DELETE FROM txn WHERE state NOT IN (?,?) AND created_at < ?", (*PENDING_STATES, cutoff)
        )
        self._db.execute("DELETE FROM verified WHERE verified_at < ?", (cutoff,))
        self._db.execute("DELETE FROM pin_failure WHERE at < ?", (cutoff,))
        return cur.rowcount


def open_journal(state_dir: str | Path, pseudonym_key: bytes, name: str = "journal.sqlite") -> Journal:
    return Journal(Path(state_dir) / name, pseudonym_key=pseudonym_key)
