"""The kiosk's flows: one state machine for identify, borrow, return, renew,
account, end, and the idle timeout.  Knows nothing of Kivy.

This module holds the loop of events, the view and the idle timeout; each
flow lives in its own module, as a part of :class:`KioskFlows`:
:mod:`.identify`, :mod:`.borrow`, :mod:`.returns`, :mod:`.renew`,
:mod:`.items` (item lines shared by borrow and return), :mod:`.ending`
(account, menu, receipt, end) and :mod:`.replay`.  The states, their moves
and their touch handlers are one table, :mod:`.table`, checked at import.

Inputs are device events (from :class:`~kiosk.flows.hub.DeviceHub`) and
touch actions (:class:`UiEvent`), handled one at a time in arrival order.
Output is a :class:`~kiosk.flows.model.View` published to listeners after
every step, plus audio cues.  Every move between states goes through
:meth:`KioskFlows._goto`, checked against :data:`~.table.TABLE`; every
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
from datetime import datetime, timedelta
from typing import Any

from devices.base import (
    CardPresented,
    DeviceEvent,
    Event,
    IdentifierKind,
    KeyPressed,
    Pattern,
    Scanned,
    Tag,
    TagsChanged,
)
from kiosk.config import OfflineMode
from kiosk.i18n import normalise_language
from kiosk.journal import Journal
from policy import Decision, PatronSnapshot

from . import guards
from kiosk.identify import CoreSettings, Front, Identification, IdentifyDriver, PatronStore, StoreError

from .alarms import STORE_ALARM, AlarmsFlow, StoreRecheck
from .borrow import BorrowFlow
from .ending import EndFlow
from .errors import BadTransition
from .hub import SHARED_SCANNER, DeviceHub
from .help import HelpFlow
from .identify import IdentifyFlow
from .items import ItemsFlow
from .pay import PayFlow
from .model import TIMED_STATES, Cue, K, LineStatus, State, Text, View, policy_text
from .outcomes import library_says
from .port import LibraryPort
from .renew import RenewFlow
from .replay import ReplayFlow
from .returns import ReturnFlow
from .session import FlowSettings, Session, Ui, UiEvent
from .table import TABLE, TRANSITIONS, check_handlers

__all__ = ["TRANSITIONS", "FlowSettings", "KioskFlows", "Session", "Ui", "UiEvent"]

log = logging.getLogger("kiosk.flows")

S = State

Listener = Callable[[View], None]
CueListener = Callable[[Cue], None]


class KioskFlows(IdentifyFlow, BorrowFlow, ReturnFlow, RenewFlow, ItemsFlow, EndFlow, ReplayFlow, PayFlow, AlarmsFlow,
                 HelpFlow):
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
        store: PatronStore | None = None,
        payments: Any = None,
    ) -> None:
        self.library = library
        #: kiosk.payments.PaymentService when a payment terminal is configured (the pay flow)
        self.payments = payments
        self.journal = journal
        self.hub = hub or DeviceHub({})
        self.settings = settings or FlowSettings()
        self._monotonic = monotonic
        self._now = now
        self.session: Session | None = None
        rules = self.settings.rules
        self._own_store = store is None
        #: standing alarms (kind -> detail), published by the fleet reporter (kiosk.flows.alarms)
        self.alarms: dict[str, str] = {}
        self._store_check = StoreRecheck(self._store_path().parent, monotonic)
        if store is None:
            # The one patron store of this machine: beside the journal, in state_dir
            # (a door on the same state_dir shares it).
            try:
                store = self._open_store()
            except StoreError as exc:
                # No PIN is checked without it (out of service), everything else works.
                log.critical("ALARM %s: patron store unavailable: %s; PIN actions out of service", STORE_ALARM, exc)
                self.alarms[STORE_ALARM] = str(exc)[:200]
        self.store = store
        self.ident = IdentifyDriver(
            Identification(CoreSettings(
                rules=rules, front=Front.KIOSK, offline=self.settings.offline is OfflineMode.CHECKOUT,
                offline_max_age=timedelta(hours=self.settings.offline_recent_hours),
            )),
            store, library, clock=now, monotonic=monotonic,
        )
        self.ident.on_alarm = self._raise_alarm  # a store write after the answer failed
        self.view = View(language=normalise_language(self.settings.language))
        self._listeners: list[Listener] = []
        self._cue_listeners: list[CueListener] = []
        self._key_listeners: list[Callable[[str], None]] = []
        self._rest_listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_activity = monotonic()
        self._entered_at = monotonic()
        self._warned = False
        #: the idle timeout passed at rest since the last touch (what a patron chose there was reset)
        self._rested = True
        self._pad: dict[str, Tag] = {}
        self._stale: set[str] = set()  # tags left on the pad by the previous session
        self._pending_scans: list[str] = []
        self._library_up = True
        #: the patron chose a language on screen: it wins over the record's until the session ends
        #: (chosen at rest and no session started: until the idle timeout, :meth:`_rest`)
        self._language_chosen = False
        self._login_refused = False
        self._device_ok: dict[str, bool] = {}
        self._replaying = False
        self._background: list[asyncio.Task[Any]] = []
        self._closed = False

    # ================================================================== wiring

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_cue(self, listener: CueListener) -> None:
        self._cue_listeners.append(listener)

    def on_key(self, listener: Callable[[str], None]) -> None:
        """*listener(key)* gets the PIN pad's keys pressed outside the PIN
        screen or while help or the idle warning covers it (the UI moves its
        focus with them).  On the PIN screen the keys are the PIN's and reach
        no listener."""
        self._key_listeners.append(listener)

    def on_rest(self, listener: Callable[[], None]) -> None:
        """*listener()* is called when the kiosk has stood at rest (no session) for the idle
        timeout since the last touch: what a patron chose there and left ends, for the next
        patron, like the language and the display switches (the speech switch listens)."""
        self._rest_listeners.append(listener)

    @property
    def state(self) -> State:
        return self.view.state

    async def start(self, *, ticker: bool = True) -> None:
        """Open the devices and start the idle ticker and the library watcher."""
        await self.hub.open(self.post)
        await self.probe_at_start()
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
        await self.ident.close()
        if self._own_store and self.store is not None:
            self.store.close()

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
        await self.ident.settle_background()  # the patron store's writes after a decision

    # ================================================================== immediate actions (no queue)

    def more_time(self) -> None:
        """'I need more time': the idle timeout starts again."""
        self._touch()
        self.view.warning_seconds = None
        self._publish()

    def set_language(self, lang: str) -> None:
        self._touch()
        self.view.language = normalise_language(lang)
        self._language_chosen = True
        self._publish()

    def set_display(self, *, large_text: bool | None = None, high_contrast: bool | None = None) -> None:
        """The top bar's display switches (200 % text, high contrast): kept
        until the session ends (or, chosen at rest, until the idle timeout)."""
        self._touch()
        if large_text is not None:
            self.view.large_text = bool(large_text)
        if high_contrast is not None:
            self.view.high_contrast = bool(high_contrast)
        self._publish()

    # ================================================================== the loop of events

    async def handle(self, event: Event | UiEvent, role: str | None = None) -> None:
        async with self._lock:
            # The PIN pad's keys while help or the idle warning covers the PIN screen are the
            # overlay's (the UI's focus), never the PIN's: handed on before the activity lifts
            # the warning, so the UI acts on the overlay it shows.
            overlay_key = isinstance(event, KeyPressed) and self._pin_covered()
            if overlay_key:
                self._nav_key(event.key)
            if not isinstance(event, DeviceEvent):
                self._touch()
            try:
                if not overlay_key:
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
            if self.state is S.PIN:
                await self._on_key(event.key)
            else:
                self._nav_key(event.key)

    def _ui_handler(self, action: Ui) -> Callable[[str | None], Any] | None:
        name = TABLE[self.state].ui.get(action)
        return None if name is None else getattr(self, name)

    # ================================================================== helpers

    @property
    def _identified(self) -> bool:
        return self.session is not None and self.session.card is not None

    def _touch(self) -> None:
        self._last_activity = self._monotonic()
        self._warned = False
        self._rested = False
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
            self.view.help = None  # the help explained the screen that was
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
        v.pin_length = self.ident.core.pin_length if sess else 0
        if sess is not None:
            v.lines = list(sess.lines)
            v.loans = list(sess.loans)
            v.holds = list(sess.holds)
            v.notifications = [library_says(text) for text in sess.notifications]
        else:
            v.lines, v.loans, v.holds, v.blocks = [], [], [], []
            v.notifications = []
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

    def _pin_covered(self) -> bool:
        return self.state is S.PIN and (self.view.help is not None or self.view.warning_seconds is not None)

    def _nav_key(self, key: str) -> None:
        for listener in list(self._key_listeners):
            try:
                listener(key)
            except Exception:  # noqa: BLE001 - a UI bug must not stop the flows
                log.exception("key listener failed")

    def activity(self) -> None:
        """The patron is at it (moving the focus with a keyboard): the idle
        timeout starts again; republished only if a warning was up."""
        warned = self.view.warning_seconds is not None
        self._touch()
        if warned:
            self._publish()

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
        if self.hub.configured("speech") and not self._role_ok("speech"):
            out.append(Text(key="speech.device_down", domain="speech"))  # kiosk.flows.speech's own domain
        if not self._library_up:
            out.append(K(f"kiosk.offline.notice.{self.settings.offline.value}"))
        elif self.session is not None and self.session.offline:
            out.append(K("kiosk.offline.notice.checkout"))
        return out + self._alarm_notices()

    def _ctx(self, snapshot: PatronSnapshot, card: str) -> guards.GuardContext:
        # The PIN (and its lockout) was settled by the identification core; the
        # guards ask the policy about the rest.
        return guards.GuardContext(patron=snapshot, rules=self.settings.rules, now=self._now())

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

    def _link_failed(self, line) -> None:
        """An item line whose request got no usable answer: failed, said so, refusal cue."""
        line.status, line.text = LineStatus.FAILED, K("kiosk.item.link_failed")
        self._signal(False)

    async def _message(self, title: Text | None, body: Text, *, back: State, extra: Text | None = None) -> None:
        self._goto(S.MESSAGE)
        self.view.title = title
        self.view.message = body
        self.view.message_extra = extra
        self.view.message_back = back

    async def _refuse(self, decision: Decision, *, back: State) -> None:
        if await self._offer_payment(decision, back):  # R1-R5 with a terminal: "Pay € X now"
            log.info("refused %s: %s; payment offered", decision.action.value, ",".join(decision.rule_ids()))
            return
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

    # ================================================================== idle timeout

    async def tick(self) -> None:
        """Advance the timers (the idle warning and timeout, the summary); recheck a standing alarm."""
        self._recheck_store()
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
            self._help_idle(now)
            if not self._rested and now - self._last_activity >= self.settings.idle_timeout_seconds:
                self._rest()
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



check_handlers(KioskFlows)
