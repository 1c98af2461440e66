"""What the flows show: states, texts, item lines and the view the UI renders.

The flows never produce finished sentences.  A :class:`Text` is a gettext key
(domain ``kiosk`` for the kiosk's own texts, ``policy`` for decisions) with
its parameters, or a literal text from the library system (its screen
message, in its own language); the UI renders it in the language shown now,
so a language switch re-renders every text at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from kiosk.i18n import MissingMessage, translate


class State(StrEnum):
    IDLE = "idle"  # welcome: tap your card, or return items
    PIN = "pin"  # touch keypad
    MENU = "menu"  # identified: borrow, return, renew, account, finish
    BORROW = "borrow"  # scan or place items
    RETURN = "return"  # scan or place items, no identification needed
    RENEW = "renew"  # the patron's loans, renew selected or all
    ACCOUNT = "account"  # loans, holds ready, blocks explained
    RECEIPT = "receipt"  # "Would you like a receipt?"
    SUMMARY = "summary"  # what was done; goodbye
    MESSAGE = "message"  # a refusal or notice with an OK button
    OUT_OF_ORDER = "out_of_order"  # the library system is unreachable and offline mode is off
    PAY = "pay"  # a refusal that payment lifts: what is owed, what to pay (kiosk.flows.pay)
    PAYING = "paying"  # the payment terminal has the payment: card, PIN on the terminal


#: States in which a session (or a patron's attention) is open: the idle
#: timeout runs, with its warning, in every one of them.
TIMED_STATES = frozenset(State) - {State.IDLE, State.OUT_OF_ORDER}


@dataclass(frozen=True, slots=True)
class Text:
    """A patron-facing text: a catalog key with parameters, or a literal."""

    key: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    domain: str = "kiosk"
    literal: str | None = None

    def render(self, lang: str) -> str:
        if self.literal is not None:
            return self.literal
        params = {k: (v.render(lang) if isinstance(v, Text) else v) for k, v in self.params}
        try:
            return translate(self.domain, self.key, lang, **params)
        except MissingMessage:
            # A key without a text is our bug; never show a traceback to a patron.
            return self.key


def K(key: str, **params: Any) -> Text:  # noqa: N802 - short constructor used everywhere
    """A text of the ``kiosk`` domain."""
    return Text(key=key, params=tuple(sorted(params.items())))


def policy_text(message: Any) -> Text:
    """The patron text of a policy Decision's message."""
    return Text(key=message.key, params=tuple(sorted(message.params.items())), domain="policy")


def literal(text: str) -> Text:
    return Text(literal=text)


class LineKind(StrEnum):
    BORROW = "borrow"
    RETURN = "return"
    RENEW = "renew"


class LineStatus(StrEnum):
    WORKING = "working"  # the library system is being asked
    OK = "ok"  # done
    QUEUED = "queued"  # offline: will be confirmed later
    REFUSED = "refused"  # the library system or a rule said no (reason in text)
    INCOMPLETE = "incomplete"  # a set with parts missing
    OFFER_RENEW = "offer_renew"  # borrowing an item already lent to this patron
    FAILED = "failed"  # the link failed; ask staff


DONE_STATUSES = frozenset({LineStatus.OK, LineStatus.QUEUED})


@dataclass(slots=True)
class ItemLine:
    """One item the patron handled in this session."""

    kind: LineKind
    item_id: str
    status: LineStatus
    title: str = ""
    due: str | None = None  # ISO date
    text: Text | None = None  # reason, hold-shelf advice, screen message
    extra: Text | None = None  # a second line (the library system's screen message)
    notes: tuple[Text, ...] = ()  # borrow: what the library says about the item (Wise FV), information only
    hold_bin: str | None = None  # return: "hold_shelf" / "in_transport" (a hold waits for it; receipt)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES


@dataclass(slots=True)
class LoanLine:
    item_id: str
    title: str
    due: str | None
    overdue: bool = False
    selected: bool = False
    status: LineStatus | None = None  # after a renewal attempt
    text: Text | None = None


@dataclass(slots=True)
class HoldLine:
    item_id: str
    title: str
    ready: bool
    pickup: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    borrowed: int = 0
    returned: int = 0
    renewed: int = 0
    queued: int = 0
    refused: int = 0
    receipt_printed: bool = False
    with_card: bool = False  # the patron's card was used (the goodbye reminds them to take it)


