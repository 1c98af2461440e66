"""A library system that sends only the 14 flags and BV (no extension fields):
an independent SIP2 server (PyPI pysip2) stands in for it.  A denied
privilege becomes "LS" with the library system's own screen message; BV is
weighed against the site's maximum (R1, with its evidence); a configured
field such as the birth date is read whenever it is there; the account
screen asks a bounded window and a bounded number of item lookups whatever
the peer pads its lists with; the 98 flags and BX are honoured."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from kiosk.adapter import LibrarySystemNotSupported, Sip2LibrarySystem
from kiosk.i18n import translate
from kiosk.sip2.client import ClientSettings
from policy import Action, SiteRules, decide, evidence_for

try:
    import pysip2
    from pysip2 import models as pysip2_models
except ImportError as exc:  # pragma: no cover - fail, never skip
    raise RuntimeError("PyPI package pysip2 is required for this test") from exc

NOW = datetime(2026, 11, 23, 12, 0)
TODAY = "20261123    120000"

# card -> (14 flags, AF, BV)
PATRONS = {
    "1001": (" " * 14, (), None),
    "1002": ("YY" + " " * 12, ("Blokkade: neem contact op met de balie",), "12.50"),
    "1003": ("    Y" + " " * 9, (), None),  # card reported lost
    "1004": (" " * 14, (), "12.50"),  # owes more than the site maximum; the flags say nothing
    "1005": (" " * 14, (), "4.00"),  # owes less
}
BIRTH_DATES = {"1001": "19800101"}


class PatronInformationWithBirthDate(pysip2.PatronInformationResponse, frozen=True, kw_only=True):
    """pysip2's 64 with one more field, PB (birth date), as many real peers send."""

    birth_date: str | None = None


# Teach pysip2's codec the extra field (its specs drive the codec, see pysip2.models).
_base = pysip2_models.MESSAGE_SPECS_BY_TYPE[pysip2.PatronInformationResponse]
pysip2_models.MESSAGE_SPECS_BY_TYPE[PatronInformationWithBirthDate] = pysip2_models.MessageSpec(
    "64", PatronInformationWithBirthDate, (*_base.fields, pysip2_models.ident("birth_date", "PB"))
)


def _server(*, strict: bool = False, calls: list[str] | None = None) -> pysip2.SIP2Server:
    """The peer; ``strict``: its 98 says checkout_ok, checkin_ok and offline_ok
    N and it has no 37 (so BX marks fee paid unsupported)."""
    app = pysip2.SIP2Server(institution_id="WISE")
    calls = calls if calls is not None else []

    @app.route(pysip2.LOGIN)
    def login(req, ctx):
        return pysip2.LoginResponse(ok="1" if req.login_password == "pw" else "0")

    if strict:
        @app.route(pysip2.SC_STATUS)
        def sc_status(req, ctx):
            calls.append("99")
            return pysip2.ACSStatusResponse(
                online_status="Y", checkin_ok="N", checkout_ok="N", acs_renewal_policy="N", status_update_ok="N",
                offline_ok="N", timeout_period="030", retries_allowed="003", date_time_sync=TODAY,
                protocol_version="2.00", institution_id="WISE", supported_messages=app._bx_flags(),
            )  # fmt: skip
    else:
        @app.route(pysip2.FEE_PAID)
        def fee_paid(req, ctx):
            calls.append("37")
            return pysip2.FeePaidResponse(payment_accepted="Y", transaction_date=TODAY, institution_id="WISE",
                                          patron_identifier=req.patron_identifier)

    @app.route(pysip2.PATRON_INFORMATION)
    def patron_information(req, ctx):
        calls.append("63")
        flags, screen, fee = PATRONS.get(req.patron_identifier, ("YYYY" + " " * 10, ("Onbekende pas",), None))
        known = req.patron_identifier in PATRONS
        # A real peer's habit: every requested list padded to BQ with empty fields.
        start, end = int(req.start_item or 1), int(req.end_item or 0)
        pad = ("",) * max(0, min(end, 20000) - start)
        summary = req.summary or ""
        wants = lambda pos: len(summary) > pos and summary[pos] == "Y"  # noqa: E731
        return PatronInformationWithBirthDate(
            patron_status=flags, language="005", transaction_date=TODAY,
            hold_items_count="0000", overdue_items_count="0000", charged_items_count="0001",
            fine_items_count="0000", recall_items_count="0000", unavailable_holds_count="0000",
            institution_id="WISE", patron_identifier=req.patron_identifier, personal_name="X",
            valid_patron="Y" if known else "N",
            valid_patron_password=("Y" if req.patron_password == "1234" else "N") if req.patron_password else None,
            fee_amount=fee, charged_items=("X1", *pad) if wants(2) else (), hold_items=pad if wants(0) else (),
            unavailable_hold_items=pad if wants(5) else (), screen_message=screen,
            birth_date=BIRTH_DATES.get(req.patron_identifier),
        )  # fmt: skip

    @app.route(pysip2.CHECKOUT)
    def checkout(req, ctx):
        calls.append("11")
        ok = req.patron_identifier == "1001"
        return pysip2.CheckoutResponse(
            ok="1" if ok else "0", renewal_ok="N", magnetic_media="N", desensitize="Y" if ok else "N",
            transaction_date=TODAY, institution_id="WISE", patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier, title_identifier="Boek", due_date="2026-12-14" if ok else "",
            screen_message=() if ok else ("Uitlenen niet toegestaan",),
        )  # fmt: skip

    @app.route(pysip2.CHECKIN)
    def checkin(req, ctx):
        calls.append("09")
        return pysip2.CheckinResponse(
            ok="1", resensitize="Y", magnetic_media="N", alert="Y", transaction_date=TODAY,
            institution_id="WISE", item_identifier=req.item_identifier, permanent_location="Annen",
            title_identifier="Boek", sort_bin="HOLD SHELF",
        )  # fmt: skip

    @app.route(pysip2.ITEM_INFORMATION)
    def item_information(req, ctx):
        calls.append("17")
        return pysip2.ItemInformationResponse(
            circulation_status="04", security_marker="02", fee_type="01", transaction_date=TODAY,
            item_identifier=req.item_identifier, title_identifier="Boek", due_date="20261214    235959",
        )  # fmt: skip

    return app


