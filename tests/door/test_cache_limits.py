"""The one patron store (kiosk.identify.store): verified cache (keyed card
hash, random salt, peppered scrypt, age), wrong PINs per patron, the clock
high-water mark; and the door's per-reader rate limit."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.door.limits import RateLimiter
from kiosk.identify import CacheStatus, PatronStore, ScryptParams, StoreError

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
KEY = b"k" * 32
FAST = ScryptParams(n=2**10, r=8, p=1)
CARD, PIN = "29548000001003", "4711"
WEEK = timedelta(days=7)


def store(tmp_path):
    return PatronStore(tmp_path / "patrons.sqlite", KEY, scrypt=FAST, keep=timedelta(minutes=30))


def test_verified_yesterday_passes(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW - timedelta(days=1))
    check = c.check(CARD, PIN, NOW, WEEK)
    assert check.ok and check.entry and check.borrow and check.verified_at == NOW - timedelta(days=1)


def test_unknown_wrong_pin_old_and_no_entry(tmp_path):
    c = store(tmp_path)
    assert c.check(CARD, PIN, NOW, WEEK).status is CacheStatus.UNKNOWN
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW - timedelta(days=8))
    assert c.check(CARD, PIN, NOW, WEEK).status is CacheStatus.EXPIRED
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW - timedelta(hours=1))
    assert c.check(CARD, "0000", NOW, WEEK).status is CacheStatus.WRONG_PIN
    c.remember(CARD, PIN, entry=False, borrow=True, at=NOW)
    check = c.check(CARD, PIN, NOW, WEEK)
    assert check.ok and not check.entry and check.borrow
    assert c.forget(CARD) and c.check(CARD, PIN, NOW, WEEK).status is CacheStatus.UNKNOWN


def test_verified_without_pin_keeps_the_pin_of_before(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, None, entry=False, borrow=True, at=NOW)
    assert c.check(CARD, PIN, NOW, WEEK).status is CacheStatus.UNKNOWN  # no PIN known: not for a PIN check
    assert c.check(CARD, None, NOW, WEEK).borrow
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW - timedelta(days=6))
    c.remember(CARD, None, entry=True, borrow=False, at=NOW)
    check = c.check(CARD, PIN, NOW, WEEK)
    assert check.ok and not check.borrow and check.verified_at == NOW - timedelta(days=6)  # the PIN's own age


def test_future_verification_is_not_trusted(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW + timedelta(days=2))
    assert c.check(CARD, PIN, NOW, WEEK).status is CacheStatus.EXPIRED


def test_zero_days_trusts_nothing(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW)
    assert c.check(CARD, PIN, NOW, timedelta(0)).status is CacheStatus.UNKNOWN


def test_purge_removes_old_entries(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW - timedelta(days=9))
    c.remember("29548000002001", PIN, entry=True, borrow=True, at=NOW)
    assert c.purge(NOW, WEEK) == 1 and len(c) == 1


def test_file_holds_no_card_patron_number_or_pin(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW)
    token = c.hold_attempt(CARD, NOW)
    c.settle(token, CARD, "P-000123", wrong=True, now=NOW)
    c.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert CARD.encode() not in raw and PIN.encode() not in raw and b"P-000123" not in raw
    row = sqlite3.connect(tmp_path / "patrons.sqlite").execute("SELECT card_key, scrypt_n FROM verified").fetchone()
    assert len(row[0]) == 64 and row[1] == FAST.n


def test_same_pin_gets_different_salts(tmp_path):
    c = store(tmp_path)
    c.remember(CARD, PIN, entry=True, borrow=True, at=NOW)
    c.remember("29548000002001", PIN, entry=True, borrow=True, at=NOW)
    hashes = {r[0] for r in c._db.execute("SELECT pin_hash FROM verified")}
    assert len(hashes) == 2


def test_no_key_is_refused(tmp_path):
    with pytest.raises(StoreError):
        PatronStore(tmp_path / "s.sqlite", b"")


def test_attempts_survive_a_restart_and_a_right_pin_clears_them(tmp_path):
    s = store(tmp_path)
    for m in range(3):
        s.settle(s.hold_attempt(CARD, NOW + timedelta(minutes=m)), CARD, None, wrong=True, now=NOW)
    s.settle(s.hold_attempt("other", NOW), "other", None, wrong=True, now=NOW)
    s.close()
    s = store(tmp_path)
    later = NOW + timedelta(minutes=5)
    assert s.failures(CARD, None, later) == [NOW + timedelta(minutes=m) for m in range(3)]
    token = s.hold_attempt(CARD, later)
    assert len(s.failures(CARD, None, later)) == 4 and len(s.failures(CARD, None, later, exclude=token)) == 3
    s.settle(token, CARD, None, wrong=False, now=later)
    s.clear(CARD, None)
    assert s.failures(CARD, None, later) == [] and len(s.failures("other", None, later)) == 1
    assert s.failures("other", None, NOW + timedelta(days=2)) == []  # past the kept window


def test_budget_is_the_patrons_a_replaced_card_shares_it(tmp_path):
    s = store(tmp_path)
    old, new = "29548000001003", "29548000009999"
    for m in range(2):
        s.settle(s.hold_attempt(old, NOW + timedelta(minutes=m)), old, "P1", wrong=True, now=NOW)
    # The new card, before the library system has answered for it: its own budget...
    token = s.hold_attempt(new, NOW + timedelta(minutes=2))
    assert len(s.failures(new, None, NOW + timedelta(minutes=3), exclude=token)) == 0
    # ... the answer names the patron: the attempt joins the patron's budget.
    s.settle(token, new, "P1", wrong=True, now=NOW)
    assert len(s.failures(new, "P1", NOW + timedelta(minutes=3))) == 3
    assert len(s.failures(new, None, NOW + timedelta(minutes=3))) == 3  # the card is now known as P1's
    assert len(s.failures(old, None, NOW + timedelta(minutes=3))) == 3


def test_clock_set_back_keeps_the_attempts(tmp_path):
    s = store(tmp_path)
    for m in range(3):
        s.settle(s.hold_attempt(CARD, NOW + timedelta(minutes=m)), CARD, None, wrong=True, now=NOW)
    back = NOW - timedelta(hours=2)
    seen = s.failures(CARD, None, back)
    assert len(seen) == 3 and max(seen) <= back  # shifted onto the clock's new time, none in the future
    assert seen[-1] - seen[0] == timedelta(minutes=2)


def test_rate_limiter_sliding_minute():
    r = RateLimiter(3)
    assert [r.allow("a", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert r.allow("b", 3)  # per reader
    assert r.retry_after("a", 3) == pytest.approx(57)
    assert not r.allow("a", 59.9)
    assert r.allow("a", 60.0)
