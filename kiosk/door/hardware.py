"""The door's devices: opening them by role, their events, the strike and the
monitor's effects, the indicator, the readers' displays and the texts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from devices import (
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
from kiosk.door.audit import AuditEvent
from kiosk.door.errors import DoorConfigError, DoorError
from kiosk.door.monitor import (
    AlarmCleared,
    AlarmOutput,
    AlarmRaised,
    DoorChanged,
    DoorState,
    Effect,
    ExitRequested,
    ReleaseLock,
    Relock,
)
from kiosk.i18n import MissingMessage, normalise_language, translate

from kiosk.door.entry import DoorMessage

log = logging.getLogger("kiosk.door")



class DoorHardware:
    """The door's devices: opening them by role, their events, the strike and the

    A part of :class:`~kiosk.door.service.DoorService`.
    """

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
        self._streams.append(stream)
        try:
            async for ev in stream:
                self._handling += 1
                try:
                    await self._on_device_event(dev, ev)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad event must not stop the door
                    log.exception("door: error handling an event of %s", dev.label)
                finally:
                    self._handling -= 1
        finally:
            stream.close()
            with contextlib.suppress(ValueError):
                self._streams.remove(stream)

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
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives
            # as the wake-up does (gh-86296), and stop() then waited for this task for ever.
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=timeout)
            finally:
                waiter.cancel()
            effects = self.monitor.tick(self._mono())
            if effects:
                await self._apply(effects)


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
