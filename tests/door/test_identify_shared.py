"""The one identification core at the door and the kiosk, over the embedded
library system and real SIP2: the unmanned PIN whatever ``pin_required``
says, one wrong-PIN budget per patron shared by the kiosk and the door on
one state_dir (and by a replaced card), a clock set back, a full disk."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from devices import sim
from devices.base import CardPresented, IdentifierKind
from kiosk.adapter.sip2 import Sip2LibrarySystem
from kiosk.door.service import DoorService
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui, UiEvent
from kiosk.journal import Journal
from kiosk.sip2.client import ClientSettings

from .conftest import UNMANNED, Clock, door_config, enter_any
from .fsfaults import fill, small_fs  # noqa: F401 - the fixture
from .library_fixture import NEW_CARD, VARIANTS, EmbeddedLibrary
from .test_service_sim import FAST, StaticLibrary, patron
from .test_service_sim import CARD as S_CARD
from .test_service_sim import PIN as S_PIN
from .test_service_sim import WRONG as S_WRONG

WRONG = "739104"
KEY = "shared-machine-key-0123456789abcdef"


@pytest.fixture
async def library(tmp_path):
    lib = await EmbeddedLibrary(tmp_path).start()
    yield lib
    await lib.close()


def config(tmp_path, policy=None, **door):
    from kiosk.config import parse_config

    data = door_config(tmp_path, **door).model_dump(mode="json", exclude={"source"})
    data["policy"] = {"default_max_charges": 10, "default_charge_age_days": 60, "min_entry_age": 16, **(policy or {})}
    data["secrets"] = {"pseudonym_key": {"value": KEY}}
    return parse_config(data)


async def door(tmp_path, library, clock, policy=None, **kw):
    svc = DoorService(config(tmp_path, policy), library=library.adapter, clock=clock, tick_seconds=0.05, scrypt=FAST, **kw)
    await svc.start()
    return svc


async def enter(svc, card, pin):
    sim.tap_card(card, name="door")
    if pin is not None:
        await svc.pin_asked(15)
        sim.press_keys(pin + "#", name="door")
    return await svc.next_outcome(15)


def second_adapter(library: EmbeddedLibrary) -> Sip2LibrarySystem:
    return Sip2LibrarySystem(ClientSettings(
        host="127.0.0.1", port=library.port, user="door1", password="door1", location="9901",
        institution="9999", timeout=3, connect_timeout=1, retries=1, backoff_initial=0.05, keepalive_seconds=None,
    ))


async def kiosk(tmp_path, adapter, clock, cfg):
    """A kiosk on the door's state_dir (one machine, one configuration, one key)."""
    journal = Journal(tmp_path / "state" / "kiosk-journal.sqlite", pseudonym_key=KEY.encode())
    flows = KioskFlows(adapter, journal, DeviceHub({}), FlowSettings.from_config(cfg), now=clock)
    return flows, journal


async def kiosk_try(flows, card, pin):
    await flows.handle(CardPresented(card, IdentifierKind.BARCODE, "patron_reader"))
    if flows.state is not State.PIN:
        return flows.state
    for d in pin:
        await flows.handle(UiEvent(Ui.PIN_DIGIT, d))
    await flows.handle(UiEvent(Ui.PIN_ENTER))
    state = flows.state
    if state is State.PIN:
        await flows.handle(UiEvent(Ui.CANCEL))
    elif state is State.MESSAGE:
        await flows.handle(UiEvent(Ui.OK))
    return state


# --------------------------------------------------------------------------- the unmanned PIN


async def test_pin_required_without_entry_still_needs_the_right_pin(tmp_path, library):
    """deploy/kiosk.toml's pin_required = ["checkout", "renew", "hold"]: a wrong
    PIN, an empty PIN and 6 wrong PINs opened the door; the wrong PIN was then cached."""
    clock = Clock(UNMANNED)
    ok = VARIANTS["ok"]
    svc = await door(tmp_path, library, clock, policy={"pin_required": ["checkout"]})
    try:
        out = await enter(svc, ok.card, WRONG)
        assert not out.granted and out.rules == ("P1",)
        out = await enter(svc, ok.card, "")  # "#" alone
        assert not out.granted and out.rules == ("P2",)
        for _ in range(4):
            assert not (await enter(svc, ok.card, WRONG)).granted
        out = await enter(svc, ok.card, None)  # the sixth try: locked out before any PIN
        assert not out.granted and out.rules == ("L1",)
        assert not any(ev == "release" for ev, _ in sim.lock_history(name="door"))
        # The wrong PIN was never remembered as verified: offline it opens nothing.
        await svc.ident.settle_background()
        assert svc.store.check(ok.card, WRONG, clock(), timedelta(days=7)).status.value == "unknown"
    finally:
        await svc.stop()