@contextlib.asynccontextmanager
async def peer(*, strict: bool = False, **options):
    """(system, calls): our adapter against the pysip2 peer."""
    calls: list[str] = []
    app = _server(strict=strict, calls=calls)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def run() -> None:  # anyio scopes must open and close in one task
        async with app.start("127.0.0.1", 0) as port:
            ready.set_result(port)
            await stop.wait()

    task = asyncio.create_task(run())
    port = await asyncio.wait_for(ready, 5)
    settings = ClientSettings(
        port=port, user="kiosk", password=SecretStr("pw"), institution="WISE", keepalive_seconds=None, timeout=5
    )
    system = Sip2LibrarySystem(settings, **options)
    try:
        yield system, calls
    finally:
        await system.close()
        stop.set()
        await task


@pytest.fixture
async def flags_only_library():
    async with peer() as (system, _calls):
        yield system


async def test_flags_only_becomes_ls_with_the_screen_message(flags_only_library):
    patron = await flags_only_library.identify("1002", "1234")
    # BV 12.50 is known beside the flags: one charge of today, not flags only
    assert not patron.flags_only and patron.flags.charge_privileges_denied
    assert [c.amount for c in patron.charges] == [Decimal("12.50")]
    assert patron.screen_message == "Blokkade: neem contact op met de balie"
    assert patron.language == "nl"
    rules = SiteRules(pin_required=frozenset())
    decision = decide(Action.CHECKOUT, patron, rules, NOW)
    assert decision.rule_ids() == ["LS"]
    text = translate("policy", decision.message.key, "nl", **decision.message.params)
    assert "Blokkade: neem contact op met de balie" in text
    assert decide(Action.RETURN, patron, rules, NOW).allowed
    assert decide(Action.RENEW, patron, rules, NOW).rule_ids() == ["LS"]


async def test_flags_only_clean_patron_and_lost_card(flags_only_library):
    rules = SiteRules(pin_required=frozenset())
    clean = await flags_only_library.identify("1001")
    assert clean.flags_only and decide(Action.CHECKOUT, clean, rules, NOW).allowed
    lost = await flags_only_library.identify("1003")
    assert decide(Action.CHECKOUT, lost, rules, NOW).rule_ids() == ["C4"]


async def test_flags_only_unknown_card_and_pin(flags_only_library):
    unknown = await flags_only_library.identify("9999", "1234")
    assert not unknown.known
    rules = SiteRules(pin_required=frozenset())
    assert decide(Action.CHECKOUT, unknown, rules, NOW).rule_ids() == ["U1"]
    wrong = await flags_only_library.identify("1001", "0000")
    assert wrong.pin.value == "wrong"


