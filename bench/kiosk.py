"""Benchmark: the kiosk.

1. Stack checkout: ten RFID-tagged items put on the (simulated) pad at once,
   from "items placed" to "all done" (every line borrowed: journal written
   before and after each transaction, SIP2 checkout to the embedded library
   system over loopback, security bit cleared).  Target < 250 ms.
   Peer, same run: the adapter alone doing the same ten checkouts
   (``LibrarySystem.checkout`` x 10 over the same SIP2 link: no flows, no
   journal, no devices).

2. Cold start: ``bibkiosk kiosk --config FILE`` (embedded library, sim
   devices, offscreen rendering) from process spawn to the first drawn
   frame.  Target < 1.5 s.  Peer, same run: a bare Kivy app (one Label)
   from spawn to its first frame, the same way.

3. Memory: resident set size of a kiosk process (Kivy UI offscreen on Mesa
   llvmpipe, flows, embedded library, journal) after 100 and 1,000 sessions
   (identify + PIN, borrow two items, receipt, return them, finish; every
   100th printed).  Target (issue 16): growth over the bare window <= 50 MB,
   flat from 100 to 1,000 (the slope, MB per 1,000 sessions).  Peer, same
   run: a bare Kivy window with one Label, same size, renderer and settings
   (no MSAA, the kiosk's heap setting).  ``BENCH_SESSIONS=N`` runs fewer.  Both VmRSS (shared libraries
   included: libLLVM alone is ~85 MB of file pages) and RssAnon (the
   process's own memory; llvmpipe keeps textures there, a GPU would not).

4. Patron steps (the UI rendered for real offscreen, the embedded library
   system over SIP2 on loopback as in the demo, sim devices): from the
   patron's action to the first drawn frame that shows the result, p95 over
   the runs, target < 300 ms each: card -> PIN screen, PIN -> menu,
   menu -> borrow screen, item placed -> its line shown, menu -> My account
   with 20 loans, item placed on the return screen -> its line shown, and a
   card tapped while the library system is down -> "limited service" shown.
   Peer, same run: the same step headless (the flows alone, no UI), so the
   ratio is what the UI costs.  One JSON line per step, ``step_<name>_p95``.

5. Paying (issue 14; the UI rendered offscreen, the embedded library system
   over SIP2, a simulated payment terminal ``sim://payment`` answering at
   once): a patron blocked by R2 taps "Pay € 60,00 now"; from the tap to
   the payment request sent to the terminal (``pay_tap_to_terminal_p95``),
   and from the terminal's approval to the first drawn frame of the borrow
   screen saying "you can borrow again" (``pay_approved_to_borrow_p95``:
   the result journalled, a 37 booked, the patron identified again, the
   account loaded).  Target <= 300 ms p95 each.  Peer, same run: the same
   steps headless (flows only).

Prints medians and ratios, then one JSON line per metric.
``--steps-only`` / ``--memory-only`` / ``--pay-only`` run one part;
``BENCH_SPEECH=1`` runs the patron steps with speech output on (``sim://tts``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 23, 12, 0).astimezone()
CARD = "29999000000010"
PIN = "1234"
BENCH_ITEMS = [f"31000000000{n:03d}" for n in range(1, 11)]
ENV = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy", "KIVY_NO_ARGS": "1",
       "KIVY_NO_CONSOLELOG": "1", "PYTHONPATH": str(ROOT)}
ROLES = {
    "patron_reader": ["sim://patron"],
    "item_reader": ["sim://rfid"],
    "scanner": ["sim://scanner"],
    "indicator": ["sim://indicator"],
    "printer": ["sim://printer"],
}


#: A patron with 20 loans (the "My account" step).
LOANS_CARD = "29999000000990"
LOAN_ITEMS = [f"32000000000{n:03d}" for n in range(1, 21)]


def bench_data(path: Path) -> Path:
    """The demo data plus ten RFID-tagged books for the stack, and a patron
    with 20 loans."""
    data = json.loads((ROOT / "kiosk/library/demo.json").read_text())
    for n, item in enumerate(BENCH_ITEMS, start=1):
        data["items"].append({"item_id": item, "rfid": f"E0041600000{n:05d}", "title": f"Bench book {n}",
                              "author": "", "item_type": "book", "parts": 1, "branch": None})
    patron = json.loads(json.dumps(data["patrons"][0]))
    patron.update(id="900990", name="Bench Twenty Loans", cards=[{"number": LOANS_CARD, "status": "active"}],
                  badges=[])
    data["patrons"].append(patron)
    for n, item in enumerate(LOAN_ITEMS, start=1):
        data["items"].append({"item_id": item, "rfid": None, "title": f"Bench loan {n} with a longer title",
                              "author": "", "item_type": "book", "parts": 1, "branch": None})
        data["loans"].append({"patron": "900990", "item": item, "due": f"2026-12-{n:02d}", "renewals": 0,
                              "checked_out": "2026-11-10"})
    path.write_text(json.dumps(data))
    return path


def rss_mb(field: str = "VmRSS") -> float:
    """VmRSS (all resident pages, shared libraries included) or RssAnon (the
    process's own heap, textures of the software renderer included), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------ 1. stack checkout


async def stack_checkout(rounds: int) -> tuple[list[float], list[float]]:
    from devices import sim
    from kiosk.adapter import EmbeddedLibrarySystem
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, LineStatus, State, Ui
    from kiosk.journal import Journal
    from kiosk.library.server import site_rules
    from policy import DEFAULT_PIN_REQUIRED

    ours: list[float] = []
    peer: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        library = EmbeddedLibrarySystem(bench_data(Path(tmp) / "data.json"), database=Path(tmp) / "lib.sqlite",
                                        clock=lambda: NOW)
        await library.start()
        journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"bench-key-0123456789")
        rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
        flows = KioskFlows(library, journal, DeviceHub(ROLES), FlowSettings(rules=rules), now=lambda: NOW)
        await flows.start(ticker=False)
        done = asyncio.Event()

        def watch(view) -> None:
            if sum(1 for ln in view.lines if ln.status is LineStatus.OK) == len(BENCH_ITEMS):
                done.set()

        flows.subscribe(watch)

        async def settle() -> None:
            for _ in range(3):
                for _ in range(10):
                    await asyncio.sleep(0)
                await flows.settle()

        async def reset() -> None:
            for item in BENCH_ITEMS:
                await library.checkin(item)

        tags = [sim.tag_for(item) for item in BENCH_ITEMS]
        try:
            for r in range(rounds + 2):
                sim.tap_card(CARD)
                await settle()
                for d in PIN:
                    flows.press(Ui.PIN_DIGIT, d)
                flows.press(Ui.PIN_ENTER)
                await settle()
                flows.press(Ui.BORROW)
                await settle()
                assert flows.state is State.BORROW, flows.state
                done.clear()
                t0 = time.perf_counter()
                sim.place_items(tags)
                await done.wait()
                elapsed = time.perf_counter() - t0
                assert not any(t.secured for t in sim.BUS.tags())
                flows.press(Ui.FINISH)
                await settle()
                flows.press(Ui.RECEIPT_NO)
                await settle()
                flows.press(Ui.OK)
                sim.remove_items()
                await settle()
                await reset()
                # Peer: the same ten checkouts through the adapter alone.
                t0 = time.perf_counter()
                for item in BENCH_ITEMS:
                    res = await library.checkout(CARD, item, pin=PIN)
                    assert res.ok, res
                peer_elapsed = time.perf_counter() - t0
                await reset()
                if r >= 2:  # two warm-up rounds
                    ours.append(elapsed)
                    peer.append(peer_elapsed)
        finally:
            await flows.close()
            journal.close()
            await library.close()
    return ours, peer


