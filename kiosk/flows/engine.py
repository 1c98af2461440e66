"""The kiosk's flows: one state machine for identify, borrow, return, renew,
account, end, and the idle timeout.  Knows nothing of Kivy.

Inputs are device events (from :class:`~kiosk.flows.hub.DeviceHub`) and
touch actions (:class:`UiEvent`), handled one at a time in arrival order.
Output is a :class:`~kiosk.flows.model.View` published to listeners after
every step, plus audio cues.  Every move between states goes through
:meth:`KioskFlows._goto`, checked against :data:`TRANSITIONS`; every
decision about the patron goes through a named guard
(:mod:`kiosk.flows.guards`) that asks ``policy.decide``.

Rules the flows keep:

* An item's security bit is cleared only after the library system said yes
  (or after the offline journal committed an allowed offline checkout), and
  set again after a return was accepted or queued.
* Every transaction is in the journal before it goes to the library system,
  and its answer after.
* When the library system is unreachable the ``[kiosk] offline`` setting
  decides: ``off`` (out of order), ``return_only``, or ``checkout`` for
  patrons verified online within ``offline_recent_hours`` (and with the same
  PIN), at most ``offline_item_limit`` items waiting per patron.
* At the end nothing of the patron stays: the session object is dropped and
  the view is reset.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from devices.base import (
    KEY_CLEAR,
    KEY_ENTER,
    CardPresented,
    DeviceEvent,
    Event,
    IdentifierKind,
    KeyPressed,
    Pattern,
    Scanned,
    Tag,
    TagsChanged,
    missing_parts,
)
from devices.errors import DeviceError
from kiosk.config import OfflineMode, ReceiptMode
from kiosk.i18n import normalise_language
from kiosk.journal import Journal, JournalEntry, ReplayOutcome, TxnKind
from policy import Decision, PatronSnapshot, PinCheck, SiteRules

from . import guards
from .errors import BadTransition
from .hub import SHARED_SCANNER, DeviceHub
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
    literal,
    policy_text,
)
from .port import LibraryPort, LibrarySystemError, LibrarySystemUnavailable, account_data, item_fingerprint, item_result
from .receipt import receipt_lines

log = logging.getLogger("kiosk.flows")

S = State

#: Allowed moves.  Any state may also go to itself (a refresh).
TRANSITIONS: dict[State, frozenset[State]] = {
    S.IDLE: frozenset({S.PIN, S.MENU, S.BORROW, S.RETURN, S.MESSAGE, S.OUT_OF_ORDER}),
    S.PIN: frozenset({S.MENU, S.BORROW, S.MESSAGE, S.IDLE}),
    S.MENU: frozenset({S.BORROW, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE}),
    S.BORROW: frozenset({S.MENU, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE}),
    S.RETURN: frozenset({S.MENU, S.BORROW, S.PIN, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE}),
    S.RENEW: frozenset({S.MENU, S.BORROW, S.ACCOUNT, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE}),
    S.ACCOUNT: frozenset({S.MENU, S.BORROW, S.RENEW, S.RECEIPT, S.SUMMARY, S.MESSAGE, S.IDLE}),
    S.RECEIPT: frozenset({S.SUMMARY, S.IDLE}),
    S.SUMMARY: frozenset({S.IDLE, S.OUT_OF_ORDER}),
    S.MESSAGE: frozenset({S.IDLE, S.PIN, S.MENU, S.BORROW, S.RETURN, S.RENEW, S.ACCOUNT, S.RECEIPT, S.SUMMARY,
                          S.OUT_OF_ORDER}),
    S.OUT_OF_ORDER: frozenset({S.IDLE, S.RETURN, S.PIN, S.MESSAGE}),
}


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
    max_pin_length: int = 12

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
    pin_buffer: str = ""
    borrow_decision: Decision | None = None

    def __repr__(self) -> str:  # never the card or PIN
        return f"Session(identified={self.card is not None}, offline={self.offline}, lines={len(self.lines)})"


Listener = Callable[[View], None]
CueListener = Callable[[Cue], None]


class KioskFlows:
    """The kiosk's state machine over a library system, a journal and devices."""

    def __init__(
        self,
        library: LibraryPort,
        journal: Journal,
        hub: DeviceHub | None = None,
        settings: FlowSettings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.library = library
        self.journal = journal
        self.hub = hub or DeviceHub({})
        self.settings = settings or FlowSettings()
        self._monotonic = monotonic
        self._now = now
        self.session: Session | None = None
        self.view = View(language=normalise_language(self.settings.language))
        self._listeners: list[Listener] = []
        self._cue_listeners: list[CueListener] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_activity = monotonic()
        self._entered_at = monotonic()
        self._warned = False
        self._pad: dict[str, Tag] = {}
        self._stale: set[str] = set()  # tags left on the pad by the previous session
        self._pending_scans: list[str] = []
        self._library_up = True
        self._device_ok: dict[str, bool] = {}
        self._replaying = False
        self._background: list[asyncio.Task[Any]] = []
        self._closed = False

    # ================================================================== wiring

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_cue(self, listener: CueListener) -> None:
        self._cue_listeners.append(listener)

    @property
    def state(self) -> State:
        return self.view.state

    async def start(self, *, ticker: bool = True) -> None:
        """Open the devices and start the idle ticker and the library watcher."""
        await self.hub.open(self.post)
        if ticker:
            self._background.append(asyncio.create_task(self._tick_loop(), name="kiosk idle ticker"))
            self._background.append(asyncio.create_task(self._watch_library(), name="kiosk library watcher"))
        self._publish()

    async def close(self) -> None:
        self._closed = True
        for task in self._background:
            task.cancel()
        for task in list(self._tasks) + self._background:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.hub.close()

    def post(self, role: str | None, event: Event | UiEvent) -> None:
        """Queue an event (device events from the hub, touches from the UI)."""
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self.handle(event, role))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def press(self, action: Ui, arg: str | None = None) -> None:
        self.post(None, UiEvent(Ui(action), arg))

    async def settle(self) -> None:
        """Wait until every queued event is handled (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ================================================================== immediate actions (no queue)

    def more_time(self) -> None:
        """'I need more time': the idle timeout starts again."""
        self._touch()
        self.view.warning_seconds = None
        self._publish()

    def set_language(self, lang: str) -> None:
        self._touch()
        self.view.language = normalise_language(lang)
        self._publish()

    # ================================================================== the loop of events

    async def handle(self, event: Event | UiEvent, role: str | None = None) -> None:
        async with self._lock:
            if not isinstance(event, DeviceEvent):
                self._touch()
            try:
                await self._dispatch(event, role)
            except Exception:  # noqa: BLE001 - the patron never sees a traceback
                log.exception("flow error in state %s on %s", self.state.value, type(event).__name__)
                self._clear_busy()
                await self._message(K("kiosk.error.title"), K("kiosk.error.body"), back=S.MENU if self._identified else S.IDLE)
            finally:
                self._touch_if_session()
                self._publish()

    async def _dispatch(self, event: Event | UiEvent, role: str | None) -> None:
        if isinstance(event, UiEvent):
            handler = self._ui_handler(event.action)
            if handler is None:
                log.debug("ignored %s in %s", event.action.value, self.state.value)
                return
            await handler(event.arg)
        elif isinstance(event, DeviceEvent):
            if role is not None:
                self._device_ok[role] = event.kind != "lost"
        elif isinstance(event, CardPresented):
            await self._on_card(event)
        elif isinstance(event, Scanned):
            data = event.data.strip()
            if role == SHARED_SCANNER and self.state is S.IDLE and not self._identified:
                await self._on_card(CardPresented(data, IdentifierKind.BARCODE, "scanner"))
            else:
                await self._on_scan(data)
        elif isinstance(event, TagsChanged):
            await self._on_tags(event)
        elif isinstance(event, KeyPressed):
            await self._on_key(event.key)

    def _ui_handler(self, action: Ui) -> Callable[[str | None], Any] | None:
        s = self.state
        table: dict[Ui, Callable[[str | None], Any]] = {}
        if s is S.IDLE:
            table = {Ui.RETURN: self._ui_return}
        elif s is S.OUT_OF_ORDER:
            table = {Ui.RETURN: self._ui_return}
        elif s is S.PIN:
            table = {
                Ui.PIN_DIGIT: self._ui_pin_digit,
                Ui.PIN_BACK: self._ui_pin_back,
                Ui.PIN_CLEAR: self._ui_pin_clear,
                Ui.PIN_ENTER: self._ui_pin_enter,
                Ui.CANCEL: self._ui_cancel,
            }
        elif s in (S.MENU, S.BORROW, S.RETURN, S.RENEW, S.ACCOUNT):
            table = {
                Ui.BORROW: self._ui_borrow,
                Ui.RETURN: self._ui_return,
                Ui.RENEW: self._ui_renew,
                Ui.ACCOUNT: self._ui_account,
                Ui.MENU: self._ui_menu,
                Ui.FINISH: self._ui_finish,
                Ui.CANCEL: self._ui_menu,
            }
            if s is S.RENEW:
                table |= {Ui.TOGGLE_LOAN: self._ui_toggle, Ui.RENEW_SELECTED: self._ui_renew_selected,
                          Ui.RENEW_ALL: self._ui_renew_all}
            if s is S.BORROW:
                table[Ui.RENEW_ITEM] = self._ui_renew_item
        elif s is S.RECEIPT:
            table = {Ui.RECEIPT_YES: self._ui_receipt_yes, Ui.RECEIPT_NO: self._ui_receipt_no}
        elif s is S.SUMMARY:
            table = {Ui.OK: self._ui_summary_ok, Ui.FINISH: self._ui_summary_ok}
        elif s is S.MESSAGE:
            table = {Ui.OK: self._ui_message_ok, Ui.CANCEL: self._ui_message_ok}
        return table.get(action)

    # ================================================================== helpers

    @property
    def _identified(self) -> bool:
        return self.session is not None and self.session.card is not None

    def _touch(self) -> None:
        self._last_activity = self._monotonic()
        self._warned = False
        if self.view.warning_seconds is not None:
            self.view.warning_seconds = None

    def _touch_if_session(self) -> None:
        if self.state in TIMED_STATES:
            self._last_activity = max(self._last_activity, self._monotonic())

    def _goto(self, state: State) -> None:
        current = self.view.state
        if state is not current and state not in TRANSITIONS[current]:
            raise BadTransition(f"{current.value} -> {state.value}")
        if state is not current:
            self._entered_at = self._monotonic()
            log.debug("state %s -> %s", current.value, state.value)
        self.view.state = state
        self.view.warning_seconds = None
        self._warned = False
        if state is not S.MESSAGE:
            self.view.title = self.view.message = self.view.message_extra = None
            self.view.message_back = None
        if state is not S.PIN:
            self.view.pin_error = None

    def _publish(self) -> None:
        v = self.view
        sess = self.session
        v.identified = self._identified
        v.offline = bool(sess and sess.offline)
        v.pin_length = len(sess.pin_buffer) if sess else 0
        if sess is not None:
            v.lines = list(sess.lines)
            v.loans = list(sess.loans)
            v.holds = list(sess.holds)
        else:
            v.lines, v.loans, v.holds, v.blocks = [], [], [], []
            v.borrow_refusal = None
            v.renew_refused = False
        v.notices = self._notices()
        items_ok = self._items_device_ok()
        online_or_offline_ok = self._library_up or self.settings.offline is not OfflineMode.OFF
        v.can_return = items_ok and online_or_offline_ok
        v.can_borrow = items_ok and (self._library_up or bool(sess and sess.offline))
        v.can_renew = self._library_up and not (sess and sess.offline)
        v.can_receipt = self._role_ok("printer")
        v.version += 1
        for listener in list(self._listeners):
            try:
                listener(v)
            except Exception:  # noqa: BLE001 - a UI bug must not stop the flows
                log.exception("view listener failed")

    def _cue(self, cue: Cue) -> None:
        for listener in list(self._cue_listeners):
            try:
                listener(cue)
            except Exception:  # noqa: BLE001
                log.exception("cue listener failed")

    def _role_ok(self, role: str) -> bool:
        if not self.hub.configured(role):
            return False
        return self._device_ok.get(role, self.hub.working(role))

    def _items_device_ok(self) -> bool:
        return self._role_ok("item_reader") or self._role_ok("scanner")

    def _notices(self) -> list[Text]:
        out: list[Text] = []
        for role, key in (
            ("patron_reader", "kiosk.device.card_reader_down"),
            ("item_reader", "kiosk.device.rfid_down"),
            ("scanner", "kiosk.device.scanner_down"),
            ("printer", "kiosk.device.printer_down"),
        ):
            if self.hub.configured(role) and not self._role_ok(role):
                out.append(K(key))
        if not self._library_up:
            out.append(K(f"kiosk.offline.notice.{self.settings.offline.value}"))
        elif self.session is not None and self.session.offline:
            out.append(K("kiosk.offline.notice.checkout"))
        return out

    def _ctx(self, snapshot: PatronSnapshot, card: str) -> guards.GuardContext:
        now = self._now()
        window = timedelta(minutes=self.settings.rules.lockout.window_minutes + self.settings.rules.lockout.lockout_minutes)
        failures = self.journal.pin_failures(card, since=now - window)
        return guards.GuardContext(patron=snapshot, rules=self.settings.rules, now=now, failed_pin_attempts=failures)

    def _busy(self, text: Text) -> None:
        self.view.busy = text
        self._publish()
        self._spawn(self.hub.show(Pattern.BUSY))

    def _clear_busy(self) -> None:
        self.view.busy = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _signal(self, ok: bool) -> None:
        self._cue(Cue.SUCCESS if ok else Cue.REFUSAL)
        self._spawn(self.hub.show(Pattern.GRANTED if ok else Pattern.REFUSED))

    async def _message(self, title: Text | None, body: Text, *, back: State, extra: Text | None = None) -> None:
        self._goto(S.MESSAGE)
        self.view.title = title
        self.view.message = body
        self.view.message_extra = extra
        self.view.message_back = back

    async def _refuse(self, decision: Decision, *, back: State) -> None:
        self._signal(False)
        log.info("refused %s: %s", decision.action.value, ",".join(decision.rule_ids()))
        await self._message(K("kiosk.refused.title"), policy_text(decision.message), back=back)

    def _library_down(self) -> None:
        if self._library_up:
            log.warning("library system unreachable; offline mode %s", self.settings.offline.value)
        self._library_up = False

    def _library_back(self) -> None:
        if not self._library_up:
            log.warning("library system reachable again")
        self._library_up = True
        if self.journal.pending_count() and not self._replaying:
            self._spawn(self.replay())

    # ================================================================== identify

    async def _on_card(self, ev: CardPresented) -> None:
        if self._identified or self.state not in (S.IDLE, S.RETURN, S.MESSAGE, S.OUT_OF_ORDER):
            return
        if self.state is S.MESSAGE and self.session is not None and self.session.lines:
            return
        if self.state is S.OUT_OF_ORDER and self.settings.offline is OfflineMode.OFF:
            return
        await self._identify(ev.identifier)

    async def _identify(self, card: str) -> None:
        back = S.RETURN if self.state is S.RETURN else S.IDLE
        sess = self.session or Session()
        self.session = sess
        if not self._library_up:
            # Known down (the watcher probes in the background and brings the
            # kiosk back): the patron gets limited service now instead of
            # waiting for the client's reconnect attempts.
            await self._identify_offline(card, back)
            return
        self._busy(K("kiosk.busy.identify"))
        try:
            snapshot = await self.library.identify(card)
        except LibrarySystemUnavailable:
            self._clear_busy()
            self._library_down()
            await self._identify_offline(card, back)
            return
        except LibrarySystemError as exc:
            self._clear_busy()
            log.error("identify failed: %s", type(exc).__name__)
            self._signal(False)
            await self._message(K("kiosk.error.title"), K("kiosk.error.library"), back=back)
            return
        self._clear_busy()
        self._library_back()
        refusal = guards.card_usable(self._ctx(snapshot, card))
        if refusal is not None:
            if back is S.IDLE:
                self.session = None
            await self._refuse(refusal, back=back)
            return
        sess.card = card
        sess.snapshot = snapshot
        if snapshot.language:
            self.view.language = normalise_language(snapshot.language)
        if guards.needs_pin(self.settings.rules):
            sess.pin_buffer = ""
            self._goto(S.PIN)
            return
        await self._identified_online(snapshot, pin=None)

    async def _identify_offline(self, card: str, back: State) -> None:
        mode = self.settings.offline
        if mode is OfflineMode.OFF:
            self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.off"), back=S.OUT_OF_ORDER)
            return
        if mode is OfflineMode.RETURN_ONLY:
            if back is S.IDLE:
                self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.return_only"), back=back)
            return
        sess = self.session
        assert sess is not None
        if guards.needs_pin(self.settings.rules):
            sess.card = card
            sess.awaiting_offline_pin = True
            sess.pin_buffer = ""
            self._goto(S.PIN)
            return
        await self._offline_session(card, pin=None, back=back)

    async def _offline_session(self, card: str, pin: str | None, back: State) -> None:
        sess = self.session
        assert sess is not None
        within = timedelta(hours=self.settings.offline_recent_hours)
        if not self.journal.recently_verified(card, within, pin=pin, now=self._now()):
            sess.card = None
            sess.pin = None
            sess.awaiting_offline_pin = False
            if not sess.lines:
                self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.not_verified"), back=back if back is not S.PIN else S.IDLE)
            return
        sess.card = card
        sess.pin = pin
        sess.offline = True
        sess.awaiting_offline_pin = False
        self._signal(True)
        await self._enter_borrow_or_menu()

    async def _on_key(self, key: str) -> None:
        if self.state is not S.PIN:
            return
        if key == KEY_ENTER:
            await self._ui_pin_enter(None)
        elif key == KEY_CLEAR:
            await self._ui_pin_clear(None)
        elif key.isdigit():
            await self._ui_pin_digit(key)

    async def _ui_pin_digit(self, digit: str | None) -> None:
        sess = self.session
        if sess is None or not digit or not digit.isdigit() or len(digit) != 1:
            return
        if len(sess.pin_buffer) < self.settings.max_pin_length:
            sess.pin_buffer += digit
        self.view.pin_error = None

    async def _ui_pin_back(self, _: str | None) -> None:
        if self.session is not None:
            self.session.pin_buffer = self.session.pin_buffer[:-1]

    async def _ui_pin_clear(self, _: str | None) -> None:
        if self.session is not None:
            self.session.pin_buffer = ""

    async def _ui_cancel(self, _: str | None) -> None:
        sess = self.session
        if sess is not None and sess.lines:
            sess.card = None
            sess.pin_buffer = ""
            self._goto(S.RETURN)
            return
        self._end_quietly()

    async def _ui_pin_enter(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        pin, sess.pin_buffer = sess.pin_buffer, ""
        if not pin:
            self.view.pin_error = K("kiosk.pin.empty")
            return
        card = sess.card
        if sess.awaiting_offline_pin:
            await self._offline_session(card, pin, back=S.IDLE)
            return
        self._busy(K("kiosk.busy.pin"))
        try:
            snapshot = await self.library.identify(card, pin)
        except LibrarySystemUnavailable:
            self._clear_busy()
            self._library_down()
            if self.settings.offline is OfflineMode.CHECKOUT:
                await self._offline_session(card, pin, back=S.IDLE)
            else:
                await self._identify_offline(card, S.IDLE)
            return
        except LibrarySystemError as exc:
            self._clear_busy()
            log.error("PIN check failed: %s", type(exc).__name__)
            await self._message(K("kiosk.error.title"), K("kiosk.error.library"), back=S.IDLE)
            self._drop_patron()
            return
        self._clear_busy()
        if snapshot.pin is PinCheck.WRONG:
            self.journal.record_pin_failure(card, when=self._now().astimezone(UTC))
        refusal = guards.pin_accepted(self._ctx(snapshot, card))
        if refusal is not None:
            self._signal(False)
            log.info("PIN refused: %s", ",".join(refusal.rule_ids()))
            if "P1" in refusal.rule_ids() and "L1" not in refusal.rule_ids():
                self.view.pin_error = policy_text(refusal.message)
                return
            self._drop_patron()
            await self._message(K("kiosk.refused.title"), policy_text(refusal.message), back=S.IDLE)
            return
        self.journal.clear_pin_failures(card)
        sess.pin = pin
        sess.snapshot = snapshot
        await self._identified_online(snapshot, pin=pin)

    def _drop_patron(self) -> None:
        sess = self.session
        if sess is None:
            return
        if sess.lines:
            sess.card = sess.pin = None
            sess.snapshot = None
        else:
            self.session = None

    async def _identified_online(self, snapshot: PatronSnapshot, pin: str | None) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        card = sess.card
        if snapshot.language:
            self.view.language = normalise_language(snapshot.language)
        ctx = self._ctx(snapshot, card)
        decision = guards.may_borrow(ctx)
        sess.borrow_decision = decision
        if decision.allowed:
            self.journal.remember_verified(card, pin=pin)
        else:
            self.journal.forget_verified(card)
        self.view.borrow_refusal = None if decision.allowed else policy_text(decision.message)
        self.view.renew_refused = not guards.may_renew(ctx).allowed
        self.view.blocks = [policy_text(d.message) for d in guards.blocks(ctx)]
        await self._load_account()
        self._signal(True)
        await self._enter_borrow_or_menu()

    async def _load_account(self) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        self._busy(K("kiosk.busy.account"))
        try:
            raw = await self.library.account(sess.card, sess.pin)
        except LibrarySystemUnavailable:
            self._library_down()
            return
        except LibrarySystemError as exc:
            log.error("account failed: %s", type(exc).__name__)
            return
        finally:
            self._clear_busy()
        data = account_data(raw, self._now().date())
        sess.loans = data.loans
        sess.holds = sorted(data.holds, key=lambda h: not h.ready)

    async def _enter_borrow_or_menu(self) -> None:
        """After identification: straight to borrowing when items wait, else the menu."""
        if self._waiting_items() and self._borrow_allowed() is None:
            await self._start_borrow()
        else:
            self._goto(S.MENU)

    def _waiting_items(self) -> bool:
        sess = self.session
        seen = sess.seen_uids if sess else set()
        fresh = [u for u in self._pad if u not in seen and u not in self._stale]
        return bool(fresh or self._pending_scans)

    # ================================================================== borrow

    def _borrow_allowed(self) -> Decision | None:
        """None when this session may borrow, else the refusing decision."""
        sess = self.session
        if sess is None or sess.card is None:
            return None
        if sess.offline:
            return None
        decision = sess.borrow_decision
        if decision is not None and not decision.allowed:
            return decision
        return None

    async def _ui_borrow(self, _: str | None) -> None:
        if not self._identified:
            return
        refusal = self._borrow_allowed()
        if refusal is not None:
            await self._refuse(refusal, back=S.MENU)
            return
        if not self._library_up and not self.session.offline:  # type: ignore[union-attr]
            await self._message(K("kiosk.offline.title"), K(f"kiosk.offline.{self.settings.offline.value}"), back=S.MENU)
            return
        await self._start_borrow()

    async def _start_borrow(self) -> None:
        self._goto(S.BORROW)
        await self._process_waiting(LineKind.BORROW)

    async def _process_waiting(self, kind: LineKind) -> None:
        scans, self._pending_scans = self._pending_scans, []
        if self.hub.configured("item_reader") and self._role_ok("item_reader"):
            try:
                tags = await self.hub.inventory()
                self._pad = {t.uid: t for t in tags}
            except DeviceError as exc:
                log.warning("inventory failed: %s", exc)
        await self._process_pad(kind)
        for data in scans:
            await self._item(kind, data, self._uids_for(data))

    def _uids_for(self, item_id: str) -> list[str]:
        sess = self.session
        seen = sess.seen_uids if sess else set()
        return [t.uid for t in self._pad.values() if t.item_id == item_id and t.uid not in seen]

    async def _on_scan(self, data: str) -> None:
        if not data:
            return
        s = self.state
        if s is S.BORROW:
            await self._item(LineKind.BORROW, data, self._uids_for(data))
        elif s is S.RETURN:
            await self._item(LineKind.RETURN, data, self._uids_for(data))
        elif s in (S.MENU, S.ACCOUNT, S.RENEW):
            self._pending_scans.append(data)
            await self._ui_borrow(None)
        elif s is S.IDLE:
            if len(self._pending_scans) < 50:
                self._pending_scans.append(data)
            self.view.hint = K("kiosk.idle.items_waiting")

    async def _on_tags(self, ev: TagsChanged) -> None:
        self._pad = {t.uid: t for t in ev.tags}
        self._stale &= set(self._pad)
        s = self.state
        if s is S.BORROW:
            await self._process_pad(LineKind.BORROW)
        elif s is S.RETURN:
            await self._process_pad(LineKind.RETURN)
        elif s in (S.MENU, S.ACCOUNT, S.RENEW) and self._waiting_items():
            await self._ui_borrow(None)
        elif s is S.IDLE:
            self.view.hint = K("kiosk.idle.items_waiting") if self._waiting_items() else None

    async def _process_pad(self, kind: LineKind) -> None:
        sess = self.session
        if sess is None:
            sess = self.session = Session()
        fresh = [t for t in self._pad.values() if t.uid not in sess.seen_uids and t.uid not in self._stale]
        if not fresh:
            return
        incomplete = missing_parts(self._pad.values())
        groups: dict[str, list[Tag]] = {}
        for tag in sorted(fresh, key=lambda t: (t.item_id, t.part_number, t.uid)):
            if tag.error or not tag.item_id:
                sess.seen_uids.add(tag.uid)
                self._upsert(kind, f"?{tag.uid[-6:]}", LineStatus.REFUSED, text=K("kiosk.item.unreadable"))
                continue
            groups.setdefault(tag.item_id, []).append(tag)
        for item_id, tags in groups.items():
            if item_id in incomplete:
                total = max(t.set_parts for t in tags)
                line = self._upsert(
                    kind, item_id, LineStatus.INCOMPLETE,
                    text=K("kiosk.item.set_incomplete", parts=total, missing=", ".join(map(str, incomplete[item_id]))),
                )
                if not line.title:
                    line.title = await self._title_of(item_id)
                self._signal(False)
                continue
            await self._item(kind, item_id, [t.uid for t in tags])

    async def _title_of(self, item_id: str) -> str:
        """The item's title, for a line the library system was not asked about."""
        if not self._library_up:
            return ""
        try:
            info = await self.library.item_information(item_id)
        except LibrarySystemError:
            return ""
        return str(getattr(info, "title", "") or "")

    def _find_line(self, kind: LineKind, item_id: str) -> ItemLine | None:
        sess = self.session
        if sess is None:
            return None
        for line in sess.lines:
            if line.kind is kind and line.item_id == item_id:
                return line
        return None

    def _upsert(self, kind: LineKind, item_id: str, status: LineStatus, **fields: Any) -> ItemLine:
        sess = self.session
        assert sess is not None
        line = self._find_line(kind, item_id)
        if line is None or (line.done and status is LineStatus.WORKING):
            line = ItemLine(kind=kind, item_id=item_id, status=status)
            sess.lines.append(line)
        line.status = status
        for key, value in fields.items():
            setattr(line, key, value)
        return line

    async def _item(self, kind: LineKind, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None
        existing = self._find_line(kind, item_id)
        if existing is not None and existing.done:
            sess.seen_uids.update(uids)
            return
        sess.seen_uids.update(uids)
        if kind is LineKind.BORROW:
            await self._borrow_item(item_id, uids)
        else:
            await self._return_item(item_id, uids)

    async def _set_security(self, uids: list[str], secured: bool, line: ItemLine) -> None:
        for uid in uids:
            try:
                await self.hub.set_security(uid, secured)
            except DeviceError as exc:
                log.error("security bit %s failed: %s", "set" if secured else "clear", exc)
                line.extra = K("kiosk.item.security_failed")

    async def _borrow_item(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        if any(loan.item_id == item_id for loan in sess.loans) and not sess.offline:
            self._upsert(LineKind.BORROW, item_id, LineStatus.OFFER_RENEW, text=K("kiosk.item.already_yours"))
            return
        if sess.offline:
            await self._borrow_offline(item_id, uids)
            return
        line = self._upsert(LineKind.BORROW, item_id, LineStatus.WORKING, text=None, extra=None)
        self._publish()
        txn = self.journal.begin(TxnKind.CHECKOUT, sess.card, item_id)
        try:
            raw = await self.library.checkout(sess.card, item_id, pin=sess.pin)
        except LibrarySystemUnavailable as exc:
            self.journal.finish(txn, ok=None, message="sent, no answer" if exc.outcome_unknown else "not sent")
            self._library_down()
            may_go_offline = self.settings.offline is OfflineMode.CHECKOUT and self.journal.recently_verified(
                sess.card, timedelta(hours=self.settings.offline_recent_hours), now=self._now()
            )
            if may_go_offline:
                sess.offline = True
                if not exc.outcome_unknown:  # it never reached the library system: queue it
                    await self._borrow_offline(item_id, uids)
                    return
            line.status, line.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            self._signal(False)
            return
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("checkout failed: %s", type(exc).__name__)
            line.status, line.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            self._signal(False)
            return
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, due=res.due, message=None if res.ok else res.screen_message)
        line.title = res.title or line.title
        if res.ok:
            line.status, line.due, line.text = LineStatus.OK, res.due, None
            if res.screen_message:
                line.extra = literal(res.screen_message)
            if res.security_change:
                await self._set_security(uids, False, line)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED
            line.text = literal(res.screen_message) if res.screen_message else K("kiosk.item.refused")
            self._signal(False)

    async def _borrow_offline(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        limit = self.settings.offline_item_limit
        if self.journal.offline_checkouts(sess.card) >= limit:
            self._upsert(LineKind.BORROW, item_id, LineStatus.REFUSED, text=K("kiosk.offline.limit", limit=limit))
            self._signal(False)
            return
        self.journal.enqueue(TxnKind.CHECKOUT, sess.card, item_id)
        line = self._upsert(LineKind.BORROW, item_id, LineStatus.QUEUED, text=K("kiosk.offline.confirm_later"))
        await self._set_security(uids, False, line)
        self._signal(True)

    # ================================================================== return

    async def _ui_return(self, _: str | None) -> None:
        if self.state is S.OUT_OF_ORDER or (not self._library_up and self.settings.offline is OfflineMode.OFF):
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.off"),
                                back=S.MENU if self._identified else S.OUT_OF_ORDER)
            return
        if self.session is None:
            self.session = Session()
        self._goto(S.RETURN)
        await self._process_waiting(LineKind.RETURN)

    async def _return_item(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None
        if not self._library_up and self.settings.offline is not OfflineMode.OFF:
            self.journal.enqueue(TxnKind.CHECKIN, sess.card, item_id)
            line = self._upsert(LineKind.RETURN, item_id, LineStatus.QUEUED, text=K("kiosk.offline.return_later"))
            await self._set_security(uids, True, line)
            self._signal(True)
            return
        line = self._upsert(LineKind.RETURN, item_id, LineStatus.WORKING, text=None, extra=None)
        self._publish()
        txn = self.journal.begin(TxnKind.CHECKIN, sess.card, item_id)
        try:
            raw = await self.library.checkin(item_id)
        except LibrarySystemUnavailable as exc:
            self.journal.finish(txn, ok=None, message="sent, no answer" if exc.outcome_unknown else "not sent")
            self._library_down()
            if not exc.outcome_unknown and self.settings.offline is not OfflineMode.OFF:
                await self._return_item(item_id, uids)  # never sent: the offline queue takes it
                return
            line.status, line.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            self._signal(False)
            return
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("checkin failed: %s", type(exc).__name__)
            line.status, line.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            self._signal(False)
            return
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, message=None if res.ok else res.screen_message)
        line.title = res.title or line.title
        if res.ok:
            line.status = LineStatus.OK
            if res.hold_shelf:
                line.text = K("kiosk.return.hold_shelf")
            elif res.transit:
                line.text = K("kiosk.return.transit")
            else:
                line.text = K("kiosk.return.done")
            line.extra = literal(res.screen_message) if res.screen_message else None
            sess.loans = [loan for loan in sess.loans if loan.item_id != item_id]
            if res.security_change:
                await self._set_security(uids, True, line)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED
            line.text = literal(res.screen_message) if res.screen_message else K("kiosk.item.return_refused")
            self._signal(False)

    # ================================================================== renew

    async def _ui_renew(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        if sess.offline or not self._library_up:
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.no_renew"), back=S.MENU)
            return
        assert sess.snapshot is not None
        decision = guards.may_renew(self._ctx(sess.snapshot, sess.card))
        if not decision.allowed:
            await self._refuse(decision, back=S.MENU)
            return
        for loan in sess.loans:
            loan.selected = False
        self._goto(S.RENEW)

    async def _ui_toggle(self, item_id: str | None) -> None:
        for loan in self.session.loans if self.session else []:
            if loan.item_id == item_id:
                loan.selected = not loan.selected

    async def _ui_renew_selected(self, _: str | None) -> None:
        sess = self.session
        if sess is None:
            return
        chosen = [loan for loan in sess.loans if loan.selected]
        if not chosen:
            self.view.hint = K("kiosk.renew.choose")
            return
        await self._renew_loans(chosen)

    async def _ui_renew_all(self, _: str | None) -> None:
        if self.session is not None:
            await self._renew_loans(list(self.session.loans))

    async def _renew_loans(self, loans: list[LoanLine]) -> None:
        self.view.hint = None
        any_ok = any_refused = False
        for loan in loans:
            ok = await self._renew_one(loan.item_id, loan)
            any_ok |= ok is True
            any_refused |= ok is False
            loan.selected = False
        if any_ok or any_refused:
            self._signal(not any_refused)

    async def _renew_one(self, item_id: str, loan: LoanLine | None) -> bool | None:
        """Renew one item; returns True/False, or None when the link failed."""
        sess = self.session
        assert sess is not None and sess.card is not None
        if loan is not None:
            loan.status, loan.text = LineStatus.WORKING, None
        self._publish()
        txn = self.journal.begin(TxnKind.RENEW, sess.card, item_id)
        try:
            raw = await self.library.renew(sess.card, item_id, pin=sess.pin)
        except LibrarySystemUnavailable:
            self.journal.finish(txn, ok=None)
            self._library_down()
            if loan is not None:
                loan.status, loan.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            return None
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("renew failed: %s", type(exc).__name__)
            if loan is not None:
                loan.status, loan.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            return None
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, due=res.due, message=None if res.ok else res.screen_message)
        title = res.title or (loan.title if loan else "")
        if res.ok:
            if loan is not None:
                loan.status, loan.due, loan.overdue = LineStatus.OK, res.due or loan.due, False
                loan.text = K("kiosk.renew.done")
            self._upsert(LineKind.RENEW, item_id, LineStatus.OK, title=title, due=res.due, text=None)
            return True
        reason = literal(res.screen_message) if res.screen_message else K("kiosk.renew.refused")
        if loan is not None:
            loan.status, loan.text = LineStatus.REFUSED, reason
        return False

    async def _ui_renew_item(self, item_id: str | None) -> None:
        """Borrow screen: renew an item that is already lent to this patron."""
        sess = self.session
        line = self._find_line(LineKind.BORROW, item_id or "")
        if sess is None or line is None or line.status is not LineStatus.OFFER_RENEW:
            return
        assert sess.snapshot is not None and sess.card is not None
        decision = guards.may_renew(self._ctx(sess.snapshot, sess.card))
        if not decision.allowed:
            line.status, line.text = LineStatus.REFUSED, policy_text(decision.message)
            self._signal(False)
            return
        loan = next((ln for ln in sess.loans if ln.item_id == line.item_id), None)
        ok = await self._renew_one(line.item_id, loan)
        renewed = self._find_line(LineKind.RENEW, line.item_id)
        if ok:
            line.status, line.text = LineStatus.OK, K("kiosk.item.renewed")
            line.due = renewed.due if renewed else None
            line.kind = LineKind.RENEW
            if renewed is not None and renewed is not line:
                sess.lines.remove(renewed)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED if ok is False else LineStatus.FAILED
            line.text = loan.text if loan is not None and loan.text else K("kiosk.renew.refused")
            self._signal(False)

    # ================================================================== account, menu

    async def _ui_account(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        if sess.offline or not self._library_up:
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.no_account"), back=S.MENU)
            return
        await self._load_account()
        assert sess.snapshot is not None
        self.view.blocks = [policy_text(d.message) for d in guards.blocks(self._ctx(sess.snapshot, sess.card))]
        self._goto(S.ACCOUNT)

    async def _ui_menu(self, _: str | None) -> None:
        if self._identified:
            self._goto(S.MENU)
        elif self.session is not None and self.session.lines:
            await self._ui_finish(None)
        else:
            self._end_quietly()

    async def _ui_message_ok(self, _: str | None) -> None:
        back = self.view.message_back or S.IDLE
        if back is S.IDLE:
            self._end_quietly()
            return
        if back in (S.MENU, S.BORROW, S.RENEW, S.ACCOUNT) and not self._identified:
            back = S.RETURN if self.session is not None else S.IDLE
        if back is S.OUT_OF_ORDER and self._library_up:
            back = S.IDLE
        self._goto(back)

    # ================================================================== end

    def _did_something(self) -> bool:
        return bool(self.session and any(line.done for line in self.session.lines))

    async def _ui_finish(self, _: str | None) -> None:
        await self._finish(by_timeout=False)

    async def _finish(self, *, by_timeout: bool) -> None:
        mode = self.settings.receipt
        can_print = self._did_something() and self._role_ok("printer")
        printed = False
        if not by_timeout:
            if can_print and mode in (ReceiptMode.ASK, ReceiptMode.ALWAYS_ON_TIMEOUT):
                self._goto(S.RECEIPT)
                return
            if can_print and mode is ReceiptMode.ALWAYS:
                printed = await self._print_receipt()
            await self._end(printed, summary=True)
            return
        if can_print and mode in (ReceiptMode.ALWAYS, ReceiptMode.ALWAYS_ON_TIMEOUT):
            printed = await self._print_receipt()
        await self._end(printed, summary=False)

    async def _ui_receipt_yes(self, _: str | None) -> None:
        printed = await self._print_receipt()
        await self._end(printed, summary=True)

    async def _ui_receipt_no(self, _: str | None) -> None:
        await self._end(False, summary=True)

    async def _print_receipt(self) -> bool:
        sess = self.session
        if sess is None:
            return False
        lines = receipt_lines(sess.lines, self.view.language, now=self._now(), branch=self.settings.branch)
        self._busy(K("kiosk.busy.print"))
        try:
            return await self.hub.print_receipt(lines)
        finally:
            self._clear_busy()

    async def _end(self, printed: bool, *, summary: bool) -> None:
        sess = self.session
        counts = Summary()
        if sess is not None:
            done = [ln for ln in sess.lines if ln.done]
            counts = Summary(
                borrowed=sum(1 for ln in done if ln.kind is LineKind.BORROW),
                returned=sum(1 for ln in done if ln.kind is LineKind.RETURN),
                renewed=sum(1 for ln in done if ln.kind is LineKind.RENEW),
                queued=sum(1 for ln in done if ln.status is LineStatus.QUEUED),
                refused=sum(1 for ln in sess.lines if not ln.done),
                receipt_printed=printed,
            )
            if sess.card is not None and not sess.offline and self._library_up:
                try:
                    await self.library.end_session(sess.card)
                except LibrarySystemUnavailable:
                    self._library_down()
                except LibrarySystemError as exc:
                    log.debug("end session: %s", type(exc).__name__)
        self._forget_session()
        if summary:
            self._goto(S.SUMMARY)
            self.view.summary = counts
        else:
            self._goto_idle()

    def _forget_session(self) -> None:
        """Drop everything of the patron: session, PIN, lines, texts."""
        self.session = None
        self._stale |= set(self._pad)
        self._pending_scans.clear()
        v = self.view
        v.lines, v.loans, v.holds, v.blocks = [], [], [], []
        v.borrow_refusal = v.hint = v.pin_error = None
        v.renew_refused = False
        v.busy = None
        v.language = normalise_language(self.settings.language)

    def _goto_idle(self) -> None:
        self._forget_session()
        self.view.summary = None
        target = S.OUT_OF_ORDER if not self._library_up and self.settings.offline is OfflineMode.OFF else S.IDLE
        if target is not self.state and target not in TRANSITIONS[self.state]:
            self._goto(S.IDLE)
        self._goto(target)
        self._spawn(self.hub.show(Pattern.IDLE))

    def _end_quietly(self) -> None:
        """Back to idle without a summary (nothing was done)."""
        self._goto_idle()

    async def _ui_summary_ok(self, _: str | None) -> None:
        self._goto_idle()

    # ================================================================== idle timeout

    async def tick(self) -> None:
        """Advance the timers (the idle warning and timeout, the summary)."""
        if self._lock.locked():
            return  # a step is running: that is activity
        now = self._monotonic()
        s = self.state
        if s is S.SUMMARY:
            if now - self._entered_at >= self.settings.summary_seconds:
                async with self._lock:
                    if self.state is S.SUMMARY:
                        self._goto_idle()
                        self._publish()
            return
        if s not in TIMED_STATES:
            return
        remaining = self.settings.idle_timeout_seconds - (now - self._last_activity)
        if remaining <= 0:
            async with self._lock:
                if self.state in TIMED_STATES:
                    log.info("idle timeout in %s", self.state.value)
                    try:
                        await self._timeout()
                    except Exception:  # noqa: BLE001
                        log.exception("timeout handling failed")
                        self._goto_idle()
                    self._publish()
            return
        if remaining <= self.settings.idle_warning_seconds:
            seconds = math.ceil(remaining)
            if self.view.warning_seconds != seconds:
                self.view.warning_seconds = seconds
                if not self._warned:
                    self._warned = True
                    self._cue(Cue.WARNING)
                self._publish()
        elif self.view.warning_seconds is not None:
            self.view.warning_seconds = None
            self._publish()

    async def _timeout(self) -> None:
        self.view.warning_seconds = None
        if self.session is None:
            self._goto_idle()
            return
        await self._finish(by_timeout=True)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            try:
                await self.tick()
            except Exception:  # noqa: BLE001
                log.exception("tick failed")

    # ================================================================== library watcher and replay

    async def _watch_library(self) -> None:
        while True:
            await asyncio.sleep(self.settings.probe_seconds if self._library_up else min(self.settings.probe_seconds, 5.0))
            if self._library_up and not self.journal.pending_count() and self.session is not None:
                continue  # a patron's requests tell whether it answers
            await self.probe()

    async def probe(self) -> bool:
        """Ask whether the library system answers and show the result (the
        offline notice, or back to full service).  The watcher's step, also
        between patrons, so that the next patron does not wait for it."""
        up = await self.ping()
        async with self._lock:
            was_down = not self._library_up
            if up:
                self._library_back()
                if was_down and self.state is S.OUT_OF_ORDER:
                    self._goto(S.IDLE)
            else:
                self._library_down()
            if was_down == up:
                self._publish()
        return up

    async def ping(self) -> bool:
        """Is the library system reachable now?"""
        try:
            ping = getattr(self.library, "ping", None)
            if ping is not None:
                await ping()
            else:
                await self.library.item_information("0")
        except LibrarySystemUnavailable:
            return False
        except LibrarySystemError:
            return True
        return True

    async def replay(self) -> Any:
        """Send the offline queue to the library system (exactly once, in order)."""
        if self._replaying:
            return None
        self._replaying = True
        try:
            report = await self.journal.replay(self._replay_send, self._replay_probe)
        finally:
            self._replaying = False
        if report.stopped_by is not None:
            if isinstance(report.stopped_by, LibrarySystemUnavailable):
                self._library_down()
            else:
                log.error("replay stopped: %s", type(report.stopped_by).__name__)
        elif report.replayed or report.rejected:
            log.warning("offline queue replayed: %d done, %d rejected by the library system", report.replayed,
                        report.rejected)
        return report

    async def _replay_send(self, entry: JournalEntry) -> ReplayOutcome:
        assert entry.item_id is not None
        if entry.kind is TxnKind.CHECKOUT:
            assert entry.card is not None
            raw = await self.library.checkout(entry.card, entry.item_id, no_block=True)
        else:
            raw = await self.library.checkin(entry.item_id, no_block=True, return_date=entry.created_at)
        res = item_result(raw, entry.item_id)
        return ReplayOutcome(ok=res.ok, message=res.screen_message, due=res.due)

    async def _replay_probe(self, entry: JournalEntry) -> str:
        assert entry.item_id is not None
        try:
            raw = await self.library.item_information(entry.item_id)
        except LibrarySystemUnavailable:
            raise
        except LibrarySystemError:
            return "unknown"
        return item_fingerprint(raw)
