"""A kiosk process that queues offline checkouts and replays them to the
embedded library system over real SIP2 (``bibkiosk library serve`` in another
process), to be killed with SIGKILL by test_replay_kill.py at the named points
of tests/kiosk/killpoints.py (CLASSES):

* ``queued`` - a checkout is committed to the queue (not yet acknowledged);
* ``probe`` - the 17's answer (the item's state) is in, the row not yet
  ``sending``;
* ``sending`` - the row is ``sending``, the 11 not yet sent;
* ``applied`` - the 12 is in (the loan exists), the journal not yet settled;
* ``reprobe.applied`` / ``reprobe.unapplied`` - after a restart, the row found
  ``sending`` is probed again and the checkout had / had not been applied.

Usage: replay_worker.py JOURNAL PORT CARD ITEM[,ITEM...] SEED
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
from kiosk.journal import Journal, TxnKind, TxnState
from kiosk.sip2.client import ClientSettings
from tests.kiosk.killpoints import point

CLASSES = ("queued", "probe", "sending", "applied", "reprobe.applied", "reprobe.unapplied")


class PointedJournal(Journal):
    """The journal, with a kill point after each step of the replay."""

    async def replay(self, send, probe):
        async def probe_point(entry):
            fingerprint = await probe(entry)
            if entry.state is TxnState.SENDING:
                point("reprobe.unapplied" if fingerprint == entry.before else "reprobe.applied")
            else:
                point("probe")
            return fingerprint

        async def send_point(entry):
            point("sending")
            outcome = await send(entry)
            point("applied")
            return outcome

        return await super().replay(send_point, probe_point)


async def main(journal_path: str, port: int, card: str, items: list[str], seed: int) -> None:
    journal = PointedJournal(journal_path, pseudonym_key=b"replay-kill-test-key")
    library = Sip2LibrarySystem(ClientSettings(port=port, user="kiosk1", password=SecretStr("kiosk1"),
                                               institution="9999", location="9901", keepalive_seconds=None,
                                               timeout=10))
    flows = KioskFlows(library, journal)
    rng = random.Random(seed)
    queued = {e.item_id for e in journal.entries()}
    for item in items:
        if item in queued:
            continue
        journal.enqueue(TxnKind.CHECKOUT, card, item)
        point("queued")
        print("REC", item, flush=True)
        if rng.random() < 0.4:
            report = await flows.replay()
            assert report.complete, report.stopped_by
    report = await flows.replay()
    assert report.complete and journal.pending_count() == 0, report
    await library.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(","), int(sys.argv[5])))