async def test_transactions_from_a_foreign_peer(flags_only_library):
    # pysip2 insists on a filled-in nb due date in a 11, so send no-block
    # checkouts (an offline replay) here.
    out = await flags_only_library.checkout("1001", "X1", no_block=True, due=date(2026, 12, 14))
    assert out.ok and out.due == date(2026, 12, 14) and out.title == "Boek" and out.desensitize
    refused = await flags_only_library.checkout("1002", "X1", no_block=True, due=date(2026, 12, 14))
    assert not refused.ok and refused.screen_message == "Uitlenen niet toegestaan"
    back = await flags_only_library.checkin("X1")
    assert back.ok and back.hold_shelf and back.sort_bin == "HOLD SHELF"
    info = await flags_only_library.item_information("X1")
    assert info.status.value == "on_loan" and info.due == date(2026, 12, 14)


# --------------------------------------------------------------------------- issue 12, item 5


async def test_bv_against_the_site_maximum_with_its_evidence(flags_only_library):
    rules = SiteRules(pin_required=frozenset(), default_max_charges=Decimal("10.00"))
    owes = await flags_only_library.identify("1004")
    decision = decide(Action.CHECKOUT, owes, rules, NOW)
    assert decision.rule_ids() == ["R1"]
    (ev,) = evidence_for(decision, owes)
    assert ev.source == "64 BV" and "12.50" in ev.detail and "nothing itemises the charges" in ev.detail
    assert decide(Action.RENEW, owes, rules, NOW).rule_ids() == ["R1"]
    assert decide(Action.RETURN, owes, rules, NOW).allowed and decide(Action.PAY, owes, rules, NOW).allowed
    assert decide(Action.CHECKOUT, await flags_only_library.identify("1005"), rules, NOW).allowed
    # holds are not R1's to refuse
    assert decide(Action.HOLD, owes, rules, NOW).allowed


async def test_birth_date_read_in_flags_only_mode(flags_only_library):
    rules = SiteRules(pin_required=frozenset(), min_entry_age=18, unmanned_badge="Onbemande openingsuren")
    adult = await flags_only_library.identify("1001")
    assert adult.birth_date == date(1980, 1, 1)
    assert "A1" not in decide(Action.ENTRY, adult, rules, NOW).rule_ids()  # B1 only: this peer sends no badges
    assert "A1" in decide(Action.ENTRY, await flags_only_library.identify("1005"), rules, NOW).rule_ids()


async def test_account_is_bounded_whatever_the_peer_pads_its_lists_with():
    async with peer(account_window=50, account_item_lookups=20) as (system, calls):
        started = time.perf_counter()
        account = await system.account("1001")
        elapsed = time.perf_counter() - started
        assert [loan.item_id for loan in account.loans] == ["X1"]  # 49 empty padding fields skipped
        assert account.holds == ()
        assert calls.count("17") == 1 and calls.count("63") == 3
        assert elapsed < 5


async def test_account_caps_item_lookups():
    async with peer(account_window=50, account_item_lookups=3) as (system, calls):
        real = ["X1", *[f"Y{i}" for i in range(30)]]
        system.client.patron_information = _with_loans(system.client.patron_information, real)
        account = await system.account("1001")
        assert [loan.item_id for loan in account.loans] == real  # every id listed ...
        assert calls.count("17") == 3  # ... titles looked up for three only
        assert [loan.title for loan in account.loans[:4]] == ["Boek", "Boek", "Boek", ""]


def _with_loans(original, ids):
    async def patched(card, pin=None, summary=None, **kw):
        answer = await original(card, pin, summary, **kw)
        return answer.replace(charged_items=tuple(ids)) if summary == "charged" else answer

    return patched


async def test_the_98_and_bx_are_honoured():
    async with peer(strict=True) as (system, calls):
        await system.start()
        assert system.acs_status is not None and not system.supports("37")
        with pytest.raises(LibrarySystemNotSupported, match="checkout_ok N"):
            await system.checkout("1001", "X1")
        with pytest.raises(LibrarySystemNotSupported, match="checkin_ok N"):
            await system.checkin("X1")
        with pytest.raises(LibrarySystemNotSupported, match="offline_ok N"):
            await system.checkout("1001", "X1", no_block=True, due=date(2026, 12, 14))
        with pytest.raises(LibrarySystemNotSupported, match="offline_ok N"):
            await system.checkin("X1", no_block=True)
        assert not system.accepts_offline
        with pytest.raises(LibrarySystemNotSupported, match="BX"):
            await system.pay("1001", Decimal("1.00"))
        assert not {"11", "09", "37"} & set(calls)  # nothing was sent
        assert (await system.identify("1001")).known  # what it supports still works


async def test_raw_97_gets_the_last_answer_again():
    from kiosk.sip2 import AcsStatus

    async with peer() as (system, _calls):
        await system.start()
        answer = await asyncio.wait_for(system.client.raw("97"), 3)
        assert isinstance(answer, AcsStatus)  # the 98 of the connect, sent again
