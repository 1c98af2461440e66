"""Benchmark: the fleet link and the staff console (issue 15).

Real Mosquitto (TLS, password file, ACL; ``kiosk.fleet.broker.LocalBroker``),
``bibkiosk console`` as its own process, all on loopback.

1. ``entry_to_console_p95``: a door entry (``DoorService`` with ``sim://``
   devices, its ``#`` key pressed) until the console's page receives it on
   its live stream (``/events``, Server-Sent Events, what the page's script
   inserts as a row).  Target <= 300 ms.  Peer: a bare MQTT QoS 1 message from
   the door's account to the console's account (paho through the same broker).
2. ``sites_page_p95``: the console with 200 sites x 2 devices (states and some
   alarms in its store): ``GET /`` while logged in.  Target <= 300 ms.  Peer:
   ``GET /health`` of the same process (the framework's floor).
3. ``events_per_second``: 20,000 events queued in the journals of two doors
   (each its own process, as devices are other machines), sent by their fleet
   links, received by the console's link and stored in the console's store
   (SQLite), counted there: none lost, none doubled.  Target >= 1,000/s.
   Peer: the same number of QoS 1 messages between two bare aiomqtt clients
   in one process (no journal, no store).

Prints medians, p95 and ratios, then JSON lines (``{"bench": "console", "metric": ...}``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiosk.fleet.broker import LocalBroker, free_port  # noqa: E402
from kiosk.fleet.topics import mosquitto_acl  # noqa: E402

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "60"))
PAGE_LOADS = int(os.environ.get("BENCH_PAGES", "60"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
SITES = 200
PW = "bench console password"
CARD, PIN = "29548000001003", "860375"


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def console_config(tmp: Path, broker: LocalBroker, password: str, port: int, sites: int) -> Path:
    private(tmp / "broker.secret", password)
    private(tmp / "session.secret", secrets.token_urlsafe(32))
    lines = ["[console]", f"port = {port}", "secure_cookies = false", 'language = "en"', f'store = "{tmp / "console.sqlite"}"',
             'client_id = "bench-console"', "[broker]", 'host = "127.0.0.1"', f"port = {broker.port}", 'username = "console"',
             f'ca_file = "{broker.ca_file}"', "[secrets]", 'broker_password = { file = "broker.secret" }',
             'session_key = { file = "session.secret" }']
    for i in range(sites):
        lines += [f"[sites.s{i:03d}]", f'name = "Bibliotheek {i:03d}"']
    return private(tmp / "console.toml", "\n".join(lines) + "\n")


def console_connected(proc: subprocess.Popen, port: int, seconds: float = 30.0) -> bool:
    """Wait until the console process on ``port`` says on /health that it is connected to the
    broker: False if it exited or did not within ``seconds`` (also used by tests/fleet)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if b'"broker":true' in r.read():
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def start_console(config: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BIBKIOSK_CONSOLE_PASSWORD": PW}
    subprocess.run([sys.executable, "-m", "kiosk", "console", "--config", str(config), "user", "bench", "--role", "operator"],
                   env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "console", "--config", str(config)], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    if console_connected(proc, port):
        return proc
    proc.kill()
    raise SystemExit("console did not start: " + log.read_text()[-2000:])


async def login(client) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = await client.post("/login", data={"csrf": token, "username": "bench", "password": PW, "next": "/"})
    assert r.status_code in (200, 303), r.status_code


# ---------------------------------------------------------------- 1. entry -> console page

async def bench_entry(broker: LocalBroker, passwords: dict[str, str], port: int, tmp: Path) -> dict[str, float]:
    import aiomqtt
    import httpx

    from devices import sim
    from kiosk.config import parse_config
    from kiosk.identify import ScryptParams
    from kiosk.door.service import DoorService
    from kiosk.fleet.door import DoorFleet
    from kiosk.fleet.journal import FleetJournal
    from kiosk.fleet.link import FleetLink, LinkSettings
    from policy import Badge, CardState, PatronSnapshot, PinCheck, Subscription, SubscriptionStatus

    class Library:
        async def identify(self, card, pin=None):
            return PatronSnapshot(card_state=CardState.ACTIVE, badges=(Badge(name="Onbemande openingsuren"),),
                                  subscription=Subscription(type_code="A", status=SubscriptionStatus.NORMAL),
                                  pin=PinCheck.RIGHT if pin == PIN else PinCheck.WRONG, language="nl")

    days = {d: [{"kind": "unmanned", "from": "00:00", "until": "24:00"}]
            for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    cfg = parse_config({
        "state_dir": str(tmp / "door"), "library": {"kind": "embedded", "data": "demo"},
        "devices": {r: {"url": "sim://door-controller?name=bench"} for r in ("patron_reader", "pinpad", "lock", "door_contact")},
        "schedule": {"branches": {"default": days}},
        "door": {"fail_mode": "fail_secure", "reader_rate_limit_per_minute": 600},
        "secrets": {"pseudonym_key": {"value": "bench-door-key-0123456789abcdef"}},
    })
    svc = DoorService(cfg, library=Library(), tick_seconds=0.5, scrypt=ScryptParams(n=2**10, r=8, p=1))
    journal = FleetJournal(tmp / "door" / "fleet.sqlite")
    bridge = DoorFleet(svc)
    s = LinkSettings(host="127.0.0.1", port=broker.port, username="s000-door", password=passwords["s000-door"],
                     site="s000", device="door", ca_file=broker.ca_file)
    link = FleetLink(s, journal, on_command=bridge)
    bridge.attach(link)
    await svc.start()
    await link.start()
    await link.wait_connected()
    latencies: list[float] = []
    arrived: dict[str, float] = {}
    got = asyncio.Event()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await login(client)

        async def read_stream():
            async with client.stream("GET", "/events") as resp:
                kind = None
                async for line in resp.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "event":
                        ev = json.loads(line[6:])
                        if ev.get("type") == "entry":
                            arrived[ev["id"]] = time.perf_counter()
                            got.set()

        reader = asyncio.create_task(read_stream())
        await asyncio.sleep(0.5)
        for _ in range(ENTRIES):
            got.clear()
            n = len(arrived)
            sim.tap_card(CARD, name="bench")
            await svc.pin_asked(10)
            t0 = time.perf_counter()
            sim.press_keys(PIN + "#", name="bench")
            out = await svc.next_outcome(10)
            assert out.granted
            await asyncio.wait_for(got.wait(), 10)
            assert len(arrived) == n + 1
            latencies.append(max(arrived.values()) - t0)
            sim.open_door(name="bench")
            sim.close_door(name="bench")
            await asyncio.sleep(0.05)
        reader.cancel()
    await link.stop()
    await svc.stop()
    journal.close()

    # Peer: a bare QoS 1 message door account -> console account through the same broker.
    peer: list[float] = []
    ctx = s.tls_context()
    async with aiomqtt.Client("127.0.0.1", broker.port, username="console", password=passwords["console"], tls_context=ctx,
                              identifier="bench-peer-sub") as sub, \
            aiomqtt.Client("127.0.0.1", broker.port, username="s001-door", password=passwords["s001-door"], tls_context=ctx,
                           identifier="bench-peer-pub") as pub:
        await sub.subscribe("bibkiosk/v1/s001/door/event", qos=1)
        await asyncio.sleep(0.2)
        it = sub.messages.__aiter__()
        for _ in range(ENTRIES):
            t0 = time.perf_counter()
            await pub.publish("bibkiosk/v1/s001/door/event", b'{"id":"x","type":"ping"}', qos=1)
            await it.__anext__()
            peer.append(time.perf_counter() - t0)
    return {"p50": statistics.median(latencies), "p95": p95(latencies), "peer_p50": statistics.median(peer), "peer_p95": p95(peer)}


# ---------------------------------------------------------------- 2. sites page

async def bench_sites(port: int) -> dict[str, float]:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await login(client)
        page = await client.get("/")
        assert page.text.count('data-device="') >= 2 * SITES, page.text.count('data-device="')
        times, floor = [], []
        for _ in range(PAGE_LOADS):
            t0 = time.perf_counter()
            r = await client.get("/")
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200
            t0 = time.perf_counter()
            await client.get("/health")
            floor.append(time.perf_counter() - t0)
    return {"p50": statistics.median(times), "p95": p95(times), "peer_p50": statistics.median(floor), "peer_p95": p95(floor),
            "bytes": len(page.content)}


def fill_store(path: Path) -> None:
    from kiosk.console.store import ConsoleStore

    store = ConsoleStore(str(path))
    for i in range(SITES):
        site = f"s{i:03d}"
        for dev, kind in (("door", "door"), ("kiosk", "kiosk")):
            store.status(site, dev, i % 17 != 5)
            store.state(site, dev, {"kind": kind, "mode": "unmanned", "lock": "locked", "door": "closed", "library": "online",
                                    "queue": 0, "devices": {"reader": "up", "lock": "up"}, "occupancy": i % 9})
    store.add_events([{"id": f"alarm-{i}", "site": f"s{i:03d}", "device": "door", "type": "alarm", "result": "held_open",
                       "detail": "raised", "at": "2026-12-02T10:00:00+00:00"} for i in range(0, SITES, 20)])
    store.close()


# ---------------------------------------------------------------- 3. events per second

async def bench_events(broker: LocalBroker, passwords: dict[str, str], tmp: Path) -> dict[str, float]:
    import aiomqtt

    from kiosk.console.store import ConsoleStore
    from kiosk.fleet.console_link import ConsoleLink
    from kiosk.fleet.link import LinkSettings

    def settings(user: str, site: str = "s002", device: str = "door") -> LinkSettings:
        return LinkSettings(host="127.0.0.1", port=broker.port, username=user, password=passwords[user], site=site,
                            device=device, ca_file=broker.ca_file)

    store = ConsoleStore(str(tmp / "events.sqlite"))
    console = ConsoleLink(settings("console"), store, client_id="bench-events-console", batch=1000)
    await console.start()
    await console.wait_connected()
    await asyncio.sleep(0.3)
    # Two doors, each its own process (as in a fleet: the devices are other machines), each with
    # EVENTS/2 events already in its journal; the clock runs from their links' start to the last stored.
    children = []
    for n, user in enumerate(("s002-door", "s003-door")):
        children.append(subprocess.Popen(
            [sys.executable, __file__, "--device-child", str(broker.port), user, passwords[user], str(broker.ca_file),
             f"s00{2 + n}", str(EVENTS // 2), str(tmp / f"events-fleet-{n}.sqlite")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    ids: set[str] = set()
    for child in children:
        assert child.stdout.readline().strip() == "queued"
    t0 = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    deadline = time.monotonic() + 300
    total = 2 * (EVENTS // 2)
    while store.event_count() < total and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    for child in children:
        ids |= set(json.loads(child.stdout.readline()))
        child.wait(30)
    await asyncio.sleep(0.5)
    await console.drain()
    stored = store.event_count()
    assert stored == total, f"{stored} of {total} stored"
    rows = {r[0] for r in store.db.execute("SELECT id FROM events")}
    assert rows == ids, "lost or foreign events"
    await console.stop()
    store.close()

    # Peer: the same number of QoS 1 messages between two bare clients.
    ctx = settings("console").tls_context()
    payload = b'{"id":"x","type":"entry","result":"granted","card_ref":"card:0000000000000000"}'
    async with aiomqtt.Client("127.0.0.1", broker.port, username="console", password=passwords["console"], tls_context=ctx,
                              identifier="bench-peer-sub2") as sub, \
            aiomqtt.Client("127.0.0.1", broker.port, username="s004-door", password=passwords["s004-door"], tls_context=ctx,
                           identifier="bench-peer-pub2") as pub:
        pub.pending_calls_threshold = 10_000
        await sub.subscribe("bibkiosk/v1/s004/door/event", qos=1)
        await asyncio.sleep(0.2)
        received = 0

        async def count():
            nonlocal received
            async for _ in sub.messages:
                received += 1
                if received >= EVENTS:
                    return

        counter = asyncio.create_task(count())
        t1 = time.perf_counter()
        for start in range(0, EVENTS, 200):
            await asyncio.gather(*(pub.publish("bibkiosk/v1/s004/door/event", payload, qos=1)
                                   for _ in range(min(200, EVENTS - start))))
        await asyncio.wait_for(counter, 300)
        peer = time.perf_counter() - t1
    return {"rate": total / elapsed, "seconds": elapsed, "stored": stored, "peer_rate": EVENTS / peer}


async def device_child(port: str, user: str, password: str, ca: str, site: str, count: str, journal_path: str) -> None:
    from kiosk.fleet.journal import FleetJournal
    from kiosk.fleet.link import FleetLink, LinkSettings

    journal = FleetJournal(journal_path)
    link = FleetLink(LinkSettings(host="127.0.0.1", port=int(port), username=user, password=password, site=site, device="door",
                                  ca_file=Path(ca)), journal)
    ids = link.events([("entry", {"result": "granted", "card_ref": f"card:{i:016x}", "rules": []}) for i in range(int(count))])
    print("queued", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await link.start()
    await link.wait_drained(300)
    await link.stop()
    journal.close()
    print(json.dumps(ids), flush=True)


# ---------------------------------------------------------------- main

def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    users = ["console"] + [f"s{i:03d}-door" for i in range(5)]
    passwords = {u: secrets.token_urlsafe(12) for u in users}
    devices = [(f"s{i:03d}-door", f"s{i:03d}", "door") for i in range(5)]
    broker = LocalBroker(tmp / "broker", passwords, mosquitto_acl(devices, ["console"]))
    broker.start()
    port = free_port()
    config = console_config(tmp, broker, passwords["console"], port, SITES)
    fill_store(tmp / "console.sqlite")
    proc = start_console(config, port, tmp / "console.log")
    try:
        entry = asyncio.run(bench_entry(broker, passwords, port, tmp))
        sites = asyncio.run(bench_sites(port))
    finally:
        proc.terminate()
        proc.wait(10)
    try:
        events = asyncio.run(bench_events(broker, passwords, tmp))
    finally:
        broker.stop()

    print(f"door entry -> console live stream ({ENTRIES} entries, sim door, real broker, console process):")
    print(f"  p50 {entry['p50'] * 1000:.1f} ms  p95 {entry['p95'] * 1000:.1f} ms (target <= 300 ms)")
    print(f"  peer: bare MQTT QoS 1 door account -> console account: p50 {entry['peer_p50'] * 1000:.1f} ms  "
          f"p95 {entry['peer_p95'] * 1000:.1f} ms;  ratio p50 {entry['p50'] / entry['peer_p50']:.1f}x")
    print(f"sites page, {SITES} sites x 2 devices ({PAGE_LOADS} loads, {sites['bytes'] // 1024} KiB):")
    print(f"  p50 {sites['p50'] * 1000:.1f} ms  p95 {sites['p95'] * 1000:.1f} ms (target <= 300 ms)")
    print(f"  peer: GET /health p50 {sites['peer_p50'] * 1000:.1f} ms;  ratio p50 {sites['p50'] / sites['peer_p50']:.1f}x")
    print(f"events into the console store: {EVENTS} in {events['seconds']:.2f} s = {events['rate']:.0f}/s "
          f"(target >= 1000/s), stored {events['stored']} (none lost, none doubled)")
    print(f"  peer: bare QoS 1 client -> client {events['peer_rate']:.0f}/s;  ratio {events['rate'] / events['peer_rate']:.2f}x")
    for metric, value, unit, target in (
        ("entry_to_console_p95", entry["p95"] * 1000, "ms", 300),
        ("sites_page_p95", sites["p95"] * 1000, "ms", 300),
        ("events_per_second", events["rate"], "1/s", 1000),
    ):
        print(json.dumps({"bench": "console", "metric": metric, "value": round(value, 1), "unit": unit, "target": target}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--device-child"]:
        asyncio.run(device_child(*sys.argv[2:9]))
    else:
        main()
