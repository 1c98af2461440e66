"""SQLite state: load/export round trip, WAL + FULL sync, whole transactions."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from kiosk.library import LibraryError, NotFound, StoreError
from kiosk.library.datafile import CardStatus, HoldStatus, dump_data, load_data, parse_data
from kiosk.library.store import Store, data_digest

from .helpers import ISSUE_EXAMPLE, text

TODAY = date(2026, 11, 23)


@pytest.fixture
def demo_store(tmp_path):
    store = Store.create(tmp_path / "demo.sqlite", load_data("demo"))
    yield store
    store.close()


def test_round_trip_keeps_the_file(tmp_path):
    for data in (parse_data(text(ISSUE_EXAMPLE)), load_data("demo")):
        store = Store.create(tmp_path / "s.sqlite", data)
        assert dump_data(store.to_data()) == dump_data(data)
        store.close()


def test_pragmas(demo_store):
    conn = sqlite3.connect(demo_store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert demo_store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert demo_store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn.close()


def test_identify_cards_and_temporary_numbers(demo_store):
    assert demo_store.identify("29999000000010").card_status is CardStatus.ACTIVE
    assert demo_store.identify("29999000000110").card_status is CardStatus.REPLACED
    assert demo_store.identify("29999000000111").patron_id == demo_store.identify("29999000000110").patron_id
    temp = demo_store.identify("2X1986")
    assert temp.by == "temporary_number" and temp.card_status is None
    assert demo_store.identify("0000") is None


def test_item_by_barcode_or_rfid(demo_store):
    by_tag = demo_store.item("E004015000000050")
    assert by_tag.item_id == "30000000000050" and by_tag.parts == 3
    assert demo_store.item("30000000000050") == by_tag
    assert demo_store.item("nope") is None


def test_checkout_checkin_and_hold_shelf(demo_store):
    loan = demo_store.checkout("900015", "30000000000043", today=TODAY)
    assert loan.due == date(2026, 12, 14)  # book: 21 days
    with pytest.raises(LibraryError):
        demo_store.checkout("900001", "30000000000043", today=TODAY)
    result = demo_store.checkin("30000000000043", today=TODAY)
    assert result.was_on_loan and result.patron_id == "900015" and result.hold_patron_id is None
    # Item 30000000000104 is on loan to 900001 and held by 900018.
    result = demo_store.checkin("30000000000104", today=TODAY)
    assert result.hold_patron_id == "900018"
    assert demo_store.item("30000000000104").holds[0][2] is HoldStatus.AVAILABLE
    # The holder borrows it: the hold is fulfilled.
    demo_store.checkout("900018", "30000000000104", today=TODAY)
    assert demo_store.item("30000000000104").holds == ()


def test_renew_moves_due_and_counts(demo_store):
    loan = demo_store.renew("900001", "30000000000012", today=TODAY)
    assert loan.renewals == 1 and loan.due == date(2026, 12, 22)
    with pytest.raises(NotFound):
        demo_store.renew("900015", "30000000000012", today=TODAY)


def test_pay_charges_oldest_first_and_fee(demo_store):
    assert demo_store.patron("900002").charges_open_cents == 1250
    assert demo_store.pay("900002", 1000, what="charges") == 1000
    view = demo_store.patron("900002")
    assert view.charges_open_cents == 250 and len(view.charges) == 1
    sub = demo_store.patron("900003").subscription
    assert sub.fee_open_cents == 6000
    with pytest.raises(LibraryError):
        demo_store.pay("900003", 100, what="fee")
    demo_store.pay("900003", 6000, what="fee")
    sub = demo_store.patron("900003").subscription
    assert sub.fee_open_cents == 0 and sub.status.value == "normal"


def test_failed_transaction_leaves_nothing(demo_store):
    before = demo_store.counts()
    with pytest.raises(RuntimeError):
        with demo_store.transaction() as conn:
            conn.execute("DELETE FROM loans")
            raise RuntimeError("boom")
    assert demo_store.counts() == before
    with pytest.raises(StoreError):
        with demo_store.transaction():
            with demo_store.transaction():
                pass


def test_open_or_create_resumes_only_the_same_data(tmp_path):
    data = load_data("demo")
    path = tmp_path / "s.sqlite"
    store, resumed = Store.open_or_create(path, data)
    assert not resumed
    store.checkout("900015", "30000000000043", today=TODAY)
    store.close()
    store, resumed = Store.open_or_create(path, data)
    assert resumed and store.item("30000000000043").loan is not None
    assert store.meta("source_digest") == data_digest(data)
    store.close()
    other = parse_data(text(ISSUE_EXAMPLE))
    store, resumed = Store.open_or_create(path, other)
    assert not resumed and store.institution == "9401"
    store.close()


def test_open_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError):
        Store.open(bad)
    with pytest.raises(StoreError):
        Store.open(tmp_path / "absent.sqlite")


# ------------------------------------------------------------ one state file, several processes


def test_two_users_of_one_state_file_share_it(tmp_path):
    data = load_data("demo")
    path = tmp_path / "shared.sqlite"
    first, resumed_first = Store.open_or_create(path, data)
    second, resumed_second = Store.open_or_create(path, data)
    assert (resumed_first, resumed_second) == (False, True)
    first.checkout("900015", "30000000000043", today=TODAY)
    assert second.item("30000000000043").loan is not None
    first.close()
    second.close()


def test_other_data_is_refused_while_the_state_file_is_in_use(tmp_path):
    path = tmp_path / "shared.sqlite"
    kiosk, _ = Store.open_or_create(path, load_data("demo"))
    kiosk.checkout("900015", "30000000000043", today=TODAY)
    other = parse_data(text(ISSUE_EXAMPLE))
    with pytest.raises(StoreError, match="in use by another process"):
        Store.open_or_create(path, other, lock_timeout=0.3)
    # nothing was replaced under the running user: its loans stay, it goes on writing
    kiosk.checkin("30000000000043", today=TODAY)
    kiosk.checkout("900015", "30000000000043", today=TODAY)
    kiosk.close()
    again, resumed = Store.open_or_create(path, load_data("demo"))
    assert resumed and again.item("30000000000043").loan is not None
    again.close()
    # once nobody uses it, other data rebuilds it
    rebuilt, resumed = Store.open_or_create(path, other)
    assert not resumed and rebuilt.institution == "9401"
    rebuilt.close()


def _start_together(path, barrier, results):
    store, resumed = Store.open_or_create(path, load_data("demo"))
    results.put((resumed, store.meta("source_digest")))
    barrier.wait(timeout=30)  # every process still has the store open
    store.close()


def test_processes_starting_together_build_the_state_once(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "shared.sqlite"
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_start_together, args=(path, barrier, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    got = [results.get(timeout=5) for _ in procs]
    assert sorted(resumed for resumed, _ in got) == [False, True, True, True]
    assert {digest for _, digest in got} == {data_digest(load_data("demo"))}