# --------------------------------------------------------------------------- one budget per patron


async def test_kiosk_then_door_share_one_budget(tmp_path, library):
    clock = Clock(UNMANNED)
    ok = VARIANTS["ok"]
    cfg = config(tmp_path)
    adapter = second_adapter(library)
    flows, journal = await kiosk(tmp_path, adapter, clock, cfg)
    svc = await door(tmp_path, library, clock)
    try:
        for _ in range(3):
            assert await kiosk_try(flows, ok.card, WRONG) is State.PIN  # wrong, tries left
        assert (await enter(svc, ok.card, WRONG)).rules == ("P1",)
        assert (await enter(svc, ok.card, WRONG)).rules[0] == "L1"  # the fifth, across both
        assert (await enter(svc, ok.card, None)).rules == ("L1",)
        await flows.handle(CardPresented(ok.card, IdentifierKind.BARCODE, "patron_reader"))
        assert flows.state is State.MESSAGE and flows.view.message.key == "policy.L1"
    finally:
        await svc.stop()
        await flows.close()
        journal.close()
        await adapter.close()


async def test_door_then_kiosk_share_one_budget(tmp_path, library):
    clock = Clock(UNMANNED)
    ok = VARIANTS["ok"]
    cfg = config(tmp_path)
    adapter = second_adapter(library)
    svc = await door(tmp_path, library, clock)
    flows, journal = await kiosk(tmp_path, adapter, clock, cfg)
    try:
        for _ in range(4):
            assert (await enter(svc, ok.card, WRONG)).rules == ("P1",)
        await flows.handle(CardPresented(ok.card, IdentifierKind.BARCODE, "patron_reader"))
        assert flows.state is State.PIN
        for d in WRONG:
            await flows.handle(UiEvent(Ui.PIN_DIGIT, d))
        await flows.handle(UiEvent(Ui.PIN_ENTER))
        assert flows.state is State.MESSAGE and flows.view.message.key == "policy.L1"
        await flows.handle(UiEvent(Ui.OK))
        assert (await enter(svc, ok.card, None)).rules == ("L1",)
    finally:
        await svc.stop()
        await flows.close()
        journal.close()
        await adapter.close()


async def test_a_replaced_card_shares_its_patrons_budget(tmp_path, library):
    clock = Clock(UNMANNED)
    old, new = VARIANTS["replaced"].card, NEW_CARD["replaced"]
    pin = VARIANTS["replaced"].pin
    svc = await door(tmp_path, library, clock)
    try:
        for _ in range(3):
            out = await enter(svc, old, WRONG)
            assert not out.granted and "P1" in out.rules and out.rules[0] == "C2"
        assert (await enter(svc, new, WRONG)).rules == ("P1",)
        assert (await enter(svc, new, WRONG)).rules[0] == "L1"  # 3 + 2: the patron's fifth
        # The right PIN on the new card: locked out before the PIN is asked.
        assert (await enter(svc, new, None)).rules == ("L1",)
        clock.advance(minutes=16)
        assert (await enter(svc, new, pin)).granted
    finally:
        await svc.stop()


# --------------------------------------------------------------------------- clock, full disk


