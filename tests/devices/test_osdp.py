"""OSDP control panel driver against a real libosdp PD in a second process, over a real pty."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.base import (
    CardPresented,
    DeviceEvent,
    DoorClosed,
    DoorOpened,
    ExitPressed,
    IdentifierKind,
    KeyPressed,
    LockState,
    Pattern,
    kind_names,
)
from devices.errors import DeviceNotFound, DeviceProtocolError, DeviceTimeout, DeviceUrlError
from devices.osdp import OsdpDevice, display_rows, keypad_keys, wiegand_identifier
from devices.registry import open_device
from tests.devices.conftest_osdp import TEST_KEY, PdProcess, osdp_bus, osdp_key, pd  # noqa: F401

pytestmark = pytest.mark.timeout(90)


def url(bus, key: bytes = TEST_KEY, extra: str = "") -> str:
    return f"osdp://{bus.url_path}?address=101&scbk={key.hex()}&retry_initial=0.1&retry_max=0.5{extra}"


async def next_of(stream, kinds, timeout: float = 5.0):
    while True:
        event = await stream.get(timeout)
        if isinstance(event, kinds):
            return event


async def test_is_every_door_kind_at_once():
    assert kind_names(OsdpDevice) == ["patron", "pinpad", "lock", "door", "indicator"]


async def test_card_read_over_secure_channel(osdp_bus, pd, caplog):
    caplog.set_level(logging.DEBUG, logger="devices.osdp")
    async with open_device(url(osdp_bus), kind="patron") as dev:
        assert isinstance(dev, OsdpDevice)
        await asyncio.to_thread(pd.expect, lambda ev: ev["ev"] == "sc_active")
        stream = dev.events(CardPresented)
        pd.card(bytes.fromhex("12345680"), 26)
        event = await stream.get(5)
        assert event.kind is IdentifierKind.WIEGAND
        assert event.identifier == wiegand_identifier(bytes.fromhex("12345680"), 26)
        assert event.identifier == "048D15A"
    assert "48D15A" not in caplog.text and TEST_KEY.hex() not in caplog.text.lower()
    assert "secure channel active" in caplog.text


async def test_keypad_pin(osdp_bus, pd, caplog):
    caplog.set_level(logging.DEBUG, logger="devices")
    async with OsdpDevice(url(osdp_bus)) as dev:
        stream = dev.events(KeyPressed)
        pd.keys("4711*2580#")
        keys = [(await stream.get(5)).key for _ in range(10)]
        assert "".join(keys) == "4711*2580#"
        assert "4711" not in caplog.text and "2580" not in caplog.text


async def test_strike_output_command_reaches_the_pd(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus, extra="&strike_output=0")) as dev:
        assert dev.state is LockState.UNKNOWN
        await dev.release(3)
        cmd = await asyncio.to_thread(pd.command, "output")
        assert (cmd["output_no"], cmd["control_code"], cmd["timer_count"]) == (0, 5, 30)
        assert dev.state is LockState.RELEASED
        await dev.lock()
        cmd = await asyncio.to_thread(pd.command, "output")
        assert (cmd["output_no"], cmd["control_code"]) == (0, 1)
        assert dev.state is LockState.LOCKED
        await dev.release(0.2)
        await asyncio.to_thread(pd.command, "output")
        await asyncio.sleep(0.4)
        assert dev.state is LockState.LOCKED  # the timed release ran out
        with pytest.raises(ValueError):
            await dev.release(0)
        with pytest.raises(ValueError):
            await dev.release(7200)


async def test_led_and_buzzer_patterns(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus)) as dev:
        await dev.show(Pattern.GRANTED)
        led = await asyncio.to_thread(pd.command, "led")
        buzzer = await asyncio.to_thread(pd.command, "buzzer")
        assert led["temporary"] and led["on_color"] == 2 and led["timer_count"] == 30
        assert buzzer["control_code"] == 2 and buzzer["rep_count"] == 1
        await dev.show(Pattern.REFUSED)
        led = await asyncio.to_thread(pd.command, "led")
        assert led["on_color"] == 1 and led["off_count"] == 3
        assert (await asyncio.to_thread(pd.command, "buzzer"))["rep_count"] == 3
        await dev.show(Pattern.IDLE)
        led = await asyncio.to_thread(pd.command, "led")
        assert not led["temporary"] and led["control_code"] == 1
        await dev.show(Pattern.BUSY)
        assert (await asyncio.to_thread(pd.command, "led"))["on_color"] == 3
        await dev.show(Pattern.ERROR)
        assert (await asyncio.to_thread(pd.command, "buzzer"))["on_count"] == 10
        assert dev.commands_sent == 9


async def test_text_on_the_readers_display(osdp_bus, pd):
    """osdp_TEXT reaches the PD: the first sentence, ASCII, one command per display row."""
    async with OsdpDevice(url(osdp_bus, extra="&display_rows=2&display_cols=16&display_seconds=7")) as dev:
        await dev.show_text("Je lidgeld staat nog open. Betaal het aan de balie.")
        first = await asyncio.to_thread(pd.command, "text")
        second = await asyncio.to_thread(pd.command, "text")
        rows = sorted((first, second), key=lambda c: c["offset_row"])
        assert [r["data"] for r in rows] == ["Je lidgeld staat", "nog open."]
        assert all(r["control_code"] == 3 and r["temp_time"] == 7 and r["offset_col"] == 1 for r in rows)
    async with OsdpDevice(url(osdp_bus)) as dev:  # no display configured: nothing is sent
        await dev.show_text("Welkom!")
        assert dev.commands_sent == 0


async def test_text_is_never_sent_to_a_reader_without_a_display(osdp_bus):
    """A PD NAKs an unsupported command and libosdp then takes it offline for
    minutes: a misconfigured display_rows is refused by us instead."""
    bare = PdProcess(osdp_bus, display=False)
    bare.start()
    try:
        async with OsdpDevice(url(osdp_bus, extra="&display_rows=2")) as dev:
            with pytest.raises(DeviceProtocolError, match="no text display"):
                await dev.show_text("Welkom!")
            await dev.show(Pattern.GRANTED)  # the reader is still online and obeys
            assert (await asyncio.to_thread(bare.command, "led"))["on_color"] == 2
            assert dev.status.ok
    finally:
        bare.stop()


def test_display_rows_fit_a_small_display():
    assert display_rows("Votre cotisation n'est toujours pas payée : vous ne pouvez pas emprunter.", 2, 16) == [
        "Votre cotisation", "n'est toujour..."]
    assert display_rows("Welkom! De deur gaat open.", 2, 16) == ["Welkom!"]
    assert display_rows("Élan", 1, 16) == ["Elan"]
    assert display_rows("anything", 0, 16) == []


async def test_door_contact_and_exit_button(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus, extra="&door_input=0&exit_input=1")) as dev:
        stream = dev.events(DoorOpened, DoorClosed, ExitPressed)
        # The PD reports its inputs once the secure channel is up: door closed.
        assert isinstance(await stream.get(5), DoorClosed)
        assert dev.door_open is False
        pd.inputs(1, 0)
        assert isinstance(await stream.get(5), DoorOpened)
        assert dev.door_open is True
        pd.inputs(1, 1)
        assert isinstance(await stream.get(5), ExitPressed)
        pd.inputs(1, 1)  # still held: no second press
        pd.inputs(0, 0)
        assert isinstance(await stream.get(5), DoorClosed)
        with pytest.raises(DeviceTimeout):
            await stream.get(0.5)


async def test_door_contact_polarity_option(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus, extra="&door_open_when=inactive&exit_input=-1")) as dev:
        stream = dev.events(DoorOpened, DoorClosed, ExitPressed)
        assert isinstance(await stream.get(5), DoorOpened)  # input 0 inactive = open
        pd.inputs(1, 1)
        assert isinstance(await stream.get(5), DoorClosed)
        with pytest.raises(DeviceTimeout):
            await stream.get(0.5)  # exit button disabled


def test_a_key_is_required():
    with pytest.raises(DeviceUrlError, match="scbk") as info:
        OsdpDevice("osdp:///dev/null?address=1")
    assert "install mode" in str(info.value)
    with pytest.raises(DeviceUrlError, match="scbk"):
        OsdpDevice("osdp:///dev/null?address=1&install_mode=1")
    with pytest.raises(DeviceUrlError, match="32 hex") as info:
        OsdpDevice("osdp:///dev/null?scbk=0011")
    assert "0011" not in str(info.value)
    with pytest.raises(DeviceUrlError, match="both"):
        OsdpDevice(f"osdp:///dev/null?scbk={TEST_KEY.hex()}&scbk_file=/etc/x")
    with pytest.raises(DeviceUrlError, match="cannot read"):
        OsdpDevice("osdp:///dev/null?scbk_file=/nonexistent/key")
    with pytest.raises(DeviceUrlError, match="address"):
        OsdpDevice(f"osdp:///dev/null?scbk={TEST_KEY.hex()}&address=200")
    dev = OsdpDevice(f"osdp:///dev/null?scbk={TEST_KEY.hex()}")
    assert TEST_KEY.hex() not in repr(dev).lower()


async def test_key_from_a_file(osdp_bus, pd, tmp_path, caplog):
    key_file = tmp_path / "osdp.key"
    key_file.write_text(TEST_KEY.hex().upper() + "\n")
    key_file.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="devices.osdp"):
        OsdpDevice(f"osdp://{osdp_bus.url_path}?scbk_file={key_file}")
    assert "chmod 600" in caplog.text
    key_file.chmod(0o600)
    async with OsdpDevice(f"osdp://{osdp_bus.url_path}?address=101&scbk_file={key_file}") as dev:
        assert dev.status.ok


async def test_wrong_key_is_refused(osdp_bus, pd):
    dev = OsdpDevice(url(osdp_bus, key=bytes(range(16)), extra="&connect_timeout=2"))
    with pytest.raises(DeviceNotFound, match="key is wrong"):
        await dev.open()


async def test_install_mode_refused_without_the_flag_then_provisioned(osdp_bus, caplog):
    caplog.set_level(logging.INFO, logger="devices.osdp")
    fresh = PdProcess(osdp_bus, install=True)  # a new reader without a key
    await asyncio.to_thread(fresh.start)
    try:
        dev = OsdpDevice(url(osdp_bus, extra="&connect_timeout=2"))
        with pytest.raises(DeviceNotFound, match="install mode"):
            await dev.open()
        assert "INSTALL MODE" not in caplog.text
    finally:
        await asyncio.to_thread(fresh.stop)
    # Provisioning: the explicit flag, logged loudly; the PD gets our key.
    fresh = PdProcess(osdp_bus, install=True)
    await asyncio.to_thread(fresh.start)
    try:
        async with OsdpDevice(url(osdp_bus, extra="&install_mode=1")) as dev:
            keyset = await asyncio.to_thread(fresh.expect, lambda ev: ev["ev"] == "keyset")
            assert bytes.fromhex(keyset["scbk"]) == TEST_KEY
            assert dev.status.ok
    finally:
        await asyncio.to_thread(fresh.stop)
    loud = [r for r in caplog.records if r.levelno >= logging.CRITICAL and "INSTALL MODE" in r.getMessage()]
    assert len(loud) == 1
    assert TEST_KEY.hex() not in caplog.text.lower()
    # The provisioned reader now works with the key, without install mode.
    provisioned = PdProcess(osdp_bus, key=bytes.fromhex(fresh.key_file.read_text()))
    await asyncio.to_thread(provisioned.start)
    try:
        async with OsdpDevice(url(osdp_bus)) as dev:
            stream = dev.events(CardPresented)
            provisioned.card(b"\xab\xcd", 16)
            assert (await stream.get(5)).identifier == "ABCD"
    finally:
        await asyncio.to_thread(provisioned.stop)


async def test_pd_lost_and_back(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus)) as dev:
        stream = dev.events(DeviceEvent, CardPresented)
        await asyncio.to_thread(pd.kill)
        lost = await stream.get(5)
        assert isinstance(lost, DeviceEvent) and lost.kind == "lost"
        assert not dev.status.ok
        await asyncio.sleep(1.5)  # reconnects keep failing: still one "lost"
        assert stream.get_nowait() is None
        await asyncio.to_thread(pd.start)
        back = await stream.get(15)
        assert isinstance(back, DeviceEvent) and back.kind == "back"
        await asyncio.to_thread(pd.expect, lambda ev: ev["ev"] == "sc_active")
        pd.card(b"\x01\x02\x03", 24)
        assert (await next_of(stream, CardPresented)).identifier == "010203"


async def test_serial_line_unplugged_and_back(osdp_bus, pd):
    async with OsdpDevice(url(osdp_bus)) as dev:
        stream = dev.events(DeviceEvent)
        await asyncio.to_thread(pd.stop)
        await asyncio.to_thread(osdp_bus.stop)  # the pty (USB adapter) vanishes
        assert (await stream.get(5)).kind == "lost"
        await asyncio.sleep(0.5)
        await asyncio.to_thread(osdp_bus.start)
        await asyncio.to_thread(pd.start)
        assert (await stream.get(15)).kind == "back"
        with pytest.raises(DeviceTimeout):
            await stream.get(0.5)
        await dev.release(1)
        await asyncio.to_thread(pd.command, "output")


async def test_garbage_on_the_line_and_odd_events(osdp_bus, pd, caplog):
    caplog.set_level(logging.INFO, logger="devices.osdp")
    async with OsdpDevice(url(osdp_bus)) as dev:
        stream = dev.events(CardPresented, KeyPressed, DeviceEvent)
        await asyncio.to_thread(pd.expect, lambda ev: ev["ev"] == "sc_active")
        pd.card(b"\x01", 0)  # a card read of zero bits
        pd.keys("1\x01Z")  # keys that are no keys
        assert (await stream.get(5)).key == "1"
        with pytest.raises(DeviceTimeout):
            await stream.get(0.5)
        assert "bad event from the PD ignored" in caplog.text
        assert "2 unknown keypad byte(s)" in caplog.text
        assert dev.status.ok
        pd.card(b"\x0f\xf0", 12)
        assert (await stream.get(5)).identifier == "0FF"


def test_wiegand_formats():
    # 26-bit H10301: even parity, 8-bit facility 18, 16-bit card 4660, odd parity.
    body = (18 << 16) | 4660
    even = bin(body >> 12).count("1") % 2
    odd = 1 - bin(body & 0xFFF).count("1") % 2
    value = (even << 25) | (body << 1) | odd
    raw = (value << 6).to_bytes(4, "big")
    assert wiegand_identifier(raw, 26, "h10301") == "18-4660"
    assert wiegand_identifier(raw, 26, "decimal") == str(value)
    assert wiegand_identifier(raw, 26, "hex") == f"{value:07X}"
    with pytest.raises(DeviceProtocolError, match="parity"):
        wiegand_identifier(((value ^ 1) << 6).to_bytes(4, "big"), 26, "h10301")
    with pytest.raises(DeviceProtocolError):
        wiegand_identifier(raw, 34, "h10301")
    with pytest.raises(DeviceProtocolError):
        wiegand_identifier(b"\x01", 9)
    assert keypad_keys(b"12\x0d\x7f#*x") == (["1", "2", "#", "*", "#", "*"], 1)
