"""The embedded library system speaks Wise.

OCLC Wise tells a self-service machine what /work/shared/wise-sip2.md and
docs/sip2-fields.md describe: badge **codes** in GL, the registrations
dialog 41/42 (one YZ line per registration, with its adm_id), payment of a
registration by a 37 with CG = adm_id, patron notifications in AF, CL
``03``/``02`` for items going to the hold shelf / in transport, FV questions
on checkout, and a subscription status.  The embedded library always sends
those, in one of two dialects (``server.dialect`` in the data file,
``bibkiosk library serve --dialect``):

``extended`` (the default)
    the Wise fields **and** bibkiosk's own extension fields (``XS`` with the
    status name, ``XF``, ``XR``, ``XG``, ``XB``, ``PB`` …) for what Wise
    cannot tell, so that a kiosk names every rule by its id;
``wise``
    exactly what a Wise site sends and nothing more: standard SIP2 2.00
    fields, GL, YZ, AF, CL, FV, and the Wise status digit in the configured
    subscription-status field — so a vendor developing against it sees what
    a real Wise shows.  The rules a kiosk can still name are listed card by
    card in docs/sip2-fields.md.

This module holds what is Wise about the answers (the server core in
``server.py`` calls it), and the booking of a 37 by adm_id.  The wire forms
bibkiosk had to assume live in :mod:`kiosk.sip2.dialects` (``WISE_ASSUMED``);
the ones that are the embedded library's own choice are listed in
:data:`LIBRARY_CHOICES`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

from kiosk.i18n import translate
from kiosk.sip2.dialects import (
    HOLD_BINS,
    NOTIFICATION_LENGTH,
    NOTIFICATION_LIMIT,
    WISE_BADGE_FIELD,
    WISE_QUESTION_FIELD,
)
from kiosk.sip2.messages import REGISTRATION_FLAGS, FeePaidRequest, Registration

from .datafile import CardStatus, SubscriptionStatus
from .errors import PaymentRefused
from .store import Booking, Identified, ItemView, PatronView
from .store import Registration as StoredRegistration

log = logging.getLogger("kiosk.library.wise")

__all__ = [
    "DIALECTS",
    "LIBRARY_CHOICES",
    "PAID_FLAGS",
    "WISE_STATUS_OF",
    "DialectName",
    "badge_fields",
    "book_registration",
    "hold_bin",
    "notifications",
    "question_fields",
    "registration_lines",
    "wants_paid",
    "wise_status",
]

DialectName = Literal["extended", "wise"]
#: The embedded library's dialects: ``extended`` (Wise + bibkiosk's fields), ``wise`` (pure Wise).
DIALECTS: Final[tuple[str, ...]] = ("extended", "wise")

#: [doc] Wise subscription statuses (wise-sip2.md) of the store's statuses.
WISE_STATUS_OF: Final[dict[SubscriptionStatus, str]] = {
    SubscriptionStatus.NORMAL: "5",
    SubscriptionStatus.INVOICED: "2",
    SubscriptionStatus.REMINDER: "3",
    SubscriptionStatus.NOT_PAID: "4",
    SubscriptionStatus.DEREGISTERED: "9",
    SubscriptionStatus.INVALID: "9",
    SubscriptionStatus.BLACKLIST: "8",
}
#: Status 7 (online registration not finished): a patron known by a temporary number only.
WISE_STATUS_ONLINE_UNFINISHED: Final = "7"
#: Status 9 (expired / cancelled): a subscription whose end date is past.
WISE_STATUS_EXPIRED: Final = "9"

#: The 41 flag that lists the open registrations (the example of Wise's
#: documentation, ``FBY``); the other two list the paid ones.
OPEN_FLAG: Final = "FB"
PAID_FLAGS: Final[frozenset[str]] = frozenset(REGISTRATION_FLAGS) - {OPEN_FLAG}

#: FV questions (the data file's item ``questions``) -> the library catalog key of their text.
QUESTION_KEYS: Final[dict[str, str]] = {
    "damaged": "library.question_damaged",
    "borrowed_before": "library.question_borrowed_before",
    "for_sale": "library.question_for_sale",
    "attachments": "library.question_attachments",
}

#: The embedded library's own choices where Wise's documentation is silent
#: (beside kiosk.sip2.dialects.WISE_ASSUMED): (what, the choice).
LIBRARY_CHOICES: Final[tuple[tuple[str, str], ...]] = (
    ("41 flags", f"{OPEN_FLAG} lists the open registrations, {' and '.join(sorted(PAID_FLAGS))} the paid ones"),
    ("membership fee", "one registration of type 1 per subscription whose type has a fee; description 'Contributie',"
     " title the subscription type's name, created and based on the subscription's start"),
    ("open registration", "part paid: YZ value 5 is the amount still open; a payment arrangement (value 10)"
     " does not block"),
    ("37 by adm_id", "CG = adm_id of one of the patron's registrations; BV up to the open amount (a part leaves"
     " the rest open, more is refused); the same BK for the same adm_id is booked once"),
    ("Wise status", "sent in the subscription-status field: the digit in pure Wise, the status name when"
     " extended (the digit for 6 and 7, which have no name); 7 for a temporary number, 9 for an ended"
     " subscription"),
    ("FV", "one FV per question, its text in the patron's language"),
    ("CL", "03 when the hold's pickup branch is the branch of the returning kiosk (its login's location,"
     " else the item's branch), 02 otherwise"),
    ("AF on 24/64", "the library's refusal text first (when checking out is refused), then the notifications;"
     " pure Wise: a general refusal text that names no rule"),
    ("badges", "one GL per active badge that has a code; a switched-off badge type is not sent"),
)


def _t(key: str, lang: str | None, **params: object) -> str:
    return translate("library", key, lang, **params)


# --------------------------------------------------------------------------- patron fields


def wise_status(view: PatronView, identified: Identified, today: date) -> str:
    """The Wise status digit of a patron (the data file's ``wise_status`` when set)."""
    if view.wise_status is not None:
        return str(view.wise_status)
    if identified.by == "temporary_number":
        return WISE_STATUS_ONLINE_UNFINISHED
    sub = view.subscription
    if sub is None:
        return WISE_STATUS_OF[SubscriptionStatus.NORMAL]
    if sub.end < today and sub.status in (SubscriptionStatus.NORMAL, SubscriptionStatus.INVOICED,
                                          SubscriptionStatus.REMINDER):  # fmt: skip
        return WISE_STATUS_EXPIRED
    return WISE_STATUS_OF[sub.status]


def extended_status(view: PatronView, identified: Identified, today: date) -> str:
    """The subscription-status value of the extended dialect: the status
    name, or the Wise digit for the statuses that have no name (6, 7) when
    the data file sets one."""
    if view.wise_status in (6, 7):
        return str(view.wise_status)
    sub = view.subscription
    return sub.status.value if sub is not None else SubscriptionStatus.NORMAL.value


def badge_fields(view: PatronView) -> list[tuple[str, str]]:
    """One GL per active badge that has a Wise code."""
    return [(WISE_BADGE_FIELD, code) for code in view.badge_codes]


def notifications(view: PatronView) -> tuple[str, ...]:
    """The patron's notifications as Wise sends them: at most four, each at most 60 characters."""
    return tuple(text[:NOTIFICATION_LENGTH] for text in view.notifications[:NOTIFICATION_LIMIT])


def card_refusal(identified: Identified, lang: str | None) -> str | None:
    """Wise's text for a card that allows no self-service ("Pas niet geldig!")."""
    if identified.card_status in (CardStatus.REPLACED, CardStatus.BLOCKED):
        return _t("library.card_invalid", lang)
    if identified.card_status is CardStatus.LOST:
        return _t("library.card_lost", lang)
    return None


def general_refusal(lang: str | None) -> str:
    """The pure-Wise dialect's refusal text: it names no rule (Wise sends no
    field for one; the kiosk says which rule the evidence shows)."""
    return _t("library.wise_refused", lang)


# --------------------------------------------------------------------------- items


def question_fields(item: ItemView, questions: Iterable[str], lang: str | None) -> tuple[tuple[str, str], ...]:
    """One FV per question the data has for the item, in the patron's language."""
    return tuple((WISE_QUESTION_FIELD, _t(QUESTION_KEYS[q], lang)) for q in questions if q in QUESTION_KEYS)


_BIN_OF = {meaning: code for code, meaning in HOLD_BINS.items()}


def hold_bin(pickup_branch: str | None, here: str | None) -> str:
    """CL of a check-in whose item goes to a hold: ``03`` hold shelf (picked
    up here), ``02`` hold in transport (another branch)."""
    if pickup_branch is None or here is None or pickup_branch == here:
        return _BIN_OF["hold_shelf"]
    return _BIN_OF["in_transport"]


# --------------------------------------------------------------------------- 41/42


def wants_paid(flags: Iterable[str]) -> bool:
    """Whether a 41 with these flags asks for the paid registrations."""
    flags = set(flags)
    return bool(flags) and OPEN_FLAG not in flags and bool(flags & PAID_FLAGS)


def registration_lines(registrations: Iterable[StoredRegistration], *, paid: bool = False) -> list[Registration]:
    """YZ lines (the codec's :class:`Registration`) of stored registrations:
    value 5 is the open amount (the total for the paid list)."""
    return [
        Registration.build(
            created=r.created,
            description=r.description,
            title=r.title,
            based_on=r.based_on,
            amount=r.total_cents if paid else r.open_cents,
            status=r.status,
            collection_date=r.collection_date,
            adm_id=r.adm_id,
            kind=r.registration_type,
            arrangement_date=r.arrangement_date,
        )
        for r in registrations
    ]


# --------------------------------------------------------------------------- 37 by adm_id


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """What a 37 by adm_id did: booked (or already booked), or refused with a reason."""

    accepted: bool
    text: str
    booking: Booking | None = None
    reason: str | None = None


#: PaymentRefused.reason (and a few checks of the request) -> library catalog key.
REFUSAL_KEYS: Final[dict[str, str]] = {
    "unknown_registration": "library.payment_unknown_registration",
    "already_paid": "library.payment_already_paid",
    "amount": "library.payment_amount",
    "overpayment": "library.payment_overpayment",
    "conflict": "library.payment_conflict",
    "currency": "library.payment_currency",
}


def strict_amount(text: str | None) -> Decimal | None:
    """A payment's BV: euro, more than 0, at most two decimals (dot or
    comma); None otherwise (a payment is never rounded)."""
    cleaned = (text or "").strip().replace(",", ".")
    if not cleaned or not all(ch in "0123456789." for ch in cleaned) or cleaned.count(".") > 1:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if value <= 0 or value >= 1_000_000 or value.as_tuple().exponent < -2:
        return None
    return value


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


async def book_registration(write, patron_id: str, msg: FeePaidRequest, *, lang: str | None,
                            now: datetime) -> PaymentOutcome:  # fmt: skip
    """Book a 37 whose CG names a registration (*write* runs a store
    operation whole, as ``LibraryHandler._write``).  Never raises for a
    peer's request: a refusal is an outcome with its reason."""

    def refused(reason: str) -> PaymentOutcome:
        return PaymentOutcome(False, _t(REFUSAL_KEYS[reason], lang), reason=reason)

    currency = (msg.currency_type or "").strip().upper()
    if currency and currency != "EUR":
        return refused("currency")
    amount = strict_amount(msg.fee_amount)
    if amount is None:
        return refused("amount")
    adm_id = (msg.fee_identifier or "").strip()
    transaction_id = (msg.transaction_id or "").strip() or None
    cents = _cents(amount)
    try:
        booking = await write(
            lambda s: s.book_payment(patron_id, adm_id, cents, transaction_id=transaction_id, booked=now)
        )
    except PaymentRefused as exc:
        return refused(exc.reason if exc.reason in REFUSAL_KEYS else "unknown_registration")
    if booking.open_cents:
        text = _t("library.payment_part", lang, amount=f"{booking.open_cents // 100}.{booking.open_cents % 100:02d}")
    else:
        text = _t("library.payment_ok", lang)
    return PaymentOutcome(True, text, booking)
