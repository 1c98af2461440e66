"""The kiosk's flows: state machines for identify, borrow, return, renew,
account, end and the idle timeout, with named guards that ask the policy.
Pure of Kivy: the UI (kiosk.ui) renders :class:`View` and sends
:class:`UiEvent`."""

from .engine import FlowSettings, KioskFlows, Session, Ui, UiEvent
from .table import TABLE, TRANSITIONS, StateRow
from .errors import BadTransition, FlowError
from .hub import ROLE_KINDS, DeviceHub
from .model import (
    TIMED_STATES,
    Cue,
    HoldLine,
    ItemLine,
    K,
    LineKind,
    LineStatus,
    LoanLine,
    State,
    Summary,
    Text,
    View,
)

__all__ = [
    "TABLE",
    "TRANSITIONS",
    "StateRow",
    "TIMED_STATES",
    "BadTransition",
    "Cue",
    "DeviceHub",
    "FlowError",
    "FlowSettings",
    "HoldLine",
    "ItemLine",
    "K",
    "KioskFlows",
    "LineKind",
    "LineStatus",
    "LoanLine",
    "ROLE_KINDS",
    "Session",
    "State",
    "Summary",
    "Text",
    "Ui",
    "UiEvent",
    "View",
]
