"""USB serial relay lock (LCUS-type boards) and a door contact on a serial modem line.

``lcus://`` - an LCUS-1/2/4/8 USB relay board (CH340, 9600 8N1) driving a
door strike or locker.  Frame: ``A0 ch state (A0+ch+state)&FF``, e.g.
``A0 01 01 A2`` relay 1 on, ``A0 01 00 A1`` off.  URL grammar::

    lcus:///dev/ttyUSB0[?options]
    lcus://usb/1a86:7523[/SERIAL][?options]
    lcus://usb/1a86:7523?channel=2&door=contact:///dev/ttyUSB1?pin=cts

================  ========  =======  =================================================
option            type      default  meaning
================  ========  =======  =================================================
channel           int       1        relay channel 1-8
release_state     on|off    on       relay state that releases the lock (on: fail-secure
                                     strike; off: fail-safe magnetic lock)
max_release       float     600      longest release accepted (seconds)
door              URL       -        a DoorSensor URL (``contact://...``, ``sim://door``);
                                     the relay then is a Lock *and* a DoorSensor
baud (or baudrate), parity, usb, name, retry_initial, retry_max: as for every serial driver
================  ========  =======  =================================================

Support table (``lcus://``):

======================================  ===========================================
feature                                 supported
======================================  ===========================================
release(seconds), lock(), state         yes (the relock timer runs in the driver:
                                        LCUS boards have no timer of their own)
leave_released(seconds) (fail-safe      yes: ``close()`` then sends nothing, the relay
stop)                                   stays released until the next lock
state after a replug                    re-sent (the board forgets it on power loss);
                                        a lock() refused while lost is remembered
door contact / exit button              through ``door=`` (any DoorSensor URL)
relay read-back                         no (LCUS boards do not answer); ``state``
                                        is what was last sent, UNKNOWN while lost
unplug / replug (lost, backoff, back)   yes
bytes from the board                    ignored with a log line
======================================  ===========================================

``contact://`` - a door contact (reed switch) and optional exit button wired
to the modem status lines of a USB-serial adapter: RTS and DTR are driven
high as the supply, the switch returns it on CTS / DSR / DCD / RI.  Polled
(default every 50 ms) and debounced.  URL grammar::

    contact:///dev/ttyUSB1?pin=cts&open_when=low&exit_pin=dsr

================  ============  =======  ==========================================
option            type          default  meaning
================  ============  =======  ==========================================
pin               cts|dsr|cd|ri cts      line of the door contact
open_when         high|low      low      line level that means "door open"
exit_pin          ...|none      none     line of the exit button (active high)
poll              float         0.05     seconds between reads
debounce          float         0.1      a level must hold this long to count
usb, name, retry_initial, retry_max: as above
================  ============  =======  ==========================================

Support table (``contact://``): DoorOpened / DoorClosed / ExitPressed, door_open,
unplug / replug: yes.  Ptys have no modem lines: on a pty ``open()`` fails with
a clear :class:`~devices.errors.DeviceProtocolError`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any, ClassVar

import serial

from .base import (
    DeviceEvent,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    ExitPressed,
    Lock,
    LockState,
    ReconnectingDevice,
    run_in_thread,
)
from .errors import DeviceDisconnected, DeviceNotFound, DeviceProtocolError, DeviceUrlError
from .serialport import SerialDevice, _short, _write_all
from .url import Choice, DeviceUrl, OptionSpec, UsbId, parse_url, resolve_serial_port

__all__ = ["LcusRelay", "SerialContact", "lcus_frame", "Debouncer"]

log = logging.getLogger("devices.relay")


def lcus_frame(channel: int, on: bool) -> bytes:
    """The 4-byte LCUS command: ``A0 ch state sum``."""
    if not 1 <= channel <= 8:
        raise ValueError("LCUS channels are 1-8")
    state = 1 if on else 0
    return bytes((0xA0, channel, state, (0xA0 + channel + state) & 0xFF))


class LcusRelay(SerialDevice, Lock):
    """A door strike on an LCUS USB relay board."""

    SCHEMES = ("lcus",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "channel": (int, 1, "relay channel 1-8"),
        "release_state": (Choice("on", "off"), "on", "relay state that releases the lock"),
        "max_release": (float, 600.0, "longest release accepted, seconds"),
        "door": (str, "", "a DoorSensor URL for the door contact / exit button"),
    }

    def __new__(cls, url: DeviceUrl | str, **extra: Any) -> LcusRelay:
        if cls is LcusRelay:
            door = extra.get("door", parse_url(url).options.get("door"))
            if door:
                cls = LcusRelayWithDoor
        return super().__new__(cls)

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if not 1 <= self.options["channel"] <= 8:
            raise DeviceUrlError("lcus:// channel must be 1-8")
        if not self.options["max_release"] > 0:
            raise DeviceUrlError("lcus:// max_release must be positive")
        self._state = LockState.UNKNOWN
        self._released_until = 0.0
        self._relock: asyncio.TimerHandle | None = None
        self._leave_released = False

    def _frame(self, released: bool) -> bytes:
        energised = released == (self.options["release_state"] == "on")
        return lcus_frame(self.options["channel"], energised)

    @property
    def state(self) -> LockState:
        return LockState.UNKNOWN if self._lost else self._state

    async def _connect(self) -> None:
        await super()._connect()
        released = time.monotonic() < self._released_until
        port = self._port
        try:
            await asyncio.to_thread(_write_all, port, self._frame(released))
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFound(f"{self.label}: cannot write to the relay board: {_short(exc)}") from None
        self._state = LockState.RELEASED if released else LockState.LOCKED

    def _on_bytes(self, data: bytes, now: float) -> None:
        log.warning("%s: ignored %d unexpected bytes from the relay board", self.label, len(data))

    async def release(self, seconds: float) -> None:
        seconds = float(seconds)
        if not (math.isfinite(seconds) and 0 < seconds <= self.options["max_release"]):
            raise ValueError(f"release time must be > 0 and <= {self.options['max_release']:g} s")
        self._require_ok()
        self._cancel_relock()
        self._leave_released = False
        await self._write(self._frame(True))
        self._state = LockState.RELEASED
        self._released_until = time.monotonic() + seconds
        self._relock = asyncio.get_running_loop().call_later(seconds, self._auto_relock)
        log.info("%s: released for %.1f s", self.label, seconds)

    def _auto_relock(self) -> None:
        self._relock = None
        asyncio.ensure_future(self._relock_now())

    async def _relock_now(self) -> None:
        try:
            await self.lock()
        except DeviceDisconnected as exc:
            log.warning("%s: could not lock again: %s", self.label, exc)

    def _cancel_relock(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None

    async def lock(self) -> None:
        self._cancel_relock()
        self._released_until = 0.0
        self._leave_released = False
        self._require_ok()
        await self._write(self._frame(False))
        self._state = LockState.LOCKED

    async def leave_released(self, seconds: float) -> None:
        """Release and stay released after :meth:`close` (no hardware timer: until the next lock)."""
        await self.release(seconds)
        self._leave_released = True

    async def close(self) -> None:
        self._cancel_relock()
        self._released_until = 0.0
        if self._leave_released:
            log.warning("%s: left released at close (fail-safe stop)", self.label)
        elif self._opened and not self._lost and self._port is not None:
            try:
                await self._write(self._frame(False))
            except DeviceDisconnected:
                pass
        self._state = LockState.UNKNOWN
        await super().close()


class LcusRelayWithDoor(LcusRelay, DoorSensor):
    """An LCUS relay with a door contact (``door=`` URL): a Lock and a DoorSensor."""

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        from .registry import open_device

        self.door_device: DoorSensor = open_device(self.options["door"], kind=DoorSensor)  # type: ignore[assignment]
        self._forward: asyncio.Task[None] | None = None

    @property
    def door_open(self) -> bool | None:
        return self.door_device.door_open

    async def open(self) -> None:
        await super().open()
        try:
            await self.door_device.open()
        except BaseException:
            await super().close()
            raise
        stream = self.door_device.events()
        self._forward = asyncio.create_task(self._forward_events(stream))

    async def _forward_events(self, stream: Any) -> None:
        async for ev in stream:
            if isinstance(ev, DeviceEvent):
                self._emit(DeviceEvent(ev.kind, f"door contact: {ev.detail}", f"{self.label}/door"))
            else:
                self._emit(ev)

    async def close(self) -> None:
        await self.door_device.close()
        if self._forward is not None:
            try:
                await asyncio.wait_for(self._forward, 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._forward.cancel()
            self._forward = None
        await super().close()


# --- door contact on modem lines -------------------------------------------------------------


class Debouncer:
    """A level that must hold *stable* seconds before it counts.  Pure (time is passed in)."""

    def __init__(self, stable: float) -> None:
        self.stable = stable
        self.value: bool | None = None
        self._candidate: bool | None = None
        self._since = 0.0

    def feed(self, level: bool, now: float) -> bool | None:
        """Feed a sample; returns the new value when it changes, else None."""
        if self.value is None:
            self.value = level
            self._candidate = level
            return None
        if level != self._candidate:
            self._candidate = level
            self._since = now
        if self._candidate != self.value and now - self._since >= self.stable:
            self.value = self._candidate
            return self.value
        return None


_PINS = ("cts", "dsr", "cd", "ri")


class SerialContact(ReconnectingDevice, DoorSensor):
    """Door contact (and exit button) on a serial adapter's modem status lines."""

    SCHEMES = ("contact",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "pin": (Choice(*_PINS), "cts", "modem line of the door contact"),
        "open_when": (Choice("high", "low"), "low", "line level meaning door open"),
        "exit_pin": (Choice(*_PINS, "none"), "none", "modem line of the exit button (active high)"),
        "poll": (float, 0.05, "seconds between reads"),
        "debounce": (float, 0.1, "seconds a level must hold"),
        "usb": (UsbId(), None, "find the port by USB id VID:PID"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if not (0 < self.options["poll"] <= 5 and 0 <= self.options["debounce"] <= 5):
            raise DeviceUrlError("contact:// poll must be in (0, 5] and debounce in [0, 5] seconds")
        if self.options["exit_pin"] == self.options["pin"]:
            raise DeviceUrlError("contact:// exit_pin must differ from pin")
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._door = Debouncer(self.options["debounce"])
        self._exit = Debouncer(self.options["debounce"])
        self._door_open: bool | None = None

    @property
    def door_open(self) -> bool | None:
        return None if self._lost else self._door_open

    def _read_levels(self, port: serial.Serial) -> tuple[bool, bool | None]:
        door = bool(getattr(port, self.options["pin"]))
        exit_pin = self.options["exit_pin"]
        return door, (bool(getattr(port, exit_pin)) if exit_pin != "none" else None)

    async def _connect(self) -> None:
        name = resolve_serial_port(self.url.path, self.options["usb"])
        try:
            port = serial.serial_for_url(name, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceNotFound(f"{self.label}: cannot open serial port: {_short(exc)}") from None
        try:
            port.rts = True
            port.dtr = True
            self._read_levels(port)
        except (serial.SerialException, OSError) as exc:
            port.close()
            raise DeviceProtocolError(f"{self.label}: this port has no modem status lines ({_short(exc)})") from None
        self._port = port
        self._stop.clear()
        self._door = Debouncer(self.options["debounce"])
        self._exit = Debouncer(self.options["debounce"])

    async def _session(self) -> None:
        port = self._port
        if port is None:
            raise DeviceDisconnected("port not open")
        await run_in_thread(lambda: self._poller(port), name=f"contact {self.label}")

    def _poller(self, port: serial.Serial) -> None:
        open_high = self.options["open_when"] == "high"
        while not self._stop.wait(self.options["poll"]):
            try:
                door, exit_level = self._read_levels(port)
            except (serial.SerialException, OSError) as exc:
                if self._stop.is_set():
                    return
                raise DeviceDisconnected(f"modem lines unreadable: {_short(exc)}") from None
            now = time.monotonic()
            first = self._door.value is None
            changed = self._door.feed(door, now)
            if first:
                self._door_open = door == open_high
            elif changed is not None:
                self._door_open = changed == open_high
                self._emit_threadsafe(DoorOpened() if self._door_open else DoorClosed())
            if exit_level is not None and self._exit.feed(exit_level, now) is True:
                self._emit_threadsafe(ExitPressed())

    async def _disconnect(self) -> None:
        self._stop.set()
        port, self._port = self._port, None
        if port is not None:
            await asyncio.sleep(0)
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass
