"""Test harness: the flows with sim:// devices, a controllable idle clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from devices import sim
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui
from kiosk.journal import Journal

SIM_ROLES = {
    "patron_reader": ["sim://patron"],
    "item_reader": ["sim://rfid"],
    "scanner": ["sim://scanner"],
    "pinpad": ["sim://pinpad"],
    "indicator": ["sim://indicator"],
    "printer": ["sim://printer"],
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Harness:
    flows: KioskFlows
    journal: Journal
    clock: Clock
    cues: list

    @property
    def view(self):
        return self.flows.view

    @property
    def state(self) -> State:
        return self.flows.state

    async def settle(self) -> None:
        for _ in range(3):
            for _ in range(10):
                await asyncio.sleep(0)
            await self.flows.settle()

    async def press(self, action: Ui, arg: str | None = None) -> None:
        self.flows.press(action, arg)
        await self.settle()

    async def tap(self, card: str) -> None:
        sim.tap_card(card)
        await self.settle()

    async def pin(self, digits: str) -> None:
        for d in digits:
            self.flows.press(Ui.PIN_DIGIT, d)
        await self.press(Ui.PIN_ENTER)

    async def scan(self, code: str) -> None:
        sim.scan(code)
        await self.settle()

    async def place(self, items) -> list:
        tags = sim.place_items(items)
        await self.settle()
        return tags

    async def remove(self, uids=None) -> None:
        sim.remove_items(uids)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        await self.flows.tick()
        await self.settle()

    def texts(self) -> list[str]:
        return [t.render(self.view.language) for t in self.view.texts()]

    def text(self) -> str:
        return "\n".join(self.texts())


async def make_harness(library, tmp_path, *, settings: FlowSettings | None = None, roles=None, now=None) -> Harness:
    journal = Journal(tmp_path / "journal.sqlite", pseudonym_key=b"k" * 16)
    clock = Clock()
    hub = DeviceHub(roles or SIM_ROLES, retry_seconds=0.05)
    kwargs = {"monotonic": clock}
    if now is not None:
        kwargs["now"] = now
    flows = KioskFlows(library, journal, hub, settings or FlowSettings(), **kwargs)
    cues: list = []
    flows.on_cue(cues.append)
    await flows.start(ticker=False)
    h = Harness(flows, journal, clock, cues)
    await h.settle()
    return h


async def close_harness(h: Harness) -> None:
    await h.flows.close()
    h.journal.close()


def fixed_now(text: str = "2025-03-03T10:00:00+01:00"):
    at = datetime.fromisoformat(text)
    return lambda: at