@dataclass(slots=True)
class View:
    """Everything a screen needs; the UI renders it and nothing else."""

    state: State = State.IDLE
    language: str = "nl"
    #: the patron's display choices (top bar switches): kept for the session, like the language
    large_text: bool = False  # every text at 200 %
    high_contrast: bool = False  # the high-contrast palette
    identified: bool = False
    offline: bool = False  # this session runs on the offline journal
    busy: Text | None = None  # progress while the library system answers
    title: Text | None = None  # the message screen's title
    message: Text | None = None  # the message screen's body, or a banner
    message_extra: Text | None = None
    message_back: State | None = None
    hint: Text | None = None  # a one-line hint (e.g. items placed before the card)
    lines: list[ItemLine] = field(default_factory=list)
    loans: list[LoanLine] = field(default_factory=list)
    holds: list[HoldLine] = field(default_factory=list)
    blocks: list[Text] = field(default_factory=list)  # account: why things are refused
    notifications: list[Text] = field(default_factory=list)  # menu: the library's messages for the patron
    notices: list[Text] = field(default_factory=list)  # devices out of order, offline
    warning_seconds: int | None = None  # idle warning countdown, None when hidden
    pin_length: int = 0
    pin_error: Text | None = None
    can_borrow: bool = True
    can_return: bool = True
    can_renew: bool = True
    can_receipt: bool = True
    borrow_refusal: Text | None = None  # shown on the menu when borrowing is refused
    renew_refused: bool = False  # the policy refuses renewals too (the menu shows Renew as secondary)
    summary: Summary | None = None
    pay: Any = None  # kiosk.flows.pay.PayView on the PAY / PAYING screens
    help: Any = None  # kiosk.flows.help.HelpView while the help overlay is open
    version: int = 0

    def texts(self) -> list[Text]:
        """Every text on the screen (for tests and screenshots)."""
        out = [t for t in (self.busy, self.title, self.message, self.message_extra, self.hint, self.pin_error,
                           self.borrow_refusal) if t is not None]
        for line in self.lines:
            out += [t for t in (line.text, line.extra) if t is not None]
            out += list(line.notes)
        for loan in self.loans:
            if loan.text is not None:
                out.append(loan.text)
        if self.pay is not None:
            out += [t for t in (self.pay.reason, self.pay.lifts_text, self.pay.banner, self.pay.pay_label) if t is not None]
            out += [label for label, *_rest in self.pay.lines]
        return out + list(self.blocks) + list(self.notifications) + list(self.notices)


class Cue(StrEnum):
    """Audio cues."""

    SUCCESS = "success"
    REFUSAL = "refusal"
    WARNING = "warning"
    TAP = "tap"


# --- texts the screens and the speech output share (kiosk.ui.screens, kiosk.flows.speech) ---


def fmt_date(value: str | date | None, lang: str | None = None) -> str:
    """An ISO date (or a date) as the patron reads it (dd/mm/yyyy, the same in every language: screens,
    speech and receipt alike); ``""`` for none."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def fmt_moment(moment: datetime, lang: str | None = None) -> str:
    """A date and time as the patron reads it (dd/mm/yyyy HH:MM, the receipt's header): day first in
    every language like :func:`fmt_date` (a library in NL/BE prints 03/12 for 3 December to everyone)."""
    return f"{fmt_date(moment, lang)} {moment:%H:%M}"


def status_text(line_status: LineStatus | None, kind: str) -> Text | None:
    """The status word of an item or loan line ("Geleend", "Geweigerd", ...)."""
    if line_status is None:
        return None
    if line_status is LineStatus.OK:
        return K(f"kiosk.status.ok.{kind}")
    return K(f"kiosk.status.{line_status.value}")


def summary_texts(s: Summary | None) -> list[Text]:
    """The goodbye screen's lines: what was done, refused, queued, printed."""
    lines: list[Text] = []
    if s is None:
        return lines
    for count, key in ((s.borrowed, "kiosk.summary.borrowed"), (s.renewed, "kiosk.summary.renewed"),
                       (s.returned, "kiosk.summary.returned")):
        if count:
            lines.append(K(key, count=count))
    if not lines:
        lines.append(K("kiosk.summary.nothing"))
    if s.refused:
        lines.append(K("kiosk.summary.refused", count=s.refused))
    if s.queued:
        lines.append(K("kiosk.summary.queued"))
    if s.receipt_printed:
        lines.append(K("kiosk.summary.receipt"))
    if s.with_card:
        lines.append(K("kiosk.summary.card"))
    return lines
