"""The payment journal and service: journal first, exactly once, nothing lost
(on sim://payment and a recording booker), and `bibkiosk payments`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devices import PaymentOutcome, open_device, sim
from kiosk.adapter.base import LibrarySystemUnavailable
from kiosk.payments import (
    BookingAnswer,
    LineKind,
    PayLine,
    PaymentJournal,
    PaymentService,
    PaymentState,
    format_amount,
)

ROOT = Path(__file__).resolve().parents[2]
CARD = "29548000001003"
KEY = b"payments-test-key"


class Library:
    """A booker that records each 37 and answers as told."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, int, str]] = []
        self.booked: dict[str, int] = {}
        self.down = False
        self.refuse: set[str] = set()

    async def __call__(self, card: str, line: PayLine, transaction_id: str) -> BookingAnswer:
        if self.down:
            raise LibrarySystemUnavailable("link down", outcome_unknown=False)
        self.sent.append((card, line.adm_id, line.amount_cents, transaction_id))
        if line.adm_id in self.refuse:
            return BookingAnswer(False, "Betaling geweigerd")
        self.booked.setdefault(transaction_id, line.amount_cents)  # a library that honours BK
        return BookingAnswer(True, "ok")


@pytest.fixture
async def terminal():
    dev = open_device("sim://payment?name=svc-pay")
    async with dev:
        yield dev


@pytest.fixture
def journal(tmp_path):
    with PaymentJournal(tmp_path / "payments.sqlite", pseudonym_key=KEY) as j:
        yield j


LINES = [PayLine(250, LineKind.CHARGE, "A1001", "Te laat"), PayLine(1000, LineKind.MEMBERSHIP_FEE, "A1002", "Lidgeld")]


async def test_approved_payment_is_booked_line_by_line(journal, terminal, tmp_path):
    lib, alarms = Library(), []
    service = PaymentService(journal, terminal, booker=lib, alarm=alarms.append)
    sim.script_payments(["approve"], name="svc-pay")
    report = await service.pay(CARD, LINES)
    assert report.booked and report.record.state is PaymentState.BOOKED
    ref = report.record.ref
    # one amount everywhere: the journal, the terminal's charge, the 37s
    assert sim.payments(name="svc-pay")[-1].amount_cents == report.record.amount_cents == 1250
    assert [(a, c, t) for _card, a, c, t in lib.sent] == [("A1001", 250, f"{ref}.0"), ("A1002", 1000, f"{ref}.1")]
    assert report.record.card is None and report.record.terminal_ref.startswith("SIM")
    assert report.record.receipt_lines and not alarms
    assert stat.S_IMODE(os.stat(tmp_path / "payments.sqlite").st_mode) == 0o600


@pytest.mark.parametrize("outcome", ["decline", "cancel", "timeout", "offline"])
async def test_not_charged_nothing_booked(journal, terminal, outcome):
    lib = Library()
    service = PaymentService(journal, terminal, booker=lib)
    sim.script_payments([outcome], name="svc-pay")
    report = await service.pay(CARD, LINES)
    assert report.record.state is PaymentState.NOT_CHARGED and not report.charged
    assert lib.sent == [] and report.record.card is None


async def test_answer_lost_is_resolved_then_booked(journal, terminal):
    lib = Library()
    service = PaymentService(journal, terminal, booker=lib)
    sim.script_payments(["lost"], name="svc-pay")
    report = await service.pay(CARD, LINES[:1])
    assert report.result.outcome is PaymentOutcome.APPROVED  # the status request resolved it
    assert report.booked and len(lib.sent) == 1


async def test_library_down_booking_retried_same_bk_until_booked(journal, terminal):
    lib = Library()
    lib.down = True
    service = PaymentService(journal, terminal, booker=lib)
    sim.script_payments(["approve"], name="svc-pay")
    report = await service.pay(CARD, LINES)
    assert report.charged and report.record.state is PaymentState.APPROVED  # taken, not yet booked: kept
    assert journal.get(report.record.ref).card == CARD
    assert (await service.recover()).still_open == 1
    lib.down = False
    again = await service.recover()
    assert again.booked == 1 and journal.get(report.record.ref).state is PaymentState.BOOKED
    assert sorted(lib.booked) == [f"{report.record.ref}.0", f"{report.record.ref}.1"]


async def test_refused_by_library_alarms_and_is_listed(journal, terminal, tmp_path):
    lib, alarms = Library(), []
    lib.refuse = {"A1002"}
    service = PaymentService(journal, terminal, booker=lib, alarm=alarms.append)
    sim.script_payments(["approve"], name="svc-pay")
    report = await service.pay(CARD, LINES)
    assert report.record.state is PaymentState.REFUSED and report.charged
    assert [a["event"] for a in alarms] == ["payment_refused_by_library"]
    assert alarms[0]["ref"] == report.record.ref and CARD not in json.dumps(alarms)
    await service.recover()
    assert len(alarms) == 1  # told once, listed until acknowledged
    assert [r.ref for r in journal.records([PaymentState.REFUSED])] == [report.record.ref]


