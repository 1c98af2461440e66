"""The flows' inputs and per-visit state: touch actions, settings, the session."""

from __future__ import annotations

from collections.abc import Mapping

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kiosk.config import OfflineMode, ReceiptMode
from policy import Decision, PatronSnapshot, SiteRules

from .help import HelpSettings
from .model import HoldLine, ItemLine, LoanLine


class Ui(StrEnum):
    """Touch actions."""

    BORROW = "borrow"
    RETURN = "return"
    RENEW = "renew"
    ACCOUNT = "account"
    MENU = "menu"
    FINISH = "finish"
    OK = "ok"
    CANCEL = "cancel"
    PIN_DIGIT = "pin_digit"
    PIN_BACK = "pin_back"
    PIN_CLEAR = "pin_clear"
    PIN_ENTER = "pin_enter"
    TOGGLE_LOAN = "toggle_loan"
    RENEW_SELECTED = "renew_selected"
    RENEW_ALL = "renew_all"
    RENEW_ITEM = "renew_item"
    RECEIPT_YES = "receipt_yes"
    RECEIPT_NO = "receipt_no"
    PAY_TOGGLE = "pay_toggle"
    PAY_ALL = "pay_all"
    PAY_NEEDED = "pay_needed"
    PAY_START = "pay_start"
    PAY_BACK = "pay_back"


@dataclass(frozen=True, slots=True)
class UiEvent:
    action: Ui
    arg: str | None = None


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """The flows' settings (from ``[kiosk]`` and ``[policy]``)."""

    rules: SiteRules = field(default_factory=SiteRules)
    language: str = "nl"
    idle_timeout_seconds: float = 90.0
    idle_warning_seconds: float = 20.0
    receipt: ReceiptMode = ReceiptMode.ASK
    offline: OfflineMode = OfflineMode.RETURN_ONLY
    offline_item_limit: int = 5
    offline_recent_hours: float = 72.0
    branch: str | None = None
    summary_seconds: float = 8.0
    probe_seconds: float = 10.0
    #: branch code -> name, so a hold's pickup place reads "Demo Centrum", not "9901"
    branch_names: Mapping[str, str] = field(default_factory=dict)
    #: where a forgotten PIN is reset (``[kiosk] pin_reset_url``); None: "ask at the desk"
    pin_reset_url: str | None = None
    #: the help overlay (``[help]``, ``[schedule]``)
    help: HelpSettings = field(default_factory=HelpSettings)

    @classmethod
    def from_config(cls, config: Any) -> FlowSettings:
        k = config.kiosk
        return cls(
            rules=config.policy,
            language=k.language,
            idle_timeout_seconds=float(k.idle_timeout_seconds),
            idle_warning_seconds=float(k.idle_warning_seconds),
            receipt=ReceiptMode(str(k.receipt)),
            offline=OfflineMode(str(k.offline)),
            offline_item_limit=k.offline_item_limit,
            offline_recent_hours=float(k.offline_recent_hours),
            branch=k.branch,
            branch_names=dict(k.branch_names),
            pin_reset_url=k.pin_reset_url,
            help=HelpSettings.from_config(config),
        )


@dataclass
class Session:
    """One patron's visit.  Dropped whole at the end."""

    card: str | None = None
    pin: str | None = None
    snapshot: PatronSnapshot | None = None
    offline: bool = False
    awaiting_offline_pin: bool = False
    loans: list[LoanLine] = field(default_factory=list)
    holds: list[HoldLine] = field(default_factory=list)
    lines: list[ItemLine] = field(default_factory=list)
    seen_uids: set[str] = field(default_factory=set)
    borrow_decision: Decision | None = None
    #: the library's public notifications for the patron (Wise AF), shown on the menu
    notifications: tuple[str, ...] = ()
    pay: Any = None  # kiosk.flows.pay.PaySelection while the PAY screen is open
    pay_banner: Any = None  # the last payment attempt's outcome text
    payments: list[Any] = field(default_factory=list)  # kiosk.payments.PayReport of this visit

    def __repr__(self) -> str:  # never the card or PIN
        return f"Session(identified={self.card is not None}, offline={self.offline}, lines={len(self.lines)})"
