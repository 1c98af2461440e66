"""The console store on both backends: SQLite, and a real PostgreSQL cluster
(tests/pgserver.py).  Events stored once by id (also by two console instances
sharing one store), timestamps kept to the sub-second, audit search, accounts,
alarms from device and payment events, errors as StoreError."""

from __future__ import annotations

import pytest

from kiosk.console.errors import StoreError
from kiosk.console.store import ConsoleStore


@pytest.fixture
def store(store_url):
    s = ConsoleStore(store_url)
    yield s
    s.close()


def ev(id_, at, **kw):
    return {"id": id_, "site": "b1", "device": "kiosk", "type": "loan", "at": at, **kw}


def test_events_stored_once_by_id_across_instances(store, store_url):
    other = ConsoleStore(store_url)  # a second console instance on the same store
    try:
        batch = [ev("e1", "2026-12-01T10:00:00+00:00"), ev("e2", "2026-12-01T10:00:01+00:00")]
        assert [e["id"] for e in store.add_events(batch)] == ["e1", "e2"]
        assert [e["id"] for e in other.add_events(batch + [ev("e3", "2026-12-01T10:00:02+00:00")])] == ["e3"]
        assert store.add_events(batch) == []
        assert store.event_count() == other.event_count() == 3
    finally:
        other.close()


def test_timestamps_keep_their_precision(store):
    # Two events 250 ms apart, at a 2026 epoch time: a single-precision column
    # (PostgreSQL's REAL) would round both to the same 128-second step.
    store.add_events([ev("a", "2026-12-01T10:00:00.250+00:00"), ev("b", "2026-12-01T10:00:00.500+00:00")])
    rows = store.events()
    at = {r["id"]: r["at"] for r in rows}
    assert at["b"] - at["a"] == pytest.approx(0.25, abs=1e-6)
    assert [r["id"] for r in store.events(since=at["b"])] == ["b"]
    assert [r["id"] for r in store.events(until=at["b"])] == ["a"]
    store.status("b1", "kiosk", True)
    store.state("b1", "kiosk", {"kind": "kiosk", "screen": "home"})
    (device,) = store.devices("b1")
    assert device["online"] and device["state"]["screen"] == "home"
    import time

    assert abs(device["updated"] - time.time()) < 5


def test_audit_search_filters(store):
    store.add_events([
        ev("r1", "2026-12-01T10:00:00+00:00", type="entry", result="refused", rules=["B1", "A2"], card_ref="card:x", device="door"),
        ev("g1", "2026-12-01T10:01:00+00:00", type="entry", result="granted", card_ref="card:y", device="door"),
        ev("x1", "2026-12-01T10:02:00+00:00", type="exit", device="door"),
    ])
    assert [e["id"] for e in store.events(rule="A2")] == ["r1"]
    assert store.events(rule="A") == []
    assert [e["id"] for e in store.events(card_refs=["card:y", "card:x"])] == ["g1", "r1"]
    assert store.events(card_refs=[]) == []
    assert [e["id"] for e in store.events(types=["exit"])] == ["x1"]
    assert [e["id"] for e in store.events(result="granted", site="b1")] == ["g1"]
    assert store.events(site="b2") == []
    assert store.events(limit=1)[0]["id"] == "x1"
    assert store.events(rule="B1")[0]["rules"] == ["B1", "A2"]
    assert store.occupancy("b1", 0) == {"entries": 1, "exits": 1, "estimate": 0}


def test_accounts_and_staff_audit(store):
    store.put_staff("otto", "h1", "operator", "fr")
    assert store.staff("otto").role == "operator" and store.staff("otto").language == "fr"
    assert not store.login_failed("otto", 3, 60)
    assert not store.login_failed("otto", 3, 60)
    assert store.login_failed("otto", 3, 60)  # third: locked
    assert store.staff("otto").locked_until > 0 and store.staff("otto").failed == 0
    store.login_ok("otto", new_hash="h2")
    assert store.staff("otto").hash == "h2" and store.staff("otto").locked_until == 0
    store.put_staff("otto", "h3", "admin")  # upsert
    assert [s.username for s in store.staff_list()] == ["otto"] and store.staff("otto").role == "admin"
    assert store.staff("nobody") is None
    store.audit("otto", "login", ok=False)
    store.audit("otto", "release", site="b1", device="door", reason="patron waiting", ok=True)
    acts = store.staff_audit()
    assert [a["action"] for a in acts] == ["release", "login"] and acts[0]["ok"] is True and acts[1]["ok"] is False
    assert [a["action"] for a in store.staff_audit(site="b1")] == ["release"]
    store.command_sent("c1", "otto", "b1", "door", "release", {"seconds": 5}, "patron waiting")
    store.command_answered("c1", True, {"ok": True})
    assert store.db.execute("SELECT ok, reply FROM commands WHERE id = ?", ("c1",)) == [(1, '{"ok": true}')]


