"""The adapter against a Wise-dialect peer (tests/adapter/wise_peer.py, written
from /work/shared/wise-sip2.md): badges by code in GL, rules derived from the
registrations, LS when nothing explains a refusal, 41/42 and 37 round trips,
notifications, FV questions and hold bins; ``bibkiosk check --config``
names the rule with its evidence."""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr
from .wise_peer import ACCOUNT, WisePeer, demo_patrons, wise_peer

from kiosk.adapter import LibrarySystemNotSupported, Sip2LibrarySystem, library_system_from_config
from kiosk.check_cli import _print, run_check
from kiosk.config import load_config
from kiosk.sip2.client import ClientSettings
from policy import Action, PeriodKind, SiteRules, decide, evidence_for

NOW = datetime(2026, 11, 23, 21, 0).astimezone()
BADGES = {"OBOU": "Onbemande openingsuren", "LEES": "Leesclub"}
RULES = SiteRules(default_max_charges=Decimal("10.00"), default_charge_age_days=30, pin_required=frozenset())


def settings(port: int, **kw) -> ClientSettings:
    return ClientSettings(port=port, user=ACCOUNT[0], password=SecretStr(ACCOUNT[1]), institution="WISE",
                          keepalive_seconds=None, timeout=kw.pop("timeout", 5), **kw)  # fmt: skip


def wise_system(port: int, **kw) -> Sip2LibrarySystem:
    return Sip2LibrarySystem(settings(port, timeout=kw.pop("timeout", 5)), dialect="wise", badges=BADGES, **kw)


@pytest.fixture
async def wise():
    async with wise_peer() as (port, peer):
        system = wise_system(port)
        try:
            yield system, peer
        finally:
            await system.close()


def entry(patron, badge: str = "OBOU"):
    rules = RULES.model_copy(update={"unmanned_badge": badge})
    return decide(Action.ENTRY, patron, rules, NOW, period=PeriodKind.UNMANNED)


async def test_badge_holder_in_by_code_and_by_name(wise):
    system, peer = wise
    holder = await system.identify("22000000000011", "1234")
    assert [(b.code, b.name) for b in holder.badges] == [("OBOU", "Onbemande openingsuren")]
    assert entry(holder, "OBOU").allowed and entry(holder, "obou ").allowed
    assert entry(holder, "Onbemande openingsuren").allowed
    assert "41" in peer.log  # registrations asked on identify


async def test_no_badge_out_and_the_evidence_says_what_gl_held(wise):
    system, _ = wise
    none = await system.identify("22000000000029", "1234")
    decision = entry(none)
    assert decision.rule_ids() == ["B1"]
    (ev,) = evidence_for(decision, none)
    assert ev.source.startswith("GL") and "no badge field" in ev.detail
    other = await system.identify("22000000000045", "1234")
    assert [b.code for b in other.badges] == ["LEES", "JEUG"]  # every GL field is read
    decision = entry(other)
    assert decision.rule_ids() == ["B1"]
    (ev,) = evidence_for(decision, other)
    assert ev.source == "GL" and ev.detail == "badges sent: LEES (Leesclub), JEUG"


async def test_two_codes_in_one_gl(wise):
    system, _ = wise
    patron = await system.identify("22000000000037", "1234")
    assert [b.code for b in patron.badges] == ["LEES", "OBOU"]
    assert entry(patron).allowed and entry(patron, "Leesclub").allowed


@pytest.mark.parametrize(
    "card, first, evidence_source, detail_part",
    [
        ("22000000000052", "R2", "42 YZ", "registration 7001, type 1 (contribution), 20.00, created 2026-09-15"),
        ("22000000000060", "R1", "42 YZ", "registration 7002, type 2 (fine), 7.50, created 2026-11-20"),
        ("22000000000078", "R3", "42 YZ", "registration 7004, type 2 (fine), 1.00, created 2026-09-01"),
        ("22000000000086", "R4", "42 YZ", "registration 7005, type 2 (fine), 35.00, created 2026-11-10, 'Nota'"),
    ],
)
async def test_each_r_rule_from_its_registration(wise, card, first, evidence_source, detail_part):
    system, _ = wise
    patron = await system.identify(card, "1234")
    decision = decide(Action.CHECKOUT, patron, RULES, NOW)
    assert decision.rule_ids()[0] == first
    assert decision.message.key.startswith(f"policy.{first}")
    evidence = [e for e in evidence_for(decision, patron) if e.rule == first]
    assert evidence and evidence[0].source == evidence_source and detail_part in evidence[0].detail


