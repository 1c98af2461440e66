"""DoorService with sim:// devices: the whole entry path, alarms, lockout, fail mode.

The library system here is a small in-test PatronLookup (the embedded SIP2
library system is used by test_e2e_*.py).
"""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from devices import Pattern, sim
from kiosk.door.audit import AuditJournal
from kiosk.identify import ScryptParams
from kiosk.door.service import DoorService
from policy import Badge, CardState, PatronSnapshot, PinCheck, Subscription, SubscriptionStatus

from .conftest import CLOSED, STAFFED, UNMANNED, Clock, door_config, register_secrets

FAST = ScryptParams(n=2**10, r=8, p=1)
BADGE = (Badge(name="Onbemande openingsuren"),)
CARD, PIN = "29548000001003", "860375"
CARD2, PIN2 = "29548000002001", "417092"
UNKNOWN, WRONG = "29548000009998", "305516"
register_secrets(CARD, PIN, CARD2, PIN2, UNKNOWN, WRONG)


class StaticLibrary:
    """card -> (pin, snapshot without PIN result); ``down`` makes it unreachable."""

    def __init__(self, patrons: dict[str, tuple[str, PatronSnapshot]]) -> None:
        self.patrons = patrons
        self.down = False
        self.calls = 0

    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot:
        self.calls += 1
        if self.down:
            raise ConnectionError("library system down")
        if card not in self.patrons:
            return PatronSnapshot(known=False, pin=PinCheck.WRONG if pin else PinCheck.UNKNOWN)
        right, snap = self.patrons[card]
        check = PinCheck.UNKNOWN if pin is None else (PinCheck.RIGHT if pin == right else PinCheck.WRONG)
        return snap.model_copy(update={"pin": check})


def patron(**kw) -> PatronSnapshot:
    base = dict(
        card_state=CardState.ACTIVE,
        subscription=Subscription(type_code="A", status=SubscriptionStatus.NORMAL),
        badges=BADGE,
        birth_date=date(1990, 1, 1),
        language="nl",
    )
    base.update(kw)
    return PatronSnapshot(**base)


@pytest.fixture
def library():
    return StaticLibrary({CARD: (PIN, patron()), CARD2: (PIN2, patron(badges=()))})


async def started(tmp_path, library, clock, hook=None, messages=None, **door):
    if hook is not None:
        door.setdefault("webhooks", [hook.url])
    cfg = door_config(tmp_path, **door)
    svc = DoorService(
        cfg, library=library, clock=clock, tick_seconds=0.05, scrypt=FAST,
        on_message=messages.append if messages is not None else None,
        webhook_options={"backoff": 0.05},
    )
    await svc.start()
    return svc


async def enter(svc, card=CARD, pin=PIN, timeout=5.0):
    sim.tap_card(card, name="door")
    if pin is not None:
        await svc.pin_asked(timeout)  # the PIN is awaited now: an explicit settle, not a sleep
        sim.press_keys(pin + "#", name="door")
    return await svc.next_outcome(timeout)


