"""The flows (state machine, guards, offline, idle timeout) with sim:// devices
and a small in-test library system.  End to end over real SIP2 with the
embedded library system: test_e2e.py."""

from __future__ import annotations

import pytest

from devices import sim
from devices.base import Tag
from kiosk.config import OfflineMode, ReceiptMode
from kiosk.flows import TIMED_STATES, TRANSITIONS, FlowSettings, LineStatus, State, Ui
from kiosk.i18n import translate
from policy import SiteRules

from .fakelib import FakeLibrary
from .harness import close_harness, fixed_now, make_harness

NOW = fixed_now()


@pytest.fixture
def lib():
    return FakeLibrary()


@pytest.fixture
async def h(lib, tmp_path):
    harness = await make_harness(lib, tmp_path, now=NOW)
    yield harness
    await close_harness(harness)


async def login(h, card="1001", pin="1234"):
    await h.tap(card)
    assert h.state is State.PIN
    await h.pin(pin)


def pol(key, lang="nl", **params):
    return translate("policy", key, lang, **params)


def kio(key, lang="nl", **params):
    return translate("kiosk", key, lang, **params)


def test_state_table_is_checked_at_import():
    """The one table (moves + touch handlers) is validated: each broken table
    below is refused, naming the problem; the shipped one passes."""
    from dataclasses import replace

    from kiosk.flows.engine import KioskFlows
    from kiosk.flows.table import TABLE, StateRow, TableError, check_handlers, validate

    validate(TABLE)
    check_handlers(KioskFlows)
    assert set(TRANSITIONS) == set(State)
    broken = dict(TABLE)
    del broken[State.RECEIPT]
    with pytest.raises(TableError, match="no row for receipt"):
        validate(broken)
    with pytest.raises(TableError, match="not a State"):
        validate({**TABLE, State.IDLE: replace(TABLE[State.IDLE], targets=TABLE[State.IDLE].targets | {"nowhere"})})
    trap = {**TABLE, State.RECEIPT: StateRow(frozenset({State.RECEIPT}))}
    with pytest.raises(TableError, match="receipt can never get back to idle"):
        validate(trap)
    cut = {s: replace(row, targets=row.targets - {State.RECEIPT}) for s, row in TABLE.items()}
    with pytest.raises(TableError, match="unreachable from idle: receipt"):
        validate(cut)
    typo = {**TABLE, State.PIN: StateRow(TABLE[State.PIN].targets, {Ui.PIN_ENTER: "_ui_pin_entre"})}
    validate(typo)  # the name is well formed; only the class check knows it is missing
    with pytest.raises(TableError, match="has no _ui_pin_entre"):
        check_handlers(KioskFlows, typo)


async def test_identify_with_pin_in_patrons_language(h):
    await h.tap("1001")
    assert h.state is State.PIN and h.view.pin_length == 0
    await h.pin("99")
    # A wrong PIN says so, stays on the PIN screen and counts toward the lockout.
    assert h.state is State.PIN
    # ... and how many tries are left before the lockout, in the patron's language.
    assert h.view.language == "fr"
    assert h.view.pin_error.render("fr") == (kio("kiosk.pin.wrong_tries", "fr", reason=pol("policy.P1", "fr"), tries=4)
                                             + "\n" + kio("kiosk.pin.reset_desk", "fr"))
    assert len(h.flows.store.failures("1001", None, NOW())) == 1
    await h.pin("1234")
    assert h.state is State.MENU and h.view.identified
    assert h.view.borrow_refusal is None and not h.view.renew_refused
    assert h.view.language == "fr"  # the library system gave French
    assert h.flows.store.failures("1001", None, NOW()) == []
    assert {ln.item_id for ln in h.view.loans} == {"L1", "L2"}
    assert "success" in h.cues and "refusal" in h.cues


async def test_hardware_pinpad_and_lockout(h, lib):
    await h.tap("1001")
    sim.press_keys("1234#")
    await h.settle()
    assert h.state is State.MENU


async def test_lockout_after_five_wrong_pins(h):
    await h.tap("1001")
    for _ in range(4):
        await h.pin("0000")
        assert h.state is State.PIN
    await h.pin("0000")
    assert h.state is State.MESSAGE
    assert h.view.message.render("nl") == pol("policy.L1", minutes=15)
    await h.press(Ui.OK)
    assert h.state is State.IDLE and h.flows.session is None
    # Even the right PIN is refused while locked out.
    await h.tap("1001")
    assert h.state is State.MESSAGE and "L1" in h.view.message.key
    # ... and both lockout messages say where to reset the PIN (no [kiosk] pin_reset_url: the desk).
    assert h.view.message_extra.render("nl") == kio("kiosk.pin.reset_desk", "nl")


