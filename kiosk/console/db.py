"""A thin database layer: SQLite (default) or PostgreSQL, one SQL dialect.

The store writes SQL with ``?`` placeholders and only what both engines
accept (``INSERT ... ON CONFLICT DO NOTHING``, no engine-specific types).
``sqlite:///path`` (or a bare path) opens SQLite in WAL mode; ``postgresql://``
opens psycopg 3 (``pip install 'psycopg[binary]'``) and turns ``?`` into
``%s``.  Both are tested: tests/console runs the store against SQLite and a
throwaway PostgreSQL cluster (tests/pgserver.py).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kiosk.console.errors import StoreError


class Database:
    kind = "?"

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def script(self, sql: str) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                self.execute(statement)

    def close(self) -> None:
        pass


class SqliteDatabase(Database):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a batch of events is on disk when its commit returns, before the broker gets the
            # acknowledgement (kiosk/fleet/console_link.py); NORMAL could lose it in a power cut.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the console store {path}: {exc}") from None
        self._lock = threading.Lock()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"console store: {exc}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._lock:
                self._db.execute("BEGIN")
                try:
                    self._db.executemany(sql, [tuple(r) for r in rows])
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"console store: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresDatabase(Database):
    """psycopg 3, one autocommit connection (reopened once after it broke)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("a postgresql:// store needs psycopg (pip install 'psycopg[binary]')") from None
        self._psycopg = psycopg
        self._url = url
        self._lock = threading.Lock()
        self._db = self._connect()

    def _connect(self):
        try:
            return self._psycopg.connect(self._url, autocommit=True)
        except Exception as exc:  # noqa: BLE001 - psycopg's and libpq's errors, said in one line
            raise StoreError(f"cannot connect to PostgreSQL: {_one_line(exc)}") from None

    def _conn(self):
        if self._db.closed or self._db.broken:
            self._db = self._connect()
        return self._db

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s").replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self._lock:
                with self._conn().cursor() as cur:
                    cur.execute(self._sql(sql), tuple(args))
                    return cur.fetchall() if cur.description else []
        except self._psycopg.Error as exc:
            raise StoreError(f"console store: {_one_line(exc)}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._lock:
                conn = self._conn()
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(self._sql(sql), [tuple(r) for r in rows])
        except self._psycopg.Error as exc:
            raise StoreError(f"console store: {_one_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def connect(url: str, base: Path | None = None) -> Database:
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    path = Path(url.removeprefix("sqlite://"))  # sqlite:///abs/path, sqlite://relative, or a path
    if base is not None and not path.is_absolute():
        path = base / path
    return SqliteDatabase(path)
