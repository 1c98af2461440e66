"""Example bibkiosk driver: a network card reader that sends one line per card over TCP.

Many Ethernet RFID readers work this way: they listen on a TCP port and
write ``UID:04A1B2C3D4\\r\\n`` (or just the number) each time a card is
presented.  This package is the complete, installable example from
bibkiosk's ``docs/drivers.md``.

URL grammar::

    example-tcp://HOST:PORT[?kind=uid|barcode&prefix=UID:&repeat=1.0]

=========  ===========  =======  ==================================================
option     type         default  meaning
=========  ===========  =======  ==================================================
kind       uid|barcode  uid      what the reader sends: a card UID (hex) or digits
prefix     str          UID:     text before the identifier on each line ("" none)
repeat     float        1.0      the same card again within this many seconds is
                                 ignored (readers repeat while a card lies there)
timeout    float        3.0      TCP connect time-out (seconds)
name, retry_initial, retry_max: bibkiosk's common options
=========  ===========  =======  ==================================================

Support table:

=====================================  =========
feature                                supported
=====================================  =========
CardPresented (UID or barcode)         yes
reader unplugged / back (TCP dropped)  yes
noise lines ignored with a log line    yes
PIN pad, LEDs, buzzer                  no
=====================================  =========
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, ClassVar

from devices.base import CardPresented, IdentifierKind, PatronReader, ReconnectingDevice
from devices.errors import DeviceDisconnected, DeviceNotFound, DeviceUrlError
from devices.url import Choice, DeviceUrl, OptionSpec

__all__ = ["TcpCardReader"]
__version__ = "0.1.0"

log = logging.getLogger("bibkiosk_example_driver")

_PATTERNS = {"uid": re.compile(r"^[0-9A-F]{8,20}$"), "barcode": re.compile(r"^[0-9A-Z]{4,32}$")}


class TcpCardReader(ReconnectingDevice, PatronReader):
    """A patron card reader on TCP.  asyncio-native: no thread needed."""

    SCHEMES = ("example-tcp",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "kind": (Choice("uid", "barcode"), "uid", "what the reader sends"),
        "prefix": (str, "UID:", "text before the identifier on each line"),
        "repeat": (float, 1.0, "ignore the same card again within this many seconds"),
        "timeout": (float, 3.0, "TCP connect time-out in seconds"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)  # parses and checks the options strictly
        host, sep, port = self.url.path.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DeviceUrlError("example-tcp:// needs HOST:PORT, e.g. example-tcp://192.0.2.7:4001")
        self.address = (host, int(port))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last: tuple[str, float] = ("", 0.0)

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(*self.address), self.options["timeout"]
            )
        except (OSError, TimeoutError) as exc:
            raise DeviceNotFound(f"{self.label}: no reader at {self.address[0]}:{self.address[1]} ({exc})") from None

    async def _session(self) -> None:
        reader = self._reader
        if reader is None:
            raise DeviceDisconnected("not connected")
        while True:
            try:
                line = await reader.readline()
            except (OSError, ValueError) as exc:  # ValueError: line longer than the buffer
                raise DeviceDisconnected(f"read failed: {exc}") from None
            if not line:
                raise DeviceDisconnected("the reader closed the connection")
            self._handle_line(line)

    def _handle_line(self, line: bytes) -> None:
        text = line.decode("ascii", "replace").strip()
        prefix = self.options["prefix"]
        if prefix:
            if not text.startswith(prefix):
                log.warning("%s: ignored a %d-byte line without prefix", self.label, len(line))
                return
            text = text[len(prefix):].strip()
        text = text.upper()
        kind = self.options["kind"]
        if not _PATTERNS[kind].match(text):
            log.warning("%s: ignored a %d-byte line that is not a %s", self.label, len(line), kind)
            return
        now = time.monotonic()
        if text == self._last[0] and now - self._last[1] < self.options["repeat"]:
            self._last = (text, now)
            return
        self._last = (text, now)
        self._emit(CardPresented(text, IdentifierKind.UID if kind == "uid" else IdentifierKind.BARCODE, self.label))

    async def _disconnect(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, TimeoutError):
                pass
