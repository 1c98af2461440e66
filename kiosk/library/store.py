"""SQLite state of the embedded library system.

WAL journal, ``synchronous=FULL``, foreign keys on.  Every change runs in
one ``BEGIN IMMEDIATE … COMMIT`` transaction, so after a crash (even
``kill -9`` in the middle of a checkout) a loan exists whole or not at all.

The store is loaded from a :class:`~kiosk.library.datafile.DataFile` and can
be written back to one (:meth:`Store.to_data`).  Amounts are integer cents
inside, euro in the data file.  The store is synchronous and owned by one
thread (the server's event loop thread); every call is sub-millisecond.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import hashlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from kiosk.sip2.dialects import FieldCodes
from kiosk.files import private_file

from .datafile import (
    Account,
    Badge,
    Branch,
    Card,
    CardStatus,
    Charge,
    DataFile,
    Hold,
    HoldStatus,
    Item,
    ItemType,
    Limits,
    Loan,
    Patron,
    PatronRunSettings,
    Payment,
    Role,
    ServerSection,
    Subscription,
    SubscriptionStatus,
    SubscriptionType,
    dump_data,
)
from .errors import LibraryError, NotFound, PaymentRefused, StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
#: The first bytes of every SQLite database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE branches (
    branch_id TEXT PRIMARY KEY, name TEXT NOT NULL, charge_age_days INTEGER NOT NULL,
    unmanned_badge TEXT, min_entry_age INTEGER);
CREATE TABLE subscription_types (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, fee_cents INTEGER NOT NULL,
    max_charges_cents INTEGER NOT NULL, loan_limit INTEGER NOT NULL);
CREATE TABLE badges (name TEXT PRIMARY KEY, active INTEGER NOT NULL, code TEXT UNIQUE);
CREATE TABLE item_types (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, loan_days INTEGER NOT NULL, max_renewals INTEGER NOT NULL,
    media_type TEXT NOT NULL, holdable INTEGER NOT NULL);
CREATE TABLE patrons (
    patron_id TEXT PRIMARY KEY, name TEXT NOT NULL, birth_date TEXT, pin TEXT, language TEXT NOT NULL,
    branch_id TEXT NOT NULL REFERENCES branches, temporary_number TEXT UNIQUE, patron_type TEXT, wise_status INTEGER);
CREATE TABLE notifications (
    patron_id TEXT NOT NULL REFERENCES patrons ON DELETE CASCADE, position INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (patron_id, position));
CREATE TABLE patron_badges (
    patron_id TEXT NOT NULL REFERENCES patrons ON DELETE CASCADE, badge TEXT NOT NULL REFERENCES badges,
    PRIMARY KEY (patron_id, badge));
CREATE TABLE cards (
    number TEXT PRIMARY KEY, patron_id TEXT NOT NULL REFERENCES patrons ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('active', 'replaced', 'blocked', 'lost')));
CREATE INDEX cards_patron ON cards (patron_id);
CREATE TABLE subscriptions (
    patron_id TEXT PRIMARY KEY REFERENCES patrons ON DELETE CASCADE, type_code TEXT NOT NULL REFERENCES subscription_types,
    start TEXT NOT NULL, "end" TEXT NOT NULL, status TEXT NOT NULL, fee_paid INTEGER NOT NULL,
    fee_written_off INTEGER NOT NULL, fee_adm_id TEXT UNIQUE, fee_paid_cents INTEGER NOT NULL DEFAULT 0,
    fee_adm_assigned INTEGER NOT NULL DEFAULT 0);
CREATE TABLE charges (
    charge_id INTEGER PRIMARY KEY, patron_id TEXT NOT NULL REFERENCES patrons ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), created TEXT NOT NULL, paid INTEGER NOT NULL,
    description TEXT NOT NULL, adm_id TEXT NOT NULL UNIQUE, reg_type INTEGER NOT NULL, title TEXT NOT NULL,
    based_on TEXT, paid_cents INTEGER NOT NULL DEFAULT 0 CHECK (paid_cents >= 0 AND paid_cents <= amount_cents),
    replacement_invoice INTEGER NOT NULL, collection_date TEXT, arrangement_date TEXT,
    adm_assigned INTEGER NOT NULL DEFAULT 0);
CREATE INDEX charges_patron ON charges (patron_id);
CREATE TABLE replacement_invoices (
    patron_id TEXT PRIMARY KEY REFERENCES patrons ON DELETE CASCADE);
CREATE TABLE items (
    item_id TEXT PRIMARY KEY, rfid TEXT UNIQUE, title TEXT NOT NULL, author TEXT NOT NULL,
    type_code TEXT NOT NULL REFERENCES item_types, parts INTEGER NOT NULL, branch_id TEXT REFERENCES branches,
    questions TEXT NOT NULL DEFAULT '');
CREATE TABLE loans (
    item_id TEXT PRIMARY KEY REFERENCES items, patron_id TEXT NOT NULL REFERENCES patrons,
    due TEXT NOT NULL, renewals INTEGER NOT NULL, checked_out TEXT);
CREATE INDEX loans_patron ON loans (patron_id);
CREATE TABLE holds (
    hold_id INTEGER PRIMARY KEY, patron_id TEXT NOT NULL REFERENCES patrons ON DELETE CASCADE,
    item_id TEXT NOT NULL REFERENCES items, created TEXT NOT NULL, status TEXT NOT NULL, pickup_branch TEXT);
CREATE INDEX holds_item ON holds (item_id, status);
CREATE INDEX holds_patron ON holds (patron_id);
CREATE TABLE accounts (
    login TEXT PRIMARY KEY, password TEXT NOT NULL, location TEXT NOT NULL, role TEXT NOT NULL, language TEXT);
CREATE TABLE incidents (
    incident_id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, account TEXT,
    item_id TEXT, detail TEXT NOT NULL);
CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY, transaction_id TEXT, adm_id TEXT NOT NULL, patron_id TEXT NOT NULL REFERENCES patrons,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), booked TEXT NOT NULL);
CREATE UNIQUE INDEX payments_once ON payments (transaction_id, adm_id);
"""


def _cents(euro: float) -> int:
    return int(round(euro * 100))


def _euro(cents: int) -> float:
    return round(cents / 100, 2)


def _d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


#: YZ description of the membership fee's registration (Wise's word for it).
FEE_DESCRIPTION = "Contributie"

