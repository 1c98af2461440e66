"""A process that queues offline transactions and replays them to a stand-in
library system, to be killed with SIGKILL by test_journal.py at the named
points of tests/kiosk/killpoints.py (CLASSES):

* ``queued`` - a transaction is committed to the queue (not yet acknowledged);
* ``probe`` - the library's fingerprint is read, the row not yet ``sending``;
* ``sending`` - the row is ``sending`` (fingerprint committed), the library
  system not yet told;
* ``applied`` - the library system applied it, the journal not yet settled;
* ``reprobe.applied`` / ``reprobe.unapplied`` - after a restart, the row found
  ``sending`` is probed again and the library had / had not applied it.

The stand-in library system is a second SQLite file (its own process state,
durable commits, like a real library system's database): applying a
transaction updates the item and appends the transaction id to ``applied``,
so the test can see any transaction that arrived twice or out of order.

Usage: journal_worker.py JOURNAL LIBRARY TOTAL SEED
Prints ``REC <txn_id>`` after each queued transaction is committed, ``DONE``
when all TOTAL transactions are queued and replayed.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from kiosk.journal import Journal, JournalEntry, ReplayOutcome, TxnKind, TxnState
from tests.kiosk.killpoints import point

KEY = b"kill-test-key"
ITEMS = [f"3000000000{n:04d}" for n in range(6)]
CARDS = ["29548000001003", "29548000001011", "29548000001029"]
CLASSES = ("queued", "probe", "sending", "applied", "reprobe.applied", "reprobe.unapplied")


def library(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS item (item_id TEXT PRIMARY KEY, charged_to TEXT, version INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS applied (n INTEGER PRIMARY KEY AUTOINCREMENT, txn_id TEXT NOT NULL, kind TEXT NOT NULL)")
    db.executemany("INSERT OR IGNORE INTO item VALUES (?, NULL, 0)", [(i,) for i in ITEMS])
    return db


async def main(journal_path: str, library_path: str, total: int, seed: int) -> None:
    lib = library(library_path)
    journal = Journal(journal_path, pseudonym_key=KEY)
    rng = random.Random(seed)

    async def probe(entry: JournalEntry) -> str:
        (version,) = lib.execute("SELECT version FROM item WHERE item_id=?", (entry.item_id,)).fetchone()
        if entry.state is TxnState.SENDING:
            point("reprobe.unapplied" if str(version) == entry.before else "reprobe.applied")
        else:
            point("probe")
        return str(version)

    async def send(entry: JournalEntry) -> ReplayOutcome:
        point("sending")
        charged = entry.card if entry.kind is TxnKind.CHECKOUT else None
        lib.execute("BEGIN IMMEDIATE")
        lib.execute("UPDATE item SET charged_to=?, version=version+1 WHERE item_id=?", (charged, entry.item_id))
        lib.execute("INSERT INTO applied (txn_id, kind) VALUES (?, ?)", (entry.txn_id, entry.kind.value))
        lib.execute("COMMIT")
        point("applied")
        return ReplayOutcome(ok=True, message="ok")

    while True:
        recorded = len(journal.entries())
        if recorded >= total:
            break
        # Queue a few, then replay some of them: kills land in both phases.
        for _ in range(rng.randint(1, 3)):
            if recorded >= total:
                break
            kind = rng.choice([TxnKind.CHECKOUT, TxnKind.CHECKIN])
            card = rng.choice(CARDS) if kind is TxnKind.CHECKOUT else None
            entry = journal.enqueue(kind, card, rng.choice(ITEMS))
            point("queued")
            print("REC", entry.txn_id, flush=True)
            recorded += 1
        report = await journal.replay(send, probe)
        assert report.complete, report.stopped_by
    report = await journal.replay(send, probe)
    assert report.complete and journal.pending_count() == 0
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
