"""The offline journal: records, offline queue, exactly-once replay, kill -9."""

from __future__ import annotations

import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.journal import (
    Journal,
    JournalCorrupt,
    JournalError,
    ReplayOutcome,
    TxnKind,
    TxnMode,
    TxnState,
    UnknownTransaction,
)
from tests.kiosk.killpoints import kill_until_done

KEY = b"test-key"
CARD = "29548000001003"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite", pseudonym_key=KEY)
    yield j
    j.close()


def test_pragmas_wal_and_full_sync(journal):
    assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_online_before_and_after(journal):
    txn = journal.begin(TxnKind.CHECKOUT, CARD, "30000000000001")
    entry = journal.get(txn)
    assert entry.state is TxnState.SENT and entry.mode is TxnMode.ONLINE
    assert entry.card is None and entry.card_ref.startswith("card:") and CARD not in entry.card_ref
    journal.finish(txn, ok=True, due="2025-01-31", message="ok")
    entry = journal.get(txn)
    assert entry.state is TxnState.OK and entry.due == "2025-01-31" and entry.finished_at is not None
    t2 = journal.begin(TxnKind.CHECKIN, None, "30000000000002")
    journal.finish(t2, ok=False, message="no")
    t3 = journal.begin(TxnKind.RENEW, CARD, "30000000000003")
    journal.finish(t3, ok=None)
    assert [e.state for e in journal.entries()] == [TxnState.OK, TxnState.REFUSED, TxnState.FAILED]
    with pytest.raises(UnknownTransaction):
        journal.finish("nope", ok=True)


def test_no_card_number_anywhere_in_the_file_after_settling(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path, pseudonym_key=KEY) as j:
        j.finish(j.begin(TxnKind.CHECKOUT, CARD, "I1"), ok=True)
        j.enqueue(TxnKind.CHECKOUT, CARD, "I2")
        assert CARD in repr(j._db.execute("SELECT card FROM txn").fetchall())

        async def probe(e):
            return "x"

        async def send(e):
            return ReplayOutcome(ok=True)

        import asyncio

        asyncio.run(j.replay(send, probe))
        j._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        j._db.execute("VACUUM")
        assert "card:" in repr(j.entries())
        assert CARD not in repr(j.entries())
    assert CARD.encode() not in path.read_bytes()
    assert b"1234" not in path.read_bytes()


def test_interrupted_online_rows_are_marked_on_reopen(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path, pseudonym_key=KEY)
    txn = j.begin(TxnKind.CHECKOUT, CARD, "I1")
    j.close()
    with Journal(path, pseudonym_key=KEY) as j2:
        assert j2.get(txn).state is TxnState.INTERRUPTED


def test_enqueue_rules(journal):
    with pytest.raises(JournalError):
        journal.enqueue(TxnKind.RENEW, CARD, "I1")
    with pytest.raises(JournalError):
        journal.enqueue(TxnKind.CHECKOUT, None, "I1")
    journal.enqueue(TxnKind.CHECKIN, None, "I1")
    journal.enqueue(TxnKind.CHECKOUT, CARD, "I2")
    journal.enqueue(TxnKind.CHECKOUT, CARD, "I3")
    assert journal.pending_count() == 3
    assert journal.offline_checkouts(CARD) == 2
    assert journal.offline_checkouts("29548000009999") == 0
    assert CARD not in repr(journal.pending())


async def test_replay_in_order_and_stops_when_link_down(journal):
    for n in range(5):
        journal.enqueue(TxnKind.CHECKOUT, CARD, f"I{n}")
    sent = []
    state = {}

    async def probe(e):
        return str(state.get(e.item_id, 0))

    async def send(e):
        if len(sent) == 2 and not state.get("down_once"):
            state["down_once"] = True
            raise ConnectionError("link down")
        sent.append(e.item_id)
        state[e.item_id] = state.get(e.item_id, 0) + 1
        return ReplayOutcome(ok=e.item_id != "I3", message="refused" if e.item_id == "I3" else None)

    report = await journal.replay(send, probe)
    assert not report.complete and isinstance(report.stopped_by, ConnectionError)
    assert sent == ["I0", "I1"] and journal.pending_count() == 3
    # The row that failed is 'sending' with its fingerprint; unchanged → sent again.
    assert journal.pending()[0].state is TxnState.SENDING
    report = await journal.replay(send, probe)
    assert report.complete and report.replayed == 2 and report.rejected == 1 and report.recovered == 0
    assert sent == ["I0", "I1", "I2", "I3", "I4"]
    states = [e.state for e in journal.entries()]
    assert states == [TxnState.REPLAYED] * 3 + [TxnState.REJECTED, TxnState.REPLAYED]
    assert all(e.card is None for e in journal.entries())


