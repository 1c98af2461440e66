"""Benchmark: the embedded library system under kiosk load.

50 concurrent SIP2 clients (one connection each, logged in) loop for 10 s:
patron information (63), checkout (11), checkin (09) — three transactions
per round — against ``bibkiosk library serve`` running as a subprocess on
loopback (SQLite WAL, synchronous=FULL, every checkout and checkin
committed).  Reported: transactions per second and p50/p99 latency per
transaction (target on a 2-core machine: >= 1,000 tx/s, p99 < 50 ms).

Peer, same run, same clients and load: a PyPI ``pysip2`` server in a
subprocess whose handlers answer from Python dicts (no SQLite, no policy) —
what the same traffic costs on a minimal independent SIP2 server.

With roles and throttling on (the clients' account has the kiosk role, the
server's default limits), after the load: the login-guessing rate one
address gets (10 connections guessing at once for 3 s; target <= 10/s) and
the wrong PINs one patron gets before the right PIN is refused (default 10),
both for ours and the peer.

Environment: BENCH_LIBRARY_SECONDS (10), BENCH_LIBRARY_CLIENTS (50).
Prints a summary, then JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from kiosk.sip2.client import ClientSettings, Sip2Client  # noqa: E402

SECONDS = float(os.environ.get("BENCH_LIBRARY_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_LIBRARY_CLIENTS", "50"))
ITEMS_PER_CLIENT = 4
NB_DUE = datetime(2026, 12, 14, 23, 59, 59)


def card(i: int) -> str:
    return f"3999900000{i:04d}"


def item(i: int, j: int) -> str:
    return f"4000{i:05d}{j:05d}"


def data_file(path: Path) -> None:
    patrons = [
        {
            "id": f"B{i}",
            "name": f"Bench Klant {i}",
            "birth_date": "1980-01-01",
            "pin": "1234",
            "branch": "1",
            "cards": [{"number": card(i), "status": "active"}],
            "subscription": {"type": "53", "start": "2026-01-01", "end": "2099-12-31", "status": "normal", "fee_paid": True},
            "badges": ["Onbemande openingsuren"],
        }
        for i in range(CLIENTS)
    ]
    items = [{"id": item(i, j), "title": f"Boek {i}-{j}"} for i in range(CLIENTS) for j in range(ITEMS_PER_CLIENT)]
    data = {
        "institution": "BENCH",
        "branches": [{"id": "1", "name": "Bench"}],
        "subscription_types": [{"code": "53", "name": "Compleet", "fee": 60.0, "max_charges": 10.0}],
        "badges": [{"name": "Onbemande openingsuren", "active": True}],
        "patrons": patrons,
        "items": items,
        "server": {"accounts": [{"login": "bench", "password": "bench", "location": "1", "role": "kiosk"}]},
    }
    path.write_text(json.dumps(data))


PEER_SERVER = textwrap.dedent(
    """
    import sys, anyio, time
    import pysip2

    app = pysip2.SIP2Server(institution_id="BENCH")
    loans = {}

    def now():
        return time.strftime("%Y%m%d    %H%M%S")

    @app.route(pysip2.LOGIN)
    def login(req, ctx):
        return pysip2.LoginResponse(ok="1")

    @app.route(pysip2.PATRON_INFORMATION)
    def info(req, ctx):
        n = sum(1 for p in loans.values() if p == req.patron_identifier)
        return pysip2.PatronInformationResponse(
            patron_status=" " * 14, language="005", transaction_date=now(),
            hold_items_count="0000", overdue_items_count="0000", charged_items_count="%04d" % n,
            fine_items_count="0000", recall_items_count="0000", unavailable_holds_count="0000",
            institution_id="BENCH", patron_identifier=req.patron_identifier, personal_name="Bench",
            valid_patron="Y", valid_patron_password="Y" if req.patron_password else None,
            currency_type="EUR", fee_amount="0.00")

    @app.route(pysip2.CHECKOUT)
    def checkout(req, ctx):
        ok = req.item_identifier not in loans
        if ok:
            loans[req.item_identifier] = req.patron_identifier
        return pysip2.CheckoutResponse(
            ok="1" if ok else "0", renewal_ok="N", magnetic_media="N", desensitize="Y" if ok else "N",
            transaction_date=now(), institution_id="BENCH", patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier, title_identifier="Boek", due_date="20261214    235959",
            media_type="001")

    @app.route(pysip2.CHECKIN)
    def checkin(req, ctx):
        loans.pop(req.item_identifier, None)
        return pysip2.CheckinResponse(
            ok="1", resensitize="Y", magnetic_media="N", alert="N", transaction_date=now(),
            institution_id="BENCH", item_identifier=req.item_identifier, permanent_location="1",
            title_identifier="Boek")

    async def main():
        async with app.start("127.0.0.1", 0) as port:
            print(f"serving SIP2 on 127.0.0.1:{port}", flush=True)
            await anyio.sleep_forever()

    anyio.run(main)
    """
)


def start_ours(tmp: Path) -> subprocess.Popen:
    data = tmp / "bench.json"
    data_file(data)
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk", "library", "serve", "--data", str(data), "--port", "0",
         "--state", str(tmp / "bench.sqlite")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip


def start_peer() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PEER_SERVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )


def port_of(proc: subprocess.Popen) -> int:
    line = proc.stdout.readline()
    match = re.search(r"serving SIP2 on [\d.]+:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return int(match.group(1))


async def load(port: int, seconds: float) -> tuple[list[float], int, int]:
    """Run the clients; return (latencies in ms, transactions, refusals)."""
    latencies: list[float] = []
    refused = 0
    settings = ClientSettings(
        port=port, user="bench", password=SecretStr("bench"), institution="BENCH", location="1",
        keepalive_seconds=None, timeout=30,
    )  # fmt: skip
    clients = [Sip2Client(settings) for _ in range(CLIENTS)]
    await asyncio.gather(*(c.connect() for c in clients))
    start_at = time.perf_counter()
    deadline = start_at + seconds
    perf = time.perf_counter

    async def worker(i: int, client: Sip2Client) -> None:
        nonlocal refused
        j = 0
        while perf() < deadline:
            barcode = item(i, j % ITEMS_PER_CLIENT)
            j += 1
            t0 = perf()
            await client.patron_information(card(i), "1234")
            t1 = perf()
            # A filled-in nb due date: pysip2 refuses a blank one (ignored without no block).
            out = await client.checkout(card(i), barcode, "1234", nb_due_date=NB_DUE)
            t2 = perf()
            back = await client.checkin(barcode)
            t3 = perf()
            latencies.extend(((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000))
            refused += (not out.ok) + (not back.ok)

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - start_at
    await asyncio.gather(*(c.close() for c in clients))
    return latencies, int(len(latencies) / elapsed), refused


GUESS_SECONDS = 3.0


async def guessing(port: int) -> tuple[float, int | None]:
    """(login guesses per second from one address, wrong PINs before the
    right one is refused — None when it never is within 200 tries)."""
    from kiosk.sip2.codec import Sip2Codec
    from kiosk.sip2.messages import LoginRequest

    settings = ClientSettings(port=port, user="bench", password=SecretStr("bench"), institution="BENCH", location="1",
                              keepalive_seconds=None, timeout=30)
    pin_tries: int | None = None
    async with Sip2Client(settings) as client:
        for wrong in range(200):
            right = await client.patron_information(card(0), "1234")
            if right.valid_patron_password is not True:
                pin_tries = wrong
                break
            await client.patron_information(card(0), f"{wrong:04d}9")
    codec = Sip2Codec("cp850")
    tries = 0
    stop = time.perf_counter() + GUESS_SECONDS

    async def ask(reader, writer, msg, timeout):
        writer.write(codec.encode(msg, 0, error_detection=False))
        await writer.drain()
        return codec.decode(await asyncio.wait_for(reader.readuntil(b"\r"), timeout))

    async def guesser(k: int) -> None:
        nonlocal tries
        n = 0
        while time.perf_counter() < stop:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while time.perf_counter() < stop:
                    n += 1
                    await ask(reader, writer, LoginRequest(login_user_id="bench", login_password=f"x{k}-{n}"),
                              max(0.05, stop - time.perf_counter()))
                    tries += 1
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                pass
            finally:
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(guesser(k) for k in range(10)))
    rate = tries / (time.perf_counter() - started)

    return rate, pin_tries


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(server: subprocess.Popen) -> dict:
    try:
        port = port_of(server)
        latencies, tps, refused = asyncio.run(load(port, SECONDS))
        guess_rate, pin_tries = asyncio.run(guessing(port))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    return {
        "tps": tps,
        "p50": statistics.median(latencies),
        "p99": pct(latencies, 0.99),
        "n": len(latencies),
        "refused": refused,
        "guess_rate": guess_rate,
        "pin_tries": pin_tries,
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        ours = run(start_ours(Path(tmp)))
    peer = run(start_peer())
    print(f"clients {CLIENTS}, {SECONDS:.0f} s, 3 transactions per round (63, 11, 09); loopback, server in a subprocess")
    for name, r in (("bibkiosk library serve", ours), ("pysip2 in-memory peer", peer)):
        print(
            f"  {name:24} {r['tps']:6d} tx/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms"
            f"   ({r['n']} transactions, {r['refused']} refused)"
        )
    ratio = ours["tps"] / peer["tps"] if peer["tps"] else None
    print(f"  throughput ratio ours/peer: {ratio:.2f}" if ratio else "  no peer figure")
    for name, r in (("bibkiosk library serve", ours), ("pysip2 in-memory peer", peer)):
        tries = r["pin_tries"] if r["pin_tries"] is not None else "never locked in 200"
        print(f"  {name:24} login guesses {r['guess_rate']:8.1f}/s from one address   wrong PINs before lockout: {tries}")
    print(f"  target: <= 10 login guesses/s per address: {'met' if ours['guess_rate'] <= 10 else 'NOT met'}")
    print(f"  target: >= 1,000 tx/s and p99 < 50 ms: {'met' if ours['tps'] >= 1000 and ours['p99'] < 50 else 'NOT met'}")
    peer_name = "pysip2 in-memory server"
    lines = [
        {"bench": "library", "metric": "transactions_per_second", "value": ours["tps"], "unit": "tx/s",
         "peer": peer_name, "ratio": round(ratio, 3) if ratio else None},
        {"bench": "library", "metric": "latency_p50", "value": round(ours["p50"], 3), "unit": "ms",
         "peer": peer_name, "ratio": round(ours["p50"] / peer["p50"], 3) if peer["p50"] else None},
        {"bench": "library", "metric": "latency_p99", "value": round(ours["p99"], 3), "unit": "ms",
         "peer": peer_name, "ratio": round(ours["p99"] / peer["p99"], 3) if peer["p99"] else None},
        {"bench": "library", "metric": "login_guesses_per_second", "value": round(ours["guess_rate"], 2), "unit": "1/s",
         "peer": peer_name, "ratio": round(ours["guess_rate"] / peer["guess_rate"], 5) if peer["guess_rate"] else None},
        {"bench": "library", "metric": "pin_tries_before_lockout", "value": ours["pin_tries"], "unit": "tries",
         "peer": peer_name, "peer_value": peer["pin_tries"]},
    ]  # fmt: skip
    for line in lines:
        print(json.dumps(line))
    return 0 if ours["refused"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
