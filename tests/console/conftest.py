"""The whole fleet for the browser tests: a real Mosquitto (TLS, password file,
ACL), a simulated door (DoorService with sim:// devices on its own loop in a
thread, on the fleet link), and ``bibkiosk console`` as a child process,
driven with Selenium in Debian's headless Chromium."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kiosk.fleet.broker import LocalBroker, free_port, mosquitto_path
from kiosk.fleet.topics import mosquitto_acl

ROOT = Path(__file__).resolve().parents[2]
DOOR_KEY = "console-browser-door-key-0123456789"
CARD, PIN = "29548000001003", "860375"
NO_BADGE = "29999000000150"  # demo card: valid, no unmanned-hours badge (B1)
STAFF_PW = "console test password"
DEVICES = [("b1-door", "b1", "door"), ("b2-door", "b2", "door")]

SCHEDULE_LINES = []
for _day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"):
    SCHEDULE_LINES += [f"[[schedule.branches.default.{_day}]]", 'kind = "unmanned"', 'from = "00:00"', 'until = "24:00"']


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


class SimDoor:
    """A DoorService + fleet link on its own asyncio loop in a thread."""

    def __init__(self, tmp: Path, broker: LocalBroker, password: str) -> None:
        self.tmp = tmp
        self.config_path = _private(tmp / "door.toml", "\n".join([
            f'state_dir = "{tmp / "door-state"}"',
            "[library]", 'kind = "embedded"', 'data = "demo"',
            "[devices.patron_reader]", 'url = "sim://door-controller?name=cdoor"',
            "[devices.pinpad]", 'url = "sim://door-controller?name=cdoor"',
            "[devices.lock]", 'url = "sim://door-controller?name=cdoor"',
            "[devices.door_contact]", 'url = "sim://door-controller?name=cdoor"',
            "[door]", 'fail_mode = "fail_secure"', "pin_timeout_seconds = 5", "held_open_seconds = 30",
            "[secrets.pseudonym_key]", f'value = "{DOOR_KEY}"',
            "[schedule]", *SCHEDULE_LINES,
        ]) + "\n")
        self.broker = broker
        self.password = password
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sim door")
        self.svc = None
        self.link = None

    def call(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        from kiosk.config import load_config
        from kiosk.identify import ScryptParams
        from kiosk.door.service import DoorService
        from kiosk.fleet.door import DoorFleet
        from kiosk.fleet.journal import FleetJournal
        from kiosk.fleet.link import FleetLink, LinkSettings
        from tests.door.test_service_sim import StaticLibrary, patron

        cfg = load_config(self.config_path)
        self.svc = DoorService(cfg, library=StaticLibrary({CARD: (PIN, patron())}), tick_seconds=0.1,
                               scrypt=ScryptParams(n=2**10, r=8, p=1))
        self.journal = FleetJournal(self.tmp / "door-state" / "fleet.sqlite")
        bridge = DoorFleet(self.svc, config_path=self.config_path)
        self.link = FleetLink(LinkSettings(host="127.0.0.1", port=self.broker.port, username="b1-door", password=self.password,
                                           site="b1", device="door", ca_file=self.broker.ca_file, max_backoff=0.5),
                              self.journal, on_command=bridge)
        bridge.attach(self.link)
        await self.svc.start()
        await self.link.start()
        await self.link.wait_connected()

    async def _enter(self, card: str, pin: str | None):
        from devices import sim

        sim.tap_card(card, name="cdoor")
        if pin is not None:
            await self.svc.pin_asked(10)
            sim.press_keys(pin + "#", name="cdoor")
        return await self.svc.next_outcome(10)

    def enter(self, card: str = CARD, pin: str | None = PIN):
        return self.call(self._enter(card, pin))

    def stop(self) -> None:
        async def _stop():
            await self.link.stop()
            await self.svc.stop()
            self.journal.close()

        try:
            self.call(_stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


class ConsoleProcess:
    def __init__(self, tmp: Path, broker: LocalBroker, password: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        _private(tmp / "broker.secret", password)
        _private(tmp / "session.secret", secrets.token_urlsafe(32))
        _private(tmp / "b1.key", DOOR_KEY)
        self.config = _private(tmp / "console.toml", "\n".join([
            "[console]", f"port = {self.port}", "secure_cookies = false", 'language = "en"',
            f'store = "{tmp / "console.sqlite"}"', "lockout_attempts = 5", "command_timeout_seconds = 30",
            'client_id = "console-browser-test"',
            "[broker]", 'host = "127.0.0.1"', f"port = {broker.port}", 'username = "console"', f'ca_file = "{broker.ca_file}"',
            "[secrets]", 'broker_password = { file = "broker.secret" }', 'session_key = { file = "session.secret" }',
            "[sites.b1]", 'name = "Bibliotheek Centrum"', 'pseudonym_key = { file = "b1.key" }',
            "[sites.b1.schedule]", *[line.replace("schedule.", "sites.b1.schedule.") for line in SCHEDULE_LINES],
            "[sites.b2]", 'name = "Filiaal Noord"',
        ]) + "\n")
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "BIBKIOSK_CONSOLE_PASSWORD": STAFF_PW}
        for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
            subprocess.run([sys.executable, "-m", "kiosk", "console", "--config", str(self.config), "user", name, "--role", role,
                            "--language", "en"], env=self.env, check=True, capture_output=True, timeout=60)
        self.log = open(tmp / "console.log", "wb")
        self.proc = None

    def start(self) -> None:
        import urllib.request

        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", "console", "--config", str(self.config)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "console exited"
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if b'"broker":true' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("console did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="package")
def site(tmp_path_factory):
    if mosquitto_path() is None:
        pytest.fail("mosquitto is not installed (make apt)")
    tmp = tmp_path_factory.mktemp("console-fleet")
    passwords = {u: secrets.token_urlsafe(12) for u in ["console", *(d[0] for d in DEVICES)]}
    broker = LocalBroker(tmp / "broker", passwords, mosquitto_acl(DEVICES, ["console"]))
    broker.start()
    console = ConsoleProcess(tmp, broker, passwords["console"])
    console.start()
    door = SimDoor(tmp, broker, passwords["b1-door"])
    door.start()
    yield {"broker": broker, "console": console, "door": door, "tmp": tmp}
    door.stop()
    console.stop()
    broker.stop()


def chromium_paths() -> tuple[str, str]:
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return binary, driver


@pytest.fixture(scope="package")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium_paths()
    if not (os.path.exists(binary) and os.path.exists(driver)):
        pytest.fail("chromium and chromium-driver are not installed (make apt)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900", "--lang=en"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(options=opts, service=Service(driver))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


# ---------------------------------------------------------------- store backends

@pytest.fixture(scope="session")
def pg_cluster(request):
    """A throwaway PostgreSQL cluster (tests/pgserver.py), stopped by a finalizer."""
    from tests.pgserver import PgCluster, pg_bindir

    if pg_bindir() is None:
        pytest.fail("PostgreSQL is not installed (make apt: the postgresql package)")
    cluster = PgCluster()
    request.addfinalizer(cluster.stop)
    cluster.start()
    return cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The console store's URL, once per backend: SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "console.sqlite")
    return request.getfixturevalue("pg_cluster").new_database()
