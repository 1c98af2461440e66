"""Staff commands on a full disk: the device cannot record them.

On a real 600 KiB tmpfs filled to the last byte (the door's ``state_dir``, with
the fleet journal and the door's audit in it), a simulated door on the real
Mosquitto, the console's own link on the other side.  The old link raised in
the command's task (``command_received``: "database or disk is full"): the
command was neither carried out nor answered, the console waited for its
timeout, and asyncio logged "Task exception was never retrieved" — a
lockdown could not be done remotely on a full disk.  Now:

- a ``lockdown`` locks the door (fail secure) and is answered ``ok`` with
  ``recorded: false`` and a warning; its redelivery gets the same answer;
- a ``release`` (and a ``resume``: it would lift the lockdown) is refused,
  "state not writable", and not carried out; ``check`` is answered;
- the answers and the ``command`` events go out from memory;
- no task exception is left unretrieved;
- the door itself refuses a release whose audit row cannot be written, also
  when the fleet journal (elsewhere) took the command.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from pathlib import Path

import pytest

from devices import sim
from kiosk.config import load_config
from kiosk.door.service import DoorService
from kiosk.fleet.console_link import ConsoleLink
from kiosk.fleet.door import DoorFleet
from kiosk.fleet.errors import FleetStateError
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink
from tests.door.conftest import STAFFED, UNMANNED, Clock
from tests.door.fsfaults import fill, small_fs  # noqa: F401 - the fixture
from tests.door.test_service_sim import CARD, FAST, PIN, StaticLibrary, patron

from .conftest import CONSOLE, MemorySink
from .test_door_fleet import NO_BADGE, door_toml

pytestmark = pytest.mark.timeout(120)


def free(where: Path) -> None:
    for name in ("filler", "filler2"):
        if (where / name).exists():
            os.unlink(where / name)


class Site:
    """A door (state in *state_dir*, fleet journal at *journal_path*) and the console, on the broker."""

    def __init__(self, fleet, tmp_path: Path, state_dir: Path, journal_path: Path, now, client_id: str) -> None:
        cfg_path = door_toml(tmp_path)
        text = cfg_path.read_text().replace(f'state_dir = "{tmp_path / "state"}"', f'state_dir = "{state_dir}"')
        cfg_path.write_text(text)
        self.cfg_path = cfg_path
        self.svc = DoorService(load_config(cfg_path), library=StaticLibrary({CARD: (PIN, patron())}), clock=Clock(now),
                               tick_seconds=0.05, scrypt=FAST)
        self.journal = FleetJournal(journal_path)
        bridge = DoorFleet(self.svc, config_path=cfg_path)
        self.link = FleetLink(fleet.settings("b1-door"), self.journal, on_command=bridge)
        bridge.attach(self.link)
        self.sink = MemorySink()
        self.console = ConsoleLink(fleet.settings(CONSOLE), self.sink, client_id=client_id)
        self.unretrieved: list[dict] = []

    async def __aenter__(self) -> Site:
        loop = asyncio.get_running_loop()
        self._handler = loop.get_exception_handler()
        loop.set_exception_handler(lambda _loop, context: self.unretrieved.append(context))
        await self.console.start()
        await self.console.wait_connected()
        await self.svc.start()
        await self.link.start()
        await self.link.wait_connected()
        await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.link.stop()
            await self.svc.stop()
            await self.console.stop()
            self.journal.close()
            gc.collect()  # a failed task nobody awaited is reported when it is collected
            await asyncio.sleep(0.05)
        finally:
            asyncio.get_running_loop().set_exception_handler(self._handler)

    async def command(self, action: str, **kw):
        return await self.console.command("b1", "door", action, staff="anna", timeout=kw.pop("timeout", 6), **kw)

    def state(self) -> dict:
        return self.sink.states.get(("b1", "door"), {})

    def releases_since(self, n: int) -> list:
        return [h for h in sim.lock_history(name="door")[n:] if h[0] == "release"]


def never_retrieved(site: Site, caplog) -> list[str]:
    texts = [str(c.get("message")) for c in site.unretrieved]
    texts += [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    return [t for t in texts if "never retrieved" in t or "exception" in t.lower()]


async def test_commands_on_a_full_disk_lockdown_done_release_refused_all_answered(fleet, tmp_path, small_fs, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    site = Site(fleet, tmp_path, small_fs, small_fs / "fleet-journal.sqlite", UNMANNED, "console-cmd-full")
    async with site:
        await site.sink.wait(lambda: site.state().get("mode") == "unmanned")
        fill(small_fs)
        with pytest.raises(FleetStateError, match="full"):
            site.journal.command_received("probe", "lockdown", "x", "x", {})  # the case at hand
        n = len(sim.lock_history(name="door"))

        # A release that cannot be recorded is refused, with an answer, and not carried out.
        release = await site.command("release", reason="patron at the door", args={"seconds": 5})
        assert release["ok"] is False and release["recorded"] is False, release
        assert release["error"].startswith("state not writable") and "full" in release["error"]
        assert site.releases_since(n) == [] and site.svc.monitor.lock.value == "locked"

        # A lockdown is carried out (fail secure) and answered: done, not recorded on the door.
        lockdown = await site.command("lockdown", reason="incident", command_id="ld-full-1")
        assert lockdown["ok"] is True and lockdown["recorded"] is False, lockdown
        assert {k: lockdown["result"][k] for k in ("lock", "lockdown", "recorded")} == {"lock": "locked", "lockdown": True, "recorded": False}
        assert site.svc.status()["lockdown_info"]["recorded"] is False  # in memory only: ends at a restart
        assert "not recorded" in lockdown["warning"] and "full" in lockdown["warning"]
        assert site.svc.status()["lockdown"] is True and sim.lock_history(name="door")[-1] == ("lock", None)
        await site.sink.wait(lambda: site.state().get("mode") == "lockdown")
        # Redelivered: the same answer, not carried out again.
        again = await site.command("lockdown", reason="incident", command_id="ld-full-1")
        assert again == lockdown
        # A resume would lift the lockdown: refused while it cannot be recorded; the lockdown stands.
        resume = await site.command("resume", reason="all clear")
        assert resume["ok"] is False and resume["error"].startswith("state not writable"), resume
        assert site.svc.status()["lockdown"] is True
        # A question is answered.
        why = await site.command("check", reason="patron on the phone", timeout=30,
                                 args={"card": NO_BADGE, "action": "entry", "period": "unmanned"})
        assert why["recorded"] is False and ("result" in why or "error" in why), why
        assert site.releases_since(n) == []

        # Logged for staff; the console got the command events too (from memory).
        logged = [r.getMessage() for r in caplog.records if "COMMAND NOT RECORDED" in r.getMessage()]
        assert any("lockdown" in t and "carried out" in t for t in logged)
        assert any("release" in t and "refused" in t for t in logged)
        await site.sink.wait(lambda: {"ld-full-1", release["id"]} <= {
            e.get("command_id") for e in site.sink.events.values() if e["type"] == "command"})
        events = {e["command_id"]: e for e in site.sink.events.values() if e["type"] == "command"}
        assert events["ld-full-1"]["ok"] is True and events["ld-full-1"]["recorded"] is False
        assert events[release["id"]]["ok"] is False

        # Room again: a command is recorded and carried out the usual way.
        free(small_fs)
        await asyncio.sleep(0.3)  # housekeeping finds state_dir writable again
        resume = await site.command("resume", reason="all clear, disk freed")
        assert resume["ok"] is True and "recorded" not in resume, resume
        assert site.svc.status()["lockdown"] is False
        recorded = {c["id"] for c in site.journal.commands()}
        assert resume["id"] in recorded and "ld-full-1" not in recorded and release["id"] not in recorded
    assert never_retrieved(site, caplog) == []
    free(small_fs)


async def test_a_lockdown_on_a_full_disk_locks_a_door_in_free_entry(fleet, tmp_path, small_fs, caplog):  # noqa: F811
    site = Site(fleet, tmp_path, small_fs, small_fs / "fleet-journal.sqlite", STAFFED, "console-cmd-free")
    async with site:
        await site.sink.wait(lambda: site.state().get("lock") == "free")
        fill(small_fs)
        reply = await site.command("lockdown", reason="incident")
        assert reply["ok"] is True and reply["recorded"] is False, reply
        assert site.svc.monitor.lock.value == "locked" and site.svc.status()["lockdown"] is True
        await site.sink.wait(lambda: site.state().get("mode") == "lockdown" and site.state().get("lock") == "locked")
        n = len(sim.lock_history(name="door"))
        await asyncio.sleep(0.5)  # free entry is not renewed under the lockdown
        assert site.releases_since(n) == []
    assert never_retrieved(site, caplog) == []
    free(small_fs)


async def test_the_door_refuses_a_release_it_cannot_audit(fleet, tmp_path, small_fs, caplog):  # noqa: F811
    """The door's audit full, the fleet journal (on another disk) not: the link records the command,
    the door refuses what it cannot audit (the old door released anyway), and still locks down,
    answered "done, not recorded" (in memory only: a restart would not lock down again)."""
    site = Site(fleet, tmp_path, small_fs, tmp_path / "fleet-journal.sqlite", UNMANNED, "console-cmd-audit")
    async with site:
        await site.sink.wait(lambda: site.state().get("mode") == "unmanned")
        fill(small_fs)
        n = len(sim.lock_history(name="door"))
        release = await site.command("release", reason="patron at the door", args={"seconds": 5})
        assert release["ok"] is False and release["error"].startswith("state not writable"), release
        assert "recorded" not in release  # the fleet journal has it
        assert site.releases_since(n) == [] and site.svc.monitor.lock.value == "locked"
        lockdown = await site.command("lockdown", reason="incident")
        assert lockdown["ok"] is True and site.svc.status()["lockdown"] is True
        # Carried out, but the door's audit (what a restart locks down again from) does not have it:
        # the answer says so (the old one said nothing: ok, as if on record).
        assert lockdown["recorded"] is False and "not recorded on the door" in lockdown["warning"], lockdown
        assert site.svc.status()["lockdown_info"]["recorded"] is False
        resume = await site.command("resume", reason="all clear")
        assert resume["ok"] is False and site.svc.status()["lockdown"] is True
        assert "state_unwritable" in site.svc.status()["alarms"]
        cmds = {c["id"]: c for c in site.journal.commands()}
        assert cmds[release["id"]]["ok"] is False and cmds[lockdown["id"]]["ok"] is True
    assert never_retrieved(site, caplog) == []
    free(small_fs)
