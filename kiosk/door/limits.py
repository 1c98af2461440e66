"""Wrong-PIN lockout store and per-reader rate limit.

:class:`LockoutStore` keeps the times of wrong PINs per pseudonymous card
reference in SQLite (so a restart does not reset a lockout); the policy
decides what they mean (``decide(..., failed_pin_attempts=...)`` and
``lockout_until``).  :class:`RateLimiter` counts card presentations per
reader in a sliding minute, against card enumeration.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kiosk.door.audit import open_state
from kiosk.door.errors import DoorStateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pin_failures (
    card_ref TEXT NOT NULL,
    at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pin_failures_card ON pin_failures(card_ref, at);
"""


class LockoutStore:
    """Wrong-PIN attempts per card reference (a pseudonym, never a card number)."""

    def __init__(self, path: str | Path, *, keep: timedelta = timedelta(days=1)) -> None:
        self.path = Path(path)
        self.keep = keep
        opened = open_state(self.path, schema=_SCHEMA)
        self._db = opened.conn
        self.moved_aside = opened.moved_aside

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise DoorStateError(f"lockout store {self.path}: {exc}") from None

    def record_failure(self, card_ref: str, at: datetime) -> None:
        self._run("INSERT INTO pin_failures (card_ref, at) VALUES (?, ?)", (card_ref, at.astimezone(timezone.utc).timestamp()))
        self._run("DELETE FROM pin_failures WHERE at < ?", ((at - self.keep).astimezone(timezone.utc).timestamp(),))

    def attempts(self, card_ref: str, now: datetime) -> list[datetime]:
        """Wrong PINs of *card_ref* within the kept window, oldest first."""
        since = (now - self.keep).astimezone(timezone.utc).timestamp()
        rows = self._run(
            "SELECT at FROM pin_failures WHERE card_ref = ? AND at >= ? ORDER BY at", (card_ref, since)
        ).fetchall()
        return [datetime.fromtimestamp(r[0], timezone.utc) for r in rows]

    def clear(self, card_ref: str) -> None:
        """After a right PIN: the count starts again."""
        self._run("DELETE FROM pin_failures WHERE card_ref = ?", (card_ref,))


class RateLimiter:
    """At most *per_minute* card presentations per reader in any 60 seconds.

    Times are monotonic seconds (``time.monotonic()``), passed in.
    """

    def __init__(self, per_minute: int, *, window: float = 60.0) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def allow(self, reader: str, now: float) -> bool:
        """Count one presentation at *reader*; False when over the limit."""
        seen = self._seen.setdefault(reader, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.per_minute:
            return False
        seen.append(now)
        return True

    def retry_after(self, reader: str, now: float) -> float:
        seen = self._seen.get(reader)
        if not seen or len(seen) < self.per_minute:
            return 0.0
        return max(0.0, seen[0] + self.window - now)
