"""The device's fleet journal: the outbox of events and replies, and the commands received.

SQLite (WAL, ``synchronous=FULL``), mode 0600.  An event is written here
before anything is sent, and deleted only when the broker has acknowledged it
(QoS 1 PUBACK): a crash or a broker outage never loses one.  A resend after a
lost acknowledgement carries the same event id, so the console keeps it once.

The ``commands`` table is the device's audit of remote commands: id, time,
action, staff member, reason, outcome, and the reply sent (a command
delivered twice is answered twice with the same reply, carried out once).
A card number given with a ``check`` command is never stored: only its
keyed hash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.fleet.errors import FleetStateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    received REAL NOT NULL,
    action TEXT NOT NULL,
    staff TEXT NOT NULL,
    reason TEXT NOT NULL,
    args TEXT NOT NULL,
    ok INTEGER,
    reply TEXT
);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    id: str
    topic: str
    payload: bytes


class FleetJournal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FleetStateError(f"cannot open the fleet journal {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise FleetStateError(f"fleet journal {self.path}: {exc}") from None

    # ------------------------------------------------------------------ outbox

    def add(self, event_id: str, topic: str, payload: bytes) -> None:
        self._exec(
            "INSERT OR IGNORE INTO outbox (id, topic, payload, created) VALUES (?, ?, ?, ?)",
            (event_id, topic, payload, time.time()),
        )

    def add_many(self, rows: list[tuple[str, str, bytes]]) -> None:
        now = time.time()
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (id, topic, payload, created) VALUES (?, ?, ?, ?)",
                    [(i, t, p, now) for i, t, p in rows],
                )
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise FleetStateError(f"fleet journal {self.path}: {exc}") from None

    def pending(self, limit: int = 100, *, after: int = 0) -> list[Pending]:
        """The oldest *limit* rows of the outbox (those with ``seq`` above *after*)."""
        rows = self._exec("SELECT seq, id, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                          (after, limit)).fetchall()
        return [Pending(int(s), i, t, bytes(p)) for s, i, t, p in rows]

    def delivered(self, seqs: list[int]) -> None:
        """Delete acknowledged rows.  :class:`FleetStateError` when that cannot be written (a full
        disk: SQLite needs room in its WAL to delete): the rows stay, nothing is lost."""
        if not seqs:
            return
        for start in range(0, len(seqs), 500):
            part = seqs[start:start + 500]
            self._exec(f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(part))})", tuple(part))

    def queue_length(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def is_queued(self, event_id: str) -> bool:
        """The event is still waiting for the broker's acknowledgement."""
        return self._exec("SELECT 1 FROM outbox WHERE id = ?", (event_id,)).fetchone() is not None

    # ------------------------------------------------------------------ commands

    def command_seen(self, command_id: str) -> dict[str, Any] | None:
        """The reply already given to *command_id*, or None when new."""
        row = self._exec("SELECT reply FROM commands WHERE id = ?", (command_id,)).fetchone()
        if row is None:
            return None
        return json.loads(row[0]) if row[0] else {}

    def command_received(self, command_id: str, action: str, staff: str, reason: str, args: dict[str, Any]) -> None:
        self._exec(
            "INSERT OR IGNORE INTO commands (id, received, action, staff, reason, args) VALUES (?, ?, ?, ?, ?, ?)",
            (command_id, time.time(), action, staff, reason, json.dumps(args, sort_keys=True)),
        )

    def command_answered(self, command_id: str, ok: bool, reply: dict[str, Any]) -> None:
        self._exec("UPDATE commands SET ok = ?, reply = ? WHERE id = ?", (int(ok), json.dumps(reply, default=str), command_id))

    def commands(self) -> list[dict[str, Any]]:
        rows = self._exec("SELECT id, received, action, staff, reason, args, ok, reply FROM commands ORDER BY received").fetchall()
        return [
            {"id": r[0], "received": r[1], "action": r[2], "staff": r[3], "reason": r[4], "args": json.loads(r[5]),
             "ok": None if r[6] is None else bool(r[6]), "reply": json.loads(r[7]) if r[7] else None}
            for r in rows
        ]
