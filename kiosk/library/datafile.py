"""The JSON data file of the embedded library system.

The file format is a contract (issue 4): tests and other tools write such
files.  The models here validate it strictly (unknown keys, wrong types,
unknown references are errors) and every error names the JSON path of the
field, e.g. ``patrons[2].cards[0].status: Input should be 'active', …``.

``python -m kiosk.library.datafile schema`` prints the JSON Schema generated
from these models; ``docs/library-data.schema.json`` is that output (a test
keeps it up to date) and ``docs/library-data.md`` explains the format.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from kiosk.sip2.dialects import FieldCodes
from kiosk.files import DATA_LIMIT, read_bounded

from .errors import DataFileError

__all__ = [
    "DEFAULT_ITEM_TYPES",
    "Account",
    "Badge",
    "Branch",
    "Card",
    "CardStatus",
    "Charge",
    "DataFile",
    "Hold",
    "HoldStatus",
    "Item",
    "ItemType",
    "Limits",
    "Loan",
    "Patron",
    "PatronRunSettings",
    "Payment",
    "QUESTIONS",
    "REGISTRATION_TYPES",
    "Role",
    "ServerSection",
    "Subscription",
    "SubscriptionStatus",
    "SubscriptionType",
    "dump_data",
    "json_schema",
    "load_data",
    "parse_data",
    "save_data",
    "schema_text",
]


def _two_decimals(value: float) -> float:
    if abs(value * 100 - round(value * 100)) > 1e-6:
        raise ValueError("an amount has at most two decimals")
    return round(value, 2)


#: An amount in euro: a JSON number, at least 0, at most two decimals.
Money = Annotated[float, Field(ge=0, le=1_000_000), AfterValidator(_two_decimals)]
#: A SIP2-safe identifier: printable, no field separator, no carriage return.
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^|\r\n\t]+$")]
Text = Annotated[str, Field(max_length=255, pattern=r"^[^|\r\n]*$")]
#: A Wise adm_id: the registration's unique id (YZ field 8, CG of a 37); no ``~`` (the YZ separator).
AdmId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_.-]+$")]
#: A Wise badge code: 4 characters (system option CUSTBDG).
BadgeCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z]{4}$")]
#: A patron notification: at most 60 characters (Wise's limit), one AF field.
Notification = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^|\r\n]*$")]

#: The first adm_id given to a registration that has none in the data file.
FIRST_ASSIGNED_ADM_ID = 1_000_001

#: Wise registration types (YZ field 9) a charge may have; 1 (contribution) is the subscription's fee.
REGISTRATION_TYPES = (2, 3, 4, 6)
#: FV questions Wise may ask on checkout (a profile switch): item damaged, borrowed before, for sale, attachments.
QUESTIONS = ("damaged", "borrowed_before", "for_sale", "attachments")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=False)


class CardStatus(StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"
    BLOCKED = "blocked"
    LOST = "lost"


class SubscriptionStatus(StrEnum):
    NORMAL = "normal"
    INVOICED = "invoiced"
    REMINDER = "reminder"
    NOT_PAID = "not_paid"
    DEREGISTERED = "deregistered"
    INVALID = "invalid"
    BLACKLIST = "blacklist"


class HoldStatus(StrEnum):
    WAITING = "waiting"  # not yet available for the patron
    AVAILABLE = "available"  # on the hold shelf for the patron
    CANCELLED = "cancelled"


class Branch(_Model):
    branch_id: Ident = Field(alias="id")
    name: Text
    charge_age_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        60, description="R3: a charge older than this many days blocks check out, renew and hold"
    )
    unmanned_badge: Text | None = Field(
        None, description="badge that admits a patron in unmanned hours here; default 'Onbemande openingsuren'"
    )
    min_entry_age: Annotated[int, Field(ge=0, le=120)] | None = Field(
        None, description="A1: minimum age for unmanned entry here; null: no limit"
    )


class SubscriptionType(_Model):
    code: Ident
    name: Text
    fee: Money = Field(description="membership fee (contributie) in euro; 0 for a free subscription")
    max_charges: Money = Field(description="R1: open charges above this amount block check out and renew")
    loan_limit: Annotated[int, Field(ge=0, le=1000)] = Field(50, description="items a patron may have on loan at once")


class Badge(_Model):
    name: Text
    code: BadgeCode | None = Field(
        None, description="Wise badge code (4 characters, sent in GL); null: the badge is never sent in GL"
    )
    active: bool = Field(True, description="a switched-off badge type counts as absent for every patron")


class Card(_Model):
    number: Ident
    status: CardStatus = CardStatus.ACTIVE


class Subscription(_Model):
    subscription_type: Ident = Field(alias="type", description="code of a subscription_types entry")
    start: date
    end: date = Field(description="last day of the subscription (subscriptions end at the end of a month)")
    status: SubscriptionStatus = SubscriptionStatus.NORMAL
    fee_paid: bool = Field(True, description="the membership fee of this subscription is paid")
    fee_written_off: bool = Field(False, description="the open fee was written off at deregistration (patron run)")
    fee_adm_id: AdmId | None = Field(
        None, description="adm_id of the membership fee's registration (type 1); null: assigned when loaded"
    )
    fee_amount_paid: Money = Field(0, description="part of an unpaid fee paid so far (partial payments)")

    @model_validator(mode="after")
    def _ordered(self) -> Subscription:
        if self.end < self.start:
            raise ValueError("end lies before start")
        return self


class Charge(_Model):
    """A registration (fine, fee, sale …; not the membership fee): one YZ line of a 42."""

    amount: Annotated[float, Field(gt=0, le=1_000_000), AfterValidator(_two_decimals)]
    created: date
    paid: bool = False
    description: Text = Field("", description="e.g. 'Boete', 'Materiaalvergoedingsnota' (YZ field 2)")
    adm_id: AdmId | None = Field(None, description="Wise adm_id (YZ field 8, paid by CG in a 37); null: assigned when loaded")
    registration_type: Literal[2, 3, 4, 6] = Field(
        2, alias="type", description="Wise registration type: 2 fines etc., 3 sales, 4 cash receipts, 6 theatre"
    )
    title: Text = Field("", description="title, or the booking code's description (YZ field 3)")
    based_on: date | None = Field(None, description="the date the amount is based on, e.g. the return date (YZ field 4)")
    amount_paid: Money = Field(0, description="part paid so far (partial payments); open = amount - amount_paid")
    replacement_invoice: bool = Field(
        False, description="R4: a replacement invoice; give it a description a Wise site's kiosk recognises ('nota')"
    )
    collection_date: date | None = Field(None, description="handed to debt collection on this date (YZ status D)")
    arrangement_date: date | None = Field(
        None, description="payment arrangement (YZ status R, field 10): not to be paid now, no block"
    )

    @model_validator(mode="after")
    def _partial(self) -> Charge:
        if self.amount_paid > self.amount:
            raise ValueError("amount_paid is larger than amount")
        return self


class Patron(_Model):
    patron_id: Ident = Field(alias="id")
    name: Text
    birth_date: date | None = None
    pin: Annotated[str, Field(pattern=r"^[0-9]{4,12}$")] | None = Field(None, description="4 to 12 digits; null: no PIN set")
    language: Literal["nl", "fr", "en"] = "nl"
    branch: Ident = Field(description="home branch id")
    cards: list[Card] = Field(default_factory=list)
    temporary_number: Ident | None = Field(None, description="online-registration number: e-books only, no borrowing")
    subscription: Subscription | None = None
    charges: list[Charge] = Field(default_factory=list)
    replacement_invoice: bool = Field(False, description="R4: a replacement invoice (materiaalvergoedingsnota) is open")
    badges: list[Text] = Field(default_factory=list, description="names of badges assigned to the patron")
    patron_type: Ident | None = Field(None, description="SIP2 patron type; default: the subscription type code")
    notifications: list[Notification] = Field(
        default_factory=list, max_length=4, description="public notifications (Wise: up to four of up to 60 characters; AF)"
    )
    wise_status: Annotated[int, Field(ge=0, le=9)] | None = Field(
        None, description="Wise subscription status sent; null: derived from the subscription (5 normal, 2 invoiced, …)"
    )


class ItemType(_Model):
    code: Ident
    name: Text = ""
    loan_days: Annotated[int, Field(ge=1, le=365)] = 21
    max_renewals: Annotated[int, Field(ge=0, le=99)] = 2
    media_type: Annotated[str, Field(pattern=r"^[0-9]{3}$")] = Field("001", description="SIP2 media type (CK)")
    holdable: bool = True


#: Item types used when a data file has no ``item_types``.
DEFAULT_ITEM_TYPES: tuple[ItemType, ...] = (
    ItemType(code="book", name="Boek", loan_days=21, max_renewals=2, media_type="001"),
    ItemType(code="magazine", name="Tijdschrift", loan_days=14, max_renewals=1, media_type="002"),
    ItemType(code="audio", name="Luisterboek / cd", loan_days=21, max_renewals=2, media_type="004"),
    ItemType(code="dvd", name="Dvd", loan_days=7, max_renewals=1, media_type="006"),
    ItemType(code="game", name="Spel", loan_days=14, max_renewals=0, media_type="009"),
)


class Item(_Model):
    item_id: Ident = Field(alias="id", description="barcode (primary item id)")
    rfid: Ident | None = Field(None, description="item id on the RFID tag when it differs from the barcode")
    title: Text
    author: Text = ""
    item_type: Ident = Field("book", alias="type", description="code of an item type")
    parts: Annotated[int, Field(ge=1, le=255)] = Field(1, description="parts in the set (a 3-CD box has 3)")
    branch: Ident | None = Field(None, description="owning branch; default: the institution's first branch")
    questions: list[Literal["damaged", "borrowed_before", "for_sale", "attachments"]] = Field(
        default_factory=list, description="FV questions Wise asks on checkout of this item (shown, not answered)"
    )


class Loan(_Model):
    patron: Ident
    item: Ident
    due: date
    renewals: Annotated[int, Field(ge=0, le=99)] = 0
    checked_out: date | None = None


class Hold(_Model):
    patron: Ident
    item: Ident
    created: date
    status: HoldStatus = HoldStatus.WAITING
    pickup_branch: Ident | None = None


class Role(StrEnum):
    """What a SIP2 account is for; decides the messages it may send and the
    patron fields it is sent (kiosk/library/roles.py, docs/library-data.md)."""

    KIOSK = "kiosk"
    DOOR = "door"
    SORTER = "sorter"
    STAFF = "staff"


class Account(_Model):
    login: Ident = Field(description="SIP2 login user id (CN) of one kiosk or door")
    password: Annotated[str, Field(max_length=64, pattern=r"^[^|\r\n]*$")]
    location: Text = ""
    role: Role = Field(
        Role.KIOSK,
        description="kiosk: self-service; door: unmanned entry (no name, birth date, loans or charges); "
        "sorter: check-in and item information only; staff: everything, incl. block (01), enable (25), fee paid (37)",
    )
    language: Literal["nl", "fr", "en"] | None = Field(
        None, description="language of answers that name no patron (a check-in); null: the last patron language "
        "on the connection, else nl",
    )


class Limits(_Model):
    """Throttling and connection limits of the SIP2 server (docs/library-data.md)."""

    max_connections: Annotated[int, Field(ge=1, le=100_000)] = Field(
        256, description="connections served at once; never more than the open-file limit allows"
    )
    max_connections_per_address: Annotated[int, Field(ge=1, le=100_000)] = Field(
        64, description="connections from one peer address at once"
    )
    idle_timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = Field(
        300.0, description="a logged-in connection silent this long is closed"
    )
    login_timeout_seconds: Annotated[float, Field(gt=0, le=3_600)] = Field(
        20.0, description="a connection that has not logged in within this time is closed"
    )
    login_failures_per_connection: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="failed logins after which the connection is dropped"
    )
    failure_delay_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        0.25, description="first delay after a failed login or an unknown-card probe; doubles with each further one"
    )
    failure_delay_max_seconds: Annotated[float, Field(ge=0, le=3_600)] = Field(
        30.0, description="the longest delay between attempts from one address"
    )
    failure_window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        15, description="failures older than this no longer slow an address down"
    )
    unknown_patron_free: Annotated[int, Field(ge=0, le=10_000)] = Field(
        10, description="unknown-card answers per address per window before they slow down"
    )
    pin_attempts: Annotated[int, Field(ge=1, le=1_000)] = Field(
        10, description="wrong PINs for one patron, from any client, that lock the patron's PIN"
    )
    pin_window_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = Field(
        15, description="the window of pin_attempts; the lock lifts when the oldest wrong PIN leaves it"
    )


class Payment(_Model):
    """A payment booked by a 37 (kept so that a re-sent 37 is booked once)."""

    transaction_id: Ident | None = Field(description="the 37's BK transaction id; null: the 37 had none")
    adm_id: AdmId = Field(description="the registration paid (CG)")
    patron: Ident
    amount: Annotated[float, Field(gt=0, le=1_000_000), AfterValidator(_two_decimals)]
    booked: datetime


class ServerSection(_Model):
    dialect: Literal["extended", "wise"] = Field(
        "extended",
        description="extended: Wise's fields and bibkiosk's extension fields; wise: exactly what a Wise site sends",
    )
    accounts: list[Account] = Field(
        default_factory=list, description="SIP2 login accounts, one per kiosk; none: every login is accepted"
    )
    fields: FieldCodes = Field(
        default_factory=FieldCodes, description="SIP2 extension field codes (docs/sip2-fields.md); defaults as the adapter's"
    )
    limits: Limits = Field(default_factory=Limits, description="throttling and connection limits")


class PatronRunSettings(_Model):
    """Months between the start of an unpaid new paid subscription and each
    status change at the patron run on the 1st (seed 003 defaults)."""

    reminder_after_months: Annotated[int, Field(ge=1, le=24)] | None = 2
    not_paid_after_months: Annotated[int, Field(ge=1, le=24)] = 3
    deregister_after_months: Annotated[int, Field(ge=1, le=36)] = 4
    deregistered_status: Literal["deregistered", "invalid"] = "deregistered"

    @model_validator(mode="after")
    def _ordered(self) -> PatronRunSettings:
        if self.reminder_after_months is not None and self.reminder_after_months >= self.not_paid_after_months:
            raise ValueError("reminder_after_months must be smaller than not_paid_after_months")
        if self.deregister_after_months <= self.not_paid_after_months:
            raise ValueError("deregister_after_months must be larger than not_paid_after_months")
        return self


class DataFile(_Model):
    """The whole state of the embedded library system."""

    model_config = ConfigDict(
        title="bibkiosk embedded library data file",
        json_schema_extra={"$id": "https://bibkiosk.invalid/schema/library-data.schema.json"},
    )

    institution: Ident = Field(description="institution id (SIP2 AO)")
    branches: list[Branch] = Field(min_length=1)
    subscription_types: list[SubscriptionType] = Field(default_factory=list)
    badges: list[Badge] = Field(default_factory=list)
    item_types: list[ItemType] = Field(default_factory=lambda: list(DEFAULT_ITEM_TYPES))
    patrons: list[Patron] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    loans: list[Loan] = Field(default_factory=list)
    holds: list[Hold] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list, description="payments booked by 37 (idempotency)")
    server: ServerSection = Field(default_factory=ServerSection)
    patron_run: PatronRunSettings = Field(default_factory=PatronRunSettings)

    def reference_problems(self) -> list[tuple[str, str]]:
        """Cross-references that JSON Schema cannot express: unique ids and
        numbers, known branches, types, badges, patrons and items."""
        problems: list[tuple[str, str]] = []

        def unique(seq: list[Any], key: str, path: str, attr: str) -> set[str]:
            seen: set[str] = set()
            for i, entry in enumerate(seq):
                value = getattr(entry, attr)
                if value in seen:
                    problems.append((f"{path}[{i}].{key}", f"duplicate {key} {value!r}"))
                seen.add(value)
            return seen

        branches = unique(self.branches, "id", "branches", "branch_id")
        sub_types = unique(self.subscription_types, "code", "subscription_types", "code")
        badge_names = unique(self.badges, "name", "badges", "name")
        item_types = unique(self.item_types, "code", "item_types", "code")
        patrons = unique(self.patrons, "id", "patrons", "patron_id")
        unique(self.server.accounts, "login", "server.accounts", "login")

        # Card numbers, temporary numbers and patron ids share one namespace:
        # whatever is offered at the kiosk must name one patron.
        numbers: dict[str, str] = {}
        for bi, branch in enumerate(self.branches):
            if branch.unmanned_badge is not None and branch.unmanned_badge not in badge_names:
                problems.append((f"branches[{bi}].unmanned_badge", f"unknown badge {branch.unmanned_badge!r}"))
        codes: dict[str, str] = {}
        for bi, badge in enumerate(self.badges):
            if badge.code is not None:
                key = badge.code.upper()
                if key in codes:
                    problems.append((f"badges[{bi}].code", f"badge code {badge.code!r} is already used at {codes[key]}"))
                else:
                    codes[key] = f"badges[{bi}]"
        fees = {t.code: t.fee for t in self.subscription_types}
        adm_ids: dict[str, str] = {}

        def adm_id(where: str, value: str | None) -> None:
            if value is None:
                return
            if value in adm_ids:
                problems.append((where, f"adm_id {value!r} is already used at {adm_ids[value]}"))
            else:
                adm_ids[value] = where

        for pi, patron in enumerate(self.patrons):
            path = f"patrons[{pi}]"
            sub = patron.subscription
            if sub is not None:
                adm_id(f"{path}.subscription.fee_adm_id", sub.fee_adm_id)
                fee = fees.get(sub.subscription_type)
                if fee is not None and sub.fee_amount_paid > fee:
                    problems.append((f"{path}.subscription.fee_amount_paid", f"larger than the fee ({fee:.2f})"))
            for ci, charge in enumerate(patron.charges):
                adm_id(f"{path}.charges[{ci}].adm_id", charge.adm_id)
        owners = {adm: patron_id for (patron_id, _), (adm, _) in self.adm_ids().items()}
        booked: set[tuple[str, str]] = set()
        for yi, payment in enumerate(self.payments):
            path = f"payments[{yi}]"
            if payment.patron not in patrons:
                problems.append((f"{path}.patron", f"unknown patron {payment.patron!r}"))
            elif owners.get(payment.adm_id) != payment.patron:
                problems.append((f"{path}.adm_id", f"no registration {payment.adm_id!r} of patron {payment.patron!r}"))
            key = (payment.transaction_id, payment.adm_id)
            if payment.transaction_id is not None and key in booked:
                problems.append((f"{path}.transaction_id", "this transaction id already paid this registration"))
            booked.add(key)
        for pi, patron in enumerate(self.patrons):
            path = f"patrons[{pi}]"
            if patron.branch not in branches:
                problems.append((f"{path}.branch", f"unknown branch {patron.branch!r}"))
            if patron.subscription and patron.subscription.subscription_type not in sub_types:
                problems.append(
                    (f"{path}.subscription.type", f"unknown subscription type {patron.subscription.subscription_type!r}")
                )
            for bi, badge in enumerate(patron.badges):
                if badge not in badge_names:
                    problems.append((f"{path}.badges[{bi}]", f"unknown badge {badge!r}"))
            if len(set(patron.badges)) != len(patron.badges):
                problems.append((f"{path}.badges", "a badge is listed twice"))
            ids = [(f"{path}.cards[{ci}].number", c.number) for ci, c in enumerate(patron.cards)]
            if patron.temporary_number:
                ids.append((f"{path}.temporary_number", patron.temporary_number))
            for where, number in ids:
                if number in numbers:
                    problems.append((where, f"number {number!r} is already used at {numbers[number]}"))
                else:
                    numbers[number] = where
        items: dict[str, Item] = {}
        tags: dict[str, str] = {}
        for ii, item in enumerate(self.items):
            path = f"items[{ii}]"
            for where, key in ((f"{path}.id", item.item_id), (f"{path}.rfid", item.rfid)):
                if key is None or (key == item.item_id and where.endswith(".rfid")):
                    continue
                if key in tags:
                    problems.append((where, f"item id {key!r} is already used at {tags[key]}"))
                else:
                    tags[key] = where
            items.setdefault(item.item_id, item)
            if item.item_type not in item_types:
                problems.append((f"{path}.type", f"unknown item type {item.item_type!r}"))
            if item.branch is not None and item.branch not in branches:
                problems.append((f"{path}.branch", f"unknown branch {item.branch!r}"))
        on_loan: dict[str, int] = {}
        for li, loan in enumerate(self.loans):
            path = f"loans[{li}]"
            if loan.patron not in patrons:
                problems.append((f"{path}.patron", f"unknown patron {loan.patron!r}"))
            if loan.item not in items:
                problems.append((f"{path}.item", f"unknown item {loan.item!r}"))
            elif loan.item in on_loan:
                problems.append((f"{path}.item", f"item {loan.item!r} is already on loan at loans[{on_loan[loan.item]}]"))
            else:
                on_loan[loan.item] = li
        for hi, hold in enumerate(self.holds):
            path = f"holds[{hi}]"
            if hold.patron not in patrons:
                problems.append((f"{path}.patron", f"unknown patron {hold.patron!r}"))
            if hold.item not in items:
                problems.append((f"{path}.item", f"unknown item {hold.item!r}"))
            if hold.pickup_branch is not None and hold.pickup_branch not in branches:
                problems.append((f"{path}.pickup_branch", f"unknown branch {hold.pickup_branch!r}"))
        return problems

    def adm_ids(self) -> dict[tuple[str, int | None], tuple[str, bool]]:
        """(patron id, charge index or None for the membership fee) ->
        (adm_id, assigned).  A registration without an adm_id in the file gets
        one: numbers from :data:`FIRST_ASSIGNED_ADM_ID` on, in file order,
        skipping those the file uses, so the same data always gets the same
        ids (and a saved file keeps them unwritten).  A fee has a registration
        when its subscription type's fee is more than 0."""
        used = {c.adm_id for p in self.patrons for c in p.charges if c.adm_id}
        used |= {p.subscription.fee_adm_id for p in self.patrons if p.subscription and p.subscription.fee_adm_id}
        fees = {t.code: t.fee for t in self.subscription_types}
        number = FIRST_ASSIGNED_ADM_ID
        out: dict[tuple[str, int | None], tuple[str, bool]] = {}

        def assign() -> str:
            nonlocal number
            while str(number) in used:
                number += 1
            number += 1
            return str(number - 1)

        for p in self.patrons:
            sub = p.subscription
            if sub is not None and (sub.fee_adm_id or fees.get(sub.subscription_type, 0) > 0):
                out[(p.patron_id, None)] = (sub.fee_adm_id, False) if sub.fee_adm_id else (assign(), True)
            for ci, charge in enumerate(p.charges):
                out[(p.patron_id, ci)] = (charge.adm_id, False) if charge.adm_id else (assign(), True)
        return out

    def item_type_map(self) -> dict[str, ItemType]:
        return {t.code: t for t in self.item_types}


