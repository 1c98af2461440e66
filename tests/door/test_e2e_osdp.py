"""End to end with real OSDP: a libosdp PD in another process over a socat pty
(reader, keypad, strike output, door contact, exit button; secure channel
enforced) and the embedded library system over real SIP2.

The PD and the bus are the devices engineers' fixtures (tests/devices/conftest_osdp.py).
"""

from __future__ import annotations

import asyncio

import pytest

from devices.osdp import display_rows
from kiosk.door.audit import AuditJournal
from kiosk.i18n import translate
from kiosk.door.service import DoorService
from tests.devices.conftest_osdp import osdp_bus, osdp_key, pd  # noqa: F401 - fixtures

from .conftest import CLOSED, UNMANNED, Clock, door_config, find_secrets
from .library_fixture import VARIANTS, EmbeddedLibrary
from .test_e2e_sip2 import POLICY, WRONG
from .test_service_sim import FAST


def osdp_config(tmp_path, bus, key: bytes, **door):
    from kiosk.config import parse_config

    key_file = tmp_path / "osdp.key"
    key_file.write_text(key.hex())
    key_file.chmod(0o600)
    url = (f"osdp://{bus.url_path}?address=101&scbk_file={key_file}&card_format=decimal"
           "&strike_output=0&door_input=0&exit_input=1&name=entrance&display_rows=2&display_cols=16")
    cfg = door_config(tmp_path, devices={role: {"url": url} for role in
                                          ("patron_reader", "pinpad", "lock", "door_contact", "indicator")}, **door)
    data = cfg.model_dump(mode="json", exclude={"source"})
    data["policy"] = POLICY
    data["secrets"] = {"pseudonym_key": {"value": "door-e2e-key-0123456789abcdef"}}
    return parse_config(data)


@pytest.fixture
async def library(tmp_path):
    lib = await EmbeddedLibrary(tmp_path).start()
    yield lib
    await lib.close()


async def started(tmp_path, osdp_bus, osdp_key, library, clock, **door):  # noqa: F811
    svc = DoorService(
        osdp_config(tmp_path, osdp_bus, osdp_key, **door), library=library.adapter, clock=clock,
        tick_seconds=0.05, scrypt=FAST, webhook_options={"backoff": 0.05},
    )
    await svc.start()
    return svc


def card_bytes(card: str) -> tuple[bytes, int]:
    return int(card).to_bytes(6, "big"), 48


async def present(pd, svc, card: str, pin: str | None):  # noqa: F811
    pd.card(*card_bytes(card))
    if pin is not None:
        # The controller asks for the PIN (amber LED) before the patron types.
        await asyncio.to_thread(pd.expect, lambda ev: ev["ev"] == "command" and ev["command"] == "led" and ev.get("on_color") == 3, 10)
        pd.keys(pin + "#")
    return await svc.next_outcome(20)


def strike(pd) -> dict:  # noqa: F811
    return pd.expect(lambda ev: ev["ev"] == "command" and ev["command"] == "output" and ev.get("control_code") == 5, 10)


