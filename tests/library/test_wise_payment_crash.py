"""kill -9 of `bibkiosk library serve --dialect wise` in the middle of a 37
by adm_id: the payment is booked whole or not at all, and the kiosk's
re-sent 37 (same BK) after the restart is booked exactly once."""

from __future__ import annotations

import asyncio

from kiosk.library.datafile import load_data, save_data
from kiosk.library.store import Store
from kiosk.sip2.client import Sip2Client

from .conftest import settings_for

R1 = "29999000000020"


def _booked(db) -> tuple[list[int], list[tuple], list[str]]:
    store = Store.open(db)  # runs WAL recovery, as the next start would
    try:
        return [r.open_cents for r in store.registrations("900002")], store.payments(), store.integrity_problems()
    finally:
        store.close()


def test_kill9_inside_a_payment_then_the_same_bk_books_once(serve_process, tmp_path):
    data = tmp_path / "data.json"
    save_data(load_data("demo"), data)
    db = tmp_path / "state.sqlite"
    server = serve_process("--data", str(data), "--state", str(db), "--dialect", "wise", "--fault-delay-ms", "1500")

    async def go():
        client = Sip2Client(settings_for(server.port, timeout=30))
        await client.connect()
        task = asyncio.ensure_future(client.pay_registration(R1, "5000201", "8.00", transaction_id="KIOSK1-77"))
        line = await asyncio.wait_for(asyncio.to_thread(server.proc.stderr.readline), 10)
        assert "fault injection: pausing" in line, line
        server.kill9()
        try:
            await asyncio.wait_for(task, 10)
        except Exception:
            pass  # the link dropped: the kiosk does not know whether it was booked
        await client.close()

    asyncio.run(go())
    open_cents, payments, problems = _booked(db)
    assert problems == [] and payments == [] and open_cents == [800, 450]  # nothing booked

    server = serve_process("--data", str(data), "--state", str(db), "--dialect", "wise")

    async def again():
        async with Sip2Client(settings_for(server.port)) as client:
            for _ in range(2):  # re-sent, and re-sent again after a lost 38
                answer = await client.pay_registration(R1, "5000201", "8.00", transaction_id="KIOSK1-77")
                assert answer.payment_accepted
        server.kill9()

    asyncio.run(again())
    open_cents, payments, problems = _booked(db)
    assert problems == [] and open_cents == [450]
    assert [p[:4] for p in payments] == [("KIOSK1-77", "5000201", "900002", 800)]  # booked exactly once
