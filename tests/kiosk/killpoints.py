"""Kill -9 at named points, not on a timer: the kill tests' two halves.

A worker process (journal_worker.py, replay_worker.py, payment_worker.py)
calls :func:`point` with a class name (``"pay.sent"``) at every step worth
dying at: just after a commit, or just after the other side (terminal,
library system) answered and before the answer is journaled.  The test runs
it again and again with :func:`kill_until_done`, which kills it with SIGKILL
at one such point per run until the worker gets through and prints ``DONE``.

Where to die is decided in the worker, from a plan the test hands it in the
environment (``KILL_PLAN``, JSON), so that a point costs no round trip:

* ``force``: classes not yet killed at often enough (``quota``): the worker
  stops at the first point of any of them;
* ``chance``: otherwise it stops at a point with this probability;
* ``stray``: otherwise, with this probability, it says ``STRAY`` and goes on,
  and the test kills it a random few milliseconds later, wherever it then is
  (inside a commit, an HTTP or SIP2 exchange...).  At most one per run.

To stop, the worker prints ``KILLPOINT <class>`` and blocks reading stdin; the
test kills it there, so the kill lands exactly at the point, however slow the
machine is.  The test then counts what matters (kills per class, each at least
``quota`` times) rather than how many timer kills happened to land.  Seeds
come from the test: the same machine state makes the same points.  Without a
plan (the last run, after ``max_kills``) the worker is never stopped.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PLAN_ENV = "KILL_PLAN"
STRAY = "stray"


# --- the worker's half ---------------------------------------------------------------------------


class _Points:
    def __init__(self) -> None:
        raw = os.environ.get(PLAN_ENV)
        plan = json.loads(raw) if raw else None
        self.armed = plan is not None
        plan = plan or {}
        self.rng = random.Random(plan.get("seed", 0))
        self.force = frozenset(plan.get("force", ()))
        self.chance = float(plan.get("chance", 0.0))
        self.stray = float(plan.get("stray", 0.0))

    def __call__(self, name: str) -> None:
        if not self.armed:
            return
        if name in self.force or self.rng.random() < self.chance:
            print("KILLPOINT", name, flush=True)
            sys.stdin.readline()  # the test kills us here
            os._exit(70)  # the test went away without killing: never carry on past a kill point
        if self.rng.random() < self.stray:
            self.armed = False  # one kill per run: after a stray, no kill point
            print("STRAY", name, flush=True)


_points: _Points | None = None


def point(name: str) -> None:
    """A place worth dying at (in a worker process): maybe stop here to be killed."""
    global _points
    if _points is None:
        _points = _Points()
    _points(name)


# --- the test's half -----------------------------------------------------------------------------


@dataclass
class KillReport:
    kills: collections.Counter[str] = field(default_factory=collections.Counter)  # class -> kills at that point
    strays: int = 0  # kills at a random moment just after a point
    runs: int = 0
    lines: list[str] = field(default_factory=list)  # every complete output line of every run, in order

    @property
    def total(self) -> int:
        return sum(self.kills.values()) + self.strays

    def __str__(self) -> str:
        per_class = " ".join(f"{name}={n}" for name, n in sorted(self.kills.items()))
        return f"runs={self.runs} kills={self.total} strays={self.strays} {per_class}"


def kill_until_done(
    command: Callable[[int], Sequence[str]],
    *,
    classes: Sequence[str],
    quota: int = 2,
    chance: float,
    stray: float = 0.0,
    stray_delay: float = 0.03,
    max_kills: int,
    seed: int,
    workdir: Path,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    run_timeout: float = 120.0,
) -> KillReport:
    """Run ``command(run_number)`` until it prints ``DONE``, killing it at one point per run.

    Every run ends with ``DONE`` (exit 0), or with SIGKILL from here at a
    ``KILLPOINT`` or after a ``STRAY``: anything else (a crash, a hang past
    *run_timeout*) fails the test with the worker's stderr.  After
    *max_kills* kills the worker runs without a plan, to the end.
    """
    rng = random.Random(seed)
    report = KillReport()
    known = set(classes)
    base_env = dict(os.environ if env is None else env)
    while True:
        run = report.runs
        report.runs += 1
        run_env = dict(base_env)
        run_env.pop(PLAN_ENV, None)
        if report.total < max_kills:
            run_env[PLAN_ENV] = json.dumps({
                "seed": rng.randrange(2**32), "force": sorted(c for c in classes if report.kills[c] < quota),
                "chance": chance, "stray": stray})
        err_path = workdir / f"worker-{run}.err"
        hung = threading.Event()
        with open(err_path, "w") as err:
            proc = subprocess.Popen(list(command(run)), cwd=cwd, env=run_env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True)
        watchdog = threading.Timer(run_timeout, lambda: (hung.set(), proc.kill()))
        watchdog.start()
        stopped_at: str | None = None
        run_lines: list[str] = []
        try:
            for line in proc.stdout:
                if not line.endswith("\n"):
                    break  # cut short by a kill
                word, _, rest = line[:-1].partition(" ")
                if word == "KILLPOINT":
                    assert rest in known, f"the worker stopped at an unknown kill point {rest!r}"
                    proc.send_signal(signal.SIGKILL)
                    stopped_at = rest
                    break
                if word == "STRAY":
                    time.sleep(rng.uniform(0, stray_delay))
                    proc.send_signal(signal.SIGKILL)
                    stopped_at = STRAY
                    break
                run_lines.append(line[:-1])
            tail = proc.stdout.read()  # what the worker still wrote before the kill landed
            run_lines += tail.split("\n")[:-1]  # the last piece may be cut by the kill
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        report.lines += run_lines
        stderr = err_path.read_text()[-3000:]
        assert not hung.is_set(), f"run {run}: the worker hung for {run_timeout} s\n{stderr}"
        if proc.returncode == 0 and "DONE" in run_lines:
            return report  # (a stray kill that came too late does not count)
        assert stopped_at is not None and proc.returncode == -signal.SIGKILL, (
            f"run {run}: the worker ended by itself (exit {proc.returncode}) without DONE\n{stderr}")
        if stopped_at == STRAY:
            report.strays += 1
        else:
            report.kills[stopped_at] += 1
