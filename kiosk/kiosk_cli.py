"""``bibkiosk kiosk --config FILE`` (production) and ``bibkiosk demo``.

``kiosk`` runs the touch kiosk with the devices and the library system of a
machine configuration.  ``demo`` runs it with the embedded library system
and its demo data, simulated devices, and a simulator panel (F2 / F12) to
tap the demo cards and place the demo items; see docs/demo-data.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("kiosk.cli")

EXIT_OK, EXIT_ERROR = 0, 2
#: The demo data's dates are chosen around this day; the demo runs on it.
DEMO_DAY = date(2026, 11, 23)
DEMO_ROLES = {
    "patron_reader": ["sim://patron"],
    "item_reader": ["sim://rfid"],
    "scanner": ["sim://scanner"],
    "pinpad": ["sim://pinpad"],
    "indicator": ["sim://indicator"],
    "printer": ["sim://printer"],
}


#: The demo's simulated speech device: its headphone jack is the simulator panel's button.
DEMO_HEADPHONES = "speech"


def demo_speech_urls() -> list[str]:
    """The demo speaks through espeak-ng when it is installed (the "Speech" button), else sim://tts.
    The sim://tts is there in either case: the simulator panel plugs headphones into its jack
    (after espeak-ng, which has no jack here, it never speaks while espeak-ng works)."""
    import shutil

    sim_tts = f"sim://tts?name={DEMO_HEADPHONES}"
    return ["tts+espeak://", sim_tts] if shutil.which("espeak-ng") else [sim_tts]


def register(sub: argparse._SubParsersAction) -> None:
    k = sub.add_parser("kiosk", help="run the touch kiosk", description=__doc__)
    k.add_argument("--config", required=True, metavar="FILE", help="machine configuration (TOML)")
    _display_options(k)
    k.set_defaults(func=_run_kiosk)
    d = sub.add_parser("demo", help="run the kiosk on the embedded demo library with simulated devices",
                       description=__doc__)
    d.add_argument("--state-dir", metavar="DIR", help="keep the demo's state here (default: a fresh temporary folder)")
    d.add_argument("--language", choices=("nl", "fr", "en"), default="nl", help="language shown at rest")
    d.add_argument("--offline", choices=("off", "return_only", "checkout"), default="checkout",
                   help="what the kiosk does when the library system is down (try it from the simulator panel)")
    d.add_argument("--no-panel", action="store_true", help="start with the simulator panel hidden")
    d.add_argument("--fullscreen", action="store_true", help="full screen (default: a window)")
    d.add_argument("--console-port", type=int, default=8080, metavar="PORT",
                   help="the staff console's port on 127.0.0.1 (with a local broker, a demo door and the console)")
    d.add_argument("--no-fleet", action="store_true", help="the kiosk alone: no broker, demo door or console")
    _display_options(d, default_size="auto")
    d.set_defaults(func=_run_demo)


def _display_options(p: argparse.ArgumentParser, default_size: str = "1280x800") -> None:
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    p.add_argument("--size", default=default_size, metavar="WxH",
                   help=f"window size (default {default_size}"
                        + (": fits this screen, the layout scaled down when it is smaller)" if default_size == "auto" else ")"))
    p.add_argument("--exit-after-first-frame", action="store_true", help=argparse.SUPPRESS)


def _size(text: str) -> tuple[int, int] | None:
    """WxH, or None (with a message) when it is not a usable size."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        print(f"bibkiosk: error: --size expects WxH such as 1280x800, not {text[:20]!r}", file=sys.stderr)
        return None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        print("bibkiosk: error: --size out of range (320x240 .. 8000x8000)", file=sys.stderr)
        return None
    return w, h


#: The demo's layout: the kiosk's 1280x800 and the simulator panel beside it.
DEMO_LAYOUT = (1680, 800)


