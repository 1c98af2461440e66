"""A real Mosquitto per test module: TLS (certificates made now), a password
file and an ACL generated for this run, on a free loopback port."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kiosk.fleet.broker import LocalBroker, mosquitto_path
from kiosk.fleet.link import LinkSettings
from kiosk.fleet.topics import mosquitto_acl

if TYPE_CHECKING:
    from kiosk.console.store import ConsoleStore

#: (user, site, device) of the simulated fleet.
DEVICES = [("b1-door", "b1", "door"), ("b1-kiosk", "b1", "kiosk"), ("b2-door", "b2", "door")]
CONSOLE = "console"


@dataclass
class Fleet:
    broker: LocalBroker
    passwords: dict[str, str]

    def settings(self, user: str, **kw: Any) -> LinkSettings:
        site, device = next(((s, d) for u, s, d in DEVICES if u == user), ("-", "-"))
        base = dict(host="127.0.0.1", port=self.broker.port, username=user, password=self.passwords[user],
                    site=site, device=device, ca_file=self.broker.ca_file, max_backoff=0.5)
        base.update(kw)
        return LinkSettings(**base)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if mosquitto_path() is None:
        pytest.fail("mosquitto is not installed: make apt (Debian package mosquitto)")
    users = [CONSOLE] + [u for u, _, _ in DEVICES]
    passwords = {u: secrets.token_urlsafe(12) for u in users}
    acl = mosquitto_acl(DEVICES, [CONSOLE])
    broker = LocalBroker(tmp_path_factory.mktemp("broker"), passwords, acl)
    broker.start()
    yield Fleet(broker, passwords)
    broker.stop()


class MemorySink:
    """The console's store reduced to what the link tests check."""

    def __init__(self) -> None:
        self.events: dict[str, dict] = {}
        self.raw = 0
        self.statuses: list[tuple[str, str, bool]] = []
        self.states: dict[tuple[str, str], dict] = {}
        self.replies: list[dict] = []
        self.changed = asyncio.Event()

    def status(self, site, device, online):
        self.statuses.append((site, device, online))
        self.changed.set()

    def state(self, site, device, state):
        self.states[(site, device)] = state
        self.changed.set()

    def add_events(self, batch):
        new = []
        for ev in batch:
            self.raw += 1
            if ev["id"] not in self.events:
                self.events[ev["id"]] = ev
                new.append(ev)
        self.changed.set()
        return new

    def reply(self, site, device, body):
        self.replies.append(body)

    async def wait(self, pred, timeout: float = 10.0):
        async with asyncio.timeout(timeout):
            while not pred():
                self.changed.clear()
                try:
                    await asyncio.wait_for(self.changed.wait(), 0.2)
                except TimeoutError:
                    pass


class StoreSink:
    """The console's own store behind the console's link; keeps the states it was sent."""

    def __init__(self, store: ConsoleStore) -> None:
        self.store = store
        self.states: list[dict] = []

    def status(self, site, device, online):
        self.store.status(site, device, online)

    def state(self, site, device, state):
        self.states.append(state)
        self.store.state(site, device, state)

    def add_events(self, batch):
        return self.store.add_events(batch)


async def until(pred, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.05)


def b2_door_toml(tmp: Path, fleet: Fleet, *, device_url: str, roles: tuple[str, ...], door: list[str],
                 metrics: list[str], pseudonym_key: str) -> Path:
    """A ``bibkiosk door --config`` file for b2-door on the fleet's broker: the embedded demo
    library, every role on ``device_url``, unmanned around the clock; 0600 in ``tmp``."""
    secret = tmp / "fleet.secret"
    secret.write_text(fleet.passwords["b2-door"])
    secret.chmod(0o600)
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    lines = [f'state_dir = "{tmp / "state"}"', "[library]", 'kind = "embedded"', 'data = "demo"']
    for role in roles:
        lines += [f"[devices.{role}]", f'url = "{device_url}"']
    lines += ["[door]", 'fail_mode = "fail_secure"', *door,
              "[fleet]", 'broker = "127.0.0.1"', f"port = {fleet.broker.port}", f'ca_file = "{fleet.broker.ca_file}"',
              'username = "b2-door"', 'site = "b2"', 'device = "door"',
              *metrics,
              "[secrets]", f'pseudonym_key = {{ value = "{pseudonym_key}" }}', 'fleet_password = { file = "fleet.secret" }',
              "[schedule]"]
    for day in days:
        lines += [f"[[schedule.branches.default.{day}]]", 'kind = "unmanned"', 'from = "00:00"', 'until = "24:00"']
    path = tmp / "door.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path
