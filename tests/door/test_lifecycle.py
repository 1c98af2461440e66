"""Lock first, always; corrupt or missing state never keeps the door out; a
state that cannot be written keeps it locked and refusing (issue 11, items 4-5).

In-process, with sim:// devices and real files: real corrupt SQLite files and
a real 600 KiB tmpfs (full disk) and a read-only mount (see fsfaults.py).
"""

from __future__ import annotations

import asyncio
import os
from datetime import date

import pytest

from devices import Pattern, open_device, sim
from kiosk.config import ConfigError, parse_config
from kiosk.door.audit import AuditJournal
from kiosk.identify import ScryptParams
from kiosk.door.service import DoorService
from policy import Badge, CardState, PatronSnapshot, PinCheck, Subscription, SubscriptionStatus

from .conftest import UNMANNED, Clock, door_config, enter_any, register_secrets
from .fsfaults import fill, read_only_fs, small_fs  # noqa: F401 - fixtures
from .test_statefile import damaged_database

FAST = ScryptParams(n=2**10, r=8, p=1)
CARD, PIN = "29548000003005", "582913"
register_secrets(CARD, PIN)


class Library:
    """One patron with the badge; ``start`` may hang (an unreachable library system)."""

    def __init__(self, hang: bool = False, events: list | None = None) -> None:
        self.hang = hang
        self.events = events if events is not None else []

    async def start(self) -> None:
        self.events.append("library.start")
        if self.hang:
            await asyncio.sleep(3600)

    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot:
        if card != CARD:
            return PatronSnapshot(known=False, pin=PinCheck.WRONG)
        return PatronSnapshot(
            card_state=CardState.ACTIVE,
            subscription=Subscription(type_code="A", status=SubscriptionStatus.NORMAL),
            badges=(Badge(name="Onbemande openingsuren"),),
            birth_date=date(1990, 1, 1),
            language="nl",
            pin=PinCheck.RIGHT if pin == PIN else PinCheck.WRONG,
        )


class Prompts:
    """on_message: what the door showed."""

    def __init__(self) -> None:
        self.messages: list = []

    def __call__(self, message) -> None:
        self.messages.append(message)


async def enter(svc: DoorService, prompts: Prompts, card: str = CARD, pin: str = PIN, timeout: float = 5.0):
    if svc.state_fault is not None:  # refused at the card
        sim.tap_card(card, name="door")
        return await svc.next_outcome(timeout)
    return await enter_any(svc, card, pin, timeout)


def service(cfg, library=None, prompts=None, **kw) -> DoorService:
    return DoorService(
        cfg, library=library or Library(), clock=Clock(UNMANNED), tick_seconds=0.05, scrypt=FAST,
        on_message=prompts, webhook_options={"backoff": 0.05}, **kw,
    )


# --------------------------------------------------------------------------- lock first


async def test_locks_are_driven_locked_before_state_secrets_and_library(tmp_path, monkeypatch):
    """The first thing start() does to the world is lock: the state_dir does not
    exist yet, the pseudonym key has not been read, the library has not been asked."""
    events: list = []
    lock = open_device("sim://lock?name=first")
    reader = open_device("sim://patron,pinpad,door?name=door")
    real_lock = lock.lock

    async def spy_lock():
        events.append(("lock", (tmp_path / "state").exists()))
        await real_lock()

    lock.lock = spy_lock  # type: ignore[method-assign]
    cfg = door_config(tmp_path, library_timeout_seconds=0.3)
    real_secret = type(cfg).secret

    def spy_secret(self, name):
        events.append(("secret", name))
        return real_secret(self, name)

    monkeypatch.setattr(type(cfg), "secret", spy_secret)
    svc = service(cfg, library=Library(hang=True, events=events),
                  devices={"lock": [lock], "patron_reader": [reader], "pinpad": [reader], "door_contact": [reader]})
    await svc.start()
    try:
        assert events[0] == ("lock", False), events
        assert events.index(("secret", "pseudonym_key")) < events.index("library.start")
        assert svc.status()["library"] == "offline"  # the library hung: offline after library_timeout_seconds
    finally:
        await svc.stop()
        await lock.close()
        await reader.close()


async def test_unset_env_secret_locks_then_a_one_line_config_error(tmp_path, monkeypatch):
    """The pseudonym key from an unset env variable: the door is built, start()
    locks first and then refuses to run with the ConfigError (no traceback in the CLI)."""
    monkeypatch.delenv("BIBKIOSK_TEST_UNSET_KEY", raising=False)
    data = door_config(tmp_path).model_dump(mode="json", exclude={"source"})
    data["secrets"] = {"pseudonym_key": {"env": "BIBKIOSK_TEST_UNSET_KEY"}}
    lock = open_device("sim://lock?name=first")
    reader = open_device("sim://patron,pinpad?name=door")
    svc = service(parse_config(data), devices={"lock": [lock], "patron_reader": [reader], "pinpad": [reader]})
    try:
        with pytest.raises(ConfigError, match="BIBKIOSK_TEST_UNSET_KEY"):
            await svc.start()
        assert sim.lock_history(name="first") == [("lock", None), ("lock", None)]  # at start, and on the failed start
    finally:
        await lock.close()
        await reader.close()
    assert not (tmp_path / "state").exists()


