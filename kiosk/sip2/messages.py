"""Typed SIP2 2.00 messages: frozen objects that validate when built.

Every message class is a frozen, slotted dataclass with keyword-only fields,
one class per command code (``LoginRequest.CODE == "93"``).  Field types:

- Y/N flags and 0/1 "ok" flags are ``bool``; Y/N/U flags are ``bool | None``
  (``None`` = unknown);
- fixed numeric fields (language, timeout period, counts, circulation status,
  fee type, ...) are ``int`` (4-digit counts may be blank: ``None``);
- 18-character dates are ``datetime`` (blank: ``None``); the codec turns them
  into wire text with the time zone handled explicitly (see codec.py);
- the 14-character patron status is a :class:`PatronStatus` of named flags;
  the 10-character summary of a 63 is a frozenset of :class:`Summary`;
- variable fields are ``str`` (``None`` when absent, for optional ones),
  repeated fields (AS, AT, AU, AV, BU, CD, BM, BN, AF, AG) are tuples of str;
- ``extra_fields`` keeps unknown variable fields (and repeats of
  non-repeatable ones) in order as ``(code, value)`` pairs; they are sent
  again on encode, after the known fields.  Nothing a peer says is lost.

Building a message with a bad value raises :class:`LocalSip2Error` naming
the field.  Messages decoded from the wire are built by the codec without
the local length rule (a peer may send a 300-character screen message).

The ``repr`` of a message never shows passwords, PINs, patron identifiers,
names or addresses (fields CO, AD, AC, AA, AE, BD, BE, BF are masked).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from .errors import LocalSip2Error

MAX_FIELD_LENGTH = 255

# Field codes whose values are personal or secret: masked in repr and in the
# frame redaction used by every log line (see redact.py).
# The extension codes a site configures (birth date, ...) are added with
# :func:`register_sensitive_codes` (the adapter and the library server do it
# from their configured codes), so a moved birth date is masked too.
#: YZ (Wise registrations: descriptions, titles, amounts) is personal as well.
SENSITIVE_CODES: frozenset[str] = frozenset({"AA", "AD", "AC", "AE", "CO", "BD", "BE", "BF", "PB", "DA", "CY", "YZ"})
_sensitive: set[str] = set(SENSITIVE_CODES)


def register_sensitive_codes(codes: Iterable[str]) -> None:
    """Mask the values of ``codes`` too, in every message repr (configured
    extension codes holding personal data).  Codes are only ever added."""
    for code in codes:
        if isinstance(code, str) and len(code) == 2:
            _sensitive.add(code)


def sensitive_codes() -> frozenset[str]:
    """Every code masked in reprs: SENSITIVE_CODES and the registered ones."""
    return frozenset(_sensitive)


class _Required:
    """Default of a field the caller must give."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def now() -> datetime:
    """The current time as an aware local datetime, whole seconds."""
    return datetime.now(timezone.utc).astimezone().replace(microsecond=0)


# ---------------------------------------------------------------------------
# Patron status and summary
# ---------------------------------------------------------------------------

PATRON_STATUS_FLAGS: tuple[str, ...] = (
    "charge_privileges_denied",
    "renewal_privileges_denied",
    "recall_privileges_denied",
    "hold_privileges_denied",
    "card_reported_lost",
    "too_many_items_charged",
    "too_many_items_overdue",
    "too_many_renewals",
    "too_many_claims_of_items_returned",
    "too_many_items_lost",
    "excessive_outstanding_fines",
    "excessive_outstanding_fees",
    "recall_overdue",
    "too_many_items_billed",
)


@dataclass(frozen=True, slots=True)
class PatronStatus:
    """The 14-character patron status field as named flags (position order)."""

    charge_privileges_denied: bool = False
    renewal_privileges_denied: bool = False
    recall_privileges_denied: bool = False
    hold_privileges_denied: bool = False
    card_reported_lost: bool = False
    too_many_items_charged: bool = False
    too_many_items_overdue: bool = False
    too_many_renewals: bool = False
    too_many_claims_of_items_returned: bool = False
    too_many_items_lost: bool = False
    excessive_outstanding_fines: bool = False
    excessive_outstanding_fees: bool = False
    recall_overdue: bool = False
    too_many_items_billed: bool = False
    _wire: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in PATRON_STATUS_FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise LocalSip2Error(f"PatronStatus.{name} must be a bool", field=name)
        wire = "".join("Y" if getattr(self, name) else " " for name in PATRON_STATUS_FLAGS)
        object.__setattr__(self, "_wire", wire)

    @classmethod
    def from_wire(cls, text: str) -> PatronStatus:
        """Parse the 14 characters: ``Y`` (any case) is set, anything else is not."""
        cached = _STATUS_CACHE.get(text)
        if cached is not None:
            return cached
        flags = [c in "Yy" for c in text[:14].ljust(14)]
        status = cls(*flags)
        if len(_STATUS_CACHE) < 4096:
            _STATUS_CACHE[text] = status
        return status

    def to_wire(self) -> str:
        return self._wire

    def as_dict(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in PATRON_STATUS_FLAGS}

    def set_flags(self) -> tuple[str, ...]:
        """Names of the flags that are set, in position order."""
        return tuple(name for name in PATRON_STATUS_FLAGS if getattr(self, name))

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in PATRON_STATUS_FLAGS)


_STATUS_CACHE: dict[str, PatronStatus] = {}


