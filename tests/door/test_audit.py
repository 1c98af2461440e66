"""Audit journal: durable rows, queries, retention purge, occupancy."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from kiosk.door.audit import AuditEvent, AuditJournal, Result
from kiosk.door.errors import DoorStateError

T0 = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


def test_rows_round_trip_and_survive_reopen(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditJournal(path) as j:
        seq = j.record(T0, AuditEvent.ENTRY, result=Result.REFUSED, card_ref="card:abc", reader="osdp0", rules=["B1", "R2"], source="online")
        assert seq == 1
    with AuditJournal(path, readonly=True) as j:
        (row,) = j.entries()
    assert row.event == "entry" and row.result == "refused" and row.rules == ("B1", "R2")
    assert row.at == T0 and row.card_ref == "card:abc" and row.source == "online"
    assert row.as_dict()["rules"] == ["B1", "R2"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_raw_card_number_is_rejected(tmp_path):
    with AuditJournal(tmp_path / "a.sqlite") as j, pytest.raises(ValueError):
        j.record(T0, AuditEvent.ENTRY, card_ref="29548000001003")


def test_naive_time_is_rejected(tmp_path):
    with AuditJournal(tmp_path / "a.sqlite") as j, pytest.raises(ValueError):
        j.record(T0.replace(tzinfo=None), AuditEvent.ENTRY)


def test_filters_and_limit(tmp_path):
    with AuditJournal(tmp_path / "a.sqlite") as j:
        for i in range(10):
            j.record(T0 + timedelta(minutes=i), AuditEvent.ENTRY if i % 2 else AuditEvent.EXIT, card_ref=f"card:{i}")
        assert [e.card_ref for e in j.entries(since=T0 + timedelta(minutes=7))] == ["card:7", "card:8", "card:9"]
        assert len(j.entries(event="entry")) == 5
        assert [e.seq for e in j.entries(limit=2)] == [9, 10]
        assert j.last("exit").card_ref == "card:8"
        assert j.entries(card_ref="card:3")[0].seq == 4


def test_purge_keeps_the_retention(tmp_path):
    with AuditJournal(tmp_path / "a.sqlite") as j:
        for days in (40, 29, 27, 1):
            j.record(T0 - timedelta(days=days), AuditEvent.SERVICE, result="started")
        assert j.purge(T0, 28) == 2
        assert len(j.entries()) == 2


def test_occupancy_counts_granted_entries_and_exits_since_reset(tmp_path):
    now = datetime.now().astimezone().replace(hour=20, minute=0, second=0, microsecond=0)
    with AuditJournal(tmp_path / "a.sqlite") as j:
        j.record(now - timedelta(days=1), AuditEvent.ENTRY, result=Result.GRANTED)  # yesterday: not counted
        for m in range(1, 5):
            j.record(now - timedelta(minutes=60 - m), AuditEvent.ENTRY, result=Result.GRANTED)
        j.record(now - timedelta(minutes=50), AuditEvent.ENTRY, result=Result.REFUSED)
        j.record(now - timedelta(minutes=40), AuditEvent.EXIT)
        occ = j.occupancy(now)
        assert (occ.entries, occ.exits, occ.estimate) == (4, 1, 3)
        j.record(now - timedelta(minutes=30), AuditEvent.OCCUPANCY_RESET)
        j.record(now - timedelta(minutes=20), AuditEvent.EXIT)
        occ = j.occupancy(now)
        assert (occ.entries, occ.exits, occ.estimate) == (0, 1, 0)


def test_readonly_missing_journal_is_a_clear_error(tmp_path):
    with pytest.raises(DoorStateError, match="no audit journal"):
        AuditJournal(tmp_path / "missing.sqlite", readonly=True)


def test_garbage_file_is_a_clear_error_to_a_reader_and_moved_aside_by_the_writer(tmp_path):
    bad = tmp_path / "a.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DoorStateError):
        AuditJournal(bad, readonly=True)
    with AuditJournal(bad) as j:  # the door: kept for staff, a new journal started
        assert j.moved_aside is not None and j.moved_aside.read_bytes().startswith(b"this is not")


def test_standing_alarms_are_the_ones_raised_and_not_cleared(tmp_path):
    from kiosk.door.audit import standing_alarms

    t = [T0 + timedelta(minutes=i) for i in range(8)]
    assert standing_alarms([]) == {}
    rows = [("held_open", "raised", t[0]), ("held_open", "cleared", t[1]), ("forced_open", "raised", t[2]),
            ("patron_store_unwritable", "raised", t[3]), ("patron_store_unwritable", "raised", t[4]),  # an old duplicate
            ("held_open", "raised", t[5]), ("state_unwritable", "raised", t[6]), ("state_unwritable", "cleared", t[7])]
    assert standing_alarms(rows) == {"forced_open": t[2], "patron_store_unwritable": t[3], "held_open": t[5]}
    with AuditJournal(tmp_path / "a.sqlite") as j:
        for kind, detail, at in rows:
            j.record(at, AuditEvent.ALARM, result=kind, detail=detail)
        j.record(t[7], AuditEvent.STATE, result="patron_store_unwritable", detail="database or disk is full")
        assert j.standing_alarms() == {"forced_open": t[2], "patron_store_unwritable": t[3], "held_open": t[5]}
