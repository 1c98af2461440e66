"""Exactly once over real SIP2: a kiosk process replaying its offline queue to
the embedded library system (`bibkiosk library serve`, another process) is
killed with SIGKILL at random moments, many times.  Afterwards every queued
checkout is a loan of the patron, none was applied twice (a repeated checkout
would be a renewal or a refusal), and the journal is settled."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from kiosk.journal import Journal, TxnState

ROOT = Path(__file__).resolve().parents[2]
CARD = "29999000000010"
PATRON = "900001"
ITEMS = [f"32000000000{n:03d}" for n in range(1, 201)]


def data_file(tmp_path: Path) -> Path:
    data = json.loads((ROOT / "kiosk/library/demo.json").read_text())
    for sub in data["subscription_types"]:
        sub["loan_limit"] = 1000
    for item in ITEMS:
        data["items"].append({"item_id": item, "rfid": None, "title": f"Kill test {item[-3:]}", "author": "",
                              "item_type": "book", "parts": 1, "branch": None})
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    return path


def test_replay_over_sip2_survives_kill_minus_nine(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    state = tmp_path / "library.sqlite"
    server = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "library", "serve", "--data", str(data_file(tmp_path)), "--port", "0",
         "--state", str(state)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r":(\d+)", line)
        assert match, (line, server.stderr.read() if server.poll() is not None else "")
        port = match.group(1)
        worker = [sys.executable, str(Path(__file__).with_name("replay_worker.py")), str(tmp_path / "journal.sqlite"),
                  port, CARD, ",".join(ITEMS)]
        rng = random.Random(4242)
        acknowledged: list[str] = []
        killed = 0
        finished = False
        for _ in range(60):
            proc = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            time.sleep(rng.uniform(0.2, 0.38))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            out, err = proc.communicate(timeout=60)
            complete = out.split("\n")[:-1]
            acknowledged += [ln.split()[1] for ln in complete if ln.startswith("REC ")]
            if "DONE" in complete:
                finished = True
                break
            assert proc.returncode == -signal.SIGKILL, err[-2000:]
        if not finished:
            out = subprocess.run(worker, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert out.returncode == 0 and "DONE" in out.stdout, out.stderr[-2000:]
            acknowledged += [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("REC ")]
        assert killed >= 20, f"only {killed} kills landed"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    with Journal(tmp_path / "journal.sqlite", pseudonym_key=b"replay-kill-test-key") as journal:
        entries = journal.entries()
    assert sorted(e.item_id for e in entries) == sorted(ITEMS), "lost or doubled in the journal"
    assert set(acknowledged) <= set(ITEMS)
    assert all(e.state is TxnState.REPLAYED for e in entries), [(e.item_id, e.state) for e in entries]
    recovered = sum(1 for e in entries if e.message == "applied before an interruption")
    print(f"kills={killed} acknowledged={len(acknowledged)} recovered-ambiguous={recovered}")

    from kiosk.library.store import Store

    store = Store.open(state)
    try:
        loans = {loan.item_id: loan for loan in store.patron(PATRON).loans}
    finally:
        store.close()
    for item in ITEMS:
        assert item in loans, f"{item} lost"
        assert loans[item].renewals == 0, f"{item} applied twice"
