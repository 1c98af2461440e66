"""The door's audit journal: every decision and door event, in SQLite.

One row per event with the time, a pseudonymous card reference (a keyed
hash from :func:`kiosk.privacy.pseudonym`, never the card number), the
result and the rule ids that applied.  The journal is opened in WAL mode with
``synchronous=FULL``: a row is on disk when :meth:`AuditJournal.record`
returns.  Rows older than the retention (``door.audit_retention_days``,
default 28) are purged by :meth:`AuditJournal.purge`, which the service calls
at start and every hour.

The occupancy estimate counts granted entries and exits (exit button or exit
sensor) since the later of local midnight and the last ``occupancy.reset``
(written by the building-empty check at the end of an unmanned period).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from kiosk.door.errors import DoorStateError
from kiosk.statefile import Opened, StateFileError, open_sqlite


class AuditEvent(StrEnum):
    ENTRY = "entry"  # a decision at a reader: result granted / refused / error
    EXIT = "exit"  # the exit button (request to exit)
    RELEASED = "door.released"  # strike released (detail: entry, exit, staffed, fail_safe)
    RELOCKED = "door.relocked"
    OPENED = "door.opened"
    CLOSED = "door.closed"
    ALARM = "alarm"  # result: held_open / forced_open; detail: raised / cleared
    PERIOD = "period"  # result: staffed / unmanned / closed
    ANNOUNCEMENT = "announcement"  # detail: minutes before the end
    BUILDING_EMPTY = "building.empty_check"  # result: empty / occupied / unknown
    OCCUPANCY_RESET = "occupancy.reset"
    DEVICE = "device"  # result: lost / back; detail: role
    SERVICE = "service"  # result: started / stopped / error
    STATE = "state"  # result: audit_corrupt / cache_rebuilt / state_unwritable; detail: what was done
    REMOTE = "remote"  # a staff command from the console: result lockdown / resume / release / ...; detail staff=, reason=


class Result(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime  # UTC
    event: str
    result: str | None = None
    card_ref: str | None = None
    reader: str | None = None
    rules: tuple[str, ...] = ()
    source: str | None = None  # online / offline / staffed / local
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "event": self.event,
            "result": self.result,
            "card_ref": self.card_ref,
            "reader": self.reader,
            "rules": list(self.rules),
            "source": self.source,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Occupancy:
    since: datetime
    entries: int
    exits: int
    last_event: datetime | None = None
    estimate: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimate", max(0, self.entries - self.exits))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       REAL NOT NULL,          -- seconds since the epoch, UTC
    event    TEXT NOT NULL,
    result   TEXT,
    card_ref TEXT,
    reader   TEXT,
    rules    TEXT NOT NULL DEFAULT '',
    source   TEXT,
    detail   TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE INDEX IF NOT EXISTS audit_card ON audit(card_ref, at);
"""


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(timezone.utc)


@dataclass(frozen=True, slots=True)
class Lockdown:
    """A lockdown on record: the ``remote`` ``lockdown`` row without a later ``resume``."""

    seq: int
    at: datetime  # UTC, when staff ordered it
    staff: str
    reason: str
    detail: str  # the row's detail as written (``staff=... reason=...``)


def _staff_reason(detail: str | None) -> tuple[str, str]:
    """``staff=anna reason=incident at the door`` -> ("anna", "incident at the door")."""
    text = detail or ""
    staff, _, reason = text.partition(" reason=")
    return staff.removeprefix("staff="), reason


#: The rows that decide whether a lockdown stands: the last of these two ``remote`` results.
_LOCKDOWN_SQL = (
    "SELECT seq, at, result, detail FROM audit WHERE event = 'remote' AND result IN ('lockdown', 'resume')"
    " ORDER BY seq DESC LIMIT 1"
)


