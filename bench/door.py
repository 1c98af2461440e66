"""Benchmark: the door's entry path, from the last PIN key to the strike command.

1,000 entries in unmanned hours through the whole DoorService path: the
``#`` key event from the PIN pad -> SIP2 patron information to the embedded
library system (``bibkiosk library serve``, a separate process, over
loopback TCP) -> policy.decide -> lockout store -> monitor -> the strike's
``release()`` returned (the command has left the controller).  The devices
are ``sim://`` (no OSDP poll interval: the issue's target excludes it).
Latency is measured by the service itself (``EntryOutcome.latency``: from the
key event's timestamp to the strike command sent).

Targets (issue 7): p99 under 20 ms (issue 11: under 10 ms); resident memory of the door service under
50 MB.  Peer, measured in the same run: the bare SIP2 ``identify`` round trip
to the same library system (what the door adds on top of asking the library).

Lock first (issue 11): ``start_to_locked`` is the time from starting
``bibkiosk door --config`` (a new process, as systemd does) to the lock frame
of every lock on the wire: an LCUS relay on a real pty, with the library
system *unreachable* (a listening socket that never answers, so the SIP2 login
waits its full ``library_timeout_seconds``).  Target under 1 s.  Beside it
``relock_seconds``: ``bibkiosk door relock --config`` from start to the lock
frame and to its exit.  Peer for both: the bare start of the interpreter with
the ``bibkiosk`` CLI imported (``python -c "import kiosk.cli"``).  Targets
(issue 11): p99 entry latency under 10 ms.

Prints medians and ratios, then JSON lines.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import pty
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices import sim  # noqa: E402
from kiosk.adapter import Sip2LibrarySystem, sip2_settings_from_config  # noqa: E402
from kiosk.config import parse_config  # noqa: E402
from kiosk.door.limits import RateLimiter  # noqa: E402
from kiosk.door.service import DoorService  # noqa: E402
from devices.relay import lcus_frame  # noqa: E402

N = int(os.environ.get("BENCH_DOOR_ENTRIES", "1000"))
STARTS = int(os.environ.get("BENCH_DOOR_STARTS", "7"))
WARMUP = 30
CARD, PIN = "29999000000010", "1234"  # "Demo Klant OK" in the demo data (docs/demo-data.md)
ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def start_library() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "library", "serve", "--demo", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the embedded library system did not start: {line!r}")
    return proc, int(match[1])


def config(state: Path, port: int):
    every_day = [{"kind": "unmanned", "from": "00:00", "until": "24:00"}]
    return parse_config({
        "state_dir": str(state),
        "library": {"kind": "sip2", "host": "127.0.0.1", "port": port, "user": "door1", "location": "9901",
                    "institution": "9999", "keepalive_seconds": 0},
        "devices": {role: {"url": "sim://door-controller?name=door"}
                    for role in ("patron_reader", "pinpad", "lock", "door_contact", "indicator")},
        "policy": {"min_entry_age": 16},
        "schedule": {"branches": {"default": {d: every_day for d in
                     ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}}},
        # A staff webhook as on a real door (never called here: no alarm fires).
        "door": {"fail_mode": "fail_secure", "webhooks": ["http://127.0.0.1:9/bibkiosk-alarms"]},
        "secrets": {"pseudonym_key": {"value": "bench-door-pseudonym-key"}, "sip2_password": {"value": "door1"}},
    })


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def one_entry(svc: DoorService) -> float:
    sim.tap_card(CARD, name="door")
    await svc.pin_asked(10)  # the PIN session is open (an explicit settle)
    sim.press_keys(PIN, name="door")
    sim.press_keys("#", name="door")
    out = await svc.next_outcome(10)
    if not out.granted or out.latency is None:
        raise SystemExit(f"entry not granted: {out.rules} {out.staff}")
    return out.latency


async def main() -> None:
    import tempfile

    logging.basicConfig(level=logging.WARNING)
    proc, port = start_library()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-door-") as tmp:
            cfg = config(Path(tmp), port)
            svc = DoorService(cfg, tick_seconds=1.0)
            await svc.start()
            svc.rate = RateLimiter(10**9)  # one bench reader, far above any real rate
            # The peer on its own connection, interleaved with the entries (one entry, one bare
            # identify): both see the same machine load and the same idle gaps between requests.
            peer = Sip2LibrarySystem(sip2_settings_from_config(cfg))
            await peer.start()
            try:
                for _ in range(WARMUP):
                    await one_entry(svc)
                    await peer.identify(CARD, PIN)
                gc.collect()
                latencies, peer_lat = [], []
                for _ in range(N):
                    latencies.append(await one_entry(svc))
                    t = time.perf_counter()
                    await peer.identify(CARD, PIN)
                    peer_lat.append(time.perf_counter() - t)
                rss, peak = rss_mb()
            finally:
                await peer.close()
                await svc.stop()
    finally:
        proc.terminate()
        proc.wait(10)

    ms = [x * 1000 for x in latencies]
    pms = [x * 1000 for x in peer_lat]
    p50, p99 = statistics.median(ms), pct(ms, 0.99)
    q50, q99 = statistics.median(pms), pct(pms, 0.99)
    print(f"door entry, last PIN key -> strike command ({N} entries, embedded library over loopback SIP2):")
    print(f"  p50 {p50:.2f} ms   p90 {pct(ms, 0.90):.2f} ms   p99 {p99:.2f} ms   max {max(ms):.2f} ms   (target p99 < 10 ms, issue 11)")
    print(f"peer: SIP2 identify round trip alone (interleaved with the entries): p50 {q50:.2f} ms   p99 {q99:.2f} ms")
    print(f"  ratio door/identify: p50 {p50 / q50:.2f}x   p99 {p99 / q99:.2f}x")
    print(f"resident memory of the door service process: {rss:.1f} MB (peak {peak:.1f} MB; target < 50 MB)")
    lines = [
        {"bench": "door", "metric": "entry_latency_p50", "value": round(p50, 3), "unit": "ms",
         "peer": "sip2_identify_p50", "ratio": round(p50 / q50, 3)},
        {"bench": "door", "metric": "entry_latency_p99", "value": round(p99, 3), "unit": "ms",
         "peer": "sip2_identify_p99", "ratio": round(p99 / q99, 3)},
        {"bench": "door", "metric": "rss", "value": round(rss, 1), "unit": "MB", "peer": None, "ratio": None},
        {"bench": "door", "metric": "rss_peak", "value": round(peak, 1), "unit": "MB", "peer": None, "ratio": None},
    ]
    for line in lines:
        print(json.dumps(line))


# --------------------------------------------------------------------------- lock first

START_CONFIG = """
state_dir = "state"
[library]
kind = "sip2"
host = "127.0.0.1"
port = {port}
user = "door1"
[devices.patron_reader]
url = "sim://door-controller?name=door"
[devices.pinpad]
url = "sim://door-controller?name=door"
[devices.lock]
url = "lcus://{relay}"
[schedule.branches.default]
{days}
[door]
fail_mode = "fail_secure"
library_timeout_seconds = 5
[secrets.pseudonym_key]
value = "bench-door-pseudonym-key"
[secrets.sip2_password]
value = "door1"
"""


def _wait_frame(master: int, frame: bytes, timeout: float = 30.0) -> float:
    """perf_counter() when *frame* has arrived on the pty master."""
    data = b""
    deadline = time.perf_counter() + timeout
    while frame not in data:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise SystemExit(f"no lock frame within {timeout} s (got {data.hex()})")
        ready, _, _ = select.select([master], [], [], left)
        if ready:
            data += os.read(master, 4096)
    return time.perf_counter()


def _drain(master: int) -> None:
    while select.select([master], [], [], 0.2)[0]:
        os.read(master, 4096)


def lock_first() -> dict[str, float]:
    """Medians over STARTS runs: start_to_locked, start_to_ready, relock_locked, relock_exit, peer."""
    locked = lcus_frame(1, False)
    mute = socket.socket()  # the library system "unreachable": accepts, never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)
    days = "\n".join(f'{d} = [{{ kind = "unmanned", from = "00:00", until = "24:00" }}]' for d in
                     ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    runs: dict[str, list[float]] = {k: [] for k in ("start_to_locked", "start_to_ready", "relock_locked", "relock_exit", "peer")}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-door-start-") as tmp:
        master, slave = pty.openpty()
        tty.setraw(slave)
        cfg = Path(tmp) / "door.toml"
        cfg.write_text(START_CONFIG.format(port=mute.getsockname()[1], relay=os.ttyname(slave), days=days))
        cfg.chmod(0o600)
        notify = Path(tmp) / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify))
        sock.settimeout(30)
        try:
            for _ in range(STARTS):
                _drain(master)
                t0 = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-m", "kiosk", "door", "--config", str(cfg)], cwd=tmp,
                                        env={**env, "NOTIFY_SOCKET": str(notify)},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                runs["start_to_locked"].append(_wait_frame(master, locked) - t0)
                while not sock.recv(4096).startswith(b"READY=1"):
                    pass
                runs["start_to_ready"].append(time.perf_counter() - t0)
                proc.kill()  # as a crash would
                proc.wait(10)
                _drain(master)
                t0 = time.perf_counter()
                proc = subprocess.Popen([sys.executable, "-m", "kiosk", "door", "relock", "--config", str(cfg)], cwd=tmp,
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                runs["relock_locked"].append(_wait_frame(master, locked) - t0)
                proc.wait(30)
                runs["relock_exit"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import kiosk.cli"], cwd=tmp, env=env, check=True)
                runs["peer"].append(time.perf_counter() - t0)
        finally:
            sock.close()
            os.close(master)
            os.close(slave)
            mute.close()
    return {k: statistics.median(v) for k, v in runs.items()}


def report_lock_first() -> None:
    r = lock_first()
    peer = r["peer"]
    print(f"lock first ({STARTS} starts, LCUS relay on a pty, library system unreachable, library_timeout_seconds = 5):")
    print(f"  start -> every lock locked: {r['start_to_locked']:.3f} s (target < 1 s)   start -> READY {r['start_to_ready']:.3f} s")
    print(f"  bibkiosk door relock: lock frame after {r['relock_locked']:.3f} s, exit after {r['relock_exit']:.3f} s")
    print(f"peer: python -c 'import kiosk.cli': {peer:.3f} s   ratio start_to_locked/peer {r['start_to_locked'] / peer:.2f}x")
    for metric, value in (("start_to_locked", r["start_to_locked"]), ("relock_seconds", r["relock_exit"]),
                          ("relock_to_locked", r["relock_locked"]), ("start_to_ready", r["start_to_ready"])):
        print(json.dumps({"bench": "door", "metric": metric, "value": round(value, 3), "unit": "s",
                          "peer": "python_import_kiosk_cli", "ratio": round(value / peer, 3)}))


if __name__ == "__main__":
    if "--lock-first-only" not in sys.argv:
        asyncio.run(main())
    report_lock_first()
