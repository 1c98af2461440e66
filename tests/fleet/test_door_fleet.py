"""A simulated door on the fleet link (real Mosquitto): its entries reach the
console with the keyed-hash reference only, its state is retained, and the
console's commands are carried out, answered and audited on the door."""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from pathlib import Path

import pytest

from devices import sim
from kiosk.config import load_config
from kiosk.door.audit import AuditJournal
from kiosk.door.service import DoorService
from kiosk.fleet.console_link import ConsoleLink
from kiosk.fleet.door import DoorFleet
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.link import FleetLink
from kiosk.privacy import pseudonym
from tests.door.conftest import SCHEDULE, UNMANNED, Clock
from tests.door.test_service_sim import CARD, FAST, PIN, StaticLibrary, patron

from .conftest import CONSOLE, MemorySink

pytestmark = pytest.mark.timeout(90)
KEY = "fleet-door-test-key-0123456789abcdef"
NO_BADGE = "29999000000150"  # demo card: valid, but no unmanned-hours badge (B1)


def door_toml(tmp_path: Path) -> Path:
    path = tmp_path / "door.toml"
    days = SCHEDULE["branches"]["default"]
    lines = [
        f'state_dir = "{tmp_path / "state"}"',
        "[library]", 'kind = "embedded"', 'data = "demo"',
        "[devices.patron_reader]", 'url = "sim://door-controller?name=door"',
        "[devices.pinpad]", 'url = "sim://door-controller?name=door"',
        "[devices.lock]", 'url = "sim://door-controller?name=door"',
        "[devices.door_contact]", 'url = "sim://door-controller?name=door"',
        "[door]", 'fail_mode = "fail_secure"', "pin_timeout_seconds = 5",
        "[secrets.pseudonym_key]", f'value = "{KEY}"',
        "[schedule]", "announcements = [15, 10, 5]",
    ]
    for day, periods in days.items():
        for p in periods:
            lines += [f"[[schedule.branches.default.{day}]]", f'kind = "{p["kind"]}"', f'from = "{p["from"]}"', f'until = "{p["until"]}"']
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    tomllib.loads(path.read_text())
    return path


async def test_door_on_the_fleet(fleet, tmp_path):
    cfg_path = door_toml(tmp_path)
    cfg = load_config(cfg_path)
    svc = DoorService(cfg, library=StaticLibrary({CARD: (PIN, patron())}), clock=Clock(UNMANNED), tick_seconds=0.05, scrypt=FAST)
    journal = FleetJournal(tmp_path / "state" / "fleet.sqlite")
    bridge = DoorFleet(svc, config_path=cfg_path)
    link = FleetLink(fleet.settings("b1-door"), journal, on_command=bridge)
    bridge.attach(link)
    sink = MemorySink()
    console = ConsoleLink(fleet.settings(CONSOLE), sink, client_id="console-door")
    await console.start()
    await console.wait_connected()
    await svc.start()
    await link.start()
    await link.wait_connected()

    async def enter(pin_asked: bool = True):
        sim.tap_card(CARD, name="door")
        if pin_asked:
            await svc.pin_asked(5)
            sim.press_keys(PIN + "#", name="door")
        return await svc.next_outcome(5)

    def entries():
        return [e for e in sink.events.values() if e["type"] == "entry"]

    try:
        await sink.wait(lambda: sink.states.get(("b1", "door"), {}).get("mode") == "unmanned")
        state = sink.states[("b1", "door")]
        assert state["lock"] == "locked" and state["library"] in ("unknown", "online", None)
        assert all(v == "up" for v in state["devices"].values()) and state["devices"]

        out = await enter()
        assert out.granted
        await sink.wait(lambda: len(entries()) == 1)
        ev = entries()[0]
        assert ev["result"] == "granted" and ev["card_ref"] == pseudonym(CARD, KEY.encode())
        sim.close_door(name="door")

        reply = await console.command("b1", "door", "release", staff="anna", reason="patron at the door", args={"seconds": 5})
        assert reply["ok"], reply
        assert sim.lock_history(name="door")[-1] == ("release", 5.0)
        bad = await console.command("b1", "door", "release", staff="anna", reason="x", args={"seconds": 10_000})
        assert not bad["ok"] and "seconds" in bad["error"]

        assert (await console.command("b1", "door", "lockdown", staff="anna", reason="incident"))["ok"]
        await sink.wait(lambda: sink.states[("b1", "door")].get("mode") == "lockdown")
        out = await enter(pin_asked=False)
        assert not out.granted and out.rules == ("LD",)
        assert (await console.command("b1", "door", "resume", staff="anna", reason="all clear"))["ok"]
        assert (await enter()).granted

        assert (await console.command("b1", "door", "end_unmanned", staff="bert", reason="staff going home"))["ok"]
        out = await enter(pin_asked=False)
        assert out.rules == ("S1",)
        assert (await console.command("b1", "door", "resume", staff="bert", reason="back"))["ok"]

        # "Why refused?": the decision of `bibkiosk check`, answered by the site.
        why = await console.command("b1", "door", "check", staff="anna", reason="patron on the phone",
                                    args={"card": NO_BADGE, "action": "entry", "period": "unmanned"}, timeout=30)
        assert why["ok"], why
        r = why["result"]
        assert r["allowed"] is False and "B1" in r["rules"] and r["card_ref"] == pseudonym(NO_BADGE, KEY.encode())
        assert any(e.startswith("B1") for e in r["evidence"])

        await sink.wait(lambda: len(entries()) == 4)
        await link.wait_drained()
        await asyncio.sleep(0.2)
        assert sorted((e["result"], tuple(e.get("rules", ()))) for e in entries()) == [
            ("granted", ()), ("granted", ()), ("refused", ("LD",)), ("refused", ("S1",))]
        # No card number ever left the site.
        published = json.dumps(list(sink.events.values()) + list(sink.states.values()))
        assert CARD not in published and NO_BADGE not in published and PIN not in published
        remote = [e for e in sink.events.values() if e["type"] == "remote"]
        assert {e["result"] for e in remote} >= {"release", "lockdown", "resume", "end_unmanned", "check"}
    finally:
        await link.stop()
        await svc.stop()
        await console.stop()
        journal.close()
    # Audited on the door with the staff member and the reason.
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as audit:
        rows = [(e.result, e.detail) for e in audit.entries(event="remote")]
    assert ("lockdown", "staff=anna reason=incident") in rows
    assert any(r == "release" and "reason=patron at the door" in d and "seconds=5" in d for r, d in rows)
    assert not any(NO_BADGE in (d or "") for _, d in rows)
    cmds = FleetJournal(tmp_path / "state" / "fleet.sqlite").commands()
    assert all(c["args"].get("card") in (None, "(given)") for c in cmds)