async def test_ambiguous_row_that_arrived_is_not_sent_again(journal):
    journal.enqueue(TxnKind.CHECKIN, None, "I1")
    state = {"I1": 0}

    async def probe(e):
        return str(state[e.item_id])

    async def send_then_die(e):
        state[e.item_id] += 1  # the library system applied it ...
        raise ConnectionResetError("... and the answer was lost")

    report = await journal.replay(send_then_die, probe)
    assert not report.complete

    async def send(e):  # pragma: no cover - must not be called
        raise AssertionError("sent twice")

    report = await journal.replay(send, probe)
    assert report.complete and report.recovered == 1 and report.replayed == 1
    assert journal.entries()[0].state is TxnState.REPLAYED


async def test_probe_failure_stops_replay(journal):
    journal.enqueue(TxnKind.CHECKIN, None, "I1")

    async def probe(e):
        raise OSError("unreachable")

    async def send(e):  # pragma: no cover
        raise AssertionError

    report = await journal.replay(send, probe)
    assert not report.complete and journal.pending()[0].state is TxnState.QUEUED


def test_purge_keeps_pending(tmp_path):
    clock = [1_000_000.0]
    with Journal(tmp_path / "j.sqlite", pseudonym_key=KEY, clock=lambda: clock[0]) as j:
        j.finish(j.begin(TxnKind.CHECKIN, None, "I1"), ok=True)
        j.enqueue(TxnKind.CHECKIN, None, "I2")
        clock[0] += 40 * 86400
        assert j.purge(older_than=timedelta(days=28)) == 1
        assert [e.item_id for e in j.entries()] == ["I2"]


def test_corrupt_file_is_a_typed_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalCorrupt):
        Journal(bad, pseudonym_key=KEY)
    with pytest.raises(JournalError):
        Journal(tmp_path / "j.sqlite", pseudonym_key=b"")


def test_kill_minus_nine_at_random_points(tmp_path):
    """Queue and replay in a child process, SIGKILL it many times: at every
    step of queueing, replaying and recovering (the named kill points of
    journal_worker.py, each at least twice, the kill landing exactly there
    however loaded the machine is) and at random moments just after them;
    then every acknowledged transaction is in the journal, and every
    transaction reached the library system exactly once, in order."""
    from tests.kiosk.journal_worker import CLASSES

    journal_path = tmp_path / "journal.sqlite"
    library_path = tmp_path / "library.sqlite"
    worker = [sys.executable, str(Path(__file__).with_name("journal_worker.py")), str(journal_path), str(library_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    total, quota = 1500, 2
    kills = kill_until_done(lambda run: [*worker, str(total), str(run)], classes=CLASSES, quota=quota, chance=0.006,
                            stray=0.0015, stray_delay=0.005, max_kills=70, seed=20250301, workdir=tmp_path, env=env)
    acknowledged = [ln.split()[1] for ln in kills.lines if ln.startswith("REC ")]
    short = {c: kills.kills[c] for c in CLASSES if kills.kills[c] < quota}
    assert not short, f"too few kills at {short}: {kills}"
    assert kills.total >= 35, f"{kills}"

    with Journal(journal_path, pseudonym_key=KEY) as j:
        entries = j.entries()
    assert len(entries) == total
    ids = [e.txn_id for e in entries]
    assert set(acknowledged) <= set(ids), "an acknowledged transaction was lost"
    assert all(e.state is TxnState.REPLAYED for e in entries)
    lib = sqlite3.connect(library_path)
    applied = [row[0] for row in lib.execute("SELECT txn_id FROM applied ORDER BY n")]
    assert len(applied) == len(set(applied)), "a transaction reached the library system twice"
    assert applied == ids, "lost or out of order at the library system"
    recovered = sum(1 for e in entries if e.message == "applied before an interruption")
    print(f"{kills} acknowledged={len(acknowledged)} recovered-ambiguous={recovered}")
