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
No PIN is ever stored here; verified patrons and wrong PINs live in the one
patron store (:mod:`kiosk.identify.store`), shared with the door.
"""

from __future__ import annotations

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

    @property
    def pseudonym_key(self) -> bytes:
        return self._key

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

    def purge(self, *, older_than: timedelta) -> int:
        """Forget settled rows and verifications older than *older_than*."""
        cutoff = self._clock() - older_than.total_seconds()
        cur = self._db.execute(
            "DELETE FROM txn WHERE state NOT IN (?,?) AND created_at < ?", (*PENDING_STATES, cutoff)
        )
        return cur.rowcount


def open_journal(state_dir: str | Path, pseudonym_key: bytes, name: str = "journal.sqlite") -> Journal:
    return Journal(Path(state_dir) / name, pseudonym_key=pseudonym_key)
