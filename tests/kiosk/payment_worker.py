"""A kiosk process that takes payments on the Adyen driver (against the
terminal emulator of tests/devices/adyen_emulator.py, running in the test
process) and books them with a library ledger that honours BK transaction
ids, to be killed with SIGKILL by test_payment_kill.py at the named points of
tests/kiosk/killpoints.py:

* ``pay.intent`` - the intent is committed, the terminal not asked yet;
* ``pay.answer`` - the terminal answered (payment or status request), nothing
  of it in the journal yet;
* ``pay.result`` - the terminal result is committed, nothing booked yet;
* ``pay.sent`` - a 37 reached the library (its ledger holds the line), its
  38 not yet in the journal;
* ``pay.booked`` - a line's 38 is committed (more lines may follow);
* ``recover.answer``, ``recover.result``, ``recover.sent``,
  ``recover.booked`` - the same steps while a restarted kiosk recovers.

Usage: payment_worker.py JOURNAL LEDGER TERMINAL_URL COUNT SEED
Each run first recovers (status requests, re-bookings), then pays until the
journal holds COUNT payments; prints ``PAID <ref> <state>`` per payment and
``DONE`` when every payment is settled.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
from typing import Any

from devices import open_device
from kiosk.adapter.base import LibrarySystemUnavailable
from kiosk.payments import BookingAnswer, LineKind, PayLine, PaymentJournal, PaymentService
from tests.kiosk.killpoints import point

CARD = "29999000000010"
KEY = b"payment-kill-test-key"
CLASSES = tuple(f"{phase}.{step}" for phase in ("pay", "recover") for step in ("intent", "answer", "result", "sent", "booked")
                if (phase, step) != ("recover", "intent"))
phase = "pay"  # or "recover": which half of the service is running


def step(name: str) -> None:
    point(f"{phase}.{name}")


class PointedJournal(PaymentJournal):
    """The payment journal, with a kill point after each of its commits."""

    def intent(self, *args: Any, **kwargs: Any):
        record = super().intent(*args, **kwargs)
        step("intent")
        return record

    def terminal_result(self, *args: Any, **kwargs: Any):
        record = super().terminal_result(*args, **kwargs)
        step("result")
        return record

    def booking_answer(self, *args: Any, **kwargs: Any):
        record = super().booking_answer(*args, **kwargs)
        step("booked")
        return record


class PointedTerminal:
    """The terminal driver, with a kill point after each of its answers."""

    def __init__(self, terminal: Any) -> None:
        self._terminal = terminal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal, name)

    async def pay(self, request):
        result = await self._terminal.pay(request)
        step("answer")
        return result

    async def payment_status(self, reference):
        result = await self._terminal.payment_status(reference)
        step("answer")
        return result


def ledger_booker(path: str, rng: random.Random):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS booked (bk TEXT PRIMARY KEY, adm_id TEXT, cents INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS sends (bk TEXT)")

    async def book(card: str, line: PayLine, transaction_id: str) -> BookingAnswer:
        assert card == CARD
        if rng.random() < 0.1:
            raise LibrarySystemUnavailable("link dropped", outcome_unknown=True)
        db.execute("INSERT INTO sends VALUES (?)", (transaction_id,))
        db.execute("INSERT OR IGNORE INTO booked VALUES (?,?,?)", (transaction_id, line.adm_id, line.amount_cents))
        step("sent")
        await asyncio.sleep(rng.uniform(0, 0.01))
        return BookingAnswer(line.adm_id != "refuse-me", None if line.adm_id != "refuse-me" else "not yours")

    return book


async def main(journal_path: str, ledger: str, url: str, count: int, seed: int) -> None:
    global phase
    rng = random.Random(seed)
    journal = PointedJournal(journal_path, pseudonym_key=KEY)
    terminal = open_device(url)
    alarms = []
    async with terminal:
        service = PaymentService(journal, PointedTerminal(terminal), booker=ledger_booker(ledger, rng),
                                 alarm=alarms.append, terminal_timeout=5.0)
        phase = "recover"
        await service.recover()
        while len(journal.records()) < count:
            n = len(journal.records())
            lines = [PayLine(rng.randint(1, 5000), LineKind.CHARGE, f"adm{n}-{k}", f"charge {k}") for k in range(rng.randint(1, 3))]
            if n == 3:
                lines.append(PayLine(100, LineKind.CHARGE, "refuse-me"))
            phase = "pay"
            report = await service.pay(CARD, lines)
            print("PAID", report.record.ref, report.record.state.value, flush=True)
        phase = "recover"
        for _ in range(50):
            report = await service.recover()
            if report.still_open == 0:
                break
            await asyncio.sleep(0.05)
    assert not journal.open_payments(), journal.open_payments()
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
