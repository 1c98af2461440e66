"""Benchmark: the door's entry path, from the last PIN key to the strike command.

1,000 entries in unmanned hours through the whole DoorService path: the
``#`` key event from the PIN pad -> SIP2 patron information to the embedded
library system (``bibkiosk library serve``, a separate process, over
loopback TCP) -> policy.decide -> lockout store -> monitor -> the strike's
``release()`` returned (the command has left the controller).  The devices
are ``sim://`` (no OSDP poll interval: the issue's target excludes it).
Latency is measured by the service itself (``EntryOutcome.latency``: from the
key event's timestamp to the strike command sent).

Targets (issue 7): p99 under 20 ms; resident memory of the door service under
50 MB.  Peer, measured in the same run: the bare SIP2 ``identify`` round trip
to the same library system (what the door adds on top of asking the library).

Prints medians and ratios, then JSON lines.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices import sim  # noqa: E402
from kiosk.adapter import Sip2LibrarySystem, sip2_settings_from_config  # noqa: E402
from kiosk.config import parse_config  # noqa: E402
from kiosk.door.limits import RateLimiter  # noqa: E402
from kiosk.door.service import DoorService  # noqa: E402

N = int(os.environ.get("BENCH_DOOR_ENTRIES", "1000"))
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
    for _ in range(200):  # the PIN session is open
        if svc._session is not None:
            break
        await asyncio.sleep(0)
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
            try:
                for _ in range(WARMUP):
                    await one_entry(svc)
                gc.collect()
                latencies = [await one_entry(svc) for _ in range(N)]
                rss, peak = rss_mb()
            finally:
                await svc.stop()
            peer = Sip2LibrarySystem(sip2_settings_from_config(cfg))
            await peer.start()
            try:
                for _ in range(WARMUP):
                    await peer.identify(CARD, PIN)
                peer_lat = []
                for _ in range(N):
                    t = time.perf_counter()
                    await peer.identify(CARD, PIN)
                    peer_lat.append(time.perf_counter() - t)
            finally:
                await peer.close()
    finally:
        proc.terminate()
        proc.wait(10)

    ms = [x * 1000 for x in latencies]
    pms = [x * 1000 for x in peer_lat]
    p50, p99 = statistics.median(ms), pct(ms, 0.99)
    q50, q99 = statistics.median(pms), pct(pms, 0.99)
    print(f"door entry, last PIN key -> strike command ({N} entries, embedded library over loopback SIP2):")
    print(f"  p50 {p50:.2f} ms   p90 {pct(ms, 0.90):.2f} ms   p99 {p99:.2f} ms   max {max(ms):.2f} ms   (target p99 < 20 ms)")
    print(f"peer: SIP2 identify round trip alone: p50 {q50:.2f} ms   p99 {q99:.2f} ms")
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


if __name__ == "__main__":
    asyncio.run(main())
