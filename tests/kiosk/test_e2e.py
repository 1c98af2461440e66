"""The flows end to end: sim:// devices, the embedded library system with the
demo data served over real SIP2 on loopback (kiosk.adapter.EmbeddedLibrarySystem),
the real journal and the real policy."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices import sim
from devices.base import Tag
from kiosk.adapter import EmbeddedLibrarySystem
from kiosk.config import OfflineMode
from kiosk.flows import FlowSettings, LineStatus, State, Ui
from kiosk.i18n import translate
from kiosk.library.server import site_rules
from policy import DEFAULT_PIN_REQUIRED

from .harness import close_harness, make_harness

#: The demo data's "today" (its dates are chosen around it).
NOW = datetime(2026, 11, 23, 12, 0).astimezone()
PIN = "1234"
OK_CARD = "29999000000010"  # Demo Klant OK: 3 loans (one held by another patron, one at max renewals)
HOLD_ITEM = "30000000000104"  # lent to OK_CARD, a hold of another patron waits for it
SET_ITEM = "30000000000050"  # audio book, 3 CDs
AVAILABLE = ["30000000000029", "30000000000036", "30000000000043", "30000000000067", "30000000000074",
             "30000000000098", "30000000000111", "30000000000142", "30000000000159"]

#: card -> the rule whose message the patron sees (demo data, docs/demo-data.md)
REFUSALS = {
    "29999000000020": "R1",
    "29999000000030": "R2",
    "29999000000190": "R2",
    "29999000000040": "R3",
    "29999000000050": "R4",
    "29999000000060": "R5",
    "29999000000070": "R6",
    "29999000000080": "R6",
    "29999000000090": "BL",
    "29999000000100": "X1",
}
CARD_REFUSALS = {
    "29999000000110": "C2",
    "29999000000120": "C3",
    "29999000000130": "C4",
    "2X1986": "C1",
    "00000000000000": "U1",
}


@pytest.fixture
async def library(tmp_path):
    system = EmbeddedLibrarySystem("demo", database=tmp_path / "library.sqlite", clock=lambda: NOW)
    await system.start()
    yield system
    await system.close()


def settings_for(store, **kw) -> FlowSettings:
    rules = site_rules(store, branch_id="9901", pin_required=DEFAULT_PIN_REQUIRED)
    return FlowSettings(rules=rules, branch="Demo Centrum", **kw)


def settings(library, **kw) -> FlowSettings:
    return settings_for(library.store, **kw)


@pytest.fixture
async def h(library, tmp_path):
    harness = await make_harness(library, tmp_path, settings=settings(library), now=lambda: NOW)
    yield harness
    await close_harness(harness)


async def login(h, card=OK_CARD, pin=PIN):
    await h.tap(card)
    assert h.state is State.PIN, h.text()
    await h.pin(pin)


def pol(rule, lang, **params):
    return translate("policy", f"policy.{rule}", lang, **params)


async def test_every_rule_refusal_shows_its_message(h):
    for card, rule in REFUSALS.items():
        await login(h, card)
        assert h.state is State.MENU, (card, h.text())
        lang = h.view.language
        assert h.view.borrow_refusal.render(lang) == pol(rule, lang), card
        await h.press(Ui.BORROW)
        assert h.state is State.MESSAGE and h.view.message.render(lang) == pol(rule, lang)
        await h.press(Ui.OK)
        await h.press(Ui.FINISH)
        await h.press(Ui.OK)
        assert h.state is State.IDLE and h.flows.session is None
    for card, rule in CARD_REFUSALS.items():
        await h.tap(card)
        assert h.state is State.MESSAGE, (card, h.text())
        assert h.view.message.render("nl") == pol(rule, "nl"), card
        await h.press(Ui.OK)
        assert h.state is State.IDLE


async def test_patron_language_from_the_library_system(h):
    await login(h, "29999000000060")  # French-speaking patron, R5
    assert h.view.language == "fr"
    assert h.view.borrow_refusal.render("fr") == pol("R5", "fr")


async def test_wrong_pin_then_lockout(h):
    await h.tap(OK_CARD)
    await h.pin("0000")
    # Wrong: says so, with the tries left before the lockout ("nog 4 pogingen").
    assert h.state is State.PIN
    assert h.view.pin_error.render("nl") == (translate("kiosk", "kiosk.pin.wrong_tries", "nl", reason=pol("P1", "nl"), tries=4)
                                             + "\n" + translate("kiosk", "kiosk.pin.reset_desk", "nl"))
    assert "Nog 4 pogingen" in h.view.pin_error.render("nl")
    for _ in range(4):
        await h.pin("0000")
    assert h.state is State.MESSAGE and h.view.message.key == "policy.L1"


async def test_stack_checkout_with_a_set_and_a_refusal(h, library):
    await login(h)
    await h.press(Ui.BORROW)
    tags = [sim.tag_for(item) for item in AVAILABLE]
    tags += [Tag(uid=f"E00401500000005{n}", item_id=SET_ITEM, set_parts=3, part_number=n) for n in (1, 2, 3)]
    tags.append(sim.tag_for("30000000000128"))  # a hold for another patron is ready: refused
    await h.place(tags)
    lines = {ln.item_id: ln for ln in h.view.lines}
    assert len(lines) == 11
    borrowed = [i for i, ln in lines.items() if ln.status is LineStatus.OK]
    assert sorted(borrowed) == sorted(AVAILABLE + [SET_ITEM])
    refused = lines["30000000000128"]
    # the library's "reserved for someone else", in the kiosk's own words (#13 item 7)
    assert refused.status is LineStatus.REFUSED and refused.text.key == "kiosk.outcome.hold_for_other"
    assert all(ln.due for ln in lines.values() if ln.status is LineStatus.OK)
    secured = {t.uid: t.secured for t in sim.BUS.tags()}
    assert secured.pop(sim.tag_for("30000000000128").uid) is True
    assert not any(secured.values()), "security cleared on every borrowed tag"
    for item in borrowed:
        info = await library.item_information(item)
        assert info.status.value == "on_loan"


async def test_set_with_a_missing_part_is_refused(h, library):
    await login(h)
    await h.press(Ui.BORROW)
    await h.place([Tag(uid="E004015000000051", item_id=SET_ITEM, set_parts=3, part_number=1),
                   Tag(uid="E004015000000053", item_id=SET_ITEM, set_parts=3, part_number=3)])
    line = h.view.lines[0]
    assert line.status is LineStatus.INCOMPLETE
    assert "3" in line.text.render("nl") and "2" in line.text.render("nl")
    assert (await library.item_information(SET_ITEM)).status.value == "available"
    assert all(t.secured for t in sim.BUS.tags())


async def test_return_of_an_item_with_a_hold(h, library):
    await h.press(Ui.RETURN)
    await h.place([sim.tag_for(HOLD_ITEM, secured=False)])
    line = h.view.lines[0]
    assert line.status is LineStatus.OK
    assert line.text.key == "kiosk.return.hold_shelf"
    assert all(t.secured for t in sim.BUS.tags()), "security set back"
    info = await library.item_information(HOLD_ITEM)
    assert info.status.value == "on_hold_shelf"


async def test_renew_with_one_refusal(h):
    await login(h)
    await h.press(Ui.RENEW)
    assert {ln.item_id for ln in h.view.loans} == {"30000000000012", HOLD_ITEM, "30000000000135"}
    await h.press(Ui.TOGGLE_LOAN, "30000000000012")
    await h.press(Ui.TOGGLE_LOAN, HOLD_ITEM)
    await h.press(Ui.RENEW_SELECTED)
    loans = {ln.item_id: ln for ln in h.view.loans}
    assert loans["30000000000012"].status is LineStatus.OK
    assert loans["30000000000012"].due > "2026-12-01"
    assert loans[HOLD_ITEM].status is LineStatus.REFUSED and loans[HOLD_ITEM].text.render("nl")
    assert loans["30000000000135"].status is None


async def test_account_with_hold_ready(h):
    await login(h, "29999000000180")
    await h.press(Ui.ACCOUNT)
    ready = [hold for hold in h.view.holds if hold.ready]
    assert [hold.item_id for hold in ready] == ["30000000000128"]
    assert h.view.blocks == []


async def test_receipt_and_end_session(h):
    await login(h)
    await h.scan("30000000000043")
    assert h.state is State.BORROW and h.view.lines[0].status is LineStatus.OK
    await h.press(Ui.FINISH)
    await h.press(Ui.RECEIPT_YES)
    text = "\n".join(sim.printed()[-1].lines)
    assert "De Aanslag" in text and OK_CARD not in text
    assert h.state is State.SUMMARY and h.flows.session is None


@pytest.mark.parametrize("state", [State.PIN, State.MENU, State.BORROW, State.RETURN, State.RENEW,
                                   State.ACCOUNT, State.RECEIPT, State.MESSAGE])
async def test_idle_timeout_from_every_state(h, state):
    if state is State.PIN:
        await h.tap(OK_CARD)
    elif state is State.MESSAGE:
        await h.tap("2X1986")
    elif state is State.RETURN:
        await h.press(Ui.RETURN)
    else:
        await login(h)
        if state is State.BORROW:
            await h.press(Ui.BORROW)
        elif state is State.RENEW:
            await h.press(Ui.RENEW)
        elif state is State.ACCOUNT:
            await h.press(Ui.ACCOUNT)
        elif state is State.RECEIPT:
            await h.scan("30000000000043")
            await h.press(Ui.FINISH)
    assert h.state is state
    await h.advance(h.flows.settings.idle_timeout_seconds - 20)
    assert h.view.warning_seconds == 20
    await h.advance(21)
    assert h.state is State.IDLE and h.flows.session is None


async def test_offline_checkout_then_replay_exactly_once(tmp_path):
    """The link to the library system goes down (a relay switched off):
    a patron verified online shortly before borrows offline; when the link is
    back the queue goes out once, in order, with no-block."""
    from kiosk.kiosk_cli import start_demo_library

    demo = await start_demo_library(tmp_path / "library.sqlite", lambda: NOW)
    library = demo.library
    h = await make_harness(library, tmp_path, settings=settings_for(demo.store, offline=OfflineMode.CHECKOUT),
                           now=lambda: NOW)
    try:
        await login(h)  # verified online
        await h.press(Ui.FINISH)
        await h.press(Ui.OK)
        await demo.link.set(False)
        await login(h)
        assert h.state is State.MENU and h.view.offline, h.text()
        await h.scan("30000000000029")
        await h.scan("30000000000036")
        assert [ln.status for ln in h.view.lines] == [LineStatus.QUEUED, LineStatus.QUEUED]
        assert h.journal.pending_count() == 2
        assert (await h.flows.replay()).replayed == 0  # still down: nothing goes out
        await demo.link.set(True)
        assert await h.flows.ping()
        report = await h.flows.replay()
        assert report.complete and report.replayed == 2, report
        for item in ("30000000000029", "30000000000036"):
            assert (await library.item_information(item)).status.value == "on_loan"
        assert (await h.flows.replay()).replayed == 0
        assert [e.state for e in h.journal.entries() if e.mode == "offline"] == ["replayed", "replayed"]
    finally:
        await close_harness(h)
        await demo.close()


async def test_no_card_number_pin_or_name_in_any_log_line(h, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    await h.tap(OK_CARD)
    await h.pin("9753")  # a wrong PIN
    await h.pin(PIN)
    await h.press(Ui.BORROW)
    await h.scan("30000000000043")
    await h.press(Ui.FINISH)
    await h.press(Ui.RECEIPT_YES)
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "kiosk.flows" in text  # the flows did log
    for secret in (OK_CARD, PIN, "9753", "Demo Klant"):
        assert secret not in text, secret


async def test_watcher_replays_the_queue_when_the_link_comes_back(tmp_path):
    import asyncio

    from kiosk.kiosk_cli import start_demo_library

    demo = await start_demo_library(tmp_path / "library.sqlite", lambda: NOW)
    s = settings_for(demo.store, offline=OfflineMode.RETURN_ONLY)
    from dataclasses import replace

    h = await make_harness(demo.library, tmp_path, settings=replace(s, probe_seconds=0.05), now=lambda: NOW)
    h.flows._background.append(asyncio.create_task(h.flows._watch_library()))
    try:
        await demo.link.set(False)
        await h.press(Ui.RETURN)
        await h.place([sim.tag_for(HOLD_ITEM, secured=False)])
        assert h.view.lines[0].status is LineStatus.QUEUED
        await demo.link.set(True)
        for _ in range(200):
            await asyncio.sleep(0.02)
            if h.journal.pending_count() == 0:
                break
        assert h.journal.pending_count() == 0
        assert (await demo.library.item_information(HOLD_ITEM)).status.value == "on_hold_shelf"
    finally:
        await close_harness(h)
        await demo.close()


async def test_replay_fingerprint_is_what_the_real_adapter_returns(library):
    """item_fingerprint reads only ItemInfo (the real adapter's answer over
    SIP2): a checkout and a checkin each change it, so an interrupted replay
    can tell whether its transaction arrived."""
    from kiosk.adapter import ItemInfo
    from kiosk.flows.port import item_fingerprint

    item = AVAILABLE[0]
    before = await library.item_information(item)
    assert type(before) is ItemInfo
    assert (await library.checkout(OK_CARD, item, pin=PIN, no_block=True)).ok
    lent = await library.item_information(item)
    assert item_fingerprint(lent) != item_fingerprint(before)
    assert (await library.checkin(item, no_block=True)).ok
    back = await library.item_information(item)
    assert item_fingerprint(back) != item_fingerprint(lent)
    assert item_fingerprint(await library.item_information(item)) == item_fingerprint(back)  # stable


async def test_the_chosen_language_is_sent_to_the_library_system(h, library):
    """#13 item 7: the patron chose French, the record says Dutch: every 63 the
    kiosk sends names French (002), and the library's own texts of that
    session (a checkout's AF) come in French; a patron who chose nothing
    sends 000 and gets the record's language."""
    sent: list[int] = []
    request = library.client.request

    async def spy(msg, *args, **kwargs):
        if msg.command_code in ("23", "63"):
            sent.append(msg.language)
        return await request(msg, *args, **kwargs)

    library.client.request = spy
    said: list[str | None] = []
    checkout = library.checkout

    async def spy_checkout(*args, **kwargs):
        result = await checkout(*args, **kwargs)
        said.append(result.screen_message)
        return result

    library.checkout = spy_checkout
    h.flows.set_language("fr")
    await login(h)  # Demo Klant OK: a Dutch record
    assert h.state is State.MENU and h.view.language == "fr"
    assert sent and set(sent) == {2}, sent
    await h.press(Ui.BORROW)
    await h.place([sim.tag_for("30000000000128")])  # waits for another patron's hold
    assert said == [translate("library", "library.item_on_hold", "fr")]
    assert h.view.lines[0].text.render("fr") == translate("kiosk", "kiosk.outcome.hold_for_other", "fr")
    await h.remove()
    await h.press(Ui.FINISH)
    await h.press(Ui.OK)
    sent.clear()
    await login(h)  # nobody chose: no wish, the record's language rules
    assert sent and set(sent) == {0}, sent
    assert h.view.language == "nl"


def _check_config(tmp_path) -> str:
    """This machine's configuration: the harness's state_dir (its patron store) and key."""
    cfg = tmp_path / "machine.toml"
    cfg.write_text(f"""
state_dir = "{tmp_path}"
[library]
kind = "embedded"
data = "demo"
database = "{tmp_path / 'check-library.sqlite'}"
[secrets.pseudonym_key]
value = "{'k' * 16}"
""")
    cfg.chmod(0o600)  # an inline secret: readable by its owner only
    return str(cfg)


async def test_check_shows_the_machines_lockout_and_counts_nothing(h, tmp_path, capsys):
    """#11: `bibkiosk check --config` read an empty in-memory store, so staff
    saw "allowed" for a locked-out patron.  It reads the machine's store
    read-only: "locked out until HH:MM (L1)", and a check with a wrong PIN
    adds nothing."""
    import asyncio
    import hashlib
    import json
    import re

    from kiosk.check_cli import main as check_main
    from kiosk.cli import build_parser

    await h.tap(OK_CARD)
    for _ in range(5):
        await h.pin("0000")
    assert h.state is State.MESSAGE and h.view.message.key == "policy.L1"
    await h.settle()
    store = tmp_path / "patrons.sqlite"
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    config = _check_config(tmp_path)

    async def check(*extra: str, card: str = OK_CARD) -> int:
        args = build_parser().parse_args(["check", "--config", config, "--card", card, "--action", "checkout",
                                          "--at", NOW.isoformat(), *extra])
        return await asyncio.to_thread(check_main, args)  # the CLI runs its own event loop

    assert await check() == 1
    out = capsys.readouterr().out
    # (12:15 less the harness's monotonic seconds: the store's time never runs behind its monotonic clock)
    assert re.search(r"wrong PINs: locked out until 12:1[45] \(L1\), 5 wrong PINs on this machine", out), out
    assert await check("--pin", "0000", "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["rules"] == ["L1"] and data["lockout"]["wrong_pins"] == 5
    assert data["lockout"]["budget_of"] == "patron number (XI)"  # the embedded library sends XI
    assert data["lockout"]["locked_until"][:16] in ("2026-11-23T12:14", "2026-11-23T12:15")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before  # nothing written
    # Another card of the machine's: no wrong PINs; says how many tries are left.
    assert await check(card="29999000000150") == 0
    assert "wrong PINs: 0 on this machine, 5 tries left before the lockout" in capsys.readouterr().out


def test_check_without_a_store_yet_says_so(tmp_path, capsys):
    from kiosk.check_cli import main as check_main
    from kiosk.cli import build_parser

    args = build_parser().parse_args(["check", "--config", _check_config(tmp_path), "--card", OK_CARD,
                                      "--action", "checkout", "--at", NOW.isoformat()])
    assert check_main(args) == 0
    out = capsys.readouterr().out
    assert "wrong PINs: no wrong PINs recorded on this machine" in out
    assert not (tmp_path / "patrons.sqlite").exists()  # check creates nothing
