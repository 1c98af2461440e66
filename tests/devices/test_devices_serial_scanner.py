"""Serial barcode scanner: pure framing (with a fuzz), then the driver over a real pty."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import DeviceEvent, DeviceNotFound, DeviceUrlError, Scanned, open_device
from devices.conformance import Outcome, Prompt, run_conformance
from devices.serial_scanner import ScanFramer, SerialScanner, split_scans

CODES = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)


def test_split_basic_and_tail():
    r = split_scans(b"ABC\r\nDEF\rGHI\nJK")
    assert r.scans == ["ABC", "DEF", "GHI"] and r.rest == b"JK" and r.dropped == []


def test_split_suffix_and_prefix():
    r = split_scans(b"\x02ABC\x03junk\x02DEF\x03", prefix=b"\x02", suffix=b"\x03")
    assert r.scans == ["ABC", "DEF"]
    assert r.dropped == ["4 noise bytes before prefix"]
    r = split_scans(b"nopfx\r", prefix=b"]C1")
    assert r.scans == [] and r.dropped == ["5 bytes without prefix"]


def test_split_drops_binary_and_long_lines():
    r = split_scans(b"\xff\x00\x13\rOK\r" + b"9" * 100 + b"\r", max_length=64)
    assert r.scans == ["OK"]
    assert len(r.dropped) == 2
    r = split_scans(b"x" * 500)
    assert r.rest == b"" and r.dropped == ["500-byte unterminated run"]


def test_gs1_group_separator_allowed():
    assert split_scans(b"01034531200000111719112510ABCD1234\x1d2110\r").scans == ["01034531200000111719112510ABCD1234\x1d2110"]


def test_framer_drops_stale_half_line():
    f = ScanFramer(frame_timeout=0.5)
    assert f.feed(b"300000", 10.0).scans == []
    r = f.feed(b"12345\r", 10.2)  # completes within the time-out
    assert r.scans == ["30000012345"]
    assert f.feed(b"HALF", 11.0).scans == []
    r = f.feed(b"4000\r", 12.0)  # the half line timed out: dropped, not glued
    assert r.scans == ["4000"] and r.dropped == ["4-byte half line timed out"]


@settings(max_examples=2000)
@given(codes=st.lists(CODES, max_size=8), cuts=st.lists(st.integers(0, 400), max_size=6), crlf=st.booleans())
def test_fuzz_chunking_never_changes_scans(codes, cuts, crlf):
    sep = b"\r\n" if crlf else b"\r"
    stream = b"".join(c.encode() + sep for c in codes)
    f = ScanFramer()
    got, last = [], 0
    for cut in sorted(c for c in cuts if c <= len(stream)) + [len(stream)]:
        got += f.feed(stream[last:cut], 1.0).scans
        last = cut
    assert got == codes


@settings(max_examples=3000)
@given(junk=st.binary(max_size=300), code=CODES)
def test_fuzz_garbage_never_crashes_and_resyncs(junk, code):
    f = ScanFramer(prefix=b"\x02", suffix=b"\x03")
    r1 = f.feed(junk, 1.0)
    assert all(isinstance(s, str) and s.isprintable() for s in r1.scans)
    # After the scanner's next frame the framer is back in sync.
    r2 = f.feed(b"\x03\x02" + code.encode() + b"\x03", 1.0)
    assert r2.scans[-1] == code


def test_bad_options():
    with pytest.raises(DeviceUrlError) as err:
        open_device("serial:///dev/null?speed=9600")
    assert {"baud", "baudrate"} <= set(err.value.valid)
    with pytest.raises(DeviceUrlError):
        open_device("serial:///dev/null?suffix=\\q")
    with pytest.raises(DeviceUrlError):
        open_device("serial://usb/zz:1")


async def test_missing_port_and_usb_id():
    with pytest.raises(DeviceNotFound):
        await open_device("serial:///nonexistent/ttyX").open()
    with pytest.raises(DeviceNotFound):
        await open_device("serial://usb/ffff:fffe").open()


def _pty_actor(peer, suffix=b"\r"):
    async def actor(prompt: Prompt) -> bool:
        if prompt.action == "scan":
            peer.write(prompt.data["code"].encode() + suffix)
        elif prompt.action == "unplug":
            peer.unplug()
        elif prompt.action == "replug":
            peer.replug()
        else:
            return prompt.action == "confirm"
        return True

    actor.automatic = True
    return actor


async def test_conformance_over_pty_with_faults(pty_peer):
    url = f"serial://{pty_peer.path}?retry_initial=0.05&retry_max=0.3"
    report = await run_conformance(url, _pty_actor(pty_peer), timeout=3.0, faults=True)
    assert report.passed, report.text()
    assert report.outcome_of("faults", "works after replug") is Outcome.PASS, report.text()


async def test_prefix_suffix_over_pty(pty_peer):
    dev = open_device(f"serial://{pty_peer.path}?prefix=%02&suffix=%03&baudrate=115200")
    assert isinstance(dev, SerialScanner)
    async with dev:
        evs = dev.events(Scanned)
        pty_peer.write(b"\x02ABC")
        await asyncio.sleep(0.05)
        pty_peer.write(b"123\x03\x02X\x03")
        assert [(await evs.get(2)).data for _ in range(2)] == ["ABC123", "X"]


async def test_garbage_ignored_with_log_line(pty_peer, caplog):
    caplog.set_level(logging.WARNING, "devices.serial_scanner")
    async with open_device(f"serial://{pty_peer.path}?name=gate") as dev:
        evs = dev.events()
        pty_peer.write(bytes(range(256)) + b"\r\xfe\xfe\r3000000000017\r")
        ev = await evs.get(2)
        assert isinstance(ev, Scanned) and ev.data == "3000000000017"
        assert evs.pending() == 0 and dev.status.ok
    assert any("ignored scanner input" in r.getMessage() for r in caplog.records)
    assert all("3000000000017" not in r.getMessage() for r in caplog.records)


async def test_unplug_reports_lost_once_and_back(pty_peer, caplog):
    caplog.set_level(logging.DEBUG, "devices")
    dev = open_device(f"serial://{pty_peer.path}?retry_initial=0.05&retry_max=0.2")
    async with dev:
        evs = dev.events(DeviceEvent)
        pty_peer.unplug()
        ev = await evs.get(2)
        assert ev.kind == "lost" and not dev.status.ok
        await asyncio.sleep(0.8)  # several failed retries while unplugged
        assert evs.pending() == 0, "lost reported more than once"
        retries = [r for r in caplog.records if "reconnect failed" in r.getMessage()]
        assert len(retries) >= 3, "the driver should keep retrying while unplugged"
        pty_peer.replug()
        assert (await evs.get(3)).kind == "back" and dev.status.ok
        scans = dev.events(Scanned)
        pty_peer.write(b"42\r")
        assert (await scans.get(2)).data == "42"


def test_baud_is_the_short_spelling_of_baudrate():
    from devices.errors import DeviceUrlError as _UrlError

    assert open_device("serial:///dev/ttyACM0?baud=19200").baud == 19200
    assert open_device("serial:///dev/ttyACM0?baudrate=19200").baud == 19200
    assert open_device("serial:///dev/ttyACM0").baud == 9600
    with pytest.raises(_UrlError, match="not both"):
        open_device("serial:///dev/ttyACM0?baud=9600&baudrate=19200")
    with pytest.raises(_UrlError, match="not a serial speed"):
        open_device("serial:///dev/ttyACM0?baud=7")
