"""``bibkiosk demo``'s fleet without the touch UI: broker, demo door on SIP2 to the
demo library, the kiosk on the link, the console with the printed demo login."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import httpx
import pytest

from kiosk.fleet import demo as demo_mod
from kiosk.fleet.broker import free_port
from kiosk.fleet.demo import STAFF_USER, DemoFleet
from kiosk.kiosk_cli import demo_now, start_demo_library

pytestmark = pytest.mark.timeout(120)


async def test_demo_fleet_door_entries_reach_the_console(tmp_path, capsys):
    demo = await start_demo_library(tmp_path / "library.sqlite", demo_now)
    flows = SimpleNamespace(hub=None, _library_up=True, journal=SimpleNamespace(pending_count=lambda: 0), payments=None)
    port = free_port()
    fleet = DemoFleet(tmp_path, demo, flows, console_port=port, visitor_every=0.5)
    try:
        assert await fleet.start()
        err = capsys.readouterr().err
        assert f"http://127.0.0.1:{port}" in err and f"login: {STAFF_USER} / {fleet.password}" in err
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            page = await client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            r = await client.post("/login", data={"csrf": token, "username": STAFF_USER, "password": fleet.password, "next": "/"})
            assert r.status_code in (200, 303)
            for _ in range(200):
                site = await client.get("/site/demo")
                if site.text.count('data-event="') >= 2:
                    break
                await asyncio.sleep(0.1)
            assert site.text.count('data-event="') >= 2, "no entries from the demo door"
            assert "granted" in site.text or "toegelaten" in site.text
            sites = (await client.get("/")).text
            assert 'data-device="demo/door"' in sites and 'data-device="demo/kiosk"' in sites
    finally:
        await fleet.close()
        await demo.close()


async def test_demo_without_mosquitto_says_so_and_goes_on(tmp_path, capsys, monkeypatch):
    import kiosk.fleet.broker as broker

    monkeypatch.setattr(broker, "mosquitto_path", lambda: None)
    fleet = DemoFleet(tmp_path, None, None)
    assert await fleet.start() is False
    assert "mosquitto is not installed" in capsys.readouterr().err
    await fleet.close()
    assert demo_mod.DemoFleet is DemoFleet


async def test_demo_console_port_in_use_says_so_and_goes_on(tmp_path, capsys):
    import socket

    demo = await start_demo_library(tmp_path / "library.sqlite", demo_now)
    flows = SimpleNamespace(hub=None, _library_up=True, journal=SimpleNamespace(pending_count=lambda: 0), payments=None)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        fleet = DemoFleet(tmp_path, demo, flows, console_port=busy.getsockname()[1], visitor_every=60)
        try:
            assert await fleet.start()
            assert "is in use: no staff console" in capsys.readouterr().err
            assert fleet.door_link is not None and fleet.server is None
        finally:
            await fleet.close()
            await demo.close()