async def test_lockout_names_the_pin_reset_portal(lib, tmp_path):
    from kiosk.flows import FlowSettings

    h = await make_harness(lib, tmp_path, now=NOW, settings=FlowSettings(pin_reset_url="bib.example.be/pin"))
    try:
        await h.tap("1001")
        for _ in range(5):
            await h.pin("0000")
        assert h.state is State.MESSAGE
        assert h.view.message_extra.render("en") == kio("kiosk.pin.reset_url", "en", url="bib.example.be/pin")
        await h.press(Ui.OK)
        await h.tap("1001")  # locked out, card tapped again (not at the PIN screen)
        assert h.state is State.MESSAGE and "L1" in h.view.message.key
        assert h.view.message_extra.render("nl") == kio("kiosk.pin.reset_url", "nl", url="bib.example.be/pin")
    finally:
        await close_harness(h)


@pytest.mark.parametrize(
    ("card", "rule"), [("1003", "policy.C1"), ("1004", "policy.C2"), ("0000", "policy.U1")]
)
async def test_card_refusals_have_their_own_message(h, card, rule):
    await h.tap(card)
    assert h.state is State.MESSAGE
    assert h.view.message.render("nl") == pol(rule)
    assert "refusal" in h.cues
    await h.press(Ui.OK)
    assert h.state is State.IDLE and h.flows.session is None


async def test_blocked_patron_sees_reason_on_menu_and_when_borrowing(h):
    await login(h, "1002")
    assert h.state is State.MENU
    assert h.view.borrow_refusal.render("nl") == pol("policy.R2")
    assert h.view.renew_refused  # R2 refuses renewals too: Renew is shown as secondary, like Borrow
    await h.press(Ui.BORROW)
    assert h.state is State.MESSAGE and h.view.message.render("nl") == pol("policy.R2")
    await h.press(Ui.OK)
    assert h.state is State.MENU
    # Items placed while blocked: refused with the reason, security bits untouched.
    tags = await h.place(["I1"])
    assert h.state is State.MESSAGE
    assert all(t.secured for t in sim.BUS.tags())
    assert tags


async def test_stack_checkout_clears_security_only_after_yes(h, lib):
    await login(h)
    await h.press(Ui.BORROW)
    assert h.state is State.BORROW
    items = [f"I{n}" for n in range(1, 11)] + ["H1"]
    await h.place(items)
    lines = {ln.item_id: ln for ln in h.view.lines}
    assert len(lines) == 11
    for n in range(1, 11):
        assert lines[f"I{n}"].status is LineStatus.OK and lines[f"I{n}"].due == "2025-03-24"
    assert lines["H1"].status is LineStatus.REFUSED
    # a library text the kiosk has no own words for: shown once, marked as the library's
    assert lines["H1"].text.render("nl") == kio("kiosk.outcome.library_says", text="Reserved for another patron")
    secured = {t.item_id: t.secured for t in sim.BUS.tags()}
    assert secured["H1"] is True and not any(secured[f"I{n}"] for n in range(1, 11))
    ok = [e for e in h.journal.entries() if e.kind == "checkout"]
    assert len(ok) == 11 and {e.state for e in ok} == {"ok", "refused"}
    # Placing the same stack again changes nothing.
    await h.place(items)
    assert len(h.view.lines) == 11 and len([c for c in lib.calls if c[0] == "checkout"]) == 11


async def test_borrow_by_barcode_and_items_placed_before_the_card(h):
    await h.scan("I5")
    assert h.state is State.IDLE and h.view.hint is not None
    await login(h)
    # Straight to borrowing with the waiting item.
    assert h.state is State.BORROW
    assert [ln.item_id for ln in h.view.lines] == ["I5"] and h.view.lines[0].status is LineStatus.OK


async def test_set_with_missing_part(h):
    await login(h)
    await h.press(Ui.BORROW)
    await h.place([Tag(uid="E0040000000000A1", item_id="S1", set_parts=3, part_number=1)])
    line = h.view.lines[0]
    assert line.status is LineStatus.INCOMPLETE
    assert line.text.render("nl") == kio("kiosk.item.set_incomplete", parts=3, missing="2, 3")
    assert line.text.render("en").startswith("This is a set of 3 parts. Put all 3 parts on the pad")
    await h.place([Tag(uid=f"E0040000000000A{n}", item_id="S1", set_parts=3, part_number=n) for n in (2, 3)])
    assert [ln.status for ln in h.view.lines] == [LineStatus.OK]
    assert not any(t.secured for t in sim.BUS.tags())


