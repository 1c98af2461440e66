"""Open a state file (SQLite) so that a corrupt one never keeps a service out.

:func:`open_sqlite` opens *path* in WAL mode with ``synchronous=FULL``, runs
``PRAGMA quick_check`` and the schema.  When SQLite says the file is not a
database or is damaged (``SQLITE_NOTADB`` / ``SQLITE_CORRUPT``, or
``quick_check`` finds a fault), the file and its ``-wal`` / ``-shm`` /
``-journal`` companions are **moved aside** (renamed
``NAME.corrupt-YYYYmmddTHHMMSSZ``, kept for staff, never deleted) and a new,
empty file is started.  The caller learns it from :attr:`Opened.moved_aside`
(the door raises an alarm for its audit journal).

Everything else that goes wrong (the directory cannot be created, the file
cannot be written, the disk is full, an I/O error) is *not* corruption: the
file is left alone and :class:`StateFileUnavailable` is raised, so the caller
can refuse and raise an alarm instead of deciding without its state.

Used by the door's audit journal, offline cache and lockout store; reusable
by any component with a SQLite state file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kiosk.files import private_file

__all__ = [
    "Opened",
    "StateFileCorrupt",
    "StateFileError",
    "StateFileUnavailable",
    "is_corruption",
    "move_aside",
    "open_sqlite",
    "probe_writable",
]

#: SQLite primary result codes that mean "this file is damaged / not ours".
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
#: Companion files SQLite may keep beside a database.
_COMPANIONS = ("-wal", "-shm", "-journal")


class StateFileError(Exception):
    """Root of the errors of :mod:`kiosk.statefile`."""


class StateFileUnavailable(StateFileError):
    """The file cannot be opened or written (permissions, read-only or full
    file system, I/O error).  Nothing was moved or changed."""


class StateFileCorrupt(StateFileError):
    """The file is damaged (read-only opening: it is never moved aside then)."""


@dataclass(frozen=True, slots=True)
class Opened:
    conn: sqlite3.Connection
    #: Where a corrupt file was moved before a new one was started; None normally.
    moved_aside: Path | None = None


def is_corruption(exc: BaseException) -> bool:
    """True when *exc* (a sqlite3 error) says the file is damaged or not a database."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _CORRUPT_CODES
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def move_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename *path* (and its companions) to ``NAME.corrupt-<UTC time>``; returns the new path."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.replace(path, target)
        for suffix in _COMPANIONS:
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
    except OSError as exc:
        raise StateFileUnavailable(f"{path} is corrupt and cannot be moved aside: {exc.strerror or exc}") from None
    return target


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _connect(path: Path, schema: str, check: bool, synchronous: str) -> sqlite3.Connection:
    private_file(path)  # state holds card references: owner only (0600), whatever the umask
    conn = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        if check:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if [r[0] for r in rows] != ["ok"]:
                raise _QuickCheckFailed("; ".join(str(r[0]) for r in rows[:3]))
        if schema:
            conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn


class _QuickCheckFailed(sqlite3.DatabaseError):
    sqlite_errorcode = 11


def open_sqlite(
    path: str | os.PathLike[str],
    *,
    schema: str = "",
    check: bool = True,
    synchronous: str = "FULL",
    readonly: bool = False,
) -> Opened:
    """Open (creating if needed) the SQLite state file *path*; see the module docstring.

    ``readonly`` opens an existing file for reading only (``mode=ro``): nothing is
    created, checked or moved; a damaged file raises :class:`StateFileCorrupt`.
    """
    path = Path(path)
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"bad synchronous mode {synchronous!r}")
    if readonly:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            if is_corruption(exc):
                raise StateFileCorrupt(f"{path} is damaged: {exc}") from None
            raise StateFileUnavailable(f"cannot open {path}: {exc}") from None
        return Opened(conn)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateFileUnavailable(f"cannot create {path.parent}: {_describe(exc)}") from None
    moved: Path | None = None
    for attempt in (1, 2):
        try:
            return Opened(_connect(path, schema, check, synchronous.upper()), moved)
        except sqlite3.Error as exc:
            if attempt == 1 and is_corruption(exc):
                moved = move_aside(path)
                continue
            raise StateFileUnavailable(f"cannot open {path}: {exc}") from None
        except OSError as exc:
            raise StateFileUnavailable(f"cannot open {path}: {_describe(exc)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def probe_writable(directory: str | os.PathLike[str], size: int = 4096) -> None:
    """Raise :class:`StateFileUnavailable` unless *size* bytes can be written
    (and synced) in *directory*: a full or read-only file system shows here
    before a decision depends on it."""
    directory = Path(directory)
    probe = directory / f".probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StateFileUnavailable(f"cannot write in {directory}: {_describe(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()

