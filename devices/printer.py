"""ESC/POS receipt printer (python-escpos): ``escpos+usb``, ``escpos+serial``, ``escpos+net``, ``escpos+file``.

URL grammar::

    escpos+usb://VID:PID[?options]            # e.g. escpos+usb://0416:5011 (usblp /dev/usb/lpN,
                                              #   found by USB id in sysfs; pyusb if installed)
    escpos+serial:///dev/ttyUSB0[?baudrate=19200]
    escpos+serial://usb/VID:PID[?options]     # the serial port of that USB device
    escpos+net://HOST[:PORT][?timeout=5]      # raw TCP, port 9100 by default
    escpos+file:///dev/usb/lp0                # a device node or a plain file (appended)

================  ==============  =========  ======================================
option            type            default    meaning
================  ==============  =========  ======================================
profile           str             TM-T88V    python-escpos printer profile (code
                                             pages, widths)
barcode           code128|qr      code128    how ``barcode=`` is printed
barcode_height    int             64         CODE128 height in dots
feed              int             4          blank lines before the cut
cut_mode          full|partial    partial    paper cut
timeout           float           5          TCP connect / write time-out (net)
baudrate          int             19200      serial speed (serial)
usb               VID:PID         -          serial: find the port by USB id
name, retry_initial, retry_max: as for every driver
================  ==============  =========  ======================================

Support table:

==================================  ============================================
feature                             supported
==================================  ============================================
lines of text (accents: code pages  yes (python-escpos picks the code page)
chosen per character)
CODE128 barcode / QR code           yes / yes
full or partial cut                 yes
USB (usblp), serial, TCP, file      yes; raw USB via pyusb only if installed
unplug / replug                     net: at once (EOF); serial: at once; usb/file:
                                    when the device node goes; every transport:
                                    a failed write reports lost and raises
paper-out / cover-open status       no (not read back)
==================================  ============================================

A receipt is rendered to bytes first (:func:`render_receipt`, a pure function
over python-escpos's ``Dummy``) and then written in one go, so every
transport sends exactly the same bytes.  Invalid arguments (a barcode that
is not printable ASCII, more than 200 lines) raise ``ValueError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import io
import logging
import os
import select
import socket
import threading
from typing import Any, ClassVar

from .base import ReceiptPrinter, ReconnectingDevice, run_in_thread
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceUrlError
from .url import Choice, DeviceUrl, OptionSpec, UsbId, parse_usb_id, resolve_serial_port

__all__ = ["EscposPrinter", "render_receipt", "find_usblp"]

log = logging.getLogger("devices.printer")

MAX_LINES = 200


def render_receipt(
    lines: list[str],
    barcode: str | None = None,
    cut: bool = True,
    *,
    profile: str = "TM-T88V",
    barcode_kind: str = "code128",
    barcode_height: int = 64,
    feed: int = 4,
    cut_mode: str = "partial",
    printer: Any = None,
) -> bytes:
    """The ESC/POS bytes of a receipt (python-escpos ``Dummy``; pass *printer* to reuse one).

    Layout: initialise, the lines (left aligned), the barcode centred, *feed*
    blank lines, the cut.
    """
    from escpos.printer import Dummy

    if len(lines) > MAX_LINES:
        raise ValueError(f"a receipt has at most {MAX_LINES} lines")
    if barcode is not None:
        if not barcode or len(barcode) > 80 or not all(0x20 <= ord(c) < 0x7F for c in barcode):
            raise ValueError("barcode must be 1-80 printable ASCII characters")
    p = printer if printer is not None else Dummy(profile=profile)
    with contextlib.redirect_stdout(io.StringIO()):  # python-escpos prints chatter
        p.hw("INIT")
        p.set(align="left")
        for line in lines:
            text = str(line).replace("\r", " ").replace("\n", " ").replace("\x1b", " ").replace("\x1d", " ")
            p.textln(text)
        if barcode is not None:
            p.set(align="center")
            if barcode_kind == "qr":
                p.qr(barcode, size=6, native=True)
            else:
                p.barcode("{B" + barcode, "CODE128", height=barcode_height, width=2, pos="BELOW", function_type="B")
            p.set(align="left")
        if cut:
            if feed:
                p.ln(feed)
            # GS V 66 0 / GS V 65 0: feed to the cutter, then partial / full cut.
            p._raw(b"\x1dV" + (b"B" if cut_mode == "partial" else b"A") + b"\x00")
    return bytes(p.output)


def find_usblp(vid: int, pid: int, *, sysfs: str = "/sys/class/usbmisc", dev: str = "/dev/usb") -> str:
    """The usblp device node (``/dev/usb/lpN``) of USB printer *vid:pid*, from sysfs."""
    for entry in sorted(glob.glob(os.path.join(sysfs, "lp*"))):
        iface = os.path.realpath(os.path.join(entry, "device"))
        usbdev = os.path.dirname(iface)
        try:
            with open(os.path.join(usbdev, "idVendor")) as fv, open(os.path.join(usbdev, "idProduct")) as fp:
                if int(fv.read().strip(), 16) == vid and int(fp.read().strip(), 16) == pid:
                    return os.path.join(dev, os.path.basename(entry))
        except (OSError, ValueError):
            continue
    raise DeviceNotFound(f"no usblp printer with USB id {vid:04x}:{pid:04x}")


# --- transports (blocking; used from threads) -------------------------------------------------


class _Transport:
    def open(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def wait_lost(self, stop: threading.Event) -> None:
        """Block until the connection is gone (raise) or *stop* is set (return)."""
        stop.wait()

    def close(self) -> None: ...


class _FileTransport(_Transport):
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOCTTY
        if not os.path.exists(self.path) and os.path.isdir(os.path.dirname(self.path) or "."):
            flags |= os.O_CREAT
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise DeviceNotFound(f"cannot open {self.path}: {exc.strerror}") from None

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise DeviceDisconnected("not open")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def wait_lost(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            if not os.path.exists(self.path):
                raise DeviceDisconnected(f"{self.path} is gone")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class _NetTransport(_Transport):
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise DeviceNotFound(f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock

    def write(self, data: bytes) -> None:
        if self._sock is None:
            raise DeviceDisconnected("not connected")
        self._sock.sendall(data)

    def wait_lost(self, stop: threading.Event) -> None:
        sock = self._sock
        while not stop.is_set() and sock is not None:
            try:
                ready, _, _ = select.select([sock], [], [], 0.2)
                if ready:
                    chunk = sock.recv(256)
                    if not chunk:
                        raise DeviceDisconnected("the printer closed the connection")
                    log.debug("printer sent %d status bytes (ignored)", len(chunk))
            except (OSError, ValueError) as exc:
                if stop.is_set():
                    return
                raise DeviceDisconnected(f"connection failed: {exc}") from None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class _SerialTransport(_Transport):
    def __init__(self, path: str, usb: tuple[int, int] | None, baudrate: int) -> None:
        self.path, self.usb, self.baudrate = path, usb, baudrate
        self._port: Any = None

    def open(self) -> None:
        import serial

        name = resolve_serial_port(self.path, self.usb)
        try:
            self._port = serial.serial_for_url(name, baudrate=self.baudrate, timeout=0.2, write_timeout=10)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceNotFound(f"cannot open serial port: {exc}") from None

    def write(self, data: bytes) -> None:
        if self._port is None:
            raise DeviceDisconnected("not open")
        self._port.write(data)
        self._port.flush()

    def wait_lost(self, stop: threading.Event) -> None:
        import serial

        port = self._port
        while not stop.is_set() and port is not None:
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if stop.is_set():
                    return
                raise DeviceDisconnected(f"read failed: {exc}") from None
            if data:
                log.debug("printer sent %d status bytes (ignored)", len(data))

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()


class _PyusbTransport(_Transport):  # pragma: no cover - needs pyusb and a printer
    def __init__(self, vid: int, pid: int) -> None:
        self.vid, self.pid = vid, pid
        self._printer: Any = None

    def open(self) -> None:
        from escpos.printer import Usb

        try:
            self._printer = Usb(self.vid, self.pid)
            self._printer.open()
        except Exception as exc:  # noqa: BLE001 - pyusb raises many kinds
            raise DeviceNotFound(f"USB printer {self.vid:04x}:{self.pid:04x}: {exc}") from None

    def write(self, data: bytes) -> None:
        self._printer._raw(data)

    def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            with contextlib.suppress(Exception):
                printer.close()


# --- the driver ---------------------------------------------------------------------------------


class EscposPrinter(ReconnectingDevice, ReceiptPrinter):
    """An ESC/POS receipt printer over USB, serial, TCP or a file."""

    SCHEMES = ("escpos+usb", "escpos+serial", "escpos+net", "escpos+file")
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "profile": (str, "TM-T88V", "python-escpos printer profile"),
        "barcode": (Choice("code128", "qr"), "code128", "barcode symbology"),
        "barcode_height": (int, 64, "CODE128 height in dots"),
        "feed": (int, 4, "blank lines before the cut"),
        "cut_mode": (Choice("full", "partial"), "partial", "paper cut"),
        "timeout": (float, 5.0, "TCP connect / write time-out (escpos+net)"),
        "baudrate": (int, 19200, "serial speed (escpos+serial)"),
        "usb": (UsbId(), None, "escpos+serial: find the port by USB id"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        transport = self.url.scheme.partition("+")[2]
        if transport not in ("usb", "serial", "net", "file"):
            raise DeviceUrlError(f"unknown printer transport {self.url.scheme!r}", valid=self.SCHEMES)
        self.transport_name = transport
        if not 0 <= self.options["feed"] <= 20 or not 16 <= self.options["barcode_height"] <= 255:
            raise DeviceUrlError("feed must be 0-20 and barcode_height 16-255")
        try:
            from escpos.capabilities import get_profile

            get_profile(self.options["profile"])
        except Exception:  # noqa: BLE001 - unknown profile name
            raise DeviceUrlError(f"unknown python-escpos profile {self.options['profile']!r}") from None
        path = self.url.path
        if transport == "usb":
            try:
                self._usb_id = parse_usb_id(path.strip("/"))
            except ValueError as exc:
                raise DeviceUrlError(f"escpos+usb://VID:PID: {exc}") from None
        elif transport == "net":
            host, _, port = path.strip("/").rpartition(":") if ":" in path else (path.strip("/"), "", "9100")
            try:
                self._net = (host.strip("[]"), int(port))
            except ValueError:
                raise DeviceUrlError("escpos+net://HOST[:PORT]: bad port") from None
            if not self._net[0] or not 0 < self._net[1] < 65536:
                raise DeviceUrlError("escpos+net://HOST[:PORT]: host and port 1-65535 needed")
        elif not path:
            raise DeviceUrlError(f"{self.url.scheme}:// needs a path")
        self._transport: _Transport | None = None
        self._stop = threading.Event()
        self._write_lock = asyncio.Lock()

    def _make_transport(self) -> _Transport:
        opts = self.options
        if self.transport_name == "file":
            return _FileTransport(self.url.path)
        if self.transport_name == "net":
            return _NetTransport(self._net[0], self._net[1], opts["timeout"])
        if self.transport_name == "serial":
            return _SerialTransport(self.url.path, opts["usb"], opts["baudrate"])
        vid, pid = self._usb_id
        try:
            return _FileTransport(find_usblp(vid, pid))
        except DeviceNotFound:
            try:
                import usb  # noqa: F401
            except ImportError:
                raise DeviceNotFound(
                    f"no usblp printer {vid:04x}:{pid:04x} (and pyusb is not installed for raw USB)"
                ) from None
            return _PyusbTransport(vid, pid)

    async def _connect(self) -> None:
        transport = self._make_transport()
        await asyncio.to_thread(transport.open)
        self._stop.clear()
        self._transport = transport

    async def _session(self) -> None:
        transport = self._transport
        if transport is None:
            raise DeviceDisconnected("not connected")
        await run_in_thread(lambda: transport.wait_lost(self._stop), name=f"printer {self.label}")

    async def _disconnect(self) -> None:
        self._stop.set()
        transport, self._transport = self._transport, None
        if transport is not None:
            await asyncio.to_thread(transport.close)

    def render(self, lines: list[str], barcode: str | None = None, cut: bool = True) -> bytes:
        opts = self.options
        return render_receipt(
            lines,
            barcode,
            cut,
            profile=opts["profile"],
            barcode_kind=opts["barcode"],
            barcode_height=opts["barcode_height"],
            feed=opts["feed"],
            cut_mode=opts["cut_mode"],
        )

    async def print_receipt(self, lines: list[str], barcode: str | None = None, cut: bool = True) -> None:
        data = self.render(list(lines), barcode, cut)
        self._require_ok()
        async with self._write_lock:
            transport = self._transport
            if transport is None:
                raise DeviceDisconnected(f"{self.label}: not connected")
            try:
                await asyncio.wait_for(asyncio.to_thread(transport.write, data), self.options["timeout"] + 5)
            except (OSError, DeviceError, TimeoutError) as exc:
                detail = f"write failed: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}"
                self._connection_failed(detail)
                raise DeviceDisconnected(f"{self.label}: {detail}") from None
        log.info("%s: printed a receipt (%d lines%s)", self.label, len(lines), ", barcode" if barcode else "")
