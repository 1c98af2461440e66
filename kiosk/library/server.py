"""The SIP2 face of the embedded library system.

:class:`LibraryHandler` answers SIP2 requests from the :class:`Store`; every
rule decision goes through ``policy.decide`` (the same code the kiosk runs),
so a rule lives in one place.  Standard fields are filled as a library
system would (the 14 patron-status flags, BL, CQ, BV, CC, AF, the item lists
AS/AT/AU/AV/CD, due dates, media types), plus extension fields for what SIP2
has no place for (docs/sip2-fields.md; codes from :class:`FieldCodes`).

Login: with accounts in the data file's ``server.accounts`` (one per kiosk
or door) every request but 93/99 needs a successful login; with none, any
login is accepted (a development set-up with the staff role; a warning is
logged at start).  Each account's role (``roles.py``) decides which
requests it may send (others get their typed refusal) and which patron
fields it is sent; ``throttle.py`` slows failed logins, unknown-card probes
and locks a patron's PIN after too many wrong ones (``server.limits``).

No log line carries a card number, PIN or name.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import time as _time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from kiosk.sip2.messages import register_sensitive_codes
from kiosk.sip2.dialects import (
    FieldCodes,
    format_age_verdict,
    format_badge,
    format_charge,
    format_date,
    format_money,
    parse_money,
)
from kiosk.i18n import translate
from kiosk.sip2.messages import (
    HOLD_CHANGE,
    HOLD_DELETE,
    HOLD_MODES,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnable,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RegistrationsRequest,
    RegistrationsResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    Summary,
    UnknownMessage,
)
from kiosk.sip2.codec import sip2_datetime
from kiosk.logsafe import BurstLog
from kiosk.sip2.server import Sip2Handler, Sip2Server, Sip2Session, refusal_for
from kiosk.sip2.languages import language_code, language_of
from policy import (
    Action,
    Badge,
    CardState,
    Charge,
    Decision,
    IdentifiedBy,
    PatronSnapshot,
    PinCheck,
    SiteRules,
    Subscription,
    SubscriptionStatus,
    decide,
)

from . import wise
from .datafile import Account, CardStatus, HoldStatus, Limits, Role
from .errors import LibraryError, NotFound
from .roles import UNBLOCKING, Disclosure, disclosure, may_send
from .store import GroupWriter, Identified, ItemView, PatronView, Store
from .throttle import PinLock, login_throttle, probe_throttle

log = logging.getLogger("kiosk.library.server")

__all__ = [
    "LibraryHandler",
    "LibraryServer",
    "patron_snapshot",
    "site_rules",
    "tls_context",
]

CURRENCY = "EUR"

_DENIED_ALL = PatronStatus(
    charge_privileges_denied=True,
    renewal_privileges_denied=True,
    recall_privileges_denied=True,
    hold_privileges_denied=True,
)


def site_rules(store: Store, *, branch_id: str | None = None, pin_required: frozenset[Action] = frozenset()) -> SiteRules:
    """The policy settings of the embedded library system, from its data:
    charge maxima per subscription type (R1), charge age per branch (R3),
    and — for *branch_id* — the unmanned-hours badge and the entry age."""
    branches = store.branches()
    types = store.subscription_type_maxima()
    branch = branches.get(branch_id) if branch_id else None
    extra: dict = {}
    if branch is not None and branch.unmanned_badge:
        extra["unmanned_badge"] = branch.unmanned_badge
    if branch is not None and branch.min_entry_age is not None:
        extra["min_entry_age"] = branch.min_entry_age
    return SiteRules(
        max_charges={code: Decimal(cents) / 100 for code, cents in types.items()},
        charge_age_days={b.branch_id: b.charge_age_days for b in branches.values()},
        pin_required=pin_required,
        **extra,
    )


_CARD_STATES = {
    CardStatus.ACTIVE: CardState.ACTIVE,
    CardStatus.REPLACED: CardState.REPLACED,
    CardStatus.BLOCKED: CardState.BLOCKED,
    CardStatus.LOST: CardState.LOST,
}


def patron_snapshot(view: PatronView, identified: Identified, *, pin: PinCheck = PinCheck.UNKNOWN) -> PatronSnapshot:
    """The policy's view of a patron, straight from the store."""
    sub = view.subscription
    return PatronSnapshot(
        identified_by=IdentifiedBy.CARD if identified.by == "card" else IdentifiedBy.TEMPORARY_NUMBER,
        card_state=_CARD_STATES[identified.card_status] if identified.card_status else None,
        subscription=Subscription(
            type_code=sub.type_code,
            start=sub.start,
            end=sub.end,
            status=SubscriptionStatus(sub.status.value),
            fee_paid=sub.fee_open_cents == 0,
        )
        if sub
        else None,
        charges=tuple(
            Charge(amount=Decimal(c.amount_cents) / 100, created=c.created)
            for c in view.charges
            if c.arrangement_date is None  # a payment arrangement: need not be paid now
        ),
        replacement_invoice=view.replacement_invoice,
        badges=tuple(Badge(name=name, active=name in view.active_badges) for name in view.badges),
        birth_date=view.birth_date,
        pin=pin,
        language=view.language,
        branch=view.branch_id,
    )


@dataclass(slots=True)
class _Patron:
    """A patron as found for one request."""

    identified: Identified
    view: PatronView
    pin: PinCheck
    snapshot: PatronSnapshot
    pin_locked: bool = False
    #: the language of the answer's texts: the one the connection's last 23/63
    #: for this number asked for, else the patron record's
    language: str = "nl"


#: Ages a withheld birth date is told as verdicts about ("at least 16: yes"),
#: besides every branch's minimum entry age.
AGE_VERDICT_YEARS: tuple[int, ...] = (12, 14, 16, 18)


