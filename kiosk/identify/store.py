"""The one patron store of a machine: the wrong-PIN budget (lockout) and the
verified-patron cache, in one SQLite file, ``state_dir/patrons.sqlite``,
opened by the kiosk and the door alike (two processes may share it: WAL,
``synchronous=FULL``, a busy timeout).

Identity.  Wrong PINs are counted per *patron*, keyed by the library
system's patron number (``PatronSnapshot.patron_id``), not by the card: a
replaced card or a temporary number shares its patron's budget.  Without a
patron number (pure Wise) the adapter keys it by the answer's AA (the
patron barcode as returned; see docs/identify.md for what that means for a
replaced card).  Before the
library system has answered for a card, the card's last known patron is
used (``card_patron``, learnt at every answer); a card never answered for
counts on its own until it is.  Every reference is a keyed hash
(HMAC-SHA256 with the pseudonym key); no card number, patron number or PIN
is ever stored.

Counting first.  :meth:`PatronStore.hold_attempt` writes a wrong PIN
*before* the PIN is checked; the answer then keeps it (wrong), or removes
it and the patron's earlier ones (right).  A PIN whose failure cannot be
written is never checked (:class:`StoreUnwritable`), and a crash between
the two steps leaves the attempt counted.  (The door holds it when it asks
for the PIN; a wrong one is then moved to the answer's time by the settle.)

Clock.  Time for the lockout runs on: the latest time seen is kept
(``meta.latest``, and in the process with the monotonic clock beside it);
when the wall clock is set back, the store goes on from where it was (by
the monotonic clock; after a restart from ``meta.latest``), and attempts
are returned shifted onto the wall clock's new time, so a lockout lasts as
long as it would have: nothing is lifted by a clock set back.

Cache.  A row per card: a slow salted hash of the PIN (random salt per row,
the PIN peppered with the pseudonym key, scrypt with its parameters stored
per row), when it was verified, and whether the library system's last
answer allowed unmanned entry and borrowing.  A lookup of an unknown card
hashes against a dummy, so the answer's timing does not tell which cards
are cached.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from kiosk.heap import map_blocks_from
from kiosk.statefile import StateFileError, open_sqlite

__all__ = [
    "STORE_NAME",
    "CacheCheck",
    "CacheStatus",
    "PatronStore",
    "ScryptParams",
    "StoreError",
    "StoreUnwritable",
]

#: The file name under ``state_dir``.
STORE_NAME = "patrons.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pin_failure (
    ref TEXT NOT NULL,            -- patron:<hmac> or card:<hmac>
    at  REAL NOT NULL             -- seconds since the epoch (UTC), never before meta.latest at writing
);
CREATE INDEX IF NOT EXISTS pin_failure_ref ON pin_failure (ref, at);
CREATE TABLE IF NOT EXISTS card_patron (
    card_key   TEXT PRIMARY KEY,
    patron_ref TEXT NOT NULL,
    seen_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS verified (
    card_key    TEXT PRIMARY KEY,
    pin_salt    BLOB,
    pin_hash    BLOB,              -- scrypt(hmac(key, pin), salt, n, r, p); NULL: verified without a PIN
    scrypt_n    INTEGER,
    scrypt_r    INTEGER,
    scrypt_p    INTEGER,
    pin_at      REAL,              -- when the PIN was last verified online
    entry       INTEGER NOT NULL,  -- the last answer allowed unmanned entry (apart from the PIN)
    borrow      INTEGER NOT NULL,  -- the last answer allowed borrowing
    verified_at REAL NOT NULL
);
"""


class StoreError(Exception):
    """Root of the patron store's errors."""


class StoreUnwritable(StoreError):
    """The store cannot be opened or written (full or read-only disk, I/O
    error): no PIN may be checked, since its failure could not be counted."""


class CacheStatus(StrEnum):
    UNKNOWN = "unknown"  # never verified online here (or forgotten after a refusal)
    EXPIRED = "expired"  # verified longer ago than allowed (or in the future)
    WRONG_PIN = "wrong_pin"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class CacheCheck:
    status: CacheStatus
    entry: bool = False
    borrow: bool = False
    verified_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is CacheStatus.OK


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = 2**14
    r: int = 8
    p: int = 1

    def hash(self, secret: str, salt: bytes) -> bytes:
        return hashlib.scrypt(
            secret.encode(), salt=salt, n=self.n, r=self.r, p=self.p,
            maxmem=2 * 128 * self.n * self.r * self.p + (1 << 20), dklen=32,
        )


