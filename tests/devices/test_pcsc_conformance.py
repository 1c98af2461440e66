"""devices-core's conformance suite (devices.conformance) over the real PC/SC backends.

pcscd + vsmartcard-vpcd + our card emulator play the person at the reader:
"tap a card" inserts an emulated card whose UID is the test card number,
"place items" puts ISO 15693 library tags in the emulated field, "unplug"
stops pcscd (every reader vanishes) and "replug" starts it again.
"""

from __future__ import annotations

import asyncio

import pytest

from devices.conformance import Prompt, run_conformance
from devices.registry import open_device
from tests.devices.conftest_pcsc import Pcscd, item_slot, patron_slot, pcscd  # noqa: F401
from tests.devices.pcsc_emulator import ContactlessCard, TagField, VpcdEmulator, library_tag

pytestmark = pytest.mark.timeout(180)


class PcscActor:
    """An automatic conformance actor doing what each prompt asks, on the real stack."""

    automatic = True

    def __init__(self, slot: VpcdEmulator, daemon: Pcscd) -> None:
        self.slot = slot
        self.daemon = daemon
        self.actions: list[str] = []

    async def _take_away(self) -> None:
        if self.slot.card is not None:
            self.slot.remove()
            await asyncio.sleep(0.6)  # longer than pcscd's 0.4 s presence poll, as a person would

    async def __call__(self, prompt: Prompt) -> bool:
        self.actions.append(prompt.action)
        data = prompt.data
        if prompt.action == "tap_card":
            try:
                uid = bytes.fromhex(data["identifier"])
            except (KeyError, ValueError):
                return False
            await self._take_away()
            await asyncio.to_thread(self.slot.insert, ContactlessCard(uid), wait=0)
        elif prompt.action == "place_items":
            await self._take_away()
            tags = [library_tag(item, n) for n, item in enumerate(data["items"], start=1)]
            await asyncio.to_thread(self.slot.insert, TagField(tags), wait=0)
        elif prompt.action == "remove_items":
            self.slot.remove()
        elif prompt.action == "unplug":
            await asyncio.to_thread(self.daemon.stop)
        elif prompt.action == "replug":
            await asyncio.to_thread(self.daemon.start)
        elif prompt.action == "confirm":
            return True
        else:
            return False
        return True


@pytest.mark.parametrize(
    ("url", "slot_name"),
    [
        ("pcsc://Virtual PCD 00 00?retry_initial=0.1&retry_max=0.5", "patron_slot"),
        ("pcsc-rfid://Virtual PCD 00 01?style=transparent&retry_initial=0.1&retry_max=0.5", "item_slot"),
        ("pcsc-rfid://Virtual PCD 00 01?style=omnikey&retry_initial=0.1&retry_max=0.5", "item_slot"),
    ],
    ids=["pcsc-patron", "pcsc-rfid-transparent", "pcsc-rfid-omnikey"],
)
async def test_conformance_suite_passes(request, pcscd, url, slot_name):
    if not pcscd.owned:
        pytest.fail("the fault checks need a pcscd started by these tests (another one is running)")
    slot = request.getfixturevalue(slot_name)
    actor = PcscActor(slot, pcscd)
    report = await run_conformance(open_device(url), actor, faults=True, timeout=8)
    assert report.passed, report.text()
    assert not [r for r in report.results if r.outcome.value == "skip"], report.text()
    assert "unplug" in actor.actions and "replug" in actor.actions
