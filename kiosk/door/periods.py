"""The schedule at the door: period changes (free entry in staffed hours),
closing announcements and sounds, the building-empty check, housekeeping."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from kiosk.door.audit import AuditEvent
from kiosk.door.errors import DoorError
from kiosk.identify import StoreError
from kiosk.door.monitor import LockState as MonitorLock
from kiosk.door.schedule import DEFAULT_SOUNDS, Announce, ClosingCheck, PeriodChanged, announcement_sound
from policy import Period, PeriodKind

from kiosk.door.hardware import _clamp

log = logging.getLogger("kiosk.door")

#: Free entry in staffed hours: the strike is re-released before this much of the last release remains.
_FREE_CHUNK = 900.0
_FREE_MARGIN = 300.0




class DoorPeriods:
    """The schedule at the door: period changes (free entry in staffed hours),

    A part of :class:`~kiosk.door.service.DoorService`.
    """

    # ================================================================ schedule, housekeeping

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                if self.state_fault is not None:
                    self._open_state()  # retried every tick until the files can be written again
                    if self._lockdown is not None and self.monitor.lock is MonitorLock.FREE:
                        await self._enforce_lockdown()  # a lockdown on record, read only now
                self._recheck_store_alarm()
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
