"""A kiosk process that queues offline checkouts and replays them to the
embedded library system over real SIP2 (``bibkiosk library serve`` in another
process), to be killed with SIGKILL at random moments by test_replay_kill.py.

Usage: replay_worker.py JOURNAL PORT CARD ITEM[,ITEM...]
Prints ``REC <item>`` after each queued checkout is committed, ``DONE`` when
every item is queued and the queue is empty.
"""

from __future__ import annotations

import asyncio
import random
import sys

from pydantic import SecretStr

from kiosk.adapter import Sip2LibrarySystem
from kiosk.flows import KioskFlows
from kiosk.journal import Journal, TxnKind
from kiosk.sip2.client import ClientSettings


async def main(journal_path: str, port: int, card: str, items: list[str]) -> None:
    journal = Journal(journal_path, pseudonym_key=b"replay-kill-test-key")
    library = Sip2LibrarySystem(ClientSettings(port=port, user="kiosk1", password=SecretStr("kiosk1"),
                                               institution="9999", location="9901", keepalive_seconds=None,
                                               timeout=10))
    flows = KioskFlows(library, journal)
    rng = random.Random()
    queued = {e.item_id for e in journal.entries()}
    for item in items:
        if item in queued:
            continue
        journal.enqueue(TxnKind.CHECKOUT, card, item)
        print("REC", item, flush=True)
        if rng.random() < 0.4:
            report = await flows.replay()
            assert report.complete, report.stopped_by
    report = await flows.replay()
    assert report.complete and journal.pending_count() == 0, report
    await library.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",")))
