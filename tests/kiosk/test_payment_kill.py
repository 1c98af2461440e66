"""Exactly once, nothing lost: a kiosk process taking payments on the Adyen
driver (terminal emulator over HTTPS, in this process) and booking them is
killed with SIGKILL many times: at every step of paying and of recovering
(the named kill points of payment_worker.py, each at least twice, the kill
landing exactly there however loaded the machine is), and at random moments
just after them.  Afterwards no payment was charged twice, every payment the
terminal took is booked with the library (each line once, by its BK
transaction id) or reported refused, nothing charged is missing from the
journal, and no payment is left open."""

from __future__ import annotations

import os
import random
import sqlite3
import sys
from pathlib import Path

from kiosk.payments import PaymentJournal, PaymentState
from tests.devices.adyen_emulator import AdyenEmulator
from tests.kiosk.killpoints import kill_until_done
from tests.kiosk.payment_worker import CLASSES

ROOT = Path(__file__).resolve().parents[2]
COUNT = 80
QUOTA = 2


def test_payments_survive_kill_minus_nine(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    journal_path, ledger = tmp_path / "payments.sqlite", tmp_path / "ledger.sqlite"
    rng = random.Random(1414)
    with AdyenEmulator(tmp_path / "tls") as emu:
        emu.script(*rng.choices(["approve", "decline", "lose", "busy", "cancel"], [12, 2, 2, 1, 1], k=COUNT + 80))
        url = emu.local_url(status_interval="0.05")

        def worker(run: int) -> list[str]:
            return [sys.executable, str(Path(__file__).with_name("payment_worker.py")), str(journal_path), str(ledger),
                    url, str(COUNT), str(run)]

        kills = kill_until_done(worker, classes=CLASSES, quota=QUOTA, chance=0.035, stray=0.012, max_kills=50,
                                seed=1414, workdir=tmp_path, cwd=ROOT, env=env)
        charged = emu.approved()
    # Killed at every step of paying and of recovering, each at least QUOTA times, however slow the machine.
    short = {c: kills.kills[c] for c in CLASSES if kills.kills[c] < QUOTA}
    assert not short, f"too few kills at {short}: {kills}"
    assert kills.total >= 20, f"{kills}"

    with PaymentJournal(journal_path, pseudonym_key=b"payment-kill-test-key") as journal:
        records = {r.ref: r for r in journal.records()}
    assert len(records) >= COUNT
    assert all(n == 1 for n in charged.values()), "a payment was charged twice"
    assert set(charged) <= set(records), "a payment the terminal took is missing from the journal"
    db = sqlite3.connect(ledger)
    booked = {bk: cents for bk, _adm, cents in db.execute("SELECT bk, adm_id, cents FROM booked")}
    sends = db.execute("SELECT count(*) FROM sends").fetchone()[0]
    refused = 0
    for ref, record in records.items():
        assert record.state in (PaymentState.BOOKED, PaymentState.NOT_CHARGED, PaymentState.REFUSED), record
        assert record.card is None or record.state is PaymentState.REFUSED  # the card is erased once settled
        if ref in charged:
            assert record.state in (PaymentState.BOOKED, PaymentState.REFUSED), record
            assert record.terminal_ref
            for n, line in enumerate(record.lines):
                assert booked.get(f"{ref}.{n}") == line.amount_cents, f"{ref}.{n} not booked"
            refused += record.state is PaymentState.REFUSED
        else:
            assert record.state is PaymentState.NOT_CHARGED, record
            assert not any(bk.startswith(ref + ".") for bk in booked), "booked without being charged"
    assert refused <= 1
    print(f"{kills} payments={len(records)} charged={len(charged)} 37-sends={sends} booked-lines={len(booked)}")
