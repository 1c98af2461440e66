"""A Wise-dialect SIP2 peer for the tests, written from /work/shared/wise-sip2.md
(not from our adapter): our server core with Wise handlers.

What it sends is only what that file says Wise sends: the 14 flags, BV,
badge *codes* in GL (one GL per badge, or several codes in one GL), the
patron's public notifications as AF fields, 41/42 with one YZ of ten
``~``-separated values per registration, 37 paid by adm_id (CG) with BK
recognised on a retry, FV questions in a 12, hold bins CL 03/02 in a 10.
None of our own extension fields, except where a test adds one on purpose
(``extra``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from kiosk.sip2 import (
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    FeePaidResponse,
    ItemInformationResponse,
    LoginResponse,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusResponse,
    RegistrationsResponse,
    Sip2Handler,
    Sip2Server,
    now,
    supported_messages_field,
)

ACCOUNT = ("ZUS-kiosk-1", "poort-wachtwoord")  # the SIP port's access code and password
FLAG = "FB"
TODAY = date(2026, 11, 23)


def yz(created: str, description: str, title: str, amount: str, adm_id: str, kind: int, *, based_on: str = "",
       status: str = "I", collection: str = "", arrangement: str = "") -> str:
    """One YZ value as wise-sip2.md lays it out (spaces around '~' on purpose)."""
    return " ~ ".join([created, description, title, based_on, amount, status, collection, adm_id, str(kind), arrangement])


@dataclass
class WisePatron:
    pin: str = "1234"
    name: str = "Lener"
    gl: list[str] = field(default_factory=list)  # the GL values, as sent
    flags: str = " " * 14
    bv: str | None = None
    registrations: list[str] = field(default_factory=list)  # YZ values
    notifications: list[str] = field(default_factory=list)  # AF
    extra: list[tuple[str, str]] = field(default_factory=list)  # only where a test wants one
    #: the patron barcode the answer's AA carries (None: the card as sent); a test's
    #: library system that tells an old card's link to its patron this way
    barcode: str | None = None


def demo_patrons() -> dict[str, WisePatron]:
    return {
        # badge holder, nothing open
        "22000000000011": WisePatron(gl=["OBOU"], notifications=["Uw pas vervalt op 31-12-2026"]),
        # no badge
        "22000000000029": WisePatron(gl=[]),
        # two codes in one GL
        "22000000000037": WisePatron(gl=["LEES,OBOU"]),
        # another badge only, in two GL fields
        "22000000000045": WisePatron(gl=["LEES", "JEUG"]),
        # R2: the membership fee (type 1) is open; Wise's flags deny
        "22000000000052": WisePatron(gl=["OBOU"], flags="YY" + " " * 12, bv="20.00",
                                     registrations=[yz("15-09-2026", "Contributie", "Lidgeld volwassene", "20.00", "7001", 1)]),
        # R1: fines above the site maximum (10.00)
        "22000000000060": WisePatron(flags="YY" + " " * 12, bv="12.50", registrations=[
            yz("20-11-2026", "Boete", "De Avonden", "7.50", "7002", 2, based_on="18-11-2026"),
            yz("21-11-2026", "Boete", "Max Havelaar", "5.00", "7003", 2, based_on="19-11-2026"),
        ]),
        # R3: a small fine older than the branch's limit (30 days)
        "22000000000078": WisePatron(flags="YY" + " " * 12, bv="1.00", registrations=[
            yz("01-09-2026", "Boete", "Kaas", "1.00", "7004", 2),
        ]),
        # R4: a replacement invoice (description "Nota")
        "22000000000086": WisePatron(flags="YY" + " " * 12, bv="35.00", registrations=[
            yz("10-11-2026", "Nota", "Materiaalvergoeding Het Achterhuis", "35.00", "7005", 2, status="D",
               collection="20-11-2026"),
        ]),
        # LS: the flags deny, nothing explains it
        "22000000000094": WisePatron(gl=["OBOU"], flags="YY" + " " * 12, bv="0.00",
                                     notifications=["Neem contact op met de balie"]),
        # a fine under a payment arrangement: need not be paid now
        "22000000000102": WisePatron(bv="50.00", registrations=[
            yz("01-08-2026", "Boete", "Reeks", "50.00", "7006", 2, status="R", arrangement="01-01-2027"),
        ]),
        # Wise status 7 (online registration not finished) in the configured status field
        "22000000000110": WisePatron(extra=[("XS", "7")]),
    }


class WisePeer(Sip2Handler):
    """A Wise SIP2 port: login with the port's access code and password."""

    institution_id = "WISE"
    library_name = "Bibliotheek Wise (test peer)"
    login_required = True
    offline_ok = True

    def __init__(self, patrons: dict[str, WisePatron] | None = None, *, flag: str = FLAG,
                 checkout_ok: bool = True, registrations: bool = True) -> None:
        super().__init__()
        self.patrons = patrons if patrons is not None else demo_patrons()
        self.flag = flag
        self.checkout_ok = checkout_ok
        self.registrations_on = registrations
        self.paid: dict[str, str] = {}  # BK -> adm_id
        self.log: list[str] = []

    # -- session ----------------------------------------------------------------

    def on_login(self, msg, session):
        self.log.append("93")
        ok = (msg.login_user_id, msg.login_password) == ACCOUNT
        return LoginResponse(ok=ok)

    def on_sc_status(self, msg, session):
        self.log.append("99")
        codes = {"23", "63", "11", "09", "17", "29", "35", "37", "93", "99", "97"}
        return AcsStatus(
            online_status=True, checkin_ok=True, checkout_ok=self.checkout_ok, acs_renewal_policy=True,
            status_update_ok=False, offline_ok=self.offline_ok, timeout_period=50, retries_allowed=3,
            date_time_sync=now(), institution_id="WISE", library_name=self.library_name,
            supported_messages=supported_messages_field(codes),
        )  # fmt: skip

    # -- patrons ----------------------------------------------------------------

    def _patron(self, card: str, pin: str | None):
        p = self.patrons.get(card)
        pin_ok = None if not pin else (p is not None and pin == p.pin)
        return p, pin_ok

    def _extras(self, p: WisePatron) -> tuple[tuple[str, str], ...]:
        return tuple(("GL", value) for value in p.gl) + tuple(p.extra)

    def on_patron_information(self, msg, session):
        self.log.append("63")
        p, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        if p is None:
            return PatronInformationResponse(
                patron_status=PatronStatus.from_wire("YYYY" + " " * 10), language=msg.language,
                institution_id="WISE", patron_identifier=msg.patron_identifier, valid_patron=False,
                valid_patron_password=False, screen_message=("Onbekende pas",),
            )  # fmt: skip
        return PatronInformationResponse(
            patron_status=PatronStatus.from_wire(p.flags), language=5, institution_id="WISE",
            patron_identifier=p.barcode or msg.patron_identifier, personal_name=p.name, valid_patron=True,
            valid_patron_password=pin_ok, currency_type="EUR", fee_amount=p.bv,
            screen_message=tuple(p.notifications), extra_fields=self._extras(p),
        )  # fmt: skip

    def on_patron_status(self, msg, session):
        self.log.append("23")
        p, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        return PatronStatusResponse(
            patron_status=PatronStatus.from_wire(p.flags if p else "YYYY" + " " * 10), language=5,
            institution_id="WISE", patron_identifier=(p.barcode if p else None) or msg.patron_identifier,
            personal_name=p.name if p else "",
            valid_patron=p is not None, valid_patron_password=pin_ok, fee_amount=p.bv if p else None,
            extra_fields=self._extras(p) if p else (),
        )  # fmt: skip

    def on_registrations(self, msg, session):
        self.log.append("41")
        if not self.registrations_on:
            return None  # SIP2+ not licensed: Wise-less ports do not answer
        p, pin_ok = self._patron(msg.patron_identifier, msg.patron_password)
        lines = tuple(p.registrations) if p is not None and pin_ok is not False and msg.flags == (self.flag,) else ()
        return RegistrationsResponse(institution_id="WISE", patron_identifier=msg.patron_identifier,
                                     registration_lines=lines)

    def on_fee_paid(self, msg, session):
        self.log.append("37")
        p, _ = self._patron(msg.patron_identifier, msg.patron_password)
        if msg.transaction_id and msg.transaction_id in self.paid:  # the same BK again: already booked
            return FeePaidResponse(payment_accepted=True, institution_id="WISE",
                                   patron_identifier=msg.patron_identifier, transaction_id=msg.transaction_id)
        ok = False
        if p is not None and msg.fee_identifier and msg.currency_type == "EUR":
            for line in list(p.registrations):
                values = [v.strip() for v in line.split("~")]
                if values[7] == msg.fee_identifier and Decimal(values[4]) == Decimal(msg.fee_amount):
                    p.registrations.remove(line)
                    ok = True
        if ok and msg.transaction_id:
            self.paid[msg.transaction_id] = msg.fee_identifier or ""
        return FeePaidResponse(
            payment_accepted=ok, institution_id="WISE", patron_identifier=msg.patron_identifier,
            transaction_id=msg.transaction_id, screen_message=() if ok else ("Betaling geweigerd",),
        )  # fmt: skip

    # -- items ------------------------------------------------------------------

    def on_checkout(self, msg, session):
        self.log.append("11")
        questions = ("Is het materiaal beschadigd?", "Bevat bijlagen: 2 cd's") if msg.item_identifier == "FV1" else ()
        return CheckoutResponse(
            ok=True, renewal_ok=False, magnetic_media=False, desensitize=True, institution_id="WISE",
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier, title_identifier="Boek",
            due_date="14-12-2026", extra_fields=tuple(("FV", q) for q in questions),
        )  # fmt: skip

    def on_checkin(self, msg, session):
        self.log.append("09")
        bins = {"HOLD1": "03", "TRANSIT1": "02"}
        return CheckinResponse(
            ok=True, resensitize=True, magnetic_media=False, alert=msg.item_identifier in bins, institution_id="WISE",
            item_identifier=msg.item_identifier, permanent_location="Hoofdbibliotheek", title_identifier="Boek",
            sort_bin=bins.get(msg.item_identifier),
        )  # fmt: skip

    def on_item_information(self, msg, session):
        self.log.append("17")
        return ItemInformationResponse(circulation_status=3, security_marker=2, fee_type=1,
                                       item_identifier=msg.item_identifier, title_identifier="Boek")


@contextlib.asynccontextmanager
async def wise_peer(peer: WisePeer | None = None):
    """(port, peer) of a running Wise peer on 127.0.0.1."""
    peer = peer or WisePeer()
    server = Sip2Server(peer)
    port = await server.start("127.0.0.1", 0)
    try:
        yield port, peer
    finally:
        await server.close()