def standing_lockdown(rows: Iterable[tuple[int, datetime, str | None, str | None]]) -> Lockdown | None:
    """The lockdown standing after *rows* (``remote`` rows as (seq, at, result, detail), oldest
    first): the last ``lockdown`` without a ``resume`` after it, or None.  Pure."""
    out: Lockdown | None = None
    for seq, at, result, detail in rows:
        if result == "lockdown":
            staff, reason = _staff_reason(detail)
            out = Lockdown(seq, at, staff, reason, detail or "")
        elif result == "resume":
            out = None
    return out


def read_lockdown(conn: sqlite3.Connection) -> Lockdown | None:
    """:func:`standing_lockdown` of the journal on *conn* (one query: the last lockdown / resume).
    Raises :class:`sqlite3.Error` when it cannot be read."""
    row = conn.execute(_LOCKDOWN_SQL).fetchone()
    if row is None:
        return None
    return standing_lockdown([(int(row[0]), datetime.fromtimestamp(float(row[1]), timezone.utc), row[2], row[3])])


def lockdown_of_file(path: Path) -> Lockdown | None:
    """The standing lockdown in the journal file *path*, opened read-only as it is (also a
    corrupt journal moved aside: only its last lockdown / resume row is read, no check).
    Raises :class:`DoorStateError` when it cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise DoorStateError(f"cannot open {path.name}: {exc}") from None
    try:
        return read_lockdown(conn)
    except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
        raise DoorStateError(f"cannot read the lockdown from {path.name}: {exc}") from None
    finally:
        conn.close()


def standing_alarms(rows: Iterable[tuple[str | None, str | None, datetime]]) -> dict[str, datetime]:
    """The alarms standing after *rows* (``alarm`` rows as (result, detail, at), oldest first):
    kind -> when it was raised, for every kind whose last row is not ``cleared``.

    Pure: what a restarted door takes back (it stood when the service stopped, so
    it is not raised, nor written, again)."""
    out: dict[str, datetime] = {}
    for kind, detail, at in rows:
        if not kind:
            continue
        if detail == "cleared":
            out.pop(kind, None)
        elif kind not in out:
            out[kind] = at
    return out


def open_db(path: Path, *, readonly: bool = False, schema: str = "") -> sqlite3.Connection:
    """An SQLite connection in WAL mode with synchronous (FULL) commits.

    A corrupt file is moved aside and a new one started (:mod:`kiosk.statefile`);
    see :func:`open_state` for who needs to know.
    """
    return open_state(path, readonly=readonly, schema=schema).conn


def open_state(path: Path, *, readonly: bool = False, schema: str = "") -> Opened:
    """:func:`kiosk.statefile.open_sqlite`, its errors as :class:`DoorStateError`."""
    try:
        return open_sqlite(path, readonly=readonly, schema=schema)
    except StateFileError as exc:
        raise DoorStateError(str(exc)) from None


class AuditJournal:
    """Append-only audit journal (plus purge).  Not thread-safe: one owner."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise DoorStateError(f"no audit journal at {self.path} (has the door service run?)")
        opened = open_state(self.path, readonly=readonly, schema="" if readonly else _SCHEMA)
        self._db = opened.conn
        #: Where a corrupt journal was moved (kept for staff) before this one was started.
        self.moved_aside: Path | None = opened.moved_aside

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writing

    def record(
        self,
        at: datetime,
        event: AuditEvent | str,
        *,
        result: str | None = None,
        card_ref: str | None = None,
        reader: str | None = None,
        rules: Iterable[str] = (),
        source: str | None = None,
        detail: str | None = None,
    ) -> int:
        """Write one row, durably; returns its sequence number."""
        if card_ref is not None and ":" not in card_ref:
            # A pseudonym always reads "card:<hex>"; anything else may be a raw number.
            raise ValueError("card_ref must be a pseudonym from kiosk.privacy.pseudonym")
        try:
            cur = self._db.execute(
                "INSERT INTO audit (at, event, result, card_ref, reader, rules, source, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _utc(at).timestamp(),
                    str(event),
                    None if result is None else str(result),
                    card_ref,
                    reader,
                    ",".join(rules),
                    source,
                    detail,
                ),
            )
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot write the audit journal {self.path}: {exc}") from None
        return int(cur.lastrowid or 0)

    def purge(self, now: datetime, retention_days: int) -> int:
        """Delete rows older than *retention_days*; returns how many.  The row of a standing
        lockdown is kept however old it is (it is what a restart locks down again from)."""
        cutoff = _utc(now) - timedelta(days=retention_days)
        try:
            standing = read_lockdown(self._db)
            cur = self._db.execute(
                "DELETE FROM audit WHERE at < ? AND seq != ?", (cutoff.timestamp(), -1 if standing is None else standing.seq)
            )
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot purge the audit journal {self.path}: {exc}") from None
        return cur.rowcount

    # ---------------------------------------------------------------- reading

    def entries(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        event: str | None = None,
        card_ref: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Rows in time order, oldest first (the last *limit* rows when given)."""
        where, params = [], []
        if since is not None:
            where.append("at >= ?")
            params.append(_utc(since).timestamp())
        if until is not None:
            where.append("at < ?")
            params.append(_utc(until).timestamp())
        if event is not None:
            where.append("event = ?")
            params.append(event)
        if card_ref is not None:
            where.append("card_ref = ?")
            params.append(card_ref)
        sql = "SELECT seq, at, event, result, card_ref, reader, rules, source, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot read the audit journal {self.path}: {exc}") from None
        return [
            AuditEntry(
                seq=r[0],
                at=datetime.fromtimestamp(r[1], timezone.utc),
                event=r[2],
                result=r[3],
                card_ref=r[4],
                reader=r[5],
                rules=tuple(x for x in r[6].split(",") if x),
                source=r[7],
                detail=r[8],
            )
            for r in reversed(rows)
        ]

    def standing_alarms(self) -> dict[str, datetime]:
        """Alarms raised and not cleared in this journal (:func:`standing_alarms`)."""
        return standing_alarms((e.result, e.detail, e.at) for e in self.entries(event=AuditEvent.ALARM.value))

    def lockdown(self) -> Lockdown | None:
        """The lockdown on record (a ``remote`` ``lockdown`` row without a later ``resume``), or None."""
        try:
            return read_lockdown(self._db)
        except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
            raise DoorStateError(f"cannot read the audit journal {self.path}: {exc}") from None

    def last(self, event: str | None = None) -> AuditEntry | None:
        rows = self.entries(event=event, limit=1)
        return rows[-1] if rows else None

    def occupancy(self, now: datetime) -> Occupancy:
        """Entries granted and exits since the later of local midnight and the last reset."""
        local = now.astimezone()
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        start = _utc(midnight).timestamp()
        try:
            row = self._db.execute(
                "SELECT MAX(at) FROM audit WHERE event = ? AND at >= ?", (AuditEvent.OCCUPANCY_RESET.value, start)
            ).fetchone()
            if row and row[0] is not None:
                start = float(row[0])
            entries, exits, last = self._db.execute(
                "SELECT"
                " SUM(CASE WHEN event = ? AND result = ? THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN event = ? THEN 1 ELSE 0 END),"
                " MAX(CASE WHEN event IN (?, ?) THEN at END)"
                " FROM audit WHERE at >= ?",
                (
                    AuditEvent.ENTRY.value,
                    Result.GRANTED.value,
                    AuditEvent.EXIT.value,
                    AuditEvent.ENTRY.value,
                    AuditEvent.EXIT.value,
                    start,
                ),
            ).fetchone()
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot read the audit journal {self.path}: {exc}") from None
        return Occupancy(
            since=datetime.fromtimestamp(start, timezone.utc),
            entries=int(entries or 0),
            exits=int(exits or 0),
            last_event=None if last is None else datetime.fromtimestamp(last, timezone.utc),
        )
