"""The library-system adapter over SIP2 (``kiosk.sip2.client``).

``identify`` sends a 63 Patron Information (a 23 when the library system's
98 says it does not take 63) and, in the ``wise`` dialect with registrations
on (``[library.wise] registrations``), a 41 for the patron's registrations.
It maps every field it recognises into a policy
:class:`~policy.PatronSnapshot`, and says in ``snapshot.evidence`` which
field each fact came from (``bibkiosk check`` prints it):

- BL → ``known``; CQ → ``pin`` (when a PIN was given); the language field →
  ``language``; AF → ``screen_message`` (and, at Wise, up to four
  ``notifications``); the 14 flags → ``flags``;
- GL (wise dialect) → badges by code, named from ``[library.badges]``;
- the extension fields (codes from :class:`FieldCodes`, docs/sip2-fields.md):
  birth date, patron type, subscription status (our words or a Wise status
  digit), start and end, open membership fee, replacement invoice, card
  state, temporary number, badges, open charges with their dates, home
  branch.  Each is read whenever it is present;
- the registrations (42 YZ): an open type-1 registration → the membership
  fee is open (R2); one whose description or title holds a replacement-invoice
  word → R4; the others → charges with their creation dates (R1, R3);
- BV → one charge of today when nothing itemises the charges (R1; R3 cannot
  be told from BV).

When our own extension fields are there (the embedded library system), the
policy decides on them and the privilege flags are left out (they would only
repeat the same refusal).  Otherwise the flags stay: a denied privilege that
no evidence explains becomes the rule "LS" (the library system refuses)
with the library system's screen message, never a guessed R-rule.  When
nothing but the flags is known the snapshot is ``flags_only``.

The adapter honours the 98 ACS status: it does not send a request the BX
field marks unsupported, no checkout while ``checkout_ok`` is N, no check-in
while ``checkin_ok`` is N, and no offline (no-block) transaction while
``offline_ok`` is N (:class:`LibrarySystemNotSupported`, nothing sent).

Nothing is cached: every call is a request.
"""

from __future__ import annotations

import logging
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from kiosk.sip2.client import ClientSettings, Sip2Client
from kiosk.sip2.codec import parse_sip2_datetime
from kiosk.sip2.languages import language_code, language_of
from kiosk.sip2.dialects import (
    HOLD_BINS,
    NOTIFICATION_LENGTH,
    NOTIFICATION_LIMIT,
    WISE_QUESTION_FIELD,
    WISE_STATUSES,
    Dialect,
    FieldCodes,
    dialect as dialect_named,
    parse_age_verdict,
    parse_badge,
    parse_badge_codes,
    parse_charge,
    parse_date,
    parse_money,
)
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
    Registration,
    RegistrationsResponse,
    RenewResponse,
    register_sensitive_codes,
)
from policy import (
    Badge,
    CardState,
    Charge,
    Evidence,
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
    LibrarySystemNotSupported,
    LibrarySystemProtocolError,
    LibrarySystemRequestError,
    LibrarySystemUnavailable,
    LoanInfo,
    PaymentResult,
    RegistrationInfo,
    RenewAllResult,
    TransactionResult,
)

log = logging.getLogger("kiosk.adapter.sip2")

__all__ = [
    "AA_IDENTITY",
    "budget_identity",
    "Sip2LibrarySystem",
    "WiseEvidence",
    "evidence_from_registrations",
    "registration_info",
    "snapshot_from_sip2",
]


_PRIVILEGES = ("charge_privileges_denied", "renewal_privileges_denied", "recall_privileges_denied", "hold_privileges_denied")
_PRIVILEGE_WORDS = {
    "charge_privileges_denied": "charge privileges denied",
    "renewal_privileges_denied": "renewal privileges denied",
    "hold_privileges_denied": "hold privileges denied",
}
#: how long a 41 that got no usable answer is not asked again (seconds)
REGISTRATIONS_RETRY_SECONDS = 600.0
#: ... doubling after each failure, up to a day (a port without SIP2+ never answers)
REGISTRATIONS_RETRY_MAX = 86400.0

T = TypeVar("T")


def _screen(lines: tuple[str, ...]) -> str | None:
    text = " ".join(line.strip() for line in lines if line and line.strip())
    return text or None