async def until(predicate, timeout=10.0):
    """For what only time brings (the housekeeping tick, the monitor's timers):
    the condition itself, polled, bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_badge_holder_enters_and_door_relocks_on_close(tmp_path, library):
    messages = []
    svc = await started(tmp_path, library, Clock(UNMANNED), messages=messages)
    try:
        out = await enter(svc)
        assert out.granted and out.source == "online" and out.latency is not None
        assert sim.lock_history(name="door")[-1] == ("release", 8.0)
        assert sim.indicator_history(name="door")[-1] is Pattern.GRANTED
        sim.open_door(name="door")
        await svc.settle()
        sim.close_door(name="door")  # relock: the monitor is woken, then stop() cancels it (below)
        await svc.settle()
        assert sim.lock_history(name="door")[-1] == ("lock", None)
        assert [m.kind for m in messages][:2] == ["prompt", "checking"] and messages[-1].kind == "granted"
        assert messages[-1].text == "Welkom! De deur is open."
    finally:
        # Bounded: Python 3.11's wait_for swallowed that cancellation and stop() hung for ever.
        await asyncio.wait_for(svc.stop(), 10)
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        events = [(e.event, e.result) for e in j.entries()]
        entry = j.entries(event="entry")[0]
    assert ("entry", "granted") in events and ("door.opened", None) in events and ("door.relocked", None) in events
    assert entry.card_ref.startswith("card:") and entry.source == "online"


async def test_refusals_name_the_rule(tmp_path, library):
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, library, clock)
    try:
        out = await enter(svc, CARD2, PIN2)
        assert not out.granted and out.rules == ("B1",)
        assert sim.indicator_history(name="door")[-1] is Pattern.REFUSED
        out = await enter(svc, CARD, WRONG)
        assert out.rules == ("P1",)
        out = await enter(svc, UNKNOWN, PIN2)
        assert "U1" in out.rules
        clock.now = CLOSED
        out = await enter(svc, CARD, None)  # no PIN asked when closed
        assert out.rules == ("S1",)
        assert all(cmd == "lock" for cmd, _ in sim.lock_history(name="door"))  # never released
    finally:
        await svc.stop()


async def test_pin_timeout_is_P2(tmp_path, library):
    svc = await started(tmp_path, library, Clock(UNMANNED), pin_timeout_seconds=0.2)
    try:
        out = await enter(svc, CARD, None)
        assert out.rules == ("P2",) and out.message_key == "door.P2.timeout"
    finally:
        await svc.stop()


async def test_clear_key_and_new_card_restart_the_pin(tmp_path, library):
    svc = await started(tmp_path, library, Clock(UNMANNED))
    try:
        sim.tap_card(CARD, name="door")
        await svc.settle()
        sim.press_keys("99*" + PIN + "#", name="door")
        assert (await svc.next_outcome()).granted
        sim.tap_card(CARD2, name="door")
        await svc.settle()
        sim.press_keys("12", name="door")
        out = await enter(svc)  # a new card replaces the half-typed session
        assert out.granted
    finally:
        await svc.stop()


async def test_five_wrong_pins_lock_the_card_until_it_expires(tmp_path, library):
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, library, clock)
    try:
        for _ in range(4):
            assert (await enter(svc, CARD, WRONG)).rules == ("P1",)
            clock.advance(seconds=20)
        assert (await enter(svc, CARD, WRONG)).rules[0] == "L1"  # the fifth locks out at once
        clock.advance(seconds=20)
        out = await enter(svc, CARD, None)  # refused before the PIN is asked
        assert out.rules == ("L1",) and "15" in out.text
        calls = library.calls
        clock.advance(minutes=14)
        assert (await enter(svc, CARD, None)).rules == ("L1",)
        assert library.calls == calls  # locked cards never reach the library system
        clock.advance(minutes=2)
        assert (await enter(svc)).granted
        # The count started again after the right PIN.
        assert (await enter(svc, CARD, WRONG)).rules == ("P1",)
        assert (await enter(svc)).granted
    finally:
        await svc.stop()


async def test_rate_limit_per_reader(tmp_path, library):
    svc = await started(tmp_path, library, Clock(UNMANNED), reader_rate_limit_per_minute=3)
    try:
        for _ in range(3):
            await enter(svc, CARD2, PIN2)
        out = await enter(svc, CARD, None)
        assert out.rules == ("RL",)
    finally:
        await svc.stop()


async def test_held_open_and_forced_open_alarms_reach_the_webhook(tmp_path, library, hook):
    svc = await started(tmp_path, library, Clock(UNMANNED), hook=hook, held_open_seconds=0.3)
    try:
        sim.open_door(name="door")  # no release: forced open
        raised = await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "forced_open" and p["state"] == "raised")
        assert raised["event"] == "alarm"
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "held_open" and p["state"] == "raised")
        assert svc.status()["alarms"] == ["forced_open", "held_open"]
        sim.close_door(name="door")
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "held_open" and p["state"] == "cleared")
        assert svc.status()["alarms"] == []
        # An entry, then the door left open: held-open only.
        assert (await enter(svc)).granted
        sim.open_door(name="door")
        await until(lambda: svc.status()["alarms"] == ["held_open"])  # after held_open_seconds
        sim.close_door(name="door")
        await svc.settle()
    finally:
        await svc.stop()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        alarms = [(e.result, e.detail) for e in j.entries(event="alarm")]
    assert ("forced_open", "raised") in alarms and ("held_open", "cleared") in alarms


async def test_offline_cache_decides_when_library_is_down(tmp_path, library):
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, library, clock)
    try:
        assert (await enter(svc)).granted  # verified online: cached
        await svc.ident.settle_background()  # the cache write runs in a thread
        library.down = True
        clock.advance(days=1)
        out = await enter(svc)
        assert out.granted and out.source == "offline"
        # Offline a wrong PIN gets the answer an unknown card gets (no oracle of who was cached).
        wrong = await enter(svc, CARD, WRONG)
        assert wrong.rules == ("O1",) and not wrong.granted
        out = await enter(svc, CARD2, PIN2)  # never seen here
        assert out.rules == ("O1",) and not out.granted
        assert out.text == wrong.text and out.result == wrong.result
        clock.advance(days=7)
        assert (await enter(svc)).rules == ("O1",)  # too old
        assert svc.status()["library"] == "offline"
    finally:
        await svc.stop()


async def test_staffed_free_entry_and_card_mode(tmp_path, library):
    svc = await started(tmp_path, library, Clock(STAFFED))
    try:
        assert sim.lock_history(name="door")[-1][0] == "release"
        assert svc.status()["lock"] == "free"
        sim.open_door(name="door")
        await svc.settle()
        assert svc.status()["alarms"] == []
    finally:
        await svc.stop()
    svc = await started(tmp_path, library, Clock(STAFFED), staffed_entry="card")
    try:
        assert svc.status()["lock"] == "locked"
        assert (await enter(svc, CARD2, None)).granted  # no badge needed, no PIN
        assert (await enter(svc, UNKNOWN, None)).rules == ("U1",)
    finally:
        await svc.stop()


async def test_period_change_frees_and_relocks(tmp_path, library):
    clock = Clock(STAFFED)
    svc = await started(tmp_path, library, clock)
    try:
        assert svc.status()["lock"] == "free"
        clock.now = UNMANNED
        await until(lambda: svc.status()["lock"] == "locked")  # at the next housekeeping tick
        assert svc.status()["lock"] == "locked" and svc.status()["period"]["kind"] == "unmanned"
        assert sim.lock_history(name="door")[-1] == ("lock", None)
    finally:
        await svc.stop()


@pytest.mark.parametrize("mode,last", [("fail_secure", ("lock", None)), ("fail_safe", "release")])
async def test_stop_puts_the_lock_in_the_fail_mode_state(tmp_path, library, mode, last):
    svc = await started(tmp_path, library, Clock(UNMANNED), fail_mode=mode)
    dev = sim.BUS.get("door")
    await svc.stop()
    history = dev._lock_history
    assert history[-1] == last or history[-1][0] == last


async def test_staffed_free_release_is_renewed_without_audit_noise(tmp_path, library, monkeypatch):
    import kiosk.door.periods as service_module

    monkeypatch.setattr(service_module, "_FREE_CHUNK", 1.0)  # a lock that holds a release at most 1 s
    svc = await started(tmp_path, library, Clock(STAFFED))
    try:
        # Renewed when a third of the release is left: at 0, ~0.67, ~1.33 s.
        await until(lambda: sum(1 for h in sim.lock_history(name="door") if h[0] == "release") >= 3)
        assert svc.status()["lock"] == "free"
    finally:
        await svc.stop()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        assert [e.detail for e in j.entries(event="door.released")] == ["staffed"]


class BrokenLibrary(StaticLibrary):
    """Answers, but with something the adapter cannot read (not a link failure)."""

    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot:
        from kiosk.adapter import LibrarySystemProtocolError

        raise LibrarySystemProtocolError("garbled answer")


async def test_library_garbage_is_an_error_not_an_entry(tmp_path):
    svc = await started(tmp_path, BrokenLibrary({}), Clock(UNMANNED))
    try:
        out = await enter(svc)
        assert not out.granted and out.rules == ("E1",) and out.result.value == "error"
        assert sim.indicator_history(name="door")[-1] is Pattern.ERROR
        assert all(cmd == "lock" for cmd, _ in sim.lock_history(name="door"))
    finally:
        await svc.stop()


async def test_lost_strike_is_an_error_reported_to_staff(tmp_path, library, hook):
    devices = {
        "patron_reader": {"url": "sim://door-controller?name=door"},
        "pinpad": {"url": "sim://door-controller?name=door"},
        "door_contact": {"url": "sim://door-controller?name=door"},
        "indicator": {"url": "sim://door-controller?name=door"},
        "lock": {"url": "sim://lock?name=strike"},
    }
    cfg = door_config(tmp_path, devices=devices, webhooks=[hook.url])
    svc = DoorService(cfg, library=library, clock=Clock(UNMANNED), tick_seconds=0.05, scrypt=FAST)
    await svc.start()
    try:
        sim.unplug(name="strike")
        await asyncio.to_thread(hook.wait_for, lambda p: p["event"] == "device" and p["state"] == "lost")
        out = await enter(svc)
        assert not out.granted and out.rules == ("E1",)
        assert sim.indicator_history(name="door")[-1] is Pattern.ERROR
        sim.replug(name="strike")
        await asyncio.to_thread(hook.wait_for, lambda p: p["event"] == "device" and p["state"] == "back")
        assert (await enter(svc)).granted
    finally:
        await svc.stop()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        assert [e.result for e in j.entries(event="device")] == ["lost", "back"]
        assert [e.result for e in j.entries(event="entry")] == ["error", "granted"]


async def test_alarm_output_follows_the_alarm(tmp_path, library):
    svc = await started(tmp_path, library, Clock(UNMANNED), alarm_outputs=["sim://lock?name=siren"])
    try:
        sim.open_door(name="door")
        await svc.settle()
        assert sim.lock_history(name="siren")[-1][0] == "release"
        sim.close_door(name="door")
        await svc.settle()
        assert sim.lock_history(name="siren")[-1] == ("lock", None)
    finally:
        await svc.stop()


async def test_a_door_without_a_lock_is_a_clear_config_error(tmp_path, library):
    from kiosk.door.errors import DoorConfigError

    cfg = door_config(tmp_path, devices={"patron_reader": {"url": "sim://patron?name=lonely"}})
    svc = DoorService(cfg, library=library, clock=Clock(UNMANNED), scrypt=FAST)
    with pytest.raises(DoorConfigError, match="needs a lock"):
        await svc.start()
    assert "lonely" not in sim.BUS.names()  # what was opened is closed again


def test_no_door_section_no_schedule_no_key(tmp_path):
    from kiosk.config import parse_config
    from kiosk.door.errors import DoorConfigError

    base = door_config(tmp_path).model_dump(mode="json", exclude={"source"})
    for change, message in (
        ({"door": None}, "no \\[door\\] section"),
        ({"schedule": None}, "needs a \\[schedule\\]"),
        ({"secrets": {}}, "pseudonym_key"),
    ):
        data = {**base, **change}
        with pytest.raises(DoorConfigError, match=message):
            DoorService(parse_config(data))


async def test_embedded_in_a_kiosk_touch_card_and_pin(tmp_path, library):
    """The kiosk's own reader and touch screen drive the same entry path."""
    messages = []
    svc = await started(tmp_path, library, Clock(UNMANNED), messages=messages)
    try:
        svc.present_card(CARD, "touch")
        await svc.settle()
        assert messages[-1].kind == "prompt" and messages[-1].reader == "touch"
        svc.submit_pin(PIN)
        out = await svc.next_outcome()
        assert out.granted and out.reader == "touch"
        svc.present_card(CARD, "touch")
        await svc.settle()
        for key in WRONG + "#":
            svc.press_key(key)
        out = await svc.next_outcome()
        assert out.rules == ("P1",)
        assert messages[-1].kind == "refused" and messages[-1].rules == ("P1",)
    finally:
        await svc.stop()
