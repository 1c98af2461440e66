"""SIP2 wire format beyond SIP2 2.00: the extension field codes, their value
formats, and the two dialects a library system may speak.

Both the embedded library system (which sends these fields) and the adapter
(which reads them) import this module; neither imports the other.

Dialects
--------
``wise`` (the default for ``[library] kind = "sip2"``)
    OCLC Wise as its public documentation describes it (/work/shared/wise-sip2.md,
    docs/sip2-fields.md): badge **codes** in every GL field of 24/64, the
    SIP2+ registrations dialog 41/42 (one YZ per registration, paid by its
    adm_id with a 37), patron notifications in AF, hold bins in CL, FV
    questions in 12.  Our own extension fields are read as well when a
    library system sends them (the embedded library does, by default).
``standard``
    Any other SIP2 2.00 library system: the 14 flags, BV, and whatever
    extension fields the site configures; no GL, no 41.

Extension field codes
---------------------
SIP2 2.00 has no place for a birth date, a subscription status, an open
membership fee, a replacement invoice or badge names, so every code is a
setting with a default, the same on both sides.  The configuration's
``[library.fields]`` table is :class:`FieldCodes`.

Value formats (all plain ASCII, never containing ``|``):

=====================  =======================================================
dates                  ``YYYYMMDD``
money                  euro with a dot and two decimals: ``12.50``
subscription status    ``normal``, ``invoiced``, ``reminder``, ``not_paid``,
                       ``deregistered``, ``invalid``, ``blacklist``, or a Wise
                       status digit 0-9 (:data:`WISE_STATUSES`)
card state             ``active``, ``replaced``, ``blocked``, ``lost``
yes / no               ``Y`` / ``N``
badge (repeatable)     the badge name; ``;off`` appended when the badge type
                       is switched off centrally (counts as absent)
charge (repeatable)    ``YYYYMMDD amount`` e.g. ``20260901 2.50`` (one open charge)
=====================  =======================================================

Assumed wire forms
------------------
Where the public Wise documentation is silent, :data:`WISE_ASSUMED` lists
what bibkiosk assumes and where a site can change it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from .messages import (
    Registration,
    format_wise_date,
    parse_wise_amount,
    parse_wise_date,
)

__all__ = [
    "format_age_verdict",
    "parse_age_verdict",
    "BADGE_OFF_SUFFIX",
    "BADGE_SEPARATORS",
    "DIALECTS",
    "Dialect",
    "DialectName",
    "FieldCodes",
    "HOLD_BINS",
    "NOTIFICATION_LENGTH",
    "NOTIFICATION_LIMIT",
    "REGISTRATION_FEE_TYPE",
    "REGISTRATION_PAYMENT_TYPE",
    "Registration",
    "WISE_ASSUMED",
    "WISE_BADGE_FIELD",
    "WISE_QUESTION_FIELD",
    "WISE_STATUSES",
    "dialect",
    "format_badge",
    "format_charge",
    "format_date",
    "format_money",
    "format_wise_date",
    "parse_badge",
    "parse_badge_codes",
    "parse_charge",
    "parse_date",
    "parse_money",
    "parse_wise_amount",
    "parse_wise_date",
    "same_badge",
]

DialectName = Literal["wise", "standard"]

BADGE_OFF_SUFFIX = ";off"

# --------------------------------------------------------------------------- Wise facts and assumptions

#: [doc] Wise sends a patron's badge codes (4 characters) in GL of 24 and 64.
WISE_BADGE_FIELD: Final = "GL"
#: [assumed] several codes in one GL are separated by one of these.
BADGE_SEPARATORS: Final = ",;"
#: [doc] checkout confirmations Wise asks for (12, FV): shown, never answered.
WISE_QUESTION_FIELD: Final = "FV"
#: [doc] check-in sort bins (10, CL): 03 hold shelf, 02 hold in transport.
HOLD_BINS: Final[dict[str, str]] = {"03": "hold_shelf", "02": "in_transport"}
#: [doc] up to four public notifications of up to 60 characters; [assumed] each one AF.
NOTIFICATION_LIMIT: Final = 4
NOTIFICATION_LENGTH: Final = 60
#: [assumed] the 37 that pays a registration: fee type 01 (other/unknown) and
#: payment type 00 cash / 02 credit card as SIP2 2.00 defines them.
REGISTRATION_FEE_TYPE: Final = 1
REGISTRATION_PAYMENT_TYPE: Final = 0

#: [doc] Wise subscription statuses (how they map onto the 14 flags is not
#: public).  When a library system sends one as the configured
#: subscription-status field, the adapter reads it: 6 and 7 are an online
#: registration not finished or not paid (the C1 advice: collect the card at
#: the desk).
WISE_STATUSES: Final[dict[str, str]] = {
    "0": "normal",  # new
    "1": "normal",  # new
    "2": "invoiced",
    "3": "reminder",
    "4": "not_paid",
    "5": "normal",
    "6": "online_unpaid",  # online registration verified but not paid (card blocked)
    "7": "online_unfinished",  # online registration not finished
    "8": "blacklist",  # banned
    "9": "deregistered",  # expired / cancelled
}

#: Every wire form bibkiosk had to assume because the public Wise
#: documentation is silent: (what, the form we use, where it lives / how a
#: site changes it).  docs/sip2-fields.md prints this table.
WISE_ASSUMED: Final[tuple[tuple[str, str, str], ...]] = (
    ("93 login", "CN = the SIP port's access code, CO = its password",
     "[library] user + [secrets] sip2_password"),
    ("badges", "one GL per badge; a GL with several codes split on ',' or ';'; codes compared trimmed, case-insensitively",
     "kiosk.sip2.dialects.parse_badge_codes (BADGE_SEPARATORS)"),
    ("41 request", "41 + 18-char date, AO, AA, AC (may be empty), AD (PIN), and Y in one of FA/FB/FC",
     "kiosk.sip2.messages.RegistrationsRequest; the letter: [library.wise] registrations"),
    ("42 response", "42 + 18-char date, AO, AA, one YZ per registration, optional AF; parsed leniently",
     "kiosk.sip2.messages.RegistrationsResponse, Registration.from_wire"),
    ("37 by registration", "CG = adm_id, BV = amount, BH = EUR, fee type 01, payment type 00 cash / 02 card, BK = our id re-sent unchanged on a retry",
     "kiosk.sip2.client.Sip2Client.pay_registration (REGISTRATION_FEE_TYPE, REGISTRATION_PAYMENT_TYPE)"),
    ("notifications", "each notification is one AF field of 64 (up to 4 x 60 characters)",
     "kiosk.adapter.sip2 (NOTIFICATION_LIMIT, NOTIFICATION_LENGTH)"),
    ("status 6/7", "a Wise subscription status digit, when sent in the configured subscription-status field",
     "kiosk.sip2.dialects.WISE_STATUSES; [library.fields] subscription_status"),
    ("open registration", "a registration is open when listed by the configured 41 flag and has no payment-arrangement date",
     "kiosk.adapter.sip2.evidence_from_registrations"),
)


# --------------------------------------------------------------------------- extension field codes


class FieldCodes(BaseModel):
    """Extension field codes: the ``[library.fields]`` table of the
    configuration, and the embedded library system's ``server.fields``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    birth_date: str = "PB"
    patron_type: str = "PC"
    subscription_status: str = "XS"
    fee_open: str = "XF"
    replacement_invoice: str = "XR"
    badges: str = "XB"
    card_state: str = "XC"
    subscription_end: str = "XE"
    temporary_number: str = "XT"
    charges: str = "XG"
    home_branch: str = "XH"
    subscription_start: str = "XD"
    item_parts: str = "XN"
    #: The library's own patron number: the same for every card and the temporary
    #: number of one patron (the wrong-PIN budget is kept per patron, not per card).
    patron_number: str = "XI"
    #: Age verdicts sent instead of the birth date (a door; a kiosk without the right PIN).
    age_verdict: str = "XA"

    @field_validator("*")
    @classmethod
    def _two_chars(cls, value: str) -> str:
        if len(value) != 2 or not value.isalnum() or not value.isupper():
            raise ValueError("expected a two-character SIP2 field code such as PB")
        return value

    @classmethod
    def from_settings(cls, settings: Any | None) -> FieldCodes:
        """Codes from any object or mapping with (some of) these names, e.g.
        ``kiosk.config.Config().library.fields``; missing names keep their defaults."""
        if settings is None:
            return cls()
        if isinstance(settings, FieldCodes):
            return settings
        if isinstance(settings, dict):
            values = {k: v for k, v in settings.items() if k in cls.model_fields}
        else:
            values = {k: getattr(settings, k) for k in cls.model_fields if hasattr(settings, k)}
        return cls(**values)

    def codes(self) -> dict[str, str]:
        """name -> code."""
        return self.model_dump()

    def personal_codes(self) -> frozenset[str]:
        """The codes whose values are personal data (masked in log lines)."""
        return frozenset({self.birth_date})

    def detail_codes(self) -> tuple[str, ...]:
        """The codes that tell the policy more than the 14 flags do."""
        return (self.subscription_status, self.card_state, self.fee_open, self.badges, self.replacement_invoice, self.charges)