def _notifications(lines: Iterable[str]) -> tuple[str, ...]:
    """Wise's public notifications: up to four AF texts of up to 60 characters."""
    out = [line.strip()[:NOTIFICATION_LENGTH] for line in lines if line and line.strip()]
    return tuple(out[:NOTIFICATION_LIMIT])


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


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _describe(reg: Registration) -> str:
    """Staff text for one registration: id, type, amount, dates (no title: it
    may tell what the patron borrowed)."""
    parts = [f"registration {reg.adm_id or '(no adm_id)'}", f"type {reg.kind or '?'} ({reg.kind_name})"]
    amount = reg.amount_value
    parts.append(_money(amount) if amount is not None else "amount unreadable")
    created = reg.created_date
    parts.append(f"created {created.isoformat()}" if created else "creation date unreadable")
    if reg.description:
        parts.append(repr(reg.description))
    if reg.status:
        parts.append(f"status {reg.status}")
    return ", ".join(parts)


def registration_info(reg: Registration) -> RegistrationInfo:
    return RegistrationInfo(
        adm_id=reg.adm_id,
        kind=reg.kind_number,
        kind_name=reg.kind_name,
        description=reg.description,
        title=reg.title,
        amount=reg.amount_value,
        created=reg.created_date,
        based_on=reg.based_on_date,
        status=reg.status,
        arrangement=reg.arrangement,
    )


@dataclass(frozen=True, slots=True)
class WiseEvidence:
    """What a list of registrations says, sorted by the rule it feeds."""

    fee: tuple[Registration, ...] = ()  # type 1: the membership fee is open (R2)
    invoices: tuple[Registration, ...] = ()  # replacement invoices (R4)
    charges: tuple[Registration, ...] = ()  # everything else that is owed (R1, R3)
    arranged: tuple[Registration, ...] = ()  # under a payment arrangement: need not be paid now
    unreadable: tuple[Registration, ...] = ()  # no readable amount


def evidence_from_registrations(registrations: Iterable[Registration], words: Sequence[str] = ()) -> WiseEvidence:
    """Sort open registrations (the 42 of the site's flag) by what they show.

    A registration with a payment-arrangement date need not be paid now and
    counts for nothing; one without a readable positive amount is kept aside.
    A replacement invoice (its description or title holds one of ``words``,
    case-insensitively) is also a charge."""
    lowered = [w.casefold() for w in words if w.strip()]
    fee, invoices, charges, arranged, unreadable = [], [], [], [], []
    for reg in registrations:
        amount = reg.amount_value
        if reg.under_arrangement:
            arranged.append(reg)
            continue
        if amount is None or amount <= 0:
            unreadable.append(reg)
            continue
        if reg.is_contribution:
            fee.append(reg)
            continue
        text = f"{reg.description} {reg.title}".casefold()
        if any(w in text for w in lowered):
            invoices.append(reg)
        charges.append(reg)
    return WiseEvidence(tuple(fee), tuple(invoices), tuple(charges), tuple(arranged), tuple(unreadable))


#: Marks a wrong-PIN budget keyed by the answer's AA, not by a patron number (XI).
AA_IDENTITY = "AA:"


def budget_identity(patron_number: str | None, answered: str | None) -> str | None:
    """Whom the wrong-PIN budget belongs to (``PatronSnapshot.patron_id``):
    the library system's patron number (XI) when it sends one; else the
    patron identifier of its answer (AA, the patron barcode as the library
    system returns it, marked ``AA:``).  Pure Wise sends no patron number:
    then a card answered with its patron's barcode (a replaced card Wise
    still answers for, a temporary number) shares that barcode's budget; a
    library system that echoes the card in AA gives one budget per card."""
    if patron_number:
        return patron_number
    answered = (answered or "").strip()
    return AA_IDENTITY + answered if answered else None