def test_alarms_from_device_payment_library_and_link(store):
    store.add_events([
        ev("d1", "2026-12-01T10:00:00+00:00", type="device", result="lost", detail="printer"),
        ev("p1", "2026-12-01T10:00:01+00:00", type="payment", result="problem", detail="unbooked"),
        ev("l1", "2026-12-01T10:00:02+00:00", type="library", result="offline"),
    ])
    store.status("b1", "kiosk", False)
    kinds = sorted(a["kind"] for a in store.alarms("b1"))
    assert kinds == ["device_lost:printer", "library_down", "offline", "payment"]
    assert store.open_alarm_count() == 4
    # Raised once: the same problem again does not open a second alarm.
    store.add_events([ev("d2", "2026-12-01T10:00:03+00:00", type="device", result="lost", detail="printer")])
    assert store.open_alarm_count() == 4
    store.add_events([
        ev("d3", "2026-12-01T10:01:00+00:00", type="device", result="back", detail="printer"),
        ev("l2", "2026-12-01T10:01:01+00:00", type="library", result="online"),
    ])
    store.status("b1", "kiosk", True)
    assert store.open_alarm_count() == 1  # the payment problem stays until someone looks
    (pay,) = [a for a in store.alarms("b1") if a["cleared"] is None]
    assert pay["kind"] == "payment"
    assert store.acknowledge(pay["id"], "otto") == {"site": "b1", "device": "kiosk", "kind": "payment"}
    assert store.acknowledge(10**9, "otto") is None
    # Cleared + acknowledged leave the open list; unacknowledged cleared ones stay on it.
    assert {a["kind"] for a in store.alarms("b1")} == {"device_lost:printer", "library_down", "offline", "payment"}


def test_bad_sql_is_a_store_error_and_the_store_goes_on(store):
    with pytest.raises(StoreError):
        store.db.execute("SELECT nope FROM events")
    with pytest.raises(StoreError):
        store.db.executemany("INSERT INTO events (id) VALUES (?)", [("x",)])  # NOT NULL columns missing
    assert store.event_count() == 0
    store.add_events([ev("ok", "2026-12-01T10:00:00+00:00")])
    assert store.event_count() == 1


def test_unreachable_postgresql_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as err:
        ConsoleStore(f"postgresql:///nodb?host={tmp_path}&port=1&user=postgres&connect_timeout=2")
    assert "\n" not in str(err.value)


def test_sqlite_commits_are_on_disk_before_the_acknowledgement(tmp_path):
    """The console acknowledges an event to the broker once stored: an SQLite commit must be synced (FULL),
    not only written to the WAL (NORMAL: lost in a power cut after the broker forgot the event)."""
    store = ConsoleStore(str(tmp_path / "console.sqlite"))
    try:
        assert store.db.execute("PRAGMA synchronous") == [(2,)]  # FULL
        assert store.db.execute("PRAGMA journal_mode") == [("wal",)]
    finally:
        store.close()


def test_an_event_redelivered_after_a_crash_mid_batch_still_raises_its_alarm(store, monkeypatch):
    """The console acknowledges a batch once add_events returned; one that dies inside it gets the batch
    again. Dying after the events were written but before their alarms were would leave the redelivered
    events known and the alarm never raised; the alarms go first, and doing them twice changes nothing."""
    batch = [ev("h1", "2026-12-01T10:00:00+00:00", type="help", result="call_staff", detail="screen=menu"),
             ev("a1", "2026-12-01T10:00:01+00:00", type="alarm", result="held_open", detail="raised")]
    real = ConsoleStore._alarm_from
    calls = []

    def dies_on_the_second(self, e):
        calls.append(e["id"])
        if len(calls) == 2:
            raise StoreError("console killed here")
        return real(self, e)

    monkeypatch.setattr(ConsoleStore, "_alarm_from", dies_on_the_second)
    with pytest.raises(StoreError):
        store.add_events(batch)
    monkeypatch.setattr(ConsoleStore, "_alarm_from", real)
    assert [e["id"] for e in store.add_events(batch)] == ["h1", "a1"]  # the broker's redelivery
    assert store.add_events(batch) == []
    assert sorted(a["kind"] for a in store.alarms()) == ["held_open", "help"]  # each once
    assert store.event_count() == 2