async def test_item_already_lent_is_offered_for_renewal(h):
    await login(h)
    await h.press(Ui.BORROW)
    await h.scan("L1")
    line = h.view.lines[0]
    assert line.status is LineStatus.OFFER_RENEW
    await h.press(Ui.RENEW_ITEM, "L1")
    assert h.view.lines[0].status is LineStatus.OK and h.view.lines[0].due == "2025-03-27"


async def test_return_without_card_hold_shelf_and_security(h, lib):
    await h.place(["H1", "I3"])
    await h.press(Ui.RETURN)
    assert h.state is State.RETURN and not h.view.identified
    lines = {ln.item_id: ln for ln in h.view.lines}
    assert lines["H1"].text.render("en") == kio("kiosk.return.hold_shelf", "en")
    assert lines["H1"].extra.render("en") == kio("kiosk.outcome.library_says", "en", text="Hold shelf")
    assert lines["I3"].text.render("nl") == kio("kiosk.return.done")
    assert all(t.secured for t in sim.BUS.tags())
    await h.press(Ui.FINISH)
    assert h.state is State.RECEIPT


async def test_renew_with_one_refusal(h):
    await login(h)
    await h.press(Ui.RENEW)
    assert h.state is State.RENEW
    await h.press(Ui.RENEW_ALL)
    loans = {ln.item_id: ln for ln in h.view.loans}
    assert loans["L1"].status is LineStatus.OK and loans["L1"].due == "2025-03-27"
    assert loans["L2"].status is LineStatus.REFUSED
    assert loans["L2"].text.render("fr") == kio("kiosk.outcome.library_says", "fr", text="Reserved: cannot renew")


async def test_renew_selected(h):
    await login(h)
    await h.press(Ui.RENEW)
    await h.press(Ui.RENEW_SELECTED)
    assert h.view.hint.key == "kiosk.renew.choose"
    await h.press(Ui.TOGGLE_LOAN, "L1")
    assert [ln.selected for ln in h.view.loans if ln.item_id == "L1"] == [True]
    await h.press(Ui.RENEW_SELECTED)
    loans = {ln.item_id: ln for ln in h.view.loans}
    assert loans["L1"].status is LineStatus.OK and loans["L2"].status is None


async def test_account_shows_loans_and_blocks(h):
    await login(h, "1002")
    await h.press(Ui.ACCOUNT)
    assert h.state is State.ACCOUNT
    assert [b.render("nl") for b in h.view.blocks] == [pol("policy.R2")]
    await h.press(Ui.RENEW)
    assert h.state is State.MESSAGE and h.view.message.render("nl") == pol("policy.R2")


async def test_end_with_receipt_leaves_nothing_of_the_patron(h):
    await login(h)
    await h.press(Ui.BORROW)
    await h.scan("I2")
    await h.press(Ui.FINISH)
    assert h.state is State.RECEIPT
    await h.press(Ui.RECEIPT_YES)
    assert h.state is State.SUMMARY
    assert h.view.summary.borrowed == 1 and h.view.summary.receipt_printed
    receipt = sim.printed()[-1]
    text = "\n".join(receipt.lines)
    assert "Book 2" in text and "1001" not in text
    assert h.flows.session is None and h.view.lines == [] and h.view.loans == []
    # the goodbye stays in the patron's language (#13 item 7); the kiosk at rest speaks its own
    assert not h.view.identified and h.view.language == "fr"
    await h.advance(9)
    assert h.state is State.IDLE and h.view.language == "nl"


@pytest.mark.parametrize("mode", list(ReceiptMode))
async def test_receipt_modes(lib, tmp_path, mode):
    h = await make_harness(lib, tmp_path, settings=FlowSettings(receipt=mode), now=NOW)
    try:
        await login(h)
        await h.scan("I1")
        await h.press(Ui.FINISH)
        if mode in (ReceiptMode.ASK, ReceiptMode.ALWAYS_ON_TIMEOUT):
            assert h.state is State.RECEIPT
            await h.advance(200)  # the patron walked away
            assert h.state is State.IDLE
            assert len(sim.printed()) == (1 if mode is ReceiptMode.ALWAYS_ON_TIMEOUT else 0)
        else:
            assert h.state is State.SUMMARY
            assert len(sim.printed()) == (1 if mode is ReceiptMode.ALWAYS else 0)
    finally:
        await close_harness(h)