class Summary(enum.IntEnum):
    """Positions of the 10-character summary field of a 63 request."""

    HOLD = 0
    OVERDUE = 1
    CHARGED = 2
    FINE = 3
    RECALL = 4
    UNAVAILABLE = 5
    FEE = 6  # position 7: fee items, used by some library systems
    POSITION_8 = 7
    POSITION_9 = 8
    POSITION_10 = 9

    @classmethod
    def parse(cls, value: str | int | Summary) -> Summary:
        """``Summary.parse("charged")`` → ``Summary.CHARGED``."""
        if isinstance(value, Summary):
            return value
        if isinstance(value, int):
            return cls(value)
        key = value.strip().upper()
        aliases = {"HOLDS": "HOLD", "FINES": "FINE", "FEES": "FEE", "UNAVAILABLE_HOLDS": "UNAVAILABLE"}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise LocalSip2Error(f"unknown summary kind {value!r}", field="summary") from None


def summary_to_wire(kinds: frozenset[Summary]) -> str:
    return "".join("Y" if s in kinds else " " for s in Summary)


def summary_from_wire(text: str) -> frozenset[Summary]:
    return frozenset(Summary(i) for i, c in enumerate(text[:10]) if c in "Yy")


# ---------------------------------------------------------------------------
# Field specifications
# ---------------------------------------------------------------------------

# Fixed-field kinds
K_CHAR = "char"  # str of exactly ``width`` characters
K_YN = "yn"  # bool, Y/N
K_OK = "ok"  # bool, 1/0
K_YNU = "ynu"  # bool | None, Y/N/U
K_DATE = "date"  # datetime | None (blank)
K_INT = "int"  # int, zero padded to width
K_COUNT = "count"  # int | None (blank), zero padded to width
K_STATUS = "status"  # PatronStatus
K_SUMMARY = "summary"  # frozenset[Summary]
# Variable-field kinds
K_STR = "str"  # str (required: always sent) or str | None (optional)
K_LIST = "list"  # tuple[str, ...], repeated field
K_BOOL = "bool"  # bool | None, Y/N
K_VINT = "vint"  # int | None
K_VDATE = "vdate"  # datetime | None, 18-character date


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: str
    width: int = 0  # fixed fields
    code: str = ""  # variable fields: two-letter code
    required: bool = False  # variable fields: always sent, "" when absent on the wire

    @property
    def fixed(self) -> bool:
        return not self.code


