"""The display switches (200 % text, high contrast; issue 16 item 3) belong to
the patron's session: the flows keep them from screen to screen and forget
them when the session ends, like the language.  Chosen at rest and left (no
card presented), both end after the idle timeout (issue 16 "right texts")."""

from __future__ import annotations

import pytest

from kiosk.flows import FlowSettings, State, Ui

from .fakelib import FakeLibrary
from .harness import close_harness, fixed_now, make_harness

NOW = fixed_now()


@pytest.fixture
async def h(tmp_path):
    harness = await make_harness(FakeLibrary(), tmp_path, now=NOW)
    yield harness
    await close_harness(harness)


def display(h):
    return h.view.large_text, h.view.high_contrast


async def test_switches_hold_through_the_session_and_the_goodbye_then_reset(h):
    assert display(h) == (False, False)
    await h.tap("1001")
    h.flows.set_display(large_text=True)
    await h.pin("1234")
    assert h.state is State.MENU and display(h) == (True, False)
    h.flows.set_display(high_contrast=True)
    for action in (Ui.BORROW, Ui.MENU, Ui.ACCOUNT, Ui.MENU):
        await h.press(action)
        assert display(h) == (True, True), action
    await h.press(Ui.FINISH)
    if h.state is State.RECEIPT:
        await h.press(Ui.RECEIPT_NO)
    assert h.state is State.SUMMARY and display(h) == (True, True)  # the goodbye as the patron saw it
    await h.press(Ui.OK)
    assert h.state is State.IDLE and display(h) == (False, False)


async def test_idle_timeout_ends_the_switches(h):
    await h.tap("1001")
    h.flows.set_display(large_text=True, high_contrast=True)
    await h.advance(h.flows.settings.idle_timeout_seconds + 1)
    assert h.state is State.IDLE and display(h) == (False, False)


async def test_switched_on_at_rest_and_left_resets_after_the_idle_timeout(h):
    h.flows.set_display(high_contrast=True)
    await h.advance(h.flows.settings.idle_timeout_seconds - 1)
    assert display(h) == (False, True)
    await h.tap("1001")  # a patron who switched it on at rest keeps it into the session
    assert h.state is State.PIN and display(h) == (False, True)
    await h.press(Ui.CANCEL)
    assert h.state is State.IDLE and display(h) == (False, False)
    h.flows.set_display(large_text=True)
    await h.advance(h.flows.settings.idle_timeout_seconds + 1)
    assert h.state is State.IDLE and display(h) == (False, False)


async def test_language_chosen_at_rest_and_left_resets_after_the_idle_timeout(h):
    timeout = h.flows.settings.idle_timeout_seconds
    h.flows.set_language("en")
    await h.advance(timeout - 1)
    assert h.view.language == "en"  # still reading
    h.flows.set_display(large_text=True)  # a touch: the timeout starts again
    await h.advance(timeout - 1)
    assert h.view.language == "en" and display(h) == (True, False)
    await h.advance(2)
    assert h.state is State.IDLE and h.view.language == "nl" and display(h) == (False, False)
    await h.tap("1001")  # the next patron: the record's language (French), not the one left at rest
    assert h.state is State.PIN and h.view.language == "fr"


async def test_language_at_rest_goes_back_to_the_kiosks_own(tmp_path):
    h = await make_harness(FakeLibrary(), tmp_path, settings=FlowSettings(language="fr"), now=NOW)
    try:
        assert h.view.language == "fr"
        h.flows.set_language("nl")
        await h.advance(h.flows.settings.idle_timeout_seconds + 1)
        assert h.state is State.IDLE and h.view.language == "fr"
    finally:
        await close_harness(h)
