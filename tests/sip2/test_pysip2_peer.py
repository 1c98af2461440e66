"""Our client against the server of PyPI pysip2 (an independent ACS that
frames on CR only), with the fixture handlers of pysip2_handlers.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import contextlib

import pytest
from pysip2_handlers import ACCOUNT, build_pysip2_server

from kiosk.sip2 import (
    AcsStatus,
    HoldResponse,
    ClientSettings,
    ItemInformationRequest,
    LoginResponse,
    RemoteSip2Error,
    Sip2Client,
    Sip2ConnectionError,
    Sip2LoginError,
)

CARD, PIN = "2000123456", "4321"
DUE = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=21)


def settings_for(port: int, **overrides) -> ClientSettings:
    values = dict(
        port=port, user=ACCOUNT[0], password=ACCOUNT[1], institution="BIB", location="KIOSK1",
        timeout=5, keepalive_seconds=None, terminator="\r",
    )  # fmt: skip
    values.update(overrides)
    return ClientSettings(**values)


@contextlib.asynccontextmanager
async def pysip2_server(**options):
    # Entered and left in the test's own task: anyio's cancel scopes insist.
    app = build_pysip2_server(**options)
    async with app.start("127.0.0.1", 0) as port:
        yield port, app


async def test_login_status_and_every_request():
    async with pysip2_server() as (port, app):
        async with Sip2Client(settings_for(port)) as client:
            status = client.acs_status
            assert isinstance(status, AcsStatus)
            assert status.online_status and status.checkout_ok and status.checkin_ok
            assert status.institution_id == "BIB" and status.library_name == "pysip2 library"
            assert status.timeout_period == 50 and status.supports("63") and not status.supports("15")

            ps = await client.patron_status(CARD, PIN)
            assert ps.valid_patron and ps.valid_patron_password and ps.personal_name == "Jan Peeters"

            info = await client.patron_information(CARD, PIN, summary="charged")
            assert info.valid_patron and info.valid_patron_password
            assert info.charged_items == ("30001", "30002") and info.charged_items_count == 2
            assert info.unavailable_holds_count is None
            assert info.patron_status.recall_privileges_denied and info.charged_items_limit == 10
            assert info.screen_message == ("Welkom",)

            unknown = await client.patron_information("999", "0000")
            assert unknown.valid_patron is False

            out = await client.checkout(CARD, "30003", PIN, nb_due_date=DUE)
            assert out.ok and out.desensitize and out.title_identifier == "Max Havelaar"
            assert out.due_date == "20300101    235900" and out.media_type == "001"
            refused = await client.checkout(CARD, "30003", "0000", nb_due_date=DUE)
            assert not refused.ok

            back = await client.checkin("30003")
            assert back.ok and back.resensitize and back.magnetic_media is None
            assert back.permanent_location == "KIOSK1" and back.sort_bin == "B2"

            renewed = await client.renew(CARD, "30001", PIN, nb_due_date=DUE)
            assert renewed.ok and renewed.renewal_ok and renewed.title_identifier == "De Avonden"

            all_renewed = await client.renew_all(CARD, PIN)
            assert all_renewed.ok and all_renewed.renewed_count == 2 and all_renewed.renewed_items == ("30001", "30002")

            item = await client.item_information("30001")
            assert item.circulation_status == 3 and item.security_marker == 2 and item.title_identifier == "De Avonden"
            assert item.hold_queue_length == 0
            missing = await client.item_information("99999")
            assert missing.screen_message == ("Onbekend exemplaar",)

            paid = await client.fee_paid(CARD, "2.50", transaction_id="T-1")
            assert paid.payment_accepted and paid.transaction_id == "T-1"

            upd = await client.item_status_update("30001", "shelf 4")
            assert upd.item_properties_ok and upd.item_properties == "shelf 4"

            blocked = await client.block_patron(CARD, "Kaart ingehouden", card_retained=True)
            assert blocked.patron_status.charge_privileges_denied and blocked.screen_message == ("Kaart ingehouden",)

            end = await client.end_session(CARD, PIN)
            assert end.end_session

            again = await client.sc_status()
            assert again.online_status
        assert app.calls == ["93", "23", "63", "63", "11", "11", "09", "29", "65", "17", "17", "37", "19", "01", "35"]


async def test_holds_with_pysip2():
    """pysip2 has its own 15/16 models: what it reads of our 15 and what we
    read of its 16 must agree, field by field."""
    expires = datetime(2030, 3, 1, 23, 59, tzinfo=timezone.utc).astimezone()
    async with pysip2_server(holds=True) as (port, app):
        async with Sip2Client(settings_for(port)) as client:
            assert client.acs_status.supports("15")
            placed = await client.hold(CARD, "30003", PIN, pickup_location="NOORD", expiration_date=expires,
                                       hold_type=3)  # fmt: skip
            assert isinstance(placed, HoldResponse)
            assert placed.ok and not placed.available and placed.queue_position == 1
            assert placed.pickup_location == "NOORD" and placed.expiration_date == expires
            assert placed.title_identifier == "Max Havelaar"
            assert placed.item_identifier == "30003" and placed.patron_identifier == CARD
            assert app.holds == {"30003": [CARD]}
            refused = await client.hold(CARD, "30003", "0000")
            assert not refused.ok and refused.screen_message == ("Reservering niet mogelijk",)
            assert not (await client.hold(CARD, "99999", PIN)).ok
            assert not (await client.hold(CARD, "30003", PIN, mode="*")).ok
            cancelled = await client.hold(CARD, "30003", PIN, mode="-")
            assert cancelled.ok and cancelled.queue_position is None and app.holds == {"30003": []}
        assert app.calls == ["93", "15", "15", "15", "15", "15"]


async def test_pysip2_declines_a_hold_it_has_no_route_for():
    async with pysip2_server() as (port, app):
        async with Sip2Client(settings_for(port)) as client:
            assert not client.acs_status.supports("15")
            answer = await client.hold(CARD, "30001", PIN)
            assert isinstance(answer, HoldResponse) and not answer.ok and not answer.available
            assert answer.patron_identifier == CARD and answer.item_identifier == "30001"


async def test_without_error_detection():
    async with pysip2_server() as (port, app):
        async with Sip2Client(settings_for(port, error_detection=False)) as client:
            info = await client.patron_information(CARD, PIN)
            assert info.valid_patron


async def test_login_refused():
    async with pysip2_server() as (port, app):
        client = Sip2Client(settings_for(port, password="wrong"))
        with pytest.raises(Sip2LoginError):
            await client.connect()
        await client.close()


async def test_unknown_commands_get_no_answer_from_pysip2():
    async with pysip2_server() as (port, app):
        # pysip2 ignores commands it does not know: our client times out cleanly
        # and the next request works on a new connection.
        async with Sip2Client(settings_for(port, timeout=0.5)) as client:
            with pytest.raises(Sip2ConnectionError) as info:
                await client.raw("81ZZ0001|AA2000123456|")
            assert "no answer" in str(info.value)
            assert (await client.patron_status(CARD, PIN)).valid_patron
            with pytest.raises(RemoteSip2Error):
                # the 18 that comes back is not the answer we said we expect
                await client.request(ItemInformationRequest(item_identifier="30001", institution_id="BIB"), LoginResponse)


async def test_the_patron_language_goes_out_in_the_language_field():
    """The adapter names the patron's chosen language in the 63 (and the 23):
    SIP2 001 English, 002 French, 005 Dutch; no wish is 000.  pysip2's
    handlers answer in the language asked."""
    from kiosk.adapter.sip2 import Sip2LibrarySystem

    async with pysip2_server() as (port, app):
        system = Sip2LibrarySystem(settings_for(port))
        async with system:
            for lang, code in (("fr", 2), ("en", 1), ("nl", 5), (None, 0)):
                snapshot = await system.identify(CARD, PIN, language=lang)
                assert snapshot.language == lang
                account = await system.account(CARD, PIN, language=lang)
                assert account.patron.language == lang
            ps = await system.client.patron_status(CARD, PIN, language=2)
            assert ps.language == 2
            with pytest.raises(Exception, match="000-999"):
                await system.client.patron_status(CARD, PIN, language=1000)
