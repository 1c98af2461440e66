"""The kiosk on the fleet link, end to end and headless: a kiosk configured
with ``[fleet]`` (real TOML, loaded like ``bibkiosk kiosk``), its flows on
sim:// devices with a payment terminal, wired as kiosk_cli does through
``kiosk_extras``, against the real Mosquitto; on the other side the console's
own link and sink with a real ConsoleStore.  The retained state reaches a
console that connects later; a printer lost and back, a payment left unbooked
and a payment the library refused arrive as events, and the console raises
(and clears) the alarms for them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devices import sim
from kiosk.adapter.base import LibrarySystemUnavailable
from kiosk.fleet.console_link import ConsoleLink
from kiosk.payments import BookingAnswer, LineKind, PayLine, PaymentState

from .conftest import CONSOLE

pytestmark = pytest.mark.timeout(60)
KEY = "kiosk-fleet-e2e-key-0123456789abcdef"
CARD = "29548000001003"


def kiosk_toml(tmp: Path, fleet, state: Path | None = None) -> Path:
    secret = tmp / "fleet.secret"
    secret.write_text(fleet.passwords["b1-kiosk"])
    secret.chmod(0o600)
    path = tmp / "kiosk.toml"
    path.write_text("\n".join([
        f'state_dir = "{state or tmp / "state"}"',
        "[library]", 'kind = "embedded"', 'data = "demo"',
        "[devices.patron_reader]", 'url = "sim://patron?name=kf-patron"',
        "[devices.printer]", 'url = "sim://printer?name=kf-printer"',
        "[devices.payment_terminal]", 'url = "sim://payment?name=kf-pay"',
        "[fleet]", 'broker = "127.0.0.1"', f"port = {fleet.broker.port}", f'ca_file = "{fleet.broker.ca_file}"',
        'username = "b1-kiosk"', 'site = "b1"', 'device = "kiosk"',
        "[secrets]", f'pseudonym_key = {{ value = "{KEY}" }}', 'fleet_password = { file = "fleet.secret" }',
    ]) + "\n")
    path.chmod(0o600)
    return path


async def settle(pred, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.05)


async def test_kiosk_state_device_and_payment_alarms_reach_the_console(fleet, tmp_path):
    from kiosk.adapter import library_system_from_config
    from kiosk.config import load_config
    from kiosk.console.app import Hub, Sink
    from kiosk.console.store import ConsoleStore
    from kiosk.fleet.kiosk import kiosk_extras
    from kiosk.flows import DeviceHub, FlowSettings, KioskFlows
    from kiosk.journal import Journal
    from kiosk.payments import PaymentRuntime

    config = load_config(kiosk_toml(tmp_path, fleet))
    assert config.fleet is not None and config.fleet.device == "kiosk"
    # What kiosk_cli does before the UI: journal, library, devices, flows, payments.
    journal = Journal(config.state_dir / "kiosk-journal.sqlite", pseudonym_key=KEY.encode())
    library = library_system_from_config(config)
    flows = KioskFlows(library, journal, DeviceHub.from_config(config.devices), FlowSettings.from_config(config))
    store = ConsoleStore(tmp_path / "console.sqlite")
    console = None
    runtime = await PaymentRuntime.start(config.devices.payment_terminal.url, config.state_dir, KEY.encode(), library,
                                         alarm_after_minutes=10)
    flows.payments = runtime.service
    try:
        await flows.start(ticker=False)
        async with kiosk_extras(flows, config) as extras:
            assert extras.link is not None, "[fleet] configured: the kiosk is on the link"
            await extras.link.wait_connected()
            extras.reporter.tick()
            await extras.link.wait_drained()

            # A console connecting now still gets the kiosk's retained status and state.
            console = ConsoleLink(fleet.settings(CONSOLE), Sink(store, Hub()), client_id="console-kiosk-e2e")
            await console.start()
            await console.wait_connected()
            await settle(lambda: any(d["device"] == "kiosk" and d["online"] and d["state"].get("mode") == "kiosk"
                                     for d in store.devices("b1")))
            (kiosk,) = [d for d in store.devices("b1") if d["device"] == "kiosk"]
            assert kiosk["state"]["devices"] == {"patron_reader": "up", "printer": "up"}
            assert kiosk["state"]["library"] == "online" and kiosk["state"]["payments_pending"] == 0

            def open_kinds() -> set[str]:
                return {a["kind"] for a in store.alarms("b1") if a["device"] == "kiosk" and a["cleared"] is None}

            # The printer is unplugged: a device "lost" event, an alarm on the console.
            sim.unplug(name="kf-printer")
            await settle(lambda: not flows.hub.working("printer"))
            extras.reporter.tick()
            await settle(lambda: "device_lost:printer" in open_kinds())
            lost = store.events(site="b1", types=["device"])
            assert [(e["result"], e["detail"]) for e in lost] == [("lost", "printer")]
            # ... and back: the alarm clears.
            sim.replug(name="kf-printer")
            await settle(lambda: flows.hub.working("printer"))
            extras.reporter.tick()
            await settle(lambda: "device_lost:printer" not in open_kinds())
            assert [e["result"] for e in store.events(site="b1", types=["device"])] == ["back", "lost"]

            # A payment the terminal took while the library is down stays unbooked (APPROVED) ...
            async def library_down(card, line, transaction_id):
                raise LibrarySystemUnavailable("link down", outcome_unknown=False)

            runtime.service.book = library_down
            sim.script_payments(["approve"], name="kf-pay")
            unbooked = (await runtime.service.pay(CARD, [PayLine(250, LineKind.CHARGE, "A1001", "Te laat")])).record
            assert unbooked.state is PaymentState.APPROVED
            extras.reporter.tick()  # younger than the alarm time: no event yet
            await extras.link.wait_drained()
            assert "payment" not in open_kinds()
            runtime.service.alarm_after = 0.0  # ... until it is older than the payment service's alarm time
            extras.reporter.tick()
            await settle(lambda: "payment" in open_kinds())
            (problem,) = store.events(site="b1", types=["payment"])
            assert problem["result"] == "problem" and unbooked.ref in problem["detail"]
            assert problem["card_ref"] == unbooked.card_ref and CARD not in repr(problem)

            # A payment the library refused (money taken) is reported at once.
            runtime.service.alarm_after = 3600.0

            async def refusing(card, line, transaction_id):
                return BookingAnswer(False, "Betaling geweigerd")

            runtime.service.book = refusing
            sim.script_payments(["approve"], name="kf-pay")
            refused = (await runtime.service.pay(CARD, [PayLine(500, LineKind.CHARGE, "A1002", "Boete")])).record
            assert refused.state is PaymentState.REFUSED
            extras.reporter.tick()
            await settle(lambda: len(store.events(site="b1", types=["payment"])) == 2)
            assert refused.ref in store.events(site="b1", types=["payment"])[0]["detail"]
            await settle(lambda: store.devices("b1")[0]["state"].get("payments_pending") == 1)
            # The console's payment alarm stays open until staff acknowledge it.
            (alarm,) = [a for a in store.alarms("b1") if a["kind"] == "payment"]
            assert store.acknowledge(alarm["id"], "otto")["kind"] == "payment"
        # The kiosk left: the console sees it offline (its goodbye) and raises the offline alarm.
        await settle(lambda: not [d for d in store.devices("b1") if d["device"] == "kiosk"][0]["online"])
        assert "offline" in {a["kind"] for a in store.alarms("b1") if a["device"] == "kiosk"}
        assert CARD.encode() not in (tmp_path / "console.sqlite").read_bytes()
    finally:
        if console is not None:
            await console.stop()
        await flows.close()
        await runtime.close()
        await library.close()
        journal.close()
        store.close()
