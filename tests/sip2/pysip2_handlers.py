"""Fixture handlers for the PyPI ``pysip2`` server: an independent ACS that
our client is tested against.  pysip2 frames on CR only and answers only
standard fields."""

from __future__ import annotations

import pysip2
from pysip2 import (
    BLOCK_PATRON,
    CHECKIN,
    CHECKOUT,
    END_PATRON_SESSION,
    FEE_PAID,
    HOLD,
    ITEM_INFORMATION,
    ITEM_STATUS_UPDATE,
    LOGIN,
    PATRON_INFORMATION,
    PATRON_STATUS,
    RENEW,
    RENEW_ALL,
)

ACCOUNT = ("sc-kiosk", "pw-0815")
PATRONS = {"2000123456": ("4321", "Jan Peeters", ["30001", "30002"])}
TITLES = {"30001": "De Avonden", "30002": "Het Achterhuis", "30003": "Max Havelaar"}


def build_pysip2_server(*, holds: bool = False) -> pysip2.SIP2Server:
    """The fixture ACS; with ``holds`` it also routes 15 (and says so in BX)."""
    app = pysip2.SIP2Server(
        login_required=True, institution_id="BIB", library_name="pysip2 library", timeout_period="050"
    )
    calls: list[str] = []
    app.calls = calls  # type: ignore[attr-defined]

    def patron(req):
        entry = PATRONS.get(req.patron_identifier)
        if entry is None:
            return None, "N"
        pin_ok = "Y" if (req.patron_password or "") == entry[0] else "N"
        return entry, pin_ok

    @app.route(LOGIN)
    async def login(req, ctx):
        calls.append("93")
        return pysip2.LoginResponse(ok="1" if (req.login_user_id, req.login_password) == ACCOUNT else "0")

    @app.route(PATRON_STATUS)
    async def patron_status(req, ctx):
        calls.append("23")
        entry, pin_ok = patron(req)
        return pysip2.PatronStatusResponse(
            patron_status=" " * 14, language=req.language, transaction_date=ctx.now_18(),
            institution_id=req.institution_id, patron_identifier=req.patron_identifier,
            personal_name=entry[1] if entry else "", valid_patron="Y" if entry else "N",
            valid_patron_password=pin_ok,
        )  # fmt: skip

    @app.route(PATRON_INFORMATION)
    def patron_information(req, ctx):  # a sync handler, run in a thread by pysip2
        calls.append("63")
        entry, pin_ok = patron(req)
        loans = tuple(entry[2]) if entry and req.summary[2] == "Y" else ()
        return pysip2.PatronInformationResponse(
            patron_status="  Y           " if entry else " " * 14, language=req.language,
            transaction_date=ctx.now_18(), hold_items_count="0000", overdue_items_count="0000",
            charged_items_count=f"{len(entry[2]) if entry else 0:04d}", fine_items_count="0000",
            recall_items_count="0000", unavailable_holds_count="    ", institution_id=req.institution_id,
            patron_identifier=req.patron_identifier, personal_name=entry[1] if entry else "",
            charged_items_limit="0010", valid_patron="Y" if entry else "N", valid_patron_password=pin_ok,
            charged_items=loans, screen_message=("Welkom",) if entry else ("Onbekend",),
        )  # fmt: skip

    @app.route(CHECKOUT)
    async def checkout(req, ctx):
        calls.append("11")
        entry, pin_ok = patron(req)
        ok = entry is not None and req.item_identifier in TITLES and pin_ok == "Y"
        return pysip2.CheckoutResponse(
            ok="1" if ok else "0", renewal_ok="N", magnetic_media="N", desensitize="Y" if ok else "N",
            transaction_date=ctx.now_18(), institution_id=req.institution_id,
            patron_identifier=req.patron_identifier, item_identifier=req.item_identifier,
            title_identifier=TITLES.get(req.item_identifier, ""), due_date="20300101    235900" if ok else "",
            media_type="001",
        )  # fmt: skip

    @app.route(CHECKIN)
    async def checkin(req, ctx):
        calls.append("09")
        known = req.item_identifier in TITLES
        return pysip2.CheckinResponse(
            ok="1" if known else "0", resensitize="Y" if known else "N", magnetic_media="U", alert="N",
            transaction_date=ctx.now_18(), institution_id=req.institution_id, item_identifier=req.item_identifier,
            permanent_location=req.current_location, title_identifier=TITLES.get(req.item_identifier),
            sort_bin="B2",
        )  # fmt: skip

    @app.route(RENEW)
    async def renew(req, ctx):
        calls.append("29")
        return pysip2.RenewResponse(
            ok="1", renewal_ok="Y", magnetic_media="N", desensitize="N", transaction_date=ctx.now_18(),
            institution_id=req.institution_id, patron_identifier=req.patron_identifier,
            item_identifier=req.item_identifier or "", title_identifier=TITLES.get(req.item_identifier or "", ""),
            due_date="20300201    235900",
        )  # fmt: skip

    @app.route(RENEW_ALL)
    async def renew_all(req, ctx):
        calls.append("65")
        loans = tuple(PATRONS.get(req.patron_identifier, ("", "", []))[2])
        return pysip2.RenewAllResponse(
            ok="1", renewed_count=f"{len(loans):04d}", unrenewed_count="0000", transaction_date=ctx.now_18(),
            institution_id=req.institution_id, renewed_items=loans,
        )  # fmt: skip

    @app.route(ITEM_INFORMATION)
    async def item_information(req, ctx):
        calls.append("17")
        if req.item_identifier not in TITLES:
            return ctx.decline("Onbekend exemplaar")
        return pysip2.ItemInformationResponse(
            circulation_status="03", security_marker="02", fee_type="01", transaction_date=ctx.now_18(),
            item_identifier=req.item_identifier, title_identifier=TITLES[req.item_identifier],
            permanent_location="MAIN", hold_queue_length="0",
        )  # fmt: skip

    @app.route(END_PATRON_SESSION)
    async def end_session(req, ctx):
        calls.append("35")
        return pysip2.EndSessionResponse(
            end_session="Y", transaction_date=ctx.now_18(), institution_id=req.institution_id,
            patron_identifier=req.patron_identifier,
        )  # fmt: skip

    @app.route(FEE_PAID)
    async def fee_paid(req, ctx):
        calls.append("37")
        return pysip2.FeePaidResponse(
            payment_accepted="Y", transaction_date=ctx.now_18(), institution_id=req.institution_id,
            patron_identifier=req.patron_identifier, transaction_id=req.transaction_id,
        )  # fmt: skip

    @app.route(ITEM_STATUS_UPDATE)
    async def item_status_update(req, ctx):
        calls.append("19")
        return pysip2.ItemStatusUpdateResponse(
            item_properties_ok="1", transaction_date=ctx.now_18(), item_identifier=req.item_identifier,
            item_properties=req.item_properties,
        )  # fmt: skip

    @app.route(BLOCK_PATRON)
    async def block_patron(req, ctx):
        calls.append("01")
        return pysip2.PatronStatusResponse(
            patron_status="Y" * 4 + " " * 10, language="000", transaction_date=ctx.now_18(),
            institution_id=req.institution_id, patron_identifier=req.patron_identifier, personal_name="",
            valid_patron="Y", screen_message=(req.blocked_card_message,),
        )  # fmt: skip

    if holds:
        queue: dict[str, list[str]] = {}  # item -> patrons, oldest first
        app.holds = queue  # type: ignore[attr-defined]

        @app.route(HOLD)
        async def hold(req, ctx):
            calls.append("15")
            entry, pin_ok = patron(req)
            item = req.item_identifier or ""
            if entry is None or pin_ok != "Y" or item not in TITLES or req.hold_mode == "*":
                return ctx.decline("Reservering niet mogelijk")
            waiting = queue.setdefault(item, [])
            if req.hold_mode == "-":
                if req.patron_identifier not in waiting:
                    return ctx.decline("Geen reservering")
                waiting.remove(req.patron_identifier)
                position = None
            else:
                if req.patron_identifier not in waiting:
                    waiting.append(req.patron_identifier)
                position = str(waiting.index(req.patron_identifier) + 1)
            return pysip2.HoldResponse(
                ok="1", available="N", transaction_date=ctx.now_18(), expiration_date=req.expiration_date,
                queue_position=position, pickup_location=req.pickup_location, institution_id=req.institution_id,
                patron_identifier=req.patron_identifier, item_identifier=item, title_identifier=TITLES[item],
            )  # fmt: skip

    return app
