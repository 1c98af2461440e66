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
from devices import sim
from kiosk.identify import STORE_NAME

from .conftest import PSEUDONYM_KEY as KEY
from .test_service_sim import CARD, CARD2, FAST, PIN, PIN2, WRONG, enter, library, started  # noqa: F401 - the fixture


async def test_the_hold_is_durable_before_the_pin_is_asked_and_nothing_waits_after_it(tmp_path, library):  # noqa: F811
    """h11perf: the door holds the attempt when it asks for the PIN (its fsync overlaps the
    typing); after the last key the first call is the library system's, the budget is
    read on the loop (read_failures), not on the store's thread, and the settle is handed
    to that thread only after the strike."""
    svc = await started(tmp_path, library, Clock(UNMANNED))
    calls: list[str] = []
    store = svc.store
    for name in ("failures", "read_failures", "hold_attempt", "settle", "clear"):
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
    real_release = svc._release_all

    async def release(*a, **kw):
        ok = await real_release(*a, **kw)
        calls.append("strike")
        return ok

    svc._release_all = release
    try:
        sim.tap_card(CARD, name="door")
        await svc.pin_asked(5)
        assert calls == ["failures", "hold_attempt"], calls  # the budget, then the hold: before the prompt
        sim.press_keys(PIN + "#", name="door")
        out = await svc.next_outcome(5)
        assert out.granted
        await svc.settle()
    finally:
        await asyncio.wait_for(svc.stop(), 10)
    pin_part = calls[2:]
    assert pin_part[:2] == ["library+pin", "read_failures"], calls  # nothing between the last key and the library
    assert "settle" in pin_part and "hold_attempt" not in pin_part
    # The settle goes to the store's thread after the strike (no thread contending for the GIL meanwhile).
    assert pin_part.index("strike") < pin_part.index("settle"), calls


async def test_a_pin_never_given_is_not_counted(tmp_path, library):  # noqa: F811
    """The attempt held when the PIN was asked is released when no PIN comes: a timeout, an
    empty PIN, another card, the service stopping.  Fails on a hold that is never settled."""
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, library, clock, pin_timeout_seconds=0.3)
    try:
        now = clock()
        sim.tap_card(CARD, name="door")  # no PIN: P2 after the timeout
        assert (await svc.next_outcome(5)).rules == ("P2",)
        assert (await enter(svc, CARD, "")).rules == ("P2",)  # an empty PIN
        sim.tap_card(CARD, name="door")
        await svc.pin_asked(5)
        sim.tap_card(CARD2, name="door")  # another card while the PIN is awaited
        await svc.pin_asked(5)
        sim.press_keys(PIN2 + "#", name="door")
        assert (await svc.next_outcome(5)).rules == ("B1",)  # decided (CARD2 has no badge): its PIN was right
        sim.tap_card(CARD, name="door")
        await svc.pin_asked(5)  # and the service stops while it is awaited
        await svc.settle()
    finally:
        await asyncio.wait_for(svc.stop(), 10)
    store = PatronStore(tmp_path / "state" / STORE_NAME, KEY.encode(), scrypt=FAST)
    try:
        assert store.failures(CARD, None, now) == []
        assert store.failures(CARD2, None, now) == []
    finally:
        store.close()


async def test_a_wrong_pin_counts_at_the_answer_time(tmp_path, library):  # noqa: F811
    """Held when asked, the wrong PIN counts from when it was answered (a lockout lasts as long)."""
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, library, clock)
    try:
        sim.tap_card(CARD, name="door")
        await svc.pin_asked(5)
        clock.advance(seconds=20)  # the patron types for 20 s
        answered = clock()
        sim.press_keys(WRONG + "#", name="door")
        assert (await svc.next_outcome(5)).rules == ("P1",)
        await svc.settle()
        (counted,) = await svc.ident.failures(CARD)
        assert abs((counted - answered).total_seconds()) < 1  # not when it was held, 20 s before
    finally:
        await asyncio.wait_for(svc.stop(), 10)


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


def test_the_door_service_imports_neither_the_embedded_library_system_nor_requests():
    """h11perf: ~9 MB of the door's resident memory were modules it never used on a SIP2
    library system: the embedded library system (kiosk.library.*, limits) through
    kiosk.adapter, and requests for the webhooks.  Fails on the old code."""
    import subprocess
    import sys

    code = (
        "import sys, kiosk.door.service, kiosk.door.webhooks, kiosk.adapter, kiosk.identify;"
        "kiosk.door.webhooks.WebhookSender(['http://127.0.0.1:9/alarms']);"  # a webhook configured
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'urllib3', 'limits')"
        " or m.startswith(('kiosk.library', 'kiosk.adapter.embedded')));"
        "print(' '.join(bad)); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
