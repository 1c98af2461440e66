"""kill -9 of `bibkiosk library serve` in the middle of a checkout: the loan
exists whole or not at all.

The checkout of an item the patron holds writes two rows in one transaction
(the loan, and the hold fulfilled).  A hidden fault-injection option pauses
between the writes, so the kill lands inside the transaction."""

from __future__ import annotations

import asyncio
import random
import shutil
import time

from kiosk.library.datafile import HoldStatus, load_data, save_data
from kiosk.library.store import Store
from kiosk.sip2.client import Sip2Client

from .conftest import settings_for

HOLDER_CARD = "29999000000180"  # Demo Klant Hold: item 30000000000128 waits for them on the hold shelf
ITEM = "30000000000128"


def _state(db) -> tuple[bool, HoldStatus | None, list[str]]:
    # Copy first: opening runs WAL recovery, as the next server start would.
    store = Store.open(db)
    try:
        item = store.item(ITEM)
        loan = item.loan is not None
        holds = {pid: status for _, pid, status in item.holds}
        return loan, holds.get("900018", HoldStatus.CANCELLED), store.integrity_problems()
    finally:
        store.close()


async def _send_checkout(port: int) -> None:
    client = Sip2Client(settings_for(port, timeout=30))
    await client.connect()
    task = asyncio.ensure_future(client.checkout(HOLDER_CARD, ITEM, "1234"))
    await asyncio.sleep(0)
    return client, task


def _data_file(tmp_path):
    path = tmp_path / "data.json"
    save_data(load_data("demo"), path)
    return path


def test_kill9_inside_the_transaction_leaves_nothing(serve_process, tmp_path):
    data = _data_file(tmp_path)
    db = tmp_path / "state.sqlite"
    server = serve_process("--data", str(data), "--state", str(db), "--fault-delay-ms", "1500")

    async def go():
        client, task = await _send_checkout(server.port)
        # The server says when it pauses after the first write of the transaction.
        line = await asyncio.wait_for(asyncio.to_thread(server.proc.stderr.readline), 10)
        assert "fault injection: pausing" in line, line
        server.kill9()
        try:
            await asyncio.wait_for(task, 10)
        except Exception:
            pass
        await client.close()

    asyncio.run(go())
    loan, hold, problems = _state(db)
    assert problems == []
    assert not loan and hold is HoldStatus.AVAILABLE  # nothing happened

    # The state resumes after the crash and the same checkout then completes whole.
    server = serve_process("--data", str(data), "--state", str(db))

    async def again():
        async with Sip2Client(settings_for(server.port)) as client:
            answer = await client.checkout(HOLDER_CARD, ITEM, "1234")
            assert answer.ok
        server.kill9()

    asyncio.run(again())
    loan, hold, problems = _state(db)
    assert problems == []
    assert loan and hold is HoldStatus.CANCELLED  # the loan and the fulfilled hold, together


def test_kill9_at_random_moments(serve_process, tmp_path):
    """Kill at random moments around the transaction: every time, either both
    writes are there or neither is."""
    data = _data_file(tmp_path)
    rng = random.Random(4)
    seen = set()
    for attempt in range(6):
        db = tmp_path / f"state{attempt}.sqlite"
        server = serve_process("--data", str(data), "--state", str(db), "--fault-delay-ms", "200")
        delay = rng.uniform(0.0, 0.6)

        async def go():
            client, task = await _send_checkout(server.port)
            await asyncio.sleep(delay)
            server.kill9()
            try:
                await asyncio.wait_for(task, 10)
            except Exception:
                pass
            await client.close()

        asyncio.run(go())
        time.sleep(0.05)
        loan, hold, problems = _state(db)
        assert problems == []
        assert loan == (hold is HoldStatus.CANCELLED), (attempt, delay, loan, hold)
        seen.add(loan)
        shutil.rmtree(tmp_path / "unused", ignore_errors=True)
    assert seen  # at least one outcome observed (both usually are)
