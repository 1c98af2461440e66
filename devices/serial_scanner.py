"""Serial barcode scanner (pyserial): ``serial://``.

URL grammar::

    serial:///dev/ttyACM0[?options]
    serial://usb/VID:PID[/SERIALNUMBER][?options]     # find the port by USB id
    serial:///dev/ttyUSB0?usb=VID:PID                 # USB id first, path as fallback

Options:

=============  ========  ==========  ================================================
option         type      default     meaning
=============  ========  ==========  ================================================
baud           int       9600        serial speed (``baudrate`` also accepted)
parity         n|e|o     n           parity
usb            VID:PID   -           find the port by USB id
prefix         bytes     (none)      bytes the scanner sends before each code (``%02``)
suffix         bytes     (CR or LF)  bytes ending a code; empty: CR, LF or CRLF
max_length     int       64          longer lines are noise
frame_timeout  float     0.5         a partial code older than this is dropped
name           str       -           label for logs and events
retry_initial  float     0.2         first reconnect delay (s)
retry_max      float     10          longest reconnect delay (s)
=============  ========  ==========  ================================================

Support table:

========================================  =========
feature                                   supported
========================================  =========
Scanned events                            yes
prefix / suffix framing                   yes
noise, half lines, binary junk dropped    yes (logged by length)
port found by USB vendor:product id       yes
unplug / replug (lost, backoff, back)     yes
configuring the scanner (serial cmds)     no
========================================  =========

The framing is a pure function, :func:`split_scans` (bytes in, scans out), and
:class:`ScanFramer` adds the time-out for half lines.  A code must be
printable ASCII (GS, 0x1D, is allowed for GS1); anything else drops the line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import BarcodeScanner, Scanned
from .serialport import SerialDevice
from .url import DeviceUrl, OptionSpec

__all__ = ["SerialScanner", "ScanFramer", "split_scans", "FrameResult"]

log = logging.getLogger("devices.serial_scanner")

_ALLOWED = frozenset(range(0x20, 0x7F)) | {0x1D}


@dataclass
class FrameResult:
    """What :func:`split_scans` found: the codes, the unfinished tail, the dropped pieces (reasons)."""

    scans: list[str] = field(default_factory=list)
    rest: bytes = b""
    dropped: list[str] = field(default_factory=list)


def _validate(line: bytes, prefix: bytes, max_length: int, dropped: list[str]) -> str | None:
    if prefix:
        pos = line.rfind(prefix)
        if pos < 0:
            if line.strip():
                dropped.append(f"{len(line)} bytes without prefix")
            return None
        if pos > 0:
            dropped.append(f"{pos} noise bytes before prefix")
        line = line[pos + len(prefix) :]
    if not line:
        return None
    if len(line) > max_length:
        dropped.append(f"{len(line)}-byte line longer than {max_length}")
        return None
    if not all(b in _ALLOWED for b in line):
        dropped.append(f"{len(line)}-byte line with non-printable bytes")
        return None
    text = line.decode("ascii")
    if not text.strip():
        return None
    return text


def split_scans(data: bytes, *, prefix: bytes = b"", suffix: bytes = b"", max_length: int = 64) -> FrameResult:
    """Split *data* into scans.  Pure: no state, no time.

    With an empty *suffix* a code ends at CR, LF or CRLF (empty lines are
    ignored).  With a *prefix*, a line must contain it and the code starts
    after its last occurrence (so junk before the prefix is dropped).
    ``rest`` is the unfinished tail (to prepend to the next chunk); a tail
    longer than *max_length* plus framing is dropped at once.
    """
    result = FrameResult()
    if suffix:
        pieces = data.split(suffix)
    else:
        pieces = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    *lines, tail = pieces
    for line in lines:
        code = _validate(line, prefix, max_length, result.dropped)
        if code is not None:
            result.scans.append(code)
    limit = max_length + len(prefix) + max(len(suffix), 2)
    if len(tail) > limit:
        result.dropped.append(f"{len(tail)}-byte unterminated run")
        tail = b""
    result.rest = tail
    return result


class ScanFramer:
    """Stateful framing over :func:`split_scans`: keeps the tail between chunks
    and drops it if the rest of the line does not come within *frame_timeout*."""

    def __init__(self, *, prefix: bytes = b"", suffix: bytes = b"", max_length: int = 64, frame_timeout: float = 0.5) -> None:
        self.prefix, self.suffix, self.max_length, self.frame_timeout = prefix, suffix, max_length, frame_timeout
        self._buf = b""
        self._last = 0.0

    def reset(self) -> None:
        self._buf = b""

    def feed(self, data: bytes, now: float) -> FrameResult:
        stale: list[str] = []
        if self._buf and now - self._last > self.frame_timeout:
            stale.append(f"{len(self._buf)}-byte half line timed out")
            self._buf = b""
        self._last = now
        result = split_scans(self._buf + data, prefix=self.prefix, suffix=self.suffix, max_length=self.max_length)
        self._buf = result.rest
        result.dropped[:0] = stale
        return result

    def flush(self, now: float) -> FrameResult:
        """Drop a stale half line (call when no bytes came for a while)."""
        result = FrameResult()
        if self._buf and now - self._last > self.frame_timeout:
            result.dropped.append(f"{len(self._buf)}-byte half line timed out")
            self._buf = b""
        return result


class SerialScanner(SerialDevice, BarcodeScanner):
    """A barcode scanner on a serial port (or USB CDC-ACM / USB-serial)."""

    SCHEMES = ("serial",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "prefix": (bytes, b"", "bytes before each code"),
        "suffix": (bytes, b"", "bytes after each code (empty: CR, LF or CRLF)"),
        "max_length": (int, 64, "longest code; longer lines are noise"),
        "frame_timeout": (float, 0.5, "seconds after which a half line is dropped"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if self.options["max_length"] < 1 or self.options["frame_timeout"] <= 0:
            from .errors import DeviceUrlError

            raise DeviceUrlError("max_length must be >= 1 and frame_timeout > 0")
        self.framer = ScanFramer(
            prefix=self.options["prefix"],
            suffix=self.options["suffix"],
            max_length=self.options["max_length"],
            frame_timeout=self.options["frame_timeout"],
        )

    def _on_connected(self) -> None:
        self.framer.reset()

    def _on_bytes(self, data: bytes, now: float) -> None:
        result = self.framer.feed(data, now)
        for reason in result.dropped:
            log.warning("%s: ignored scanner input: %s", self.label, reason)
        for code in result.scans:
            self._emit_threadsafe(Scanned(code))
