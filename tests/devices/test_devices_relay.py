"""LCUS relay lock over a real pty: frames, conformance, unplug/replug, door contact."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices import DeviceEvent, DeviceUrlError, DoorOpened, DoorSensor, Lock, LockState, open_device, sim
from devices.conformance import Outcome, Prompt, run_conformance
from devices.errors import DeviceDisconnected, DeviceProtocolError
from devices.relay import Debouncer, LcusRelay, lcus_frame

ON, OFF = bytes.fromhex("A00101A2"), bytes.fromhex("A00100A1")


def test_frames():
    assert lcus_frame(1, True) == ON and lcus_frame(1, False) == OFF
    assert lcus_frame(4, True) == bytes.fromhex("A00401A5")
    assert lcus_frame(8, False) == bytes.fromhex("A00800A8")
    with pytest.raises(ValueError):
        lcus_frame(9, True)


def test_options():
    with pytest.raises(DeviceUrlError):
        open_device("lcus:///dev/null?channel=9")
    with pytest.raises(DeviceUrlError) as err:
        open_device("lcus:///dev/null?chanel=1")
    assert "channel" in err.value.valid
    assert not isinstance(open_device("lcus:///dev/null"), DoorSensor)
    both = open_device("lcus:///dev/null?door=sim://door")
    assert isinstance(both, Lock) and isinstance(both, DoorSensor)
    with pytest.raises(DeviceUrlError):
        open_device("lcus:///dev/null?door=sim://patron")


def test_debouncer():
    d = Debouncer(0.1)
    assert d.feed(True, 0.0) is None and d.value is True
    assert d.feed(False, 1.0) is None  # bounce starts
    assert d.feed(True, 1.02) is None  # bounced back
    assert d.feed(False, 1.05) is None
    assert d.feed(False, 1.10) is None
    assert d.feed(False, 1.16) is False and d.value is False


async def test_frames_on_the_wire(pty_peer):
    dev = open_device(f"lcus://{pty_peer.path}?channel=1")
    assert isinstance(dev, LcusRelay)
    async with dev:
        assert await pty_peer.aread(4) == OFF  # a known state on open
        assert dev.state is LockState.LOCKED
        await dev.release(0.2)
        assert await pty_peer.aread(4) == ON and dev.state is LockState.RELEASED
        assert await pty_peer.aread(4, timeout=1.0) == OFF  # relocked by the driver
        await _state(dev, LockState.LOCKED)
        with pytest.raises(ValueError):
            await dev.release(float("nan"))
    assert await pty_peer.aread(4) == OFF  # close locks


async def test_fail_safe_inverts(pty_peer):
    async with open_device(f"lcus://{pty_peer.path}?channel=2&release_state=off") as dev:
        assert await pty_peer.aread(4) == lcus_frame(2, True)  # energised = locked
        await dev.release(5)
        assert await pty_peer.aread(4) == lcus_frame(2, False)


async def _state(dev, wanted, timeout=2.0):
    """The state is set once the write returned, a moment after the peer saw the bytes."""
    for _ in range(int(timeout / 0.01)):
        if dev.state is wanted:
            return
        await asyncio.sleep(0.01)
    assert dev.state is wanted


def _actor(peer, door_name=None):
    async def actor(prompt: Prompt) -> bool:
        act = prompt.action
        if act == "confirm":
            return True
        if act == "unplug":
            peer.unplug()
        elif act == "replug":
            peer.replug()
        elif act == "open_door" and door_name:
            sim.open_door(name=door_name)
        elif act == "close_door" and door_name:
            sim.close_door(name=door_name)
        elif act == "press_exit" and door_name:
            sim.press_exit(name=door_name)
        else:
            return False
        return True

    actor.automatic = True
    return actor


async def test_conformance_with_faults(pty_peer):
    url = f"lcus://{pty_peer.path}?retry_initial=0.05&retry_max=0.3"
    report = await run_conformance(url, _actor(pty_peer), timeout=3.0, faults=True)
    assert report.passed, report.text()
    assert report.outcome_of("faults", "works after replug") is Outcome.PASS


async def test_conformance_with_door_contact(pty_peer):
    url = f"lcus://{pty_peer.path}?door=sim://door?name=relay-door"
    report = await run_conformance(url, _actor(pty_peer, "relay-door"), timeout=3.0)
    assert report.passed, report.text()
    assert report.outcome_of("door", "exit button") is Outcome.PASS


async def test_release_survives_replug(pty_peer):
    dev = open_device(f"lcus://{pty_peer.path}?retry_initial=0.05&retry_max=0.2")
    async with dev:
        evs = dev.events(DeviceEvent)
        await pty_peer.aread(4)
        await dev.release(30)
        assert await pty_peer.aread(4) == ON
        pty_peer.unplug()
        assert (await evs.get(2)).kind == "lost"
        assert dev.state is LockState.UNKNOWN
        pty_peer.replug()
        assert (await evs.get(3)).kind == "back"
        assert await pty_peer.aread(4) == ON  # the board lost power: the driver re-sends the state
        assert dev.state is LockState.RELEASED
        pty_peer.unplug()
        assert (await evs.get(2)).kind == "lost"
        with pytest.raises(DeviceDisconnected):
            await dev.lock()  # refused now, but remembered: locked when the board is back
        pty_peer.replug()
        assert (await evs.get(3)).kind == "back"
        assert await pty_peer.aread(4) == OFF
        await _state(dev, LockState.LOCKED)


async def test_garbage_from_board_is_logged(pty_peer, caplog):
    caplog.set_level(logging.WARNING, "devices.relay")
    async with open_device(f"lcus://{pty_peer.path}") as dev:
        pty_peer.write(b"\xff\x00junk")
        await asyncio.sleep(0.3)
        assert dev.status.ok
        await dev.release(1)
    assert any("ignored" in r.getMessage() for r in caplog.records)


async def test_door_forwarding(pty_peer):
    async with open_device(f"lcus://{pty_peer.path}?door=sim://door?name=fwd") as dev:
        evs = dev.events(DoorOpened)
        sim.open_door(name="fwd")
        assert isinstance(await evs.get(1), DoorOpened) and dev.door_open is True


async def test_contact_on_a_pty_is_a_clear_error(pty_peer):
    with pytest.raises(DeviceProtocolError, match="modem status lines"):
        await open_device(f"contact://{pty_peer.path}").open()