def snapshot_from_sip2(
    answer: PatronInformationResponse | Any,
    *,
    pin_given: bool,
    fields: FieldCodes | None = None,
    dialect: str | Dialect = "standard",
    badge_names: Mapping[str, str] | None = None,
    registrations: Sequence[Registration] | None = None,
    replacement_words: Sequence[str] = (),
    today: date | None = None,
    registrations_note: str | None = None,
) -> PatronSnapshot:
    """Map a 64 (or a 24), and the registrations of a 42 when asked, to a
    policy snapshot with its evidence.

    ``registrations`` None: not asked (or no usable answer; say why in
    ``registrations_note``).  ``badge_names``: badge code -> name.
    ``today``: the date a charge without its own date is given."""
    f = fields or FieldCodes()
    d = dialect_named(dialect)
    today = today or date.today()
    extras: dict[str, list[str]] = {}
    for code, value in answer.extra_fields:
        extras.setdefault(code, []).append(value)

    def one(code: str) -> str | None:
        values = extras.get(code)
        if not values:
            return None
        value = values[0].strip()
        return value or None

    known = answer.valid_patron is not False
    if not pin_given:
        pin = PinCheck.UNKNOWN
    elif answer.valid_patron_password is True:
        pin = PinCheck.RIGHT
    elif answer.valid_patron_password is False:
        pin = PinCheck.WRONG
    else:
        pin = PinCheck.UNKNOWN
    language = language_of(answer.language)
    screen = _screen(answer.screen_message)
    notifications = _notifications(answer.screen_message) if d.notifications else ()
    if not known:
        # The PIN of an unknown card cannot have been checked.
        return PatronSnapshot(
            known=False, pin=PinCheck.UNKNOWN, language=language, screen_message=screen,
            evidence=(Evidence(rule="U1", source="BL", detail="valid patron N: the library system does not know the card"),),
        )  # fmt: skip

    evidence: list[Evidence] = []

    def note(rule: str, source: str, detail: str) -> None:
        evidence.append(Evidence(rule=rule, source=source, detail=detail))

    raw_flags = answer.patron_status.as_dict()
    badge_field = d.badge_code_field
    # A Wise status digit in the status field is Wise's own evidence, not our
    # extension fields: the privilege flags stay (an R1 at Wise still refuses).
    status_values = extras.get(f.subscription_status, ())
    wise_digit = bool(status_values) and status_values[0].strip() in WISE_STATUSES
    detail_codes = tuple(
        c for c in f.detail_codes()
        if c != badge_field and c in extras and not (c == f.subscription_status and wise_digit)
    )  # fmt: skip
    full = bool(detail_codes)
    message_code = getattr(answer, "CODE", "64")

    # -- badges: GL codes (Wise) and badge names (our extension field) -------
    names = {code.strip().casefold(): name for code, name in (badge_names or {}).items()}
    badges: list[Badge] = []
    seen: set[str] = set()
    if badge_field is not None:
        for code in parse_badge_codes(extras.get(badge_field, ())):
            name = names.get(code.casefold(), code)
            if name.casefold() not in seen:
                seen.add(name.casefold())
                badges.append(Badge(name=name, code=code))
    if f.badges != badge_field:
        for value in extras.get(f.badges, ()):
            for text in parse_badge_codes([value]) if "," in value else [value.strip()]:
                name, active = parse_badge(text)
                if name and name.casefold() not in seen:
                    seen.add(name.casefold())
                    badges.append(Badge(name=name, active=active))
    if badges:
        shown = ", ".join(f"{b.code} ({b.name})" if b.code and b.code != b.name else b.name + ("" if b.active else " (switched off)")
                          for b in badges)
        note("B1", f"{badge_field or f.badges}", f"badges sent: {shown}")
    else:
        where = " or ".join(c for c in (badge_field, f.badges if f.badges != badge_field else None) if c)
        note("B1", where or "-", f"no badge field ({where}) in the {message_code}")

    # -- identity, card -------------------------------------------------------
    temporary = (one(f.temporary_number) or "").upper() == "Y"
    if temporary:
        note("C1", f.temporary_number, "temporary patron number: Y")
    status_text = one(f.subscription_status)
    status_word = WISE_STATUSES.get(status_text, status_text) if status_text else None
    if status_word in ("online_unpaid", "online_unfinished"):
        temporary = True
        note("C1", f.subscription_status, f"Wise subscription status {status_text} ({status_word.replace('_', ' ')})")
    card_state = _enum(CardState, one(f.card_state))
    if card_state is not None and card_state is not CardState.ACTIVE:
        note({"replaced": "C2", "blocked": "C3", "lost": "C4"}[card_state.value], f.card_state, f"card state {card_state.value}")
    if raw_flags.get("card_reported_lost"):
        note("C4", f"{message_code} flags", "card reported lost (flag 5)")
    birth = parse_date(one(f.birth_date))
    note("A1", f.birth_date, "birth date present" if birth else f"no readable birth date ({f.birth_date})")

    # -- subscription -----------------------------------------------------------
    status = _enum(SubscriptionStatus, status_word) if status_word else None
    if status is not None and status is not SubscriptionStatus.NORMAL:
        rule = {"invoiced": "R2", "reminder": "R2", "not_paid": "R5", "deregistered": "R6", "invalid": "R6",
                "blacklist": "BL"}[status.value]  # fmt: skip
        note(rule, f.subscription_status, f"subscription status {status_text}" + (f" ({status.value})" if status_text != status.value else ""))
    fee_open = parse_money(one(f.fee_open))
    if fee_open is not None and fee_open > 0:
        note("R2", f.fee_open, f"membership fee open: {_money(fee_open)}")
    wise = evidence_from_registrations(registrations, replacement_words) if registrations is not None else None
    fee_from_registrations = bool(wise and wise.fee)
    if wise is not None:
        for reg in wise.fee:
            note("R2", "42 YZ", _describe(reg))
    type_code = one(f.patron_type)
    end = parse_date(one(f.subscription_end))
    if end is not None:
        note("X1", f.subscription_end, f"subscription ends {end.isoformat()}")
    subscription = None
    if status is not None or type_code is not None or fee_from_registrations or fee_open is not None or end is not None:
        subscription = Subscription(
            type_code=type_code or "",
            start=parse_date(one(f.subscription_start)),
            end=end,
            status=status or SubscriptionStatus.NORMAL,
            fee_paid=not ((fee_open is not None and fee_open > 0) or fee_from_registrations),
        )

    # -- replacement invoice ------------------------------------------------------
    replacement = (one(f.replacement_invoice) or "").upper() == "Y"
    if replacement:
        note("R4", f.replacement_invoice, "replacement invoice: Y")
    if wise is not None and wise.invoices:
        replacement = True
        for reg in wise.invoices:
            note("R4", "42 YZ", _describe(reg) + " (matches a replacement-invoice word)")

    # -- charges: itemised (extension), registrations (42), or BV ------------------
    charges: list[Charge] = []
    owed = parse_money(answer.fee_amount)
    if f.charges in extras:
        for text in extras.get(f.charges, ()):
            parsed = parse_charge(text)
            if parsed is not None:
                charges.append(Charge(amount=parsed[1], created=parsed[0]))
                for rule in ("R1", "R3"):
                    note(rule, f.charges, f"charge {_money(parsed[1])} created {parsed[0].isoformat()}")
    elif wise is not None:
        for reg in wise.charges:
            created = reg.created_date
            charges.append(Charge(amount=reg.amount_value, created=created or today))
            for rule in ("R1", "R3"):
                note(rule, "42 YZ", _describe(reg) + ("" if created else " (taken as today)"))
        if not wise.charges:
            note("R1", "42 YZ", "no open registrations other than the membership fee")
        for reg in wise.arranged:
            note("R1", "42 YZ", _describe(reg) + " (payment arrangement: not counted)")
    elif owed is not None:
        # No itemised charges: what is owed (BV) less the membership fee, as
        # one charge of today (R1 works, R3 cannot be told).
        rest = owed - (fee_open or Decimal(0))
        why = f" ({registrations_note})" if registrations_note else ""
        if rest > 0:
            charges.append(Charge(amount=rest, created=today))
            detail = f"amount owed {_money(owed)}" + (f" less membership fee {_money(fee_open)}" if fee_open else "")
            note("R1", f"{message_code} BV", detail + f", as one charge of today: nothing itemises the charges{why}")
        else:
            note("R1", f"{message_code} BV", f"amount owed {_money(owed)}{why}")
    else:
        note("R1", "-", "nothing tells the charges (no BV, no registrations, no charges field)")

    # -- flags ----------------------------------------------------------------------
    if full:
        flags = PatronStatusFlags(**{k: (False if k in _PRIVILEGES else v) for k, v in raw_flags.items()})
    else:
        flags = PatronStatusFlags(**raw_flags)
        denied = [word for name, word in _PRIVILEGE_WORDS.items() if raw_flags.get(name)]
        if denied:
            text = "; ".join(denied)
            note("LS", f"{message_code} flags", text + (f"; AF: {screen}" if screen else "; no AF text"))
    flags_only = not (full or wise is not None or charges or badges or subscription is not None or replacement)
    return PatronSnapshot(
        identified_by=IdentifiedBy.TEMPORARY_NUMBER if temporary else IdentifiedBy.CARD,
        card_state=card_state,
        subscription=subscription,
        charges=tuple(charges),
        replacement_invoice=replacement,
        badges=tuple(badges),
        birth_date=birth,
        pin=pin,
        language=language,
        branch=one(f.home_branch),
        flags=flags,
        flags_only=flags_only,
        screen_message=screen,
        evidence=tuple(evidence),
        notifications=notifications,
        patron_id=budget_identity(one(f.patron_number), answer.patron_identifier),
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


def _list_ids(values: Iterable[str], limit: int) -> tuple[list[str], int]:
    """Item ids of a 64 list: trimmed, empties and repeats dropped, at most
    ``limit``; and how many more there were."""
    out: list[str] = []
    seen: set[str] = set()
    more = 0
    for value in values:
        item = value.strip()
        if not item or item in seen:
            continue
        seen.add(item)
        if len(out) < limit:
            out.append(item)
        else:
            more += 1
    return out, more


class Sip2LibrarySystem(LibrarySystem):
    """A :class:`LibrarySystem` over one SIP2 connection.

    ``dialect``: "standard" (default here) or "wise"; ``badges``: badge code
    -> name; ``registrations_flag``: the 41 flag (Wise; "" = off);
    ``account_window``: list entries asked for the account screen (BP1..BQ);
    ``account_item_lookups``: at most this many 17s for its titles."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        fields: FieldCodes | Any | None = None,
        client: Sip2Client | None = None,
        dialect: str | Dialect = "standard",
        badges: Mapping[str, str] | None = None,
        registrations_flag: str = "FB",
        replacement_invoice_words: Sequence[str] = ("nota", "materiaalvergoeding"),
        account_window: int = 50,
        account_item_lookups: int = 20,
    ) -> None:
        self.settings = settings
        self.fields = FieldCodes.from_settings(fields)
        register_sensitive_codes(self.fields.personal_codes())
        self.client = client or Sip2Client(settings)
        self.dialect = dialect_named(dialect)
        self.badges = dict(badges or {})
        flag = (registrations_flag or "").strip().upper()
        self.registrations_flag = flag if self.dialect.registrations else ""
        self.replacement_invoice_words = tuple(replacement_invoice_words)
        self.account_window = max(1, int(account_window))
        self.account_item_lookups = max(0, int(account_item_lookups))
        self._registrations_off_until = 0.0
        self._registrations_failures = 0
        self._registrations_note: str | None = None

    # ------------------------------------------------------------------ plumbing

    async def start(self) -> None:
        """Connect and log in now (a wrong account raises LibrarySystemLoginRefused)."""
        await self._call(self._ensure_connected())

    async def ping(self) -> None:
        """Ask the library system for its status (a 99); raises when it cannot be reached."""
        async def go() -> None:
            await self._ensure_connected()
            await self.client.sc_status()

        await self._call(go())

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

    # ------------------------------------------------------------------ the 98

    @property
    def acs_status(self):  # noqa: ANN201 - kiosk.sip2.messages.AcsStatus | None
        return self.client.acs_status

    def supports(self, code: str) -> bool:
        """Whether the library system's last 98 marks request ``code`` as
        supported (True when no 98 came, or for codes outside BX)."""
        status = self.client.acs_status
        return status is None or status.supports(code)

    @property
    def accepts_offline(self) -> bool:
        """False when the last 98 says offline (no-block) transactions are not accepted."""
        status = self.client.acs_status
        return status is None or status.offline_ok

    def _refuse_unsupported(self, code: str, what: str) -> None:
        if not self.supports(code):
            raise LibrarySystemNotSupported(f"the library system does not support {what} ({code}), says its status (BX)")

    def _check_circulation(self, code: str, no_block: bool) -> None:
        status = self.client.acs_status
        what = {"11": "checkout", "09": "check-in", "29": "renewal"}[code]
        self._refuse_unsupported(code, what + "s")
        if status is None:
            return
        if no_block and not status.offline_ok:
            raise LibrarySystemNotSupported(
                f"the library system does not accept offline transactions now (98 offline_ok N); the {what} stays queued"
            )
        if code == "11" and not status.checkout_ok:
            raise LibrarySystemNotSupported("the library system does not allow checkouts now (98 checkout_ok N)")
        if code == "09" and not status.checkin_ok:
            raise LibrarySystemNotSupported("the library system does not allow check-ins now (98 checkin_ok N)")

    # ------------------------------------------------------------------ patrons

    async def _patron(
        self, card: str, pin: str | None, summary: str | None = None, *, language: str | None = None, **window: int
    ) -> Any:
        """A 63 (or a 23); *language*: the patron's screen language, sent in the
        request's language field (None: 000, the library system chooses)."""
        code = {"language": language_code(language)} if language else {}
        if self.supports("63"):
            return await self._request("patron_information", card, pin, summary, **window, **code)
        if summary is None and self.supports("23"):
            return await self._request("patron_status", card, pin, **code)
        raise LibrarySystemNotSupported("the library system supports neither patron information (63) nor patron status (23)")

    async def _registrations(self, card: str, pin: str | None) -> list[Registration] | None:
        """The patron's open registrations (41/42), or None when not asked or
        not answered (``_registrations_note`` says why)."""
        if not self.registrations_flag:
            self._registrations_note = "registrations (41) are off at this site"
            return None
        if _time.monotonic() < self._registrations_off_until:
            return None
        try:
            answer: RegistrationsResponse = await self._request("registrations", card, pin, flag=self.registrations_flag)
        except (LibrarySystemUnavailable, LibrarySystemProtocolError) as exc:
            if isinstance(exc, LibrarySystemLoginRefused):
                raise
            self._registrations_failures += 1
            pause = min(REGISTRATIONS_RETRY_SECONDS * 2 ** (self._registrations_failures - 1), REGISTRATIONS_RETRY_MAX)
            self._registrations_off_until = _time.monotonic() + pause
            self._registrations_note = "the library system gave no usable answer to the registrations request (41)"
            log.warning(
                "no usable answer to the registrations request (41, flag %s): %s; charges from BV for %d minutes "
                "(set [library.wise] registrations = \"\" when SIP2+ is not licensed)",
                self.registrations_flag, exc, pause // 60,
            )
            return None
        self._registrations_failures = 0
        return list(answer.registrations)

    async def identify(self, card: str, pin: str | None = None, *, language: str | None = None) -> PatronSnapshot:
        answer = await self._patron(card, pin, language=language)
        registrations = None
        self._registrations_note = None
        if answer.valid_patron is not False and answer.valid_patron_password is not False:
            registrations = await self._registrations(card, pin)
        return snapshot_from_sip2(
            answer,
            pin_given=bool(pin),
            fields=self.fields,
            dialect=self.dialect,
            badge_names=self.badges,
            registrations=registrations,
            replacement_words=self.replacement_invoice_words,
            registrations_note=self._registrations_note,
        )

    async def registrations(self, card: str, pin: str | None = None) -> tuple[RegistrationInfo, ...]:
        """Every registration the site's 41 flag lists, as sent (for staff and
        the pay flow); raises LibrarySystemNotSupported when registrations are off."""
        if not self.registrations_flag:
            raise LibrarySystemNotSupported("registrations (41/42) are off: [library] dialect = \"wise\" and [library.wise] registrations")
        answer: RegistrationsResponse = await self._request("registrations", card, pin, flag=self.registrations_flag)
        return tuple(registration_info(r) for r in answer.registrations)

    async def account(self, card: str, pin: str | None = None, *, language: str | None = None) -> Account:
        window = {"start_item": 1, "end_item": self.account_window, "language": language}
        charged = await self._patron(card, pin, "charged", **window)
        snapshot = snapshot_from_sip2(
            charged, pin_given=bool(pin), fields=self.fields, dialect=self.dialect, badge_names=self.badges
        )
        if not snapshot.known:
            return Account(patron=snapshot, screen_message=_screen(charged.screen_message))
        ready = await self._patron(card, pin, "hold", **window)
        waiting = await self._patron(card, pin, "unavailable", **window)
        loan_ids, more_loans = _list_ids(charged.charged_items, self.account_window)
        ready_ids, more_ready = _list_ids(ready.hold_items, self.account_window)
        waiting_ids, more_waiting = _list_ids(waiting.unavailable_hold_items, self.account_window)
        more_loans += max(0, (charged.charged_items_count or 0) - len(loan_ids) - more_loans)
        lookups = self.account_item_lookups if self.supports("17") else 0
        infos: dict[str, ItemInfo | None] = {}
        for item_id in [*loan_ids, *ready_ids, *waiting_ids]:
            if item_id in infos:
                continue
            if len(infos) >= lookups:
                break
            try:
                infos[item_id] = await self.item_information(item_id)
            except (LibrarySystemProtocolError, LibrarySystemRequestError):
                infos[item_id] = None
        clock = getattr(self, "_clock", None)  # the embedded library's injected clock
        today = clock().date() if clock is not None else date.today()
        loans = []
        for item_id in loan_ids:
            info = infos.get(item_id)
            due = info.due if info else None
            loans.append(LoanInfo(item_id=item_id, title=info.title if info else "", due=due,
                                  overdue=due is not None and due < today))
        holds = []
        for item_id, is_ready in [(i, True) for i in ready_ids] + [(i, False) for i in waiting_ids]:
            info = infos.get(item_id)
            holds.append(HoldInfo(item_id=item_id, title=info.title if info else "", ready=is_ready,
                                  pickup_branch=info.permanent_location if info else None))
        return Account(
            patron=snapshot,
            name=charged.personal_name,
            loans=tuple(loans),
            holds=tuple(holds),
            fee_amount=parse_money(charged.fee_amount),
            screen_message=_screen(charged.screen_message),
            notifications=snapshot.notifications,
            more_loans=more_loans,
            more_holds=more_ready + more_waiting,
        )

    async def end_session(self, card: str) -> None:
        if not self.supports("35"):
            return
        await self._request("end_session", card)

    async def pay(self, card: str, amount: Decimal, *, membership_fee: bool = False) -> PaymentResult:
        self._refuse_unsupported("37", "fee paid")
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

    async def pay_registration(
        self, card: str, adm_id: str, amount: Decimal, *, transaction_id: str, pin: str | None = None,
        payment_type: int | None = None,
    ) -> PaymentResult:
        """Pay one registration by its adm_id (a 37 with CG = adm_id).
        ``transaction_id`` (BK): unique per payment, the same on its retry."""
        self._refuse_unsupported("37", "fee paid")
        answer = await self._request(
            "pay_registration", card, adm_id, f"{Decimal(amount).quantize(Decimal('0.01'))}",
            transaction_id=transaction_id, pin=pin, payment_type=payment_type,
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
        hold_bin = None
        if is_checkin and self.dialect.hold_bins and sort_bin is not None:
            hold_bin = HOLD_BINS.get(sort_bin.strip())
        questions: tuple[str, ...] = ()
        if not is_checkin and self.dialect.questions:
            questions = tuple(q.strip() for q in answer.extras(WISE_QUESTION_FIELD) if q.strip())
        hold_shelf = bool(is_checkin and answer.ok and answer.alert and (sort_bin or "").upper().startswith("HOLD"))
        return TransactionResult(
            ok=answer.ok,
            item_id=answer.item_identifier or item,
            title=answer.title_identifier or "",
            due=None if is_checkin else parse_due(answer.due_date),
            screen_message=_screen(answer.screen_message),
            renewal=bool(getattr(answer, "renewal_ok", False)) and isinstance(answer, CheckoutResponse),
            desensitize=None if is_checkin else answer.desensitize,
            resensitize=answer.resensitize if is_checkin else None,
            hold_shelf=hold_shelf or (bool(answer.ok) and hold_bin == "hold_shelf"),
            sort_bin=sort_bin,
            alert=bool(is_checkin and answer.alert),
            media_type=answer.media_type,
            parts=self._parts(answer),
            permanent_location=answer.permanent_location if is_checkin else None,
            hold_bin=hold_bin if answer.ok else None,
            questions=questions,
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
        self._check_circulation("11", no_block)
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
        self._check_circulation("29", no_block)
        answer = await self._request(
            "renew", card, item, pin, no_block=no_block, nb_due_date=_due_datetime(due) if no_block else None
        )
        return self._item_result(answer, item)

    async def renew_all(self, card: str, *, pin: str | None = None) -> RenewAllResult:
        self._refuse_unsupported("65", "renew all")
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
        self._check_circulation("09", no_block)
        answer = await self._request("checkin", item, return_date=return_date, no_block=no_block)
        return self._item_result(answer, item)

    async def item_information(self, item: str) -> ItemInfo:
        self._refuse_unsupported("17", "item information")
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

