"""HID keyboard-wedge scanner: the decoder with hand-built evdev.InputEvent sequences.

uinput and /dev/input are not available on these machines, so the evdev
device itself cannot be opened here; opening errors are checked for clarity.
"""

from __future__ import annotations

import logging

import pytest
from evdev import InputEvent, ecodes
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import DeviceNotFound, DeviceUrlError, Scanned, open_device
from devices.hid import LAYOUTS, HidDecoder, HidScanner

EV_SYN, EV_MSC = ecodes.EV_SYN, ecodes.EV_MSC


class Keyboard:
    """Builds the events a real keyboard wedge sends: MSC_SCAN, key, SYN_REPORT, per key."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.events: list[InputEvent] = []

    def _ev(self, etype: int, code: int, value: int) -> None:
        sec = int(self.t)
        self.events.append(InputEvent(sec, int(round((self.t - sec) * 1e6)), etype, code, value))

    def key(self, code: int, value: int) -> None:
        self._ev(EV_MSC, ecodes.MSC_SCAN, 0x70000 + code)
        self._ev(ecodes.EV_KEY, code, value)
        self._ev(EV_SYN, ecodes.SYN_REPORT, 0)
        self.t += 0.002

    def tap(self, code: int, *mods: int) -> Keyboard:
        for m in mods:
            self.key(m, 1)
        self.key(code, 1)
        self.key(code, 0)
        for m in reversed(mods):
            self.key(m, 0)
        return self

    def pause(self, seconds: float) -> Keyboard:
        self.t += seconds
        return self


def decode(events, layout="us", **kw):
    dec = HidDecoder(layout, **kw)
    out = [s for ev in events if (s := dec.feed(ev)) is not None]
    return out, dec.dropped


K = ecodes
SHIFT, ALTGR = K.KEY_LEFTSHIFT, K.KEY_RIGHTALT


def test_us_digits_letters_enter():
    kb = Keyboard()
    for c in (K.KEY_3, K.KEY_0, K.KEY_0, K.KEY_1):
        kb.tap(c)
    kb.tap(K.KEY_A, SHIFT).tap(K.KEY_B).tap(K.KEY_MINUS).tap(K.KEY_ENTER)
    assert decode(kb.events) == (["3001Ab-"], [])


def test_be_azerty_digits_need_shift():
    # A scanner set to Belgian AZERTY types digits with Shift on the top row.
    kb = Keyboard()
    for c in (K.KEY_2, K.KEY_9, K.KEY_5, K.KEY_4):
        kb.tap(c, SHIFT)
    kb.tap(K.KEY_Q).tap(K.KEY_W).tap(K.KEY_SEMICOLON).tap(K.KEY_1).tap(K.KEY_2, ALTGR).tap(K.KEY_KPENTER)
    assert decode(kb.events, "be-azerty") == (["2954azm&@"], [])
    # The same keys read as US give garbage-looking but different text: the layout matters.
    assert decode(kb.events, "us")[0] == ["@(%$qw;1"]


def test_fr_azerty_specials():
    kb = Keyboard()
    kb.tap(K.KEY_0, SHIFT).tap(K.KEY_8).tap(K.KEY_0, ALTGR).tap(K.KEY_DOT, SHIFT).tap(K.KEY_M).tap(K.KEY_ENTER)
    assert decode(kb.events, "fr-azerty") == (["0_@/,"], [])


def test_caps_lock_keypad_and_gs():
    kb = Keyboard()
    kb.tap(K.KEY_CAPSLOCK).tap(K.KEY_A).tap(K.KEY_A, SHIFT).tap(K.KEY_1).tap(K.KEY_CAPSLOCK)
    kb.tap(K.KEY_KP4).tap(K.KEY_KPDOT).tap(K.KEY_RIGHTBRACE, K.KEY_LEFTCTRL).tap(K.KEY_KP2).tap(K.KEY_ENTER)
    assert decode(kb.events) == (["Aa14.\x1d2"], [])


def test_autorepeat_and_key_up_ignored_tab_terminator():
    kb = Keyboard()
    kb.key(K.KEY_7, 1)
    kb.key(K.KEY_7, 2)
    kb.key(K.KEY_7, 0)
    kb.tap(K.KEY_ENTER)
    assert decode(kb.events) == (["7"], [])
    kb.tap(K.KEY_8).tap(K.KEY_TAB)
    # With terminator=tab, ENTER is neither a character nor the end: the scan has an unknown key.
    assert decode(kb.events, terminator="tab") == ([], ["3-key scan with 1 unknown keys (wrong layout?)"])


def test_half_scan_timeout_and_unknown_keys_dropped():
    kb = Keyboard()
    kb.tap(K.KEY_1).tap(K.KEY_2).pause(2.0).tap(K.KEY_4).tap(K.KEY_ENTER)
    kb.tap(K.KEY_5).tap(K.KEY_F1).tap(K.KEY_ENTER)
    kb.tap(K.KEY_ENTER)  # empty: nothing
    out, dropped = decode(kb.events)
    assert out == ["4"]
    assert dropped == ["2-character half scan timed out", "2-key scan with 1 unknown keys (wrong layout?)"]
    long = Keyboard()
    for _ in range(70):
        long.tap(K.KEY_9)
    long.tap(K.KEY_ENTER)
    assert decode(long.events, max_length=64) == ([], ["70-character scan longer than 64"])


def _reverse(layout: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    rev: dict[str, tuple[int, tuple[int, ...]]] = {}
    for code, (normal, shifted, altgr) in LAYOUTS[layout].items():
        for char, mods in ((altgr, (ALTGR,)), (shifted, (SHIFT,)), (normal, ())):
            if char:
                rev[char] = (code, mods)
    return rev


@pytest.mark.parametrize("layout", list(LAYOUTS))
@settings(max_examples=300)
@given(data=st.data())
def test_roundtrip_every_layout(layout, data):
    rev = _reverse(layout)
    text = data.draw(st.text(alphabet=sorted(rev), min_size=1, max_size=40))
    kb = Keyboard()
    for ch in text:
        code, mods = rev[ch]
        kb.tap(code, *mods)
    kb.tap(K.KEY_ENTER)
    assert decode(kb.events, layout) == ([text], [])


@settings(max_examples=2000)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300), st.integers(-1, 3)), max_size=60))
def test_fuzz_random_events_never_crash(items):
    dec = HidDecoder("be-azerty")
    t = 0.0
    for etype, code, value in items:
        t += 0.01
        out = dec.feed(InputEvent(int(t), int((t % 1) * 1e6), etype, code, value))
        assert out is None or (isinstance(out, str) and 0 < len(out) <= 64)


def test_url_options():
    dev = open_device("hid:///dev/input/event9?layout=be-azerty&grab=false")
    assert isinstance(dev, HidScanner) and dev.options["grab"] is False
    with pytest.raises(DeviceUrlError) as err:
        open_device("hid:///dev/input/event9?layout=dvorak")
    assert "us" in str(err.value) and "be-azerty" in str(err.value)
    for bad in ["hid://event9", "hid://usb/xyz"]:
        with pytest.raises(DeviceUrlError):
            open_device(bad)


async def test_open_missing_device_is_not_found():
    with pytest.raises(DeviceNotFound):
        await open_device("hid:///dev/input/event99").open()
    with pytest.raises(DeviceNotFound):
        await open_device("hid://usb/05e0:1200").open()


def test_reader_path_emits_and_logs(caplog):
    """The driver's per-event path (decoder, log line, Scanned hand-off) without a device node."""
    import asyncio

    caplog.set_level(logging.WARNING, "devices.hid")

    async def run():
        dev = open_device("hid:///dev/input/event9?name=wedge")
        dev._loop = asyncio.get_running_loop()
        evs = dev.events(Scanned)
        kb = Keyboard().tap(K.KEY_4).tap(K.KEY_2).tap(K.KEY_ENTER).tap(K.KEY_F2).tap(K.KEY_ENTER)
        for ev in kb.events:
            dev._handle(ev)
        assert (await evs.get(1)).data == "42"
        assert evs.pending() == 0

    asyncio.run(run())
    assert any("ignored scanner input" in r.getMessage() for r in caplog.records)
