"""The library-system adapter over SIP2 (``kiosk.sip2.client``).

``identify`` sends a 63 Patron Information and maps every field it can into
a policy :class:`~policy.PatronSnapshot`:

- BL → ``known``; CQ → ``pin`` (when a PIN was given); the language field →
  ``language``; AF → ``screen_message``; the 14 flags → ``flags``;
- the extension fields (codes from :class:`FieldCodes`, docs/sip2-fields.md):
  birth date, patron type (the subscription type code), subscription status,
  start and end, open membership fee, replacement invoice, card state,
  temporary number, badges, open charges with their dates, home branch.

When the library system sends none of the extension fields, the snapshot is
``flags_only``: the policy then decides on the 14 flags alone, and a denied
privilege becomes the rule "LS" (the library system refuses) with the
library system's screen message.  When the details are there, the policy
decides on them and the privilege flags are left out (they would only
repeat the same refusal as "LS"); the library system still has the last word
on every transaction it is asked to make.

Nothing is cached: every call is a request.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from kiosk.sip2.client import ClientSettings, Sip2Client
from kiosk.sip2.codec import parse_sip2_datetime
from kiosk.sip2.errors import (
    LocalSip2Error,
    RemoteSip2Error,
    Sip2ConnectionError,
    Sip2Error,
    Sip2LoginError,
)
from kiosk.sip2.messages import (
    CheckinResponse,
    CheckoutResponse,
    ItemInformationResponse,
    Message,
    PatronInformationResponse,
    RenewResponse,
)
from policy import (
    Badge,
    CardState,
    Charge,
    IdentifiedBy,
    PatronSnapshot,
    PatronStatusFlags,
    PinCheck,
    Subscription,
    SubscriptionStatus,
)

from .base import (
    Account,
    HoldInfo,
    ItemInfo,
    ItemStatus,
    LibrarySystem,
    LibrarySystemError,
    LibrarySystemLoginRefused,
    LibrarySystemProtocolError,
    LibrarySystemRequestError,
    LibrarySystemUnavailable,
    LoanInfo,
    PaymentResult,
    RenewAllResult,
    TransactionResult,
)
from .fields import FieldCodes, parse_age_verdict, parse_badge, parse_charge, parse_date, parse_money

log = logging.getLogger("kiosk.adapter.sip2")

__all__ = ["SIP2_LANGUAGES", "Sip2LibrarySystem", "snapshot_from_sip2"]

#: SIP2 language codes -> our languages (others: unknown).
SIP2_LANGUAGES: dict[int, str] = {1: "en", 2: "fr", 5: "nl", 11: "fr", 24: "en", 26: "nl"}

_PRIVILEGES = ("charge_privileges_denied", "renewal_privileges_denied", "recall_privileges_denied", "hold_privileges_denied")

T = TypeVar("T")


def _screen(lines: tuple[str, ...]) -> str | None:
    text = " ".join(line.strip() for line in lines if line and line.strip())
    return text or None


def parse_due(text: str | None) -> date | None:
    """A SIP2 due date: the 18-character form, ``YYYYMMDD`` or ISO; None
    when blank or unreadable."""
    if not text or not text.strip():
        return None
    if len(text) == 18:
        try:
            value = parse_sip2_datetime(text)
        except ValueError:
            value = None
        if value is not None:
            return value.date()
    return parse_date(text)


def _enum(kind: type[T], value: str | None) -> T | None:
    if value is None:
        return None
    try:
        return kind(value.strip().lower())  # type: ignore[call-arg]
    except ValueError:
        return None


def snapshot_from_sip2(
    answer: PatronInformationResponse | Any, *, pin_given: bool, fields: FieldCodes | None = None
) -> PatronSnapshot:
    """Map a 64 (or a 24) to a policy snapshot."""
    f = fields or FieldCodes()
    extras: dict[str, list[str]] = {}
    for code, value in answer.extra_fields:
        extras.setdefault(code, []).append(value)

    def one(code: str) -> str | None:
        values = extras.get(code)
        return values[0] if values else None

    known = answer.valid_patron is not False
    if not pin_given:
        pin = PinCheck.UNKNOWN
    elif answer.valid_patron_password is True:
        pin = PinCheck.RIGHT
    elif answer.valid_patron_password is False:
        pin = PinCheck.WRONG
    else:
        pin = PinCheck.UNKNOWN
    language = SIP2_LANGUAGES.get(answer.language)
    screen = _screen(answer.screen_message)
    raw_flags = answer.patron_status.as_dict()

    detail_codes = (f.subscription_status, f.card_state, f.fee_open, f.badges, f.replacement_invoice, f.charges)
    full = any(code in extras for code in detail_codes)
    if not known:
        # The PIN of an unknown card cannot have been checked.
        return PatronSnapshot(known=False, pin=PinCheck.UNKNOWN, language=language, screen_message=screen)
    if not full:
        return PatronSnapshot(
            identified_by=IdentifiedBy.CARD,
            pin=pin,
            language=language,
            flags=PatronStatusFlags(**raw_flags),
            flags_only=True,
            screen_message=screen,
        )

    flags = PatronStatusFlags(**{k: (False if k in _PRIVILEGES else v) for k, v in raw_flags.items()})
    status = _enum(SubscriptionStatus, one(f.subscription_status))
    fee_open = parse_money(one(f.fee_open))
    subscription = None
    if status is not None:
        subscription = Subscription(
            type_code=one(f.patron_type) or "",
            start=parse_date(one(f.subscription_start)),
            end=parse_date(one(f.subscription_end)),
            status=status,
            fee_paid=not (fee_open is not None and fee_open > 0),
        )
    charges: list[Charge] = []
    for text in extras.get(f.charges, ()):
        parsed = parse_charge(text)
        if parsed is not None:
            charges.append(Charge(amount=parsed[1], created=parsed[0]))
    if f.charges not in extras:
        # No itemised charges: what is owed (BV) less the membership fee, as
        # one charge of today (R1 works, R3 cannot be told).
        owed = parse_money(answer.fee_amount)
        if owed is not None:
            rest = owed - (fee_open or Decimal(0))
            if rest > 0:
                charges.append(Charge(amount=rest, created=date.today()))
    badges = tuple(Badge(name=name, active=active) for name, active in map(parse_badge, extras.get(f.badges, ())))
    temporary = (one(f.temporary_number) or "").upper() == "Y"
    card_state = _enum(CardState, one(f.card_state))
    return PatronSnapshot(
        identified_by=IdentifiedBy.TEMPORARY_NUMBER if temporary else IdentifiedBy.CARD,
        card_state=card_state,
        subscription=subscription,
        charges=tuple(charges),
        replacement_invoice=(one(f.replacement_invoice) or "").upper() == "Y",
        badges=badges,
        birth_date=parse_date(one(f.birth_date)),
        pin=pin,
        language=language,
        branch=one(f.home_branch),
        flags=flags,
        flags_only=False,
        screen_message=screen,
        age_verdicts=tuple(v for v in map(parse_age_verdict, extras.get(f.age_verdict, ())) if v is not None),
    )


_CIRCULATION = {
    1: ItemStatus.OTHER,
    2: ItemStatus.OTHER,  # on order
    3: ItemStatus.AVAILABLE,
    4: ItemStatus.ON_LOAN,
    5: ItemStatus.ON_LOAN,  # charged, not to be recalled until earliest recall date
    6: ItemStatus.OTHER,  # in process
    7: ItemStatus.ON_LOAN,  # recalled
    8: ItemStatus.ON_HOLD_SHELF,
    9: ItemStatus.OTHER,  # waiting to be re-shelved
    10: ItemStatus.IN_TRANSIT,
    11: ItemStatus.MISSING,  # claimed returned
    12: ItemStatus.LOST,
    13: ItemStatus.MISSING,
}


def _due_datetime(due: date | datetime | None) -> datetime | None:
    if due is None:
        return None
    if isinstance(due, datetime):
        return due
    return datetime.combine(due, time(23, 59, 59)).astimezone()


class Sip2LibrarySystem(LibrarySystem):
    """A :class:`LibrarySystem` over one SIP2 connection."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        fields: FieldCodes | Any | None = None,
        client: Sip2Client | None = None,
    ) -> None:
        self.settings = settings
        self.fields = FieldCodes.from_settings(fields)
        self.client = client or Sip2Client(settings)

    # ------------------------------------------------------------------ plumbing

    async def start(self) -> None:
        await self._call(self._ensure_connected())

    async def close(self) -> None:
        await self.client.close()

    async def _ensure_connected(self) -> None:
        if not self.client.connected:
            await self.client.connect()

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except Sip2LoginError as exc:
            raise LibrarySystemLoginRefused(str(exc)) from None
        except Sip2ConnectionError as exc:
            raise LibrarySystemUnavailable(str(exc), outcome_unknown=exc.outcome_unknown) from None
        except RemoteSip2Error as exc:
            raise LibrarySystemProtocolError(str(exc)) from None
        except LocalSip2Error as exc:
            raise LibrarySystemRequestError(str(exc)) from None
        except Sip2Error as exc:  # pragma: no cover - a new kind in kiosk.sip2
            raise LibrarySystemError(str(exc)) from None
        except (OSError, TimeoutError) as exc:  # pragma: no cover - raised below the client
            raise LibrarySystemUnavailable(f"{type(exc).__name__}") from None

    async def _request(self, method: str, *args: Any, **kwargs: Any) -> Message:
        async def go() -> Message:
            await self._ensure_connected()
            return await getattr(self.client, method)(*args, **kwargs)

        return await self._call(go())

    # ------------------------------------------------------------------ patrons

    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot:
        answer = await self._request("patron_information", card, pin)
        return snapshot_from_sip2(answer, pin_given=bool(pin), fields=self.fields)

    async def account(self, card: str, pin: str | None = None) -> Account:
        charged: PatronInformationResponse = await self._request("patron_information", card, pin, "charged")
        snapshot = snapshot_from_sip2(charged, pin_given=bool(pin), fields=self.fields)
        if not snapshot.known:
            return Account(patron=snapshot, screen_message=_screen(charged.screen_message))
        ready: PatronInformationResponse = await self._request("patron_information", card, pin, "hold")
        waiting: PatronInformationResponse = await self._request("patron_information", card, pin, "unavailable")
        today = date.today()
        loans = []
        for item_id in charged.charged_items:
            info = await self.item_information(item_id)
            loans.append(
                LoanInfo(item_id=item_id, title=info.title, due=info.due, overdue=info.due is not None and info.due < today)
            )
        holds = []
        for item_id, is_ready in [(i, True) for i in ready.hold_items] + [(i, False) for i in waiting.unavailable_hold_items]:
            info = await self.item_information(item_id)
            holds.append(HoldInfo(item_id=item_id, title=info.title, ready=is_ready, pickup_branch=info.permanent_location))
        return Account(
            patron=snapshot,
            name=charged.personal_name,
            loans=tuple(loans),
            holds=tuple(holds),
            fee_amount=parse_money(charged.fee_amount),
            screen_message=_screen(charged.screen_message),
        )

    async def end_session(self, card: str) -> None:
        await self._request("end_session", card)

    async def pay(self, card: str, amount: Decimal, *, membership_fee: bool = False) -> PaymentResult:
        answer = await self._request(
            "fee_paid",
            card,
            f"{Decimal(amount).quantize(Decimal('0.01'))}",
            fee_type=2 if membership_fee else 1,
            fee_id="membership" if membership_fee else None,
        )
        return PaymentResult(
            accepted=answer.payment_accepted, screen_message=_screen(answer.screen_message), transaction_id=answer.transaction_id
        )

    # ------------------------------------------------------------------ items

    def _parts(self, answer: Message) -> int | None:
        text = answer.extra(self.fields.item_parts)
        return int(text) if text and text.isdigit() else None

    def _item_result(self, answer: CheckoutResponse | RenewResponse | CheckinResponse, item: str) -> TransactionResult:
        is_checkin = isinstance(answer, CheckinResponse)
        sort_bin = getattr(answer, "sort_bin", None)
        return TransactionResult(
            ok=answer.ok,
            item_id=answer.item_identifier or item,
            title=answer.title_identifier or "",
            due=None if is_checkin else parse_due(answer.due_date),
            screen_message=_screen(answer.screen_message),
            renewal=bool(getattr(answer, "renewal_ok", False)) and isinstance(answer, CheckoutResponse),
            desensitize=None if is_checkin else answer.desensitize,
            resensitize=answer.resensitize if is_checkin else None,
            hold_shelf=bool(is_checkin and answer.ok and answer.alert and (sort_bin or "").upper().startswith("HOLD")),
            sort_bin=sort_bin,
            alert=bool(is_checkin and answer.alert),
            media_type=answer.media_type,
            parts=self._parts(answer),
            permanent_location=answer.permanent_location if is_checkin else None,
            raw=answer,
        )

    async def checkout(
        self,
        card: str,
        item: str,
        *,
        pin: str | None = None,
        no_block: bool = False,
        due: date | datetime | None = None,
    ) -> TransactionResult:
        answer = await self._request(
            "checkout", card, item, pin, no_block=no_block, nb_due_date=_due_datetime(due) if no_block else None
        )
        return self._item_result(answer, item)

    async def renew(
        self,
        card: str,
        item: str,
        *,
        pin: str | None = None,
        no_block: bool = False,
        due: date | datetime | None = None,
    ) -> TransactionResult:
        answer = await self._request(
            "renew", card, item, pin, no_block=no_block, nb_due_date=_due_datetime(due) if no_block else None
        )
        return self._item_result(answer, item)

    async def renew_all(self, card: str, *, pin: str | None = None) -> RenewAllResult:
        answer = await self._request("renew_all", card, pin)
        return RenewAllResult(
            ok=answer.ok,
            renewed=answer.renewed_items,
            unrenewed=answer.unrenewed_items,
            screen_message=_screen(answer.screen_message),
            raw=answer,
        )

    async def checkin(
        self, item: str, *, no_block: bool = False, return_date: datetime | None = None
    ) -> TransactionResult:
        answer = await self._request("checkin", item, return_date=return_date, no_block=no_block)
        return self._item_result(answer, item)

    async def item_information(self, item: str) -> ItemInfo:
        answer: ItemInformationResponse = await self._request("item_information", item)
        known = bool(answer.title_identifier) or answer.circulation_status != 1
        return ItemInfo(
            item_id=answer.item_identifier or item,
            status=_CIRCULATION.get(answer.circulation_status, ItemStatus.OTHER) if known else ItemStatus.UNKNOWN,
            circulation_status=answer.circulation_status,
            title=answer.title_identifier or "",
            due=parse_due(answer.due_date),
            hold_queue_length=answer.hold_queue_length,
            media_type=answer.media_type,
            parts=self._parts(answer),
            permanent_location=answer.permanent_location,
            current_location=answer.current_location,
            screen_message=_screen(answer.screen_message),
            raw=answer,
        )