# --------------------------------------------------------------------------- corrupt state


async def test_corrupt_audit_is_moved_aside_with_an_alarm_and_the_door_works(tmp_path, hook):
    state = tmp_path / "state"
    state.mkdir()
    (state / "door-audit.sqlite").write_bytes(b"\x13\x37 not an audit journal " * 400)
    prompts = Prompts()
    svc = service(door_config(tmp_path, webhooks=[hook.url]), prompts=prompts)
    await svc.start()
    try:
        alarm = await asyncio.to_thread(hook.wait_for, lambda p: p["event"] == "alarm" and p.get("alarm") == "audit_corrupt")
        assert alarm["state"] == "raised" and "moved aside" in alarm["detail"]
        assert "audit_corrupt" in svc.status()["alarms"]
        out = await enter(svc, prompts)
        assert out.granted
    finally:
        await svc.stop()
    kept = list(state.glob("door-audit.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"\x13\x37 not an audit")
    with AuditJournal(state / "door-audit.sqlite", readonly=True) as j:
        assert [e.result for e in j.entries(event="entry")] == ["granted"]
        assert ("audit_corrupt", "raised") in [(e.result, e.detail) for e in j.entries(event="alarm")]


async def test_corrupt_cache_is_rebuilt_and_the_door_works(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    damaged_database(state / "patrons.sqlite")
    prompts = Prompts()
    svc = service(door_config(tmp_path), prompts=prompts)
    await svc.start()
    try:
        assert svc.state_fault is None
        assert (await enter(svc, prompts)).granted
    finally:
        await svc.stop()
    assert len(list(state.glob("patrons.sqlite.corrupt-*"))) == 1
    with AuditJournal(state / "door-audit.sqlite", readonly=True) as j:
        assert [e.result for e in j.entries(event="state")] == ["cache_rebuilt"]


# --------------------------------------------------------------------------- state that cannot be written


async def test_full_disk_at_start_alarm_locked_refused_then_recovers(tmp_path, small_fs, hook):
    """A full 600 KiB state_dir: the door starts, stays locked, refuses with E1
    (the right PIN is never even asked), raises an alarm; space freed: it decides again."""
    fill(small_fs)
    data = door_config(tmp_path, webhooks=[hook.url]).model_dump(mode="json", exclude={"source"})
    data["state_dir"] = str(small_fs / "state")
    prompts = Prompts()
    svc = service(parse_config(data), prompts=prompts)
    await svc.start()
    try:
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "state_unwritable" and p["state"] == "raised")
        assert svc.state_fault is not None and "state_unwritable" in svc.status()["alarms"]
        out = await enter(svc, prompts)
        assert not out.granted and out.rules == ("E1",)
        assert all(cmd == "lock" for cmd, _ in sim.lock_history(name="door"))
        assert sim.indicator_history(name="door")[-1] is Pattern.ERROR
        for name in ("filler", "filler2"):
            os.unlink(small_fs / name)
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "state_unwritable" and p["state"] == "cleared")
        assert svc.state_fault is None
        assert (await enter(svc, prompts)).granted
    finally:
        await svc.stop()


async def test_disk_full_while_running_refuses_from_the_next_entry(tmp_path, small_fs, hook):
    data = door_config(tmp_path, webhooks=[hook.url]).model_dump(mode="json", exclude={"source"})
    data["state_dir"] = str(small_fs / "state")
    prompts = Prompts()
    svc = service(parse_config(data), prompts=prompts)
    await svc.start()
    try:
        assert (await enter(svc, prompts)).granted
        fill(small_fs)
        # The next audit row cannot be written: from then on, refused (locked) with an alarm.
        for _ in range(40):
            out = await enter(svc, prompts)
            if svc.state_fault is not None:
                break
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "state_unwritable")
        out = await enter(svc, prompts)
        assert not out.granted and out.rules == ("E1",)
    finally:
        await svc.stop()


async def test_read_only_state_dir_runs_locked_and_refusing(tmp_path, read_only_fs):
    data = door_config(tmp_path).model_dump(mode="json", exclude={"source"})
    data["state_dir"] = str(read_only_fs / "state")
    prompts = Prompts()
    svc = service(parse_config(data), prompts=prompts)
    await svc.start()
    try:
        assert svc.state_fault is not None
        out = await enter(svc, prompts)
        assert not out.granted and out.rules == ("E1",)
        assert sim.lock_history(name="door")[0] == ("lock", None)
    finally:
        await svc.stop()