async def reach(h, state: State):
    """Drive the kiosk into *state* (with a session where the state needs one)."""
    if state is State.PIN:
        await h.tap("1001")
    elif state is State.MESSAGE:
        await h.tap("1003")
    elif state is State.RETURN:
        await h.press(Ui.RETURN)
    else:
        await login(h)
        if state is State.BORROW:
            await h.press(Ui.BORROW)
            await h.scan("I1")
        elif state is State.RENEW:
            await h.press(Ui.RENEW)
        elif state is State.ACCOUNT:
            await h.press(Ui.ACCOUNT)
        elif state is State.RECEIPT:
            await h.scan("I1")
            await h.press(Ui.FINISH)
    assert h.state is state


@pytest.mark.parametrize("state", sorted(TIMED_STATES - {State.SUMMARY, State.PAY, State.PAYING}))  # PAY: test_pay_flow.py
async def test_idle_timeout_from_every_state(h, state):
    await reach(h, state)
    settings = h.flows.settings
    await h.advance(settings.idle_timeout_seconds - settings.idle_warning_seconds - 1)
    assert h.view.warning_seconds is None
    await h.advance(2)
    # The warning shows at least 20 s before the end, over whatever is open.
    assert h.view.warning_seconds is not None and h.view.warning_seconds >= 19
    assert settings.idle_warning_seconds >= 20
    assert h.state is state and "warning" in h.cues
    h.flows.more_time()
    assert h.view.warning_seconds is None
    await h.advance(settings.idle_timeout_seconds - 1)
    assert h.state is state
    await h.advance(2)
    assert h.state is State.IDLE
    assert h.flows.session is None and h.view.lines == [] and not h.view.identified


async def test_device_out_of_order_notice(h):
    sim.unplug(name="rfid")
    await h.settle()
    assert kio("kiosk.device.rfid_down") in h.text()
    assert h.view.can_borrow  # the scanner still works
    sim.unplug(name="scanner")
    await h.settle()
    assert not h.view.can_borrow and not h.view.can_return
    sim.replug(name="rfid")
    sim.replug(name="scanner")
    await h.settle()
    assert h.view.notices == [] and h.view.can_borrow


async def test_offline_off_is_out_of_order(lib, tmp_path):
    h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.OFF), now=NOW)
    try:
        lib.down = True
        await h.tap("1001")
        assert h.state is State.MESSAGE
        await h.press(Ui.OK)
        assert h.state is State.OUT_OF_ORDER
        await h.press(Ui.RETURN)
        assert h.state is State.MESSAGE
        lib.down = False
        assert await h.flows.ping()
    finally:
        await close_harness(h)


async def test_offline_return_only_queues_returns_and_replays_once(lib, tmp_path):
    h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.RETURN_ONLY), now=NOW)
    try:
        lib.down = True
        await h.tap("1001")
        assert h.state is State.MESSAGE and h.view.message.key == "kiosk.offline.return_only"
        await h.press(Ui.OK)
        await h.press(Ui.RETURN)
        await h.place(["H1"])
        line = h.view.lines[0]
        assert line.status is LineStatus.QUEUED and line.text.key == "kiosk.offline.return_later"
        assert h.journal.pending_count() == 1
        lib.down = False
        report = await h.flows.replay()
        assert report.complete and report.replayed == 1
        assert [c for c in lib.calls if c[0] == "checkin"] == [("checkin", "H1", True)]
        assert (await h.flows.replay()).replayed == 0
    finally:
        await close_harness(h)


async def test_offline_checkout_for_recently_verified_patron_with_limit(lib, tmp_path):
    settings = FlowSettings(offline=OfflineMode.CHECKOUT, offline_item_limit=2)
    h = await make_harness(lib, tmp_path, settings=settings, now=NOW)
    try:
        await login(h)  # verified online now
        await h.press(Ui.FINISH)
        await h.advance(10)
        assert h.state is State.IDLE
        lib.down = True
        await h.tap("1001")
        assert h.state is State.PIN
        await h.pin("9999")  # not the PIN given online
        assert h.state is State.MESSAGE and h.view.message.key == "kiosk.offline.not_verified"
        await h.press(Ui.OK)
        await login(h)
        assert h.state is State.MENU and h.view.offline
        await h.press(Ui.BORROW)
        await h.place(["I1", "I2", "I3"])
        statuses = [ln.status for ln in h.view.lines]
        assert statuses == [LineStatus.QUEUED, LineStatus.QUEUED, LineStatus.REFUSED]
        assert h.view.lines[2].text.render("nl") == kio("kiosk.offline.limit", limit=2)
        secured = {t.item_id: t.secured for t in sim.BUS.tags()}
        assert secured == {"I1": False, "I2": False, "I3": True}
        await h.press(Ui.FINISH)
        await h.press(Ui.RECEIPT_NO)
        assert h.view.summary.queued == 2
        lib.down = False
        report = await h.flows.replay()
        assert report.replayed == 2
        assert [c for c in lib.calls if c[0] == "checkout"][-2:] == [("checkout", "I1", True), ("checkout", "I2", True)]
        assert lib.items["I1"].charged_to == "1001"
    finally:
        await close_harness(h)


