"""devices-core's conformance suite (devices.conformance) over the real OSDP backend.

A libosdp PD in a second process (secure channel on) plays the person at the
door: it reads the card, presses the keys, opens and closes the door contact,
presses the exit button; "unplug" kills the PD and "replug" starts it again.
The actor answers the suite's "did the lock release?" / "did the indicator
show ...?" questions from what the PD really received.
"""

from __future__ import annotations

import asyncio

import pytest

from devices.conformance import Prompt, run_conformance
from devices.osdp import OsdpDevice
from tests.devices.conftest_osdp import TEST_KEY, PdProcess, osdp_bus, osdp_key, pd  # noqa: F401

pytestmark = pytest.mark.timeout(180)


class OsdpActor:
    automatic = True

    def __init__(self, process: PdProcess) -> None:
        self.pd = process
        self.actions: list[str] = []

    def _received(self, command: str) -> int:
        return sum(1 for ev in self.pd.seen if ev.get("ev") == "command" and ev.get("command") == command)

    async def __call__(self, prompt: Prompt) -> bool:
        self.actions.append(prompt.action)
        data = prompt.data
        act = prompt.action
        if act == "tap_card":
            raw = bytes.fromhex(data["identifier"])
            self.pd.card(raw, len(raw) * 8)
        elif act == "press_keys":
            self.pd.keys(data["keys"])
        elif act == "open_door":
            self.pd.inputs(1, 0)
        elif act == "close_door":
            self.pd.inputs(0, 0)
        elif act == "press_exit":
            self.pd.inputs(0, 1)
            await asyncio.sleep(0.1)
            self.pd.inputs(0, 0)
        elif act == "unplug":
            await asyncio.to_thread(self.pd.kill)
        elif act == "replug":
            await asyncio.to_thread(self.pd.start)
        elif act == "confirm":
            question = data.get("question", "").lower()
            if "lock" in question:
                wanted = {"output": 1}
            elif "indicator" in question:
                wanted = {"led": 6, "buzzer": 5}  # five patterns and idle again (busy has no sound)
            else:
                return False
            # libosdp sends one command per poll (about ten a second): give them time to cross.
            for _ in range(100):
                if all(self._received(name) >= count for name, count in wanted.items()):
                    return True
                await asyncio.sleep(0.05)
            return False
        else:
            return False
        return True


async def test_conformance_suite_passes(osdp_bus, pd):
    url = f"osdp://{osdp_bus.url_path}?address=101&scbk={TEST_KEY.hex()}&retry_initial=0.1&retry_max=0.5"
    actor = OsdpActor(pd)
    report = await run_conformance(OsdpDevice(url), actor, faults=True, timeout=8)
    assert report.passed, report.text()
    assert not [r for r in report.results if r.outcome.value == "skip"], report.text()
    assert {"patron", "pinpad", "lock", "door", "indicator"} <= set(report.kinds)
    assert TEST_KEY.hex() not in report.text().lower()