async def test_osdp_entry_refusal_closed_and_offline(tmp_path, osdp_bus, osdp_key, pd, library, caplog):  # noqa: F811
    caplog.set_level("DEBUG")
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, osdp_bus, osdp_key, library, clock)
    try:
        ok, nobadge = VARIANTS["ok"], VARIANTS["no_badge"]
        out = await present(pd, svc, ok.card, ok.pin)
        assert out.granted, out
        cmd = await asyncio.to_thread(strike, pd)
        assert cmd["output_no"] == 0 and cmd["timer_count"] == 80  # 8 s in 100 ms
        out = await present(pd, svc, nobadge.card, nobadge.pin)
        assert out.rules == ("B1",)
        await asyncio.to_thread(
            pd.expect, lambda ev: ev["ev"] == "command" and ev["command"] == "led" and ev.get("on_color") == 1, 10
        )  # red: refused
        # The reader's own display says why, in short (first sentence, ASCII, 2 x 16).
        shown = await asyncio.to_thread(
            pd.expect, lambda ev: ev["ev"] == "command" and ev["command"] == "text" and ev.get("offset_row") == 1, 10
        )
        assert shown["data"] == display_rows(translate("policy", "policy.B1", "nl"), 2, 16)[0]
        await svc.ident.settle_background()  # the offline-cache refresh of the first entry
        await library.down()
        clock.advance(days=1)
        out = await present(pd, svc, ok.card, ok.pin)
        assert out.granted and out.source == "offline"
        out = await present(pd, svc, VARIANTS["r1"].card, VARIANTS["r1"].pin)
        assert out.rules == ("O1",)
        clock.now = CLOSED
        out = await present(pd, svc, ok.card, None)
        assert out.rules == ("S1",)
    finally:
        await svc.stop()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        entries = [(e.result, e.source, e.rules) for e in j.entries(event="entry")]
    assert entries == [
        ("granted", "online", ()), ("refused", "online", ("B1",)), ("granted", "offline", ()),
        ("refused", "offline", ("O1",)), ("refused", "local", ("S1",)),
    ]
    assert not find_secrets(caplog.text)
    for path in (tmp_path / "state").iterdir():
        assert not find_secrets(path.read_bytes().decode("latin-1")), path.name


async def test_osdp_five_wrong_pins_lock_the_card_until_it_expires(tmp_path, osdp_bus, osdp_key, pd, library):  # noqa: F811
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, osdp_bus, osdp_key, library, clock)
    ok = VARIANTS["ok"]
    try:
        for _ in range(4):
            assert (await present(pd, svc, ok.card, WRONG)).rules == ("P1",)
            clock.advance(seconds=20)
        assert (await present(pd, svc, ok.card, WRONG)).rules[0] == "L1"  # the fifth locks out at once
        clock.advance(seconds=20)
        assert (await present(pd, svc, ok.card, None)).rules == ("L1",)
        clock.advance(minutes=16)
        out = await present(pd, svc, ok.card, ok.pin)
        assert out.granted
        await asyncio.to_thread(strike, pd)
    finally:
        await svc.stop()


async def test_osdp_held_open_forced_open_exit_button_and_webhooks(tmp_path, osdp_bus, osdp_key, pd, library, hook):  # noqa: F811
    clock = Clock(UNMANNED)
    svc = await started(tmp_path, osdp_bus, osdp_key, library, clock, held_open_seconds=0.5, webhooks=[hook.url])
    try:
        pd.inputs(1, 0)  # the door contact opens without a release: forced
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "forced_open" and p["state"] == "raised")
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "held_open" and p["state"] == "raised")
        pd.inputs(0, 0)
        await asyncio.to_thread(hook.wait_for, lambda p: p.get("alarm") == "forced_open" and p["state"] == "cleared")
        # Exit button: the strike releases, the door opens and closes, the strike relocks.
        pd.inputs(0, 1)
        await asyncio.to_thread(strike, pd)
        pd.inputs(1, 0)
        await asyncio.sleep(0.2)
        pd.inputs(0, 0)
        relock = await asyncio.to_thread(
            pd.expect, lambda ev: ev["ev"] == "command" and ev["command"] == "output" and ev.get("control_code") == 1, 10
        )
        assert relock["output_no"] == 0
        await asyncio.sleep(0.1)
        assert svc.status()["alarms"] == []
        assert svc.audit.occupancy(clock()).exits == 1
    finally:
        await svc.stop()
    with AuditJournal(tmp_path / "state" / "door-audit.sqlite", readonly=True) as j:
        alarms = [(e.result, e.detail) for e in j.entries(event="alarm")]
    assert ("forced_open", "raised") in alarms and ("held_open", "raised") in alarms and ("held_open", "cleared") in alarms