def fit_window(layout: tuple[int, int], desktop: tuple[int, int] | None, margin: tuple[int, int] = (40, 80)
               ) -> tuple[int, int, float]:
    """(width, height, density) of a window that shows *layout* (dp) on a
    *desktop* (pixels) leaving *margin* for the desktop's own bars: the
    layout scaled down when it does not fit, never up."""
    if desktop is None:
        return layout[0], layout[1], 1.0
    room_w, room_h = max(desktop[0] - margin[0], 320), max(desktop[1] - margin[1], 240)
    scale = min(1.0, room_w / layout[0], room_h / layout[1])
    return int(layout[0] * scale), int(layout[1] * scale), round(scale, 3)


def desktop_size() -> tuple[int, int] | None:
    """The main display's size in pixels (SDL, the library Kivy itself
    uses), or None when there is no display to ask (offscreen, console)."""
    if os.environ.get("SDL_VIDEODRIVER") in ("offscreen", "dummy") or not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return None
    import ctypes
    import glob
    import importlib.util

    try:
        spec = importlib.util.find_spec("kivy")  # (importing Kivy here would start its logging)
        site = os.path.dirname(os.path.dirname(spec.origin)) if spec and spec.origin else ""
        libs = glob.glob(os.path.join(site, "Kivy.libs", "libSDL2-2*.so*"))
        sdl = ctypes.CDLL(libs[0] if libs else "libSDL2-2.0.so.0")
    except (OSError, ImportError, ValueError):
        return None

    class Mode(ctypes.Structure):
        _fields_ = [("format", ctypes.c_uint32), ("w", ctypes.c_int), ("h", ctypes.c_int),
                    ("refresh_rate", ctypes.c_int), ("driverdata", ctypes.c_void_p)]

    video = 0x20  # SDL_INIT_VIDEO
    if sdl.SDL_InitSubSystem(video) != 0:
        return None
    try:
        mode = Mode()
        if sdl.SDL_GetDesktopDisplayMode(0, ctypes.byref(mode)) != 0 or mode.w <= 0:
            return None
        return mode.w, mode.h
    finally:
        sdl.SDL_QuitSubSystem(video)


def _warn_no_display() -> None:
    if sys.platform.startswith("linux") and not any(
        os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")
    ):
        print("bibkiosk: no DISPLAY or WAYLAND_DISPLAY; trying the console (kmsdrm). "
              "Headless: SDL_VIDEODRIVER=offscreen", file=sys.stderr)


async def _exit_after_first_frame(app: Any, started: float) -> None:
    from kiosk.ui.runner import first_frame

    at = await first_frame(app)
    print(f"first frame after {at - started:.3f} s", flush=True)


# ------------------------------------------------------------------ the demo's library system


