"""The data the policy decides on: the patron snapshot, the site rules, the decision.

Everything here is a pydantic v2 model with ``extra="forbid"``.  The snapshot
is built once per patron by the library-system adapter; ``decide`` only reads
it.  ``SiteRules`` is the ``[policy]`` table of the TOML configuration, so its
field types are TOML-friendly (tables, arrays of strings, numbers).
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Action(StrEnum):
    """What the patron wants to do at the self-service kiosk or the door."""

    CHECKOUT = "checkout"
    RENEW = "renew"
    RETURN = "return"
    HOLD = "hold"
    PAY = "pay"
    ENTRY = "entry"


class PeriodKind(StrEnum):
    STAFFED = "staffed"
    UNMANNED = "unmanned"
    CLOSED = "closed"


class IdentifiedBy(StrEnum):
    """How the patron identified at the kiosk."""

    CARD = "card"
    TEMPORARY_NUMBER = "temporary_number"  # online registration: e-books only, no card yet
    EID = "eid"  # Belgian electronic identity card
    UNKNOWN = "unknown"


class CardState(StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"  # "Vervangen": a newer card exists
    BLOCKED = "blocked"  # "Geblokkeerd" / "Pas niet geldig!"
    LOST = "lost"


class SubscriptionStatus(StrEnum):
    NORMAL = "normal"  # Normaal (5)
    INVOICED = "invoiced"  # Gefactureerd: membership fee open
    REMINDER = "reminder"  # Herinnering (3)
    NOT_PAID = "not_paid"  # Niet betaald (4)
    DEREGISTERED = "deregistered"  # Uitgeschreven (9)
    INVALID = "invalid"  # Ongeldig / Opgezegd: as Uitgeschreven
    BLACKLIST = "blacklist"  # Zwarte lijst


class PinCheck(StrEnum):
    UNKNOWN = "unknown"  # not asked (yet) or not checkable
    RIGHT = "right"
    WRONG = "wrong"


_FORBID = ConfigDict(extra="forbid")
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Charge(BaseModel):
    """One charge ("registratie": fine or fee).  The membership fee is NOT a charge."""

    model_config = _FROZEN

    amount: Decimal = Field(ge=0)
    created: _dt.date
    paid: bool = False


class Badge(BaseModel):
    """A patron badge ("klantbadge"); ``active`` False when the badge type is switched off centrally.

    ``code`` is the library system's badge code (Wise: 4 characters, sent in
    GL), when known; ``SiteRules.unmanned_badge`` may name the badge by its
    name or by its code."""

    model_config = _FROZEN

    name: str
    active: bool = True
    code: str | None = None


class Evidence(BaseModel):
    """What the library system sent that a rule was derived from, for staff
    (``bibkiosk check``): the rule id, where it came from (e.g. ``42 YZ``,
    ``64 BV``, ``GL``) and a short English detail (which registration, which
    amount, which date).  Never shown to a patron."""

    model_config = _FROZEN

    rule: str
    source: str
    detail: str


class Subscription(BaseModel):
    """The patron's subscription ("abonnement").  ``end`` is the last valid day."""

    model_config = _FROZEN

    type_code: str
    start: _dt.date | None = None
    end: _dt.date | None = None
    status: SubscriptionStatus = SubscriptionStatus.NORMAL
    fee_paid: bool = True  # membership fee ("contributie", "lidgeld") paid


class PatronStatusFlags(BaseModel):
    """The 14 SIP2 patron-status flags (field of message 64/24), in SIP2 order."""

    model_config = _FROZEN

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

    @classmethod
    def from_sip2(cls, field: str) -> PatronStatusFlags:
        """Parse the 14-character SIP2 field (``Y`` = set, space or ``N`` = not set)."""
        if len(field) != 14:
            from .errors import PolicyError

            raise PolicyError(f"SIP2 patron status must be 14 characters, got {len(field)}")
        names = list(cls.model_fields)
        return cls(**{name: ch in "Yy" for name, ch in zip(names, field)})

    def to_sip2(self) -> str:
        return "".join("Y" if getattr(self, name) else " " for name in type(self).model_fields)


class PatronSnapshot(BaseModel):
    """What the library system told us about one patron, at one moment.

    ``flags`` is set when the library system gave the 14 SIP2 flags;
    ``flags_only`` is True when that is all it gave (no subscription, charges
    or badges known), in which case only the flags are decided on.
    ``known`` is False when the card is unknown to the library system.
    ``evidence`` says which fields the adapter derived each rule's facts from
    (see :func:`evidence_for`); ``notifications`` are the library's public
    notifications for the patron (Wise: up to four AF texts), for the menu
    screen.  Neither is decided on.
    """

    model_config = _FROZEN

    identified_by: IdentifiedBy = IdentifiedBy.CARD
    card_state: CardState | None = None
    subscription: Subscription | None = None
    charges: tuple[Charge, ...] = ()
    replacement_invoice: bool = False
    badges: tuple[Badge, ...] = ()
    birth_date: _dt.date | None = None
    pin: PinCheck = PinCheck.UNKNOWN
    language: str | None = None
    branch: str | None = None
    flags: PatronStatusFlags | None = None
    flags_only: bool = False
    screen_message: str | None = None
    known: bool = True
    evidence: tuple[Evidence, ...] = ()
    notifications: tuple[str, ...] = ()
    #: The library system's own patron number (the same for all of a patron's
    #: cards); not decided on: the kiosk and the door key the wrong-PIN
    #: budget by it.  Without one (pure Wise) the SIP2 adapter gives the
    #: answer's patron identifier, ``AA:<barcode>``; None when neither.
    patron_id: str | None = None
    #: Age verdicts instead of a birth date, for a client the library system
    #: does not tell the birth date (a door): ``(years, at_least)`` pairs,
    #: "the patron is (not) at least *years* old" (A1).
    age_verdicts: tuple[tuple[int, bool], ...] = ()