# ------------------------------------------------------------------ 2. cold start

BARE_KIVY = textwrap.dedent("""
    import os, sys, time
    t0 = time.perf_counter()
    from kivy.config import Config
    Config.set("graphics", "width", "1280"); Config.set("graphics", "height", "800")
    Config.set("graphics", "multisamples", os.environ.get("BARE_MULTISAMPLES", "2"))
    if os.environ.get("BARE_MAP_BLOCKS_FROM"):  # the kiosk's heap setting (kiosk.ui.runner.MAP_BLOCKS_FROM)
        import ctypes; ctypes.CDLL("libc.so.6").mallopt(-3, int(os.environ["BARE_MAP_BLOCKS_FROM"]))
    from kivy.app import App
    from kivy.uix.label import Label
    from kivy.core.window import Window
    class Bare(App):
        def load_kv(self, filename=None):
            return None
        def build(self):
            Window.bind(on_flip=self.flipped)
            return Label(text="hello")
        def flipped(self, *a):
            print("first frame", flush=True)
            self.stop()
    Bare().run()
""")


def spawn_to_first_frame(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("first frame"):
            elapsed = time.perf_counter() - t0
            break
    else:
        proc.wait()
        raise RuntimeError(f"no first frame: {proc.stderr.read() if proc.stderr else ''}")
    proc.communicate(timeout=60)
    return elapsed


def cold_start(runs: int) -> tuple[list[float], list[float]]:
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "kiosk.toml"
        cfg.write_text(textwrap.dedent(f"""
            state_dir = "{tmp}/state"
            [library]
            kind = "embedded"
            data = "demo"
            [devices.patron_reader]
            url = "sim://patron"
            [devices.item_reader]
            url = "sim://rfid"
            [devices.scanner]
            url = "sim://scanner"
            [devices.printer]
            url = "sim://printer"
            [kiosk]
            fullscreen = false
            sounds = false
            [secrets.pseudonym_key]
            env = "BENCH_PSEUDONYM_KEY"
        """))
        os.environ["BENCH_PSEUDONYM_KEY"] = "bench-pseudonym-key-0123456789"
        ENV["BENCH_PSEUDONYM_KEY"] = os.environ["BENCH_PSEUDONYM_KEY"]
        kiosk_cmd = [sys.executable, "-m", "kiosk", "kiosk", "--config", str(cfg), "--windowed",
                     "--exit-after-first-frame"]
        bare_cmd = [sys.executable, "-c", BARE_KIVY]
        spawn_to_first_frame(kiosk_cmd)  # warm the page cache once, both
        spawn_to_first_frame(bare_cmd)
        for _ in range(runs):
            ours.append(spawn_to_first_frame(kiosk_cmd))
            peer.append(spawn_to_first_frame(bare_cmd))
    return ours, peer


# ------------------------------------------------------------------ 3. memory (child process)


async def sessions_child(count: int, remote: bool = False) -> None:
    """Run the whole kiosk (UI offscreen) and *count* sessions; print RSS lines.

    *remote*: as on a site with Wise, the library system is another process
    (`bibkiosk library serve`) and the kiosk process holds only its SIP2
    client; otherwise the embedded library runs inside the kiosk process."""
    from kiosk.ui.runner import configure_kivy

    configure_kivy()
    from devices import sim
    from kiosk.adapter import EmbeddedLibrarySystem, Sip2LibrarySystem
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui
    from kiosk.journal import Journal
    from kiosk.library.server import site_rules
    from kiosk.library.store import Store
    from kiosk.library.datafile import load_data
    from kiosk.sip2.client import ClientSettings
    from kiosk.ui.runner import run_ui
    from policy import DEFAULT_PIN_REQUIRED

    with tempfile.TemporaryDirectory() as tmp:
        data_file = bench_data(Path(tmp) / "data.json")
        server = None
        if remote:
            server = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "library", "serve", "--data", str(data_file), "--port", "0",
                 "--encoding", "utf-8"],
                cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            library = Sip2LibrarySystem(ClientSettings(host="127.0.0.1", port=port, user="kiosk1", password="kiosk1",
                                                       location="9901", encoding="utf-8"))
            rules_store = Store.create(Path(tmp) / "rules.sqlite", load_data(data_file))
            rules = site_rules(rules_store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
            rules_store.close()
        else:
            library = EmbeddedLibrarySystem(data_file, database=Path(tmp) / "lib.sqlite", clock=lambda: NOW)
        await library.start()
        journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"bench-key-0123456789")
        if not remote:
            rules = site_rules(library.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
        flows = KioskFlows(library, journal, DeviceHub(ROLES), FlowSettings(rules=rules), now=lambda: NOW)

        async def settle() -> None:
            for _ in range(3):
                for _ in range(10):
                    await asyncio.sleep(0)
                await flows.settle()
            await asyncio.sleep(0.02)  # let Kivy draw

        async def scenario(app) -> None:
            import gc

            await asyncio.sleep(0.3)
            gc.collect()
            print(f"rss 0 {rss_mb():.1f} {rss_mb('RssAnon'):.1f}", flush=True)
            items = BENCH_ITEMS[:2]
            for n in range(1, count + 1):
                sim.tap_card(CARD)
                await settle()
                for d in PIN:
                    flows.press(Ui.PIN_DIGIT, d)
                flows.press(Ui.PIN_ENTER)
                await settle()
                flows.press(Ui.BORROW)
                await settle()
                sim.place_items(items)
                await settle()
                assert flows.state is State.BORROW
                flows.press(Ui.FINISH)
                await settle()
                flows.press(Ui.RECEIPT_YES)
                await settle()
                flows.press(Ui.OK)
                sim.remove_items()
                await settle()
                flows.press(Ui.RETURN)
                await settle()
                sim.place_items(items)
                await settle()
                flows.press(Ui.FINISH)
                await settle()
                flows.press(Ui.RECEIPT_NO)
                await settle()
                flows.press(Ui.OK)
                sim.remove_items()
                await settle()
                assert flows.state is State.IDLE, flows.state
                if n in (1, 5, 10, 25, 50, 75, 150) or n % 100 == 0 or n == count:
                    await asyncio.sleep(1.6)  # the kiosk trims its heap at rest (kiosk.ui.app.RELEASE_AFTER)
                    print(f"rss {n} {rss_mb():.1f} {rss_mb('RssAnon'):.1f}", flush=True)

        try:
            await run_ui(flows, sounds=False, scenario=scenario)
        finally:
            journal.close()
            await library.close()
            if server is not None:
                server.terminate()
                server.wait(timeout=15)


def memory(count: int, remote: bool = False) -> dict[int, tuple[float, float]]:
    child = ["--sessions-child-remote" if remote else "--sessions-child", str(count)]
    out = subprocess.run([sys.executable, __file__, *child], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=10 * count + 600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return {int(m.group(1)): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^rss (\d+) ([\d.]+) ([\d.]+)$", out.stdout, re.M)}


BARE_KIVY_RSS = BARE_KIVY.replace(
    'print("first frame", flush=True)',
    'import pathlib; st = pathlib.Path("/proc/self/status").read_text(); '
    'print("rss", *[l.split()[1] for l in st.splitlines() if l.startswith(("VmRSS:", "RssAnon:"))], flush=True)',
)


def bare_kivy_rss(multisamples: int = 0) -> tuple[float, float]:
    """A Kivy window with one Label: with the kiosk's settings (no MSAA, its
    heap setting) or, with *multisamples* 2, Kivy's defaults."""
    from kiosk.ui.runner import MAP_BLOCKS_FROM

    kiosk_heap = {"BARE_MAP_BLOCKS_FROM": str(MAP_BLOCKS_FROM)} if multisamples == 0 else {}
    out = subprocess.run([sys.executable, "-c", BARE_KIVY_RSS], cwd=ROOT,
                         env={**ENV, "BARE_MULTISAMPLES": str(multisamples), **kiosk_heap}, capture_output=True, text=True,
                         timeout=60)
    match = re.search(r"^rss (\d+) (\d+)$", out.stdout, re.M)
    if not match:
        raise RuntimeError(out.stderr[-2000:])
    return int(match.group(1)) / 1024, int(match.group(2)) / 1024


# ------------------------------------------------------------------ 4. patron steps (child process)

STEPS = ("card_to_pin", "pin_to_menu", "menu_to_borrow", "item_to_shown", "account_20_loans", "return_item",
         "card_library_down")


async def steps_child(runs: int, ui: bool) -> None:
    """Walk *runs* patrons through every step; print ``step NAME MS`` lines.

    With *ui* the kiosk UI runs offscreen and a step ends at the first drawn
    frame (``on_flip``) that shows its result; without, the step ends when
    the flows publish the view with the result (the headless peer)."""
    if ui:
        from kiosk.ui.runner import configure_kivy

        configure_kivy()
    from devices import sim
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, LineKind, LineStatus, State, Ui
    from kiosk.journal import Journal
    from kiosk.kiosk_cli import start_demo_library
    from kiosk.library.server import site_rules
    from policy import DEFAULT_PIN_REQUIRED

    with tempfile.TemporaryDirectory() as tmp:
        demo = await start_demo_library(Path(tmp) / "lib.sqlite", lambda: NOW,
                                        data=str(bench_data(Path(tmp) / "data.json")))
        library = demo.library
        journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"bench-key-0123456789")
        rules = site_rules(demo.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
        from kiosk.config import OfflineMode

        settings = FlowSettings(rules=rules, offline=OfflineMode.CHECKOUT)  # as in the demo
        # BENCH_SPEECH=1: the same walk with speech on (sim://tts), to show it adds nothing to a step
        speech = {"speech": ["sim://tts?name=bench-tts"]} if os.environ.get("BENCH_SPEECH") else {}
        flows = KioskFlows(library, journal, DeviceHub({**ROLES, **speech}), settings, now=lambda: NOW)
        app_box: list = []

        def shown(state: State, check=None):
            def pred() -> bool:
                view = flows.view
                if view.state is not state or view.busy is not None or (check and not check(view)):
                    return False
                if not app_box:
                    return True
                kroot = app_box[0].kroot
                return kroot.ids.sm.current == state.value and kroot._view.version == view.version
            return pred

        async def until(pred, timeout: float = 10.0) -> float:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[float] = loop.create_future()
            if not app_box:
                def changed(_view) -> None:
                    if not done.done() and pred():
                        done.set_result(time.perf_counter())
                flows.subscribe(changed)
                try:
                    changed(None)
                    return await asyncio.wait_for(done, timeout)
                finally:
                    flows._listeners.remove(changed)
            from kivy.clock import Clock
            from kivy.core.window import Window

            def flipped(*_a) -> None:
                if not done.done() and pred():
                    done.set_result(time.perf_counter())

            # a frame is drawn whenever the canvas changed; ask for one now and then
            # in case the result is already on screen
            poke = Clock.schedule_interval(lambda _dt: Window.canvas.ask_update(), 0.1)
            Window.bind(on_flip=flipped)
            Window.canvas.ask_update()
            try:
                return await asyncio.wait_for(done, timeout)
            finally:
                Window.unbind(on_flip=flipped)
                poke.cancel()

        async def settle(state: State) -> None:
            await until(shown(state))

        def line_done(kind: LineKind, item: str):
            return lambda v: any(ln.kind is kind and ln.item_id == item and ln.status is LineStatus.OK
                                 for ln in v.lines)

        async def step(name: str, action, pred) -> None:
            t0 = time.perf_counter()
            action()
            t1 = await until(pred)
            print(f"step {name} {(t1 - t0) * 1000:.2f}", flush=True)

        async def login(card: str, timed: bool) -> None:
            if timed:
                await step("card_to_pin", lambda: sim.tap_card(card), shown(State.PIN))
            else:
                sim.tap_card(card)
                await settle(State.PIN)
            for d in PIN:
                flows.press(Ui.PIN_DIGIT, d)
            if timed:
                await step("pin_to_menu", lambda: flows.press(Ui.PIN_ENTER), shown(State.MENU))
            else:
                flows.press(Ui.PIN_ENTER)
                await settle(State.MENU)

        async def end_session() -> None:
            flows.press(Ui.FINISH)
            await settle(State.RECEIPT)
            flows.press(Ui.RECEIPT_NO)
            await settle(State.SUMMARY)
            flows.press(Ui.OK)
            await settle(State.IDLE)

        async def walk() -> None:
            item = BENCH_ITEMS[0]
            tag = sim.tag_for(item)
            for _ in range(runs + 2):  # the first two warm up (not printed apart: the parent drops them)
                await login(CARD, timed=True)
                await step("menu_to_borrow", lambda: flows.press(Ui.BORROW), shown(State.BORROW))
                await step("item_to_shown", lambda: sim.place_items([tag]),
                           shown(State.BORROW, line_done(LineKind.BORROW, item)))
                await end_session()
                sim.remove_items()
                flows.press(Ui.RETURN)
                await settle(State.RETURN)
                await step("return_item", lambda: sim.place_items([tag]),
                           shown(State.RETURN, line_done(LineKind.RETURN, item)))
                await end_session()
                sim.remove_items()
                await login(LOANS_CARD, timed=False)
                await step("account_20_loans", lambda: flows.press(Ui.ACCOUNT),
                           shown(State.ACCOUNT, lambda v: len(v.loans) == len(LOAN_ITEMS)))
                flows.press(Ui.FINISH)
                await settle(State.SUMMARY)
                flows.press(Ui.OK)
                await settle(State.IDLE)
                await demo.link.set(False)
                await flows.probe()  # the watcher's probe between patrons: "limited service" shows at rest
                await until(lambda: bool(flows.view.notices) and shown(State.IDLE)())
                await step("card_library_down", lambda: sim.tap_card(CARD),
                           lambda: bool(flows.view.notices) and shown(State.PIN)())
                flows.press(Ui.CANCEL)
                await settle(State.IDLE)
                await demo.link.set(True)
                await flows.probe()
                await until(lambda: not flows.view.notices and shown(State.IDLE)())

        try:
            if ui:
                from kiosk.ui.runner import run_ui

                async def scenario(app) -> None:
                    app_box.append(app)
                    if speech:
                        sim.plug_headphones(name="bench-tts")  # on for every session, not only the first
                    await asyncio.sleep(0.3)
                    profile = os.environ.get("BENCH_PROFILE")  # a pyinstrument report of the walk
                    if profile:
                        from pyinstrument import Profiler

                        profiler = Profiler(async_mode="disabled")
                        profiler.start()
                    await walk()
                    if profile:
                        profiler.stop()
                        Path(profile).write_text(profiler.output_text(unicode=False, show_all=False))

                await run_ui(flows, sounds=False, scenario=scenario)
            else:
                await flows.start(ticker=False)
                try:
                    await walk()
                finally:
                    await flows.close()
        finally:
            journal.close()
            await demo.close()


def steps(runs: int, ui: bool) -> dict[str, list[float]]:
    out = subprocess.run([sys.executable, __file__, "--steps-child" if ui else "--steps-child-headless", str(runs)],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    found: dict[str, list[float]] = {}
    for m in re.finditer(r"^step (\w+) ([\d.]+)$", out.stdout, re.M):
        found.setdefault(m.group(1), []).append(float(m.group(2)))
    return {name: values[2:] for name, values in found.items()}  # drop the two warm-up runs


def p95(values: list[float]) -> float:
    import statistics  # in each function: the sessions child imports this module, and measures the kiosk only
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def steps_section(lines: list, runs: int = 30) -> None:
    import statistics
    ours, peer = steps(runs, ui=True), steps(runs, ui=False)
    for name in STEPS:
        o, h = p95(ours[name]), p95(peer[name])
        print(f"step {name}: p95 {o:.0f} ms (median {statistics.median(ours[name]):.0f}, max {max(ours[name]):.0f}) "
              f"with the UI; headless flows p95 {h:.1f} ms; ratio {o / h:.1f}  (target < 300 ms)")
        lines.append({"bench": "kiosk", "metric": f"step_{name}_p95", "value": round(o, 1), "unit": "ms",
                      "peer": f"the same step headless (flows, no UI), p95 {h:.1f} ms", "ratio": round(o / h, 2)})


# ------------------------------------------------------------------ main


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in ("--sessions-child", "--sessions-child-remote"):
        asyncio.run(sessions_child(int(sys.argv[2]), remote=sys.argv[1].endswith("remote")))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] in ("--steps-child", "--steps-child-headless"):
        asyncio.run(steps_child(int(sys.argv[2]), ui=sys.argv[1] == "--steps-child"))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] in ("--pay-child", "--pay-child-headless"):
        asyncio.run(pay_child(int(sys.argv[2]), ui=sys.argv[1] == "--pay-child"))
        return 0
    if sys.argv[1:] == ["--pay-only"]:
        sections = ("pay",)
    elif sys.argv[1:] == ["--memory-only"]:
        sections = ("memory",)
    elif sys.argv[1:] == ["--steps-only"]:
        sections = ("steps",)
    else:
        sections = ("stack", "cold", "steps", "memory", "pay")
    import logging

    logging.basicConfig(level=logging.ERROR)
    lines = []

    if "stack" in sections:
        stack_section(lines)
    if "cold" in sections:
        cold_section(lines)
    if "steps" in sections:
        steps_section(lines)
    if "memory" in sections:
        memory_section(lines)
    if "pay" in sections:
        pay_section(lines)
    for line in lines:
        print(json.dumps(line))
    return 0


def stack_section(lines: list) -> None:
    import statistics
    ours, peer = asyncio.run(stack_checkout(rounds=15))
    m, p = statistics.median(ours) * 1000, statistics.median(peer) * 1000
    print(f"stack checkout, 10 RFID items, placed -> all done: median {m:.1f} ms (max {max(ours) * 1000:.1f}), "
          f"adapter-only 10 checkouts {p:.1f} ms, ratio {m / p:.2f}  (target < 250 ms)")
    lines.append({"bench": "kiosk", "metric": "stack_checkout_10_items_median", "value": round(m, 1), "unit": "ms",
                  "peer": f"adapter-only 10 checkouts over the same SIP2 link: {p:.1f} ms", "ratio": round(m / p, 2)})


def cold_section(lines: list) -> None:
    import statistics
    ours, peer = cold_start(runs=5)
    m, p = statistics.median(ours), statistics.median(peer)
    print(f"cold start bibkiosk kiosk -> first frame: median {m:.2f} s, bare Kivy app {p:.2f} s, ratio {m / p:.2f}"
          "  (target < 1.5 s)")
    lines.append({"bench": "kiosk", "metric": "cold_start_to_first_frame_median", "value": round(m, 2), "unit": "s",
                  "peer": f"bare Kivy Label app, spawn to first frame: {p:.2f} s", "ratio": round(m / p, 2)})


#: Sessions in the memory run (issue 16: flat over 1,000); BENCH_SESSIONS overrides.
MEMORY_SESSIONS = int(os.environ.get("BENCH_SESSIONS", "1000"))
#: The growth over the bare window allowed (issue 16), MB.
GROWTH_TARGET_MB = 50.0


def memory_section(lines: list) -> None:
    count = MEMORY_SESSIONS
    rss = memory(count)
    bare_vm, bare_anon = bare_kivy_rss()
    default_vm, default_anon = bare_kivy_rss(multisamples=2)
    print(f"bare Kivy window, one Label, 1280x800, offscreen llvmpipe: {bare_vm:.1f} MB VmRSS / {bare_anon:.1f} MB "
          f"RssAnon with the kiosk's settings (no MSAA); {default_vm:.1f} / {default_anon:.1f} MB with Kivy's "
          "defaults (2x MSAA)")
    marks = sorted(rss)
    print("VmRSS / RssAnon by sessions: " + ", ".join(f"{n}: {rss[n][0]:.1f}/{rss[n][1]:.1f}" for n in marks))
    (r100, a100), (rn, an) = rss[100], rss[count]
    growth100, growthn = r100 - bare_vm, rn - bare_vm
    slope = (rn - r100) / (count - 100) * 1000 if count > 100 else 0.0
    print(f"VmRSS after 100 sessions {r100:.1f} MB (+{growth100:.1f} over the bare window), after {count} "
          f"{rn:.1f} MB (+{growthn:.1f}; target <= +{GROWTH_TARGET_MB:.0f}); slope 100->{count}: "
          f"{slope:+.1f} MB per 1,000 sessions")
    peer = (f"bare Kivy Label window 1280x800, offscreen Mesa llvmpipe, the kiosk's settings (no MSAA, "
            f"heap): {bare_vm:.1f} MB VmRSS, {bare_anon:.1f} MB RssAnon")
    lines.append({"bench": "kiosk", "metric": "bare_window_vmrss", "value": round(bare_vm, 1), "unit": "MB",
                  "peer": f"Kivy's defaults (2x MSAA): {default_vm:.1f} MB", "ratio": round(bare_vm / default_vm, 2)})
    lines.append({"bench": "kiosk", "metric": "vmrss_after_100_sessions", "value": round(r100, 1), "unit": "MB",
                  "peer": peer, "ratio": round(r100 / bare_vm, 2)})
    lines.append({"bench": "kiosk", "metric": f"vmrss_after_{count}_sessions", "value": round(rn, 1), "unit": "MB",
                  "peer": peer, "ratio": round(rn / bare_vm, 2)})
    lines.append({"bench": "kiosk", "metric": "vmrss_growth_over_bare_window_after_100_sessions",
                  "value": round(growth100, 1), "unit": "MB", "peer": peer, "ratio": None})
    lines.append({"bench": "kiosk", "metric": f"vmrss_growth_over_bare_window_after_{count}_sessions",
                  "value": round(growthn, 1), "unit": "MB", "peer": peer, "ratio": None})
    lines.append({"bench": "kiosk", "metric": f"vmrss_slope_sessions_100_to_{count}", "value": round(slope, 1),
                  "unit": "MB per 1,000 sessions", "peer": peer, "ratio": None})
    lines.append({"bench": "kiosk", "metric": f"rss_anon_after_{count}_sessions", "value": round(an, 1), "unit": "MB",
                  "peer": peer, "ratio": round(an / bare_anon, 2)})
    if os.environ.get("BENCH_MEMORY_REMOTE", "1") == "0":
        return
    # As on a site with Wise: the library system is not in the kiosk process.
    remote = memory(100, remote=True)
    (rb, _), (rr10, _), (rr100, ra100) = remote[0], remote[10], remote[100]
    print(f"library in its own process: VmRSS start {rb:.1f}, 10 {rr10:.1f}, 100 {rr100:.1f} MB, "
          f"RssAnon {ra100:.1f} MB (bare Kivy window {bare_vm:.1f} / {bare_anon:.1f} MB)")
    lines.append({"bench": "kiosk", "metric": "vmrss_after_100_sessions_library_in_own_process", "value": round(rr100, 1),
                  "unit": "MB", "peer": f"bare Kivy Label window: {bare_vm:.1f} MB", "ratio": round(rr100 / bare_vm, 2)})
    lines.append({"bench": "kiosk", "metric": "rss_anon_after_100_sessions_library_in_own_process",
                  "value": round(ra100, 1), "unit": "MB", "peer": f"bare Kivy Label window: {bare_anon:.1f} MB",
                  "ratio": round(ra100 / bare_anon, 2)})



# ------------------------------------------------------------------ paying (issue 14)

PAY_CARDS = [f"2999900008{n:04d}" for n in range(1, 61)]


def pay_data(path: Path) -> Path:
    """The demo data plus 60 patrons blocked by R2 (membership fee open), one per run."""
    data = json.loads((ROOT / "kiosk/library/demo.json").read_text())
    r2 = next(p for p in data["patrons"] if p["id"] == "900003")
    for n, card in enumerate(PAY_CARDS, 1):
        patron = json.loads(json.dumps(r2))
        patron["id"] = f"98{n:04d}"
        patron["name"] = f"Bench Betaler {n}"
        patron["cards"] = [{"number": card, "status": "active"}]
        patron["subscription"]["fee_adm_id"] = f"77{n:05d}"
        data["patrons"].append(patron)
    path.write_text(json.dumps(data))
    return path


async def pay_child(runs: int, ui: bool) -> None:
    """Walk *runs* R2 patrons through paying; print ``pay NAME MS`` lines (times on time.monotonic)."""
    if ui:
        from kiosk.ui.runner import configure_kivy

        configure_kivy()
    from devices import PaymentProgress, open_device, sim
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui
    from kiosk.journal import Journal
    from kiosk.kiosk_cli import start_demo_library
    from kiosk.library.server import site_rules
    from kiosk.payments import PaymentJournal, PaymentService
    from policy import DEFAULT_PIN_REQUIRED

    with tempfile.TemporaryDirectory() as tmp:
        demo = await start_demo_library(Path(tmp) / "lib.sqlite", lambda: NOW, data=str(pay_data(Path(tmp) / "data.json")))
        journal = Journal(Path(tmp) / "journal.sqlite", pseudonym_key=b"bench-key-0123456789")
        pay_journal = PaymentJournal(Path(tmp) / "payments.sqlite", pseudonym_key=b"bench-key-0123456789")
        terminal = open_device("sim://payment?name=bench-pay")
        await terminal.open()
        progress = terminal.events(PaymentProgress)
        rules = site_rules(demo.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
        flows = KioskFlows(demo.library, journal, DeviceHub(ROLES), FlowSettings(rules=rules), now=lambda: NOW,
                           payments=PaymentService(pay_journal, terminal, demo.library))
        app_box: list = []

        def shown(state: State, check=None):
            def pred() -> bool:
                view = flows.view
                if view.state is not state or view.busy is not None or (check and not check(view)):
                    return False
                if not app_box:
                    return True
                kroot = app_box[0].kroot
                return kroot.ids.sm.current == state.value and kroot._view.version == view.version
            return pred

        async def until(pred, timeout: float = 10.0) -> float:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[float] = loop.create_future()
            if not app_box:
                def changed(_view) -> None:
                    if not done.done() and pred():
                        done.set_result(time.monotonic())
                flows.subscribe(changed)
                try:
                    changed(None)
                    return await asyncio.wait_for(done, timeout)
                finally:
                    flows._listeners.remove(changed)
            from kivy.clock import Clock
            from kivy.core.window import Window

            def flipped(*_a) -> None:
                if not done.done() and pred():
                    done.set_result(time.monotonic())

            poke = Clock.schedule_interval(lambda _dt: Window.canvas.ask_update(), 0.1)
            Window.bind(on_flip=flipped)
            Window.canvas.ask_update()
            try:
                return await asyncio.wait_for(done, timeout)
            finally:
                Window.unbind(on_flip=flipped)
                poke.cancel()

        def paid(view) -> bool:
            return getattr(view.pay, "stage", "") == "done"

        async def walk() -> None:
            for card in PAY_CARDS[: runs + 2]:  # the first two warm up (the parent drops them)
                sim.tap_card(card)
                await until(shown(State.PIN))
                for d in PIN:
                    flows.press(Ui.PIN_DIGIT, d)
                flows.press(Ui.PIN_ENTER)
                await until(shown(State.MENU))
                flows.press(Ui.BORROW)
                await until(shown(State.PAY))
                while progress.get_nowait() is not None:
                    pass
                sim.script_payments(["approve"], name="bench-pay")
                t0 = time.monotonic()
                flows.press(Ui.PAY_START)
                sent = await progress.get(10)
                while sent.stage != "sent":
                    sent = await progress.get(10)
                done = await progress.get(10)
                while done.stage != "done":
                    done = await progress.get(10)
                t_borrow = await until(shown(State.BORROW, paid))
                print(f"pay tap_to_terminal {(sent.at - t0) * 1000:.2f}", flush=True)
                print(f"pay approved_to_borrow {(t_borrow - done.at) * 1000:.2f}", flush=True)
                flows.press(Ui.FINISH)
                await until(shown(State.SUMMARY))
                flows.press(Ui.OK)
                await until(shown(State.IDLE))

        try:
            if ui:
                from kiosk.ui.runner import run_ui

                async def scenario(app) -> None:
                    app_box.append(app)
                    await asyncio.sleep(0.3)
                    await walk()

                await run_ui(flows, sounds=False, scenario=scenario)
            else:
                await flows.start(ticker=False)
                try:
                    await walk()
                finally:
                    await flows.close()
        finally:
            progress.close()
            await terminal.close()
            pay_journal.close()
            journal.close()
            await demo.close()


def pay_steps(runs: int, ui: bool) -> dict[str, list[float]]:
    out = subprocess.run([sys.executable, __file__, "--pay-child" if ui else "--pay-child-headless", str(runs)],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    found: dict[str, list[float]] = {}
    for m in re.finditer(r"^pay (\w+) ([\d.]+)$", out.stdout, re.M):
        found.setdefault(m.group(1), []).append(float(m.group(2)))
    return {name: values[2:] for name, values in found.items()}


def pay_section(lines: list, runs: int = 40) -> None:
    import statistics
    ours, peer = pay_steps(runs, ui=True), pay_steps(runs, ui=False)
    for name in ("tap_to_terminal", "approved_to_borrow"):
        o, h = p95(ours[name]), p95(peer[name])
        print(f"pay {name}: p95 {o:.1f} ms (median {statistics.median(ours[name]):.1f}, max {max(ours[name]):.1f}) "
              f"with the UI; headless flows p95 {h:.1f} ms; ratio {o / h:.1f}  (target <= 300 ms)")
        lines.append({"bench": "kiosk", "metric": f"pay_{name}_p95", "value": round(o, 1), "unit": "ms",
                      "peer": f"the same step headless (flows, no UI), p95 {h:.1f} ms", "ratio": round(o / h, 2)})


if __name__ == "__main__":
    raise SystemExit(main())