class LinkSwitch:
    """A loopback TCP relay between the kiosk and a SIP2 server that can be
    switched off and on: the network cable of the demo (and of the tests of
    offline mode).  Off closes the listening socket and every relayed
    connection, so the kiosk sees exactly what a dead link looks like."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def up(self) -> bool:
        return self._server is not None

    async def start(self) -> int:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def set(self, up: bool) -> None:
        await (self.start() if up else self.stop())

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@dataclass
class DemoLibrary:
    """The embedded library system served on loopback, reached through a LinkSwitch."""

    library: Any  # kiosk.adapter.Sip2LibrarySystem
    server: Any  # kiosk.library.server.LibraryServer
    store: Any  # kiosk.library.store.Store
    link: LinkSwitch

    async def close(self) -> None:
        await self.library.close()
        await self.link.stop()
        await self.server.close()
        self.store.close()


async def start_demo_library(database: Path, clock: Any, data: str = "demo") -> DemoLibrary:
    """The embedded library system with *data* (state in *database*) on a free
    loopback port, and a SIP2 adapter that reaches it through a LinkSwitch."""
    from pydantic import SecretStr

    from kiosk.adapter import Sip2LibrarySystem
    from kiosk.library.datafile import Account, load_data
    from kiosk.library.server import LibraryServer
    from kiosk.library.store import Store
    from kiosk.sip2.client import ClientSettings

    store, _resumed = Store.open_or_create(database, load_data(data))
    password = secrets.token_urlsafe(16)
    account = Account(login="bibkiosk-demo", password=password, location="9901")
    server = LibraryServer(store, encoding="utf-8", clock=clock, extra_accounts=(account,))
    port = await server.start("127.0.0.1", 0)
    link = LinkSwitch("127.0.0.1", port)
    relay = await link.start()
    settings = ClientSettings(host="127.0.0.1", port=relay, user=account.login, password=SecretStr(password),
                              institution=store.institution, location="9901", encoding="utf-8",
                              keepalive_seconds=None, timeout=5)
    library = Sip2LibrarySystem(settings)
    return DemoLibrary(library, server, store, link)


# ------------------------------------------------------------------ kiosk


def _run_kiosk(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from kiosk.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for path, msg in exc.problems:
            print(f"{exc.source}: {path}: {msg}" if path else f"{exc.source}: {msg}", file=sys.stderr)
        return EXIT_ERROR
    try:
        key = config.secret("pseudonym_key")
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    if not key:
        print(f"{args.config}: secrets.pseudonym_key: required by the kiosk journal", file=sys.stderr)
        return EXIT_ERROR
    size = _size(args.size)
    if size is None:
        return EXIT_ERROR
    width, height = size
    _warn_no_display()

    from kiosk.adapter import LibrarySystemError, library_system_from_config
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows
    from kiosk.journal import Journal, JournalError

    try:
        journal = Journal(config.state_dir / "kiosk-journal.sqlite", pseudonym_key=key.encode())
    except (JournalError, OSError) as exc:
        print(f"bibkiosk kiosk: journal: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        library = library_system_from_config(config)
    except LibrarySystemError as exc:
        print(f"bibkiosk kiosk: library system: {exc}", file=sys.stderr)
        return EXIT_ERROR
    hub = DeviceHub.from_config(config.devices)
    flows = KioskFlows(library, journal, hub, FlowSettings.from_config(config))
    terminal_cfg = config.devices.payment_terminal

    from kiosk.ui.runner import configure_kivy

    configure_kivy(width=width, height=height, fullscreen=config.kiosk.fullscreen and not args.windowed,
                   log_level=logging.getLogger().getEffectiveLevel())

    async def main() -> None:
        from kiosk.ui.runner import run_ui

        scenario = (lambda app: _exit_after_first_frame(app, started)) if args.exit_after_first_frame else None
        payments = None
        if terminal_cfg is not None:
            from devices.errors import DeviceError
            from kiosk.payments import PaymentJournalError, PaymentRuntime

            try:
                payments = await PaymentRuntime.start(
                    terminal_cfg.url, config.state_dir, key.encode(), library, webhooks=config.payments.webhooks,
                    currency=config.payments.currency, terminal_timeout=config.payments.terminal_timeout_seconds,
                    alarm_after_minutes=config.payments.alarm_after_minutes)
                flows.payments = payments.service
            except (DeviceError, PaymentJournalError, OSError) as exc:
                # No payments (a clear log line); borrowing, returning and renewing go on.
                logging.getLogger("kiosk").error("payment terminal not available: %s", exc)
        from kiosk.fleet.kiosk import kiosk_extras  # [fleet] link and [metrics], when configured

        try:
            async with kiosk_extras(flows, config) as extras:
                from kiosk.staffcall import staff_caller  # [help] call_staff: the console link or webhooks

                flows.staff_caller = staff_caller(config, extras.link)
                try:
                    await run_ui(flows, sounds=config.kiosk.sounds, scenario=scenario)
                finally:
                    if flows.staff_caller is not None:
                        await flows.staff_caller.close()
        finally:
            if payments is not None:
                await payments.close()
            await library.close()

    try:
        asyncio.run(main())
    finally:
        journal.close()
    return EXIT_OK


# ------------------------------------------------------------------ demo


def _run_demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.size == "auto":
        # kiosk and simulator panel on this screen: scaled down when the screen is smaller
        width, height, density = fit_window(DEMO_LAYOUT, desktop_size())
        if density < 1.0:
            os.environ.setdefault("KIVY_METRICS_DENSITY", str(density))
    else:
        size = _size(args.size)
        if size is None:
            return EXIT_ERROR
        width, height = size
    _warn_no_display()
    from kiosk.config import OfflineMode
    from kiosk.ui.runner import configure_kivy

    configure_kivy(width=width, height=height, fullscreen=args.fullscreen and not args.windowed,
                   log_level=logging.getLogger().getEffectiveLevel())
    if args.state_dir:
        state = Path(args.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_demo(args, state, OfflineMode(args.offline), started))
    with tempfile.TemporaryDirectory(prefix="bibkiosk-demo-") as tmp:
        return asyncio.run(_demo(args, Path(tmp), OfflineMode(args.offline), started))


def demo_now() -> datetime:
    """The demo's clock: the demo day at the real time of day."""
    return datetime.combine(DEMO_DAY, datetime.now().time()).astimezone()


