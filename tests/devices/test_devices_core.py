"""The core contract: URLs, options, registry, events, lost/back, backoff."""

from __future__ import annotations

import asyncio

import pytest

from devices import (
    Backoff,
    CardPresented,
    DeviceEvent,
    DeviceUrlError,
    IdentifierKind,
    KeyPressed,
    Lock,
    PatronReader,
    Tag,
    missing_parts,
    open_device,
    schemes,
)
from devices.errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout
from devices.url import parse_bytes, parse_options, parse_url


def test_parse_url_parts():
    u = parse_url("serial:///dev/ttyUSB0?baudrate=9600&suffix=%0D")
    assert (u.scheme, u.path, dict(u.options)) == ("serial", "/dev/ttyUSB0", {"baudrate": "9600", "suffix": "\r"})
    assert parse_url("serial://usb/0403:6001").path == "usb/0403:6001"
    assert parse_url("ESCPOS+NET://host:9100").scheme == "escpos+net"
    assert parse_url("sim://patron?name=a+b").options["name"] == "a+b"


@pytest.mark.parametrize(
    "bad",
    ["", "nourl", "sim://x#frag", "sim://x?a=1&a=2", "1x://y", "sim://x?Bad-Name=1", "sim://\x00", 42],
)
def test_parse_url_rejects(bad):
    with pytest.raises(DeviceUrlError):
        parse_url(bad)


def test_secret_options_are_redacted():
    u = parse_url("osdp:///dev/ttyUSB0?key=00112233&addr=1")
    assert "00112233" not in str(u) and "00112233" not in repr(u)
    assert u.to_string(redact=False).endswith("key=00112233&addr=1")


def test_parse_options_strict():
    spec = {"baudrate": (int, 9600, "b"), "grab": (bool, True, "g"), "suffix": (bytes, b"\r", "s")}
    assert parse_options(parse_url("x://p?baudrate=0x10&grab=off"), spec) == {"baudrate": 16, "grab": False, "suffix": b"\r"}
    with pytest.raises(DeviceUrlError) as err:
        parse_options(parse_url("x://p?baud=1"), spec)
    assert err.value.valid == ("baudrate", "grab", "suffix")
    assert "baudrate, grab, suffix" in str(err.value)
    with pytest.raises(DeviceUrlError):
        parse_options(parse_url("x://p?baudrate=fast"), spec)
    with pytest.raises(DeviceUrlError):
        parse_options(parse_url("x://p?grab=maybe"), spec)
    assert parse_options(parse_url("x://p"), spec, {"baudrate": 115200})["baudrate"] == 115200


def test_parse_bytes_escapes():
    assert parse_bytes(r"\r\n\x02ab") == b"\r\n\x02ab"
    for bad in ["\\", r"\q", r"\x4", "€"]:
        with pytest.raises(ValueError):
            parse_bytes(bad)


def test_unknown_scheme_lists_valid_ones():
    with pytest.raises(DeviceUrlError) as err:
        open_device("nfc://usb")
    assert "sim" in err.value.valid and "serial" in err.value.valid and "osdp" in err.value.valid


def test_every_builtin_scheme_is_also_an_entry_point():
    table = schemes()
    for name in ("sim", "serial", "hid", "lcus", "escpos+usb", "escpos+file", "pcsc", "pcsc-rfid", "osdp"):
        assert name in table


def test_kind_check():
    with pytest.raises(DeviceUrlError) as err:
        open_device("sim://patron", kind=Lock)
    assert "patron" in err.value.valid
    assert isinstance(open_device("sim://", kind="lock"), Lock)
    with pytest.raises(DeviceUrlError):
        open_device("sim://", kind="toaster")


def test_backoff_grows_and_caps():
    b = Backoff(0.1, 1.0, 2.0, jitter=0)
    assert [b.next_delay() for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next_delay() == 0.1
    j = Backoff(1.0, 10.0, jitter=0.1)
    assert all(0.9 <= j.next_delay() <= 10.0 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_event_reprs_hide_personal_data():
    assert "2954" not in repr(CardPresented("29548000001003", IdentifierKind.BARCODE, "r"))
    assert "7" not in repr(KeyPressed("7"))
    assert repr(KeyPressed("#")) == "KeyPressed(#)"


def test_missing_parts():
    tags = [Tag("A", "X", set_parts=3, part_number=1), Tag("B", "X", set_parts=3, part_number=3), Tag("C", "Y")]
    assert missing_parts(tags) == {"X": [2]}


async def test_events_backlog_filter_and_close():
    dev = open_device("sim://patron,pinpad?name=core1")
    assert isinstance(dev, PatronReader)
    from devices import sim

    async with dev:
        sim.tap_card("1", name="core1")  # nobody subscribed yet: kept for the first subscriber
        cards = dev.events(CardPresented)
        keys = dev.events(KeyPressed)
        assert (await cards.get(1)).identifier == "1"
        sim.press_keys("12#", name="core1")
        assert [(await keys.get(1)).key for _ in range(3)] == ["1", "2", "#"]
        assert cards.pending() == 0
        with pytest.raises(DeviceTimeout):
            await cards.get(0.01)
    with pytest.raises(DeviceDisconnected):
        await cards.get(1)
    assert [ev async for ev in keys] == []


async def test_sim_name_clash_and_lookup():
    from devices import sim

    a = open_device("sim://lock?name=same")
    b = open_device("sim://door?name=same")
    async with a:
        with pytest.raises(DeviceError):
            await b.open()
        with pytest.raises(DeviceNotFound):
            sim.open_door(name="nobody")
        with pytest.raises(DeviceError):
            sim.open_door(name="same")


async def test_sim_lost_back_and_operations_refused():
    from devices import sim

    dev = open_device("sim://lock?name=core-lock")
    async with dev:
        evs = dev.events()
        sim.unplug(name="core-lock")
        sim.unplug(name="core-lock")
        ev = await evs.get(1)
        assert isinstance(ev, DeviceEvent) and ev.kind == "lost"
        assert not dev.status.ok
        with pytest.raises(DeviceDisconnected):
            await dev.release(1)
        sim.replug(name="core-lock")
        assert (await evs.get(1)).kind == "back"
        assert evs.pending() == 0  # lost reported once
        await dev.release(0.01)
        await asyncio.sleep(0.05)
        assert [a for a, _ in sim.lock_history(name="core-lock")] == ["release", "lock"]


def test_sim_kind_option_and_nested_url():
    dev = open_device("sim://?kind=lock,door&name=x")
    assert dev.kinds == ["lock", "door"]
    with pytest.raises(DeviceUrlError) as err:
        open_device("sim://toaster")
    assert "door-controller" in err.value.valid
    u = parse_url("lcus:///dev/ttyUSB0?channel=2&door=contact:///dev/ttyUSB1?pin=cts")
    assert u.options == {"channel": "2", "door": "contact:///dev/ttyUSB1?pin=cts"}
