"""The PIN pad's keys outside the PIN screen reach the UI's key listener (it
moves the focus with them, #16 item 2); on the PIN screen they stay the PIN's
and reach no listener; a keyboard's moves keep the session alive."""

from __future__ import annotations

import pytest

from devices import sim
from kiosk.flows import State

from .fakelib import FakeLibrary
from .harness import close_harness, fixed_now, make_harness


@pytest.fixture
async def h(tmp_path):
    harness = await make_harness(FakeLibrary(), tmp_path, now=fixed_now())
    yield harness
    await close_harness(harness)


async def keys(h, pressed: str) -> None:
    sim.press_keys(pressed)
    await h.settle()


async def test_pin_pad_keys_go_to_the_listener_only_off_the_pin_screen(h):
    heard: list[str] = []
    h.flows.on_key(heard.append)
    await keys(h, "28#*")  # at rest: navigation
    assert heard == ["2", "8", "#", "*"]
    await h.tap("1001")
    assert h.state is State.PIN
    await keys(h, "1234")
    assert h.view.pin_length == 4 and heard == ["2", "8", "#", "*"]  # the PIN is nobody else's
    await keys(h, "#")
    assert h.state is State.MENU and heard == ["2", "8", "#", "*"]
    await keys(h, "6")
    assert heard[-1] == "6"


async def test_a_failing_listener_does_not_stop_the_flows(h):
    def broken(_key):
        raise RuntimeError("ui bug")

    h.flows.on_key(broken)
    await keys(h, "2")
    await h.tap("1001")
    assert h.state is State.PIN


async def test_keyboard_activity_restarts_the_idle_timeout_and_lifts_the_warning(h):
    await h.tap("1001")
    await h.pin("1234")
    s = h.flows.settings
    await h.advance(s.idle_timeout_seconds - s.idle_warning_seconds + 1)
    assert h.view.warning_seconds is not None
    h.flows.activity()
    assert h.view.warning_seconds is None
    await h.advance(s.idle_timeout_seconds - 1)
    assert h.state is State.MENU


async def test_pin_pad_keys_under_help_or_the_idle_warning_go_to_the_listener_not_the_pin(h):
    heard: list[str] = []
    h.flows.on_key(heard.append)
    await h.tap("1001")
    await keys(h, "12")
    h.flows.open_help()
    await keys(h, "345*")  # the help's: move, press, back
    assert heard == ["3", "4", "5", "*"] and h.view.pin_length == 2
    h.flows.close_help()
    s = h.flows.settings
    await h.advance(s.idle_timeout_seconds - s.idle_warning_seconds + 1)
    assert h.view.warning_seconds is not None

    def warning_up(key):  # the UI acts on the warning it shows: it is still up when the key comes
        assert h.view.warning_seconds is not None, key

    h.flows.on_key(warning_up)
    await keys(h, "#")
    assert heard[-1] == "#" and h.view.warning_seconds is None  # the patron is here: it goes
    assert h.state is State.PIN and h.view.pin_length == 2  # neither entered nor typed
    await keys(h, "34#")
    assert h.state is State.MENU  # 1234