async def _demo(args: argparse.Namespace, state: Path, offline: Any, started: float) -> int:
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows
    from kiosk.journal import Journal
    from kiosk.library import LibraryError
    from kiosk.library.datafile import load_data
    from kiosk.library.server import site_rules
    from kiosk.ui.runner import run_ui
    from kiosk.ui.simpanel import SimPanel, demo_cards, demo_items
    from policy import DEFAULT_PIN_REQUIRED

    try:
        demo = await start_demo_library(state / "library.sqlite", demo_now)
    except (LibraryError, OSError) as exc:
        print(f"bibkiosk demo: embedded library system: {exc}", file=sys.stderr)
        return EXIT_ERROR
    library = demo.library
    key_file = state / "pseudonym.key"
    if not key_file.exists():
        from kiosk.files import private_file

        private_file(key_file, side_files=False).write_text(secrets.token_hex(32))
    journal = Journal(state / "kiosk-journal.sqlite", pseudonym_key=key_file.read_text().encode())
    rules = site_rules(demo.store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
    settings = FlowSettings(rules=rules, language=args.language, branch="Demo Centrum", offline=offline,
                            offline_item_limit=3,
                            branch_names={b.branch_id: b.name for b in load_data("demo").branches})
    from kiosk.payments import PaymentRuntime

    payments = await PaymentRuntime.start("sim://payment?name=payment", state, key_file.read_text().encode(), library)
    flows = KioskFlows(library, journal, DeviceHub({**DEMO_ROLES, "speech": demo_speech_urls()}), settings, now=demo_now, payments=payments.service)
    data = load_data("demo")

    def panel(kroot: Any) -> Any:
        p = SimPanel(kroot, cards=demo_cards(data), items=demo_items(data), library_switch=demo.link.set,
                     payment_terminal="payment", headphones=DEMO_HEADPHONES)
        if not args.no_panel:
            p.toggle()
        return p

    scenario = (lambda app: _exit_after_first_frame(app, started)) if args.exit_after_first_frame else None
    print("bibkiosk demo: every demo card's PIN is 1234; F2 or F12 shows/hides the simulator "
          "(cards and items: docs/demo-data.md)", file=sys.stderr)
    fleet = None
    if not getattr(args, "no_fleet", False):
        from kiosk.fleet.demo import DemoFleet  # broker, demo door, console (docs/console.md)

        fleet = DemoFleet(state, demo, flows, console_port=getattr(args, "console_port", 8080))
        # Beside the kiosk, not before it: the touch screen does not wait for the broker.
        fleet_start = asyncio.create_task(fleet.start())
    try:
        await run_ui(flows, sounds=True, panel_factory=panel, scenario=scenario)
    finally:
        if fleet is not None:
            with contextlib.suppress(Exception):
                await fleet_start
            await fleet.close()
        await payments.close()
        journal.close()
        await demo.close()
    return EXIT_OK
