"""The library-system interface the kiosk and the door use.

:class:`LibrarySystem` asks a library system about a patron (``identify``:
a policy :class:`~policy.PatronSnapshot`; ``account``: loans and holds for
the account screen) and makes transactions.  Results are small frozen
dataclasses of our own; the SIP2 answer each came from is kept in ``raw``
for diagnostics.

Errors (one root, :class:`LibrarySystemError`), split by who is to blame:

- :class:`LibrarySystemUnavailable` — the link is down, timed out, or our
  login was refused: the library system cannot be asked now.
  ``outcome_unknown`` is true when a transaction was sent but no answer came.
- :class:`LibrarySystemProtocolError` — the library system sent something
  we cannot read.
- :class:`LibrarySystemRequestError` — we could not build the request (a
  card or item id that SIP2 cannot carry, such as one with ``|``).

Nothing is cached across calls: every call asks the library system.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from policy import PatronSnapshot

__all__ = [
    "Account",
    "HoldInfo",
    "ItemInfo",
    "ItemStatus",
    "LibrarySystem",
    "LibrarySystemError",
    "LibrarySystemLoginRefused",
    "LibrarySystemNotSupported",
    "LibrarySystemProtocolError",
    "LibrarySystemRequestError",
    "LibrarySystemUnavailable",
    "LoanInfo",
    "PaymentResult",
    "RegistrationInfo",
    "RenewAllResult",
    "TransactionResult",
]


class LibrarySystemError(Exception):
    """Root of every error raised by ``kiosk.adapter``."""


class LibrarySystemUnavailable(LibrarySystemError):
    """The library system cannot be reached now (link down, timeout).

    ``outcome_unknown``: a transaction (checkout, checkin, renew, payment)
    was sent but no answer came back; it may or may not have happened."""

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class LibrarySystemLoginRefused(LibrarySystemUnavailable):
    """The library system refused our login account (a configuration error)."""


class LibrarySystemProtocolError(LibrarySystemError):
    """The library system sent an answer we cannot read."""


class LibrarySystemRequestError(LibrarySystemError):
    """We could not build the request (e.g. an id SIP2 cannot carry)."""


class LibrarySystemNotSupported(LibrarySystemRequestError):
    """The library system said (in its 98 ACS status) that it does not take
    this request now: a message its BX marks unsupported, a checkout or
    check-in while ``checkout_ok``/``checkin_ok`` is N, an offline (no-block)
    transaction while ``offline_ok`` is N.  Nothing was sent."""


class ItemStatus(StrEnum):
    AVAILABLE = "available"
    ON_LOAN = "on_loan"
    ON_HOLD_SHELF = "on_hold_shelf"
    IN_TRANSIT = "in_transit"
    MISSING = "missing"
    LOST = "lost"
    OTHER = "other"
    UNKNOWN = "unknown"  # the library system does not know the item


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """The answer to a checkout, renew or checkin."""

    ok: bool
    item_id: str
    title: str = ""
    due: date | None = None
    screen_message: str | None = None
    renewal: bool = False  # checkout: it was a renewal of the patron's own loan
    desensitize: bool | None = None  # checkout: switch the security bit off
    resensitize: bool | None = None  # checkin: switch the security bit on
    hold_shelf: bool = False  # checkin: a hold waits for it (goes to the hold shelf)
    transit_to: str | None = None  # checkin: goes to another branch
    sort_bin: str | None = None
    alert: bool = False
    media_type: str | None = None
    parts: int | None = None  # items in the set (a 3-CD box: 3), when known
    permanent_location: str | None = None
    #: checkin (Wise): the hold bin, "hold_shelf" (CL 03) or "in_transport" (CL 02)
    hold_bin: str | None = None
    #: checkout (Wise FV): questions the library system asks (damaged, borrowed
    #: before, for sale, attachments), shown to the patron as information
    questions: tuple[str, ...] = ()
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def hold_in_transport(self) -> bool:
        """checkin: a hold waits for it at another branch (Wise CL 02)."""
        return self.hold_bin == "in_transport"


@dataclass(frozen=True, slots=True)
class RenewAllResult:
    ok: bool
    renewed: tuple[str, ...] = ()
    unrenewed: tuple[str, ...] = ()
    screen_message: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ItemInfo:
    item_id: str
    status: ItemStatus
    circulation_status: int | None = None  # the SIP2 code (03 available, 04 charged, 08 on hold shelf …)
    title: str = ""
    due: date | None = None
    hold_queue_length: int | None = None
    media_type: str | None = None
    parts: int | None = None
    permanent_location: str | None = None
    current_location: str | None = None
    screen_message: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class LoanInfo:
    item_id: str
    title: str = ""
    due: date | None = None
    overdue: bool = False


@dataclass(frozen=True, slots=True)
class HoldInfo:
    item_id: str
    title: str = ""
    ready: bool = False  # waiting on the hold shelf for the patron
    pickup_branch: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """What the account screen shows: the patron's loans and holds."""

    patron: PatronSnapshot
    name: str = ""
    loans: tuple[LoanInfo, ...] = ()
    holds: tuple[HoldInfo, ...] = ()
    fee_amount: Decimal | None = None  # everything owed, as the library system says (BV)
    screen_message: str | None = None
    #: the library's public notifications for the patron (Wise: up to 4 AF texts)
    notifications: tuple[str, ...] = ()
    #: the list entries the library system reported beyond what was asked (BQ window)
    more_loans: int = 0
    more_holds: int = 0


