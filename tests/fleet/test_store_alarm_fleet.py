"""#11 follow-up: a kiosk whose state_dir fills up raises ``patron_store_unwritable``
(kiosk.flows.alarms) and its reporter sends it, but the console opened alarms
for the door's held_open and forced_open only: staff never saw it.  End to end:
the kiosk on a real 600 KiB tmpfs filled to the last byte, wired through
``kiosk_extras`` to the real Mosquitto; the console's own link, store and web
application on the other side.  The alarm opens on the site's alarms page with
the staff words and the kiosk's reason, and is cleared once there is room."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from devices.base import CardPresented, IdentifierKind
from kiosk.console.app import Hub, Sink, create_app
from kiosk.console.auth import add_staff
from kiosk.console.store import ConsoleStore
from kiosk.fleet.console_link import ConsoleLink
from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State, Ui, UiEvent
from kiosk.journal import Journal
from tests.console.test_console_app import PW, FakeLink, console_config, login
from tests.door.fsfaults import fill, small_fs  # noqa: F401 - the fixture
from tests.kiosk.fakelib import FakeLibrary

from .conftest import CONSOLE
from .test_kiosk_fleet import KEY, kiosk_toml, settle

pytestmark = pytest.mark.timeout(90)
ALARM = "patron_store_unwritable"


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_a_full_kiosk_state_dir_opens_an_alarm_on_the_console_cleared_when_there_is_room(fleet, tmp_path, small_fs):  # noqa: F811
    from kiosk.config import load_config
    from kiosk.fleet.kiosk import kiosk_extras

    config = load_config(kiosk_toml(tmp_path, fleet, small_fs))
    mono = Mono()
    journal = Journal(config.state_dir / "kiosk-journal.sqlite", pseudonym_key=KEY.encode())
    flows = KioskFlows(FakeLibrary(), journal, DeviceHub({}), FlowSettings.from_config(config), monotonic=mono)
    store = ConsoleStore(tmp_path / "console.sqlite")
    add_staff(store, "otto", PW, "operator", "en")
    console = ConsoleLink(fleet.settings(CONSOLE), Sink(store, Hub()), client_id="console-store-alarm")

    def open_alarms() -> list[dict]:
        return [a for a in store.alarms("b1") if a["device"] == "kiosk" and a["kind"] == ALARM and a["cleared"] is None]

    try:
        await console.start()
        await console.wait_connected()
        async with kiosk_extras(flows, config) as extras:
            await extras.link.wait_connected()
            extras.reporter.tick()
            await settle(lambda: any(d["device"] == "kiosk" and d["online"] for d in store.devices("b1")))
            # The disk fills up; the next PIN cannot be counted: the kiosk's standing alarm.
            fill(small_fs)
            await flows.handle(CardPresented("1001", IdentifierKind.BARCODE, "patron_reader"))
            for d in "1234":
                await flows.handle(UiEvent(Ui.PIN_DIGIT, d))
            await flows.handle(UiEvent(Ui.PIN_ENTER))
            assert flows.state is State.MESSAGE and ALARM in flows.alarms
            extras.reporter.tick()
            await settle(lambda: bool(open_alarms()))
            await settle(lambda: bool(open_alarms()[0]["detail"]))
            (alarm,) = open_alarms()
            assert "full" in alarm["detail"]  # the kiosk's reason: the store's "database or disk is full"

            app = create_app(console_config(tmp_path), store=store, link=FakeLink())
            with TestClient(app, base_url="http://127.0.0.1") as client:
                login(client, "otto")
                page = client.get("/site/b1?part=alarms").text
                assert "PIN actions out of service" in page and "kiosk: " in page and "disk is full" in page
                assert "alarm.patron_store_unwritable" not in page
                assert "PIN actions out of service" in client.get("/").text  # the overview, alarms first

                # Room again: the kiosk's recheck clears its alarm, the console closes it.
                for f in small_fs.glob("filler*"):
                    f.unlink()
                mono.t += 31
                await flows.tick()
                assert flows.alarms == {}
                extras.reporter.tick()
                await settle(lambda: not open_alarms())
                (closed,) = [a for a in store.alarms("b1") if a["kind"] == ALARM]
                assert closed["cleared"] is not None
                assert "cleared" in client.get("/site/b1?part=alarms").text
    finally:
        await console.stop()
        await flows.close()
        journal.close()
        store.close()
        for f in small_fs.glob("filler*"):
            f.unlink()
