"""SIP2 extension fields: the codes and the value formats, shared by the
embedded library system (which sends them) and the SIP2 adapter (which
reads them).

SIP2 2.00 has no place for a birth date, a subscription status, an open
membership fee, a replacement invoice or patron badges, and Wise's own codes
for badges are not public.  So every code is a setting with a default, the
same on both sides; docs/sip2-fields.md documents them.  The configuration's
``[library.fields]`` table is this model.

Value formats (all plain ASCII, never containing ``|``):

=====================  =======================================================
dates                  ``YYYYMMDD``
money                  euro with a dot and two decimals: ``12.50``
subscription status    ``normal``, ``invoiced``, ``reminder``, ``not_paid``,
                       ``deregistered``, ``invalid``, ``blacklist``
card state             ``active``, ``replaced``, ``blocked``, ``lost``
yes / no               ``Y`` / ``N``
badge (repeatable)     the badge name; ``;off`` appended when the badge type
                       is switched off centrally (counts as absent)
charge (repeatable)    ``YYYYMMDD amount`` e.g. ``20260901 2.50`` (one open charge)
age verdict (repeat.)  ``years:Y`` / ``years:N``: the patron is / is not at least
                       that old (sent instead of the birth date to a door)
=====================  =======================================================
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "FieldCodes",
    "format_age_verdict",
    "format_badge",
    "format_charge",
    "format_date",
    "format_money",
    "parse_age_verdict",
    "parse_badge",
    "parse_charge",
    "parse_date",
    "parse_money",
]

BADGE_OFF_SUFFIX = ";off"


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


def format_date(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def parse_date(text: str | None) -> date | None:
    """``YYYYMMDD`` (also ``YYYY-MM-DD``); None for blank or garbage."""
    if not text:
        return None
    digits = text.strip().replace("-", "")[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def format_money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def parse_money(text: str | None) -> Decimal | None:
    """``12.50`` or ``12,50``; None for blank or garbage; never negative."""
    if text is None:
        return None
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= 1_000_000_000:
        return None
    return value.quantize(Decimal("0.01"))


def format_badge(name: str, active: bool) -> str:
    return name if active else name + BADGE_OFF_SUFFIX


def parse_badge(text: str) -> tuple[str, bool]:
    """(name, active)."""
    if text.endswith(BADGE_OFF_SUFFIX):
        return text[: -len(BADGE_OFF_SUFFIX)], False
    return text, True


def format_age_verdict(years: int, at_least: bool) -> str:
    return f"{years}:{'Y' if at_least else 'N'}"


def parse_age_verdict(text: str) -> tuple[int, bool] | None:
    """(years, at_least); None for garbage."""
    years, sep, verdict = text.strip().partition(":")
    if not sep or not years.isdigit() or len(years) > 3 or verdict.upper() not in ("Y", "N"):
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
