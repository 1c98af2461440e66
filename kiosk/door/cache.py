"""Offline cache of recent verified entries.

When the library system cannot be reached the door decides from this cache,
and only from it: a card that is not here (or whose entry is older than
``door.offline_cache_days``) is refused.  There is no "any card in" mode.

Each row holds a keyed hash of the card (HMAC-SHA256 with the pseudonym key:
the card number cannot be recovered without the key), a slow salted hash of
the PIN (scrypt of the PIN keyed with the same key, with its own random salt
and parameters stored per row), the
badge flag and the time of the online verification.  The service refreshes the
row after every online entry that was granted and removes it after an online
refusal (a block now stands in the way), so the cache never outlives what the
library system last said by more than the configured age.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from kiosk.door.audit import open_state
from kiosk.door.errors import DoorStateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS offline_cache (
    card_key    TEXT PRIMARY KEY,   -- HMAC-SHA256(pseudonym key, card), hex
    pin_salt    BLOB NOT NULL,
    pin_hash    BLOB NOT NULL,      -- scrypt(pin, salt, n, r, p)
    scrypt_n    INTEGER NOT NULL,
    scrypt_r    INTEGER NOT NULL,
    scrypt_p    INTEGER NOT NULL,
    badge       INTEGER NOT NULL,
    verified_at REAL NOT NULL       -- seconds since the epoch, UTC
);
"""


class CacheStatus(StrEnum):
    UNKNOWN = "unknown"  # never verified online here (or removed after a refusal)
    EXPIRED = "expired"  # verified, but longer ago than offline_cache_days
    WRONG_PIN = "wrong_pin"
    NO_BADGE = "no_badge"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class CacheCheck:
    status: CacheStatus
    verified_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status is CacheStatus.OK


@dataclass(frozen=True, slots=True)
class ScryptParams:
    n: int = 2**14
    r: int = 8
    p: int = 1

    def hash(self, pin: str, salt: bytes) -> bytes:
        return hashlib.scrypt(pin.encode(), salt=salt, n=self.n, r=self.r, p=self.p, maxmem=2 * 128 * self.n * self.r * self.p + (1 << 20), dklen=32)


class OfflineCache:
    """The cache file; safe to call from one thread at a time (the service uses a worker thread)."""

    def __init__(
        self,
        path: str | Path,
        key: bytes,
        *,
        max_age_days: int = 7,
        scrypt: ScryptParams = ScryptParams(),
    ) -> None:
        if not key:
            raise DoorStateError("the offline cache needs the pseudonym key (secrets.pseudonym_key)")
        self.path = Path(path)
        self._key = key
        self.max_age = timedelta(days=max_age_days)
        self.scrypt = scrypt
        opened = open_state(self.path, schema=_SCHEMA)
        self._db = opened.conn
        #: Where a corrupt cache was moved before it was rebuilt (empty); None normally.
        self.moved_aside = opened.moved_aside

    def close(self) -> None:
        self._db.close()

    def card_key(self, card: str) -> str:
        return hmac.new(self._key, b"offline-cache\x00" + card.encode(), hashlib.sha256).hexdigest()

    def _peppered(self, pin: str) -> str:
        """The PIN keyed with the pseudonym key before scrypt: a stolen cache file
        alone does not allow guessing 4-digit PINs offline."""
        return hmac.new(self._key, b"offline-pin\x00" + pin.encode(), hashlib.sha256).hexdigest()

    def remember(self, card: str, pin: str, *, badge: bool, verified_at: datetime) -> None:
        """Store (or refresh) a verification the library system just made."""
        if self.max_age <= timedelta(0):
            return
        salt = os.urandom(16)
        digest = self.scrypt.hash(self._peppered(pin), salt)
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO offline_cache"
                " (card_key, pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, badge, verified_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.card_key(card),
                    salt,
                    digest,
                    self.scrypt.n,
                    self.scrypt.r,
                    self.scrypt.p,
                    int(badge),
                    verified_at.astimezone(timezone.utc).timestamp(),
                ),
            )
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot write the offline cache {self.path}: {exc}") from None

    def forget(self, card: str) -> bool:
        try:
            cur = self._db.execute("DELETE FROM offline_cache WHERE card_key = ?", (self.card_key(card),))
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot write the offline cache {self.path}: {exc}") from None
        return cur.rowcount > 0

    def purge(self, now: datetime) -> int:
        """Delete entries past their age; returns how many."""
        cutoff = (now - self.max_age).astimezone(timezone.utc).timestamp()
        try:
            cur = self._db.execute("DELETE FROM offline_cache WHERE verified_at < ?", (cutoff,))
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot purge the offline cache {self.path}: {exc}") from None
        return cur.rowcount

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM offline_cache").fetchone()[0])

    def seen(self, card: str, now: datetime) -> bool:
        """True when *card* was verified online within the age limit (staffed card-only entry)."""
        try:
            row = self._db.execute(
                "SELECT verified_at FROM offline_cache WHERE card_key = ?", (self.card_key(card),)
            ).fetchone()
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot read the offline cache {self.path}: {exc}") from None
        if row is None:
            return False
        verified_at = datetime.fromtimestamp(row[0], timezone.utc)
        return now - self.max_age <= verified_at <= now + timedelta(minutes=5)

    def check(self, card: str, pin: str, now: datetime) -> CacheCheck:
        """What the cache says about *card* with *pin* at *now*.

        The PIN is hashed even for an unknown card, so the answer's timing
        does not tell which cards are cached.
        """
        try:
            row = self._db.execute(
                "SELECT pin_salt, pin_hash, scrypt_n, scrypt_r, scrypt_p, badge, verified_at"
                " FROM offline_cache WHERE card_key = ?",
                (self.card_key(card),),
            ).fetchone()
        except sqlite3.Error as exc:
            raise DoorStateError(f"cannot read the offline cache {self.path}: {exc}") from None
        if row is None:
            self.scrypt.hash(self._peppered(pin), b"\x00" * 16)
            return CacheCheck(CacheStatus.UNKNOWN)
        salt, stored, n, r, p, badge, verified = row
        verified_at = datetime.fromtimestamp(verified, timezone.utc)
        good_pin = hmac.compare_digest(ScryptParams(n, r, p).hash(self._peppered(pin), salt), stored)
        if verified_at < now - self.max_age or verified_at > now + timedelta(minutes=5):
            return CacheCheck(CacheStatus.EXPIRED, verified_at)
        if not good_pin:
            return CacheCheck(CacheStatus.WRONG_PIN, verified_at)
        if not badge:
            return CacheCheck(CacheStatus.NO_BADGE, verified_at)
        return CacheCheck(CacheStatus.OK, verified_at)
