"""Shared plumbing for drivers on a serial port (pyserial): :class:`SerialDevice`.

Opens the port by path, by USB id (``scheme://usb/VID:PID[/SERIAL]`` or
``?usb=VID:PID``, looked up with ``serial.tools.list_ports``) or by pyserial
URL; runs a reader thread that hands bytes to :meth:`SerialDevice._on_bytes`
(in that thread); reports lost / back through :class:`ReconnectingDevice`
when the port goes away (USB unplug, the other end of a pty closed) and
reopens it with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, ClassVar

import serial

from .base import ReconnectingDevice, run_in_thread
from .errors import DeviceDisconnected, DeviceNotFound, DeviceUrlError
from .url import Choice, DeviceUrl, OptionSpec, UsbId, parse_usb_id, resolve_serial_port

__all__ = ["SerialDevice"]

log = logging.getLogger("devices.serial")


class SerialDevice(ReconnectingDevice):
    """A :class:`ReconnectingDevice` on a serial port with a reader thread."""

    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "baud": (int, None, "serial speed (default 9600); ``baudrate`` is the same option"),
        "baudrate": (int, None, "serial speed, as pyserial spells it; give baud or baudrate, not both"),
        "parity": (Choice("n", "e", "o"), "n", "parity: n, e or o"),
        "usb": (UsbId(), None, "find the port by USB id VID:PID (the path is then a fallback)"),
    }
    #: Reader thread read timeout (seconds): how fast it notices a stop request.
    READ_TIMEOUT: ClassVar[float] = 0.1

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._thread_done = threading.Event()
        self._thread_done.set()
        self._write_lock = asyncio.Lock()
        self.port_name: str = ""
        baud, baudrate = self.options["baud"], self.options["baudrate"]
        if baud is not None and baudrate is not None and baud != baudrate:
            raise DeviceUrlError("give baud or baudrate, not both")
        self.baud: int = baud or baudrate or 9600
        if not 50 <= self.baud <= 4_000_000:
            raise DeviceUrlError(f"option 'baud': {self.baud} is not a serial speed")
        if self.url.path.startswith("usb/"):
            try:
                parse_usb_id(self.url.path[4:].split("/", 1)[0])
            except ValueError as exc:
                raise DeviceUrlError(f"{self.url.scheme}://usb/...: {exc}") from None
        elif not self.url.path and self.options["usb"] is None:
            raise DeviceUrlError(f"{self.url.scheme}:// needs a port: {self.url.scheme}:///dev/ttyX or {self.url.scheme}://usb/VID:PID")

    # -- hooks for subclasses
    def _on_bytes(self, data: bytes, now: float) -> None:
        """Called in the reader thread with the bytes read."""

    def _on_connected(self) -> None:
        """Called in the loop thread after each (re)connect, before "back"."""

    # -- ReconnectingDevice
    async def _connect(self) -> None:
        name = resolve_serial_port(self.url.path, self.options["usb"])
        try:
            port = serial.serial_for_url(
                name,
                baudrate=self.baud,
                parity=self.options["parity"].upper(),
                timeout=self.READ_TIMEOUT,
                write_timeout=1.0,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceNotFound(f"{self.label}: cannot open serial port: {_short(exc)}") from None
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        self.port_name = name
        self._port = port
        self._stop.clear()
        self._on_connected()

    async def _session(self) -> None:
        port = self._port
        if port is None:
            raise DeviceDisconnected("port not open")
        self._thread_done.clear()
        await run_in_thread(lambda: self._reader(port), name=f"serial {self.label}")

    def _reader(self, port: serial.Serial) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = port.read(max(1, port.in_waiting))
                except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                    if self._stop.is_set():
                        return
                    raise DeviceDisconnected(f"read failed: {_short(exc)}") from None
                if data:
                    self._on_bytes(data, time.monotonic())
        finally:
            self._thread_done.set()

    async def _disconnect(self) -> None:
        self._stop.set()
        port, self._port = self._port, None
        if port is None:
            return
        if not self._thread_done.is_set():
            await asyncio.to_thread(self._thread_done.wait, 1.0)
        try:
            port.close()
        except (serial.SerialException, OSError):
            pass

    # -- writing
    async def _write(self, data: bytes) -> None:
        """Write *data*; on failure report the loss and raise :class:`DeviceDisconnected`."""
        self._require_ok()
        async with self._write_lock:
            port = self._port
            if port is None:
                raise DeviceDisconnected(f"{self.label}: port not open")
            try:
                await asyncio.to_thread(_write_all, port, data)
            except (serial.SerialException, OSError) as exc:
                detail = f"write failed: {_short(exc)}"
                self._connection_failed(detail)
                raise DeviceDisconnected(f"{self.label}: {detail}") from None


def _write_all(port: serial.Serial, data: bytes) -> None:
    port.write(data)
    port.flush()


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)[:160]