# --------------------------------------------------------------------------- value formats


def format_date(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def parse_date(text: str | None) -> date | None:
    """``YYYYMMDD`` (also ``YYYY-MM-DD``); None for blank or garbage."""
    if not text:
        return None
    digits = text.strip().replace("-", "")[:8]
    if len(digits) != 8 or not digits.isdigit() or not digits.isascii():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def format_money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def parse_money(text: str | None) -> Decimal | None:
    """``12.50`` or ``12,50``; None for blank or garbage; never negative.
    One reading of an amount for every field: the codec's, used for YZ too."""
    return parse_wise_amount(text)


def format_badge(name: str, active: bool) -> str:
    return name if active else name + BADGE_OFF_SUFFIX


def parse_badge(text: str) -> tuple[str, bool]:
    """(name, active)."""
    if text.endswith(BADGE_OFF_SUFFIX):
        return text[: -len(BADGE_OFF_SUFFIX)], False
    return text, True


def parse_badge_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Badge codes from every GL value: several codes in one value split on
    ``,`` or ``;``, trimmed, blanks dropped, duplicates (compared
    case-insensitively) dropped; order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = value
        for sep in BADGE_SEPARATORS[1:]:
            text = text.replace(sep, BADGE_SEPARATORS[0])
        for part in text.split(BADGE_SEPARATORS[0]):
            code = part.strip()
            key = code.casefold()
            if code and key not in seen:
                seen.add(key)
                out.append(code)
    return tuple(out)


def same_badge(a: str, b: str) -> bool:
    """Badge codes and names compare trimmed and case-insensitively."""
    return a.strip().casefold() == b.strip().casefold()


def format_age_verdict(years: int, at_least: bool) -> str:
    """An age verdict: ``16:Y`` (at least 16 years old) or ``18:N`` (not yet 18)."""
    return f"{years}:{'Y' if at_least else 'N'}"


def parse_age_verdict(text: str) -> tuple[int, bool] | None:
    """(years, at_least); None for garbage."""
    years, sep, verdict = text.strip().partition(":")
    if not sep or not years.isdigit() or not years.isascii() or len(years) > 3 or verdict.upper() not in ("Y", "N"):
        return None
    return int(years), verdict.upper() == "Y"


def format_charge(created: date, cents: int) -> str:
    return f"{format_date(created)} {format_money(cents)}"


def parse_charge(text: str) -> tuple[date, Decimal] | None:
    parts = text.split()
    if len(parts) != 2:
        return None
    created, amount = parse_date(parts[0]), parse_money(parts[1])
    if created is None or amount is None:
        return None
    return created, amount


# --------------------------------------------------------------------------- dialects


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a library system sends and understands beyond SIP2 2.00."""

    name: str
    #: the field with badge codes (GL at Wise); None: none
    badge_code_field: str | None
    #: whether the 41/42 registrations dialog exists (still needs the site's flag)
    registrations: bool
    #: whether CL 03 / 02 mean hold shelf / hold in transport
    hold_bins: bool
    #: whether 12 may carry FV questions
    questions: bool
    #: whether AF texts of a 64 are the patron's notifications
    notifications: bool


DIALECTS: Final[dict[str, Dialect]] = {
    "wise": Dialect("wise", WISE_BADGE_FIELD, True, True, True, True),
    "standard": Dialect("standard", None, False, False, False, False),
}


def dialect(name: str | Dialect) -> Dialect:
    """The dialect named ``name`` ("wise" or "standard")."""
    if isinstance(name, Dialect):
        return name
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SIP2 dialect {name!r}; expected one of {', '.join(DIALECTS)}") from None