async def test_restart_with_an_open_intent_resolves_by_status(journal, terminal):
    lib = Library()
    # a kiosk that died after writing the intent and sending the request: the terminal approved it
    record = journal.intent(CARD, LINES)
    sim.script_payments(["lost"], name="svc-pay")
    from devices import PaymentRequest

    assert (await terminal.pay(PaymentRequest(record.ref, record.amount_cents))).outcome is PaymentOutcome.UNKNOWN
    never_sent = journal.intent(CARD, LINES[:1])  # died before the terminal was asked
    report = await PaymentService(journal, terminal, booker=lib).recover()
    assert report.resolved == 2 and report.booked == 1 and report.not_charged == 1
    assert journal.get(record.ref).state is PaymentState.BOOKED
    assert journal.get(never_sent.ref).state is PaymentState.NOT_CHARGED
    assert len(lib.sent) == 2  # only the charged payment's two lines


async def test_unresolvable_intent_stays_open_and_alarms_when_old(journal, terminal):
    clock = [1000.0]
    record = journal.intent(CARD, LINES)
    alarms = []
    sim.unplug(name="svc-pay")
    service = PaymentService(journal, terminal, booker=Library(), alarm=alarms.append, alarm_after_seconds=60,
                             clock=lambda: clock[0])
    assert (await service.recover()).still_open == 1 and alarms == []
    clock[0] = record.created_at + 61
    await service.recover()
    assert [a["event"] for a in alarms] == ["payment_not_settled"]
    assert journal.get(record.ref).state is PaymentState.INTENT  # never guessed


def test_amounts_for_patrons():
    assert format_amount(1250, "nl") == "€ 12,50" and format_amount(5, "fr") == "€ 0,05"
    assert format_amount(100000, "en") == "€1000.00"
    with pytest.raises(ValueError):
        PayLine(0)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f"""
state_dir = "{tmp_path}"
[library]
kind = "embedded"
data = "demo"
[devices.payment_terminal]
url = "sim://payment"
[payments]
webhooks = ["http://127.0.0.1:9/alarm"]
portal_url = "https://bibliotheek.example/mijn"
[secrets.pseudonym_key]
env = "BIBKIOSK_PSEUDONYM_KEY"
""")
    return cfg


async def test_payments_cli_lists_what_needs_staff(journal, terminal, tmp_path):
    lib = Library()
    lib.refuse = {"A1001"}
    service = PaymentService(journal, terminal, booker=lib)
    sim.script_payments(["approve", "approve"], name="svc-pay")
    refused = (await service.pay(CARD, LINES[:1])).record
    await service.pay(CARD, LINES[1:])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BIBKIOSK_PSEUDONYM_KEY": KEY.decode()}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "kiosk", "payments", "--config", str(_config(tmp_path)), *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    out = run()
    assert out.returncode == 1, out.stderr
    assert refused.ref in out.stdout and "refused" in out.stdout and "1 payment(s) need staff" in out.stdout
    assert CARD not in out.stdout
    rows = [json.loads(line) for line in run("--all", "--json").stdout.splitlines()]
    assert sorted(r["state"] for r in rows) == ["booked", "refused"]
    assert run("--acknowledge", "bkpnothere").returncode == 2
    ack = run("--acknowledge", refused.ref, "--note", "booked at the desk")
    assert ack.returncode == 0, ack.stderr
    assert run().returncode == 0


async def test_runtime_alarms_staff_over_the_webhook_and_recovers(tmp_path):
    """bibkiosk kiosk's wiring: terminal by URL, journal in the state directory, a refused booking
    raised on the [payments] webhook (no card number in it)."""
    from types import SimpleNamespace

    from kiosk.payments import PaymentRuntime
    from tests.door.conftest import Hook

    class Refusing:
        async def pay(self, card, amount, *, membership_fee=False, transaction_id=None):
            return SimpleNamespace(accepted=False, screen_message="Niet toegelaten")

    hook = Hook()
    try:
        runtime = await PaymentRuntime.start("sim://payment?name=rt-pay", tmp_path, KEY, Refusing(),
                                             webhooks=[hook.url])
        try:
            sim.script_payments(["approve"], name="rt-pay")
            report = await runtime.service.pay(CARD, [PayLine(500, LineKind.TOTAL)])
            assert report.record.state is PaymentState.REFUSED
            payload = hook.wait_for(lambda p: p.get("event") == "payment_refused_by_library")
            assert payload["ref"] == report.record.ref and payload["amount_cents"] == 500
            assert CARD not in json.dumps(payload)
            assert (tmp_path / "payments.sqlite").exists()
        finally:
            await runtime.close()
    finally:
        hook.close()


def test_kiosk_starts_with_a_payment_terminal(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BIBKIOSK_PSEUDONYM_KEY": KEY.decode(), "SDL_VIDEODRIVER": "offscreen",
           "SDL_AUDIODRIVER": "dummy", "KIVY_NO_ARGS": "1"}
    cfg = _config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "kiosk", "kiosk", "--config", str(cfg), "--windowed",
                          "--exit-after-first-frame"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "first frame after" in out.stdout and "Traceback" not in out.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "payments.sqlite").st_mode) == 0o600
