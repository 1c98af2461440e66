"""A small in-test library system: a real :class:`kiosk.adapter.LibrarySystem`
subclass returning the adapter's own dataclasses, so the flows see exactly
the types (and only the fields) the SIP2 adapter gives.

Used by the flow unit tests only; the end-to-end tests run the real embedded
library system over real SIP2 (test_e2e.py, test_replay_kill.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kiosk.adapter import (
    Account,
    ItemInfo,
    ItemStatus,
    LibrarySystem,
    LibrarySystemError,
    LibrarySystemUnavailable,
    LoanInfo,
    RenewAllResult,
    TransactionResult,
)
from policy import CardState, IdentifiedBy, PatronSnapshot, PinCheck, Subscription, SubscriptionStatus


@dataclass
class FakeItem:
    item_id: str
    title: str
    charged_to: str | None = None  # the fake's own bookkeeping: never shown to the flows
    due: date | None = None
    hold_for: str | None = None
    renewable: bool = True


@dataclass
class FakePatron:
    card: str
    pin: str = "1234"
    snapshot: dict = field(default_factory=dict)


class FakeLibrary(LibrarySystem):
    def __init__(self) -> None:
        self.today = date(2025, 3, 3)
        self.down = False
        self.calls: list[tuple] = []
        #: the language each identify/account was asked in (None: no wish)
        self.languages: list[str | None] = []
        self.patrons = {
            "1001": FakePatron("1001", snapshot={"language": "fr"}),
            "1002": FakePatron("1002", snapshot={"subscription": Subscription(type_code="A", status=SubscriptionStatus.INVOICED, fee_paid=False)}),
            "1003": FakePatron("1003", snapshot={"identified_by": IdentifiedBy.TEMPORARY_NUMBER}),
            "1004": FakePatron("1004", snapshot={"card_state": CardState.REPLACED}),
        }
        self.items = {f"I{n}": FakeItem(f"I{n}", f"Book {n}") for n in range(1, 13)}
        self.items["L1"] = FakeItem("L1", "Lent one", charged_to="1001", due=self.today + timedelta(days=3))
        self.items["L2"] = FakeItem("L2", "Lent two", charged_to="1001", due=self.today + timedelta(days=3), renewable=False)
        self.items["H1"] = FakeItem("H1", "Held book", charged_to="1003", hold_for="1002")
        self.items["S1"] = FakeItem("S1", "Box set")

    def _check(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        if self.down:
            raise LibrarySystemUnavailable("down")

    async def identify(self, card: str, pin: str | None = None, *, language: str | None = None) -> PatronSnapshot:
        self._check("identify", pin is not None)
        self.languages.append(language)
        p = self.patrons.get(card)
        if p is None:
            return PatronSnapshot(known=False)
        pin_state = PinCheck.UNKNOWN if pin is None else PinCheck.RIGHT if pin == p.pin else PinCheck.WRONG
        return PatronSnapshot(pin=pin_state, patron_id=f"P{card}", **p.snapshot)

    async def account(self, card: str, pin: str | None = None, *, language: str | None = None) -> Account:
        self._check("account")
        self.languages.append(language)
        loans = tuple(LoanInfo(i.item_id, i.title, i.due) for i in self.items.values() if i.charged_to == card)
        return Account(patron=PatronSnapshot(patron_id=f"P{card}"), loans=loans)

    async def checkout(self, card, item, *, pin=None, no_block=False, due=None) -> TransactionResult:
        self._check("checkout", item, no_block)
        it = self.items.get(item)
        if it is None:
            return TransactionResult(False, item, screen_message="Unknown item")
        if it.hold_for and it.hold_for != card and not no_block:
            return TransactionResult(False, item, it.title, screen_message="Reserved for another patron")
        it.charged_to, it.due = card, self.today + timedelta(days=21)
        return TransactionResult(True, item, it.title, it.due, desensitize=True)

    async def renew(self, card, item, *, pin=None, no_block=False, due=None) -> TransactionResult:
        self._check("renew", item)
        it = self.items[item]
        if not it.renewable:
            return TransactionResult(False, item, it.title, screen_message="Reserved: cannot renew")
        it.due = it.due + timedelta(days=21)
        return TransactionResult(True, item, it.title, it.due)

    async def renew_all(self, card, *, pin=None) -> RenewAllResult:
        self._check("renew_all")
        return RenewAllResult(ok=False)

    async def checkin(self, item, *, no_block=False, return_date: datetime | None = None) -> TransactionResult:
        self._check("checkin", item, no_block)
        it = self.items.get(item)
        if it is None:
            return TransactionResult(False, item, screen_message="Unknown item")
        it.charged_to, it.due = None, None
        return TransactionResult(True, item, it.title, hold_shelf=it.hold_for is not None,
                                 screen_message="Hold shelf" if it.hold_for else None, resensitize=True)

    async def item_information(self, item) -> ItemInfo:
        self._check("item_information", item)
        it = self.items.get(item)
        if it is None:
            raise LibrarySystemError("unknown item")
        # What the SIP2 adapter gives for an item: status, circulation status, due date (no borrower).
        if it.charged_to is not None:
            return ItemInfo(item, ItemStatus.ON_LOAN, 4, it.title, it.due)
        return ItemInfo(item, ItemStatus.AVAILABLE, 3, it.title)

    async def end_session(self, card) -> None:
        self._check("end_session")
