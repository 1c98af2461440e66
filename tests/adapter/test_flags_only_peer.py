"""A library system that sends only the 14 flags (no extension fields): an
independent SIP2 server (PyPI pysip2) stands in for it.  The adapter marks
the snapshot flags_only, so the policy refuses with "LS" and the library
system's own screen message."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from kiosk.adapter import Sip2LibrarySystem
from kiosk.i18n import translate
from kiosk.sip2.client import ClientSettings
from policy import Action, SiteRules, decide

try:
    import pysip2
except ImportError as exc:  # pragma: no cover - fail, never skip
    raise RuntimeError("PyPI package pysip2 is required for this test") from exc

NOW = datetime(2026, 11, 23, 12, 0)
TODAY = "20261123    120000"

# card -> (14 flags, AF, BV)
PATRONS = {
    "1001": (" " * 14, (), None),
    "1002": ("YY" + " " * 12, ("Blokkade: neem contact op met de balie",), "12.50"),
    "1003": ("    Y" + " " * 9, (), None),  # card reported lost
}


def _server() -> pysip2.SIP2Server:
    app = pysip2.SIP2Server(institution_id="WISE")

    @app.route(pysip2.LOGIN)
    def login(req, ctx):
        return pysip2.LoginResponse(ok="1" if req.login_password == "pw" else "0")

    @app.route(pysip2.PATRON_INFORMATION)
    def patron_information(req, ctx):
        flags, screen, fee = PATRONS.get(req.patron_identifier, ("YYYY" + " " * 10, ("Onbekende pas",), None))
        known = req.patron_identifier in PATRONS
        return pysip2.PatronInformationResponse(
            patron_status=flags, language="005", transaction_date=TODAY,
            hold_items_count="0000", overdue_items_count="0000", charged_items_count="0001",
            fine_items_count="0000", recall_items_count="0000", unavailable_holds_count="0000",
            institution_id="WISE", patron_identifier=req.patron_identifier, personal_name="X",
            valid_patron="Y" if known else "N",
            valid_patron_password=("Y" if req.patron_password == "1234" else "N") if req.patron_password else None,
            fee_amount=fee, charged_items=("X1",) if "2" in req.summary[2:3].upper() or req.summary[2:3] == "Y" else (),
            screen_message=screen,
        )  # fmt: skip

    @app.route(pysip2.CHECKOUT)
    def checkout(req, ctx):
        ok = req.patron_identifier == "1001"
        return pysip2.CheckoutResponse(
            ok="1" if ok else "0", renewal_ok="N", magnetic_media="N", desensitize="Y" if ok else "N",
            transaction_date=TODAY, institution_id="WISE", patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier, title_identifier="Boek", due_date="2026-12-14" if ok else "",
            screen_message=() if ok else ("Uitlenen niet toegestaan",),
        )  # fmt: skip

    @app.route(pysip2.CHECKIN)
    def checkin(req, ctx):
        return pysip2.CheckinResponse(
            ok="1", resensitize="Y", magnetic_media="N", alert="Y", transaction_date=TODAY,
            institution_id="WISE", item_identifier=req.item_identifier, permanent_location="Annen",
            title_identifier="Boek", sort_bin="HOLD SHELF",
        )  # fmt: skip

    @app.route(pysip2.ITEM_INFORMATION)
    def item_information(req, ctx):
        return pysip2.ItemInformationResponse(
            circulation_status="04", security_marker="02", fee_type="01", transaction_date=TODAY,
            item_identifier=req.item_identifier, title_identifier="Boek", due_date="20261214    235959",
        )  # fmt: skip

    return app


@pytest.fixture
async def flags_only_library():
    app = _server()
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
    system = Sip2LibrarySystem(settings)
    try:
        yield system
    finally:
        await system.close()
        stop.set()
        await task


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
