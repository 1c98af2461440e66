"""The entry service: card -> PIN -> library system -> policy -> strike.

:class:`DoorService` runs on the caller's asyncio loop, so the kiosk can
embed it (``await service.start()`` ... ``await service.stop()``), and
``bibkiosk door --config FILE`` runs it headless (:meth:`DoorService.run`).

The path of one entry in unmanned hours:

1. a card from any configured reader (patron reader or barcode scanner);
   the per-reader rate limit (``RL``), the period (closed: ``S1``) and the
   wrong-PIN lockout (``L1``) are checked before a PIN is asked;
2. the PIN from any PIN pad (digits, ``*`` clears, ``#`` enters) or from the
   kiosk's touch screen (:meth:`submit_pin`) within ``pin_timeout_seconds``;
3. ``library.identify(card, pin)`` -> ``policy.decide(Action.ENTRY, ...,
   period=UNMANNED, failed_pin_attempts=...)``; when the library system
   cannot be reached, the offline cache decides (``O1`` when it does not
   know the card);
4. granted: ``lock.release(release_seconds)``, relocked as soon as the door
   closes; the indicator shows GRANTED / REFUSED / ERROR;
5. every decision and door event goes to the audit journal with a
   pseudonymous card reference and the rule ids; alarms go to the webhooks.

In staffed hours the door is free (``staffed_entry = "free"``) or opens for
any valid card without PIN (``"card"``); in closed hours it opens for nobody.

Nothing here logs a card number, PIN or name: card references are keyed
hashes (:func:`kiosk.privacy.pseudonym`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devices import (
    KEY_ENTER,
    BarcodeScanner,
    CardPresented,
    Device,
    DeviceError,
    DeviceEvent,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    ExitPressed,
    Indicator,
    KeyPressed,
    Lock,
    PatronReader,
    Pattern,
    PinPad,
    Scanned,
    open_device,
)
from kiosk.config import device_options
from kiosk.door.audit import AuditEvent, AuditJournal, Result
from kiosk.door.errors import DoorConfigError, DoorError
from kiosk.door.library import PatronLookup, library_from_config
from kiosk.door.limits import RateLimiter
from kiosk.door.pay_advice import payment_advice
from kiosk.identify import (
    CORE_RULES,
    STORE_NAME,
    CoreSettings,
    Front,
    Identification,
    IdentifyDriver,
    PatronStore,
    ScryptParams,
    StoreError,
)
from kiosk.identify.core import Alarm, AskPin, Grant, Reason, Refuse
from kiosk.door.monitor import (
    AlarmCleared,
    AlarmOutput,
    AlarmRaised,
    DoorChanged,
    DoorMonitor,
    DoorState,
    Effect,
    ExitRequested,
    LockState as MonitorLock,
    ReleaseLock,
    ReleaseReason,
    Relock,
)
from kiosk.notify import Notifier, watchdog_loop
from kiosk.door.schedule import (
    DEFAULT_SOUNDS,
    Announce,
    ClosingCheck,
    PeriodChanged,
    ScheduleDriver,
    announcement_sound,
)
from kiosk.door.webhooks import WebhookSender
from kiosk.i18n import MissingMessage, normalise_language, translate
from kiosk.privacy import pseudonym
from kiosk.statefile import StateFileError, probe_writable
from policy import RULES, Action, Period, PeriodKind

log = logging.getLogger("kiosk.door")

#: Door-specific rule ids (the policy's ids are in policy.RULES).
DOOR_RULES: dict[str, str] = {
    "RL": "RL: too many card presentations at this reader within a minute (rate limit against card enumeration)",
    **CORE_RULES,
    "LD": "LD: the door is locked down by staff (remote command); nobody gets in until it is resumed",
}
#: Free entry in staffed hours: the strike is re-released before this much of the last release remains.
_FREE_CHUNK = 900.0
_FREE_MARGIN = 300.0


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True, slots=True)
class DoorMessage:
    """A text for the reader's display or the kiosk's screen."""

    kind: str  # prompt / checking / granted / refused / error / info / announcement
    text: str
    language: str
    rules: tuple[str, ...] = ()
    reader: str | None = None


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    granted: bool
    result: Result
    rules: tuple[str, ...]
    source: str  # online / offline / staffed / local
    message_key: str
    text: str
    card_ref: str | None
    reader: str
    staff: str
    #: Seconds from the last PIN key (or the card, without PIN) to the strike command sent; granted only.
    latency: float | None = None


@dataclass
class _PinWait:
    reader: str
    future: asyncio.Future[tuple[str | None, float]] | None = None


class DoorService:
    """One entrance door.  See the module docstring."""

    def __init__(
        self,
        config: Any,
        *,
        library: PatronLookup | None = None,
        clock: Callable[[], datetime] = _local_now,
        monotonic: Callable[[], float] = time.monotonic,
        devices: Mapping[str, Sequence[Device]] | None = None,
        notifier: Notifier | None = None,
        tick_seconds: float = 1.0,
        scrypt: ScryptParams = ScryptParams(),
        on_message: Callable[[DoorMessage], Any] | None = None,
        webhook_options: Mapping[str, Any] | None = None,
    ) -> None:
        door = getattr(config, "door", None)
        if door is None:
            raise DoorConfigError("the configuration has no [door] section")
        if config.schedule is None:
            raise DoorConfigError("the door needs a [schedule] (staffed, unmanned and closed periods)")
        self.config = config
        self.door = door
        self.rules = config.policy
        self.branch = door.branch or config.kiosk.branch
        self._clock = clock
        self._mono = monotonic
        self._library = library
        self._given_devices = devices
        self._notifier = notifier if notifier is not None else Notifier()
        self._tick = tick_seconds
        self._scrypt = scrypt
        self._on_message = on_message
        self._webhook_options = dict(webhook_options or {})

        # Read in start(), after the locks are locked (an unset env secret must not keep them released).
        if getattr(config.secrets, "pseudonym_key", None) is None:
            raise DoorConfigError("the door needs secrets.pseudonym_key (card references in the audit and the offline cache)")
        self._key = b""
        self.schedule = ScheduleDriver(config.schedule, self.branch)
        # Fails early on an unknown branch without a default.
        try:
            self.schedule.period_at(clock())
        except Exception as exc:  # policy.UnknownBranch
            raise DoorConfigError(str(exc)) from None

        self.monitor = DoorMonitor(
            release_seconds=door.release_seconds,
            held_open_seconds=door.held_open_seconds,
            exit_releases=door.exit_button_releases,
        )
        self.rate = RateLimiter(door.reader_rate_limit_per_minute)
        self._library_timeout = float(getattr(door, "library_timeout_seconds", 5.0))
        self.state_dir = state_dir_of(config)
        self.audit: AuditJournal | None = None
        #: The one patron store (wrong PINs per patron, verified cache), shared with a kiosk on this state_dir.
        self.store: PatronStore | None = None
        self.ident = IdentifyDriver(
            Identification(CoreSettings(
                rules=self.rules, front=Front.DOOR, offline=True,
                offline_max_age=timedelta(days=door.offline_cache_days),
                staffed_card=door.staffed_entry.value == "card",
            )),
            None, None, clock=clock, timeout=float(getattr(door, "library_timeout_seconds", 5.0)), monotonic=monotonic,
        )
        self.webhooks: WebhookSender | None = None

        self._devices: list[Device] = []
        self._roles: dict[str, list[Device]] = {}
        self._outputs_alarm: list[Device] = []
        self._outputs_closing: list[Device] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._entry_task: asyncio.Task[Any] | None = None
        self._session: _PinWait | None = None
        self._pin_asked = asyncio.Event()
        self._busy = False
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._started = False
        self._period: Period | None = None
        self._free_until: float | None = None
        self._alarm_output_at: float | None = None
        self._last_purge: float | None = None
        self._library_online: bool | None = None
        self._outcomes: asyncio.Queue[EntryOutcome] = asyncio.Queue(maxsize=1000)
        self._background: set[asyncio.Task[Any]] = set()
        self.status_path = self.state_dir / "door-status.json"
        #: Why the state files cannot be written (the door then refuses every entry), or None.
        self.state_fault: str | None = None
        #: Standing alarms about the state files (audit_corrupt, state_unwritable).
        self.state_alarms: set[str] = set()
        #: False after a stop in which a lock did not take the fail-mode state.
        self.stopped_in_fail_mode_state = True
        #: Observers (fleet link, metrics): objects with any of ``door_event(at, event, fields)``,
        #: ``door_status(status)``, ``door_outcome(outcome)``; called on the loop, errors logged.
        self.observers: list[Any] = []
        #: Remote commands (kiosk.fleet): lockdown on, the unmanned period ended early (its start).
        self._lockdown: str | None = None
        self._ended_unmanned: datetime | None = None

    # ================================================================ life cycle

    async def start(self) -> None:
        """Lock first, then everything else (docs/door.md, "Fail mode, power loss and crashes").

        1. the devices are opened, the lock devices first, and every lock is driven
           locked, before any secret (but the OSDP key the reader needs), state
           file, ``state_dir`` or the library system is touched;
        2. webhooks; the pseudonym key; the state files (a corrupt one is moved
           aside and started anew; one that cannot be written leaves the door
           locked, refusing every entry, with an alarm: :meth:`_open_state`);
        3. the library system (at most ``library_timeout_seconds``);
        4. the period is applied (staffed free entry may release), READY.

        Any failure on the way relocks and closes what was opened.
        """
        if self._started:
            return
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self.stopped_in_fail_mode_state = True
        try:
            await self._open_devices()  # each lock driven locked as soon as it is open
            self.webhooks = WebhookSender(self.door.webhooks, **self._webhook_options)
            self.webhooks.start()
            key = self.config.secret("pseudonym_key")
            if not key:
                raise DoorConfigError("the door needs secrets.pseudonym_key (card references in the audit and the offline cache)")
            self._key = key.encode()
            self._open_state()
            if self._library is None:
                self._library = library_from_config(self.config)
            self.ident.library = self._library
            opener = getattr(self._library, "start", None) or getattr(self._library, "open", None)
            if opener is not None and asyncio.iscoroutinefunction(opener):
                try:
                    await asyncio.wait_for(opener(), self._library_timeout)
                except Exception as exc:  # noqa: BLE001 - a library down at start is the offline case
                    self._set_online(False, exc)
        except BaseException:
            await self._lock_all("failed start")
            await self._close_devices()
            if self.webhooks is not None:
                await asyncio.to_thread(self.webhooks.stop, 1.0)
            closer = getattr(self._library, "close", None)
            if closer is not None and asyncio.iscoroutinefunction(closer):
                with contextlib.suppress(Exception):
                    await closer()
            self._close_state()
            raise
        now = self._clock()
        self._record(now, AuditEvent.SERVICE, result="started", detail=f"fail_mode={self.door.fail_mode.value}")
        self._purge(now)
        sensor = self._first(DoorSensor)
        if sensor is not None and sensor.door_open is not None:
            await self._apply(self.monitor.door_opened(self._mono()) if sensor.door_open else self.monitor.door_closed(self._mono()))
        await self._schedule_tick()
        for dev in self._devices:
            self._spawn(self._device_events(dev), f"events {dev.label}")
        self._spawn(self._monitor_timer(), "monitor timer")
        self._spawn(self._housekeeping(), "housekeeping")
        if self._notifier.ping_interval():
            self._spawn(watchdog_loop(self._notifier), "watchdog")
        self._started = True
        self._write_status()
        self._notifier.ready(f"door ready: {self._period.kind.value if self._period else '?'}")
        log.info("door service started (branch %s, fail mode %s)", self.branch or "default", self.door.fail_mode.value)

    # ---------------------------------------------------------------- state files

    def _open_state(self) -> None:
        """Open the audit journal and the one patron store (lockout, verified cache).

        A corrupt file has been moved aside and started anew by
        :mod:`kiosk.statefile` (the audit: an alarm, the old file kept for
        staff).  When a file cannot be opened at all (read-only or full file
        system, no permission), the door runs *locked and refusing* with an
        alarm (:attr:`state_fault`), and housekeeping retries every tick.
        """
        now = self._clock()
        problems: list[str] = []
        try:
            probe_writable(self.state_dir)
        except StateFileError as exc:
            problems.append(str(exc))
        if self.audit is None:
            try:
                self.audit = AuditJournal(self.state_dir / "door-audit.sqlite")
            except DoorError as exc:
                problems.append(str(exc))
            else:
                if self.audit.moved_aside is not None:
                    self._state_alarm(now, "audit_corrupt", f"moved aside to {self.audit.moved_aside.name}")
        if self.store is None:
            try:
                self.store = PatronStore(
                    self.state_dir / STORE_NAME, self._key, scrypt=self._scrypt, monotonic=self._mono,
                    keep=timedelta(minutes=self.rules.lockout.window_minutes + self.rules.lockout.lockout_minutes),
                )
            except StoreError as exc:
                problems.append(str(exc))
            else:
                if self.store.moved_aside is not None:
                    log.error("patron store was corrupt: moved aside to %s, started empty", self.store.moved_aside.name)
                    self._record(now, AuditEvent.STATE, result="cache_rebuilt", detail=f"moved aside to {self.store.moved_aside.name}")
            self.ident.store = self.store
        if problems:
            self._set_state_fault(now, problems[0])
        elif self.state_fault is not None:
            self._clear_state_fault(now)

    def _set_state_fault(self, now: datetime, why: str) -> None:
        first = self.state_fault is None
        self.state_fault = why
        if first:
            log.error("STATE NOT WRITABLE: the door stays locked and refuses every entry: %s", why)
            self._state_alarm(now, "state_unwritable", why)

    def _clear_state_fault(self, now: datetime) -> None:
        assert self.audit is not None
        try:
            self.audit.record(now, AuditEvent.ALARM, result="state_unwritable", detail="cleared")
        except DoorError:
            return  # still not writable: the fault stands
        self.state_fault = None
        self.state_alarms.discard("state_unwritable")
        log.warning("state files writable again: deciding entries again")
        self._webhook(now, "alarm", alarm="state_unwritable", state="cleared")

    def _state_alarm(self, now: datetime, kind: str, detail: str) -> None:
        self.state_alarms.add(kind)
        self._record(now, AuditEvent.ALARM, result=kind, detail="raised")
        self._record(now, AuditEvent.STATE, result=kind, detail=detail[:200])
        self._webhook(now, "alarm", alarm=kind, state="raised", detail=detail[:200])

    async def stop(self) -> None:
        """Stop: the lock goes to the fail-mode state (see docs/door.md), state is closed.

        ``fail_secure``: locked.  ``fail_safe``: released for as long as each lock
        allows and *left* released when its driver closes (:meth:`Lock.leave_released`).
        :attr:`stopped_in_fail_mode_state` is False when a lock did not take it
        (``bibkiosk door`` then exits non-zero, so systemd's ``ExecStopPost=`` relocks).
        """
        if not self._started:
            return
        self._started = False
        self._notifier.stopping()
        if self._entry_task is not None:
            self._entry_task.cancel()
        for task in [*self._tasks, *self._background, *([self._entry_task] if self._entry_task else [])]:
            task.cancel()
        for task in [*self._tasks, *self._background, *([self._entry_task] if self._entry_task else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._background.clear()
        self._entry_task = None
        now = self._clock()
        if self.door.fail_mode.value == "fail_safe":
            ok = await self._leave_released_all(3600.0, "stop (fail_safe)")
        else:
            ok = await self._lock_all("stop (fail_secure)")
        self.stopped_in_fail_mode_state = ok
        await self._set_outputs(self._outputs_alarm, False)
        await self._set_outputs(self._outputs_closing, False)
        self._record(now, AuditEvent.SERVICE, result="stopped", detail=f"fail_mode={self.door.fail_mode.value}")
        await self._close_devices()
        closer = getattr(self._library, "close", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                res = closer()
                if asyncio.iscoroutine(res):
                    await res
        if self.webhooks is not None:
            await asyncio.to_thread(self.webhooks.stop, 2.0)
        self._close_state()
        self._write_status(stopped=True)
        self._stopped.set()
        log.info("door service stopped")

    async def run(self) -> None:
        """Start, serve until :meth:`request_stop` (or cancellation), stop."""
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stopped.set()

    def _close_state(self) -> None:
        for ex in (self.ident._executor, self.ident._cache_executor):
            if ex is not None:
                ex.shutdown(wait=True)
        self.ident._executor = self.ident._cache_executor = None
        for store in (self.audit, self.store):
            if store is not None:
                with contextlib.suppress(Exception):
                    store.close()

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    def _background_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ================================================================ devices

    #: Roles the door uses, and the device kinds that may serve each (a barcode
    #: scanner may read patron cards).
    _ROLE_KINDS: dict[str, tuple[type[Device], ...]] = {
        "patron_reader": (PatronReader, BarcodeScanner),
        "scanner": (BarcodeScanner,),
        "pinpad": (PinPad,),
        "lock": (Lock,),
        "door_contact": (DoorSensor,),
        "indicator": (Indicator,),
    }

    async def _open_devices(self) -> None:
        if self._given_devices is not None:
            roles = {role: list(devs) for role, devs in self._given_devices.items()}
            seen: dict[int, Device] = {}
            for devs in roles.values():
                for dev in devs:
                    seen[id(dev)] = dev
            locks = {id(dev) for dev in roles.get("lock", [])}
            # The locks first, each driven locked as soon as it is open.
            for dev in sorted(seen.values(), key=lambda d: id(d) not in locks):
                if not dev.is_open:
                    await dev.open()
                self._devices.append(dev)
                if id(dev) in locks:
                    await self._lock_one(dev, "start")
            self._roles = roles
        else:
            by_url: dict[str, list[str]] = {}
            for role, dcfg in self.config.devices.configured().items():
                if str(role) not in self._ROLE_KINDS:
                    continue
                for url in dcfg.urls():
                    by_url.setdefault(url, []).append(str(role))
            opened: dict[str, Device] = {}
            # The locks first, each driven locked as soon as it is open.
            for url, roles_of_url in sorted(by_url.items(), key=lambda item: "lock" not in item[1]):
                kinds = self._ROLE_KINDS[roles_of_url[0]]
                kind = kinds[0] if len(roles_of_url) == 1 and len(kinds) == 1 else None
                dev = self._make_device(url, kind)
                await self._open_one(dev)
                opened[url] = dev
                self._devices.append(dev)
                if "lock" in roles_of_url and isinstance(dev, Lock):
                    await self._lock_one(dev, "start")
                for role in roles_of_url:
                    want = self._ROLE_KINDS[role]
                    if not isinstance(dev, want):
                        names = " or ".join(k.__name__ for k in want)
                        raise DoorConfigError(f"devices.{role}: {dev.label} is not a {names}")
                    self._roles.setdefault(role, []).append(dev)
            for url in self.door.alarm_outputs:
                dev = opened.get(url) or self._make_device(url, None)
                if url not in opened:
                    await self._open_one(dev)
                    opened[url] = dev
                    self._devices.append(dev)
                self._outputs_alarm.append(dev)
            for url in self.door.closing_outputs:
                dev = opened.get(url) or self._make_device(url, None)
                if url not in opened:
                    await self._open_one(dev)
                    opened[url] = dev
                    self._devices.append(dev)
                self._outputs_closing.append(dev)
        if not self._roles.get("lock"):
            raise DoorConfigError("the door needs a lock: set [devices.lock] url")
        if not (self._roles.get("patron_reader") or self._roles.get("scanner")):
            raise DoorConfigError("the door needs a card reader: set [devices.patron_reader] url")
        if not self._roles.get("door_contact"):
            log.warning("no door contact configured: no held-open or forced-open alarms, no relock on close")

    def _make_device(self, url: str, kind: type[Device] | None) -> Device:
        try:
            return open_device(url, kind=kind, **device_options(self.config, url))
        except DeviceError as exc:
            raise DoorConfigError(f"device {url.split('?')[0]}: {exc}") from None

    async def _open_one(self, dev: Device) -> None:
        try:
            await dev.open()
        except DeviceError as exc:
            raise DoorError(f"cannot open {dev.label}: {exc}") from None

    async def _close_devices(self) -> None:
        if self._given_devices is None:
            for dev in self._devices:
                with contextlib.suppress(Exception):
                    await dev.close()
        self._devices = []
        self._roles = {}
        self._outputs_alarm = []
        self._outputs_closing = []

    def _first(self, kind: type[Device]) -> Any:
        for dev in self._devices:
            if isinstance(dev, kind) and (kind is not DoorSensor or dev in self._roles.get("door_contact", [])):
                return dev
        return None

    def _role(self, role: str) -> list[Any]:
        return self._roles.get(role, [])

    async def _device_events(self, dev: Device) -> None:
        roles = {role for role, devs in self._roles.items() if dev in devs}
        wanted: list[type] = [DeviceEvent]
        if "patron_reader" in roles and isinstance(dev, PatronReader):
            wanted.append(CardPresented)
        if ("scanner" in roles or "patron_reader" in roles) and isinstance(dev, BarcodeScanner):
            wanted.append(Scanned)
        if "pinpad" in roles:
            wanted.append(KeyPressed)
        if "door_contact" in roles:
            wanted += [DoorOpened, DoorClosed, ExitPressed]
        stream = dev.events(*wanted)
        try:
            async for ev in stream:
                try:
                    await self._on_device_event(dev, ev)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad event must not stop the door
                    log.exception("door: error handling an event of %s", dev.label)
        finally:
            stream.close()

    async def _on_device_event(self, dev: Device, ev: Any) -> None:
        if isinstance(ev, CardPresented):
            self.present_card(ev.identifier, ev.reader or dev.label)
        elif isinstance(ev, Scanned):
            self.present_card(ev.data, dev.label)
        elif isinstance(ev, KeyPressed):
            self._on_key(ev.key, ev.at)
        elif isinstance(ev, DoorOpened):
            await self._apply(self.monitor.door_opened(self._mono()))
        elif isinstance(ev, DoorClosed):
            await self._apply(self.monitor.door_closed(self._mono()))
        elif isinstance(ev, ExitPressed):
            await self._apply(self.monitor.exit_pressed(self._mono()))
        elif isinstance(ev, DeviceEvent):
            now = self._clock()
            self._record(now, AuditEvent.DEVICE, result=ev.kind, detail=dev.label)
            self._webhook(now, "device", state=ev.kind, device=dev.label)
            self._write_status()

    # ================================================================ entry

    def present_card(self, card: str, reader: str = "touch") -> None:
        """A card was presented at *reader* (reader events, or the kiosk's own reader)."""
        if not self._started or not card:
            return
        if self._session is not None and self._session.future is not None and not self._session.future.done():
            # A new card while a PIN is awaited: the new card wins.
            self._session.future.cancel()
        elif self._busy:
            log.info("door: card at %s ignored, a decision is in progress", reader)
            return
        self._pin_asked.clear()
        self._entry_task = asyncio.create_task(self._entry(card, reader), name="door entry")

    def press_key(self, key: str) -> None:
        """A PIN pad key ("0"-"9", "#", "*") from the kiosk's touch screen."""
        self._on_key(key, self._mono())

    def submit_pin(self, pin: str) -> None:
        """A whole PIN from the kiosk's touch screen."""
        session = self._session
        if session is None or session.future is None or session.future.done():
            return
        session.future.set_result((pin, self._mono()))

    def _on_key(self, key: str, at: float) -> None:
        """The one PIN buffer is the core's; "#" hands it over to the entry task."""
        session = self._session
        if session is None or session.future is None or session.future.done():
            return
        if key == KEY_ENTER:
            session.future.set_result((None, at))
        else:
            self.ident.core.key(self._clock(), key)

    async def pin_asked(self, timeout: float = 10.0) -> None:
        """Until the door waits for a PIN (tests, benchmarks: an explicit settle, no sleep)."""
        await asyncio.wait_for(self._pin_asked.wait(), timeout)
        self._pin_asked.clear()

    async def next_outcome(self, timeout: float = 10.0) -> EntryOutcome:
        """The next entry outcome (for tests and an embedding kiosk)."""
        return await asyncio.wait_for(self._outcomes.get(), timeout)

    async def _entry(self, card: str, reader: str) -> None:
        card_ref = pseudonym(card, self._key)
        try:
            if self.state_fault is not None:
                # Nothing is decided that could not be recorded: locked, refused, the alarm stands.
                await self._finish(
                    reader, card_ref, granted=False, result=Result.ERROR, rules=("E1",), source="local",
                    domain="door", key="door.E1", params={}, staff=f"E1: state files not writable ({self.state_fault})",
                    language=None,
                )
                return
            await self._entry_inner(card, card_ref, reader)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the door must answer, never crash
            log.exception("door: entry at %s failed (%s)", reader, card_ref)
            await self._finish(
                reader, card_ref, granted=False, result=Result.ERROR, rules=("E1",), source="local",
                domain="door", key="door.E1", params={}, staff=f"E1: {type(exc).__name__}", language=None,
            )
        finally:
            self._busy = False

    async def _entry_inner(self, card: str, card_ref: str, reader: str) -> None:
        """A shell over the identification core (kiosk.identify): every decision is its."""
        now = self._clock()
        if not self.rate.allow(reader, self._mono()):
            await self._refuse_door_rule(reader, card_ref, "RL", "door.RL", source="local")
            return
        period = self.schedule.period_at(now)
        if self._lockdown is not None:
            await self._finish(
                reader, card_ref, granted=False, result=Result.REFUSED, rules=("LD",), source="local", domain="policy",
                key=RULES["S1"].message_key, params={}, staff=DOOR_RULES["LD"], language=None,
            )
            return
        if period.kind is PeriodKind.CLOSED or self._ended_early(period):
            await self._refuse_policy_rule(reader, card_ref, "S1", source="local")
            return
        if period.kind is PeriodKind.STAFFED and self.door.staffed_entry.value == "free":
            self._message("info", "door.open.staffed", None, reader=reader)
            await self._indicate(Pattern.GRANTED)
            return
        since = self._mono()
        if period.kind is PeriodKind.STAFFED:
            self._busy = True
        effects = await self.ident.present(card, action=Action.ENTRY, period=period.kind)
        while True:
            for effect in effects:
                if isinstance(effect, Alarm):
                    self._store_alarm(effect)
            outcome = next((e for e in effects if isinstance(e, (Grant, Refuse))), None)
            if outcome is not None:
                self._set_online_from(self.ident.last_online)
                await self._outcome(reader, card_ref, outcome, since)
                return
            if not any(isinstance(e, AskPin) for e in effects):
                return
            got = await self._collect_pin(reader)
            if got is None:
                effects = await self.ident.timed_out()
                continue
            pin, since = got
            self._busy = True
            await self._indicate(Pattern.BUSY)
            self._message("checking", "door.checking", None, reader=reader)
            effects = await self.ident.submit(pin)

    async def _outcome(self, reader: str, card_ref: str, outcome: Grant | Refuse, since: float) -> None:
        language = outcome.snapshot.language if isinstance(outcome, Grant) and outcome.snapshot else None
        if isinstance(outcome, Grant):
            latency = await self._release_for_entry(since)
            offline = outcome.source == "offline"
            await self._finish(
                reader, card_ref, granted=True, result=Result.GRANTED, rules=(), source=outcome.source,
                domain="door", key="door.granted.offline" if offline else "door.granted", params={},
                staff=outcome.staff, language=language, latency=latency,
            )
            return
        rules = outcome.rules
        if outcome.decision is not None:
            domain, key, params = "policy", outcome.decision.message.key, dict(outcome.decision.message.params)
            # A block that payment lifts: where and how to pay (no desk in unmanned hours).
            advice = payment_advice(tuple(rules), normalise_language(outcome.language or self.door.language),
                                    getattr(getattr(self.config, "payments", None), "portal_url", None))
            if advice is not None:
                domain, (key, params) = "door", advice
        elif outcome.reason in (Reason.PIN_TIMEOUT, Reason.PIN_EMPTY):
            domain, key, params = "door", "door.P2.timeout", {}
        elif outcome.reason in (Reason.OUT_OF_SERVICE, Reason.ERROR):
            domain, key, params = "door", "door.E1", {}
        else:
            domain, key, params = "door", "door.O1", {}
        result = Result.ERROR if outcome.reason in (Reason.OUT_OF_SERVICE, Reason.ERROR) else Result.REFUSED
        await self._finish(
            reader, card_ref, granted=False, result=result, rules=rules, source=outcome.source,
            domain=domain, key=key, params=params, staff=outcome.staff, language=outcome.language,
        )

    def _store_alarm(self, alarm: Alarm) -> None:
        now = self._clock()
        log.critical("ALARM %s: %s", alarm.kind, alarm.detail)
        self._state_alarm(now, alarm.kind, alarm.detail)

    def _set_online_from(self, online: bool | None) -> None:
        if online is not None:
            self._set_online(online)

    async def _collect_pin(self, reader: str) -> tuple[str | None, float] | None:
        loop = asyncio.get_running_loop()
        session = _PinWait(reader=reader, future=loop.create_future())
        self._session = session
        self._pin_asked.set()
        self._message("prompt", "door.pin.prompt", None, reader=reader)
        await self._indicate(Pattern.BUSY)
        try:
            return await asyncio.wait_for(asyncio.shield(session.future), self.door.pin_timeout_seconds)
        except TimeoutError:
            return None
        finally:
            if not session.future.done():
                session.future.cancel()
            if self._session is session:
                self._session = None

    async def _release_for_entry(self, since: float) -> float:
        """Release the strike; returns the seconds from *since* to the strike command sent."""
        effects = self.monitor.release(self._mono(), ReleaseReason.ENTRY)
        latency = await self._apply(effects, timed_since=since)
        return latency if latency is not None else self._mono() - since

    async def _refuse_policy_rule(
        self, reader: str, card_ref: str, rule: str, *, source: str, params: dict | None = None, language: str | None = None
    ) -> None:
        info = RULES[rule]
        await self._finish(
            reader, card_ref, granted=False, result=Result.REFUSED, rules=(rule,), source=source,
            domain="policy", key=info.message_key, params=params or {}, staff=info.staff, language=language,
        )

    async def _refuse_door_rule(
        self, reader: str, card_ref: str, rule: str, key: str, *, source: str, staff_extra: str = ""
    ) -> None:
        await self._finish(
            reader, card_ref, granted=False, result=Result.REFUSED, rules=(rule,), source=source,
            domain="door", key=key, params={}, staff=DOOR_RULES[rule] + staff_extra, language=None,
        )

    async def _finish(
        self,
        reader: str,
        card_ref: str | None,
        *,
        granted: bool,
        result: Result,
        rules: tuple[str, ...],
        source: str,
        domain: str,
        key: str,
        params: dict,
        staff: str,
        language: str | None,
        latency: float | None = None,
    ) -> None:
        now = self._clock()
        if not granted:
            await self._indicate(Pattern.REFUSED if result is Result.REFUSED else Pattern.ERROR)
        else:
            await self._indicate(Pattern.GRANTED)
        self._record(now, AuditEvent.ENTRY, result=result, card_ref=card_ref, reader=reader, rules=rules, source=source)
        lang = normalise_language(language or self.door.language)
        text = self._text(domain, key, lang, params)
        kind = "granted" if granted else ("error" if result is Result.ERROR else "refused")
        self._message(kind, None, lang, text=text, rules=rules, reader=reader)
        await self._display(text)
        if granted:
            log.info("entry granted at %s: %s (%s)", reader, card_ref, source)
        else:
            log.info("entry %s at %s: %s rules=%s (%s) %s", result.value, reader, card_ref, ",".join(rules), source, staff)
        outcome = EntryOutcome(granted, result, rules, source, key, text, card_ref, reader, staff, latency)
        self._notify("door_outcome", outcome)
        if self._outcomes.full():
            self._outcomes.get_nowait()
        self._outcomes.put_nowait(outcome)

    def _set_online(self, online: bool, exc: BaseException | None = None) -> None:
        if self._library_online is online:
            return
        self._library_online = online
        if online:
            log.warning("library system reachable again; deciding online")
        else:
            log.warning("library system unreachable (%s); deciding from the offline cache", type(exc).__name__ if exc else "?")
            self._webhook(self._clock(), "library", state="unreachable")
        self._write_status()

    # ================================================================ texts, indicator

    def _text(self, domain: str, key: str, lang: str, params: Mapping[str, object]) -> str:
        try:
            return translate(domain, key, lang, **params)
        except MissingMessage:
            try:
                return translate("door", "door.refused", lang)
            except MissingMessage:
                return key

    def _message(
        self,
        kind: str,
        key: str | None,
        lang: str | None,
        *,
        text: str | None = None,
        rules: Iterable[str] = (),
        reader: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        lang = normalise_language(lang or self.door.language)
        if text is None and key is not None:
            text = self._text("door", key, lang, params or {})
        if self._on_message is None or text is None:
            return
        try:
            self._on_message(DoorMessage(kind, text, lang, tuple(rules), reader))
        except Exception:  # noqa: BLE001 - a broken screen must not stop the door
            log.exception("door: on_message callback failed")

    async def _display(self, text: str) -> None:
        """The text on the readers' own displays, where a driver offers one
        (an async ``show_text(text)``: OSDP readers with ``display_rows``)."""
        for dev in self._role("patron_reader"):
            show_text = getattr(dev, "show_text", None)
            if show_text is None:
                continue
            try:
                await show_text(text)
            except (DeviceError, ValueError) as exc:
                log.warning("display %s: %s", dev.label, exc)

    async def _indicate(self, pattern: Pattern) -> None:
        for dev in self._role("indicator"):
            try:
                await dev.show(pattern)
            except DeviceError as exc:
                log.warning("indicator %s: %s", dev.label, exc)

    # ================================================================ strike, monitor

    async def _apply(self, effects: Iterable[Effect], *, timed_since: float | None = None) -> float | None:
        latency = None
        for effect in effects:
            now = self._clock()
            if isinstance(effect, ReleaseLock):
                ok = await self._release_all(effect.seconds, effect.reason.value)
                if timed_since is not None:
                    latency = self._mono() - timed_since
                if not ok:
                    raise DoorError("the lock did not take the release command")
                self._record(now, AuditEvent.RELEASED, detail=effect.reason.value)
            elif isinstance(effect, Relock):
                await self._lock_all(effect.reason)
                self._record(now, AuditEvent.RELOCKED, detail=effect.reason)
            elif isinstance(effect, DoorChanged):
                self._record(now, AuditEvent.OPENED if effect.state is DoorState.OPEN else AuditEvent.CLOSED)
            elif isinstance(effect, ExitRequested):
                self._record(now, AuditEvent.EXIT)
            elif isinstance(effect, AlarmRaised):
                log.warning("ALARM %s raised", effect.kind.value)
                self._record(now, AuditEvent.ALARM, result=effect.kind.value, detail="raised")
                self._webhook(now, "alarm", alarm=effect.kind.value, state="raised")
            elif isinstance(effect, AlarmCleared):
                log.warning("alarm %s cleared after %.0f s", effect.kind.value, effect.seconds)
                self._record(now, AuditEvent.ALARM, result=effect.kind.value, detail="cleared")
                self._webhook(now, "alarm", alarm=effect.kind.value, state="cleared", seconds=round(effect.seconds, 1))
            elif isinstance(effect, AlarmOutput):
                await self._set_outputs(self._outputs_alarm, effect.on)
        self._wake.set()
        self._write_status()
        return latency

    async def _release_all(self, seconds: float, why: str) -> bool:
        ok = True
        for dev in self._role("lock"):
            try:
                await dev.release(_clamp(dev, seconds))
            except (DeviceError, ValueError) as exc:
                ok = False
                log.error("lock %s: release failed (%s): %s", dev.label, why, exc)
        return ok

    async def _lock_all(self, why: str) -> bool:
        ok = True
        for dev in self._role("lock"):
            ok = await self._lock_one(dev, why) and ok
        return ok

    async def _lock_one(self, dev: Any, why: str) -> bool:
        try:
            await dev.lock()
        except DeviceError as exc:
            log.error("lock %s: lock failed (%s): %s", dev.label, why, exc)
            return False
        return True

    async def _leave_released_all(self, seconds: float, why: str) -> bool:
        """Release, and stay released when the driver closes (a fail-safe stop)."""
        ok = True
        for dev in self._role("lock"):
            try:
                await dev.leave_released(_clamp(dev, seconds))
            except (DeviceError, ValueError) as exc:
                ok = False
                log.error("lock %s: release failed (%s): %s", dev.label, why, exc)
        return ok

    async def _set_outputs(self, devices: Sequence[Any], on: bool, seconds: float = 3600.0) -> None:
        for dev in devices:
            try:
                if isinstance(dev, Lock):
                    if on:
                        await dev.release(_clamp(dev, seconds))
                    else:
                        await dev.lock()
                elif isinstance(dev, Indicator):
                    await dev.show(Pattern.ERROR if on else Pattern.IDLE)
            except (DeviceError, ValueError) as exc:
                log.warning("output %s: %s", dev.label, exc)

    async def _monitor_timer(self) -> None:
        while True:
            deadline = self.monitor.next_deadline()
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._mono())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            effects = self.monitor.tick(self._mono())
            if effects:
                await self._apply(effects)

    # ================================================================ schedule, housekeeping

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                if self.state_fault is not None:
                    self._open_state()  # retried every tick until the files can be written again
                await self._schedule_tick()
                now = self._clock()
                if self._last_purge is None or self._mono() - self._last_purge > 3600:
                    self._purge(now)
                self._write_status()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("door housekeeping failed")

    async def _schedule_tick(self) -> None:
        now = self._clock()
        for event in self.schedule.poll(now):
            if isinstance(event, PeriodChanged):
                await self._on_period(now, event.new)
            elif isinstance(event, Announce):
                await self._announce(now, event.announcement.minutes_before, event.announcement.period_end)
            elif isinstance(event, ClosingCheck):
                await self._closing_check(now)
        # Free entry: keep the strike released through the staffed period.
        if self._free_until is not None and self._free_until - self._mono() < min(_FREE_MARGIN, self._free_chunk() / 3):
            await self._assert_free(now)
        # A standing alarm keeps its outputs on (a relay may accept only so long a release).
        if self.monitor.alarms and self._outputs_alarm:
            if self._alarm_output_at is None or self._mono() - self._alarm_output_at > 60:
                self._alarm_output_at = self._mono()
                await self._set_outputs(self._outputs_alarm, True)
        else:
            self._alarm_output_at = None

    async def _on_period(self, now: datetime, period: Period) -> None:
        self._period = period
        self._record(now, AuditEvent.PERIOD, result=period.kind.value)
        log.info("period now %s (until %s)", period.kind.value, period.end.isoformat() if period.end else "-")
        free = period.kind is PeriodKind.STAFFED and self.door.staffed_entry.value == "free"
        if free:
            await self._assert_free(now)
        elif self._free_until is not None:
            self._free_until = None
            await self._apply(self.monitor.set_free(self._mono(), False, 0))
        if period.kind is not PeriodKind.UNMANNED:
            await self._set_outputs(self._outputs_closing, False)
        self._write_status()

    def _free_chunk(self) -> float:
        """How long one free-entry release lasts: the shortest longest-release of the locks."""
        return min([_FREE_CHUNK, *(_clamp(dev, _FREE_CHUNK) for dev in self._role("lock"))])

    async def _assert_free(self, now: datetime) -> None:
        if self._lockdown is not None:
            return
        period = self._period
        chunk = self._free_chunk()
        remaining = chunk
        if period is not None and period.end is not None:
            remaining = max(1.0, min(chunk, (period.end - now).total_seconds()))
        self._free_until = self._mono() + remaining
        if self.monitor.lock is MonitorLock.FREE:
            # Already free: only renew the release (not an audit event each time).
            await self._release_all(remaining, "staffed (renewed)")
            return
        await self._apply(self.monitor.set_free(self._mono(), True, remaining))

    async def _announce(self, now: datetime, minutes: int, period_end: datetime) -> None:
        self._record(now, AuditEvent.ANNOUNCEMENT, detail=f"{minutes} min")
        log.info("closing announcement: %d minutes", minutes)
        self._message("announcement", "door.closing", None, params={"minutes": minutes})
        sound = announcement_sound(self.door.announcement_sounds and self.config.resolve(self.door.announcement_sounds), minutes)
        if sound is None and self.door.announcement_sounds is None:
            sound = announcement_sound(DEFAULT_SOUNDS, minutes)
        if sound is not None:
            self._background_task(self._play(sound))
        seconds = max(1.0, (period_end - now).total_seconds())
        await self._set_outputs(self._outputs_closing, True, seconds)

    async def _play(self, sound: Path) -> None:
        cmd = [*self.door.sound_command, str(sound)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            _, err = await asyncio.wait_for(proc.communicate(), 120)
            if proc.returncode:
                log.warning("sound command %s exited %s: %s", cmd[0], proc.returncode, err.decode(errors="replace")[:200])
        except (OSError, TimeoutError) as exc:
            log.warning("cannot play %s with %s: %s", sound.name, cmd[0], exc)

    async def _closing_check(self, now: datetime) -> None:
        if self.audit is None:
            return
        occ = self.audit.occupancy(now)
        if self.door.building_empty_check:
            verdict = "empty" if occ.estimate == 0 else "occupied"
            self._record(now, AuditEvent.BUILDING_EMPTY, result=verdict, detail=f"entries={occ.entries} exits={occ.exits}")
            if verdict != "empty":
                log.warning("building-empty check: %d entries, %d exits: maybe someone is still inside", occ.entries, occ.exits)
                self._webhook(now, "building_empty_check", state=verdict, entries=occ.entries, exits=occ.exits, estimate=occ.estimate)
        self._record(now, AuditEvent.OCCUPANCY_RESET)

    def _purge(self, now: datetime) -> None:
        self._last_purge = self._mono()
        if self.audit is None or self.store is None:
            return
        try:
            gone = self.audit.purge(now, self.door.audit_retention_days)
            stale = self.store.purge(now, timedelta(days=max(self.door.offline_cache_days, 1)))
        except (DoorError, StoreError) as exc:
            log.error("purge: %s", exc)
            return
        if gone or stale:
            log.info("purged %d audit rows older than %d days, %d offline-cache entries", gone, self.door.audit_retention_days, stale)

    # ================================================================ audit, webhooks, status

    def _record(self, at: datetime, event: AuditEvent, **kw: Any) -> None:
        if self.audit is not None:
            try:
                self.audit.record(at, event, **kw)
            except DoorError as exc:
                log.error("AUDIT NOT WRITTEN: %s", exc)
                # A full disk or a dying file: refuse from now on, until housekeeping finds it writable.
                self._set_state_fault(at, str(exc))
        self._notify("door_event", at, str(event), kw)

    def _notify(self, method: str, *args: Any) -> None:
        for obs in self.observers:
            func = getattr(obs, method, None)
            if func is None:
                continue
            try:
                func(*args)
            except Exception:  # noqa: BLE001 - an observer never stops the door
                log.exception("door: observer %s.%s failed", type(obs).__name__, method)

    # ================================================================ remote commands (kiosk.fleet)

    def _ended_early(self, period: Period) -> bool:
        return period.kind is PeriodKind.UNMANNED and self._ended_unmanned is not None and period.start == self._ended_unmanned

    def _remote_audit(self, action: str, staff: str, reason: str, detail: str = "") -> None:
        text = f"staff={staff} reason={reason}" + (f" {detail}" if detail else "")
        self._record(self._clock(), "remote", result=action, detail=text[:500])

    async def remote_release(self, seconds: float, *, staff: str, reason: str) -> dict[str, Any]:
        """Release the door for *seconds* (staff at the console); refused while locked down."""
        if not self._started:
            raise DoorError("the door service is not running")
        if self._lockdown is not None:
            raise DoorError("the door is locked down; resume it first")
        self._remote_audit("release", staff, reason, f"seconds={seconds:g}")
        effects = self.monitor.release(self._mono(), ReleaseReason.ENTRY, seconds=seconds)
        await self._apply(effects)
        return {"lock": self.monitor.lock.value, "seconds": seconds}

    async def remote_lockdown(self, *, staff: str, reason: str) -> dict[str, Any]:
        """Lock the door and refuse every card (rule LD) until :meth:`remote_resume`."""
        self._remote_audit("lockdown", staff, reason)
        self._lockdown = staff
        self._free_until = None
        await self._apply(self.monitor.set_free(self._mono(), False, 0))
        await self._lock_all("lockdown")
        self._write_status()
        return {"lock": self.monitor.lock.value, "lockdown": True}

    async def remote_resume(self, *, staff: str, reason: str) -> dict[str, Any]:
        """End a lockdown and an early end of the unmanned period; the schedule applies again."""
        self._remote_audit("resume", staff, reason)
        self._lockdown = None
        self._ended_unmanned = None
        if self._period is not None:
            await self._on_period(self._clock(), self._period)
        self._write_status()
        return {"lock": self.monitor.lock.value, "lockdown": False}

    async def remote_end_unmanned(self, *, staff: str, reason: str) -> dict[str, Any]:
        """End the current unmanned period now: closed until the schedule's next period."""
        now = self._clock()
        period = self.schedule.period_at(now)
        if period.kind is not PeriodKind.UNMANNED:
            raise DoorError(f"no unmanned period now (the period is {period.kind.value})")
        self._remote_audit("end_unmanned", staff, reason)
        self._ended_unmanned = period.start
        await self._lock_all("unmanned period ended early")
        await self._closing_check(now)
        self._write_status()
        return {"period": "closed", "until": period.end.isoformat() if period.end else None}

    def _webhook(self, at: datetime, event: str, **fields: Any) -> None:
        if self.webhooks is None:
            return
        payload = {"event": event, "at": at.isoformat(), "branch": self.branch, **fields}
        self.webhooks.send(payload)

    def status(self) -> dict[str, Any]:
        """Live state (what ``bibkiosk door status`` shows)."""
        occ = None
        if self.audit is not None:
            with contextlib.suppress(DoorError):
                occ = self.audit.occupancy(self._clock())
        return {
            "pid": os.getpid(),
            "updated": self._clock().isoformat(),
            "running": self._started,
            "branch": self.branch,
            "fail_mode": self.door.fail_mode.value,
            "period": None if self._period is None else {
                "kind": self._period.kind.value,
                "start": self._period.start.isoformat() if self._period.start else None,
                "end": self._period.end.isoformat() if self._period.end else None,
            },
            "lock": self.monitor.lock.value,
            "door": self.monitor.door.value,
            "alarms": sorted([*(a.value for a in self.monitor.alarms), *self.state_alarms]),
            "state_fault": self.state_fault,
            "lockdown": self._lockdown is not None,
            "ended_early": self._period is not None and self._ended_early(self._period),
            "library": {None: "unknown", True: "online", False: "offline"}[self._library_online],
            "devices": {dev.label: dev.status.detail for dev in self._devices},
            "devices_up": {dev.label: bool(dev.status.ok) for dev in self._devices},
            "occupancy": None if occ is None else {"since": occ.since.isoformat(), "entries": occ.entries, "exits": occ.exits, "estimate": occ.estimate},
            "webhooks": None if self.webhooks is None else {
                k: getattr(self.webhooks.stats, k) for k in ("sent", "failed", "dropped", "retries", "last_error")
            },
        }

    def _write_status(self, stopped: bool = False) -> None:
        data = None
        try:
            data = self.status()
            if stopped:
                data["running"] = False
            tmp = self.status_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
            os.replace(tmp, self.status_path)
        except (OSError, TypeError, ValueError) as exc:
            log.debug("status file: %s", exc)
        if data is not None:
            self._notify("door_status", data)


#: Longest release per device URL scheme where the driver has no ``max_release``
#: option.  OSDP: the PD's own output timer counts 100 ms in one byte; a longer
#: release would be a "permanent on" that only our process switches off, so a
#: crashed controller could leave the door released.  Staffed free entry is
#: re-released in steps instead.
_MAX_RELEASE_BY_SCHEME = {"osdp": 25.5}


def _clamp(dev: Any, seconds: float) -> float:
    """*seconds*, at most the longest release the device accepts."""
    options = getattr(dev, "options", None)
    limit = options.get("max_release") if isinstance(options, dict) else None
    if not isinstance(limit, (int, float)) or limit <= 0:
        url = getattr(dev, "url", None)
        limit = _MAX_RELEASE_BY_SCHEME.get(getattr(url, "scheme", ""))
    if isinstance(limit, (int, float)) and limit > 0:
        return min(seconds, float(limit))
    return seconds


def state_dir_of(config: Any) -> Path:
    """The state directory, relative paths taken from the config file's directory."""
    path = Path(config.state_dir)
    resolve = getattr(config, "resolve", None)
    return resolve(path) if resolve is not None else path
