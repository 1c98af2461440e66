"""The identification core: card -> PIN -> library lookup -> policy ->
lockout -> verified cache, as one pure state machine shared by the kiosk
flows, the door service and ``bibkiosk check``.

Sans-I/O in the manner of :mod:`kiosk.door.monitor`: every input is a
method that takes the current time (an aware datetime) and returns the
effects to carry out, in order.  Nothing here reads a clock, a file or the
network; the data the core needs from the store (the patron's recent wrong
PINs) comes in as arguments.  :mod:`kiosk.identify.driver` carries the
effects out against the library system and the one patron store.

Inputs: :meth:`~Identification.present` (a card), :meth:`~Identification.key`
(a PIN pad key; the one PIN buffer lives here), :meth:`~Identification.submit`
(the PIN), :meth:`~Identification.answered` (the library system's answer),
:meth:`~Identification.unavailable` (the library system cannot be reached),
:meth:`~Identification.cache_checked`, :meth:`~Identification.store_failed`,
:meth:`~Identification.failed` and :meth:`~Identification.timed_out`.

Effects: :class:`AskPin`, :class:`LookUp`, :class:`CheckCache`,
:class:`HoldAttempt` (count the attempt *before* the PIN is checked),
:class:`Settle` (the answer keeps or removes it), :class:`ClearFailures`,
:class:`Remember`, :class:`Forget`, :class:`Alarm`, and the outcome:
:class:`Grant` or :class:`Refuse`.

Invariants kept here, whatever the settings say:

* unmanned entry always needs the right PIN (``policy.pin_needed``);
* a PIN is checked only after its failure was counted durably (a
  :class:`HoldAttempt` that fails ends in an out-of-service refusal and an
  alarm, never in a decision);
* offline, an unknown card, an expired entry and a wrong PIN get the same
  answer (and each counts as a wrong PIN);
* every decision is ``policy.decide``'s, staffed card-only entry included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from policy import (
    RULES,
    Action,
    Decision,
    PatronSnapshot,
    PeriodKind,
    PinCheck,
    SiteRules,
    decide,
    locked_out,
    pin_needed,
    tries_left,
)

from .store import CacheCheck, CacheStatus

__all__ = [
    "CARD_RULES",
    "CORE_RULES",
    "KEEP_CACHED",
    "Alarm",
    "AskPin",
    "CheckCache",
    "ClearFailures",
    "CoreSettings",
    "Effect",
    "Forget",
    "Front",
    "Grant",
    "HoldAttempt",
    "Identification",
    "LookUp",
    "Reason",
    "Refuse",
    "Remember",
    "Settle",
]

#: Rules about the card itself: the card is refused and forgotten by the cache.
CARD_RULES = frozenset({"U1", "C1", "C2", "C3", "C4"})
#: Rules after which the cache keeps the card (a typing mistake is no reason to forget it).
KEEP_CACHED = frozenset({"P1", "P2", "L1", "S1"})
#: Rule ids the core gives besides the policy's (policy.RULES).
CORE_RULES: dict[str, str] = {
    "O1": "O1: library system unreachable and the card with this PIN has no valid offline entry "
          "(unknown, too old, or a wrong PIN: one answer for all three)",
    "E1": "E1: error while deciding (library system answered garbage, or a device failed); refused",
    "E2": "E2: the patron store cannot be written (disk full or read-only?): no PIN is checked, "
          "PIN actions are out of service; ALARM",
}
_PIN_RULES = frozenset({"P1", "P2", "L1"})
_KEY_CLEAR, _KEY_ENTER = "*", "#"


class Front(StrEnum):
    DOOR = "door"  # PIN first, then one lookup
    KIOSK = "kiosk"  # the card is looked up first, then the PIN (when needed)
    CHECK = "check"  # bibkiosk check: one lookup with the PIN given (if any); reads the budget, never writes


class Reason(StrEnum):
    """Why a refusal came (for the shell's choice of screen)."""

    POLICY = "policy"  # a policy decision (its message)
    OFFLINE_OFF = "offline_off"  # unreachable, and this front may not decide offline
    NOT_VERIFIED = "not_verified"  # offline: O1
    OUT_OF_SERVICE = "out_of_service"  # E2: the store cannot be written
    PIN_TIMEOUT = "pin_timeout"  # P2: no PIN in time
    PIN_EMPTY = "pin_empty"  # P2: an empty PIN
    ERROR = "error"  # E1


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class AskPin:
    """Ask for the PIN (again).  *error*: the refusal of the PIN just given
    (P1) or :data:`Reason.PIN_EMPTY`; *tries_left* before the lockout."""

    tries_left: int | None = None
    error: Decision | Reason | None = None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class LookUp:
    card: str
    pin: str | None


@dataclass(frozen=True, slots=True)
class CheckCache:
    card: str
    pin: str | None
    max_age: timedelta


@dataclass(frozen=True, slots=True)
class HoldAttempt:
    """Count one wrong PIN for the card's patron now, before the PIN is checked."""

    card: str


@dataclass(frozen=True, slots=True)
class Settle:
    """The held attempt stays counted (*wrong*) or is removed; learns the card's patron."""

    card: str
    patron_id: str | None
    wrong: bool


@dataclass(frozen=True, slots=True)
class ClearFailures:
    card: str
    patron_id: str | None


@dataclass(frozen=True, slots=True)
class Remember:
    card: str
    pin: str | None
    entry: bool
    borrow: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class Forget:
    card: str


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str  # patron_store_unwritable
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    decision: Decision
    snapshot: PatronSnapshot | None
    pin: str | None
    source: str  # online / offline
    staff: str


@dataclass(frozen=True, slots=True)
class Refuse:
    rules: tuple[str, ...]
    reason: Reason
    source: str  # online / offline / local
    staff: str
    decision: Decision | None = None  # the policy's, when it decided
    language: str | None = None

    @property
    def message_domain(self) -> str:
        return "policy" if self.decision is not None else "door"

    @property
    def message_key(self) -> str:
        if self.decision is not None:
            return self.decision.message.key
        return f"door.{self.rules[0]}" if self.rules else "door.refused"


Effect = (
    AskPin | LookUp | CheckCache | HoldAttempt | Settle | ClearFailures | Remember | Forget | Alarm | Grant | Refuse
)


@dataclass(frozen=True, slots=True)
class CoreSettings:
    rules: SiteRules
    front: Front
    #: May the front decide from the verified cache when the library system is unreachable?
    offline: bool = True
    offline_max_age: timedelta = timedelta(days=7)
    max_pin_digits: int = 16
    #: Staffed hours at the door: "card" (a valid card, no PIN) or "free".
    staffed_card: bool = False


class _Stage(StrEnum):
    IDLE = "idle"
    LOOKUP_CARD = "lookup_card"  # the card, without PIN
    PIN = "pin"  # waiting for the PIN
    LOOKUP_PIN = "lookup_pin"  # the card with the PIN
    CACHE = "cache"  # offline: the cache decides
    DONE = "done"


@dataclass
class _Visit:
    card: str
    action: Action
    period: PeriodKind | None
    need_pin: bool
    pin: str | None = None
    offline: bool = False
    held: bool = False  # an attempt is held (counted) for this PIN
    snapshot: PatronSnapshot | None = None
    stage: _Stage = _Stage.IDLE
    buffer: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # never the card or PIN
        return f"_Visit(stage={self.stage.value}, action={self.action.value}, offline={self.offline})"


class Identification:
    """One identification at a time (a new card replaces the one in progress)."""

    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.rules = settings.rules
        self._visit: _Visit | None = None

    # ---------------------------------------------------------------- state

    @property
    def card(self) -> str | None:
        return None if self._visit is None else self._visit.card

    @property
    def snapshot(self) -> PatronSnapshot | None:
        """The library system's last answer in this identification (its language, before the PIN)."""
        return None if self._visit is None else self._visit.snapshot

    @property
    def pin_length(self) -> int:
        return 0 if self._visit is None else len(self._visit.buffer)

    @property
    def waiting_for_pin(self) -> bool:
        return self._visit is not None and self._visit.stage is _Stage.PIN

    @property
    def busy(self) -> bool:
        return self._visit is not None and self._visit.stage in (_Stage.LOOKUP_CARD, _Stage.LOOKUP_PIN, _Stage.CACHE)

    @property
    def unchecked_hold(self) -> bool:
        """An attempt is held for a PIN not yet given (the door holds it when it asks)."""
        v = self._visit
        return v is not None and v.held and v.stage is _Stage.PIN

    @property
    def offline(self) -> bool:
        return self._visit is not None and self._visit.offline

    def reset(self) -> None:
        """Forget the identification in progress (the PIN buffer with it)."""
        self._visit = None

    def abandon(self, now: datetime) -> list[Effect]:
        """The identification in progress is given up (another card came, the service
        stops): a held attempt whose PIN was never given is released."""
        out = self._release_unchecked()
        if self._visit is not None and self._visit.stage is _Stage.PIN:
            self._visit.stage = _Stage.DONE
        return out

    # ---------------------------------------------------------------- inputs

    def present(
        self,
        now: datetime,
        card: str,
        *,
        action: Action,
        period: PeriodKind | None = None,
        failures: list[datetime] | tuple[datetime, ...] = (),
        need_pin: bool | None = None,
        pin: str | None = None,
    ) -> list[Effect]:
        """A card was presented (for *action* in *period*); *failures* are the
        wrong PINs of its patron (as far as the store knows the card).
        *need_pin* overrides ``policy.pin_needed`` for the kiosk's question
        "does this site ask the PIN at identification?", never for unmanned entry."""
        needed = pin_needed(action, self.rules, period)
        if need_pin is not None and not (action is Action.ENTRY and period is not PeriodKind.STAFFED):
            needed = need_pin
        out: list[Effect] = self._release_unchecked()  # a new card replaces one whose PIN was never given
        v = _Visit(card=card, action=action, period=period, need_pin=needed)
        self._visit = v
        if action is Action.ENTRY and period is PeriodKind.CLOSED:
            return out + self._refuse_policy(_CLOSED, "local")
        if needed:
            lock = locked_out(action, self.rules, now, failures, period=period)
            if lock is not None:
                return out + self._refuse_policy(lock, "local")
        front = self.settings.front
        if front is Front.CHECK:
            v.pin = pin
            v.stage = _Stage.LOOKUP_PIN if pin is not None else _Stage.LOOKUP_CARD
            return out + [LookUp(card, pin)]
        if front is Front.DOOR and needed:
            # The door holds the attempt *before* it asks for the PIN: durable before a key is
            # typed, so the last key goes straight to the library system (no fsync on the way
            # to the strike), and a store that cannot be written refuses at the card (E2).
            v.stage = _Stage.PIN
            v.held = True
            return out + [HoldAttempt(card), AskPin(self._tries(failures, now))]
        v.stage = _Stage.LOOKUP_CARD
        return out + [LookUp(card, None)]

    def key(self, now: datetime, key: str, *, failures: list[datetime] | tuple[datetime, ...] = ()) -> list[Effect]:
        """A PIN pad key: digits, ``*`` clears, ``#`` enters (submits the buffer)."""
        v = self._visit
        if v is None or v.stage is not _Stage.PIN:
            return []
        if key == _KEY_CLEAR:
            v.buffer.clear()
        elif key == _KEY_ENTER:
            return self.submit(now, failures=failures)
        elif len(key) == 1 and key.isdigit() and len(v.buffer) < self.settings.max_pin_digits:
            v.buffer.append(key)
        return []

    def backspace(self) -> None:
        if self._visit is not None and self._visit.stage is _Stage.PIN and self._visit.buffer:
            self._visit.buffer.pop()

    def submit(
        self, now: datetime, pin: str | None = None, *, failures: list[datetime] | tuple[datetime, ...] = ()
    ) -> list[Effect]:
        """The PIN: *pin* (a whole PIN from a touch screen) or the buffer."""
        v = self._visit
        if v is None or v.stage is not _Stage.PIN:
            return []
        if pin is None:
            pin = "".join(v.buffer)
        pin = pin[: self.settings.max_pin_digits]
        v.buffer.clear()
        if not pin or not pin.isdigit():
            if self.settings.front is Front.DOOR:
                out = self._release_unchecked()
                v.stage = _Stage.DONE
                return out + [self._refuse_rule("P2", Reason.PIN_EMPTY, "local", "P2: an empty PIN")]
            return [AskPin(self._tries(failures, now), Reason.PIN_EMPTY, offline=v.offline)]
        v.pin = pin
        hold: list[Effect] = [] if v.held else [HoldAttempt(v.card)]  # the door's is held already
        v.held = True
        if v.offline:
            v.stage = _Stage.CACHE
            return hold + [CheckCache(v.card, pin, self.settings.offline_max_age)]
        v.stage = _Stage.LOOKUP_PIN
        return hold + [LookUp(v.card, pin)]

    def timed_out(self, now: datetime) -> list[Effect]:
        """No PIN in time."""
        v = self._visit
        if v is None or v.stage is not _Stage.PIN:
            return []
        out = self._release_unchecked()
        v.stage = _Stage.DONE
        return out + [self._refuse_rule("P2", Reason.PIN_TIMEOUT, "local", RULES["P2"].staff + " (PIN timeout)")]

    def store_failed(self, now: datetime, detail: str = "") -> list[Effect]:
        """A :class:`HoldAttempt` could not be written: refuse, raise the alarm,
        never check the PIN."""
        v = self._visit
        if v is not None:
            v.stage = _Stage.DONE
            v.held = False
        return [Alarm("patron_store_unwritable", detail), self._refuse_rule("E2", Reason.OUT_OF_SERVICE, "local", CORE_RULES["E2"])]

    def failed(self, now: datetime, what: str) -> list[Effect]:
        """The library system answered something unreadable (not "unreachable")."""
        v = self._visit
        out: list[Effect] = []
        if v is not None:
            if v.held:  # the PIN may have been checked: it stays counted
                out.append(Settle(v.card, None, wrong=True))
            v.stage = _Stage.DONE
        out.append(self._refuse_rule("E1", Reason.ERROR, "local", f"E1: {what}"))
        return out

    def answered(
        self, now: datetime, snapshot: PatronSnapshot, *, failures: list[datetime] | tuple[datetime, ...] = ()
    ) -> list[Effect]:
        """The library system's answer to the :class:`LookUp`; *failures* are
        the patron's wrong PINs (``snapshot.patron_id``'s budget), without the
        attempt held for this PIN."""
        v = self._visit
        if v is None or v.stage not in (_Stage.LOOKUP_CARD, _Stage.LOOKUP_PIN):
            return []
        v.snapshot = snapshot
        with_pin = v.stage is _Stage.LOOKUP_PIN and v.pin is not None
        out: list[Effect] = []
        front = self.settings.front
        if front is Front.CHECK:
            # bibkiosk check reads the budget, it never counts or clears (the store is read-only there).
            v.stage = _Stage.DONE
            lock = locked_out(v.action, self.rules, now, failures, period=v.period) if v.need_pin else None
            if lock is not None:  # the patron's budget (another card's lockout included)
                return self._refuse_policy(lock, "online", snapshot.language)
            decision = self._decide(v, snapshot, now, failures, with_pin)  # a wrong --pin is not counted
            if decision.allowed:
                return [Grant(decision, snapshot, v.pin, "online", decision.staff)]
            return self._refuse_policy(decision, "online", snapshot.language)
        if with_pin and v.held:
            out.append(Settle(v.card, snapshot.patron_id, wrong=snapshot.pin is PinCheck.WRONG))
            v.held = False
        elif snapshot.patron_id:
            out.append(Settle(v.card, snapshot.patron_id, wrong=False))  # learn the card's patron
        if with_pin and snapshot.pin is PinCheck.WRONG:
            failures = [*failures, now]  # this wrong PIN counts: the one that completes the budget locks out now
        decision = self._decide(v, snapshot, now, failures, with_pin)
        ids = set(decision.rule_ids())
        if with_pin and snapshot.pin is PinCheck.RIGHT and "L1" not in ids:
            out.append(ClearFailures(v.card, snapshot.patron_id))
        out += self._cache_effects(v, snapshot, ids, now, with_pin)

        if front is Front.KIOSK and not with_pin:
            # The card first: refused for the card itself or a lockout; else the PIN, or identified.
            hits = ids & (CARD_RULES | {"L1"})
            if not decision.allowed and hits:
                v.stage = _Stage.DONE
                return out + self._refuse_policy(decision, "online", snapshot.language)
            if v.need_pin:
                v.stage = _Stage.PIN
                return out + [AskPin(self._tries(failures, now))]
            v.stage = _Stage.DONE
            return out + [Grant(decision, snapshot, None, "online", decision.staff)]
        if front is Front.KIOSK:
            refusing = ids & (_PIN_RULES | CARD_RULES)
            if refusing:
                if "P1" in ids and "L1" not in ids and not ids & CARD_RULES:
                    left = self._tries(failures, now)
                    if left:
                        v.stage = _Stage.PIN
                        v.pin = None
                        return out + [AskPin(left, decision)]
                v.stage = _Stage.DONE
                return out + self._refuse_policy(decision, "online", snapshot.language)
            v.stage = _Stage.DONE
            return out + [Grant(decision, snapshot, v.pin, "online", decision.staff)]
        # Door: the decision is the answer.
        v.stage = _Stage.DONE
        if decision.allowed:
            return out + [Grant(decision, snapshot, v.pin, "online", decision.staff)]
        return out + self._refuse_policy(decision, "online", snapshot.language)

    def unavailable(self, now: datetime) -> list[Effect]:
        """The library system cannot be reached for the :class:`LookUp`."""
        v = self._visit
        if v is None or v.stage not in (_Stage.LOOKUP_CARD, _Stage.LOOKUP_PIN):
            return []
        v.offline = True
        if not self.settings.offline or self.settings.front is Front.CHECK:
            v.stage = _Stage.DONE
            out: list[Effect] = []
            if v.held:
                out.append(Settle(v.card, None, wrong=False))  # never checked: not counted
                v.held = False
            return out + [self._refuse_rule("O1", Reason.OFFLINE_OFF, "offline", "library system unreachable")]
        if v.stage is _Stage.LOOKUP_CARD and v.need_pin:
            v.stage = _Stage.PIN
            return [AskPin(None, offline=True)]
        v.stage = _Stage.CACHE
        return [CheckCache(v.card, v.pin, self.settings.offline_max_age)]

    def cache_checked(self, now: datetime, check: CacheCheck) -> list[Effect]:
        """What the verified cache said of the card (and PIN)."""
        v = self._visit
        if v is None or v.stage is not _Stage.CACHE:
            return []
        v.stage = _Stage.DONE
        entry = v.action is Action.ENTRY
        usable = check.status is CacheStatus.OK and (check.entry if entry else check.borrow)
        out: list[Effect] = []
        if v.held:
            # A wrong PIN, an unknown card and a stale entry count alike (one answer, one budget).
            out.append(Settle(v.card, None, wrong=not check.ok))
            v.held = False
        if usable:
            if v.pin is not None:
                out.append(ClearFailures(v.card, None))
            at = check.verified_at.isoformat() if check.verified_at else "?"
            return out + [Grant(_OFFLINE_GRANTS[v.action], None, v.pin, "offline", f"offline: verified online at {at}")]
        return out + [self._refuse_rule("O1", Reason.NOT_VERIFIED, "offline", CORE_RULES["O1"])]

    # ---------------------------------------------------------------- helpers

    def _release_unchecked(self) -> list[Effect]:
        """The visit's held attempt when its PIN was never given (waiting for it): never
        checked, so not counted.  Nothing once the PIN has gone to be checked."""
        v = self._visit
        if v is None or not v.held or v.stage is not _Stage.PIN:
            return []
        v.held = False
        return [Settle(v.card, None, wrong=False)]

    def _decide(
        self, v: _Visit, snapshot: PatronSnapshot, now: datetime, failures: list[datetime] | tuple[datetime, ...],
        with_pin: bool,
    ) -> Decision:
        rules = self.rules
        if not with_pin and self.settings.front is not Front.DOOR:
            # No PIN given (yet): the PIN rules wait for the PIN (kiosk), or are left out (check).
            rules = rules.model_copy(update={"pin_required": frozenset()})
            if v.action is Action.ENTRY and v.period is not PeriodKind.STAFFED and self.settings.front is Front.CHECK:
                # check without --pin: unmanned entry is judged apart from the PIN.
                d = decide(v.action, snapshot, rules, now, period=v.period, failed_pin_attempts=failures,
                           staffed_card=self.settings.staffed_card)
                return _without_pin_rules(d)
        return decide(v.action, snapshot, rules, now, period=v.period, failed_pin_attempts=failures,
                      staffed_card=self.settings.staffed_card)

    def _cache_effects(
        self, v: _Visit, snapshot: PatronSnapshot, ids: set[str], now: datetime, with_pin: bool
    ) -> list[Effect]:
        if not snapshot.known or ids & CARD_RULES:
            return [Forget(v.card)]
        if with_pin and snapshot.pin is not PinCheck.RIGHT:
            return []  # a wrong PIN: keep what we had
        if v.need_pin and not with_pin:
            return []  # the PIN comes next
        right = snapshot.model_copy(update={"pin": PinCheck.RIGHT})
        entry = decide(Action.ENTRY, right, self.rules, now, period=PeriodKind.UNMANNED).allowed
        borrow = decide(Action.CHECKOUT, right, self.rules.model_copy(update={"pin_required": frozenset()}), now).allowed
        return [Remember(v.card, v.pin if with_pin else None, entry=entry, borrow=borrow, at=now)]

    def _tries(self, failures: list[datetime] | tuple[datetime, ...], now: datetime) -> int:
        return tries_left(failures, self.rules.lockout, now)

    def _refuse_policy(self, decision: Decision, source: str, language: str | None = None) -> list[Effect]:
        if self._visit is not None:
            self._visit.stage = _Stage.DONE
        return [Refuse(tuple(decision.rule_ids()), Reason.POLICY, source, decision.staff, decision, language)]

    def _refuse_rule(self, rule: str, reason: Reason, source: str, staff: str) -> Refuse:
        return Refuse((rule,), reason, source, staff)


def _without_pin_rules(d: Decision) -> Decision:
    """*d* with P1, P2 and L1 taken out (``bibkiosk check`` without ``--pin``)."""
    rest = [hit for hit in d.rules if hit.rule not in _PIN_RULES]
    if len(rest) == len(d.rules):
        return d
    if not rest:
        from policy import Message, allowed_key

        return Decision(action=d.action, allowed=True, rules=(), message=Message(key=allowed_key(d.action)),
                        staff=f"allowed: {d.action.value} (PIN not checked)")
    from policy import Message

    return Decision(action=d.action, allowed=False, rules=tuple(rest), message=Message(key=RULES[rest[0].rule].message_key),
                    staff="denied: " + "; ".join(h.staff for h in rest))


def _closed() -> Decision:
    from policy import Message, RuleHit

    staff = RULES["S1"].staff
    return Decision(action=Action.ENTRY, allowed=False, rules=(RuleHit(rule="S1", staff=staff),),
                    message=Message(key=RULES["S1"].message_key), staff="denied: " + staff)


#: Closed: nobody is looked up or asked a PIN.
_CLOSED = _closed()
_OFFLINE_GRANTS: dict[Action, Decision] = {}


def _offline_grant(action: Action) -> Decision:
    from policy import Message, allowed_key

    return Decision(action=action, allowed=True, rules=(), message=Message(key=allowed_key(action)),
                    staff=f"allowed offline: {action.value}")


for _a in Action:
    _OFFLINE_GRANTS[_a] = _offline_grant(_a)
