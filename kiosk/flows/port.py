"""The flows' view of the library-system adapter (kiosk.adapter.LibrarySystem).

The flows call the adapter through the methods below only, and read its
results through the small normalising functions here, so that the rest of
the flows depend on plain dataclasses of our own (:class:`ItemResult`,
:class:`AccountData`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from policy import PatronSnapshot

from .model import HoldLine, LoanLine

from kiosk.adapter import LibrarySystemError, LibrarySystemUnavailable

__all__ = [
    "AccountData",
    "ItemResult",
    "LibraryPort",
    "LibrarySystemError",
    "LibrarySystemUnavailable",
    "account_data",
    "item_fingerprint",
    "item_result",
]


class LibraryPort(Protocol):
    """The methods of kiosk.adapter.LibrarySystem the flows use."""

    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot: ...

    async def account(self, card: str, pin: str | None = None) -> Any: ...

    async def checkout(
        self, card: str, item: str, *, pin: str | None = None, no_block: bool = False, due: Any = None
    ) -> Any: ...

    async def renew(self, card: str, item: str, *, pin: str | None = None) -> Any: ...

    async def checkin(self, item: str, *, no_block: bool = False, return_date: datetime | None = None) -> Any: ...

    async def item_information(self, item: str) -> Any: ...

    async def end_session(self, card: str) -> Any: ...


def _first(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def iso_date(value: Any) -> str | None:
    """A due date as ISO text (YYYY-MM-DD), whatever the adapter gave."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    # SIP2 dates "YYYYMMDD    HHMMSS" or ISO
    if len(text) >= 8 and text[:8].isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return text[:10] or None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The library system's answer to a checkout, renew or checkin."""

    ok: bool
    item_id: str
    title: str = ""
    due: str | None = None
    screen_message: str | None = None
    hold_shelf: bool = False  # checkin: a hold for another patron waits for it
    transit: str | None = None  # checkin: goes to another branch
    sort_bin: str | None = None
    security_change: bool = True  # SIP2 desensitize (checkout) / resensitize (checkin) not refused


def item_result(raw: Any, item_id: str) -> ItemResult:
    screen = _first(raw, "screen_message", "message")
    if isinstance(screen, (list, tuple)):
        screen = " ".join(str(s) for s in screen if s)
    hold = bool(_first(raw, "hold_shelf", "on_hold", "hold_for_other", default=False))
    alert = str(_first(raw, "alert_type", default="") or "")
    if alert in ("01", "02"):  # SIP2 alert types: hold for this / another branch
        hold = True
    transit = _first(raw, "transit_to", "destination", "destination_location")
    if alert in ("04",) and not transit:
        transit = "?"
    return ItemResult(
        ok=bool(_first(raw, "ok", default=False)),
        item_id=str(_first(raw, "item", "item_id", default=item_id) or item_id),
        title=str(_first(raw, "title", "title_identifier", default="") or ""),
        due=iso_date(_first(raw, "due", "due_date")),
        screen_message=(str(screen).strip() or None) if screen else None,
        hold_shelf=hold,
        transit=str(transit) if transit else None,
        sort_bin=_first(raw, "sort_bin"),
        security_change=_first(raw, "desensitize", "resensitize", default=True) is not False,
    )


@dataclass(slots=True)
class AccountData:
    loans: list[LoanLine] = field(default_factory=list)
    holds: list[HoldLine] = field(default_factory=list)


def account_data(raw: Any, today: date) -> AccountData:
    if isinstance(raw, tuple) and len(raw) == 2:
        loans_raw, holds_raw = raw
    else:
        loans_raw = _first(raw, "loans", "charged_items", default=())
        holds_raw = _first(raw, "holds", "hold_items", default=())
    loans = []
    for loan in loans_raw or ():
        if isinstance(loan, str):
            loans.append(LoanLine(item_id=loan, title=loan, due=None))
            continue
        item_id = str(_first(loan, "item", "item_id", default=""))
        due = iso_date(_first(loan, "due", "due_date"))
        # the kiosk's own clock decides (an adapter's "overdue" may come from another clock)
        overdue = due < today.isoformat() if due is not None else bool(_first(loan, "overdue", default=False))
        loans.append(LoanLine(item_id=item_id, title=str(_first(loan, "title", default=item_id)), due=due, overdue=overdue))
    holds = []
    for hold in holds_raw or ():
        if isinstance(hold, str):
            holds.append(HoldLine(item_id=hold, title=hold, ready=False))
            continue
        ready = _first(hold, "ready", "available", default=False)
        status = str(_first(hold, "status", default="") or "")
        holds.append(
            HoldLine(
                item_id=str(_first(hold, "item", "item_id", default="")),
                title=str(_first(hold, "title", default="")),
                ready=bool(ready) or status.lower() in ("ready", "available"),
                pickup=_first(hold, "pickup", "pickup_location", "pickup_branch"),
            )
        )
    return AccountData(loans=loans, holds=holds)


def item_fingerprint(raw: Any) -> str:
    """What a checkout or checkin changes about an item (for exactly-once replay)."""
    if raw is None:
        return "missing"
    parts = [
        _first(raw, "circulation_status", "status", default=""),
        iso_date(_first(raw, "due", "due_date")) or "",
        _first(raw, "charged_to", "patron", default="") or "",
        _first(raw, "hold_queue_length", default="") or "",
        _first(raw, "loan_count", "version", default="") or "",
    ]
    return "|".join(str(p) for p in parts)