class LockoutRule(BaseModel):
    """``attempts`` wrong PINs within ``window_minutes`` lock PIN actions for ``lockout_minutes``."""

    model_config = _FROZEN

    attempts: int = Field(default=5, ge=1, le=100)
    window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    lockout_minutes: int = Field(default=15, ge=1, le=7 * 24 * 60)


#: Rule ids whose effect on ENTRY is a library setting (``SiteRules.entry_blocks``).
ENTRY_BLOCKABLE: frozenset[str] = frozenset({"R1", "R2", "R3", "R4", "R5", "R6", "X1", "BL", "LS"})
#: The default: the automatic blocks, blacklist, and the rules that stand for them.
DEFAULT_ENTRY_BLOCKS: frozenset[str] = ENTRY_BLOCKABLE
DEFAULT_PIN_REQUIRED: frozenset[Action] = frozenset({Action.CHECKOUT, Action.RENEW, Action.HOLD, Action.ENTRY})


class SiteRules(BaseModel):
    """The ``[policy]`` table of the configuration: the library's settings for the rules."""

    model_config = _FROZEN

    #: R1: maximum open charges per subscription type code; above it, no check out or renew.
    max_charges: dict[str, Decimal] = Field(default_factory=dict)
    #: R1 for subscription types not in ``max_charges``; None = no maximum.
    default_max_charges: Decimal | None = Field(default=None, ge=0)
    #: R3: X days per branch; an unpaid charge older than X days blocks check out, renew, hold.
    charge_age_days: dict[str, int] = Field(default_factory=dict)
    #: R3 for branches not in ``charge_age_days`` (and patrons with no branch); None = not enforced.
    default_charge_age_days: int | None = Field(default=None, ge=0)
    #: B1: the badge that admits a patron in unmanned hours, by name or by code (compared trimmed, case-insensitively).
    unmanned_badge: str = Field(default="Onbemande openingsuren", min_length=1)
    #: Which rule ids deny ENTRY in unmanned hours (subset of ENTRY_BLOCKABLE).
    entry_blocks: frozenset[str] = DEFAULT_ENTRY_BLOCKS
    #: A1: minimum age in years for unmanned entry; None = no limit.
    min_entry_age: int | None = Field(default=None, ge=0, le=120)
    #: Actions that need the right PIN (P1, P2, L1).
    pin_required: frozenset[Action] = DEFAULT_PIN_REQUIRED
    lockout: LockoutRule = Field(default_factory=LockoutRule)
    #: Show amounts to the patron (R1, R3 messages get an ``amount`` parameter).
    show_amounts: bool = False

    @field_validator("max_charges")
    @classmethod
    def _non_negative_max(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for code, amount in value.items():
            if amount < 0:
                raise ValueError(f"maximum for subscription type {code!r} must be 0 or more")
        return value

    @field_validator("charge_age_days")
    @classmethod
    def _non_negative_days(cls, value: dict[str, int]) -> dict[str, int]:
        for branch, days in value.items():
            if days < 0:
                raise ValueError(f"charge age for branch {branch!r} must be 0 or more days")
        return value

    @field_validator("entry_blocks")
    @classmethod
    def _known_entry_blocks(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(set(value) - ENTRY_BLOCKABLE)
        if unknown:
            raise ValueError(
                f"unknown rule id(s) {', '.join(unknown)}; expected some of {', '.join(sorted(ENTRY_BLOCKABLE))}"
            )
        return frozenset(value)


class RuleHit(BaseModel):
    """One rule that fired: its id and an English explanation for staff (no personal data)."""

    model_config = _FROZEN

    rule: str
    staff: str


class Message(BaseModel):
    """A patron-facing message: a key of the ``policy`` gettext domain and its parameters."""

    model_config = _FROZEN

    key: str
    params: dict[str, str | int] = Field(default_factory=dict)


class Decision(BaseModel):
    """The answer of ``decide``: allowed or not, and why (most important rule first)."""

    model_config = _FROZEN

    action: Action
    allowed: bool
    rules: tuple[RuleHit, ...] = ()
    message: Message
    staff: str

    def rule_ids(self) -> list[str]:
        return [hit.rule for hit in self.rules]


def evidence_for(decision: Decision, patron: PatronSnapshot) -> tuple[Evidence, ...]:
    """The patron's evidence for the rules that fired in ``decision``, in the
    decision's rule order (empty for an allowed decision)."""
    fired = decision.rule_ids()
    return tuple(e for rule in fired for e in patron.evidence if e.rule == rule)