async def test_r2_is_not_told_as_r1(wise):
    system, _ = wise
    patron = await system.identify("22000000000052", "1234")
    decision = decide(Action.CHECKOUT, patron, RULES, NOW)
    assert "R1" not in decision.rule_ids()  # the membership fee is not a charge
    assert patron.charges == ()


async def test_refusal_without_evidence_is_ls_with_the_library_text(wise):
    system, _ = wise
    patron = await system.identify("22000000000094", "1234")
    decision = decide(Action.CHECKOUT, patron, RULES, NOW)
    assert decision.rule_ids() == ["LS"]
    assert decision.message.key == "policy.LS.screen"
    assert decision.message.params == {"screen_message": "Neem contact op met de balie"}
    (ev,) = evidence_for(decision, patron)
    assert ev.source == "64 flags" and "charge privileges denied" in ev.detail
    assert patron.notifications == ("Neem contact op met de balie",)


async def test_payment_arrangement_counts_for_nothing_and_beats_bv(wise):
    system, _ = wise
    patron = await system.identify("22000000000102", "1234")
    assert patron.charges == () and decide(Action.CHECKOUT, patron, RULES, NOW).allowed
    assert any("payment arrangement" in e.detail for e in patron.evidence)


async def test_wise_status_7_gets_the_c1_advice(wise):
    system, _ = wise
    patron = await system.identify("22000000000110", "1234")
    decision = decide(Action.CHECKOUT, patron, RULES, NOW)
    assert decision.rule_ids()[0] == "C1"
    assert any(e.rule == "C1" and "status 7" in e.detail for e in evidence_for(decision, patron))


async def test_notifications_up_to_four_of_sixty(wise):
    system, peer = wise
    peer.patrons["22000000000011"].notifications = [f"{i}" + "x" * 70 for i in range(6)]
    patron = await system.identify("22000000000011", "1234")
    assert len(patron.notifications) == 4 and all(len(n) == 60 for n in patron.notifications)
    account = await system.account("22000000000011", "1234")
    assert account.notifications == patron.notifications


async def test_registrations_and_pay_round_trip(wise):
    system, peer = wise
    regs = await system.registrations("22000000000060", "1234")
    assert [(r.adm_id, r.kind, r.amount) for r in regs] == [("7002", 2, Decimal("7.50")), ("7003", 2, Decimal("5.00"))]
    assert regs[0].based_on.isoformat() == "2026-11-18"
    paid = await system.pay_registration("22000000000060", "7002", Decimal("7.50"), transaction_id="bk-42", pin="1234")
    assert paid.accepted and paid.transaction_id == "bk-42"
    retry = await system.pay_registration("22000000000060", "7002", Decimal("7.50"), transaction_id="bk-42", pin="1234")
    assert retry.accepted and peer.paid == {"bk-42": "7002"}  # recognised, not booked twice
    wrong = await system.pay_registration("22000000000060", "7003", Decimal("1.00"), transaction_id="bk-43")
    assert not wrong.accepted and wrong.screen_message == "Betaling geweigerd"
    after = await system.identify("22000000000060", "1234")
    assert [c.amount for c in after.charges] == [Decimal("5.00")]
    assert decide(Action.CHECKOUT, after, RULES, NOW).rule_ids() == ["LS"]  # Wise's flags still deny


async def test_fv_questions_and_hold_bins(wise):
    system, _ = wise
    out = await system.checkout("22000000000011", "FV1", pin="1234")
    assert out.ok and out.questions == ("Is het materiaal beschadigd?", "Bevat bijlagen: 2 cd's")
    assert (await system.checkout("22000000000011", "B1", pin="1234")).questions == ()
    shelf = await system.checkin("HOLD1")
    assert shelf.hold_bin == "hold_shelf" and shelf.hold_shelf and not shelf.hold_in_transport
    transit = await system.checkin("TRANSIT1")
    assert transit.hold_bin == "in_transport" and transit.hold_in_transport and not transit.hold_shelf
    plain = await system.checkin("PLAIN1")
    assert plain.hold_bin is None and not plain.hold_shelf