_CHARSET_FALLBACKS = str.maketrans({"€": "EUR", "…": "...", "’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})


def _to_charset(text: str, encoding: str) -> str:
    """*text* itself when *encoding* can carry it, else a close copy it can."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.translate(_CHARSET_FALLBACKS).encode(encoding, "replace").decode(encoding)


@lru_cache(maxsize=None)
def _text_fields(kind: type[Message]) -> tuple[str, ...]:
    """Names of a message class's text fields (str and repeated str)."""
    return tuple(spec.name for spec in kind.SPEC if spec.kind in ("str", "list", "char"))


def _t(key: str, lang: str | None, **params: object) -> str:
    return translate("library", key, lang, **params)


def _policy_text(decision: Decision, lang: str | None) -> str:
    return translate("policy", decision.message.key, lang, **decision.message.params)


def _due_text(due: date, lang: str) -> str:
    return due.strftime("%d-%m-%Y") if lang != "en" else due.isoformat()


class LibraryHandler(Sip2Handler):
    """SIP2 handler over a :class:`Store`."""

    library_name = "bibkiosk embedded library system"
    not_supported_message = "Not supported"
    #: it takes offline (no-block) checkouts and check-ins: its 98 says so
    offline_ok = True

    def __init__(
        self,
        store: Store,
        *,
        fields: FieldCodes | None = None,
        clock: Callable[[], datetime] | None = None,
        extra_accounts: tuple[Account, ...] = (),
        writer: GroupWriter | None = None,
        dialect: str | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.fields = fields or store.field_codes()
        register_sensitive_codes(self.fields.personal_codes())  # log lines mask the configured birth-date code
        self.dialect = dialect or store.dialect
        if self.dialect not in wise.DIALECTS:
            raise LibraryError(f"unknown dialect {self.dialect!r}; expected one of {', '.join(wise.DIALECTS)}")
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.accounts = store.accounts()
        self.accounts.update({a.login: a for a in extra_accounts})
        super().__init__(institution_id=store.institution, login_required=bool(self.accounts))
        self.rules = site_rules(store)
        self.rules_with_pin = site_rules(store, pin_required=frozenset({Action.CHECKOUT, Action.RENEW, Action.HOLD}))
        self.item_types = store.item_types()
        self.limits: Limits = store.limits()
        self.login_throttle = login_throttle(self.limits)
        self.probe_throttle = probe_throttle(self.limits)
        self.pin_lock = PinLock(self.limits.pin_attempts, self.limits.pin_window_minutes)
        self.age_years = tuple(
            sorted(set(AGE_VERDICT_YEARS) | {b.min_entry_age for b in store.branches().values() if b.min_entry_age})
        )
        self.monotonic: Callable[[], float] = _time.monotonic
        self.login_log = BurstLog(log, "SIP2 logins refused")
        self.probe_log = BurstLog(log, "unknown-card requests slowed down")
        self.pin_log = BurstLog(log, "wrong PINs over SIP2")
        self.role_log = BurstLog(log, "requests refused for the account's role")

    # ------------------------------------------------------------------ helpers

    def _now(self) -> datetime:
        return self.clock()

    #: the server's SIP2 character set (set by LibraryServer)
    encoding = "cp850"

    def _role(self, session: Sip2Session) -> Role:
        account = session.account
        if account is not None:
            return account.role
        return Role.STAFF if not self.accounts else Role.KIOSK

    async def handle(self, msg: Message, session: Sip2Session) -> Message | None:
        asked = language_of(getattr(msg, "language", None))
        if asked is not None:
            session.state["language"] = asked
        if isinstance(msg, (PatronStatusRequest, PatronInformationRequest)):
            # The language the SC shows its patron (000: no wish): this patron's answers on this
            # connection come in it (11, 29, 15 … name no language), until a 23/63 says otherwise.
            session.state["asked_language"] = (msg.patron_identifier, asked)
        if (session.logged_in or not self.login_required) and not isinstance(msg, UnknownMessage):
            role = self._role(session)
            if not may_send(role, msg.command_code):
                self.role_log.note(session.address, self.monotonic(), f"a {role.value} account sent {msg.command_code}")
                refusal = refusal_for(msg, _t("library.not_allowed", self._terminal_language(session)))
                return None if refusal is None else self._encodable(refusal)
        answer = await super().handle(msg, session)
        probe = session.state.pop("unknown_probe", False)
        if probe:
            # An unknown card number: enumeration must be slow (throttle.py).
            now = self.monotonic()
            delay = self.probe_throttle.reserve(session.address, now)
            count = self.probe_throttle.failed(session.address, now)
            if delay > 0:
                self.probe_log.note(session.address, now, f"{count} in the window")
                await asyncio.sleep(delay)
        return None if answer is None else self._encodable(answer)

    def _terminal_language(self, session: Sip2Session) -> str | None:
        """The language of answers that name no patron: the account's, else
        the last one a request on this connection named, else the default."""
        account = session.account
        if account is not None and account.language:
            return account.language
        return session.state.get("language")

    def _encodable(self, answer: Message) -> Message:
        """Replace what the character set cannot carry (a title with '€' in
        cp850 …) so that the answer — often to a transaction already made —
        always goes out."""
        enc = self.encoding
        changes: dict[str, Any] = {}
        for name in _text_fields(type(answer)):
            value = getattr(answer, name)
            if isinstance(value, str):
                if not value.isascii():
                    fixed = _to_charset(value, enc)
                    if fixed is not value:
                        changes[name] = fixed
            elif value and not all(v.isascii() for v in value):
                fixed_all = tuple(_to_charset(v, enc) for v in value)
                if any(a is not b for a, b in zip(fixed_all, value)):
                    changes[name] = fixed_all
        extras = answer.extra_fields
        if extras and not all(v.isascii() for _, v in extras):
            changes["extra_fields"] = tuple((code, _to_charset(value, enc)) for code, value in extras)
        return answer.replace(**changes) if changes else answer

    async def _write(self, operation: Callable[[Store], Any]) -> Any:
        """Run a write operation whole: through the group-commit writer when
        there is one, else here, in one transaction."""
        if self.writer is not None:
            return await self.writer(operation)
        with self.store.group():
            return operation(self.store)

    def _find_patron(
        self, number: str, password: str | None, *, lists: bool = False, session: Sip2Session | None = None
    ) -> _Patron | None:
        identified = self.store.identify(number)
        if identified is None:
            if session is not None:
                session.state["unknown_probe"] = True
            return None
        view = self.store.patron(identified.patron_id, with_lists=lists)
        locked = False
        if password:
            pid = view.patron_id
            ok = view.pin is not None and hmac.compare_digest(view.pin.encode(), password.encode())
            locked = self.pin_lock.locked(pid)
            if not ok and not locked:
                locked = self.pin_lock.wrong(pid)
                if session is not None:
                    self.pin_log.note(session.address, self.monotonic())
                if locked:
                    log.warning(
                        "a patron's PIN is locked after %d wrong PINs within %d minutes (connection %s)",
                        self.limits.pin_attempts, self.limits.pin_window_minutes,
                        session.connection_id if session is not None else "-",
                    )  # fmt: skip
            pin = PinCheck.RIGHT if ok and not locked else PinCheck.WRONG
        else:
            pin = PinCheck.UNKNOWN
        return _Patron(identified, view, pin, patron_snapshot(view, identified, pin=pin), pin_locked=locked,
                       language=self._asked_language(number, session) or view.language)

    @staticmethod
    def _asked_language(number: str, session: Sip2Session | None) -> str | None:
        """The language the connection's last 23/63 for *number* asked for (None: no wish)."""
        asked = session.state.get("asked_language") if session is not None else None
        return asked[1] if asked is not None and asked[0] == number else None

    def _disclosure(self, patron: _Patron, session: Sip2Session | None) -> Disclosure:
        role = self._role(session) if session is not None else Role.STAFF
        return disclosure(role, right_pin=patron.pin is PinCheck.RIGHT)

    def _decide(self, action: Action, patron: _Patron) -> Decision:
        rules = self.rules_with_pin if patron.pin is not PinCheck.UNKNOWN else self.rules
        return decide(action, patron.snapshot, rules, self._now())

    def _unknown_patron_text(self, lang: str | None = None) -> str:
        return translate("policy", "policy.U1", lang)

    def _wrong_pin_text(self, lang: str | None = None) -> str:
        return translate("policy", "policy.P1", lang)

    def _flags(self, patron: _Patron) -> tuple[PatronStatus, dict[Action, Decision]]:
        decisions = {a: self._decide(a, patron) for a in (Action.CHECKOUT, Action.RENEW, Action.HOLD)}
        hits = {r.rule for d in decisions.values() for r in d.rules}
        view = patron.view
        limit = view.subscription.loan_limit if view.subscription else 0
        loans = len(view.loans) if view.loans else self.store.loan_count(view.patron_id)
        flags = PatronStatus(
            charge_privileges_denied=not decisions[Action.CHECKOUT].allowed,
            renewal_privileges_denied=not decisions[Action.RENEW].allowed,
            recall_privileges_denied=False,
            hold_privileges_denied=not decisions[Action.HOLD].allowed,
            card_reported_lost=patron.identified.card_status is CardStatus.LOST,
            too_many_items_charged=bool(limit) and loans >= limit,
            too_many_items_overdue=False,
            too_many_renewals=False,
            too_many_claims_of_items_returned=False,
            too_many_items_lost=False,
            excessive_outstanding_fines=bool(hits & {"R1", "R3"}),
            excessive_outstanding_fees=bool(hits & {"R2", "R5"}),
            recall_overdue=False,
            too_many_items_billed="R4" in hits,
        )
        return flags, decisions

    def _age_verdicts(self, birth: date) -> list[str]:
        today = self._now().date()
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        return [format_age_verdict(years, age >= years) for years in self.age_years]

    @property
    def pure_wise(self) -> bool:
        """Whether answers carry exactly what a Wise site sends (no extension fields)."""
        return self.dialect == "wise"

    def _extensions(self, patron: _Patron, shown: Disclosure) -> list[tuple[str, str]]:
        f = self.fields
        view = patron.view
        today = self._now().date()
        if self.pure_wise:
            return [(f.subscription_status, wise.wise_status(view, patron.identified, today)), *wise.badge_fields(view)]
        out: list[tuple[str, str]] = [(f.patron_number, view.patron_id)]
        if view.birth_date:
            if shown.birth_date:
                out.append((f.birth_date, format_date(view.birth_date)))
            else:
                out.extend((f.age_verdict, v) for v in self._age_verdicts(view.birth_date))
        sub = view.subscription
        patron_type = view.patron_type or (sub.type_code if sub else None)
        if patron_type:
            out.append((f.patron_type, patron_type))
        out.append((f.home_branch, view.branch_id))
        if sub or view.wise_status is not None:
            out.append((f.subscription_status, wise.extended_status(view, patron.identified, today)))
        if sub:
            out.append((f.subscription_start, format_date(sub.start)))
            out.append((f.subscription_end, format_date(sub.end)))
            out.append((f.fee_open, format_money(sub.fee_open_cents)))
        out.append((f.replacement_invoice, "Y" if view.replacement_invoice else "N"))
        if patron.identified.card_status is not None:
            out.append((f.card_state, patron.identified.card_status.value))
        out.append((f.temporary_number, "Y" if patron.identified.by == "temporary_number" else "N"))
        for name in view.badges:
            out.append((f.badges, format_badge(name, name in view.active_badges)))
        open_charges = [c for c in view.charges if c.arrangement_date is None]
        if shown.charges:
            for charge in open_charges:
                out.append((f.charges, format_charge(charge.created, charge.amount_cents)))
        elif shown.charge_summary and open_charges:
            # One summary instead of the list: the oldest open charge's date
            # and the total (what R1 and R3 need, nothing more).
            oldest = min(c.created for c in open_charges)
            out.append((f.charges, format_charge(oldest, sum(c.amount_cents for c in open_charges))))
        out.extend(wise.badge_fields(view))
        return out

    def _refusal_text(self, decision: Decision, lang: str | None, patron: _Patron) -> str:
        """Why the policy refuses: its message, or under pure Wise a text that
        names no rule (a wrong PIN and an unusable card still say so)."""
        if not self.pure_wise or decision.rule_ids()[:1] in (["P1"], ["L1"]):
            return _policy_text(decision, lang)
        return wise.card_refusal(patron.identified, lang) or wise.general_refusal(lang)

    def _screen(self, decisions: dict[Action, Decision], lang: str, patron: _Patron) -> tuple[str, ...]:
        """The patron's screen message: why checking out is refused (when it
        is), then the patron's notifications."""
        decision = decisions[Action.CHECKOUT]
        refusal = () if decision.allowed else (self._refusal_text(decision, lang, patron),)
        return refusal + wise.notifications(patron.view)

    def _due_field(self, due: date) -> str:
        return sip2_datetime(datetime.combine(due, time(23, 59, 59)))

    def _account_location(self, session: Sip2Session) -> str | None:
        account = session.account
        return account.location if account is not None and account.location else None

    def _item_extensions(self, item: ItemView) -> tuple[tuple[str, str], ...]:
        if self.pure_wise:
            return ()
        return ((self.fields.item_parts, str(item.parts)),) if item.parts > 1 else ()

    # ------------------------------------------------------------------ login, status

    async def on_login(self, msg: LoginRequest, session: Sip2Session) -> Message:
        if not self.accounts:
            return LoginResponse(ok=True)
        address = session.address
        delay = self.login_throttle.reserve(address, self.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)  # after failures from this address: one attempt per slot
        account = self.accounts.get(msg.login_user_id)
        ok = account is not None and hmac.compare_digest(account.password.encode(), msg.login_password.encode())
        if ok:
            session.account = account
            return LoginResponse(ok=True)
        now = self.monotonic()
        in_window = self.login_throttle.failed(address, now)
        failures = session.state["login_failures"] = session.state.get("login_failures", 0) + 1
        self.login_log.note(address, now, f"{in_window} in the window")
        if failures >= self.limits.login_failures_per_connection:
            session.close_after_answer = True  # the connection is dropped after this answer
        return LoginResponse(ok=False)

    def housekeeping(self) -> None:
        """Summarise the log bursts that are over; forget old failures."""
        now = self.monotonic()
        for burst in (self.login_log, self.probe_log, self.pin_log, self.role_log):
            burst.flush(now)
        self.login_throttle.prune(now)
        self.probe_throttle.prune(now)

    # ------------------------------------------------------------------ patrons

    def _unknown_patron(self, answer: type[Message], msg: Message) -> Message:
        """A 24 or 64 for a card nobody knows: every privilege denied."""
        return answer(
            patron_status=_DENIED_ALL,
            language=msg.language,
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            valid_patron=False,
            valid_patron_password=False,
            screen_message=(self._unknown_patron_text(language_of(msg.language)),),
        )

    def _patron_fields(self, patron: Any, msg: Message, shown: Disclosure) -> dict[str, Any]:
        """The fields a 24 and a 64 share for a known patron, as much as
        *shown* allows."""
        flags, decisions = self._flags(patron)
        view = patron.view
        sub = view.subscription
        screen = self._screen(decisions, patron.language, patron)
        if patron.pin_locked:
            screen = (_t("library.pin_locked", patron.language),)
        return dict(
            patron_status=flags,
            language=language_code(patron.language),
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            personal_name=view.name if shown.name else "",
            valid_patron=True,
            valid_patron_password=None if patron.pin is PinCheck.UNKNOWN else patron.pin is PinCheck.RIGHT,
            currency_type=CURRENCY if shown.charges else None,
            fee_amount=format_money(view.charges_open_cents + (sub.fee_open_cents if sub else 0)) if shown.charges else None,
            screen_message=screen,
            extra_fields=tuple(self._extensions(patron, shown)),
        )

    def on_patron_status(self, msg: PatronStatusRequest, session: Sip2Session) -> Message:
        patron = self._find_patron(msg.patron_identifier, msg.patron_password or None, session=session)
        if patron is None:
            return self._unknown_patron(PatronStatusResponse, msg)
        return PatronStatusResponse(**self._patron_fields(patron, msg, self._disclosure(patron, session)))

    def on_patron_information(self, msg: PatronInformationRequest, session: Sip2Session) -> Message:
        patron = self._find_patron(msg.patron_identifier, msg.patron_password, lists=True, session=session)
        if patron is None:
            return self._unknown_patron(PatronInformationResponse, msg)
        shown = self._disclosure(patron, session)
        sub = patron.view.subscription
        if not shown.lists:
            return PatronInformationResponse(
                **self._patron_fields(patron, msg, shown),
                charged_items_limit=sub.loan_limit if sub else None,
                fee_limit=format_money(sub.max_charges_cents) if sub and shown.charges else None,
            )
        view = patron.view
        today = self._now().date()
        overdue = [loan for loan in view.loans if loan.due < today]
        available = [h for h in view.holds if h.status is HoldStatus.AVAILABLE]
        waiting = [h for h in view.holds if h.status is HoldStatus.WAITING]
        sub = view.subscription

        start = max(1, msg.start_item or 1)
        end = msg.end_item if msg.end_item else start + 49
        window = slice(start - 1, max(start - 1, end))

        def listed(kind: Summary, values: list[str]) -> tuple[str, ...]:
            return tuple(values[window]) if kind in msg.summary else ()

        return PatronInformationResponse(
            **self._patron_fields(patron, msg, shown),
            hold_items_count=len(available),
            overdue_items_count=len(overdue),
            charged_items_count=len(view.loans),
            fine_items_count=len(view.charges),
            recall_items_count=0,
            unavailable_holds_count=len(waiting),
            charged_items_limit=sub.loan_limit if sub else None,
            fee_limit=format_money(sub.max_charges_cents) if sub else None,
            hold_items=listed(Summary.HOLD, [h.item_id for h in available]),
            overdue_items=listed(Summary.OVERDUE, [loan.item_id for loan in overdue]),
            charged_items=listed(Summary.CHARGED, [loan.item_id for loan in view.loans]),
            fine_items=listed(
                Summary.FINE, [f"{format_charge(c.created, c.amount_cents)} {c.description}".strip() for c in view.charges]
            ),
            unavailable_hold_items=listed(Summary.UNAVAILABLE, [h.item_id for h in waiting]),
        )

    def on_end_patron_session(self, msg: EndPatronSessionRequest, session: Sip2Session) -> Message:
        return EndSessionResponse(
            end_session=True, institution_id=self.institution_id, patron_identifier=msg.patron_identifier
        )

    async def on_block_patron(self, msg: BlockPatron, session: Sip2Session) -> Message:
        """01: block the card (the card becomes 'blocked'); answered with a 24."""
        number = msg.patron_identifier
        if await self._write(lambda s: s.block_card(number)):
            log.info("connection %d: a card was blocked by the SC", session.connection_id)
        return self.on_patron_status(
            PatronStatusRequest(institution_id=msg.institution_id, patron_identifier=msg.patron_identifier), session
        )

    async def on_patron_enable(self, msg: PatronEnable, session: Sip2Session) -> Message:
        """25: lift the block of a blocked card and the lock of the patron's
        PIN (for the roles allowed to unblock); answered with a 26."""

        def answer(patron: _Patron | None, text: str) -> PatronEnableResponse:
            if patron is None:
                return PatronEnableResponse(
                    patron_status=_DENIED_ALL, institution_id=self.institution_id,
                    patron_identifier=msg.patron_identifier, valid_patron=False, valid_patron_password=False,
                    screen_message=(text,),
                )  # fmt: skip
            flags, _ = self._flags(patron)
            return PatronEnableResponse(
                patron_status=flags, language=language_code(patron.language),
                institution_id=self.institution_id, patron_identifier=msg.patron_identifier,
                personal_name=patron.view.name, valid_patron=True,
                valid_patron_password=None if patron.pin is PinCheck.UNKNOWN else patron.pin is PinCheck.RIGHT,
                screen_message=(text,),
            )  # fmt: skip

        if self._role(session) not in UNBLOCKING:  # (the role table says so too)
            return answer(None, _t("library.not_allowed", self._terminal_language(session)))
        number = msg.patron_identifier
        before = self._find_patron(number, None, session=session)
        if before is None:
            return answer(None, self._unknown_patron_text())
        if before.identified.card_status is CardStatus.BLOCKED:
            await self._write(lambda s: s.enable_card(number))
        self.pin_lock.clear(before.view.patron_id)
        log.info("connection %d: a card was enabled by the SC", session.connection_id)
        after = self._find_patron(number, msg.patron_password or None, session=session)
        return answer(after, _t("library.patron_enabled", after.language if after else None))

    def on_registrations(self, msg: RegistrationsRequest, session: Sip2Session) -> Message:
        """41 (Wise SIP2+): one YZ per open registration (FB), or per paid one
        (FA, FC); the PIN, when given, must be right."""
        patron = self._find_patron(msg.patron_identifier, msg.patron_password, session=session)

        def answer(lines=(), text: str | None = None) -> RegistrationsResponse:  # noqa: ANN001
            return RegistrationsResponse.of(
                lines, institution_id=self.institution_id, patron_identifier=msg.patron_identifier,
                screen_message=(text,) if text else (),
            )  # fmt: skip

        if patron is None:
            return answer(text=self._unknown_patron_text())
        if patron.pin is PinCheck.WRONG:
            return answer(text=self._wrong_pin_text(patron.language))
        paid = wise.wants_paid(msg.flags)
        stored = self.store.registrations(patron.view.patron_id, paid=paid)
        return answer(wise.registration_lines(stored, paid=paid))

    async def on_fee_paid(self, msg: FeePaidRequest, session: Sip2Session) -> Message:
        patron = self._find_patron(msg.patron_identifier, None, session=session)
        amount = parse_money(msg.fee_amount)
        lang = patron.language if patron else None

        def answer(ok: bool, text: str) -> FeePaidResponse:
            return FeePaidResponse(
                payment_accepted=ok,
                institution_id=self.institution_id,
                patron_identifier=msg.patron_identifier,
                transaction_id=msg.transaction_id,
                screen_message=(text,),
            )

        if patron is None:
            return answer(False, self._unknown_patron_text())
        if (msg.fee_identifier or "").strip() and msg.fee_identifier.strip().lower() not in ("membership", "fee"):
            outcome = await wise.book_registration(
                self._write, patron.view.patron_id, msg, lang=lang, now=self._now()
            )
            log.info(
                "connection %d: payment by registration %s%s", session.connection_id,
                "booked" if outcome.accepted else f"refused ({outcome.reason})",
                " (repeated transaction id: booked once)" if outcome.booking and outcome.booking.duplicate else "",
            )  # fmt: skip
            return answer(outcome.accepted, outcome.text)
        if amount is None or amount <= 0:
            return answer(False, _t("library.payment_refused", lang))
        what = "fee" if (msg.fee_type == 2 or (msg.fee_identifier or "").lower() in ("membership", "fee")) else "charges"
        pid, cents = patron.view.patron_id, int(amount * 100)
        try:
            now, bk = self._now(), (msg.transaction_id or "").strip() or None
            await self._write(lambda s: s.pay(pid, cents, what=what, transaction_id=bk, booked=now))
        except LibraryError:
            return answer(False, _t("library.payment_refused", lang))
        return answer(True, _t("library.payment_ok", lang))

    # ------------------------------------------------------------------ items

    def _checkout_refusal(self, msg: CheckoutRequest, text: str, item: ItemView | None = None) -> CheckoutResponse:
        return CheckoutResponse(
            ok=False,
            renewal_ok=False,
            magnetic_media=False,
            desensitize=False,
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            item_identifier=msg.item_identifier,
            title_identifier=item.title if item else "",
            media_type=item.media_type if item else None,
            screen_message=(text,),
        )

    async def on_checkout(self, msg: CheckoutRequest, session: Sip2Session) -> Message:
        patron = self._find_patron(msg.patron_identifier, msg.patron_password, session=session)
        if patron is None:
            return self._checkout_refusal(msg, self._unknown_patron_text())
        lang = patron.language
        item = self.store.item(msg.item_identifier)
        if item is None:
            return self._checkout_refusal(msg, _t("library.item_unknown", lang))
        today = self._now().date()
        pid = patron.view.patron_id
        renewal = item.loan is not None and item.loan.patron == pid
        if msg.no_block and item.loan is not None and not renewal:
            # An offline (no-block) checkout never takes an item away from the
            # patron it is charged to: refused, and recorded for staff.
            item_id = item.item_id
            account = session.account.login if session.account is not None else None
            at = self._now().isoformat(timespec="seconds")
            try:
                await self._write(lambda s: s.record_incident(
                    "no_block_checkout_of_charged_item", at=at, account=account, item_id=item_id,
                    detail="a no-block checkout named an item on loan to another patron; refused",
                ))  # fmt: skip
            except LibraryError:  # pragma: no cover - the refusal matters more than the note
                pass
            log.warning(
                "connection %d: no-block checkout of an item on loan to another patron refused (recorded for staff)",
                session.connection_id,
            )
            return self._checkout_refusal(msg, _t("library.item_on_loan", lang), item)
        if not msg.no_block:
            decision = self._decide(Action.RENEW if renewal else Action.CHECKOUT, patron)
            if not decision.allowed:
                log.info("connection %d: checkout refused (%s)", session.connection_id, ",".join(decision.rule_ids()))
                return self._checkout_refusal(msg, self._refusal_text(decision, lang, patron), item)
            if item.loan is not None and not renewal:
                return self._checkout_refusal(msg, _t("library.item_on_loan", lang), item)
            other_hold = item.next_hold(excluding=pid)
            if other_hold is not None:
                return self._checkout_refusal(msg, _t("library.item_on_hold", lang), item)
            if renewal:
                if item.loan.renewals >= item.max_renewals:
                    return self._checkout_refusal(msg, _t("library.renewal_limit", lang), item)
            else:
                limit = patron.view.subscription.loan_limit if patron.view.subscription else 0
                if limit and self.store.loan_count(pid) >= limit:
                    return self._checkout_refusal(msg, _t("library.loan_limit", lang), item)
        due = msg.nb_due_date.date() if (msg.no_block and msg.nb_due_date) else None
        item_id = item.item_id

        def lend(s: Store):  # noqa: ANN202
            if renewal:
                return s.renew(pid, item_id, today=today, due=due)
            return s.checkout(pid, item_id, today=today, due=due)

        try:
            loan = await self._write(lend)
        except LibraryError:
            return self._checkout_refusal(msg, _t("library.item_on_loan", lang), item)
        return CheckoutResponse(
            ok=True,
            renewal_ok=renewal,
            magnetic_media=False,
            desensitize=True,
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            item_identifier=msg.item_identifier,
            title_identifier=item.title,
            due_date=self._due_field(loan.due),
            media_type=item.media_type,
            screen_message=(_t("library.checkout_ok", lang, due=_due_text(loan.due, lang)),),
            print_line=(f"{item.title[:60]} - {_due_text(loan.due, lang)}",),
            extra_fields=self._item_extensions(item) + wise.question_fields(item, item.questions, lang),
        )

    async def on_checkin(self, msg: CheckinRequest, session: Sip2Session) -> Message:
        def unknown_item() -> CheckinResponse:
            return CheckinResponse(
                ok=False,
                resensitize=False,
                magnetic_media=False,
                alert=True,
                institution_id=self.institution_id,
                item_identifier=msg.item_identifier,
                screen_message=(_t("library.item_unknown", self._terminal_language(session)),),
            )

        item = self.store.item(msg.item_identifier)
        if item is None:
            return unknown_item()
        today = (msg.return_date or self._now()).date() if msg.no_block else self._now().date()
        item_id = item.item_id
        try:
            result = await self._write(lambda s: s.checkin(item_id, today=today))
        except LibraryError:
            return unknown_item()
        lang = self._terminal_language(session)  # never the previous borrower's
        if result.hold_patron_id is not None:
            branches = self.store.branches()
            here = next(
                (b for b in (msg.current_location, self._account_location(session)) if b and b in branches),
                item.branch_id,
            )
            sort_bin = wise.hold_bin(result.hold_pickup_branch, here)
            text = _t("library.checkin_hold" if sort_bin == "03" else "library.checkin_hold_transport", lang)
        elif not result.was_on_loan:
            text = _t("library.checkin_not_on_loan", lang)
            sort_bin = None
        else:
            text = _t("library.checkin_ok", lang)
            sort_bin = None
        return CheckinResponse(
            ok=True,
            resensitize=True,
            magnetic_media=False,
            alert=result.hold_patron_id is not None,
            institution_id=self.institution_id,
            item_identifier=msg.item_identifier,
            permanent_location=result.hold_pickup_branch or item.branch_id or "",
            title_identifier=item.title,
            sort_bin=sort_bin,
            media_type=item.media_type,
            screen_message=(text,),
            extra_fields=self._item_extensions(item),
        )

    async def _renew_one(self, patron: _Patron, item: ItemView | None, today: date, *, no_block: bool, nb_due: date | None):
        """Renew one item: (loan, None) or (None, refusal text)."""
        lang = patron.language
        pid = patron.view.patron_id
        if item is None:
            return None, _t("library.item_unknown", lang)
        if item.loan is None or item.loan.patron != pid:
            return None, _t("library.not_your_loan", lang)
        if not no_block:
            if item.next_hold(excluding=pid) is not None:
                return None, _t("library.renew_hold", lang)
            if item.loan.renewals >= item.max_renewals:
                return None, _t("library.renewal_limit", lang)
        item_id = item.item_id
        try:
            return await self._write(lambda s: s.renew(pid, item_id, today=today, due=nb_due)), None
        except LibraryError:
            return None, _t("library.not_your_loan", lang)

    async def on_renew(self, msg: RenewRequest, session: Sip2Session) -> Message:
        def refusal(text: str, item: ItemView | None = None) -> RenewResponse:
            return RenewResponse(
                ok=False,
                renewal_ok=False,
                magnetic_media=False,
                desensitize=False,
                institution_id=self.institution_id,
                patron_identifier=msg.patron_identifier,
                item_identifier=msg.item_identifier or "",
                title_identifier=item.title if item else (msg.title_identifier or ""),
                screen_message=(text,),
            )

        patron = self._find_patron(msg.patron_identifier, msg.patron_password, session=session)
        if patron is None:
            return refusal(self._unknown_patron_text())
        lang = patron.language
        if not msg.no_block:
            decision = self._decide(Action.RENEW, patron)
            if not decision.allowed:
                return refusal(self._refusal_text(decision, lang, patron))
        item = self.store.item(msg.item_identifier) if msg.item_identifier else None
        nb_due = msg.nb_due_date.date() if (msg.no_block and msg.nb_due_date) else None
        loan, problem = await self._renew_one(patron, item, self._now().date(), no_block=msg.no_block, nb_due=nb_due)
        if problem is not None:
            return refusal(problem, item)
        assert item is not None and loan is not None
        return RenewResponse(
            ok=True,
            renewal_ok=True,
            magnetic_media=False,
            desensitize=True,
            institution_id=self.institution_id,
            patron_identifier=msg.patron_identifier,
            item_identifier=msg.item_identifier or item.item_id,
            title_identifier=item.title,
            due_date=self._due_field(loan.due),
            media_type=item.media_type,
            screen_message=(_t("library.renew_ok", lang, due=_due_text(loan.due, lang)),),
            print_line=(f"{item.title[:60]} - {_due_text(loan.due, lang)}",),
        )

    async def on_renew_all(self, msg: RenewAllRequest, session: Sip2Session) -> Message:
        patron = self._find_patron(msg.patron_identifier, msg.patron_password, lists=True, session=session)
        if patron is None:
            return RenewAllResponse(ok=False, institution_id=self.institution_id, screen_message=(self._unknown_patron_text(),))
        lang = patron.language
        if patron.pin is PinCheck.WRONG:
            # Nothing about the patron's loans after a wrong PIN.
            text = _t("library.pin_locked", lang) if patron.pin_locked else self._wrong_pin_text(lang)
            return RenewAllResponse(ok=False, institution_id=self.institution_id, screen_message=(text,))
        listed = self._disclosure(patron, session).lists
        decision = self._decide(Action.RENEW, patron)
        items = [loan.item_id for loan in patron.view.loans]
        if not decision.allowed:
            return RenewAllResponse(
                ok=False,
                unrenewed_count=len(items),
                institution_id=self.institution_id,
                unrenewed_items=tuple(items) if listed else (),
                screen_message=(self._refusal_text(decision, lang, patron),),
            )
        renewed, unrenewed = [], []
        today = self._now().date()
        for item_id in items:
            loan, problem = await self._renew_one(patron, self.store.item(item_id), today, no_block=False, nb_due=None)
            (renewed if loan is not None else unrenewed).append(item_id)
        return RenewAllResponse(
            ok=True,
            renewed_count=len(renewed),
            unrenewed_count=len(unrenewed),
            institution_id=self.institution_id,
            renewed_items=tuple(renewed) if listed else (),
            unrenewed_items=tuple(unrenewed) if listed else (),
            screen_message=(_t("library.renew_all", lang, renewed=len(renewed), unrenewed=len(unrenewed)),),
        )

    # ------------------------------------------------------------------ holds

    @staticmethod
    def _hold_place(item: ItemView, patron_id: str) -> tuple[bool, int | None]:
        """(available, queue position) of *patron_id*'s hold on *item*: on
        the hold shelf for them, or their place among the waiting holds."""
        waiting = [h[1] for h in item.holds if h[2] is HoldStatus.WAITING]
        if patron_id in waiting:
            return False, waiting.index(patron_id) + 1
        ready = any(h[1] == patron_id and h[2] is HoldStatus.AVAILABLE for h in item.holds)
        return ready, None

    async def on_hold(self, msg: HoldRequest, session: Sip2Session) -> Message:
        """15: '+' places a hold on an item, '-' cancels it; '*' (change) is
        refused: the store keeps no expiration date and a hold's place in
        the queue would be lost by cancelling and placing it again."""

        def answer(
            ok: bool, text: str, item: ItemView | None = None, *, available: bool = False,
            position: int | None = None, pickup: str | None = None,
        ) -> HoldResponse:  # fmt: skip
            return HoldResponse(
                ok=ok,
                available=available,
                queue_position=position,
                pickup_location=pickup,
                institution_id=self.institution_id,
                patron_identifier=msg.patron_identifier,
                item_identifier=msg.item_identifier,
                title_identifier=item.title if item else msg.title_identifier,
                screen_message=(text,),
            )

        mode = msg.hold_mode
        if mode not in HOLD_MODES:
            return answer(False, self.not_supported_message)
        patron = self._find_patron(msg.patron_identifier, msg.patron_password, session=session)
        if patron is None:
            return answer(False, self._unknown_patron_text())
        lang = patron.language
        pid = patron.view.patron_id
        item = self.store.item(msg.item_identifier) if msg.item_identifier else None
        if mode == HOLD_CHANGE:
            return answer(False, _t("library.hold_change", lang), item)

        if mode == HOLD_DELETE:
            # Cancelling is never refused for a rule, but a PIN, when given, must be right.
            if patron.pin is PinCheck.WRONG:
                return answer(False, self._wrong_pin_text(lang), item)
            if item is None:
                return answer(False, _t("library.hold_item_unknown", lang))
            item_id = item.item_id
            if not await self._write(lambda s: s.cancel_hold(pid, item_id)):
                return answer(False, _t("library.hold_not_found", lang), item)
            log.info("connection %d: hold cancelled", session.connection_id)
            return answer(True, _t("library.hold_cancelled", lang), item)

        decision = self._decide(Action.HOLD, patron)
        if not decision.allowed:
            log.info("connection %d: hold refused (%s)", session.connection_id, ",".join(decision.rule_ids()))
            return answer(False, self._refusal_text(decision, lang, patron), item)
        if item is None:
            return answer(False, _t("library.hold_item_unknown", lang))
        if not item.holdable:
            return answer(False, _t("library.hold_not_holdable", lang), item)
        if item.loan is not None and item.loan.patron == pid:
            return answer(False, _t("library.hold_own_loan", lang), item)
        if any(h[1] == pid for h in item.holds):
            available, position = self._hold_place(item, pid)
            return answer(False, _t("library.hold_exists", lang), item, available=available, position=position)
        pickup = msg.pickup_location or None
        if pickup is not None and pickup not in self.store.branches():
            return answer(False, _t("library.hold_pickup_unknown", lang), item)
        today = self._now().date()
        item_id = item.item_id

        def place(s: Store) -> ItemView | None:
            s.place_hold(pid, item_id, today=today, pickup_branch=pickup)
            return s.item(item_id)

        try:
            placed = await self._write(place)
        except NotFound:
            return answer(False, _t("library.hold_item_unknown", lang))
        except LibraryError:  # placed meanwhile through another connection
            return answer(False, _t("library.hold_exists", lang), item)
        available, position = self._hold_place(placed or item, pid)
        log.info("connection %d: hold placed", session.connection_id)
        return answer(
            True, _t("library.hold_ok", lang, position=position), item,
            available=available, position=position, pickup=pickup or item.branch_id,
        )  # fmt: skip

    def on_item_information(self, msg: ItemInformationRequest, session: Sip2Session) -> Message:
        item = self.store.item(msg.item_identifier)
        if item is None:
            return ItemInformationResponse(
                circulation_status=1,
                security_marker=0,
                fee_type=1,
                item_identifier=msg.item_identifier,
                screen_message=(_t("library.item_unknown", None),),
            )
        on_shelf_for = next((h for h in item.holds if h[2] is HoldStatus.AVAILABLE), None)
        if item.loan is not None:
            status = 4  # charged
        elif on_shelf_for is not None:
            status = 8  # waiting on hold shelf
        else:
            status = 3  # available
        return ItemInformationResponse(
            circulation_status=status,
            security_marker=0,
            fee_type=1,
            hold_queue_length=len(item.holds),
            due_date=self._due_field(item.loan.due) if item.loan else None,
            item_identifier=msg.item_identifier,
            title_identifier=item.title,
            owner=self.institution_id,
            media_type=item.media_type,
            permanent_location=item.branch_id,
            current_location=item.branch_id,
            extra_fields=self._item_extensions(item),
        )


class LibraryServer:
    """The embedded library system's SIP2 server: a store, a handler, a socket."""

    def __init__(
        self,
        store: Store,
        *,
        fields: FieldCodes | None = None,
        encoding: str = "cp850",
        clock: Callable[[], datetime] | None = None,
        extra_accounts: tuple[Account, ...] = (),
        group_commit: bool = True,
        dialect: str | None = None,
    ) -> None:
        self.store = store
        self.writer = GroupWriter(store.path, fault_delay=store.fault_delay) if group_commit else None
        self.handler = LibraryHandler(
            store, fields=fields, clock=clock, extra_accounts=extra_accounts, writer=self.writer, dialect=dialect
        )
        self.handler.encoding = encoding
        limits = self.handler.limits
        self.server = Sip2Server(
            self.handler,
            encoding=encoding,
            idle_timeout=limits.idle_timeout_seconds,
            login_timeout=limits.login_timeout_seconds,
            max_connections=limits.max_connections,
            max_connections_per_address=limits.max_connections_per_address,
        )
        self.port: int | None = None
        self._housekeeping: asyncio.Task | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> int:
        if not self.handler.accounts:
            log.warning("no SIP2 login accounts in the data file: every login is accepted")
        self.port = await self.server.start(host, port, ssl=tls)
        log.info("SIP2 connections: at most %s at once", self.server.connection_cap())
        self._housekeeping = asyncio.create_task(self._housekeep())
        return self.port

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            self.handler.housekeeping()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            self._housekeeping = None
        await self.server.close()
        self.handler.housekeeping()
        if self.writer is not None:
            writer, self.writer = self.writer, None
            await asyncio.get_running_loop().run_in_executor(None, writer.close)

    async def __aenter__(self) -> LibraryServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate (chain) and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise LibraryError(f"cannot load the TLS certificate/key: {exc}") from None
    return context