_DUMMY_SALT = b"\x00" * 16
#: Writes between two WAL checkpoints (SQLite's own default is every 1,000 pages).
_CHECKPOINT_EVERY = 100


def _mmap_large_buffers() -> None:
    """Keep scrypt's 16 MiB buffer from staying resident after it is freed.

    glibc raises its mmap threshold to the size of the first large block
    freed, so from the second scrypt on the buffer comes from the heap and
    stays resident (+16 MB for the door's whole life).  A fixed threshold
    (which turns the dynamic one off) gives it back at every free
    (kiosk.heap; a lower one set by the kiosk UI stays).
    """
    map_blocks_from(1 << 20)


def _ts(at: datetime) -> float:
    return at.astimezone(UTC).timestamp()


class PatronStore:
    """The store file.  Safe to call from several threads (one connection, one lock)."""

    def __init__(
        self,
        path: str | Path,
        key: bytes,
        *,
        keep: timedelta = timedelta(days=1),
        scrypt: ScryptParams = ScryptParams(),
        monotonic: Callable[[], float] = time.monotonic,
        readonly: bool = False,
    ) -> None:
        """*readonly*: open an existing store for reading only (``bibkiosk
        check``: it shows the lockouts, it never counts, moves or creates
        anything; every write raises :class:`StoreUnwritable`)."""
        if not key:
            raise StoreError("the patron store needs the pseudonym key (secrets.pseudonym_key)")
        self._mono = monotonic
        self._anchor: tuple[float, float] | None = None  # (effective time, monotonic) last seen here
        self.path = Path(path)
        self._key = key
        self.keep = keep
        self.scrypt = scrypt
        self._lock = threading.Lock()
        self._clock_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None  # read_failures' own read-only connection
        self._read_lock = threading.Lock()
        _mmap_large_buffers()
        self.readonly = readonly
        try:
            opened = open_sqlite(self.path, schema=_SCHEMA, readonly=readonly)
        except StateFileError as exc:
            raise StoreUnwritable(str(exc)) from None
        self._db = opened.conn
        #: Where a corrupt store was moved before a new one was started; None normally.
        self.moved_aside = opened.moved_aside
        # Checkpoints never on a hold (the grant path): SQLite's automatic one runs inside whichever
        # commit fills the WAL, so now and then a hold would copy ~1,000 pages and fsync the file.
        # Ours runs after a settle or a cache write instead, which the strike does not wait for.
        if not readonly:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._since_checkpoint = 0

    def close(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ references

    def card_key(self, card: str) -> str:
        return hmac.new(self._key, b"patron-store-card\x00" + card.encode(), hashlib.sha256).hexdigest()

    def _patron_ref(self, patron_id: str) -> str:
        return "patron:" + hmac.new(self._key, b"patron-store-patron\x00" + patron_id.encode(), hashlib.sha256).hexdigest()

    def _card_ref(self, card: str) -> str:
        return "card:" + self.card_key(card)

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreUnwritable(f"patron store {self.path}: {exc}") from None

    def _ref(self, card: str, patron_id: str | None) -> str:
        try:
            return self._ref_on(self._db, card, patron_id)
        except sqlite3.Error as exc:
            raise StoreUnwritable(f"patron store {self.path}: {exc}") from None

    def _ref_on(self, db: sqlite3.Connection, card: str, patron_id: str | None) -> str:
        """The budget's key: the patron when known, else the card's last known patron, else the card."""
        if patron_id:
            return self._patron_ref(patron_id)
        row = db.execute("SELECT patron_ref FROM card_patron WHERE card_key = ?", (self.card_key(card),)).fetchone()
        return row[0] if row else self._card_ref(card)

    # ------------------------------------------------------------------ clock

    def _latest(self, db: sqlite3.Connection | None = None) -> float | None:
        """``meta.latest``, read on *db* (default: the writer's connection)."""
        sql = "SELECT value FROM meta WHERE key = 'latest'"
        row = (self._run(sql) if db is None else db.execute(sql)).fetchone()
        return None if row is None else float(row[0])

    def _effective(self, now: datetime, db: sqlite3.Connection | None = None) -> float:
        """*now* on the store's own time line: never behind the latest time seen,
        running on by the monotonic clock when the wall clock was set back.
        *db*: the connection ``meta.latest`` is read on (default: the writer's)."""
        t = _ts(now)
        latest = self._latest(db)
        eff = t if latest is None else max(t, latest)
        with self._clock_lock:  # the reader (on the loop) and the writer (its thread) share the anchor
            m = self._mono()
            if self._anchor is not None:
                eff = max(eff, self._anchor[0] + max(0.0, m - self._anchor[1]))
            self._anchor = (eff, m)
        return eff

    def _see(self, t: float) -> None:
        self._run(
            "INSERT INTO meta (key, value) VALUES ('latest', ?) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            (t,),
        )

    # ------------------------------------------------------------------ lockout

    def hold_attempt(self, card: str, now: datetime) -> int:
        """Count one attempt (as a wrong PIN) before the PIN is checked; returns
        its token for :meth:`settle`.  Raises :class:`StoreUnwritable` when it
        cannot be written durably."""
        with self._lock:
            at = self._effective(now)
            ref = self._ref(card, None)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._see(at)
                cur = self._db.execute("INSERT INTO pin_failure (ref, at) VALUES (?, ?)", (ref, at))
                self._db.execute("DELETE FROM pin_failure WHERE at < ?", (at - self.keep.total_seconds(),))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StoreUnwritable(f"patron store {self.path}: {exc}") from None
            self._since_checkpoint += 1
            return int(cur.lastrowid or 0)

    def settle(self, token: int | None, card: str, patron_id: str | None, *, wrong: bool, now: datetime) -> None:
        """The library system answered: *wrong* keeps the held attempt (under the
        patron's budget); otherwise it is removed.  Learns the card's patron.
        One transaction (one fsync, not one per statement)."""
        with self._lock:
            ref = self._ref(card, patron_id)
            seen = self._effective(now) if patron_id else 0.0
            try:
                self._db.execute("BEGIN IMMEDIATE")
                if patron_id:
                    self._db.execute(
                        "INSERT INTO card_patron (card_key, patron_ref, seen_at) VALUES (?, ?, ?)"
                        " ON CONFLICT(card_key) DO UPDATE SET patron_ref = excluded.patron_ref, seen_at = excluded.seen_at",
                        (self.card_key(card), ref, seen),
                    )
                    # Earlier attempts of this card before its patron was known join the patron's budget.
                    self._db.execute("UPDATE pin_failure SET ref = ? WHERE ref = ?", (ref, self._card_ref(card)))
                if token is not None:
                    if wrong:
                        # At the answer's time (the door holds the attempt when it asks for the PIN);
                        # never earlier than held, whatever the wall clock did meanwhile.
                        self._db.execute("UPDATE pin_failure SET ref = ?, at = MAX(at, ?) WHERE rowid = ?",
                                         (ref, _ts(now), token))
                    else:
                        self._db.execute("DELETE FROM pin_failure WHERE rowid = ?", (token,))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StoreUnwritable(f"patron store {self.path}: {exc}") from None
            self._checkpoint_now_and_then()

    def _checkpoint_now_and_then(self) -> None:
        """A passive WAL checkpoint every ~100 writes (the lock held); off the grant path."""
        self._since_checkpoint += 1
        if self._since_checkpoint < _CHECKPOINT_EVERY:
            return
        self._since_checkpoint = 0
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            pass  # the WAL stays (durable); the next one tries again

    def clear(self, card: str, patron_id: str | None) -> None:
        """A right PIN: the patron's count starts again."""
        with self._lock:
            self._run("DELETE FROM pin_failure WHERE ref IN (?, ?)", (self._ref(card, patron_id), self._card_ref(card)))
            self._checkpoint_now_and_then()

    def failures(self, card: str, patron_id: str | None, now: datetime, *, exclude: int | None = None) -> list[datetime]:
        """The budget's wrong PINs within the kept window, oldest first, as
        times on *now*'s clock (shifted back when the clock was set back)."""
        with self._lock:
            try:
                return self._failures_on(self._db, card, patron_id, now, exclude)
            except sqlite3.Error as exc:
                raise StoreUnwritable(f"patron store {self.path}: {exc}") from None

    def read_failures(
        self, card: str, patron_id: str | None, now: datetime, *, exclude: int | None = None
    ) -> list[datetime] | None:
        """:meth:`failures` on a read-only connection of its own, for the event loop: it
        never waits for the writer's lock (WAL: a reader sees the last commit), and gives
        None instead of waiting when SQLite is busy (the caller then asks :meth:`failures`)."""
        with self._read_lock:
            try:
                if self._reader is None:
                    self._reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=0,
                                                   check_same_thread=False, isolation_level=None)
                return self._failures_on(self._reader, card, patron_id, now, exclude)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return None
                raise StoreError(f"patron store {self.path}: {exc}") from None
            except sqlite3.Error as exc:
                raise StoreError(f"patron store {self.path}: {exc}") from None

    def _failures_on(
        self, db: sqlite3.Connection, card: str, patron_id: str | None, now: datetime, exclude: int | None,
    ) -> list[datetime]:
        eff = self._effective(now, db)
        rows = db.execute(
            "SELECT rowid, at FROM pin_failure WHERE ref = ? AND at >= ? ORDER BY at",
            (self._ref_on(db, card, patron_id), eff - self.keep.total_seconds()),
        ).fetchall()
        shift = eff - _ts(now)
        return [datetime.fromtimestamp(at - shift, UTC) for rowid, at in rows if rowid != exclude]

    # ------------------------------------------------------------------ verified-patron cache

    def _peppered(self, pin: str) -> str:
        """The PIN keyed with the pseudonym key before scrypt: a stolen store
        file alone does not allow guessing 4-digit PINs offline."""
        return hmac.new(self._key, b"patron-store-pin\x00" + pin.encode(), hashlib.sha256).hexdigest()

    def remember(
        self, card: str, pin: str | None, *, entry: bool, borrow: bool, at: datetime
    ) -> None:
        """Store (or refresh) what the library system just said of *card*
        (and, with *pin*, that this PIN is right)."""
        salt = digest = None
        if pin:
            salt = os.urandom(16)
            digest = self.scrypt.hash(self._peppered(pin), salt)
        t = _ts(at)
        with self._lock:
            if digest is not None:
                self._run(
                    "INSERT OR REPLACE INTO verified (card_key, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p,"
                    " pin_at, entry, borrow, verified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.card_key(card), salt, digest, self.scrypt.n, self.scrypt.r, self.scrypt.p, t,
                     int(entry), int(borrow), t),
                )
            else:
                self._run(
                    "INSERT INTO verified (card_key, entry, borrow, verified_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(card_key) DO UPDATE SET entry = excluded.entry, borrow = excluded.borrow,"
                    " verified_at = excluded.verified_at",
                    (self.card_key(card), int(entry), int(borrow), t),
                )
            self._checkpoint_now_and_then()

    def forget(self, card: str) -> bool:
        with self._lock:
            cur = self._run("DELETE FROM verified WHERE card_key = ?", (self.card_key(card),))
            self._checkpoint_now_and_then()
        return cur.rowcount > 0

    def check(self, card: str, pin: str | None, now: datetime, max_age: timedelta) -> CacheCheck:
        """What the cache says of *card* (with *pin*, when one is needed) at *now*.

        The PIN is hashed even for an unknown card, so the answer's timing
        does not tell which cards are cached.
        """
        with self._lock:
            row = self._run(
                "SELECT pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, pin_at, entry, borrow, verified_at"
                " FROM verified WHERE card_key = ?",
                (self.card_key(card),),
            ).fetchone()
        if row is None or (pin is not None and row[1] is None) or max_age <= timedelta(0):
            if pin is not None:
                self.scrypt.hash(self._peppered(pin), _DUMMY_SALT)
            return CacheCheck(CacheStatus.UNKNOWN)
        salt, stored, n, r, p, pin_at, entry, borrow, verified = row
        t = _ts(now)
        when = pin_at if pin is not None else verified
        verified_at = datetime.fromtimestamp(when, UTC)
        good_pin = True
        if pin is not None:
            good_pin = hmac.compare_digest(ScryptParams(n, r, p).hash(self._peppered(pin), salt), stored)
        if when < t - max_age.total_seconds() or when > t + 300:
            return CacheCheck(CacheStatus.EXPIRED, verified_at=verified_at)
        if not good_pin:
            return CacheCheck(CacheStatus.WRONG_PIN, verified_at=verified_at)
        return CacheCheck(CacheStatus.OK, bool(entry), bool(borrow), verified_at)

    def purge(self, now: datetime, max_age: timedelta) -> int:
        """Delete cache rows older than *max_age* and attempts past the kept window."""
        t = self._effective(now)
        with self._lock:
            cur = self._run("DELETE FROM verified WHERE verified_at < ?", (t - max_age.total_seconds(),))
            self._run("DELETE FROM pin_failure WHERE at < ?", (t - self.keep.total_seconds(),))
            self._run("DELETE FROM card_patron WHERE seen_at < ?", (t - max(max_age, self.keep).total_seconds(),))
        return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._run("SELECT COUNT(*) FROM verified").fetchone()[0])