async def test_without_sip2_plus_bv_tells_the_charges_and_evidence_says_so():
    async with wise_peer(WisePeer(registrations=False)) as (port, peer):
        system = wise_system(port, registrations_flag="")
        try:
            patron = await system.identify("22000000000060", "1234")
            assert "41" not in peer.log
            decision = decide(Action.CHECKOUT, patron, RULES, NOW)
            assert decision.rule_ids()[0] == "R1"
            (ev, *_) = [e for e in evidence_for(decision, patron) if e.rule == "R1"]
            assert ev.source == "64 BV" and "12.50" in ev.detail and "registrations (41) are off" in ev.detail
            # the membership fee cannot be told from BV: never R2
            fee = await system.identify("22000000000052", "1234")
            assert "R2" not in decide(Action.CHECKOUT, fee, RULES, NOW).rule_ids()
        finally:
            await system.close()


async def test_a_peer_that_does_not_answer_41_costs_one_timeout_then_bv():
    async with wise_peer(WisePeer(registrations=False)) as (port, peer):
        system = wise_system(port, timeout=0.5)
        try:
            first = await system.identify("22000000000060", "1234")
            assert first.known and [c.amount for c in first.charges] == [Decimal("12.50")]
            assert peer.log.count("41") == 1
            again = await system.identify("22000000000060", "1234")
            assert peer.log.count("41") == 1 and again.charges == first.charges  # not asked again for a while
        finally:
            await system.close()


async def test_98_checkout_ok_n_is_honoured():
    async with wise_peer(WisePeer(checkout_ok=False)) as (port, peer):
        system = wise_system(port)
        try:
            await system.start()
            with pytest.raises(LibrarySystemNotSupported):
                await system.checkout("22000000000011", "B1", pin="1234")
            assert "11" not in peer.log
        finally:
            await system.close()


def write_config(tmp_path, port: int, **library) -> str:
    pw = tmp_path / "sip2.pw"
    pw.write_text(ACCOUNT[1] + "\n")
    os.chmod(pw, 0o600)
    lines = [
        f'state_dir = "{tmp_path}"',
        "[library]", 'kind = "sip2"', 'host = "127.0.0.1"', f"port = {port}", f'user = "{ACCOUNT[0]}"',
        'institution = "WISE"', "timeout_seconds = 5", 'dialect = "wise"',
        *(f"{k} = {json.dumps(v)}" for k, v in library.items()),
        "[library.badges]", '"OBOU" = "Onbemande openingsuren"',
        "[library.wise]", 'registrations = "FB"', 'replacement_invoice_words = ["nota", "materiaalvergoeding"]',
        "[policy]", 'unmanned_badge = "OBOU"', "default_max_charges = 10.0", "default_charge_age_days = 30",
        "[secrets]", 'sip2_password = { file = "sip2.pw" }',
    ]  # fmt: skip
    path = tmp_path / "kiosk.toml"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return str(path)


async def test_bibkiosk_check_config_names_the_rule_with_its_evidence(tmp_path, capsys):
    async with wise_peer() as (port, _peer):
        config = write_config(tmp_path, port)
        lib = load_config(config).library
        assert (lib.dialect, lib.badges, lib.wise.registrations) == ("wise", {"OBOU": "Onbemande openingsuren"}, "FB")
        result = await run_check(config=config, card="22000000000052", action="checkout", at=NOW)
        assert not result.allowed and result.rules[0] == "R2"
        _print(result, "checkout")
        out = capsys.readouterr().out
        assert "R2" in out and "evidence (42 YZ): registration 7001, type 1 (contribution), 20.00, created 2026-09-15" in out
        doc = result.as_json()
        assert {"rule": "R2", "source": "42 YZ"}.items() <= doc["evidence"][0].items()
        # the door admits a badge holder by code, and refuses one without
        ok = await run_check(config=config, card="22000000000011", action="entry", at=NOW, period="unmanned")
        assert ok.allowed, ok.rules
        out_ = await run_check(config=config, card="22000000000029", action="entry", at=NOW, period="unmanned")
        assert out_.rules == ["B1"]
        ls = await run_check(config=config, card="22000000000094", action="checkout", at=NOW)
        assert ls.rules == ["LS"] and "Neem contact op met de balie" in ls.message


async def test_config_builds_a_wise_system(tmp_path):
    async with wise_peer() as (port, _peer):
        system = library_system_from_config(load_config(write_config(tmp_path, port, account_window=20)))
        assert isinstance(system, Sip2LibrarySystem)
        assert system.dialect.name == "wise" and system.registrations_flag == "FB" and system.account_window == 20
        assert system.settings.keepalive_seconds == 45.0
        await system.close()


def test_demo_patrons_are_distinct_cards():
    assert len(demo_patrons()) == 11
