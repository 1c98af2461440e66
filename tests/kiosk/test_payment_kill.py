"""Exactly once, nothing lost: a kiosk process taking payments on the Adyen
driver (terminal emulator over HTTPS, in this process) and booking them is
killed with SIGKILL at random moments, many times.  Afterwards no payment was
charged twice, every payment the terminal took is booked with the library
(each line once, by its BK transaction id) or reported refused, nothing
charged is missing from the journal, and no payment is left open."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kiosk.payments import PaymentJournal, PaymentState
from tests.devices.adyen_emulator import AdyenEmulator

ROOT = Path(__file__).resolve().parents[2]
COUNT = 80


def test_payments_survive_kill_minus_nine(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    journal_path, ledger = tmp_path / "payments.sqlite", tmp_path / "ledger.sqlite"
    rng = random.Random(1414)
    with AdyenEmulator(tmp_path / "tls") as emu:
        emu.script(*rng.choices(["approve", "decline", "lose", "busy", "cancel"], [12, 2, 2, 1, 1], k=COUNT + 80))
        worker = [sys.executable, str(Path(__file__).with_name("payment_worker.py")), str(journal_path), str(ledger),
                  emu.local_url(status_interval="0.05"), str(COUNT)]
        killed, finished = 0, False
        for _ in range(60):
            proc = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.5, 1.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            out, err = proc.communicate(timeout=60)
            if "DONE" in out.split("\n"):
                finished = True
                break
            assert proc.returncode == -signal.SIGKILL, err[-2000:]
            if killed >= 25:
                break
        if not finished:
            out = subprocess.run(worker, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0 and "DONE" in out.stdout, out.stderr[-2000:]
        charged = emu.approved()
    assert killed >= 20, f"only {killed} kills landed"

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
    print(f"kills={killed} payments={len(records)} charged={len(charged)} 37-sends={sends} booked-lines={len(booked)}")
