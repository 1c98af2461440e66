"""The flows' view of the library-system adapter (kiosk.adapter.LibrarySystem).

The flows call the adapter through the methods below only.  Its results are
the adapter's own dataclasses (:class:`~kiosk.adapter.TransactionResult`,
:class:`~kiosk.adapter.ItemInfo`, :class:`~kiosk.adapter.Account`); the
functions here read their fields by name (no guessing among attribute
names) into the flows' lines (:class:`ItemResult`, :class:`AccountData`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from policy import PatronSnapshot

from .model import HoldLine, LoanLine

from kiosk.adapter import (
    Account,
    ItemInfo,
    LibrarySystemError,
    LibrarySystemUnavailable,
    TransactionResult,
)

__all__ = [
    "AccountData",
    "ItemResult",
    "LibraryPort",
    "LibrarySystemError",
    "LibrarySystemUnavailable",
    "account_data",
    "item_fingerprint",
    "item_result",
    "patron_notifications",
]


class LibraryPort(Protocol):
    """The methods of kiosk.adapter.LibrarySystem the flows use."""

    async def identify(self, card: str, pin: str | None = None, *, language: str | None = None) -> PatronSnapshot: ...

    async def account(self, card: str, pin: str | None = None, *, language: str | None = None) -> Account: ...

    async def checkout(
        self, card: str, item: str, *, pin: str | None = None, no_block: bool = False, due: Any = None
    ) -> TransactionResult: ...

    async def renew(self, card: str, item: str, *, pin: str | None = None) -> TransactionResult: ...

    async def checkin(
        self, item: str, *, no_block: bool = False, return_date: datetime | None = None
    ) -> TransactionResult: ...

    async def item_information(self, item: str) -> ItemInfo: ...

    async def end_session(self, card: str) -> Any: ...


def iso_date(value: date | datetime | None) -> str | None:
    """A due date as ISO text (YYYY-MM-DD)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    return value.isoformat()


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
    #: checkin (Wise CL): "hold_shelf" (03, a hold waits here) or "in_transport" (02, a hold elsewhere)
    hold_bin: str | None = None
    #: checkout (Wise FV): what the library system asks about the item, shown as information
    questions: tuple[str, ...] = ()


def item_result(raw: TransactionResult, item_id: str) -> ItemResult:
    """A :class:`~kiosk.adapter.TransactionResult` as a flow line's result."""
    screen = (raw.screen_message or "").strip() or None
    security = raw.resensitize if raw.resensitize is not None else raw.desensitize
    return ItemResult(
        ok=raw.ok,
        item_id=raw.item_id or item_id,
        title=raw.title or "",
        due=iso_date(raw.due),
        screen_message=screen,
        hold_shelf=raw.hold_shelf,
        transit=raw.transit_to or ("?" if raw.hold_bin == "in_transport" else None),
        sort_bin=raw.sort_bin,
        security_change=security is not False,
        hold_bin=raw.hold_bin,
        questions=tuple(q.strip() for q in raw.questions if q and q.strip()),
    )


@dataclass(slots=True)
class AccountData:
    loans: list[LoanLine] = field(default_factory=list)
    holds: list[HoldLine] = field(default_factory=list)
    #: the library's public notifications for the patron (Wise: up to 4 AF texts)
    notifications: tuple[str, ...] = ()


def account_data(raw: Account, today: date, *, refused: bool = False) -> AccountData:
    """An :class:`~kiosk.adapter.Account` as the account screen's lines."""
    loans = []
    for loan in raw.loans:
        due = iso_date(loan.due)
        # the kiosk's own clock decides (an adapter's "overdue" may come from another clock)
        overdue = due < today.isoformat() if due is not None else loan.overdue
        loans.append(LoanLine(item_id=loan.item_id, title=loan.title or loan.item_id, due=due, overdue=overdue))
    holds = [
        HoldLine(item_id=hold.item_id, title=hold.title, ready=hold.ready, pickup=hold.pickup_branch)
        for hold in raw.holds
    ]
    return AccountData(loans=loans, holds=holds, notifications=patron_notifications(raw.patron, raw.notifications, refused=refused))


def patron_notifications(snapshot: PatronSnapshot, texts: tuple[str, ...] | None = None, *,
                         refused: bool = False) -> tuple[str, ...]:
    """The library's notifications for the patron (Wise AF, *texts* or the
    snapshot's), each once, without the refusal text: when checking out is
    refused (*refused*, the kiosk's decision, or a flag of the 14 set) the
    first AF says why [assumed, as the embedded library sends it], and the
    menu shows that refusal already (the policy's decision)."""
    lines = [t.strip() for t in (snapshot.notifications if texts is None else texts) if t and t.strip()]
    flags = snapshot.flags
    screen = " ".join((snapshot.screen_message or "").split())
    refused = refused or (flags is not None and any(flags.model_dump().values()))
    if lines and refused and screen.startswith(" ".join(lines[0].split())):
        lines = lines[1:]
    return tuple(dict.fromkeys(lines))


def item_fingerprint(info: ItemInfo | None) -> str:
    """What a checkout or checkin changes about an item, from what the adapter
    returns (:class:`~kiosk.adapter.ItemInfo`): its status and SIP2
    circulation status, its due date, its hold queue and where it is.  Used for
    exactly-once replay: a replayed checkout moves an item to "charged" with a
    new due date, a checkin moves it back (or to the hold shelf / transit)."""
    if info is None:
        return "missing"
    parts = [
        info.status.value,
        info.circulation_status if info.circulation_status is not None else "",
        iso_date(info.due) or "",
        info.hold_queue_length if info.hold_queue_length is not None else "",
        info.current_location or "",
    ]
    return "|".join(str(p) for p in parts)
