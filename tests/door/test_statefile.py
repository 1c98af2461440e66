"""kiosk.statefile: a corrupt SQLite file is moved aside (kept) and a new one
started; a full or read-only file system is reported, never mistaken for
corruption (the file is left alone)."""

from __future__ import annotations

import sqlite3

import pytest

from kiosk.door.audit import AuditEvent, AuditJournal
from kiosk.identify import PatronStore, ScryptParams
from kiosk.door.errors import DoorStateError
from kiosk.statefile import StateFileCorrupt, StateFileUnavailable, is_corruption, open_sqlite, probe_writable

from .conftest import UNMANNED
from .fsfaults import fill, read_only_fs, small_fs  # noqa: F401 - fixtures

SCHEMA = "CREATE TABLE IF NOT EXISTS t (x INTEGER);"


def damaged_database(path):
    """A real database with its b-tree pages overwritten (header intact)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER, pad TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "p" * 200) for i in range(2000)])
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for off in range(2 * page, len(data) - page, 3 * page):
        data[off:off + 512] = b"\x5a" * 512
    path.write_bytes(bytes(data))


def test_garbage_file_is_moved_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not a database" * 300)
    opened = open_sqlite(path, schema=SCHEMA)
    assert opened.moved_aside is not None and opened.moved_aside.read_bytes().startswith(b"this is not")
    opened.conn.execute("INSERT INTO t VALUES (1)")
    assert opened.conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    opened.conn.close()
    # Opened again: healthy, nothing moved.
    again = open_sqlite(path, schema=SCHEMA)
    assert again.moved_aside is None
    again.conn.close()


def test_damaged_pages_are_found_by_quick_check(tmp_path):
    path = tmp_path / "state.sqlite"
    damaged_database(path)
    opened = open_sqlite(path, schema=SCHEMA)
    assert opened.moved_aside is not None and opened.moved_aside.name.startswith("state.sqlite.corrupt-")
    opened.conn.close()


def test_readonly_open_of_a_corrupt_file_does_not_move_it(tmp_path):
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(StateFileCorrupt):
        open_sqlite(path, readonly=True)
    assert path.exists()


def test_full_file_system_is_unavailable_not_corrupt(small_fs):
    path = small_fs / "state.sqlite"
    opened = open_sqlite(path, schema=SCHEMA)
    opened.conn.close()
    fill(small_fs)
    with pytest.raises(StateFileUnavailable):
        probe_writable(small_fs)
    with pytest.raises(StateFileUnavailable):  # WAL needs room for its -shm file
        open_sqlite(path, schema=SCHEMA)
    assert path.exists() and list(small_fs.glob("*.corrupt-*")) == []


def test_disk_full_while_open_is_an_operational_error(small_fs):
    path = small_fs / "state.sqlite"
    conn = open_sqlite(path, schema=SCHEMA).conn
    fill(small_fs)
    with pytest.raises(sqlite3.OperationalError) as err:
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(200_000)])
    assert not is_corruption(err.value)
    conn.close()


def test_new_file_on_a_full_file_system(small_fs):
    fill(small_fs)
    with pytest.raises(StateFileUnavailable):
        open_sqlite(small_fs / "new.sqlite", schema=SCHEMA)
    assert list(small_fs.glob("*.corrupt-*")) == []


def test_read_only_file_system(read_only_fs):
    with pytest.raises(StateFileUnavailable):
        open_sqlite(read_only_fs / "state" / "x.sqlite", schema=SCHEMA)


def test_corrupt_audit_journal_is_moved_aside(tmp_path):
    path = tmp_path / "door-audit.sqlite"
    path.write_bytes(b"\x00garbage" * 999)
    with AuditJournal(path) as journal:
        assert journal.moved_aside is not None and journal.moved_aside.exists()
        journal.record(UNMANNED, AuditEvent.SERVICE, result="started")
    with AuditJournal(path, readonly=True) as journal:
        assert [e.result for e in journal.entries(event="service")] == ["started"]


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = tmp_path / "patrons.sqlite"
    damaged_database(path)
    cache = PatronStore(path, b"k" * 32, scrypt=ScryptParams(n=2, r=1, p=1))
    assert cache.moved_aside is not None and len(cache) == 0
    cache.close()


def test_audit_on_a_read_only_file_system_is_a_state_error(read_only_fs):
    with pytest.raises(DoorStateError):
        AuditJournal(read_only_fs / "door-audit.sqlite")
