"""The door's entry path after the last PIN key: what it may cost (h11c, issue 11).

The figures are bench/door.py's; these pin the shape that keeps them low
without touching the invariants: the first store call after the PIN is the
durable hold (no store round trip before it), the library system is asked
only after it, and the answer settles the attempt in one transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from kiosk.identify import PatronStore

from .conftest import UNMANNED, Clock
from .test_service_sim import CARD, FAST, enter, library, started  # noqa: F401 - the fixture


async def test_after_the_pin_the_hold_comes_first_then_the_library(tmp_path, library):  # noqa: F811
    svc = await started(tmp_path, library, Clock(UNMANNED))
    calls: list[str] = []
    store = svc.store
    for name in ("failures", "hold_attempt", "settle", "clear"):
        real = getattr(store, name)

        def spy(*a, _real=real, _name=name, **kw):
            calls.append(_name)
            return _real(*a, **kw)

        setattr(store, name, spy)
    real_identify = library.identify

    async def identify(card, pin=None):
        calls.append("library" if pin is None else "library+pin")
        return await real_identify(card, pin)

    library.identify = identify
    try:
        out = await enter(svc)
        assert out.granted
        await svc.settle()
    finally:
        await asyncio.wait_for(svc.stop(), 10)
    # present: the budget is read before the PIN is asked; then the PIN: hold, library, budget, settle.
    pin_part = calls[calls.index("hold_attempt"):]
    assert calls.index("hold_attempt") == 1, calls  # nothing between the PIN and the hold
    assert pin_part[:3] == ["hold_attempt", "library+pin", "failures"], calls
    assert "settle" in pin_part


def _commits(store: PatronStore, func) -> int:
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    try:
        func()
    finally:
        store._db.set_trace_callback(None)
    writes = [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    explicit = sum(1 for s in seen if s.strip().upper() == "COMMIT")
    return explicit if explicit else len(writes)  # autocommit: one commit (one fsync) per statement


def test_settle_is_one_transaction(tmp_path):
    store = PatronStore(tmp_path / "p.sqlite", b"k" * 16, scrypt=FAST)
    now = datetime.now(UTC)
    token = store.hold_attempt(CARD, now)
    assert _commits(store, lambda: store.settle(token, CARD, "P1", wrong=True, now=now)) == 1
    assert len(store.failures(CARD, "P1", now)) == 1
    token = store.hold_attempt(CARD, now)
    assert _commits(store, lambda: store.settle(token, CARD, "P1", wrong=False, now=now)) == 1
    assert len(store.failures(CARD, "P1", now)) == 1  # the right answer removed only its own hold
    store.close()


def test_settle_that_cannot_be_written_leaves_the_attempt_counted(tmp_path):
    store = PatronStore(tmp_path / "p.sqlite", b"k" * 16, scrypt=FAST)
    now = datetime.now(UTC)
    token = store.hold_attempt(CARD, now)
    other = sqlite3.connect(tmp_path / "p.sqlite", timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    store._db.execute("PRAGMA busy_timeout=0")
    try:
        from kiosk.identify import StoreUnwritable

        try:
            store.settle(token, CARD, "P1", wrong=False, now=now)
        except StoreUnwritable:
            pass
        else:  # pragma: no cover
            raise AssertionError("settle wrote through another writer's lock")
    finally:
        other.rollback()
        other.close()
    assert len(store.failures(CARD, None, now)) == 1  # nothing half done: the hold still counts
    store.close()


def test_a_hold_never_runs_a_checkpoint_the_settles_do(tmp_path):
    store = PatronStore(tmp_path / "p.sqlite", b"k" * 16, scrypt=FAST)
    now = datetime.now(UTC)
    seen: list[str] = []
    holds: list[str] = []
    for i in range(300):
        store._db.set_trace_callback(holds.append)
        token = store.hold_attempt(CARD, now)
        store._db.set_trace_callback(seen.append)
        store.settle(token, CARD, "P1", wrong=i % 2 == 0, now=now)
        store._db.set_trace_callback(None)
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert not [s for s in holds if "checkpoint" in s.lower()]
    assert [s for s in seen if "wal_checkpoint" in s.lower()]
    wal = tmp_path / "p.sqlite-wal"
    assert wal.stat().st_size < 4 * 1024 * 1024  # checkpointed: the WAL is reused, not grown
    store.close()
