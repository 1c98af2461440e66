"""The entry service: card -> PIN -> library system -> policy -> strike.

:class:`DoorService` runs on the caller's asyncio loop, so the kiosk can
embed it (``await service.start()`` ... ``await service.stop()``), and
``bibkiosk door --config FILE`` runs it headless (:meth:`DoorService.run`).

The service is split by responsibility: this module holds the life cycle
(lock first, state files, stop), the audit, status and remote commands;
:mod:`kiosk.door.hardware` the devices, strike and texts;
:mod:`kiosk.door.entry` the entry path, a thin shell over the one
identification core (:mod:`kiosk.identify`, shared with the kiosk and
``bibkiosk check``); :mod:`kiosk.door.periods` the schedule.

The path of one entry in unmanned hours:

1. a card from any configured reader (patron reader or barcode scanner);
   the per-reader rate limit (``RL``), the period (closed: ``S1``) and the
   patron's wrong-PIN lockout (``L1``) are checked before a PIN is asked;
2. the PIN from any PIN pad (digits, ``*`` clears, ``#`` enters) or from the
   kiosk's touch screen (:meth:`submit_pin`) within ``pin_timeout_seconds``;
   always, whatever ``pin_required`` says;
3. the attempt is counted (durably) before the PIN is checked, then
   ``library.identify(card, pin)`` -> ``policy.decide(Action.ENTRY, ...)``;
   when the library system cannot be reached, the verified cache decides
   (``O1`` for an unknown card, a stale entry and a wrong PIN alike); when the
   attempt cannot be counted (full disk), ``E2``, an alarm, and no check;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from devices import Device, DoorSensor
from kiosk.door.audit import AuditEvent, AuditJournal, Lockdown, lockdown_of_file
from kiosk.door.errors import DoorConfigError, DoorError
from kiosk.door.library import PatronLookup, library_from_config
from kiosk.door.limits import RateLimiter
from kiosk.identify import (
    STORE_NAME,
    CoreSettings,
    Front,
    Identification,
    IdentifyDriver,
    PatronStore,
    ScryptParams,
    StoreError,
)
from kiosk.door.monitor import AlarmKind, DoorMonitor, ReleaseReason
from kiosk.identify.core import Alarm
from kiosk.identify.recheck import STORE_ALARM, StoreRecheck
from kiosk.notify import Notifier, watchdog_loop
from kiosk.door.schedule import ScheduleDriver
from kiosk.door.webhooks import WebhookSender
from kiosk.statefile import StateFileError, probe_writable
from policy import Period, PeriodKind

from kiosk.door.entry import DOOR_RULES, DoorEntry, DoorMessage, EntryOutcome, _PinWait
from kiosk.door.hardware import DoorHardware
from kiosk.door.periods import DoorPeriods

log = logging.getLogger("kiosk.door")

__all__ = ["DOOR_RULES", "DoorMessage", "DoorService", "EntryOutcome", "state_dir_of"]


def _local_now() -> datetime:
    return datetime.now().astimezone()


#: The alarm when a lockdown may have stood but its record could not be read (docs/door.md,
#: "Lockdown across a restart"): it stands until staff resume or lock down again.
LOCKDOWN_ALARM = "lockdown_unconfirmed"


@dataclass(frozen=True, slots=True)
class LockdownState:
    """The lockdown in force: who ordered it, why and when; ``recorded`` False when its audit row
    could not be written (a full disk: it holds in memory only and ends at a restart)."""

    staff: str
    reason: str
    since: datetime
    recorded: bool
    restored: bool = False  # taken back from the audit at a start

    def as_dict(self) -> dict[str, Any]:
        return {"staff": self.staff, "reason": self.reason, "since": self.since.isoformat(),
                "recorded": self.recorded, "restored": self.restored}


class DoorService(DoorEntry, DoorHardware, DoorPeriods):
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
        # A store write after the answer that fails (settle, clear) is the same alarm as a failed hold.
        self.ident.on_alarm = lambda kind, detail: self._store_alarm(Alarm(kind, detail))
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
        #: Standing alarms about the state files (audit_corrupt, state_unwritable, patron_store_unwritable).
        #: Each is raised (audit row, webhook, fleet event) once while it stands: :meth:`_state_alarm`.
        self.state_alarms: set[str] = set()
        #: Door alarms (held_open, forced_open) that stood when the service last stopped (kind -> since),
        #: taken back from the audit when the door contact is first read (:meth:`_take_back_door_alarms`).
        self._taken_back: dict[str, datetime] = {}
        #: A standing patron_store_unwritable is looked at again now and then (as at the kiosk).
        self._store_check = StoreRecheck(self.state_dir, monotonic)
        #: False after a stop in which a lock did not take the fail-mode state.
        self.stopped_in_fail_mode_state = True
        self._streams: list[Any] = []  # device event streams being read (settle)
        self._handling = 0  # device events being handled now (settle)
        #: Observers (fleet link, metrics): objects with any of ``door_event(at, event, fields)``,
        #: ``door_status(status)``, ``door_outcome(outcome)``; called on the loop, errors logged.
        self.observers: list[Any] = []
        #: Remote commands (kiosk.fleet): lockdown on, the unmanned period ended early (its start).
        #: A recorded lockdown is taken back from the audit at a start (:meth:`_take_back_lockdown`).
        self._lockdown: LockdownState | None = None
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
        started = f"fail_mode={self.door.fail_mode.value}" + (" lockdown=standing" if self._lockdown is not None else "")
        self._record(now, AuditEvent.SERVICE, result="started", detail=started)
        self._purge(now)
        sensor = self._first(DoorSensor)
        await self._take_back_door_alarms(sensor)
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
                    self._recover_lockdown(now, self.audit.moved_aside)
                else:
                    self._take_back(now)
                    self._take_back_lockdown(now)
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
        elif self.state_fault is not None or "state_unwritable" in self.state_alarms:
            self._clear_state_fault(now)  # (also one that stood at the last stop: taken back above)

    # ---------------------------------------------------------------- alarms across a restart

    #: State alarms whose cause the door looks at again after a restart: taken back as standing
    #: (not raised again) and cleared the usual way once the cause is gone.
    _FOLLOWED = ("state_unwritable", STORE_ALARM)

    def _take_back(self, now: datetime) -> None:
        """The alarms that stood when the service last stopped (the audit: raised, never cleared).

        Staff see one "raised" when an alarm starts and one "cleared" when it ends, across
        restarts too: a standing alarm is not raised again (no audit row, webhook or fleet
        event); it is in the status (the console's retained state) from the start.
        ``state_unwritable`` and ``patron_store_unwritable`` stand until their cause is
        gone (looked at again now, and by housekeeping), held_open / forced_open until the
        door contact says closed (:meth:`_take_back_door_alarms`); any other
        (``audit_corrupt``) stood until this restart: cleared now.
        """
        assert self.audit is not None
        try:
            standing = self.audit.standing_alarms()
        except DoorError as exc:
            log.error("cannot read the standing alarms from the audit: %s", exc)
            return
        door_kinds = {k.value for k in AlarmKind}
        for kind, since in standing.items():
            if kind in self._FOLLOWED:
                log.warning("alarm %s stood at the last stop: standing (not raised again)", kind)
                self.state_alarms.add(kind)
                if kind == STORE_ALARM:
                    self._store_check.raised()
            elif kind in door_kinds:
                self._taken_back[kind] = since
            elif kind == LOCKDOWN_ALARM:
                log.warning("alarm %s stood at the last stop: standing until staff resume or lock down", kind)
                self.state_alarms.add(kind)
            else:
                self._alarm_ended(now, kind)

    # ---------------------------------------------------------------- lockdown across a restart

    def _take_back_lockdown(self, now: datetime) -> None:
        """A lockdown on record (a ``remote`` ``lockdown`` row, no ``resume`` after it) stands
        again: locked, every card refused LD, no free entry, until staff resume.  An audit that
        opened but cannot be read: :meth:`_lockdown_unconfirmed`."""
        assert self.audit is not None
        try:
            record = self.audit.lockdown()
        except DoorError as exc:
            self._lockdown_unconfirmed(now, f"the audit cannot be read: {exc}")
            return
        if record is not None:
            self._restore_lockdown(record)

    def _recover_lockdown(self, now: datetime, moved_aside: Path) -> None:
        """The journal was corrupt and moved aside: its lockdown record is read from the copy
        (as it is, read-only).  Read: a standing lockdown stands again and is written to the new
        journal (so that the next restart finds it); none: nothing.  Unreadable: the door starts
        in normal service with the standing alarm ``lockdown_unconfirmed``."""
        try:
            record = lockdown_of_file(moved_aside)
        except DoorError as exc:
            self._lockdown_unconfirmed(now, f"the corrupt audit {moved_aside.name} cannot be read: {exc}")
            return
        if record is None:
            return
        recorded = self._record(now, AuditEvent.REMOTE, result="lockdown", detail=record.detail[:500])
        self._restore_lockdown(record, recorded=recorded)

    def _restore_lockdown(self, record: Lockdown, *, recorded: bool = True) -> None:
        self._lockdown = LockdownState(record.staff, record.reason, record.at.astimezone(), recorded, restored=True)
        log.warning("LOCKDOWN stands (ordered %s, on record): the door stays locked, every card refused LD, until resume",
                    record.at.astimezone().isoformat(timespec="seconds"))

    def _lockdown_unconfirmed(self, now: datetime, why: str) -> None:
        """Whether a lockdown stood cannot be read.  Corrupt state must not keep the door out of
        service: it starts in normal service (locked, the schedule applies), and staff are told
        until they decide (``resume`` or ``lockdown`` clears the alarm)."""
        log.error("LOCKDOWN UNCONFIRMED: %s; the door is in normal service until staff resume or lock down", why)
        self._state_alarm(now, LOCKDOWN_ALARM, why)

    def _end_lockdown_alarm(self, now: datetime) -> None:
        """Staff decided (resume, lockdown): a standing ``lockdown_unconfirmed`` is cleared."""
        if LOCKDOWN_ALARM not in self.state_alarms:
            return
        if self._record(now, AuditEvent.ALARM, result=LOCKDOWN_ALARM, detail="cleared"):
            self.state_alarms.discard(LOCKDOWN_ALARM)
            self._webhook(now, "alarm", alarm=LOCKDOWN_ALARM, state="cleared")

    async def _enforce_lockdown(self) -> None:
        """Locked, free entry off (a lockdown ordered now or taken back)."""
        self._free_until = None
        await self._apply(self.monitor.set_free(self._mono(), False, 0))
        await self._lock_all("lockdown")

    async def _take_back_door_alarms(self, sensor: Any) -> None:
        """held_open / forced_open that stood at the last stop stand again until the door closes
        (:meth:`DoorMonitor.restore`); without a door contact to follow them: cleared now."""
        taken, self._taken_back = self._taken_back, {}
        if not taken:
            return
        if sensor is None or sensor.door_open is None:
            for kind in taken:
                self._alarm_ended(self._clock(), kind)
            return
        mono, wall = self._mono(), self._clock()
        log.warning("alarms %s stood at the last stop: standing (not raised again)", ", ".join(sorted(taken)))
        standing = {AlarmKind(k): mono - max(0.0, (wall - since).total_seconds()) for k, since in taken.items()}
        await self._apply(self.monitor.restore(mono, standing))

    def _alarm_ended(self, now: datetime, kind: str) -> None:
        log.warning("alarm %s cleared (it stood at the last stop)", kind)
        self._record(now, AuditEvent.ALARM, result=kind, detail="cleared")
        self._webhook(now, "alarm", alarm=kind, state="cleared")

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
        except DoorError as exc:
            self.state_fault = self.state_fault or str(exc)  # still not writable: the fault stands
            return
        self.state_fault = None
        self.state_alarms.discard("state_unwritable")
        log.warning("state files writable again: deciding entries again")
        self._webhook(now, "alarm", alarm="state_unwritable", state="cleared")

    def _recheck_store_alarm(self) -> None:
        """A standing patron_store_unwritable: is ``state_dir`` writable again?  (Housekeeping, now and then.)"""
        if STORE_ALARM not in self.state_alarms or self.state_fault is not None or not self._store_check.due():
            return
        if self._store_check.probe() is not None:
            return
        now = self._clock()
        self.state_alarms.discard(STORE_ALARM)
        log.warning("alarm %s cleared: the patron store can be written again", STORE_ALARM)
        self._record(now, AuditEvent.ALARM, result=STORE_ALARM, detail="cleared")
        self._webhook(now, "alarm", alarm=STORE_ALARM, state="cleared")

    def _state_alarm(self, now: datetime, kind: str, detail: str) -> bool:
        """Raise *kind*: an ``alarm`` ... ``raised`` and a ``state`` row (why), the webhook; the
        observers (fleet) see both rows.  Once while it stands: False, and nothing written,
        when it stands already (a full store fails every card the same way)."""
        if kind in self.state_alarms:
            return False
        self.state_alarms.add(kind)
        self._record(now, AuditEvent.ALARM, result=kind, detail="raised")
        self._record(now, AuditEvent.STATE, result=kind, detail=detail[:200])
        self._webhook(now, "alarm", alarm=kind, state="raised", detail=detail[:200])
        return True

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
        tasks = [*self._tasks, *self._background, *([self._entry_task] if self._entry_task else [])]
        for task in tasks:
            task.cancel()
        # Bounded: a task that will not end must never keep the lock from its stop state.
        for _ in range(3):
            pending = [t for t in tasks if not t.done()]
            if not pending:
                break
            await asyncio.wait(pending, timeout=1.0)
            for task in pending:
                task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
        self._tasks.clear()
        self._background.clear()
        self._entry_task = None
        if self.ident.core.unchecked_hold:
            # Stopped while a PIN was awaited: the attempt held when it was asked was never checked.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ident.abandon(), 2.0)
                await asyncio.wait_for(self.ident.settle_background(), 2.0)
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

    # ================================================================ audit, webhooks, status

    def _record(self, at: datetime, event: AuditEvent, **kw: Any) -> bool:
        """One audit row (and the observers); False when it was not written."""
        written = False
        if self.audit is not None:
            try:
                self.audit.record(at, event, **kw)
                written = True
            except DoorError as exc:
                log.error("AUDIT NOT WRITTEN: %s", exc)
                # A full disk or a dying file: refuse from now on, until housekeeping finds it writable.
                self._set_state_fault(at, str(exc))
        self._notify("door_event", at, str(event), kw)
        return written

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

    def _remote_audit(self, action: str, staff: str, reason: str, detail: str = "") -> bool:
        """The ``remote`` audit row of a command; False when it could not be written (the
        ``state_unwritable`` alarm is then raised, as for any row)."""
        text = f"staff={staff} reason={reason}" + (f" {detail}" if detail else "")
        return self._record(self._clock(), "remote", result=action, detail=text[:500])

    def _remote_audit_or_refuse(self, action: str, staff: str, reason: str, detail: str = "") -> None:
        """A command that grants or lifts a restriction is carried out only once it is on record."""
        if not self._remote_audit(action, staff, reason, detail):
            raise DoorError(f"state not writable: {action} not carried out, the door cannot record it ({self.state_fault or 'no audit'})")

    async def remote_release(self, seconds: float, *, staff: str, reason: str) -> dict[str, Any]:
        """Release the door for *seconds* (staff at the console); refused while locked down, and
        when its audit row cannot be written."""
        if not self._started:
            raise DoorError("the door service is not running")
        if self._lockdown is not None:
            raise DoorError("the door is locked down; resume it first")
        self._remote_audit_or_refuse("release", staff, reason, f"seconds={seconds:g}")
        effects = self.monitor.release(self._mono(), ReleaseReason.ENTRY, seconds=seconds)
        await self._apply(effects)
        return {"lock": self.monitor.lock.value, "seconds": seconds}

    async def remote_lockdown(self, *, staff: str, reason: str) -> dict[str, Any]:
        """Lock the door and refuse every card (rule LD) until :meth:`remote_resume`; also when its
        audit row cannot be written (fail secure)."""
        now = self._clock()
        recorded = self._remote_audit("lockdown", staff, reason)
        if recorded or self._lockdown is None or not self._lockdown.recorded:
            self._lockdown = LockdownState(staff, reason, now, recorded)
        # (else: a lockdown on record stands already; this one, unrecorded, changes nothing on disk)
        if recorded:
            self._end_lockdown_alarm(now)
        await self._enforce_lockdown()
        self._write_status()
        if not recorded:
            # In memory only: it ends at a restart (the fleet link answers "done, not recorded").
            return {"lock": self.monitor.lock.value, "lockdown": True, "recorded": False,
                    "unrecorded": f"the door's audit cannot be written: {self.state_fault or 'no audit'}"}
        return {"lock": self.monitor.lock.value, "lockdown": True}

    async def remote_resume(self, *, staff: str, reason: str) -> dict[str, Any]:
        """End a lockdown and an early end of the unmanned period; the schedule applies again.
        Refused (the lockdown stands) when its audit row cannot be written."""
        self._remote_audit_or_refuse("resume", staff, reason)
        self._lockdown = None
        self._end_lockdown_alarm(self._clock())
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
            "lockdown_info": None if self._lockdown is None else self._lockdown.as_dict(),
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


def state_dir_of(config: Any) -> Path:
    """The state directory, relative paths taken from the config file's directory."""
    path = Path(config.state_dir)
    resolve = getattr(config, "resolve", None)
    return resolve(path) if resolve is not None else path
