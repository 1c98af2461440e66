"""The fleet outbox on a full disk: the broker acknowledged the events, but the
journal cannot mark them delivered (SQLite's DELETE needs room in its WAL).

On a real 600 KiB tmpfs filled to the last byte, against the real Mosquitto,
with the console's own link and store on the other side:

- the link stays up (the old link took the failed mark for a link failure:
  it dropped the connection, reconnected, sent the same events again, and
  again, every backoff), so commands still reach the device;
- the retained state (the device's standing alarms, which the console opens
  from it when their events cannot be queued) still goes out: the old link
  sent it only once the outbox was empty, which it never was;
- no event is lost: they stay in the journal until the mark succeeds, retried
  once there is room;
- a restart while they are still unmarked sends them again with the same ids,
  and the console keeps each once.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from kiosk.console.store import ConsoleStore
from kiosk.fleet.console_link import ConsoleLink
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink
from tests.door.fsfaults import fill, small_fs  # noqa: F401 - the fixture

from .conftest import CONSOLE, StoreSink, until

pytestmark = pytest.mark.timeout(90)


class CountingSink(StoreSink):
    """The console's store, counting what the broker delivered (duplicates included)."""

    def __init__(self, store: ConsoleStore) -> None:
        super().__init__(store)
        self.raw: list[str] = []

    def add_events(self, batch):
        self.raw += [ev["id"] for ev in batch]
        return super().add_events(batch)

    def stored(self) -> list[str]:
        return [r[0] for r in self.store.db.execute("SELECT id FROM events WHERE device = ?", ("door",))]


def free(where) -> None:
    for name in ("filler", "filler2"):
        if (where / name).exists():
            os.unlink(where / name)


async def test_events_acknowledged_but_not_marked_on_a_full_disk(fleet, tmp_path, small_fs):  # noqa: F811
    store = ConsoleStore(tmp_path / "console.sqlite")
    sink = CountingSink(store)
    console = ConsoleLink(fleet.settings(CONSOLE), sink, client_id="console-outbox-full")
    journal = FleetJournal(small_fs / "fleet-journal.sqlite")
    link = FleetLink(fleet.settings("b1-door"), journal)
    sent = [link.event("entry", result="granted", card_ref=f"card:{i:016x}", rules=[]) for i in range(20)]
    link.set_state({"mode": "unmanned", "alarms": ["state_unwritable"]})
    try:
        await console.start()
        await console.wait_connected()
        await asyncio.sleep(0.1)
        fill(small_fs)  # the disk fills up with the events still in the outbox
        with pytest.raises(Exception, match="full"):
            journal.delivered([1])  # the mark cannot be written: the case at hand
        await link.start()
        await link.wait_connected()
        await until(lambda: set(sent) <= set(sink.stored()))
        # The retained state goes out although the events cannot be marked delivered.
        await until(lambda: any(s.get("alarms") == ["state_unwritable"] for s in sink.states))
        assert [a["kind"] for a in store.alarms("b1") if a["device"] == "door"] == ["state_unwritable"]
        await asyncio.sleep(1.5)  # the old link dropped the connection and sent them all again here, and again
        assert link.connected and link.connections == 1
        assert sorted(sink.raw) == sorted(sent)  # each sent once while the link is up
        # Nothing lost: still in the journal (unmarked), not sent again.
        assert journal.queue_length() == len(sent)
        assert link.queue_length == 0
    finally:
        await link.stop()

    # A restart while they are still unmarked: sent again with the same ids, kept once.
    link = FleetLink(fleet.settings("b1-door"), journal)
    try:
        await link.start()
        await link.wait_connected()
        await until(lambda: len(sink.raw) >= 2 * len(sent))
        await console.drain()
        assert sorted(sink.stored()) == sorted(sent)
        assert journal.queue_length() == len(sent)
        # Room again: the marks are written (retried), the outbox empties, on the same connection.
        free(small_fs)
        await until(lambda: journal.queue_length() == 0)
        assert link.connections == 1
        after = link.event("entry", result="refused", rules=["P1"], card_ref="card:00000000000000ff")
        await until(lambda: after in sink.stored())
        await until(lambda: journal.queue_length() == 0)
        assert sorted(sink.stored()) == sorted([*sent, after])
    finally:
        await link.stop()
        await console.stop()
        journal.close()
        free(small_fs)
