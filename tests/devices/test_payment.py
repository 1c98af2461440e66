"""Payment terminals: the kind, ``sim://payment``, and the Adyen Terminal API
driver against our terminal emulator (HTTPS on loopback, self-signed
certificate made at test time, the local endpoint's message encryption)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import PaymentOutcome, PaymentRequest, PaymentTerminal, open_device, sim
from devices.conformance import Outcome, Prompt, run_conformance
from devices.errors import DeviceProtocolError, DeviceUrlError
from devices import nexo

from .adyen_emulator import PASSPHRASE, TLS_NAME, AdyenEmulator


@pytest.fixture
def emulator(tmp_path):
    with AdyenEmulator(tmp_path / "tls", hold_seconds=5.0) as emu:
        yield emu


def emulator_actor(emu: AdyenEmulator):
    async def actor(prompt: Prompt) -> bool:
        action = {"approve_payment": "approve", "decline_payment": "decline", "cancel_payment": "cancel",
                  "hold_payment": "hold"}.get(prompt.action)
        if action is None:
            return prompt.action == "confirm"
        emu.script(action)
        return True

    actor.automatic = True  # type: ignore[attr-defined]
    return actor


def test_request_checks_its_fields():
    for bad in (dict(amount_cents=0), dict(amount_cents=-5), dict(amount_cents=1.5), dict(amount_cents=True),
                dict(currency="eur"), dict(timeout=0), dict(reference="has space"), dict(reference="")):
        args = {"reference": "ref1", "amount_cents": 100, **bad}
        with pytest.raises(ValueError):
            PaymentRequest(**args)


async def test_sim_payment_conformance():
    report = await run_conformance("sim://payment?name=pay-conf", timeout=2.0)
    assert report.passed, report.text()
    assert not [r for r in report.results if r.outcome is Outcome.SKIP], report.text()


async def test_sim_payment_scripted_outcomes_and_lost_answer():
    dev = open_device("sim://payment?name=pay-s", kind=PaymentTerminal)
    async with dev:
        sim.script_payments(["decline", "timeout", "offline", "lost"], name="pay-s")
        got = [(await dev.pay(PaymentRequest(f"r{n}", 250))).outcome for n in range(4)]
        assert got == [PaymentOutcome.DECLINED, PaymentOutcome.TIMEOUT, PaymentOutcome.OFFLINE, PaymentOutcome.UNKNOWN]
        assert (await dev.payment_status("r3")).outcome is PaymentOutcome.APPROVED  # the lost answer
        assert (await dev.payment_status("r2")).outcome is PaymentOutcome.NOT_FOUND  # offline: never seen
        with pytest.raises(Exception):
            await dev.pay(PaymentRequest("r3", 250))  # a reference is never paid twice
        with pytest.raises(ValueError):
            sim.script_payments(["maybe"], name="pay-s")


async def test_sim_payment_manual_answer():
    dev = open_device("sim://payment?name=pay-m")
    async with dev:
        task = asyncio.ensure_future(dev.pay(PaymentRequest("m1", 999)))
        for _ in range(100):
            if sim.payment_waiting(name="pay-m"):
                break
            await asyncio.sleep(0.01)
        sim.answer_payment("approve", name="pay-m")
        result = await task
        assert result.outcome is PaymentOutcome.APPROVED and result.amount_cents == 999
        assert sim.payments(name="pay-m")[-1] == result


async def test_adyen_local_passes_the_conformance_kit(emulator):
    report = await run_conformance(emulator.local_url(), emulator_actor(emulator), timeout=5.0)
    assert report.passed, report.text()
    assert not [r for r in report.results if r.outcome is Outcome.SKIP], report.text()
    # every message on the wire was encrypted: the emulator decrypted them with the shared key
    categories = [m["SaleToPOIRequest"]["MessageHeader"]["MessageCategory"] for m in emulator.requests]
    assert {"Payment", "Abort", "TransactionStatus"} <= set(categories)


async def test_adyen_cloud_passes_the_conformance_kit(emulator):
    report = await run_conformance(emulator.cloud_url(), emulator_actor(emulator), timeout=5.0)
    assert report.passed, report.text()


async def test_adyen_approved_amount_and_receipt(emulator):
    dev = open_device(emulator.local_url())
    async with dev:
        result = await dev.pay(PaymentRequest("bk-approve-1", 1250))
    assert result.outcome is PaymentOutcome.APPROVED
    assert result.amount_cents == 1250 and result.currency == "EUR"
    assert result.terminal_reference.startswith("EMU")
    assert "Tx Ref: " + result.terminal_reference in result.receipt_lines
    assert "Totaal: EUR 12.5" in result.receipt_lines
    sent = emulator.requests[-1]["SaleToPOIRequest"]["PaymentRequest"]
    assert sent["PaymentTransaction"]["AmountsReq"]["RequestedAmount"] == nexo.Decimal("12.5")
    assert sent["SaleData"]["SaleTransactionID"]["TransactionID"] == "bk-approve-1"
    assert emulator.approved() == {"bk-approve-1": 1}


@pytest.mark.parametrize(("action", "outcome"), [
    ("decline", PaymentOutcome.DECLINED),
    ("cancel", PaymentOutcome.CANCELLED),
    ("timeout", PaymentOutcome.TIMEOUT),
])
async def test_adyen_refusals(emulator, action, outcome):
    emulator.script(action)
    async with open_device(emulator.local_url()) as dev:
        result = await dev.pay(PaymentRequest(f"bk-{action}", 500))
    assert result.outcome is outcome and result.amount_cents == 0
    assert emulator.approved() == {}


@pytest.mark.parametrize("action", ["lose", "busy"])
async def test_adyen_answer_lost_after_approval_resolved_by_status(emulator, action):
    emulator.script(action)
    async with open_device(emulator.local_url()) as dev:
        result = await dev.pay(PaymentRequest(f"bk-{action}", 700))
    assert result.outcome is PaymentOutcome.APPROVED, result.detail
    assert result.amount_cents == 700 and result.terminal_reference
    assert emulator.approved() == {f"bk-{action}": 1}  # charged once, not asked again
    statuses = [m for m in emulator.requests if "TransactionStatusRequest" in m["SaleToPOIRequest"]]
    assert len(statuses) == (1 if action == "lose" else 2)


async def test_adyen_no_answer_in_time_is_aborted_then_resolved(emulator):
    emulator.script("hold")
    url = emulator.local_url(answer_margin="0.3")
    async with open_device(url) as dev:
        result = await dev.pay(PaymentRequest("bk-slow", 300, timeout=0.2))
    assert result.outcome is PaymentOutcome.CANCELLED, result.detail
    kinds = [next(k for k in m["SaleToPOIRequest"] if k != "MessageHeader") for m in emulator.requests]
    assert kinds == ["PaymentRequest", "AbortRequest", "TransactionStatusRequest"]


async def test_adyen_terminal_unreachable(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"adyen://127.0.0.1:{port}?poiid=P400-1&key_id=k&passphrase=p&connect_timeout=1"
    async with open_device(url) as dev:
        result = await dev.pay(PaymentRequest("bk-off", 100))
        assert result.outcome is PaymentOutcome.OFFLINE
        assert (await dev.payment_status("bk-off")).outcome is PaymentOutcome.UNKNOWN


async def test_adyen_tls_is_verified(emulator, tmp_path):
    other = AdyenEmulator(tmp_path / "other")  # another self-signed certificate
    other.server.server_close()
    async with open_device(emulator.local_url(ca=str(other.cert))) as dev:
        result = await dev.pay(PaymentRequest("bk-tls", 100))
    assert result.outcome is PaymentOutcome.OFFLINE and "TLS" in result.detail
    assert emulator.approved() == {}
    # the terminal's certificate name (as Adyen terminals present it), not the IP address
    async with open_device(emulator.local_url(tls_name=TLS_NAME)) as dev:
        assert (await dev.pay(PaymentRequest("bk-tls2", 100))).outcome is PaymentOutcome.APPROVED
    async with open_device(emulator.local_url(tls_name="wrong.example")) as dev:
        assert (await dev.pay(PaymentRequest("bk-tls3", 100))).outcome is PaymentOutcome.OFFLINE


async def test_adyen_wrong_key_nothing_charged(emulator):
    async with open_device(emulator.local_url(passphrase="not the passphrase")) as dev:
        result = await dev.pay(PaymentRequest("bk-key", 100))
    assert result.outcome is PaymentOutcome.OFFLINE
    assert emulator.requests == [] and emulator.approved() == {}


async def test_adyen_cloud_wrong_api_key(emulator):
    async with open_device(emulator.cloud_url(api_key="wrong")) as dev:
        result = await dev.pay(PaymentRequest("bk-cloud", 100))
    assert result.outcome is PaymentOutcome.OFFLINE and "401" in result.detail


def test_adyen_url_errors_are_one_line(tmp_path):
    for url in ("adyen://10.0.0.5?poiid=P400-1", "adyen://10.0.0.5?poiid=P400-1&key_id=k",
                "adyen+cloud://test?poiid=P400-1", "adyen+cloud://moon?poiid=P400-1&api_key=x",
                "adyen://10.0.0.5?key_id=k&passphrase=p", "adyen://10.0.0.5?poiid=P&key_id=k&passphrase=p&bogus=1",
                f"adyen://10.0.0.5?poiid=P&key_id=k&passphrase_file={tmp_path}/missing"):
        with pytest.raises(DeviceUrlError) as info:
            open_device(url)
        assert "\n" not in str(info.value)
    dev = open_device("adyen://10.0.0.5?poiid=P400-1&key_id=k&passphrase=secret123")
    assert "secret123" not in repr(dev) and dev.endpoint == "https://10.0.0.5:8443/nexo"


def test_nexo_encryption_round_trip_and_tamper():
    key = nexo.NexoKey.derive(PASSPHRASE, "bibkioskkey", 1)
    message = nexo.payment_request(PaymentRequest("bk-x", 1999), sale_id="s", poiid="p")
    sealed = key.encrypt(message)
    assert "PaymentRequest" not in json.dumps(sealed)  # only the header is in clear
    assert key.decrypt(sealed)["SaleToPOIRequest"]["PaymentRequest"]["PaymentTransaction"]["AmountsReq"][
        "RequestedAmount"] == nexo.Decimal("19.99")
    blob = sealed["SaleToPOIRequest"]["NexoBlob"]
    sealed["SaleToPOIRequest"]["NexoBlob"] = ("B" if blob[0] != "B" else "C") + blob[1:]
    with pytest.raises(nexo.NexoCryptoError):
        key.decrypt(sealed)
    with pytest.raises(nexo.NexoCryptoError):
        nexo.NexoKey.derive("other", "bibkioskkey", 1).decrypt(key.encrypt(message))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["SaleToPOIResponse", "MessageHeader", "PaymentResponse", "Response", "Result",
                         "ErrorCondition", "PaymentResult", "AmountsResp", "AuthorizedAmount", "SaleData",
                         "TransactionStatusResponse", "RepeatedMessageResponse", "PaymentReceipt", "x"]),
        inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_nexo_reader_garbage_is_a_protocol_error(value):
    request = PaymentRequest("bk-fuzz", 100)
    for reader in (lambda v: nexo.read_payment_response(v, request), lambda v: nexo.read_status_response(v, "bk-fuzz")):
        try:
            result = reader(value)
        except DeviceProtocolError:
            continue
        assert result.outcome in PaymentOutcome
        if not result.outcome.charged:
            assert result.amount_cents == 0
