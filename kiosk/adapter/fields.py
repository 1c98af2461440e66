"""Moved: the SIP2 extension field codes and value formats are wire format and
live in :mod:`kiosk.sip2.dialects` (imported by both the embedded library and
the adapter).  This module re-exports them for old imports."""

from __future__ import annotations

from kiosk.sip2.dialects import (  # noqa: F401
    BADGE_OFF_SUFFIX,
    FieldCodes,
    format_badge,
    format_charge,
    format_date,
    format_money,
    parse_badge,
    parse_charge,
    parse_date,
    parse_money,
)

__all__ = [
    "FieldCodes",
    "format_badge",
    "format_charge",
    "format_date",
    "format_money",
    "parse_badge",
    "parse_charge",
    "parse_date",
    "parse_money",
]
