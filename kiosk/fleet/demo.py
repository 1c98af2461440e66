"""``bibkiosk demo``'s fleet: a local broker, a simulated door beside the kiosk, the console.

With Debian's ``mosquitto`` installed, :class:`DemoFleet` starts a broker on a
free loopback port (TLS, a password file and an ACL made for this run), a
door (``DoorService`` with ``sim://`` devices, configured like a real door:
SIP2 to the demo's library system, on the fleet link), puts the kiosk on the
link too, and serves the console on http://127.0.0.1:8080 with a demo staff
login printed at start.  A demo patron tries the door every few seconds so
the console has something to show.  Without mosquitto it says so and the
kiosk demo goes on alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("kiosk.fleet.demo")

#: Demo cards the simulated visitor presents (PIN 1234): granted, refused B1, refused R1, granted.
VISITORS = ("29999000000010", "29999000000150", "29999000000020", "29999000000111")
DEMO_PIN = "1234"
STAFF_USER = "demo"


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


class DemoFleet:
    def __init__(self, state: Path, demo_library: Any, flows: Any, *, console_port: int = 8080, visitor_every: float = 12.0) -> None:
        self.state = state
        self.demo = demo_library
        self.flows = flows
        self.console_port = console_port
        self.visitor_every = visitor_every
        self.broker: Any = None
        self.door: Any = None
        self.door_link: Any = None
        self.kiosk_link: Any = None
        self.reporter: Any = None
        self.journals: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.server: Any = None
        self.password = ""

    async def start(self) -> bool:
        from kiosk.fleet.broker import LocalBroker, mosquitto_path
        from kiosk.fleet.errors import FleetError
        from kiosk.fleet.topics import mosquitto_acl

        if mosquitto_path() is None:
            print("bibkiosk demo: mosquitto is not installed (Debian package mosquitto): no fleet link, no door "
                  "and no staff console in this demo; the kiosk runs on.", file=sys.stderr)
            return False
        users = {u: secrets.token_urlsafe(16) for u in ("console", "demo-door", "demo-kiosk")}
        try:
            self.broker = LocalBroker(self.state / "broker", users,
                                      mosquitto_acl([("demo-door", "demo", "door"), ("demo-kiosk", "demo", "kiosk")], ["console"]))
            await asyncio.to_thread(self.broker.start)
        except (FleetError, OSError) as exc:
            print(f"bibkiosk demo: the local broker did not start ({exc}); the kiosk runs on without it.", file=sys.stderr)
            self.broker = None
            return False
        await self._start_door(users["demo-door"])
        await self._start_kiosk_link(users["demo-kiosk"])
        await self._start_console(users["console"])
        return True

    def _settings(self, user: str, password: str, device: str, kind: str) -> Any:
        from kiosk.fleet.link import LinkSettings

        return LinkSettings(host="127.0.0.1", port=self.broker.port, username=user, password=password, site="demo",
                            device=device, kind=kind, ca_file=self.broker.ca_file, max_backoff=2.0)

    async def _start_door(self, password: str) -> None:
        from kiosk.config import load_config
        from kiosk.door.service import DoorService
        from kiosk.fleet.door import DoorFleet
        from kiosk.fleet.journal import FleetJournal
        from kiosk.fleet.link import FleetLink

        lib = self.demo.library.settings
        door_dir = self.state / "door"
        door_dir.mkdir(exist_ok=True)
        _private(door_dir / "sip2.secret", lib.password.get_secret_value())
        self.key = secrets.token_hex(32)
        _private(door_dir / "pseudonym.key", self.key)
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        schedule = []
        for day in days:
            schedule += [f"[[schedule.branches.default.{day}]]", 'kind = "unmanned"', 'from = "00:00"', 'until = "24:00"']
        self.door_config = _private(door_dir / "door.toml", "\n".join([
            f'state_dir = "{door_dir}"',
            "[library]", 'kind = "sip2"', f'host = "{lib.host}"', f"port = {lib.port}", f'user = "{lib.user}"',
            f'institution = "{lib.institution}"', f'location = "{lib.location}"', 'encoding = "utf-8"',
            "[devices.patron_reader]", 'url = "sim://door-controller?name=demo-door"',
            "[devices.pinpad]", 'url = "sim://door-controller?name=demo-door"',
            "[devices.lock]", 'url = "sim://door-controller?name=demo-door"',
            "[devices.door_contact]", 'url = "sim://door-controller?name=demo-door"',
            "[door]", 'fail_mode = "fail_secure"', 'language = "nl"', "pin_timeout_seconds = 10",
            "[secrets]", 'pseudonym_key = { file = "pseudonym.key" }', 'sip2_password = { file = "sip2.secret" }',
            "[schedule]", *schedule,
        ]) + "\n")
        cfg = load_config(self.door_config)
        self.door = DoorService(cfg)
        journal = FleetJournal(door_dir / "fleet-journal.sqlite")
        self.journals.append(journal)
        bridge = DoorFleet(self.door, config_path=self.door_config)
        self.door_link = FleetLink(self._settings("demo-door", password, "door", "door"), journal, on_command=bridge)
        bridge.attach(self.door_link)
        await self.door.start()
        await self.door_link.start()
        self.tasks.append(asyncio.create_task(self._visitor(), name="demo visitor"))

    async def _visitor(self) -> None:
        from devices import sim

        n = 0
        while True:
            await asyncio.sleep(self.visitor_every)
            card = VISITORS[n % len(VISITORS)]
            n += 1
            try:
                sim.tap_card(card, name="demo-door")
                await self.door.pin_asked(10)
                await asyncio.sleep(0.3)  # a person types
                sim.press_keys(DEMO_PIN + "#", name="demo-door")
                out = await self.door.next_outcome(15)
                if out.granted:
                    await asyncio.sleep(1.0)
                    sim.open_door(name="demo-door")
                    await asyncio.sleep(2.0)
                    sim.close_door(name="demo-door")
            except Exception:  # noqa: BLE001 - a demo nicety, never a reason to stop
                log.debug("demo visitor", exc_info=True)

    async def _start_kiosk_link(self, password: str) -> None:
        from kiosk.fleet.journal import FleetJournal
        from kiosk.fleet.kiosk import KioskReporter
        from kiosk.fleet.link import FleetLink

        journal = FleetJournal(self.state / "kiosk-fleet-journal.sqlite")
        self.journals.append(journal)
        self.reporter = KioskReporter(self.flows)
        self.kiosk_link = FleetLink(self._settings("demo-kiosk", password, "kiosk", "kiosk"), journal)
        self.reporter.link = self.kiosk_link
        await self.kiosk_link.start()
        await self.reporter.start()

    async def _start_console(self, password: str) -> None:
        import uvicorn

        from kiosk.console.app import create_app
        from kiosk.console.auth import add_staff
        from kiosk.console.config import parse_console_config
        from kiosk.console.store import ConsoleStore

        cdir = self.state / "console"
        cdir.mkdir(exist_ok=True)
        _private(cdir / "broker.secret", password)
        _private(cdir / "session.secret", secrets.token_urlsafe(32))
        _private(cdir / "demo.key", self.key)
        cfg = parse_console_config({
            "console": {"port": self.console_port, "secure_cookies": False, "store": str(cdir / "console.sqlite"),
                        "language": "nl", "client_id": "bibkiosk-demo-console"},
            "broker": {"host": "127.0.0.1", "port": self.broker.port, "username": "console", "ca_file": str(self.broker.ca_file)},
            "secrets": {"broker_password": {"file": str(cdir / "broker.secret")}, "session_key": {"file": str(cdir / "session.secret")}},
            "sites": {"demo": {"name": "Demo Centrum", "pseudonym_key": {"file": str(cdir / "demo.key")}}},
        })
        store = ConsoleStore(cfg.store_url())
        self.password = secrets.token_urlsafe(9)
        add_staff(store, STAFF_USER, self.password, "admin", "nl")
        app = create_app(cfg, store=store)

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # the demo's own loop keeps its signals
                yield

        import socket

        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", self.console_port))
            except OSError:
                print(f"bibkiosk demo: port {self.console_port} is in use: no staff console "
                      "(bibkiosk demo --console-port PORT)", file=sys.stderr)
                store.close()
                return
        self.server = _Server(uvicorn.Config(app, host="127.0.0.1", port=self.console_port, log_level="warning",
                                             access_log=False, lifespan="on"))

        async def serve() -> None:
            try:
                await self.server.serve()
            except (SystemExit, Exception):  # uvicorn exits on a bind error; the demo goes on
                log.warning("demo console stopped", exc_info=True)

        self.tasks.append(asyncio.create_task(serve(), name="demo console"))
        for _ in range(100):
            if self.server.started:
                break
            await asyncio.sleep(0.05)
        if not self.server.started:
            self.server.should_exit = True
            print(f"bibkiosk demo: the console could not listen on 127.0.0.1:{self.console_port} (in use?)", file=sys.stderr)
            return
        print(f"bibkiosk demo: staff console on http://127.0.0.1:{self.console_port}  login: {STAFF_USER} / {self.password}"
              f"  (a demo door beside the kiosk lets a demo patron try every {self.visitor_every:g} s)", file=sys.stderr)

    async def close(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        for task in self.tasks:
            if task.get_name() != "demo console":
                task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        if self.reporter is not None:
            await self.reporter.stop()
        for link in (self.kiosk_link, self.door_link):
            if link is not None:
                await link.stop()
        if self.door is not None:
            await self.door.stop()
        for journal in self.journals:
            journal.close()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
