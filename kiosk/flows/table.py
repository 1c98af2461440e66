"""The flows' one state table: for every state, the states it may move to
and the touch actions it answers (with the handler each calls).

Checked when the module is imported, in the manner of python-statemachine's
definition-time checks, so a broken table never starts:

* every state has a row, every target is a state;
* every state is reachable from IDLE, and IDLE is reachable from every state
  (no state can trap a patron's session);
* a handler name is a ``_ui_*`` name; that :class:`~kiosk.flows.engine.KioskFlows`
  has each of them is checked when the engine module defines the class
  (:func:`check_handlers`).

``TRANSITIONS`` (state -> allowed targets) is derived from the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import FlowError
from .model import State
from .session import Ui

S = State


class TableError(FlowError):
    """The state table is inconsistent (our bug: caught at import)."""


@dataclass(frozen=True, slots=True)
class StateRow:
    targets: frozenset[State]
    ui: Mapping[Ui, str] = field(default_factory=dict)


_SESSION_UI = {
    Ui.BORROW: "_ui_borrow",
    Ui.RETURN: "_ui_return",
    Ui.RENEW: "_ui_renew",
    Ui.ACCOUNT: "_ui_account",
    Ui.MENU: "_ui_menu",
    Ui.FINISH: "_ui_finish",
    Ui.CANCEL: "_ui_menu",
}

TABLE: Mapping[State, StateRow] = MappingProxyType({
    S.IDLE: StateRow(
        frozenset({S.PIN, S.MENU, S.BORROW, S.RETURN, S.MESSAGE, S.OUT_OF_ORDER}),
        {Ui.RETURN: "_ui_return"},
    ),
    S.PIN: StateRow(
        frozenset({S.MENU, S.BORROW, S.RETURN, S.MESSAGE, S.IDLE}),
        {
            Ui.PIN_DIGIT: "_ui_pin_digit",
            Ui.PIN_BACK: "_ui_pin_back",
            Ui.PIN_CLEAR: "_ui_pin_clear",
            Ui.PIN_ENTER: "_ui_pin_enter",
            Ui.CANCEL: "_ui_cancel",
        },
    ),
    S.MENU: StateRow(
        frozenset({S.BORROW, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE, S.PAY}),
        _SESSION_UI,
    ),
    S.BORROW: StateRow(
        frozenset({S.MENU, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE, S.PAY}),
        {**_SESSION_UI, Ui.RENEW_ITEM: "_ui_renew_item"},
    ),
    S.RETURN: StateRow(
        frozenset({S.MENU, S.BORROW, S.PIN, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE, S.PAY}),
        _SESSION_UI,
    ),
    S.RENEW: StateRow(
        frozenset({S.MENU, S.BORROW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE, S.PAY}),
        {
            **_SESSION_UI,
            Ui.TOGGLE_LOAN: "_ui_toggle",
            Ui.RENEW_SELECTED: "_ui_renew_selected",
            Ui.RENEW_ALL: "_ui_renew_all",
        },
    ),
    S.ACCOUNT: StateRow(
        frozenset({S.MENU, S.BORROW, S.RENEW, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE, S.PAY}),
        _SESSION_UI,
    ),
    S.RECEIPT: StateRow(
        frozenset({S.SUMMARY, S.IDLE}),
        {Ui.RECEIPT_YES: "_ui_receipt_yes", Ui.RECEIPT_NO: "_ui_receipt_no"},
    ),
    S.SUMMARY: StateRow(
        frozenset({S.IDLE, S.OUT_OF_ORDER}),
        {Ui.OK: "_ui_summary_ok", Ui.FINISH: "_ui_summary_ok"},
    ),
    S.MESSAGE: StateRow(
        frozenset({S.IDLE, S.PIN, S.MENU, S.BORROW, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY,
                   S.OUT_OF_ORDER, S.PAY}),
        {Ui.OK: "_ui_message_ok", Ui.CANCEL: "_ui_message_ok"},
    ),
    S.PAY: StateRow(
        frozenset({S.PAYING, S.MENU, S.BORROW, S.RENEW, S.ACCOUNT, S.MESSAGE, S.RECEIPT, S.SUMMARY, S.IDLE}),
        {
            Ui.PAY_TOGGLE: "_ui_pay_toggle",
            Ui.PAY_ALL: "_ui_pay_all",
            Ui.PAY_NEEDED: "_ui_pay_needed",
            Ui.PAY_START: "_ui_pay_start",
            Ui.PAY_BACK: "_ui_pay_back",
            Ui.CANCEL: "_ui_pay_back",
            Ui.MENU: "_ui_pay_back",
            Ui.FINISH: "_ui_finish",
        },
    ),
    # Cancel while the terminal works is KioskFlows.cancel_payment (immediate, not queued).
    S.PAYING: StateRow(frozenset({S.PAY, S.MENU, S.BORROW, S.MESSAGE, S.IDLE})),
    S.OUT_OF_ORDER: StateRow(
        frozenset({S.IDLE, S.RETURN, S.PIN, S.MESSAGE}),
        {Ui.RETURN: "_ui_return"},
    ),
})


def _reachable(start: State, edges: Mapping[State, frozenset[State]]) -> set[State]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), frozenset()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def validate(table: Mapping[State, StateRow]) -> None:
    """Raise :class:`TableError` naming the first problem of *table*."""
    missing = [s.value for s in State if s not in table]
    if missing:
        raise TableError(f"state table: no row for {', '.join(missing)}")
    for state, row in table.items():
        if not isinstance(state, State):
            raise TableError(f"state table: {state!r} is not a State")
        for target in row.targets:
            if not isinstance(target, State):
                raise TableError(f"state table: {state.value} -> {target!r}: not a State")
        for action, name in row.ui.items():
            if not isinstance(action, Ui):
                raise TableError(f"state table: {state.value}: {action!r} is not a Ui action")
            if not (isinstance(name, str) and name.startswith("_ui_")):
                raise TableError(f"state table: {state.value}/{action.value}: handler {name!r} is not a _ui_ name")
    edges = {s: row.targets for s, row in table.items()}
    unreachable = sorted(s.value for s in set(State) - _reachable(S.IDLE, edges))
    if unreachable:
        raise TableError(f"state table: unreachable from idle: {', '.join(unreachable)}")
    for state in State:
        if S.IDLE not in _reachable(state, edges):
            raise TableError(f"state table: {state.value} can never get back to idle")


def check_handlers(cls: type, table: Mapping[State, StateRow] | None = None) -> None:
    """Every handler the table names exists on *cls* and is callable."""
    for state, row in (table or TABLE).items():
        for action, name in row.ui.items():
            if not callable(getattr(cls, name, None)):
                raise TableError(f"state table: {state.value}/{action.value}: {cls.__name__} has no {name}")


validate(TABLE)

#: Allowed moves (derived from :data:`TABLE`).  Any state may also go to itself (a refresh).
TRANSITIONS: Mapping[State, frozenset[State]] = MappingProxyType({s: row.targets for s, row in TABLE.items()})