# --------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class ChargeView:
    """An open charge (registration other than the membership fee)."""

    charge_id: int
    amount_cents: int  # the open amount (total less what was paid)
    created: date
    description: str
    adm_id: str = ""
    registration_type: int = 2
    title: str = ""
    based_on: date | None = None
    total_cents: int = 0
    replacement_invoice: bool = False
    collection_date: date | None = None
    arrangement_date: date | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    """One Wise registration (a YZ line of a 42): a charge, or the membership
    fee (type 1).  ``open_cents`` 0: paid."""

    adm_id: str
    created: date
    description: str
    title: str
    based_on: date | None
    open_cents: int
    total_cents: int
    registration_type: int
    collection_date: date | None = None
    arrangement_date: date | None = None
    replacement_invoice: bool = False

    @property
    def status(self) -> str:
        """YZ field 6: ``R`` payment arrangement, ``D`` debt collection, ``I`` invoice."""
        return "R" if self.arrangement_date else "D" if self.collection_date else "I"


@dataclass(frozen=True, slots=True)
class Booking:
    """A payment booked against one registration."""

    adm_id: str
    amount_cents: int
    open_cents: int  # left open on the registration
    duplicate: bool  # the same transaction id had already booked it: nothing booked again
    fee: bool  # the registration is the membership fee


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    type_code: str
    type_name: str
    start: date
    end: date
    status: SubscriptionStatus
    fee_cents: int
    fee_paid: bool
    fee_written_off: bool
    max_charges_cents: int
    loan_limit: int
    fee_adm_id: str | None = None
    fee_paid_cents: int = 0

    @property
    def fee_open_cents(self) -> int:
        """The open membership fee (not a charge): 0 when paid or written off."""
        return 0 if (self.fee_paid or self.fee_written_off) else max(0, self.fee_cents - self.fee_paid_cents)


@dataclass(frozen=True, slots=True)
class LoanView:
    item_id: str
    title: str
    due: date
    renewals: int
    max_renewals: int
    checked_out: date | None


@dataclass(frozen=True, slots=True)
class HoldView:
    hold_id: int
    item_id: str
    title: str
    created: date
    status: HoldStatus


@dataclass(frozen=True, slots=True)
class PatronView:
    """Everything the SIP2 face and the policy need to know of one patron."""

    patron_id: str
    name: str
    birth_date: date | None
    pin: str | None
    language: str
    branch_id: str
    charge_age_days: int
    patron_type: str | None
    temporary_number: str | None
    cards: tuple[tuple[str, CardStatus], ...]
    subscription: SubscriptionView | None
    charges: tuple[ChargeView, ...]
    replacement_invoice: bool
    badges: tuple[str, ...]  # assigned, whatever the badge type's state
    active_badges: tuple[str, ...]  # assigned and switched on
    loans: tuple[LoanView, ...] = ()
    holds: tuple[HoldView, ...] = ()
    badge_codes: tuple[str, ...] = ()  # Wise codes of the active badges that have one
    notifications: tuple[str, ...] = ()
    wise_status: int | None = None  # set in the data file; None: derived from the subscription

    @property
    def charges_open_cents(self) -> int:
        return sum(c.amount_cents for c in self.charges)

    @property
    def overdue(self) -> tuple[LoanView, ...]:
        today = date.today()
        return tuple(loan for loan in self.loans if loan.due < today)


@dataclass(frozen=True, slots=True)
class Identified:
    """How a number offered at the kiosk matched a patron."""

    patron_id: str
    by: str  # "card" or "temporary_number"
    card_status: CardStatus | None  # for by == "card"


@dataclass(frozen=True, slots=True)
class ItemView:
    item_id: str
    rfid: str | None
    title: str
    author: str
    type_code: str
    media_type: str
    loan_days: int
    max_renewals: int
    holdable: bool
    parts: int
    branch_id: str | None
    loan: Loan | None
    holds: tuple[tuple[int, str, HoldStatus], ...] = field(default=())  # (hold_id, patron_id, status), oldest first
    questions: tuple[str, ...] = ()  # FV questions Wise asks on checkout

    def next_hold(self, *, excluding: str | None = None) -> tuple[int, str, HoldStatus] | None:
        for hold in self.holds:
            if hold[1] != excluding:
                return hold
        return None


@dataclass(frozen=True, slots=True)
class CheckinResult:
    item: ItemView
    was_on_loan: bool
    patron_id: str | None  # who had it
    hold_patron_id: str | None  # the item goes to the hold shelf for this patron
    hold_pickup_branch: str | None


# --------------------------------------------------------------------------- the store


#: How long :meth:`Store.open_or_create` waits for another process's rebuild.
STATE_LOCK_TIMEOUT = 10.0


