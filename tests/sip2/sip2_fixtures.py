"""A tiny library behind our server core, for the tests (not production code).

Patrons, items and loans live in dicts; answers are short (the PyPI ``sip2``
client reads a reply with one ``recv``).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from kiosk.sip2 import (
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    Sip2Handler,
    Sip2Server,
    Sip2Session,
    Summary,
)

ACCOUNT = ("kiosk1", "s3cret-pw")
CARD = "2000123456"
PIN = "4321"
BLOCKED_CARD = "2000999999"


@dataclass
class Patron:
    pin: str
    name: str
    loans: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    status: PatronStatus = field(default_factory=PatronStatus)


@dataclass
class Item:
    title: str
    on_loan_to: str | None = None


class FakeLibrary(Sip2Handler):
    """Answers every message a kiosk and a door need, from dicts."""

    institution_id = "BIB"
    library_name = "Testbibliotheek"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.patrons = {
            CARD: Patron(PIN, "Jan Peeters", loans=["30001001", "30001002"], holds=["30009001"]),
            BLOCKED_CARD: Patron("0000", "Piet Blok", status=PatronStatus(card_reported_lost=True)),
        }
        self.items = {
            "30001001": Item("De Avonden", CARD),
            "30001002": Item("Het Achterhuis", CARD),
            "30001003": Item("Max Havelaar"),
            "30009001": Item("Karakter"),
        }
        for card, patron in self.patrons.items():
            for item_id in patron.loans:
                self.items[item_id].on_loan_to = card
        self.logins = 0
        self.seen: list[str] = []

    # -- helpers -----------------------------------------------------------

    def _patron(self, card: str, pin: str | None) -> tuple[Patron | None, bool | None]:
        patron = self.patrons.get(card)
        if patron is None:
            return None, None
        if pin is None or pin == "":
            return patron, None
        return patron, pin == patron.pin

    # -- handlers ----------------------------------------------------------

    def on_login(self, msg: LoginRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        ok = (msg.login_user_id, msg.login_password) == ACCOUNT
        if ok:
            self.logins += 1
            session.account = msg.login_user_id
        return LoginResponse(ok=ok)

    def on_sc_status(self, msg, session):
        self.seen.append(msg.command_code)
        return super().on_sc_status(msg, session)

    async def on_patron_status(self, msg: PatronStatusRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        patron, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        if patron is None:
            return PatronStatusResponse(
                patron_identifier=msg.patron_identifier, institution_id=self.institution_id,
                valid_patron=False, valid_patron_password=False, screen_message=("Onbekende kaart",),
            )  # fmt: skip
        return PatronStatusResponse(
            patron_status=patron.status, institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier, personal_name=patron.name,
            valid_patron=True, valid_patron_password=pin_ok, currency_type="EUR", fee_amount="0.00",
        )  # fmt: skip

    def on_patron_information(self, msg: PatronInformationRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        patron, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        if patron is None:
            return PatronInformationResponse(
                patron_identifier=msg.patron_identifier, institution_id=self.institution_id,
                valid_patron=False, valid_patron_password=False, screen_message=("Onbekende kaart",),
            )  # fmt: skip
        return PatronInformationResponse(
            patron_status=patron.status,
            language=msg.language,
            hold_items_count=len(patron.holds),
            overdue_items_count=0,
            charged_items_count=len(patron.loans),
            fine_items_count=0,
            recall_items_count=0,
            unavailable_holds_count=0,
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            personal_name=patron.name,
            charged_items_limit=10,
            valid_patron=True,
            valid_patron_password=pin_ok,
            charged_items=tuple(patron.loans) if Summary.CHARGED in msg.summary else (),
            hold_items=tuple(patron.holds) if Summary.HOLD in msg.summary else (),
            extra_fields=(("PB", "19800101"),),
        )

    def on_checkout(self, msg: CheckoutRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        patron, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        item = self.items.get(msg.item_identifier)
        ok = patron is not None and pin_ok is not False and not patron.status and item is not None
        ok = ok and item.on_loan_to in (None, msg.patron_identifier)
        if ok:
            item.on_loan_to = msg.patron_identifier
            if msg.item_identifier not in patron.loans:
                patron.loans.append(msg.item_identifier)
        return CheckoutResponse(
            ok=ok, renewal_ok=False, magnetic_media=False, desensitize=ok, institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier,
            title_identifier=item.title if item else "", due_date="20300101    235900" if ok else "",
        )  # fmt: skip

    def on_checkin(self, msg: CheckinRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        item = self.items.get(msg.item_identifier)
        if item is None:
            return CheckinResponse(ok=False, resensitize=False, alert=True, item_identifier=msg.item_identifier,
                                   institution_id=self.institution_id, screen_message=("Onbekend",))  # fmt: skip
        if item.on_loan_to is not None:
            patron = self.patrons[item.on_loan_to]
            if msg.item_identifier in patron.loans:
                patron.loans.remove(msg.item_identifier)
            item.on_loan_to = None
        return CheckinResponse(ok=True, resensitize=True, magnetic_media=False, alert=False,
                               institution_id=self.institution_id, item_identifier=msg.item_identifier,
                               permanent_location="MAIN", title_identifier=item.title)  # fmt: skip

    def on_renew(self, msg: RenewRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        item = self.items.get(msg.item_identifier or "")
        ok = item is not None and item.on_loan_to == msg.patron_identifier
        return RenewResponse(
            ok=ok, renewal_ok=ok, magnetic_media=False, desensitize=False, institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier or "",
            title_identifier=item.title if item else "", due_date="20300201    235900" if ok else "",
        )  # fmt: skip

    def on_renew_all(self, msg: RenewAllRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        patron = self.patrons.get(msg.patron_identifier)
        loans = tuple(patron.loans) if patron else ()
        return RenewAllResponse(ok=patron is not None, renewed_count=len(loans), unrenewed_count=0,
                                institution_id=self.institution_id, renewed_items=loans)  # fmt: skip

    def on_item_information(self, msg: ItemInformationRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        item = self.items.get(msg.item_identifier)
        if item is None:
            return ItemInformationResponse(circulation_status=1, security_marker=0, fee_type=1,
                                           item_identifier=msg.item_identifier, screen_message=("Onbekend",))  # fmt: skip
        return ItemInformationResponse(
            circulation_status=4 if item.on_loan_to else 3, security_marker=2, fee_type=1,
            item_identifier=msg.item_identifier, title_identifier=item.title, permanent_location="MAIN",
        )  # fmt: skip

    def on_end_patron_session(self, msg: EndPatronSessionRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        return EndSessionResponse(end_session=True, institution_id=self.institution_id,
                                  patron_identifier=msg.patron_identifier)  # fmt: skip

    def on_hold(self, msg: HoldRequest, session: Sip2Session):
        """'+' and '-' on the patron's hold list; '*' is refused."""
        self.seen.append(msg.command_code)
        patron, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        item_id = msg.item_identifier or ""
        item = self.items.get(item_id)
        ok = patron is not None and pin_ok is not False and item is not None and msg.hold_mode in ("+", "-")
        if ok and msg.hold_mode == "+" and item_id not in patron.holds:
            patron.holds.append(item_id)
        elif ok and msg.hold_mode == "-":
            ok = item_id in patron.holds
            if ok:
                patron.holds.remove(item_id)
        queued = ok and msg.hold_mode == "+"
        return HoldResponse(
            ok=ok, available=False, queue_position=1 if queued else None,
            pickup_location=(msg.pickup_location or "MAIN") if queued else None, institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier,
            title_identifier=item.title if item else None, screen_message=() if ok else ("Niet gelukt",),
        )  # fmt: skip

    def on_fee_paid(self, msg: FeePaidRequest, session: Sip2Session):
        self.seen.append(msg.command_code)
        return FeePaidResponse(payment_accepted=msg.patron_identifier in self.patrons,
                               institution_id=self.institution_id, patron_identifier=msg.patron_identifier,
                               transaction_id=msg.transaction_id)  # fmt: skip


class ThreadedServer:
    """Our server core on its own event loop in a thread, for synchronous
    peers (the PyPI ``sip2`` client, the CLI)."""

    def __init__(self, handler: Sip2Handler, **options) -> None:
        self.handler = handler
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Sip2Server | None = None
        self.port = 0

    def __enter__(self) -> ThreadedServer:
        self.thread.start()

        async def start() -> int:
            self.server = Sip2Server(self.handler, **self.options)
            return await self.server.start("127.0.0.1", 0)

        self.port = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