async def test_offline_checkout_refused_for_unknown_patron(lib, tmp_path):
    h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.CHECKOUT), now=NOW)
    try:
        lib.down = True
        await h.tap("1001")
        await h.pin("1234")
        assert h.state is State.MESSAGE and h.view.message.key == "kiosk.offline.not_verified"
    finally:
        await close_harness(h)


async def test_link_failure_mid_checkout(h, lib):
    await login(h)
    await h.press(Ui.BORROW)
    lib.down = True
    await h.scan("I4")
    line = h.view.lines[0]
    assert line.status is LineStatus.FAILED and line.text.key == "kiosk.item.link_failed"
    assert [e.state for e in h.journal.entries()][-1] == "failed"
    assert all(t.secured for t in sim.BUS.tags())


async def test_language_switch_rerenders(h):
    await h.tap("1003")
    nl = h.view.message.render(h.view.language)
    h.flows.set_language("en")
    assert h.view.message.render(h.view.language) == pol("policy.C1", "en") != nl


async def test_no_pin_when_site_does_not_require_it(lib, tmp_path):
    rules = SiteRules(pin_required=frozenset())
    h = await make_harness(lib, tmp_path, settings=FlowSettings(rules=rules), now=NOW)
    try:
        await h.tap("1001")
        assert h.state is State.MENU
    finally:
        await close_harness(h)


async def test_barcode_scanner_as_patron_reader_and_shared_scanner(lib, tmp_path):
    roles = {
        "patron_reader": ["sim://scanner?name=cardscan", "sim://door-controller?name=osdp"],
        "scanner": ["sim://scanner?name=cardscan"],
        "pinpad": ["sim://door-controller?name=osdp"],
        "indicator": ["sim://door-controller?name=osdp"],
        "printer": ["sim://printer"],
    }
    h = await make_harness(lib, tmp_path, roles=roles, now=NOW)
    try:
        # One scanner for cards and items: at rest a scan is a card ...
        sim.scan("1001", name="cardscan")
        await h.settle()
        assert h.state is State.PIN
        # ... and the OSDP-like reader's keypad is the PIN pad (each key once).
        sim.press_keys("1234#", name="osdp")
        await h.settle()
        assert h.state is State.MENU
        # ... and once identified, a scan is an item.
        sim.scan("I7", name="cardscan")
        await h.settle()
        assert h.state is State.BORROW and [ln.item_id for ln in h.view.lines] == ["I7"]
        assert [c[0] for c in lib.calls].count("identify") == 2
    finally:
        await close_harness(h)


async def test_device_that_cannot_serve_its_role_is_out_of_order(lib, tmp_path):
    roles = {"patron_reader": ["sim://patron"], "item_reader": ["sim://printer?name=notapad"], "scanner": ["sim://scanner"]}
    h = await make_harness(lib, tmp_path, roles=roles, now=NOW)
    try:
        assert kio("kiosk.device.rfid_down") in h.text()
        assert h.view.can_borrow  # the scanner still works
    finally:
        await close_harness(h)


async def test_link_lost_mid_session_queues_what_was_never_sent(lib, tmp_path):
    h = await make_harness(lib, tmp_path, settings=FlowSettings(offline=OfflineMode.CHECKOUT), now=NOW)
    try:
        await login(h)
        await h.press(Ui.BORROW)
        lib.down = True  # connection refused: the checkout never left the kiosk
        await h.scan("I4")
        line = h.view.lines[0]
        assert line.status is LineStatus.QUEUED and h.view.offline
        states = [(e.mode.value, e.state.value, e.message) for e in h.journal.entries()]
        assert states == [("online", "failed", "not sent"), ("offline", "queued", None)]
    finally:
        await close_harness(h)
