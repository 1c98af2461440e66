"""Exactly once over real SIP2: a kiosk process replaying its offline queue to
the embedded library system (`bibkiosk library serve`, another process) is
killed with SIGKILL many times: at every step of queueing, replaying and
recovering (the named kill points of replay_worker.py, each at least twice,
the kill landing exactly there however loaded the machine is) and at random
moments just after them.  Afterwards every queued checkout is a loan of the
patron, none was applied twice (a repeated checkout would be a renewal or a
refusal), and the journal is settled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from kiosk.journal import Journal, TxnState
from tests.kiosk.killpoints import kill_until_done
from tests.kiosk.replay_worker import CLASSES

ROOT = Path(__file__).resolve().parents[2]
CARD = "29999000000010"
PATRON = "900001"
ITEMS = [f"32000000000{n:03d}" for n in range(1, 201)]
QUOTA = 2


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
        kills = kill_until_done(lambda run: [*worker, str(run)], classes=CLASSES, quota=QUOTA, chance=0.03,
                                stray=0.008, max_kills=45, seed=4242, workdir=tmp_path, cwd=ROOT, env=env)
        acknowledged = [ln.split()[1] for ln in kills.lines if ln.startswith("REC ")]
        short = {c: kills.kills[c] for c in CLASSES if kills.kills[c] < QUOTA}
        assert not short, f"too few kills at {short}: {kills}"
        assert kills.total >= 20, f"{kills}"
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
    print(f"{kills} acknowledged={len(acknowledged)} recovered-ambiguous={recovered}")

    from kiosk.library.store import Store

    store = Store.open(state)
    try:
        loans = {loan.item_id: loan for loan in store.patron(PATRON).loans}
    finally:
        store.close()
    for item in ITEMS:
        assert item in loans, f"{item} lost"
        assert loans[item].renewals == 0, f"{item} applied twice"