@dataclass(frozen=True, slots=True)
class PaymentResult:
    accepted: bool
    screen_message: str | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    """One open registration (Wise: a YZ line of a 42), for staff and the pay flow."""

    adm_id: str
    kind: int | None  # 1 contribution (membership fee), 2 fines etc., 3 sales, 4 cash receipts, 6 theatre
    kind_name: str
    description: str
    title: str
    amount: Decimal | None
    created: date | None
    based_on: date | None
    status: str  # I invoice, D debt collection, R payment arrangement
    arrangement: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "adm_id": self.adm_id,
            "type": self.kind,
            "type_name": self.kind_name,
            "description": self.description,
            "title": self.title,
            "amount": None if self.amount is None else f"{self.amount:.2f}",
            "created": self.created.isoformat() if self.created else None,
            "based_on": self.based_on.isoformat() if self.based_on else None,
            "status": self.status,
            "arrangement": self.arrangement.isoformat() if self.arrangement else None,
        }


class LibrarySystem(ABC):
    """What the kiosk and the door ask a library system.  ``card`` is what
    the patron offered (card number or temporary number); ``item`` a barcode
    or the id on an RFID tag."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect ahead of the first request (requests connect by themselves)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""

    async def __aenter__(self) -> LibrarySystem:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abstractmethod
    async def identify(self, card: str, pin: str | None = None, *, language: str | None = None) -> PatronSnapshot:
        """The patron behind *card* as a policy snapshot (``known=False`` for
        an unknown card; ``pin`` RIGHT/WRONG when a PIN was given).
        *language* ("nl", "fr", "en"): the language the patron chose on
        screen, for the library system's texts (None: no wish, the library
        system answers in the record's language)."""

    @abstractmethod
    async def account(self, card: str, pin: str | None = None, *, language: str | None = None) -> Account:
        """Loans and holds of the patron, for the account screen (*language* as for :meth:`identify`)."""

    @abstractmethod
    async def checkout(
        self,
        card: str,
        item: str,
        *,
        pin: str | None = None,
        no_block: bool = False,
        due: date | datetime | None = None,
    ) -> TransactionResult:
        """Lend *item*; ``no_block`` for an offline transaction replayed later
        (the library system must accept it), ``due`` its due date then."""

    @abstractmethod
    async def renew(
        self,
        card: str,
        item: str,
        *,
        pin: str | None = None,
        no_block: bool = False,
        due: date | datetime | None = None,
    ) -> TransactionResult: ...

    @abstractmethod
    async def renew_all(self, card: str, *, pin: str | None = None) -> RenewAllResult: ...

    @abstractmethod
    async def checkin(
        self, item: str, *, no_block: bool = False, return_date: datetime | None = None
    ) -> TransactionResult: ...

    @abstractmethod
    async def item_information(self, item: str) -> ItemInfo: ...

    @abstractmethod
    async def end_session(self, card: str) -> None:
        """Tell the library system the patron's session is over."""

    async def pay(self, card: str, amount: Decimal, *, membership_fee: bool = False) -> PaymentResult:
        """Record a payment (charges, or the membership fee)."""
        raise LibrarySystemRequestError("this library system does not take payments")
