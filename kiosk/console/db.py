"""A thin database layer: SQLite (default) or PostgreSQL, one SQL dialect.

The store writes SQL with ``?`` placeholders and only what both engines
accept (``INSERT ... ON CONFLICT DO NOTHING``, no engine-specific types).
``sqlite:///path`` (or a bare path) opens SQLite in WAL mode; ``postgresql://``
opens psycopg 3 (``pip install psycopg``) and turns ``?`` into ``%s``.  The
PostgreSQL path is written but not tested here (no server in the test set-up);
see docs/console.md.
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
            self._db.execute("PRAGMA synchronous=NORMAL")
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


class PostgresDatabase(Database):  # pragma: no cover - no PostgreSQL server in the test set-up
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("a postgresql:// store needs psycopg (pip install 'psycopg[binary]')") from None
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from None
        self._lock = threading.Lock()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s").replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, self._db.cursor() as cur:
            cur.execute(self._sql(sql), tuple(args))
            return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock, self._db.transaction(), self._db.cursor() as cur:
            cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def close(self) -> None:
        self._db.close()


def connect(url: str, base: Path | None = None) -> Database:
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    path = Path(url.removeprefix("sqlite://"))  # sqlite:///abs/path, sqlite://relative, or a path
    if base is not None and not path.is_absolute():
        path = base / path
    return SqliteDatabase(path)