def _fixed(kind: str, width: int, default: Any = REQUIRED, factory: Any = None) -> Any:
    meta = {"sip2": (kind, width, "", False)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _var(code: str, kind: str = K_STR, *, required: bool = False, default: Any = None, width: int = 0) -> Any:
    meta = {"sip2": (kind, width, code, required)}
    if kind == K_LIST:
        return field(default=(), metadata=meta)
    return field(default=default, metadata=meta)


def _date() -> Any:
    return _fixed(K_DATE, 18, factory=now)


MESSAGE_TYPES: dict[str, type[Message]] = {}


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Message:
    """Base of every SIP2 message.  ``CODE`` is the two-digit command code."""

    CODE: ClassVar[str] = ""
    SPEC: ClassVar[tuple[FieldSpec, ...]] = ()
    FIXED: ClassVar[tuple[FieldSpec, ...]] = ()
    VARIABLE: ClassVar[tuple[FieldSpec, ...]] = ()
    BY_CODE: ClassVar[dict[str, FieldSpec]] = {}

    extra_fields: tuple[tuple[str, str], ...] = ()

    @property
    def command_code(self) -> str:
        return self.CODE

    def __post_init__(self) -> None:
        cls_name = type(self).__name__
        for spec in self.SPEC:
            value = getattr(self, spec.name)
            fixed = _validate(cls_name, spec, value)
            if fixed is not value:
                object.__setattr__(self, spec.name, fixed)
        extras = self.extra_fields
        if not isinstance(extras, tuple):
            extras = tuple(extras)
        checked = []
        for pair in extras:
            try:
                code, value = pair
            except (TypeError, ValueError):
                raise LocalSip2Error(f"{cls_name}.extra_fields: each item must be a (code, value) pair", field="extra_fields") from None
            if not isinstance(code, str) or not 1 <= len(code) <= 2 or _bad_chars(code):
                raise LocalSip2Error(f"{cls_name}.extra_fields: field code {code!r} must be 2 characters", field="extra_fields")
            _check_text(cls_name, f"extra_fields[{code}]", value)
            checked.append((code, value))
        object.__setattr__(self, "extra_fields", tuple(checked))

    # -- helpers -----------------------------------------------------------

    def extra(self, code: str) -> str | None:
        """The first value of an unknown field ``code`` (e.g. ``"CV"``), or None."""
        for c, v in self.extra_fields:
            if c == code:
                return v
        return None

    def extras(self, code: str) -> tuple[str, ...]:
        """Every value of an unknown field ``code``, in order."""
        return tuple(v for c, v in self.extra_fields if c == code)

    def replace(self, **changes: Any) -> Message:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = []
        for spec in self.SPEC:
            value = getattr(self, spec.name)
            if spec.code in _sensitive and value:
                value = f"<{len(value)} chars>"
            parts.append(f"{spec.name}={value!r}")
        if self.extra_fields:
            shown = tuple((c, f"<{len(v)} chars>" if c in _sensitive else v) for c, v in self.extra_fields)
            parts.append(f"extra_fields={shown!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def _bad_chars(text: str) -> bool:
    return "|" in text or "\r" in text or "\n" in text or "\x00" in text


def _check_text(cls_name: str, name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise LocalSip2Error(f"{cls_name}.{name} must be a str, not {type(value).__name__}", field=name)
    if len(value) > MAX_FIELD_LENGTH:
        raise LocalSip2Error(f"{cls_name}.{name} is {len(value)} characters long (at most {MAX_FIELD_LENGTH})", field=name)
    if _bad_chars(value):
        raise LocalSip2Error(f"{cls_name}.{name} contains '|', CR, LF or NUL", field=name)


def _validate(cls_name: str, spec: FieldSpec, value: Any) -> Any:
    """Check one field; return the (possibly normalised) value."""
    name = spec.name
    kind = spec.kind
    if value is REQUIRED:
        raise LocalSip2Error(f"{cls_name}.{name} is required", field=name)
    if kind == K_STR:
        if value is None and not spec.required:
            return value
        _check_text(cls_name, name, value)
        return value
    if kind == K_LIST:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise LocalSip2Error(f"{cls_name}.{name} must be a tuple of str", field=name)
        value = tuple(value)
        for item in value:
            _check_text(cls_name, name, item)
        return value
    if kind in (K_YN, K_OK):
        if not isinstance(value, bool):
            raise LocalSip2Error(f"{cls_name}.{name} must be a bool", field=name)
        return value
    if kind in (K_YNU, K_BOOL):
        if value is not None and not isinstance(value, bool):
            raise LocalSip2Error(f"{cls_name}.{name} must be a bool or None", field=name)
        return value
    if kind in (K_DATE, K_VDATE):
        if value is None:
            return value
        if not isinstance(value, datetime):
            raise LocalSip2Error(f"{cls_name}.{name} must be a datetime or None", field=name)
        if not 1 <= value.year <= 9999:
            raise LocalSip2Error(f"{cls_name}.{name} has a year outside 1..9999", field=name)
        return value.replace(microsecond=0) if value.microsecond else value
    if kind in (K_INT, K_COUNT, K_VINT):
        if value is None and kind != K_INT:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise LocalSip2Error(f"{cls_name}.{name} must be an int", field=name)
        if value < 0:
            raise LocalSip2Error(f"{cls_name}.{name} must not be negative", field=name)
        if spec.width and value >= 10**spec.width:
            raise LocalSip2Error(f"{cls_name}.{name} does not fit in {spec.width} digits", field=name)
        return value
    if kind == K_CHAR:
        if not isinstance(value, str) or len(value) != spec.width:
            raise LocalSip2Error(f"{cls_name}.{name} must be exactly {spec.width} characters", field=name)
        if _bad_chars(value):
            raise LocalSip2Error(f"{cls_name}.{name} contains '|', CR, LF or NUL", field=name)
        return value
    if kind == K_STATUS:
        if isinstance(value, str):
            if len(value) != 14:
                raise LocalSip2Error(f"{cls_name}.{name} must be 14 characters", field=name)
            return PatronStatus.from_wire(value)
        if not isinstance(value, PatronStatus):
            raise LocalSip2Error(f"{cls_name}.{name} must be a PatronStatus", field=name)
        return value
    if kind == K_SUMMARY:
        if value is None:
            return frozenset()
        if isinstance(value, (str, int)):
            value = (value,)
        try:
            return frozenset(Summary.parse(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise LocalSip2Error(f"{cls_name}.{name}: {exc}", field=name) from None
    raise AssertionError(kind)  # pragma: no cover


def _message(code: str):
    """Class decorator: make a frozen message dataclass and register it."""

    def wrap(cls: type) -> type:
        cls = dataclass(frozen=True, slots=True, kw_only=True, repr=False)(cls)
        specs = []
        for f in dataclasses.fields(cls):
            meta = f.metadata.get("sip2")
            if meta is None:
                continue
            kind, width, fcode, required = meta
            specs.append(FieldSpec(f.name, kind, width, fcode, required))
        cls.CODE = code
        cls.SPEC = tuple(specs)
        cls.FIXED = tuple(s for s in specs if s.fixed)
        cls.VARIABLE = tuple(s for s in specs if not s.fixed)
        cls.BY_CODE = {s.code: s for s in cls.VARIABLE}
        MESSAGE_TYPES[code] = cls
        return cls

    return wrap


# Common field shorthands ---------------------------------------------------


def _ao() -> Any:
    return _var("AO", required=True, default="")


def _af() -> Any:
    return _var("AF", K_LIST)


def _ag() -> Any:
    return _var("AG", K_LIST)


# ---------------------------------------------------------------------------
# 93/94 login, 99/98 status, 97/96 resend
# ---------------------------------------------------------------------------


@_message("93")
class LoginRequest(Message):
    uid_algorithm: str = _fixed(K_CHAR, 1, "0")
    pwd_algorithm: str = _fixed(K_CHAR, 1, "0")
    login_user_id: str = _var("CN", required=True, default=REQUIRED)
    login_password: str = _var("CO", required=True, default=REQUIRED)
    location_code: str | None = _var("CP")


@_message("94")
class LoginResponse(Message):
    ok: bool = _fixed(K_OK, 1)


@_message("99")
class ScStatus(Message):
    status_code: int = _fixed(K_INT, 1, 0)  # 0 ok, 1 out of paper, 2 shutting down
    max_print_width: int = _fixed(K_INT, 3, 80)
    protocol_version: str = _fixed(K_CHAR, 4, "2.00")


# Order of the 16 "supported messages" (BX) positions.
SUPPORTED_MESSAGES_ORDER: tuple[str, ...] = (
    "23", "11", "09", "01", "99", "97", "93", "63", "35", "37", "17", "19", "25", "15", "29", "65",
)  # fmt: skip


@_message("98")
class AcsStatus(Message):
    online_status: bool = _fixed(K_YN, 1)
    checkin_ok: bool = _fixed(K_YN, 1)
    checkout_ok: bool = _fixed(K_YN, 1)
    acs_renewal_policy: bool = _fixed(K_YN, 1)
    status_update_ok: bool = _fixed(K_YN, 1)
    offline_ok: bool = _fixed(K_YN, 1)
    timeout_period: int = _fixed(K_INT, 3, 30)  # tenths of seconds, 000 = none
    retries_allowed: int = _fixed(K_INT, 3, 3)  # 999 = unknown
    date_time_sync: datetime | None = _date()
    protocol_version: str = _fixed(K_CHAR, 4, "2.00")
    institution_id: str = _ao()
    library_name: str | None = _var("AM")
    supported_messages: str = _var("BX", required=True, default="Y" * 16)
    terminal_location: str | None = _var("AN")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()

    def supports(self, code: str) -> bool:
        """Whether the BX field marks request ``code`` (e.g. "63") as supported.
        Codes outside the 16 positions, or a short BX, count as supported."""
        try:
            pos = SUPPORTED_MESSAGES_ORDER.index(code)
        except ValueError:
            return True
        bx = self.supported_messages
        return pos >= len(bx) or bx[pos] in "Yy"


def supported_messages_field(codes: Iterable[str]) -> str:
    """Build a BX value from the request codes an ACS supports."""
    wanted = set(codes)
    return "".join("Y" if c in wanted else "N" for c in SUPPORTED_MESSAGES_ORDER)


@_message("97")
class RequestAcsResend(Message):
    """97, SC to ACS: resend your last message."""


@_message("96")
class RequestScResend(Message):
    """96, ACS to SC: resend your last message (we could not read it)."""


# ---------------------------------------------------------------------------
# Patron: 23/24, 63/64, 01, 35/36, 37/38
# ---------------------------------------------------------------------------


@_message("23")
class PatronStatusRequest(Message):
    language: int = _fixed(K_INT, 3, 0)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str = _var("AC", required=True, default="")
    patron_password: str = _var("AD", required=True, default="")


@_message("24")
class PatronStatusResponse(Message):
    patron_status: PatronStatus = _fixed(K_STATUS, 14, factory=PatronStatus)
    language: int = _fixed(K_INT, 3, 0)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    personal_name: str = _var("AE", required=True, default="")
    valid_patron: bool | None = _var("BL", K_BOOL)
    valid_patron_password: bool | None = _var("CQ", K_BOOL)
    currency_type: str | None = _var("BH")
    fee_amount: str | None = _var("BV")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("63")
class PatronInformationRequest(Message):
    language: int = _fixed(K_INT, 3, 0)
    transaction_date: datetime | None = _date()
    summary: frozenset[Summary] = _fixed(K_SUMMARY, 10, factory=frozenset)
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")
    patron_password: str | None = _var("AD")
    start_item: int | None = _var("BP", K_VINT)
    end_item: int | None = _var("BQ", K_VINT)


@_message("64")
class PatronInformationResponse(Message):
    patron_status: PatronStatus = _fixed(K_STATUS, 14, factory=PatronStatus)
    language: int = _fixed(K_INT, 3, 0)
    transaction_date: datetime | None = _date()
    hold_items_count: int | None = _fixed(K_COUNT, 4, None)
    overdue_items_count: int | None = _fixed(K_COUNT, 4, None)
    charged_items_count: int | None = _fixed(K_COUNT, 4, None)
    fine_items_count: int | None = _fixed(K_COUNT, 4, None)
    recall_items_count: int | None = _fixed(K_COUNT, 4, None)
    unavailable_holds_count: int | None = _fixed(K_COUNT, 4, None)
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    personal_name: str = _var("AE", required=True, default="")
    hold_items_limit: int | None = _var("BZ", K_VINT, width=4)
    overdue_items_limit: int | None = _var("CA", K_VINT, width=4)
    charged_items_limit: int | None = _var("CB", K_VINT, width=4)
    valid_patron: bool | None = _var("BL", K_BOOL)
    valid_patron_password: bool | None = _var("CQ", K_BOOL)
    currency_type: str | None = _var("BH")
    fee_amount: str | None = _var("BV")
    fee_limit: str | None = _var("CC")
    hold_items: tuple[str, ...] = _var("AS", K_LIST)
    overdue_items: tuple[str, ...] = _var("AT", K_LIST)
    charged_items: tuple[str, ...] = _var("AU", K_LIST)
    fine_items: tuple[str, ...] = _var("AV", K_LIST)
    recall_items: tuple[str, ...] = _var("BU", K_LIST)
    unavailable_hold_items: tuple[str, ...] = _var("CD", K_LIST)
    home_address: str | None = _var("BD")
    email_address: str | None = _var("BE")
    home_phone_number: str | None = _var("BF")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("01")
class BlockPatron(Message):
    card_retained: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    blocked_card_message: str = _var("AL", required=True, default="")
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str = _var("AC", required=True, default="")


@_message("25")
class PatronEnable(Message):
    """25, SC to ACS: lift a block (answered with a 26)."""

    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")
    patron_password: str | None = _var("AD")


@_message("26")
class PatronEnableResponse(Message):
    patron_status: PatronStatus = _fixed(K_STATUS, 14, factory=PatronStatus)
    language: int = _fixed(K_INT, 3, 0)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    personal_name: str = _var("AE", required=True, default="")
    valid_patron: bool | None = _var("BL", K_BOOL)
    valid_patron_password: bool | None = _var("CQ", K_BOOL)
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("35")
class EndPatronSessionRequest(Message):
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")
    patron_password: str | None = _var("AD")


@_message("36")
class EndSessionResponse(Message):
    end_session: bool = _fixed(K_YN, 1, True)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("37")
class FeePaidRequest(Message):
    transaction_date: datetime | None = _date()
    fee_type: int = _fixed(K_INT, 2, 1)  # 01 other/unknown
    payment_type: int = _fixed(K_INT, 2, 0)  # 00 cash, 01 VISA, 02 credit card
    currency_type: str = _fixed(K_CHAR, 3, "EUR")
    fee_amount: str = _var("BV", required=True, default=REQUIRED)
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")
    patron_password: str | None = _var("AD")
    fee_identifier: str | None = _var("CG")
    transaction_id: str | None = _var("BK")


@_message("38")
class FeePaidResponse(Message):
    payment_accepted: bool = _fixed(K_YN, 1)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    transaction_id: str | None = _var("BK")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


# ---------------------------------------------------------------------------
# Items: 11/12, 09/10, 29/30, 65/66, 17/18, 19/20
# ---------------------------------------------------------------------------


@_message("11")
class CheckoutRequest(Message):
    sc_renewal_policy: bool = _fixed(K_YN, 1, False)
    no_block: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    nb_due_date: datetime | None = _fixed(K_DATE, 18, None)
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    terminal_password: str = _var("AC", required=True, default="")
    item_properties: str | None = _var("CH")
    patron_password: str | None = _var("AD")
    fee_acknowledged: bool | None = _var("BO", K_BOOL)
    cancel: bool | None = _var("BI", K_BOOL)


@_message("12")
class CheckoutResponse(Message):
    ok: bool = _fixed(K_OK, 1)
    renewal_ok: bool = _fixed(K_YN, 1, False)
    magnetic_media: bool | None = _fixed(K_YNU, 1, None)
    desensitize: bool | None = _fixed(K_YNU, 1, None)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    title_identifier: str = _var("AJ", required=True, default="")
    due_date: str = _var("AH", required=True, default="")
    fee_type: str | None = _var("BT")
    security_inhibit: bool | None = _var("CI", K_BOOL)
    currency_type: str | None = _var("BH")
    fee_amount: str | None = _var("BV")
    media_type: str | None = _var("CK")
    item_properties: str | None = _var("CH")
    transaction_id: str | None = _var("BK")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("09")
class CheckinRequest(Message):
    no_block: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    return_date: datetime | None = _date()
    current_location: str = _var("AP", required=True, default="")
    institution_id: str = _ao()
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    terminal_password: str = _var("AC", required=True, default="")
    item_properties: str | None = _var("CH")
    cancel: bool | None = _var("BI", K_BOOL)


@_message("10")
class CheckinResponse(Message):
    ok: bool = _fixed(K_OK, 1)
    resensitize: bool = _fixed(K_YN, 1, True)
    magnetic_media: bool | None = _fixed(K_YNU, 1, None)
    alert: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    permanent_location: str = _var("AQ", required=True, default="")
    title_identifier: str | None = _var("AJ")
    sort_bin: str | None = _var("CL")
    patron_identifier: str | None = _var("AA")
    media_type: str | None = _var("CK")
    item_properties: str | None = _var("CH")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("29")
class RenewRequest(Message):
    third_party_allowed: bool = _fixed(K_YN, 1, False)
    no_block: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    nb_due_date: datetime | None = _fixed(K_DATE, 18, None)
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    patron_password: str | None = _var("AD")
    item_identifier: str | None = _var("AB")
    title_identifier: str | None = _var("AJ")
    terminal_password: str | None = _var("AC")
    item_properties: str | None = _var("CH")
    fee_acknowledged: bool | None = _var("BO", K_BOOL)


@_message("30")
class RenewResponse(Message):
    ok: bool = _fixed(K_OK, 1)
    renewal_ok: bool = _fixed(K_YN, 1, False)
    magnetic_media: bool | None = _fixed(K_YNU, 1, None)
    desensitize: bool | None = _fixed(K_YNU, 1, None)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    item_identifier: str = _var("AB", required=True, default="")
    title_identifier: str = _var("AJ", required=True, default="")
    due_date: str = _var("AH", required=True, default="")
    fee_type: str | None = _var("BT")
    security_inhibit: bool | None = _var("CI", K_BOOL)
    currency_type: str | None = _var("BH")
    fee_amount: str | None = _var("BV")
    media_type: str | None = _var("CK")
    item_properties: str | None = _var("CH")
    transaction_id: str | None = _var("BK")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("65")
class RenewAllRequest(Message):
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    patron_password: str | None = _var("AD")
    terminal_password: str | None = _var("AC")
    fee_acknowledged: bool | None = _var("BO", K_BOOL)


@_message("66")
class RenewAllResponse(Message):
    ok: bool = _fixed(K_OK, 1)
    renewed_count: int = _fixed(K_INT, 4, 0)
    unrenewed_count: int = _fixed(K_INT, 4, 0)
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    renewed_items: tuple[str, ...] = _var("BM", K_LIST)
    unrenewed_items: tuple[str, ...] = _var("BN", K_LIST)
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("17")
class ItemInformationRequest(Message):
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")


@_message("18")
class ItemInformationResponse(Message):
    circulation_status: int = _fixed(K_INT, 2, 1)  # 01 other .. 13 lost; 03 available, 04 charged
    security_marker: int = _fixed(K_INT, 2, 0)  # 00 other, 01 none, 02 3M tattle-tape, 03 whisper tape
    fee_type: int = _fixed(K_INT, 2, 1)
    transaction_date: datetime | None = _date()
    hold_queue_length: int | None = _var("CF", K_VINT)
    due_date: str | None = _var("AH")
    recall_date: datetime | None = _var("CJ", K_VDATE)
    hold_pickup_date: datetime | None = _var("CM", K_VDATE)
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    title_identifier: str = _var("AJ", required=True, default="")
    owner: str | None = _var("BG")
    currency_type: str | None = _var("BH")
    fee_amount: str | None = _var("BV")
    media_type: str | None = _var("CK")
    permanent_location: str | None = _var("AQ")
    current_location: str | None = _var("AP")
    item_properties: str | None = _var("CH")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


@_message("19")
class ItemStatusUpdate(Message):
    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    terminal_password: str | None = _var("AC")
    item_properties: str = _var("CH", required=True, default="")


@_message("20")
class ItemStatusUpdateResponse(Message):
    item_properties_ok: bool = _fixed(K_OK, 1)
    transaction_date: datetime | None = _date()
    item_identifier: str = _var("AB", required=True, default=REQUIRED)
    title_identifier: str | None = _var("AJ")
    item_properties: str | None = _var("CH")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


# ---------------------------------------------------------------------------
# Holds: 15/16
# ---------------------------------------------------------------------------

#: Hold modes of a 15: add a hold, delete (cancel) it, change it.
HOLD_ADD, HOLD_DELETE, HOLD_CHANGE = "+", "-", "*"
HOLD_MODES: tuple[str, ...] = (HOLD_ADD, HOLD_DELETE, HOLD_CHANGE)


@_message("15")
class HoldRequest(Message):
    hold_mode: str = _fixed(K_CHAR, 1)  # HOLD_ADD "+", HOLD_DELETE "-", HOLD_CHANGE "*"
    transaction_date: datetime | None = _date()
    expiration_date: datetime | None = _var("BW", K_VDATE)
    pickup_location: str | None = _var("BS")
    hold_type: int | None = _var("BY", K_VINT, width=1)  # 1 other, 2 any copy of a title, 3 this copy, 4 any copy at a branch
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    patron_password: str | None = _var("AD")
    item_identifier: str | None = _var("AB")
    title_identifier: str | None = _var("AJ")
    terminal_password: str | None = _var("AC")
    fee_acknowledged: bool | None = _var("BO", K_BOOL)

    def __post_init__(self) -> None:
        Message.__post_init__(self)  # (no zero-argument super() in a slotted dataclass)
        if self.hold_mode not in HOLD_MODES:
            raise LocalSip2Error(
                f"HoldRequest.hold_mode must be '+' (add), '-' (delete) or '*' (change), not {self.hold_mode!r}",
                field="hold_mode",
            )


@_message("16")
class HoldResponse(Message):
    ok: bool = _fixed(K_OK, 1)
    available: bool = _fixed(K_YN, 1, False)
    transaction_date: datetime | None = _date()
    expiration_date: datetime | None = _var("BW", K_VDATE)
    queue_position: int | None = _var("BR", K_VINT)
    pickup_location: str | None = _var("BS")
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    item_identifier: str | None = _var("AB")
    title_identifier: str | None = _var("AJ")
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()


# ---------------------------------------------------------------------------
# Wise SIP2+: registrations (charges and fees), 41/42
# ---------------------------------------------------------------------------
#
# 41/42 is an OCLC Wise extension ("view unpaid registrations").  What the
# public documentation says and what we assume is in /work/shared/wise-sip2.md
# and docs/sip2-fields.md; every assumed wire form is listed in
# ``kiosk.sip2.dialects.WISE_ASSUMED``.  The layout below is ASSUMED: a
# transaction date, then AO, AA, AC, AD and a ``Y`` in one of FA/FB/FC (which
# letter selects what is not public; the site configures it); the answer is a
# transaction date, AO, AA, one YZ per registration and optional AF/AG.

#: The request flags of a 41 (which one the site's Wise wants is a setting).
REGISTRATION_FLAGS: tuple[str, ...] = ("FA", "FB", "FC")
#: The YZ value separator (documented) and the number of values (documented).
REGISTRATION_SEPARATOR = "~"
REGISTRATION_VALUES = 10
#: YZ value 6, the registration's status (documented).
REGISTRATION_STATUS = {"I": "invoice", "D": "debt collection", "R": "payment arrangement"}
#: YZ value 9, the registration's type (documented).
REGISTRATION_TYPES = {1: "contribution", 2: "fine", 3: "sale", 4: "cash receipt", 6: "theatre"}
REGISTRATION_TYPE_CONTRIBUTION = 1


def parse_wise_date(text: str | None) -> date | None:
    """A Wise date: ``dd-mm-yyyy`` (documented); ``yyyy-mm-dd``, ``yyyymmdd``
    and ``dd/mm/yyyy`` are read too.  None for blank or garbage."""
    if not text:
        return None
    value = text.strip()
    try:
        if len(value) == 10 and value[2] in "-/." and value[5] == value[2]:
            return date(int(value[6:10]), int(value[3:5]), int(value[0:2]))
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
        if len(value) == 8 and value.isdigit():
            return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return None
    return None


def format_wise_date(value: date | None) -> str:
    """``dd-mm-yyyy`` (blank for None)."""
    return "" if value is None else f"{value.day:02d}-{value.month:02d}-{value.year:04d}"


def parse_wise_amount(text: str | None) -> Decimal | None:
    """A Wise amount: dot decimal (a comma is read too); None for blank,
    garbage or a negative value."""
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


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration (charge or fee) of a 42: the ten ``~``-separated values
    of a YZ field, kept as the text the library system sent (trimmed).

    Parsing is lenient: surrounding spaces are trimmed, missing values are
    empty, values past the tenth are kept in ``extra``.  The typed views
    (:attr:`created_date`, :attr:`amount_value`, :attr:`kind_number`, ...)
    are None when a value is blank or unreadable.
    """

    created: str = ""  # 1 creation date, dd-mm-yyyy
    description: str = ""  # 2 e.g. "Boete"
    title: str = ""  # 3 title, or the booking code's description
    based_on: str = ""  # 4 the date the amount is based on (e.g. the return date)
    amount: str = ""  # 5 dot decimal
    status: str = ""  # 6 I invoice, D debt collection, R payment arrangement
    collection_date: str = ""  # 7 handed to debt collection (with D)
    adm_id: str = ""  # 8 the registration's id, used to pay it
    kind: str = ""  # 9 type: 1 contribution, 2 fines etc., 3 sales, 4 cash receipts, 6 theatre
    arrangement_date: str = ""  # 10 payment arrangement: when filled, it need not be paid now
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in _REGISTRATION_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise LocalSip2Error(f"Registration.{name} must be a str", field=name)
            if _bad_chars(value) or REGISTRATION_SEPARATOR in value:
                raise LocalSip2Error(f"Registration.{name} contains '~', '|', CR, LF or NUL", field=name)
        if not isinstance(self.extra, tuple):
            object.__setattr__(self, "extra", tuple(self.extra))

    @classmethod
    def from_wire(cls, text: str) -> Registration:
        """Parse one YZ value (never raises on a peer's text)."""
        parts = [p.strip() for p in text.split(REGISTRATION_SEPARATOR)]
        values = (parts + [""] * REGISTRATION_VALUES)[:REGISTRATION_VALUES]
        extra = tuple(parts[REGISTRATION_VALUES:])
        while extra and not extra[-1]:
            extra = extra[:-1]
        obj = object.__new__(cls)
        for name, value in zip(_REGISTRATION_FIELDS, values):
            object.__setattr__(obj, name, value)
        object.__setattr__(obj, "extra", extra)
        return obj

    @classmethod
    def build(
        cls,
        *,
        created: date | None,
        description: str,
        amount: Decimal | int | str,
        adm_id: str,
        kind: int,
        title: str = "",
        based_on: date | None = None,
        status: str = "I",
        collection_date: date | None = None,
        arrangement_date: date | None = None,
    ) -> Registration:
        """A registration from typed values (amounts with two decimals)."""
        if isinstance(amount, int) and not isinstance(amount, bool):
            text = f"{amount // 100}.{amount % 100:02d}"  # cents
        else:
            text = f"{Decimal(amount).quantize(Decimal('0.01'))}"
        return cls(
            created=format_wise_date(created),
            description=description,
            title=title,
            based_on=format_wise_date(based_on),
            amount=text,
            status=status,
            collection_date=format_wise_date(collection_date),
            adm_id=adm_id,
            kind=str(kind),
            arrangement_date=format_wise_date(arrangement_date),
        )

    def to_wire(self) -> str:
        values = [getattr(self, name) for name in _REGISTRATION_FIELDS] + list(self.extra)
        return REGISTRATION_SEPARATOR.join(values)

    # -- typed views -------------------------------------------------------

    @property
    def created_date(self) -> date | None:
        return parse_wise_date(self.created)

    @property
    def based_on_date(self) -> date | None:
        return parse_wise_date(self.based_on)

    @property
    def collection(self) -> date | None:
        return parse_wise_date(self.collection_date)

    @property
    def arrangement(self) -> date | None:
        return parse_wise_date(self.arrangement_date)

    @property
    def amount_value(self) -> Decimal | None:
        return parse_wise_amount(self.amount)

    @property
    def kind_number(self) -> int | None:
        text = self.kind.strip()
        return int(text) if text.isdigit() and text.isascii() and len(text) <= 3 else None

    @property
    def kind_name(self) -> str:
        number = self.kind_number
        return REGISTRATION_TYPES.get(number, "other") if number is not None else "unknown"

    @property
    def is_contribution(self) -> bool:
        """Type 1: the membership fee."""
        return self.kind_number == REGISTRATION_TYPE_CONTRIBUTION

    @property
    def under_arrangement(self) -> bool:
        """A payment-arrangement date is filled: need not be paid now."""
        return bool(self.arrangement_date.strip())


_REGISTRATION_FIELDS: tuple[str, ...] = (
    "created", "description", "title", "based_on", "amount", "status", "collection_date", "adm_id", "kind",
    "arrangement_date",
)  # fmt: skip


@_message("41")
class RegistrationsRequest(Message):
    """41, Wise SIP2+: the patron's registrations.  Set exactly the flag the
    site's Wise wants (``RegistrationsRequest.for_flag("FB", ...)``)."""

    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    terminal_password: str = _var("AC", required=True, default="")
    patron_password: str | None = _var("AD")
    flag_fa: bool | None = _var("FA", K_BOOL)
    flag_fb: bool | None = _var("FB", K_BOOL)
    flag_fc: bool | None = _var("FC", K_BOOL)

    @classmethod
    def for_flag(cls, flag: str, **fields: Any) -> RegistrationsRequest:
        """A 41 with ``Y`` in ``flag`` (FA, FB or FC) and the other two absent."""
        code = flag.strip().upper()
        if code not in REGISTRATION_FLAGS:
            raise LocalSip2Error(f"the 41 request flag must be FA, FB or FC, not {flag!r}", field="flag")
        fields[f"flag_{code.lower()}"] = True
        return cls(**fields)

    @property
    def flags(self) -> tuple[str, ...]:
        """The request flags set to Y, e.g. ("FB",)."""
        return tuple(c for c in REGISTRATION_FLAGS if getattr(self, f"flag_{c.lower()}"))


@_message("42")
class RegistrationsResponse(Message):
    """42, Wise SIP2+: one YZ per registration (see :class:`Registration`)."""

    transaction_date: datetime | None = _date()
    institution_id: str = _ao()
    patron_identifier: str = _var("AA", required=True, default=REQUIRED)
    registration_lines: tuple[str, ...] = _var("YZ", K_LIST)
    screen_message: tuple[str, ...] = _af()
    print_line: tuple[str, ...] = _ag()

    @property
    def registrations(self) -> tuple[Registration, ...]:
        return tuple(Registration.from_wire(line) for line in self.registration_lines)

    @classmethod
    def of(cls, registrations: Iterable[Registration], **fields: Any) -> RegistrationsResponse:
        """A 42 carrying ``registrations``."""
        return cls(registration_lines=tuple(r.to_wire() for r in registrations), **fields)


# ---------------------------------------------------------------------------
# Anything else
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class UnknownMessage(Message):
    """A message with a command code we have no class for, kept verbatim.

    ``body`` is everything after the two-character code and before the
    AY/AZ trailer; it is sent back unchanged.
    """

    code: str
    body: str = ""

    @property
    def command_code(self) -> str:
        return self.code

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or len(self.code) != 2 or _bad_chars(self.code):
            raise LocalSip2Error("UnknownMessage.code must be 2 characters", field="code")
        if not isinstance(self.body, str) or "\r" in self.body or "\n" in self.body or "\x00" in self.body:
            raise LocalSip2Error("UnknownMessage.body must be a str without CR, LF or NUL", field="body")
        if self.extra_fields:
            raise LocalSip2Error("UnknownMessage keeps its fields in body, not extra_fields", field="extra_fields")

    def fields(self) -> list[tuple[str, str]]:
        """Best-effort split of ``body`` into (code, value) pairs, after any
        fixed part (which cannot be told apart from the first field)."""
        return [(p[:2], p[2:]) for p in self.body.split("|") if p]

    def __repr__(self) -> str:
        return f"UnknownMessage(code={self.code!r}, body=<{len(self.body)} chars>)"


# Which response answers which request.
RESPONSE_FOR: dict[str, str] = {
    "93": "94",
    "99": "98",
    "23": "24",
    "01": "24",
    "63": "64",
    "11": "12",
    "09": "10",
    "29": "30",
    "65": "66",
    "17": "18",
    "37": "38",
    "35": "36",
    "19": "20",
    "15": "16",
    "25": "26",
    "41": "42",
}

REQUEST_TYPES: frozenset[str] = frozenset(RESPONSE_FOR) | {"97"}

__all__ = [
    "AcsStatus",
    "BlockPatron",
    "CheckinRequest",
    "CheckinResponse",
    "CheckoutRequest",
    "CheckoutResponse",
    "EndPatronSessionRequest",
    "EndSessionResponse",
    "FeePaidRequest",
    "FeePaidResponse",
    "FieldSpec",
    "HOLD_ADD",
    "HOLD_CHANGE",
    "HOLD_DELETE",
    "HOLD_MODES",
    "HoldRequest",
    "HoldResponse",
    "ItemInformationRequest",
    "ItemInformationResponse",
    "ItemStatusUpdate",
    "ItemStatusUpdateResponse",
    "LoginRequest",
    "LoginResponse",
    "MESSAGE_TYPES",
    "Message",
    "PATRON_STATUS_FLAGS",
    "REGISTRATION_FLAGS",
    "REGISTRATION_SEPARATOR",
    "REGISTRATION_STATUS",
    "REGISTRATION_TYPES",
    "REGISTRATION_TYPE_CONTRIBUTION",
    "Registration",
    "RegistrationsRequest",
    "RegistrationsResponse",
    "PatronInformationRequest",
    "PatronInformationResponse",
    "PatronEnable",
    "PatronEnableResponse",
    "PatronStatus",
    "PatronStatusRequest",
    "PatronStatusResponse",
    "REQUIRED",
    "RESPONSE_FOR",
    "RenewAllRequest",
    "RenewAllResponse",
    "RenewRequest",
    "RenewResponse",
    "RequestAcsResend",
    "RequestScResend",
    "SENSITIVE_CODES",
    "register_sensitive_codes",
    "sensitive_codes",
    "SUPPORTED_MESSAGES_ORDER",
    "ScStatus",
    "Summary",
    "UnknownMessage",
    "format_wise_date",
    "now",
    "parse_wise_amount",
    "parse_wise_date",
    "supported_messages_field",
]