# --------------------------------------------------------------------------- load / save


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith(("function-", "json-or-python", "lax-or-strict")) or "[" in part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_data(text: str | bytes, source: str = "<data>") -> DataFile:
    """Validate a data file's text; a :class:`DataFileError` names every bad field."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "(encoding)"
        raise DataFileError(source, [(where, f"not valid JSON: {getattr(exc, 'msg', exc)}")]) from None
    if not isinstance(raw, dict):
        raise DataFileError(source, [("(top level)", "expected a JSON object")])
    try:
        # Strict JSON-mode validation: dates as ISO strings, numbers as numbers.
        data = DataFile.model_validate_json(json.dumps(raw))
    except ValidationError as exc:
        problems = [
            (_json_path(err["loc"]), err["msg"].removeprefix("Value error, ")) for err in exc.errors(include_url=False)
        ]
        raise DataFileError(source, problems) from None
    problems = data.reference_problems()
    if problems:
        raise DataFileError(source, problems)
    return data


def load_data(path: str | os.PathLike[str]) -> DataFile:
    """Read and validate a data file; ``"demo"`` means the bundled demo data."""
    if str(path) == "demo":
        path = demo_path()
    p = Path(path)
    try:
        text = read_bounded(p, DATA_LIMIT)
    except OSError as exc:
        raise DataFileError(str(p), [("(file)", f"cannot read: {exc.strerror}")]) from None
    return parse_data(text, str(p))


def demo_path() -> Path:
    """The bundled demo data file (``kiosk/library/demo.json``)."""
    return Path(__file__).resolve().parent / "demo.json"


def dump_data(data: DataFile) -> str:
    """The data file's text: stable key order, two-space indent, trailing newline."""
    payload = data.model_dump(mode="json", by_alias=True)
    if payload["server"]["fields"] == FieldCodes().model_dump():
        del payload["server"]["fields"]  # the defaults: keep files short
    if payload["server"]["limits"] == Limits().model_dump(mode="json"):
        del payload["server"]["limits"]
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def save_data(data: DataFile, path: str | os.PathLike[str]) -> None:
    """Write the data file atomically (a reader never sees half a file)."""
    p = Path(path)
    text = dump_data(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if p.exists():
            os.chmod(tmp, p.stat().st_mode & 0o777)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the data file, generated from the models."""
    schema = DataFile.model_json_schema(by_alias=True, mode="validation")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


def _main(argv: list[str]) -> int:
    if argv[:1] == ["schema"]:
        sys.stdout.write(schema_text())
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        try:
            data = load_data(argv[1])
        except DataFileError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"{argv[1]}: ok ({len(data.patrons)} patrons, {len(data.items)} items, {len(data.loans)} loans)")
        return 0
    print("usage: python -m kiosk.library.datafile schema | check FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
