"""Offline cache (keyed card hash, scrypt PIN, age) and lockout / rate limit."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.door.cache import CacheStatus, OfflineCache, ScryptParams
from kiosk.door.errors import DoorStateError
from kiosk.door.limits import LockoutStore, RateLimiter

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
KEY = b"k" * 32
FAST = ScryptParams(n=2**10, r=8, p=1)
CARD, PIN = "29548000001003", "4711"


def cache(tmp_path, days=7):
    return OfflineCache(tmp_path / "state.sqlite", KEY, max_age_days=days, scrypt=FAST)


def test_verified_yesterday_passes(tmp_path):
    c = cache(tmp_path)
    c.remember(CARD, PIN, badge=True, verified_at=NOW - timedelta(days=1))
    check = c.check(CARD, PIN, NOW)
    assert check.ok and check.verified_at == NOW - timedelta(days=1)


def test_unknown_wrong_pin_old_and_no_badge_are_refused(tmp_path):
    c = cache(tmp_path)
    assert c.check(CARD, PIN, NOW).status is CacheStatus.UNKNOWN
    c.remember(CARD, PIN, badge=True, verified_at=NOW - timedelta(days=8))
    assert c.check(CARD, PIN, NOW).status is CacheStatus.EXPIRED
    c.remember(CARD, PIN, badge=True, verified_at=NOW - timedelta(hours=1))
    assert c.check(CARD, "0000", NOW).status is CacheStatus.WRONG_PIN
    c.remember(CARD, PIN, badge=False, verified_at=NOW)
    assert c.check(CARD, PIN, NOW).status is CacheStatus.NO_BADGE
    assert c.forget(CARD) and c.check(CARD, PIN, NOW).status is CacheStatus.UNKNOWN


def test_future_verification_is_not_trusted(tmp_path):
    c = cache(tmp_path)
    c.remember(CARD, PIN, badge=True, verified_at=NOW + timedelta(days=2))
    assert c.check(CARD, PIN, NOW).status is CacheStatus.EXPIRED


def test_cache_days_zero_stores_nothing(tmp_path):
    c = cache(tmp_path, days=0)
    c.remember(CARD, PIN, badge=True, verified_at=NOW)
    assert len(c) == 0 and c.check(CARD, PIN, NOW).status is CacheStatus.UNKNOWN


def test_purge_removes_old_entries(tmp_path):
    c = cache(tmp_path)
    c.remember(CARD, PIN, badge=True, verified_at=NOW - timedelta(days=9))
    c.remember("29548000002001", PIN, badge=True, verified_at=NOW)
    assert c.purge(NOW) == 1 and len(c) == 1


def test_file_holds_no_card_or_pin(tmp_path):
    c = cache(tmp_path)
    c.remember(CARD, PIN, badge=True, verified_at=NOW)
    c.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert CARD.encode() not in raw and PIN.encode() not in raw
    row = sqlite3.connect(tmp_path / "state.sqlite").execute("SELECT card_key, scrypt_n FROM offline_cache").fetchone()
    assert len(row[0]) == 64 and row[1] == FAST.n


def test_same_pin_gets_different_salts(tmp_path):
    c = cache(tmp_path)
    c.remember(CARD, PIN, badge=True, verified_at=NOW)
    c.remember("29548000002001", PIN, badge=True, verified_at=NOW)
    hashes = {r[0] for r in c._db.execute("SELECT pin_hash FROM offline_cache")}
    assert len(hashes) == 2


def test_no_key_is_refused(tmp_path):
    with pytest.raises(DoorStateError):
        OfflineCache(tmp_path / "s.sqlite", b"")


def test_lockout_store_keeps_attempts_across_restart(tmp_path):
    s = LockoutStore(tmp_path / "state.sqlite")
    for m in range(3):
        s.record_failure("card:aa", NOW + timedelta(minutes=m))
    s.record_failure("card:bb", NOW)
    s.close()
    s = LockoutStore(tmp_path / "state.sqlite")
    assert s.attempts("card:aa", NOW + timedelta(minutes=5)) == [NOW + timedelta(minutes=m) for m in range(3)]
    assert s.attempts("card:aa", NOW + timedelta(days=2)) == []
    s.clear("card:aa")
    assert s.attempts("card:aa", NOW) == [] and len(s.attempts("card:bb", NOW)) == 1


def test_rate_limiter_sliding_minute():
    r = RateLimiter(3)
    assert [r.allow("a", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert r.allow("b", 3)  # per reader
    assert r.retry_after("a", 3) == pytest.approx(57)
    assert not r.allow("a", 59.9)
    assert r.allow("a", 60.0)
