"""The kiosk's help calls staff through the console link (#16 item 4, ``[help] call_staff =
"console"``): a kiosk configured in real TOML and wired as kiosk_cli does (kiosk_extras, then
staff_caller), against the real Mosquitto; on the other side the console's own link and sink
with a real ConsoleStore.  The patron's press raises a ``help`` alarm on the console and the
help says "sent"; with the link down it says "could not be sent" (and the call still reaches
the console once the link is back)."""

from __future__ import annotations


import pytest

from kiosk.fleet.console_link import ConsoleLink

from .conftest import CONSOLE
from .test_kiosk_fleet import KEY, kiosk_toml, settle

pytestmark = pytest.mark.timeout(90)


def help_toml(tmp, fleet):
    path = kiosk_toml(tmp, fleet)
    path.write_text(path.read_text() + '[help]\ncall_staff = "console"\n')
    return path


async def test_call_staff_raises_a_help_alarm_on_the_console(fleet, tmp_path):
    from kiosk.adapter import library_system_from_config
    from kiosk.config import load_config
    from kiosk.console.app import Hub, Sink
    from kiosk.console.store import ConsoleStore
    from kiosk.fleet.kiosk import kiosk_extras
    from kiosk.fleet.link import FleetLink, settings_from_config
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows, State
    from kiosk.flows.help import CallStatus
    from kiosk.journal import Journal
    from kiosk.staffcall import ConsoleStaffCall, staff_caller

    config = load_config(help_toml(tmp_path, fleet))
    journal = Journal(config.state_dir / "kiosk-journal.sqlite", pseudonym_key=KEY.encode())
    library = library_system_from_config(config)
    flows = KioskFlows(library, journal, DeviceHub.from_config(config.devices), FlowSettings.from_config(config))
    store = ConsoleStore(tmp_path / "console.sqlite")
    console = ConsoleLink(fleet.settings(CONSOLE), Sink(store, Hub()), client_id="console-help-e2e")
    await console.start()
    try:
        await flows.start(ticker=False)
        async with kiosk_extras(flows, config) as extras:
            flows.staff_caller = staff_caller(config, extras.link)
            assert isinstance(flows.staff_caller, ConsoleStaffCall)
            await extras.link.wait_connected()
            await console.wait_connected()

            def help_alarms() -> list[dict]:
                return [a for a in store.alarms("b1") if a["kind"] == "help" and a["device"] == "kiosk"]

            flows.open_help()
            assert flows.view.help.can_call and flows.state is State.IDLE
            flows.call_staff()
            assert flows.view.help.call is CallStatus.SENDING
            await flows.settle()
            assert flows.view.help.call is CallStatus.SENT
            await settle(lambda: len(help_alarms()) == 1)
            (alarm,) = help_alarms()
            assert alarm["cleared"] is None
            (event,) = store.events(site="b1", types=["help"])
            assert event["result"] == "call_staff" and event["detail"] == "screen=idle"
            # Staff acknowledge it: answered, off the list; the next call raises a new alarm.
            store.acknowledge(alarm["id"], "otto")
            assert help_alarms() == []
            flows.close_help()

            # The link is down: the patron is told the call could not be sent now ...
            await extras.link.stop()
            flows.staff_caller.timeout = 0.5
            flows.open_help()
            flows.call_staff()
            await flows.settle()
            assert flows.view.help.call is CallStatus.FAILED
            # ... it stays journalled and reaches the console once the link is back (the kiosk restarted).
            again = FleetLink(settings_from_config(config, "kiosk"), extras.journal)
            await again.start()
            try:
                await settle(lambda: len(help_alarms()) == 1)
            finally:
                await again.stop()
            assert flows.state is State.IDLE  # the help never moved the flow
    finally:
        await console.stop()
        await flows.close()
        await library.close()
        journal.close()
        store.close()
