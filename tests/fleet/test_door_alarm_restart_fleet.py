"""A door restarted while its alarm stands, on the fleet link (real Mosquitto, the
console's own link and store): the console's alarm stays the one alarm, open
through the restart (the restarted door's retained state has it from the
start), with one ``raised`` and one ``cleared`` event; the old door dropped it
from its state at the restart (the console closed the alarm) and raised it
anew at the next card (a second alarm, a second ``raised``)."""

from __future__ import annotations

import asyncio

import pytest

from devices import sim
from kiosk.config import load_config
from kiosk.console.store import ConsoleStore
from kiosk.door.service import DoorService
from kiosk.fleet.console_link import ConsoleLink
from kiosk.fleet.door import DoorFleet
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink
from kiosk.identify import StoreError
from tests.door.conftest import UNMANNED, Clock
from tests.door.test_service_sim import CARD, FAST, PIN, StaticLibrary, patron

from .conftest import CONSOLE, StoreSink, until
from .test_door_fleet import door_toml

pytestmark = pytest.mark.timeout(90)
STORE_ALARM = "patron_store_unwritable"


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def store_fails(svc: DoorService) -> None:
    def hold_attempt(card, now):
        raise StoreError("patron store patrons.sqlite: database or disk is full")

    svc.store.hold_attempt = hold_attempt  # type: ignore[method-assign]


async def test_a_door_restarted_while_its_store_alarm_stands_keeps_one_alarm_on_the_console(fleet, tmp_path):
    cfg_path = door_toml(tmp_path)
    clock, mono = Clock(UNMANNED), Mono()
    store = ConsoleStore(tmp_path / "console.sqlite")
    sink = StoreSink(store)
    console = ConsoleLink(fleet.settings(CONSOLE), sink, client_id="console-door-restart")
    journal = FleetJournal(tmp_path / "state-fleet.sqlite")

    async def door() -> tuple[DoorService, FleetLink]:
        svc = DoorService(load_config(cfg_path), library=StaticLibrary({CARD: (PIN, patron())}), clock=clock,
                          monotonic=mono, tick_seconds=0.05, scrypt=FAST)
        link = FleetLink(fleet.settings("b1-door"), journal)
        DoorFleet(svc, config_path=cfg_path).attach(link)
        await svc.start()
        await link.start()
        await link.wait_connected()
        return svc, link

    async def refused_e2(svc: DoorService) -> None:
        sim.tap_card(CARD, name="door")
        assert (await svc.next_outcome(5)).rules == ("E2",)
        await svc.settle()

    def console_alarms() -> list[dict]:
        return [a for a in store.alarms("b1", open_only=False) if a["device"] == "door" and a["kind"] == STORE_ALARM]

    def alarm_events() -> list[str]:
        return sorted(e["detail"] for e in store.events(site="b1", types=["alarm"]) if e["result"] == STORE_ALARM)

    await console.start()
    await console.wait_connected()
    try:
        svc, link = await door()
        try:
            store_fails(svc)
            await refused_e2(svc)
            await refused_e2(svc)
            await until(lambda: len(console_alarms()) == 1)
            await link.wait_drained()
        finally:
            await link.stop()
            await svc.stop()

        clock.advance(minutes=1)
        mono.t += 60
        seen = len(sink.states)
        svc, link = await door()
        try:
            # The restarted door's first retained state has the standing alarm.
            await until(lambda: len(sink.states) > seen and sink.states[-1].get("online"))
            assert STORE_ALARM in sink.states[-1]["alarms"]
            store_fails(svc)
            await refused_e2(svc)  # the store still cannot be written: the same alarm
            await link.wait_drained()
            await asyncio.sleep(0.3)
            await console.drain()
            (alarm,) = console_alarms()
            assert alarm["cleared"] is None
            assert alarm_events() == ["raised"]
            # Room again: cleared once, on the console too.
            del svc.store.hold_attempt
            mono.t += 31
            await until(lambda: console_alarms()[0]["cleared"] is not None)
            await link.wait_drained()
            await console.drain()
            assert len(console_alarms()) == 1 and alarm_events() == ["cleared", "raised"]
        finally:
            await link.stop()
            await svc.stop()
    finally:
        await console.stop()
        journal.close()