class Mono:
    """A monotonic clock that only runs forward (as time.monotonic does)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_a_clock_set_back_does_not_lift_the_lockout(tmp_path, library):
    clock, mono = Clock(UNMANNED), Mono()

    def passes(**kw):
        clock.advance(**kw)
        mono.t += timedelta(**kw).total_seconds()

    ok = VARIANTS["ok"]
    svc = await door(tmp_path, library, clock, monotonic=mono)
    try:
        for _ in range(5):
            await enter(svc, ok.card, WRONG)
        assert (await enter(svc, ok.card, None)).rules == ("L1",)
        clock.advance(hours=-2)  # someone sets the wall clock back two hours (monotonic time goes on)
        out = await enter(svc, ok.card, None)
        assert out.rules == ("L1",) and "15" in out.text
        passes(minutes=10)
        assert (await enter(svc, ok.card, None)).rules == ("L1",)
        passes(minutes=6)  # the 15 minutes have passed
        assert (await enter(svc, ok.card, ok.pin)).granted
    finally:
        await svc.stop()


async def test_full_state_dir_refuses_pins_with_an_alarm_never_decides(tmp_path, small_fs, hook):  # noqa: F811
    """A 600 KiB state_dir: wrong PINs were each E1 and uncounted, then the right PIN opened."""
    lib = StaticLibrary({S_CARD: (S_PIN, patron())})
    clock = Clock(UNMANNED)
    state = small_fs
    from kiosk.config import parse_config

    data = door_config(tmp_path, webhooks=[hook.url]).model_dump(mode="json", exclude={"source"})
    data["state_dir"] = str(state)
    data["secrets"] = {"pseudonym_key": {"value": KEY}}
    svc = DoorService(parse_config(data), library=lib, clock=clock, tick_seconds=0.05, scrypt=FAST,
                      webhook_options={"backoff": 0.05})
    await svc.start()
    try:
        assert (await enter(svc, S_CARD, S_PIN)).granted  # works while there is room
        fill(state)
        calls = lib.calls
        out = await enter_any(svc, S_CARD, S_WRONG)
        # The attempt cannot be held: refused at the card (E2, before the PIN is even asked).
        assert not out.granted and out.rules == ("E2",)
        for pin in (S_WRONG, S_WRONG, S_PIN):  # then E2, or E1 once the door knows its state is unwritable
            out = await enter_any(svc, S_CARD, pin)
            assert not out.granted and out.rules in (("E2",), ("E1",))
        assert lib.calls == calls  # no PIN went to the library system
        hook.wait_for(lambda p: p.get("event") == "alarm" and p.get("alarm") == "patron_store_unwritable")
    finally:
        await svc.stop()
        for f in state.glob("filler*"):
            f.unlink()


async def test_the_door_clears_its_store_alarm_when_state_dir_has_room_again(tmp_path, small_fs, hook):  # noqa: F811
    """#11 follow-up: ``patron_store_unwritable`` stood at the door until a restart.
    Housekeeping looks again every RECHECK_SECONDS (the kiosk's code) and clears it:
    an ``alarm`` ... ``cleared`` in the audit (the fleet's event), the webhook, the status."""
    from kiosk.config import parse_config
    from kiosk.door.audit import AuditEvent
    STORE_ALARM = "patron_store_unwritable"  # noqa: N806
    RECHECK_SECONDS = 30.0  # noqa: N806 - kiosk.identify.recheck (the kiosk's period)

    lib, clock, mono = StaticLibrary({S_CARD: (S_PIN, patron())}), Clock(UNMANNED), Mono()
    data = door_config(tmp_path, webhooks=[hook.url]).model_dump(mode="json", exclude={"source"})
    data["state_dir"] = str(small_fs)
    data["secrets"] = {"pseudonym_key": {"value": KEY}}
    svc = DoorService(parse_config(data), library=lib, clock=clock, tick_seconds=0.05, scrypt=FAST, monotonic=mono,
                      webhook_options={"backoff": 0.05})
    events: list[tuple[str, dict]] = []

    class Observer:
        def door_event(self, at, event, fields):
            events.append((event, dict(fields)))

    svc.observers.append(Observer())
    await svc.start()
    try:
        fill(small_fs)
        out = await enter_any(svc, S_CARD, S_WRONG)  # the hold fails when the PIN would be asked, or after it
        assert not out.granted and out.rules in (("E2",), ("E1",))
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == STORE_ALARM and p.get("state") == "raised")
        assert STORE_ALARM in svc.status()["alarms"]
        for f in small_fs.glob("filler*"):
            f.unlink()
        await asyncio.sleep(0.3)  # housekeeping runs: not yet due, the alarm stands
        assert STORE_ALARM in svc.status()["alarms"]
        mono.t += RECHECK_SECONDS + 1
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == STORE_ALARM and p.get("state") == "cleared")
        assert STORE_ALARM not in svc.status()["alarms"]
        assert (str(AuditEvent.ALARM), {"result": STORE_ALARM, "detail": "cleared"}) in events
        assert (await enter(svc, S_CARD, S_PIN)).granted  # PINs are decided again
        assert STORE_ALARM not in svc.status()["alarms"]
    finally:
        await svc.stop()
        for f in small_fs.glob("filler*"):
            f.unlink()


async def test_full_state_dir_puts_kiosk_pin_actions_out_of_service(tmp_path, small_fs):  # noqa: F811
    from tests.kiosk.fakelib import FakeLibrary

    lib = FakeLibrary()
    journal = Journal(small_fs / "kiosk-journal.sqlite", pseudonym_key=KEY.encode())
    flows = KioskFlows(lib, journal, DeviceHub({}), FlowSettings())
    try:
        fill(small_fs)
        await flows.handle(CardPresented("1001", IdentifierKind.BARCODE, "patron_reader"))
        assert flows.state is State.PIN
        for d in "1234":
            await flows.handle(UiEvent(Ui.PIN_DIGIT, d))
        await flows.handle(UiEvent(Ui.PIN_ENTER))
        assert flows.state is State.MESSAGE and flows.view.message.key == "kiosk.pin.out_of_service"
        assert not flows.view.identified
        assert [c for c in lib.calls if c[0] == "identify" and c[1]] == []  # the PIN was never sent
    finally:
        await flows.close()
        journal.close()
        for f in small_fs.glob("filler*"):
            f.unlink()