class _StateLock:
    """``flock`` on ``<state file>.lock``: shared while a process has the
    store open, exclusive while one rebuilds it."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from None

    def try_hold(self, mode: int) -> bool:
        try:
            fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def hold(self, mode: int, deadline: float) -> None:
        while not self.try_hold(mode):
            if time.monotonic() >= deadline:
                raise StoreError(f"{self.path}: another process holds the state file (rebuilding it?); try again")
            time.sleep(0.02)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class Store:
    """The embedded library system's state in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, fault_delay: float = 0.0) -> None:
        self._conn = conn
        self.path = path
        self.fault_delay = fault_delay
        self._in_tx = False
        self._group = False
        self._item_types: dict[str, ItemType] | None = None
        self._state_lock: _StateLock | None = None

    # ------------------------------------------------------------ opening

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None
        return conn

    @classmethod
    def create(cls, path: str | os.PathLike[str], data: DataFile, *, fault_delay: float = 0.0) -> Store:
        """A new store at *path* (replacing any file there) loaded from *data*."""
        p = Path(path)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{p}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot replace {p}{suffix}: {exc.strerror}") from None
        try:
            private_file(p)
        except OSError as exc:
            raise StoreError(f"cannot create {p}: {exc.strerror}") from None
        conn = cls._connect(p)
        store = cls(conn, p, fault_delay=fault_delay)
        with store.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            store._load(data)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, fault_delay: float = 0.0) -> Store:
        """An existing store (after a crash, SQLite's WAL recovery runs here)."""
        p = Path(path)
        if not p.exists():
            raise StoreError(f"{p}: no such state file")
        private_file(p)
        conn = cls._connect(p)
        store = cls(conn, p, fault_delay=fault_delay)
        try:
            version = store.meta("schema_version")
        except sqlite3.Error as exc:
            raise StoreError(f"{p}: not a library state file ({exc})") from None
        if version != str(SCHEMA_VERSION):
            raise StoreError(f"{p}: state schema {version}, expected {SCHEMA_VERSION}")
        return store

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike[str], data: DataFile, *, fault_delay: float = 0.0,
        lock_timeout: float = STATE_LOCK_TIMEOUT,
    ) -> tuple[Store, bool]:
        """Resume the store at *path* when it was loaded from this very data
        (same digest), else rebuild it from *data*.  Returns (store, resumed).

        Several processes may share one state file (a kiosk and a door on one
        machine): each holds a shared lock on ``<path>.lock`` while it has the
        store open, and a rebuild needs the exclusive lock.  So two processes
        starting together build it once, and a process started with other data
        is refused (:class:`StoreError`, after *lock_timeout* seconds) instead
        of replacing a file that another process is writing loans to."""
        p = Path(path)
        digest = data_digest(data)
        lock = _StateLock(p)
        deadline = time.monotonic() + lock_timeout
        try:
            while True:
                lock.hold(fcntl.LOCK_SH, deadline)
                store = cls._resume(p, digest, fault_delay)
                resumed = store is not None
                if store is None and lock.try_hold(fcntl.LOCK_EX):
                    # (flock converts by unlocking first: look again, another
                    # process may have built it in between)
                    store = cls._resume(p, digest, fault_delay)
                    resumed = store is not None
                    if store is None:
                        refuse_foreign_file(p)  # (under the exclusive lock: nobody is building it)
                        store = cls.create(p, data, fault_delay=fault_delay)
                    lock.hold(fcntl.LOCK_SH, deadline)
                if store is not None:
                    store._state_lock = lock
                    return store, resumed
                lock.release()
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"{p} is in use by another process that loaded other library data; "
                        "stop that process first, or give each its own state file")
                time.sleep(0.05)
        except BaseException:
            lock.close()
            raise

    @classmethod
    def _resume(cls, p: Path, digest: str, fault_delay: float) -> Store | None:
        """The store at *p* if it exists and was loaded from data with *digest*."""
        if not p.exists():
            return None
        try:
            store = cls.open(p, fault_delay=fault_delay)
        except StoreError:
            return None
        if store.meta("source_digest") == digest:
            return store
        store.close()
        return None

    def close(self) -> None:
        self._conn.close()
        lock, self._state_lock = self._state_lock, None
        if lock is not None:
            lock.close()

    # ------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls everything back.

        Inside a :meth:`group` (the group-commit writer) it is a savepoint
        instead: the operation is still whole or not at all, and its commit
        is the group's."""
        if self._in_tx:
            if not self._group:
                raise StoreError("nested transaction")
            with self._savepoint():
                yield self._conn
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction: {exc}") from None
        self._in_tx = True
        try:
            yield self._conn
        except BaseException:
            self._in_tx = False
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - connection already broken
                pass
            raise
        else:
            self._in_tx = False
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StoreError(f"cannot commit: {exc}") from None

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT op")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO op")
            self._conn.execute("RELEASE op")
            raise
        else:
            self._conn.execute("RELEASE op")

    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction for a group of operations, each in its own
        savepoint (see :class:`GroupWriter`)."""
        with self.transaction():
            self._group = True
            try:
                yield
            finally:
                self._group = False

    def _fault_pause(self) -> None:
        """Fault injection for the crash test: a pause between the writes of
        one transaction (0 in production)."""
        if self.fault_delay:
            log.warning("fault injection: pausing %.3f s inside a transaction", self.fault_delay)
            time.sleep(self.fault_delay)

    def _q(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        cur = self._conn.execute(sql, params)
        return cur.fetchall()

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        return self._conn.execute(sql, params).fetchone()

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    # ------------------------------------------------------------ load / export

    def _load(self, data: DataFile) -> None:
        c = self._conn
        meta = {
            "schema_version": str(SCHEMA_VERSION),
            "institution": data.institution,
            "source_digest": data_digest(data),
            "patron_run": data.patron_run.model_dump_json(),
            "server_fields": data.server.fields.model_dump_json(),
            "dialect": data.server.dialect,
            "server_limits": data.server.limits.model_dump_json(),
        }
        c.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
        c.executemany(
            "INSERT INTO branches VALUES (?, ?, ?, ?, ?)",
            [(b.branch_id, b.name, b.charge_age_days, b.unmanned_badge, b.min_entry_age) for b in data.branches],
        )
        c.executemany(
            "INSERT INTO subscription_types VALUES (?, ?, ?, ?, ?)",
            [(t.code, t.name, _cents(t.fee), _cents(t.max_charges), t.loan_limit) for t in data.subscription_types],
        )
        c.executemany("INSERT INTO badges VALUES (?, ?, ?)", [(b.name, int(b.active), b.code) for b in data.badges])
        c.executemany(
            "INSERT INTO item_types VALUES (?, ?, ?, ?, ?, ?)",
            [(t.code, t.name, t.loan_days, t.max_renewals, t.media_type, int(t.holdable)) for t in data.item_types],
        )
        adm_ids = data.adm_ids()
        for p in data.patrons:
            c.execute(
                "INSERT INTO patrons VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    p.patron_id,
                    p.name,
                    p.birth_date.isoformat() if p.birth_date else None,
                    p.pin,
                    p.language,
                    p.branch,
                    p.temporary_number,
                    p.patron_type,
                    p.wise_status,
                ),
            )
            c.executemany(
                "INSERT INTO notifications VALUES (?, ?, ?)", [(p.patron_id, i, t) for i, t in enumerate(p.notifications)]
            )
            c.executemany("INSERT INTO patron_badges VALUES (?, ?)", [(p.patron_id, b) for b in p.badges])
            c.executemany("INSERT INTO cards VALUES (?, ?, ?)", [(k.number, p.patron_id, k.status.value) for k in p.cards])
            if p.subscription:
                s = p.subscription
                fee_adm_id, fee_assigned = adm_ids.get((p.patron_id, None), (None, False))
                c.execute(
                    "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        p.patron_id,
                        s.subscription_type,
                        s.start.isoformat(),
                        s.end.isoformat(),
                        s.status.value,
                        int(s.fee_paid),
                        int(s.fee_written_off),
                        fee_adm_id,
                        _cents(s.fee_amount_paid),
                        int(fee_assigned),
                    ),
                )
            c.executemany(
                "INSERT INTO charges (patron_id, amount_cents, created, paid, description, adm_id, reg_type, title,"
                " based_on, paid_cents, replacement_invoice, collection_date, arrangement_date, adm_assigned)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.patron_id, _cents(ch.amount), ch.created.isoformat(),
                        int(ch.paid or ch.amount_paid >= ch.amount), ch.description,
                        adm_ids[(p.patron_id, ci)][0], ch.registration_type, ch.title, _iso(ch.based_on),
                        _cents(ch.amount_paid), int(ch.replacement_invoice), _iso(ch.collection_date),
                        _iso(ch.arrangement_date), int(adm_ids[(p.patron_id, ci)][1]),
                    )  # fmt: skip
                    for ci, ch in enumerate(p.charges)
                ],
            )
            if p.replacement_invoice:
                c.execute("INSERT INTO replacement_invoices VALUES (?)", (p.patron_id,))
        c.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i.item_id, i.rfid, i.title, i.author, i.item_type, i.parts, i.branch, ",".join(i.questions))
                for i in data.items
            ],
        )
        c.execute("INSERT INTO meta VALUES ('default_branch', ?)", (data.branches[0].branch_id,))
        c.executemany(
            "INSERT INTO loans VALUES (?, ?, ?, ?, ?)",
            [
                (ln.item, ln.patron, ln.due.isoformat(), ln.renewals, ln.checked_out.isoformat() if ln.checked_out else None)
                for ln in data.loans
            ],
        )
        c.executemany(
            "INSERT INTO holds (patron_id, item_id, created, status, pickup_branch) VALUES (?, ?, ?, ?, ?)",
            [(h.patron, h.item, h.created.isoformat(), h.status.value, h.pickup_branch) for h in data.holds],
        )
        c.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
            [(a.login, a.password, a.location, a.role.value, a.language) for a in data.server.accounts],
        )
        c.executemany(
            "INSERT INTO payments (transaction_id, adm_id, patron_id, amount_cents, booked) VALUES (?, ?, ?, ?, ?)",
            [(y.transaction_id, y.adm_id, y.patron, _cents(y.amount), y.booked.isoformat()) for y in data.payments],
        )

    def to_data(self) -> DataFile:
        """The current state as a data file (the order of the source is kept)."""
        q = self._q
        branches = list(self.branches().values())
        sub_types = [
            SubscriptionType(code=r[0], name=r[1], fee=_euro(r[2]), max_charges=_euro(r[3]), loan_limit=r[4])
            for r in q("SELECT * FROM subscription_types ORDER BY rowid")
        ]
        badges = [Badge(name=r[0], active=bool(r[1]), code=r[2]) for r in q("SELECT * FROM badges ORDER BY rowid")]
        item_types = [
            ItemType(code=r[0], name=r[1], loan_days=r[2], max_renewals=r[3], media_type=r[4], holdable=bool(r[5]))
            for r in q("SELECT * FROM item_types ORDER BY rowid")
        ]
        patrons = []
        for r in q("SELECT * FROM patrons ORDER BY rowid"):
            pid = r[0]
            sub = self._one(
                'SELECT type_code, start, "end", status, fee_paid, fee_written_off,'
                " CASE WHEN fee_adm_assigned THEN NULL ELSE fee_adm_id END, fee_paid_cents"
                " FROM subscriptions WHERE patron_id = ?",
                (pid,),
            )
            patrons.append(
                Patron(
                    id=pid,
                    name=r[1],
                    birth_date=_d(r[2]),
                    pin=r[3],
                    language=r[4],
                    branch=r[5],
                    temporary_number=r[6],
                    patron_type=r[7],
                    wise_status=r[8],
                    notifications=[
                        n[0] for n in q("SELECT text FROM notifications WHERE patron_id = ? ORDER BY position", (pid,))
                    ],
                    cards=[
                        Card(number=c[0], status=CardStatus(c[1]))
                        for c in q("SELECT number, status FROM cards WHERE patron_id = ? ORDER BY rowid", (pid,))
                    ],
                    subscription=Subscription(
                        type=sub[0],
                        start=_d(sub[1]),
                        end=_d(sub[2]),
                        status=SubscriptionStatus(sub[3]),
                        fee_paid=bool(sub[4]),
                        fee_written_off=bool(sub[5]),
                        fee_adm_id=sub[6],
                        fee_amount_paid=_euro(sub[7]),
                    )
                    if sub
                    else None,
                    charges=[
                        Charge(
                            amount=_euro(c[0]), created=_d(c[1]), paid=bool(c[2]), description=c[3], adm_id=c[4],
                            type=c[5], title=c[6], based_on=_d(c[7]), amount_paid=_euro(c[8]),
                            replacement_invoice=bool(c[9]), collection_date=_d(c[10]), arrangement_date=_d(c[11]),
                        )  # fmt: skip
                        for c in q(
                            "SELECT amount_cents, created, paid, description,"
                            " CASE WHEN adm_assigned THEN NULL ELSE adm_id END, reg_type, title, based_on,"
                            " paid_cents, replacement_invoice, collection_date, arrangement_date"
                            " FROM charges WHERE patron_id = ? ORDER BY charge_id",
                            (pid,),
                        )
                    ],
                    replacement_invoice=self._one("SELECT 1 FROM replacement_invoices WHERE patron_id = ?", (pid,)) is not None,
                    badges=[b[0] for b in q("SELECT badge FROM patron_badges WHERE patron_id = ? ORDER BY rowid", (pid,))],
                )
            )
        items = [
            Item(
                id=r[0], rfid=r[1], title=r[2], author=r[3], type=r[4], parts=r[5], branch=r[6],
                questions=[x for x in r[7].split(",") if x],
            )  # fmt: skip
            for r in q("SELECT * FROM items ORDER BY rowid")
        ]
        loans = [
            Loan(item=r[0], patron=r[1], due=_d(r[2]), renewals=r[3], checked_out=_d(r[4]))
            for r in q("SELECT * FROM loans ORDER BY rowid")
        ]
        holds = [
            Hold(patron=r[0], item=r[1], created=_d(r[2]), status=HoldStatus(r[3]), pickup_branch=r[4])
            for r in q("SELECT patron_id, item_id, created, status, pickup_branch FROM holds ORDER BY hold_id")
        ]
        accounts = [
            Account(login=r[0], password=r[1], location=r[2], role=Role(r[3]), language=r[4])
            for r in q("SELECT login, password, location, role, language FROM accounts ORDER BY rowid")
        ]
        payments = [
            Payment(transaction_id=r[0], adm_id=r[1], patron=r[2], amount=_euro(r[3]), booked=datetime.fromisoformat(r[4]))
            for r in q("SELECT transaction_id, adm_id, patron_id, amount_cents, booked FROM payments ORDER BY payment_id")
        ]
        return DataFile(
            institution=self.meta("institution") or "",
            branches=branches,
            subscription_types=sub_types,
            badges=badges,
            item_types=item_types,
            patrons=patrons,
            items=items,
            loans=loans,
            holds=holds,
            payments=payments,
            server=ServerSection(dialect=self.dialect, accounts=accounts, fields=self.field_codes(), limits=self.limits()),
            patron_run=PatronRunSettings.model_validate_json(self.meta("patron_run") or "{}"),
        )

    # ------------------------------------------------------------ reading

    @property
    def institution(self) -> str:
        return self.meta("institution") or ""

    @property
    def default_branch(self) -> str:
        return self.meta("default_branch") or ""

    @property
    def dialect(self) -> str:
        """The data file's ``server.dialect``: ``extended`` or ``wise``."""
        return self.meta("dialect") or "extended"

    def badge_map(self) -> dict[str, str]:
        """Wise badge code -> badge name, for the badges that have a code."""
        return {r[0]: r[1] for r in self._q("SELECT code, name FROM badges WHERE code IS NOT NULL ORDER BY rowid")}

    def accounts(self) -> dict[str, Account]:
        return {
            r[0]: Account(login=r[0], password=r[1], location=r[2], role=Role(r[3]), language=r[4])
            for r in self._q("SELECT login, password, location, role, language FROM accounts")
        }

    def limits(self) -> Limits:
        """The server's throttling and connection limits (``server.limits``)."""
        return Limits.model_validate_json(self.meta("server_limits") or "{}")

    def record_incident(self, kind: str, *, at: str, account: str | None, item_id: str | None, detail: str) -> None:
        """Note something for staff (a refused no-block checkout …) in the state."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO incidents (at, kind, account, item_id, detail) VALUES (?, ?, ?, ?, ?)",
                (at, kind, account, item_id, detail),
            )

    def incidents(self) -> list[dict[str, str | None]]:
        """What was recorded for staff, oldest first."""
        return [
            {"at": r[0], "kind": r[1], "account": r[2], "item": r[3], "detail": r[4]}
            for r in self._q("SELECT at, kind, account, item_id, detail FROM incidents ORDER BY incident_id")
        ]

    def branches(self) -> dict[str, Branch]:
        return {
            r[0]: Branch(id=r[0], name=r[1], charge_age_days=r[2], unmanned_badge=r[3], min_entry_age=r[4])
            for r in self._q("SELECT * FROM branches ORDER BY rowid")
        }

    def subscription_type_maxima(self) -> dict[str, int]:
        """Subscription type code -> maximum open charges in cents (R1)."""
        return {r[0]: int(r[1]) for r in self._q("SELECT code, max_charges_cents FROM subscription_types")}

    def item_types(self) -> dict[str, ItemType]:
        if self._item_types is None:
            self._item_types = {
                r[0]: ItemType(code=r[0], name=r[1], loan_days=r[2], max_renewals=r[3], media_type=r[4], holdable=bool(r[5]))
                for r in self._q("SELECT * FROM item_types")
            }
        return self._item_types

    def identify(self, number: str) -> Identified | None:
        """The patron a card number or temporary number belongs to."""
        row = self._one("SELECT patron_id, status FROM cards WHERE number = ?", (number,))
        if row:
            return Identified(row[0], "card", CardStatus(row[1]))
        row = self._one("SELECT patron_id FROM patrons WHERE temporary_number = ?", (number,))
        if row:
            return Identified(row[0], "temporary_number", None)
        return None

    def patron(self, patron_id: str, *, with_lists: bool = True) -> PatronView:
        row = self._one(
            "SELECT p.patron_id, p.name, p.birth_date, p.pin, p.language, p.branch_id, b.charge_age_days, p.patron_type,"
            " p.temporary_number, p.wise_status FROM patrons p JOIN branches b USING (branch_id) WHERE p.patron_id = ?",
            (patron_id,),
        )
        if row is None:
            raise NotFound(f"no patron {patron_id!r}")
        sub = self._one(
            'SELECT s.type_code, t.name, s.start, s."end", s.status, t.fee_cents, s.fee_paid, s.fee_written_off,'
            " t.max_charges_cents, t.loan_limit, s.fee_adm_id, s.fee_paid_cents"
            " FROM subscriptions s JOIN subscription_types t ON t.code = s.type_code WHERE s.patron_id = ?",
            (patron_id,),
        )
        badges = self._q(
            "SELECT pb.badge, b.active, b.code FROM patron_badges pb JOIN badges b ON b.name = pb.badge"
            " WHERE pb.patron_id = ? ORDER BY pb.rowid",
            (patron_id,),
        )
        charges = self._charges(patron_id, paid=False)
        loans: tuple[LoanView, ...] = ()
        holds: tuple[HoldView, ...] = ()
        if with_lists:
            loans = tuple(
                LoanView(r[0], r[1], date.fromisoformat(r[2]), r[3], r[4], _d(r[5]))
                for r in self._q(
                    "SELECT l.item_id, i.title, l.due, l.renewals, t.max_renewals, l.checked_out FROM loans l"
                    " JOIN items i USING (item_id) JOIN item_types t ON t.code = i.type_code"
                    " WHERE l.patron_id = ? ORDER BY l.due, l.item_id",
                    (patron_id,),
                )
            )
            holds = tuple(
                HoldView(r[0], r[1], r[2], date.fromisoformat(r[3]), HoldStatus(r[4]))
                for r in self._q(
                    "SELECT h.hold_id, h.item_id, i.title, h.created, h.status FROM holds h JOIN items i USING (item_id)"
                    " WHERE h.patron_id = ? AND h.status != 'cancelled' ORDER BY h.hold_id",
                    (patron_id,),
                )
            )
        return PatronView(
            patron_id=row[0],
            name=row[1],
            birth_date=_d(row[2]),
            pin=row[3],
            language=row[4],
            branch_id=row[5],
            charge_age_days=row[6],
            patron_type=row[7],
            temporary_number=row[8],
            cards=tuple(
                (r[0], CardStatus(r[1]))
                for r in self._q("SELECT number, status FROM cards WHERE patron_id = ? ORDER BY rowid", (patron_id,))
            ),
            subscription=SubscriptionView(
                type_code=sub[0],
                type_name=sub[1],
                start=date.fromisoformat(sub[2]),
                end=date.fromisoformat(sub[3]),
                status=SubscriptionStatus(sub[4]),
                fee_cents=sub[5],
                fee_paid=bool(sub[6]),
                fee_written_off=bool(sub[7]),
                max_charges_cents=sub[8],
                loan_limit=sub[9],
                fee_adm_id=sub[10],
                fee_paid_cents=sub[11],
            )
            if sub
            else None,
            charges=charges,
            replacement_invoice=any(c.replacement_invoice for c in charges)
            or self._one("SELECT 1 FROM replacement_invoices WHERE patron_id = ?", (patron_id,)) is not None,
            badges=tuple(b[0] for b in badges),
            active_badges=tuple(b[0] for b in badges if b[1]),
            loans=loans,
            holds=holds,
            badge_codes=tuple(b[2] for b in badges if b[1] and b[2]),
            notifications=tuple(
                r[0] for r in self._q("SELECT text FROM notifications WHERE patron_id = ? ORDER BY position", (patron_id,))
            ),
            wise_status=row[9],
        )

    def _charges(self, patron_id: str, *, paid: bool) -> tuple[ChargeView, ...]:
        """The patron's open (or paid) charges, oldest first."""
        return tuple(
            ChargeView(
                r[0], 0 if paid else r[1] - r[9], date.fromisoformat(r[2]), r[3], r[4], r[5], r[6], _d(r[7]), r[1], bool(r[8]),
                _d(r[10]), _d(r[11]),
            )  # fmt: skip
            for r in self._q(
                "SELECT charge_id, amount_cents, created, description, adm_id, reg_type, title, based_on,"
                " replacement_invoice, paid_cents, collection_date, arrangement_date FROM charges"
                " WHERE patron_id = ? AND paid = ? ORDER BY created, charge_id",
                (patron_id, int(paid)),
            )
        )

    def registrations(self, patron_id: str, *, paid: bool = False) -> list[Registration]:
        """The patron's open registrations (``paid``: the paid ones): the
        membership fee (type 1) first, then the charges, oldest first."""
        out: list[Registration] = []
        view = self.patron(patron_id, with_lists=False)
        sub = view.subscription
        if sub is not None and sub.fee_adm_id and sub.fee_cents > 0 and not sub.fee_written_off:
            fee_open = sub.fee_open_cents
            if (fee_open == 0) == paid:
                out.append(
                    Registration(
                        adm_id=sub.fee_adm_id, created=sub.start, description=FEE_DESCRIPTION, title=sub.type_name,
                        based_on=sub.start, open_cents=fee_open, total_cents=sub.fee_cents, registration_type=1,
                    )  # fmt: skip
                )
        for c in view.charges if not paid else self._charges(patron_id, paid=True):
            out.append(
                Registration(
                    adm_id=c.adm_id, created=c.created, description=c.description, title=c.title,
                    based_on=c.based_on, open_cents=c.amount_cents, total_cents=c.total_cents,
                    registration_type=c.registration_type, collection_date=c.collection_date,
                    arrangement_date=c.arrangement_date, replacement_invoice=c.replacement_invoice,
                )  # fmt: skip
            )
        return out

    def loan_count(self, patron_id: str) -> int:
        row = self._one("SELECT count(*) FROM loans WHERE patron_id = ?", (patron_id,))
        return int(row[0]) if row else 0

    def item(self, item_key: str) -> ItemView | None:
        """An item by barcode or by the id on its RFID tag."""
        row = self._one(
            "SELECT i.item_id, i.rfid, i.title, i.author, i.type_code, t.media_type, t.loan_days, t.max_renewals,"
            " t.holdable, i.parts, i.branch_id, i.questions FROM items i JOIN item_types t ON t.code = i.type_code"
            " WHERE i.item_id = ? OR i.rfid = ? LIMIT 1",
            (item_key, item_key),
        )
        if row is None:
            return None
        item_id = row[0]
        loan_row = self._one("SELECT patron_id, due, renewals, checked_out FROM loans WHERE item_id = ?", (item_id,))
        loan = (
            Loan(patron=loan_row[0], item=item_id, due=date.fromisoformat(loan_row[1]), renewals=loan_row[2], checked_out=_d(loan_row[3]))
            if loan_row
            else None
        )
        holds = tuple(
            (r[0], r[1], HoldStatus(r[2]))
            for r in self._q(
                "SELECT hold_id, patron_id, status FROM holds WHERE item_id = ? AND status != 'cancelled' ORDER BY hold_id",
                (item_id,),
            )
        )
        return ItemView(
            item_id=item_id,
            rfid=row[1],
            title=row[2],
            author=row[3],
            type_code=row[4],
            media_type=row[5],
            loan_days=row[6],
            max_renewals=row[7],
            holdable=bool(row[8]),
            parts=row[9],
            branch_id=row[10] or self.default_branch,
            loan=loan,
            holds=holds,
            questions=tuple(q for q in row[11].split(",") if q),
        )

    def counts(self) -> dict[str, int]:
        tables = ("patrons", "cards", "items", "loans", "holds", "charges")
        return {t: int(self._one(f"SELECT count(*) FROM {t}")[0]) for t in tables}  # noqa: S608 - fixed names

    # ------------------------------------------------------------ transactions

    def checkout(self, patron_id: str, item_id: str, *, today: date, due: date | None = None) -> Loan:
        """Lend *item_id* to *patron_id*: the loan row, and the patron's hold on
        the item fulfilled, in one transaction.  The caller has already asked
        the policy; this refuses only what would corrupt the state."""
        with self.transaction() as c:
            item = self.item(item_id)
            if item is None:
                raise NotFound(f"no item {item_id!r}")
            if item.loan is not None:
                raise LibraryError("item is already on loan")
            due = due or today + timedelta(days=item.loan_days)
            c.execute(
                "INSERT INTO loans VALUES (?, ?, ?, 0, ?)", (item.item_id, patron_id, due.isoformat(), today.isoformat())
            )
            self._fault_pause()
            # A hold of this patron on this item is fulfilled by the loan.
            c.execute(
                "UPDATE holds SET status = 'cancelled' WHERE item_id = ? AND patron_id = ? AND status != 'cancelled'",
                (item.item_id, patron_id),
            )
            self._fault_pause()
            return Loan(patron=patron_id, item=item.item_id, due=due, renewals=0, checked_out=today)

    def renew(self, patron_id: str, item_id: str, *, today: date, due: date | None = None) -> Loan:
        with self.transaction() as c:
            item = self.item(item_id)
            if item is None or item.loan is None or item.loan.patron != patron_id:
                raise NotFound(f"item {item_id!r} is not on loan to this patron")
            new_due = due or max(item.loan.due, today) + timedelta(days=item.loan_days)
            c.execute(
                "UPDATE loans SET due = ?, renewals = renewals + 1 WHERE item_id = ?", (new_due.isoformat(), item.item_id)
            )
            return item.loan.model_copy(update={"due": new_due, "renewals": item.loan.renewals + 1})

    def checkin(self, item_id: str, *, today: date) -> CheckinResult:
        """Return an item; when another patron holds it, the hold becomes
        available (the item goes to the hold shelf)."""
        with self.transaction() as c:
            item = self.item(item_id)
            if item is None:
                raise NotFound(f"no item {item_id!r}")
            patron_id = item.loan.patron if item.loan else None
            c.execute("DELETE FROM loans WHERE item_id = ?", (item.item_id,))
            self._fault_pause()
            hold = next((h for h in item.holds if h[1] != patron_id), None)
            pickup = None
            if hold is not None:
                if hold[2] is HoldStatus.WAITING:
                    c.execute("UPDATE holds SET status = 'available' WHERE hold_id = ?", (hold[0],))
                row = self._one("SELECT pickup_branch FROM holds WHERE hold_id = ?", (hold[0],))
                pickup = row[0] if row else None
            return CheckinResult(
                item=item,
                was_on_loan=item.loan is not None,
                patron_id=patron_id,
                hold_patron_id=hold[1] if hold else None,
                hold_pickup_branch=pickup or item.branch_id,
            )

    def place_hold(self, patron_id: str, item_id: str, *, today: date, pickup_branch: str | None = None) -> int:
        with self.transaction() as c:
            item = self.item(item_id)
            if item is None:
                raise NotFound(f"no item {item_id!r}")
            if any(h[1] == patron_id for h in item.holds):
                raise LibraryError("the patron already holds this item")
            cur = c.execute(
                "INSERT INTO holds (patron_id, item_id, created, status, pickup_branch) VALUES (?, ?, ?, 'waiting', ?)",
                (patron_id, item.item_id, today.isoformat(), pickup_branch),
            )
            return int(cur.lastrowid or 0)

    def cancel_hold(self, patron_id: str, item_id: str) -> bool:
        with self.transaction() as c:
            item = self.item(item_id)
            if item is None:
                return False
            cur = c.execute(
                "UPDATE holds SET status = 'cancelled' WHERE patron_id = ? AND item_id = ? AND status != 'cancelled'",
                (patron_id, item.item_id),
            )
            return cur.rowcount > 0

    def block_card(self, number: str) -> bool:
        """Block a card (SIP2 01 Block Patron).  False when no such card."""
        with self.transaction() as c:
            cur = c.execute("UPDATE cards SET status = 'blocked' WHERE number = ?", (number,))
            return cur.rowcount > 0

    def enable_card(self, number: str) -> bool:
        """Lift a card's block (SIP2 25 Patron Enable).  False when the card
        is not blocked."""
        with self.transaction() as c:
            cur = c.execute("UPDATE cards SET status = 'active' WHERE number = ? AND status = 'blocked'", (number,))
            return cur.rowcount > 0

    def pay(
        self, patron_id: str, amount_cents: int, *, what: str, transaction_id: str | None = None,
        booked: datetime | None = None,
    ) -> int:  # fmt: skip
        """Record a payment that names no registration.  ``what`` is ``"fee"``
        (the membership fee: paid in full, the status becomes normal) or
        ``"charges"`` (oldest charges first; a partial payment leaves the rest
        of a charge open).  Each registration paid gets its row in the
        payments; a re-sent *transaction_id* (BK) with the same amount books
        nothing again.  Returns the cents used."""
        if amount_cents <= 0:
            raise LibraryError("amount must be positive")
        when = (booked or datetime.now().astimezone()).isoformat()
        with self.transaction() as c:
            if transaction_id:
                rows = self._q(
                    "SELECT amount_cents FROM payments WHERE transaction_id = ? AND patron_id = ?",
                    (transaction_id, patron_id),
                )
                if rows:
                    used = sum(r[0] for r in rows)
                    if used > amount_cents:
                        raise PaymentRefused("conflict", "this transaction id already booked another payment")
                    return used
            booked_parts: list[tuple[str, int]] = []
            if what == "fee":
                view = self.patron(patron_id, with_lists=False)
                sub = view.subscription
                if sub is None or sub.fee_open_cents == 0:
                    raise LibraryError("no open membership fee")
                if amount_cents < sub.fee_open_cents:
                    raise LibraryError("the membership fee is paid in full only")
                booked_parts.append((sub.fee_adm_id or "", sub.fee_open_cents))
                self._fee_paid(patron_id, sub, sub.fee_open_cents)
            elif what == "charges":
                left = amount_cents
                for charge in self._charges(patron_id, paid=False):
                    if left <= 0:
                        break
                    part = min(left, charge.amount_cents)
                    self._charge_paid(charge, part)
                    booked_parts.append((charge.adm_id, part))
                    left -= part
                if left == amount_cents:
                    raise LibraryError("no open charges")
            else:
                raise LibraryError(f"cannot pay {what!r}")
            c.executemany(
                "INSERT INTO payments (transaction_id, adm_id, patron_id, amount_cents, booked) VALUES (?, ?, ?, ?, ?)",
                [(transaction_id or None, adm_id, patron_id, cents, when) for adm_id, cents in booked_parts],
            )
            return sum(cents for _, cents in booked_parts)

    def _charge_paid(self, charge: ChargeView, cents: int) -> int:
        """Book *cents* (at most the open amount) on a charge; the cents left open."""
        left = charge.amount_cents - cents
        self._conn.execute(
            "UPDATE charges SET paid_cents = paid_cents + ?, paid = ? WHERE charge_id = ?",
            (cents, int(left == 0), charge.charge_id),
        )
        return left

    def _fee_paid(self, patron_id: str, sub: SubscriptionView, cents: int) -> int:
        """Book *cents* (at most the open amount) on the membership fee; when it
        is paid in full, an invoiced, reminded or not-paid subscription becomes
        normal (R2, R5 lifted).  The cents left open."""
        left = sub.fee_open_cents - cents
        if left > 0:
            self._conn.execute(
                "UPDATE subscriptions SET fee_paid_cents = fee_paid_cents + ? WHERE patron_id = ?", (cents, patron_id)
            )
            return left
        status = sub.status
        if status in (SubscriptionStatus.INVOICED, SubscriptionStatus.REMINDER, SubscriptionStatus.NOT_PAID):
            status = SubscriptionStatus.NORMAL
        self._conn.execute(
            "UPDATE subscriptions SET fee_paid = 1, fee_paid_cents = fee_paid_cents + ?, status = ? WHERE patron_id = ?",
            (cents, status.value, patron_id),
        )
        return 0

    def book_payment(
        self, patron_id: str, adm_id: str, amount_cents: int, *, transaction_id: str | None, booked: datetime
    ) -> Booking:
        """Book a payment (a 37 with CG = *adm_id*) against one registration
        of *patron_id*, in one transaction.

        A part of the open amount is booked and the rest stays open; more
        than the open amount is refused.  The same *transaction_id* (BK) for
        the same registration books once: a re-sent 37 with the same amount
        is answered as booked without booking again, with another amount it
        is refused (``conflict``).  Refusals raise :class:`PaymentRefused`."""
        with self.transaction():
            if transaction_id:
                row = self._one(
                    "SELECT patron_id, amount_cents FROM payments WHERE transaction_id = ? AND adm_id = ?",
                    (transaction_id, adm_id),
                )
                if row is not None:
                    if row[0] != patron_id or row[1] != amount_cents:
                        raise PaymentRefused("conflict", "this transaction id already booked another payment")
                    open_now = self._open_cents(patron_id, adm_id)
                    return Booking(adm_id, amount_cents, open_now[0] if open_now else 0, True, bool(open_now and open_now[1]))
            if amount_cents <= 0:
                raise PaymentRefused("amount", "the amount must be more than 0")
            view = self.patron(patron_id, with_lists=False)
            sub = view.subscription
            if sub is not None and sub.fee_adm_id == adm_id and sub.fee_cents > 0 and not sub.fee_written_off:
                if sub.fee_open_cents == 0:
                    raise PaymentRefused("already_paid", "the registration is paid")
                if amount_cents > sub.fee_open_cents:
                    raise PaymentRefused("overpayment", "the amount is more than is open")
                left, fee = self._fee_paid(patron_id, sub, amount_cents), True
            else:
                charge = next((c for c in view.charges if c.adm_id == adm_id), None)
                if charge is None:
                    paid = self._one("SELECT 1 FROM charges WHERE patron_id = ? AND adm_id = ? AND paid = 1", (patron_id, adm_id))
                    if paid is not None:
                        raise PaymentRefused("already_paid", "the registration is paid")
                    raise PaymentRefused("unknown_registration", "the patron has no such registration")
                if amount_cents > charge.amount_cents:
                    raise PaymentRefused("overpayment", "the amount is more than is open")
                left, fee = self._charge_paid(charge, amount_cents), False
            self._conn.execute(
                "INSERT INTO payments (transaction_id, adm_id, patron_id, amount_cents, booked) VALUES (?, ?, ?, ?, ?)",
                (transaction_id or None, adm_id, patron_id, amount_cents, booked.isoformat()),
            )
            self._fault_pause()
            return Booking(adm_id, amount_cents, left, False, fee)

    def _open_cents(self, patron_id: str, adm_id: str) -> tuple[int, bool] | None:
        """(open cents, is the fee) of one registration of a patron, or None."""
        for reg in self.registrations(patron_id) + self.registrations(patron_id, paid=True):
            if reg.adm_id == adm_id:
                return reg.open_cents, reg.registration_type == 1
        return None

    def payments(self) -> list[tuple[str | None, str, str, int, str]]:
        """Booked payments: (transaction id, adm_id, patron id, cents, booked)."""
        return [
            tuple(r)
            for r in self._q("SELECT transaction_id, adm_id, patron_id, amount_cents, booked FROM payments ORDER BY payment_id")
        ]

    # ------------------------------------------------------------ patron run support

    def subscriptions(self) -> list[tuple[str, SubscriptionView]]:
        out = []
        for r in self._q(
            'SELECT s.patron_id, s.type_code, t.name, s.start, s."end", s.status, t.fee_cents, s.fee_paid,'
            " s.fee_written_off, t.max_charges_cents, t.loan_limit FROM subscriptions s"
            " JOIN subscription_types t ON t.code = s.type_code ORDER BY s.rowid"
        ):
            out.append(
                (
                    r[0],
                    SubscriptionView(
                        r[1],
                        r[2],
                        date.fromisoformat(r[3]),
                        date.fromisoformat(r[4]),
                        SubscriptionStatus(r[5]),
                        r[6],
                        bool(r[7]),
                        bool(r[8]),
                        r[9],
                        r[10],
                    ),
                )
            )
        return out

    def set_subscription(
        self, patron_id: str, *, status: SubscriptionStatus, fee_written_off: bool | None = None
    ) -> None:
        """Change a subscription's status (inside the caller's transaction)."""
        if not self._in_tx:
            raise StoreError("set_subscription needs a transaction")
        self._conn.execute("UPDATE subscriptions SET status = ? WHERE patron_id = ?", (status.value, patron_id))
        if fee_written_off is not None:
            self._conn.execute(
                "UPDATE subscriptions SET fee_written_off = ? WHERE patron_id = ?", (int(fee_written_off), patron_id)
            )

    def cancel_holds_of(self, patron_id: str) -> list[str]:
        """Cancel every open hold of a patron (inside the caller's transaction)."""
        if not self._in_tx:
            raise StoreError("cancel_holds_of needs a transaction")
        items = [r[0] for r in self._q("SELECT item_id FROM holds WHERE patron_id = ? AND status != 'cancelled' ORDER BY hold_id", (patron_id,))]
        self._conn.execute("UPDATE holds SET status = 'cancelled' WHERE patron_id = ? AND status != 'cancelled'", (patron_id,))
        return items

    def field_codes(self) -> FieldCodes:
        """The SIP2 extension field codes of the data file (``server.fields``)."""
        return FieldCodes.model_validate_json(self.meta("server_fields") or "{}")

    def patron_run_settings(self) -> PatronRunSettings:
        return PatronRunSettings.model_validate_json(self.meta("patron_run") or "{}")

    def integrity_problems(self) -> list[str]:
        """Consistency checks used by the crash test (and `PRAGMA integrity_check`)."""
        problems = [r[0] for r in self._q("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in self._q("PRAGMA foreign_key_check")]
        return problems


def is_state_file(path: Path) -> bool:
    """Whether *path* is a bibkiosk library state file (of any schema
    version): an SQLite database with our ``meta`` table."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                return False
    except OSError:
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None


def refuse_foreign_file(path: Path) -> None:
    """A :class:`StoreError` unless *path* is missing, empty or a library
    state file: ``--state`` must never overwrite another file (the data
    file, a journal …)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"{path} is not a regular file; refusing to use it as the library state")
    if st.st_size == 0 or is_state_file(path):
        return
    raise StoreError(f"{path} is not a bibkiosk library state file; refusing to overwrite it (give another --state)")


def data_digest(data: DataFile) -> str:
    """A digest of a data file's content, to know whether a state file was
    loaded from it."""
    return hashlib.sha256(dump_data(data).encode()).hexdigest()


class GroupWriter:
    """Group commit for the SIP2 server: write operations submitted from the
    event loop run in one writer thread on its own connection.  Whatever is
    queued while a commit is under way goes into the next group: one
    ``BEGIN IMMEDIATE`` … ``COMMIT`` (one fsync) for the group, each
    operation in its own savepoint — still whole or not at all, and answered
    only after its group is durable.  The event loop keeps serving reads
    (its own connection; WAL readers never wait for the writer) meanwhile."""

    def __init__(self, path: str | os.PathLike[str], *, fault_delay: float = 0.0, max_group: int = 256) -> None:
        self.store = Store.open(path, fault_delay=fault_delay)
        self.max_group = max_group
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="library-writer")
        self._pending: list[tuple[object, object]] = []
        self._flushing = False
        self.groups = 0
        self.operations = 0

    async def __call__(self, operation):  # noqa: ANN001, ANN204 - Callable[[Store], T] -> T
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((operation, future))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                group, self._pending = self._pending[: self.max_group], self._pending[self.max_group :]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._run, [op for op, _ in group])
                except BaseException as exc:  # the commit itself failed: nobody's write happened
                    outcomes = [(False, exc if isinstance(exc, Exception) else StoreError("writer stopped"))] * len(group)
                for (_, future), (ok, value) in zip(group, outcomes):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = False

    def _run(self, operations: list) -> list[tuple[bool, object]]:
        outcomes: list[tuple[bool, object]] = []
        with self.store.group():
            for operation in operations:
                try:
                    outcomes.append((True, operation(self.store)))
                except Exception as exc:  # the operation's savepoint is rolled back
                    outcomes.append((False, exc))
        self.groups += 1
        self.operations += len(operations)
        return outcomes

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()
