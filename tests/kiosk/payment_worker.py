"""A kiosk process that takes payments on the Adyen driver (against the
terminal emulator of tests/devices/adyen_emulator.py, running in the test
process) and books them with a library ledger that honours BK transaction
ids, to be killed with SIGKILL at random moments by test_payment_kill.py.

Usage: payment_worker.py JOURNAL LEDGER TERMINAL_URL COUNT
Each run first recovers (status requests, re-bookings), then pays until the
journal holds COUNT payments; prints ``PAID <ref> <state>`` per payment and
``DONE`` when every payment is settled.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys

from devices import open_device
from kiosk.adapter.base import LibrarySystemUnavailable
from kiosk.payments import BookingAnswer, LineKind, PayLine, PaymentJournal, PaymentService, PaymentState

CARD = "29999000000010"
KEY = b"payment-kill-test-key"


def ledger_booker(path: str):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS booked (bk TEXT PRIMARY KEY, adm_id TEXT, cents INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS sends (bk TEXT)")
    rng = random.Random()

    async def book(card: str, line: PayLine, transaction_id: str) -> BookingAnswer:
        assert card == CARD
        if rng.random() < 0.1:
            raise LibrarySystemUnavailable("link dropped", outcome_unknown=True)
        db.execute("INSERT INTO sends VALUES (?)", (transaction_id,))
        db.execute("INSERT OR IGNORE INTO booked VALUES (?,?,?)", (transaction_id, line.adm_id, line.amount_cents))
        await asyncio.sleep(rng.uniform(0, 0.01))
        return BookingAnswer(line.adm_id != "refuse-me", None if line.adm_id != "refuse-me" else "not yours")

    return book


async def main(journal_path: str, ledger: str, url: str, count: int) -> None:
    journal = PaymentJournal(journal_path, pseudonym_key=KEY)
    terminal = open_device(url)
    alarms = []
    async with terminal:
        service = PaymentService(journal, terminal, booker=ledger_booker(ledger), alarm=alarms.append,
                                 terminal_timeout=5.0)
        await service.recover()
        rng = random.Random()
        while len(journal.records()) < count:
            n = len(journal.records())
            lines = [PayLine(rng.randint(1, 5000), LineKind.CHARGE, f"adm{n}-{k}", f"charge {k}") for k in range(rng.randint(1, 3))]
            if n == 3:
                lines.append(PayLine(100, LineKind.CHARGE, "refuse-me"))
            report = await service.pay(CARD, lines)
            print("PAID", report.record.ref, report.record.state.value, flush=True)
        for _ in range(50):
            report = await service.recover()
            if report.still_open == 0:
                break
            await asyncio.sleep(0.05)
    assert not journal.open_payments(), journal.open_payments()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
