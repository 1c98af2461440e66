"""OSDP door reader / controller (PyPI ``libosdp`` as control panel): ``osdp://``.

One OSDP peripheral device (PD) on a serial line (usually RS-485) is a patron
reader, a PIN pad, an indicator (LED and buzzer), a lock (an output drives
the strike) and a door sensor (inputs) at once.

URL grammar::

    osdp:///dev/ttyUSB0?address=1&scbk_file=/etc/bibkiosk/osdp.key
    osdp://usb/VID:PID[/SERIAL]?address=1&scbk=HEX32     # find the adapter by USB id
    osdp:///dev/ttyUSB0?address=1&scbk_file=...&install_mode=1

Options:

================  ==================  ===========  ============================================
option            type                default      meaning
================  ==================  ===========  ============================================
address           int                 0            the PD's OSDP address (0-126)
baudrate          int                 9600         line speed
usb               VID:PID             -            find the serial adapter by USB id
scbk              hex (32 digits)     -            secure channel base key (secret: redacted
                                                   in logs); this or ``scbk_file`` is required
scbk_file         path                -            file holding the key as hex
install_mode      bool                false        also accept a PD in install mode (default
                                                   key SCBK-D) and give it our key (KEYSET);
                                                   logged loudly, for provisioning only
card_format       hex | decimal       hex          how a Wiegand card becomes an identifier
                  | h10301                         (h10301: 26-bit, ``facility-card``)
reader_no         int                 0            reader number for LED and buzzer commands
led_no            int                 0            LED number on that reader
strike_output     int                 0            output that drives the door strike
door_input        int                 0            input of the door contact (-1: none)
exit_input        int                 1            input of the exit button (-1: none)
door_open_when    active | inactive   active       input state meaning "door open"
display_rows      int                 0            rows of the reader's text display (0: none)
display_cols      int                 16           characters per display row
display_seconds   int                 10           how long a text stays (temporary text)
connect_timeout   float               8            seconds to wait for the secure channel
offline_after     float               1.5          seconds of silence before the PD counts as
                                                   lost (libosdp itself waits 8 s)
name              str                 -            label for logs and events
retry_initial     float               0.2          first reconnect delay (s)
retry_max         float               10           longest reconnect delay (s)
================  ==================  ===========  ============================================

Support table:

=====================================================  ======================================
feature                                                supported
=====================================================  ======================================
secure channel (AES-128, SCBK from the config)         required; plain OSDP is refused
install mode (SCBK-D, then KEYSET with our key)        only with ``install_mode=1``, logged
card reads (Wiegand / raw bits)                        :class:`CardPresented` (WIEGAND)
keypad                                                 :class:`KeyPressed`: ``0-9``, ``#``
                                                       (enter, 0x0D), ``*`` (clear, 0x7F)
LED and buzzer patterns                                :meth:`OsdpDevice.show`
door strike (timed output; > 25.5 s timed by us)       :meth:`release` / :meth:`lock`
text display (osdp_TEXT, temporary, ASCII)             :meth:`show_text`: the first sentence,
                                                       wrapped to ``display_rows`` x ``cols``
door contact, exit button (input status reports)       DoorOpened / DoorClosed / ExitPressed
PD offline, serial adapter unplugged                   lost once, backoff, back
polling the PD's input status (osdp_ISTAT)             no (PDs report changes themselves)
ASCII card format                                      no (libosdp drops it)
=====================================================  ======================================

libosdp runs in its own refresh thread (every 20 ms, under a lock); its event
callback hands events to the loop with ``call_soon_threadsafe``.  Card
numbers, keys and PIN digits never reach a log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from .base import (
    KEY_CLEAR,
    KEY_ENTER,
    CardPresented,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    ExitPressed,
    IdentifierKind,
    Indicator,
    KeyPressed,
    Lock,
    LockState,
    PatronReader,
    Pattern,
    PinPad,
    ReconnectingDevice,
    run_in_thread,
)
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceProtocolError, DeviceUrlError
from .url import Choice, DeviceUrl, OptionSpec, UsbId, resolve_serial_port

__all__ = ["OsdpDevice", "wiegand_identifier", "keypad_keys", "display_rows", "PATTERNS"]

log = logging.getLogger("devices.osdp")

#: Keypad bytes (OSDP: ASCII digits, 0x0D enter, 0x7F clear; some PDs send '#' and '*').
_KEYS = {0x0D: KEY_ENTER, 0x23: KEY_ENTER, 0x7F: KEY_CLEAR, 0x2A: KEY_CLEAR}
_KEYS.update({0x30 + n: str(n) for n in range(10)})

# LED colours (OSDP): 0 black, 1 red, 2 green, 3 amber, 4 blue.
_BLACK, _RED, _GREEN, _AMBER, _BLUE = 0, 1, 2, 3, 4

#: Pattern -> (LED command fields or None, buzzer command fields or None); times in 100 ms.
PATTERNS: dict[Pattern, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {
    Pattern.IDLE: (
        {"temporary": False, "control_code": 1, "on_color": _BLUE, "off_color": _BLACK, "on_count": 1, "off_count": 0},
        {"control_code": 1, "on_count": 0, "off_count": 0, "rep_count": 0},
    ),
    Pattern.GRANTED: (
        {"temporary": True, "control_code": 2, "on_color": _GREEN, "off_color": _GREEN, "on_count": 10,
         "off_count": 0, "timer_count": 30},
        {"control_code": 2, "on_count": 2, "off_count": 0, "rep_count": 1},
    ),
    Pattern.REFUSED: (
        {"temporary": True, "control_code": 2, "on_color": _RED, "off_color": _BLACK, "on_count": 3,
         "off_count": 3, "timer_count": 30},
        {"control_code": 2, "on_count": 2, "off_count": 2, "rep_count": 3},
    ),
    Pattern.ERROR: (
        {"temporary": True, "control_code": 2, "on_color": _RED, "off_color": _AMBER, "on_count": 5,
         "off_count": 5, "timer_count": 50},
        {"control_code": 2, "on_count": 10, "off_count": 0, "rep_count": 1},
    ),
    Pattern.BUSY: (
        {"temporary": True, "control_code": 2, "on_color": _AMBER, "off_color": _BLACK, "on_count": 2,
         "off_count": 2, "timer_count": 50},
        None,
    ),
}


def wiegand_identifier(data: bytes, bits: int, card_format: str = "hex") -> str:
    """A Wiegand credential (*bits* bits, left-aligned in *data*) as an identifier string.

    ``hex``: the bits as an integer in upper-case hex; ``decimal``: the same in
    decimal; ``h10301``: a 26-bit HID card as ``facility-card`` (parity
    checked).  Raises :class:`DeviceProtocolError` for impossible input.
    """
    if bits <= 0 or bits > len(data) * 8:
        raise DeviceProtocolError(f"card read of {bits} bits in {len(data)} bytes")
    value = int.from_bytes(data, "big") >> (len(data) * 8 - bits)
    if card_format == "decimal":
        return str(value)
    if card_format == "h10301":
        if bits != 26:
            raise DeviceProtocolError(f"h10301 needs 26 bits, got {bits}")
        even = value >> 25
        odd = value & 1
        body = (value >> 1) & 0xFFFFFF
        if (bin(body >> 12).count("1") + even) % 2 or (bin(body & 0xFFF).count("1") + odd) % 2 == 0:
            raise DeviceProtocolError("h10301 parity error")
        return f"{body >> 16}-{body & 0xFFFF}"
    width = (bits + 3) // 4
    return f"{value:0{width}X}"


def keypad_keys(data: bytes) -> tuple[list[str], int]:
    """Keys from an OSDP keypad report, and how many bytes were not keys."""
    keys = []
    unknown = 0
    for byte in data:
        key = _KEYS.get(byte)
        if key is None:
            unknown += 1
        else:
            keys.append(key)
    return keys, unknown


def _hex_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("a key is 32 hex digits") from None
    if len(key) != 16:
        raise ValueError("a key is 32 hex digits (16 bytes)")
    return key


class _Secret:
    """Option converter for the key: never shows the value in errors or reprs."""

    def __call__(self, text: str) -> bytes:
        return _hex_key(text)

    def __repr__(self) -> str:
        return "HEX32"


def _address(text: str) -> int:
    value = int(text.strip(), 0)
    if not 0 <= value <= 126:
        raise ValueError("an OSDP address is 0..126")
    return value


def _serial_channel(port: Any) -> Any:
    """An ``osdp.Channel`` on a pyserial port (non-blocking reads) that remembers I/O failure."""
    import osdp

    class SerialChannel(osdp.Channel):
        def __init__(self) -> None:
            super().__init__()
            self.port = port
            self.failed = ""
            self.last_rx = time.monotonic()
            self.rx_seen = False

        def read(self, max_bytes: int) -> bytes:
            if self.failed:
                return b""
            try:
                data = self.port.read(max_bytes) or b""
            except Exception as exc:  # noqa: BLE001 - reported through .failed
                self.failed = f"read failed: {type(exc).__name__}"
                return b""
            if data:
                self.last_rx = time.monotonic()
                self.rx_seen = True
            return data

        def write(self, buf: bytes) -> int:
            if self.failed:
                return 0
            try:
                return self.port.write(bytes(buf)) or 0
            except Exception as exc:  # noqa: BLE001
                self.failed = f"write failed: {type(exc).__name__}"
                return 0

        def flush(self) -> None:
            try:
                self.port.flush()
            except Exception:  # noqa: BLE001
                pass

    return SerialChannel()


class OsdpDevice(ReconnectingDevice, PatronReader, PinPad, Indicator, Lock, DoorSensor):
    """One OSDP PD: reader, keypad, LED/buzzer, strike output, door inputs (secure channel)."""

    SCHEMES: ClassVar[tuple[str, ...]] = ("osdp",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "address": (_address, 0, "the PD's OSDP address (0..126)"),
        "baudrate": (int, 9600, "line speed"),
        "usb": (UsbId(), None, "find the serial adapter by USB id VID:PID"),
        "scbk": (_Secret(), None, "secure channel base key, 32 hex digits (or scbk_file)"),
        "scbk_file": (str, "", "file holding the secure channel base key as hex"),
        "install_mode": (bool, False, "accept a PD in install mode (SCBK-D) and set our key: provisioning only"),
        "card_format": (Choice("hex", "decimal", "h10301"), "hex", "Wiegand card to identifier"),
        "reader_no": (int, 0, "reader number for LED and buzzer"),
        "led_no": (int, 0, "LED number"),
        "strike_output": (int, 0, "output driving the door strike"),
        "door_input": (int, 0, "input of the door contact (-1: none)"),
        "exit_input": (int, 1, "input of the exit button (-1: none)"),
        "door_open_when": (Choice("active", "inactive"), "active", "input state meaning door open"),
        "connect_timeout": (float, 8.0, "seconds to wait for the secure channel"),
        "offline_after": (float, 1.5, "seconds of silence on the line before the PD counts as lost"),
        "display_rows": (int, 0, "rows of the reader's text display (0: no display)"),
        "display_cols": (int, 16, "characters per display row"),
        "display_seconds": (int, 10, "seconds a text stays on the display"),
    }
    #: How often the session thread checks the PD (seconds).
    CHECK_INTERVAL: ClassVar[float] = 0.1

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._key = self._load_key()
        self._cp: Any = None
        self._port: Any = None
        self._channel: Any = None
        self._stop = threading.Event()
        self._thread_done = threading.Event()
        self._thread_done.set()
        self._door_open: bool | None = None
        self._inputs: bytes = b""
        self._lock_state = LockState.UNKNOWN
        self._relock: asyncio.TimerHandle | None = None
        self._install_warned = False
        self._offline_since: float | None = None
        self._pd_offline = threading.Event()  # libosdp said the PD went offline
        #: Commands accepted by libosdp since open (for tests and the conformance kit).
        self.commands_sent = 0

    # -- configuration --
    def _load_key(self) -> bytes:
        key = self.options["scbk"]
        path = self.options["scbk_file"]
        if key is not None and path:
            raise DeviceUrlError("give the key once: scbk or scbk_file, not both")
        if path:
            try:
                if Path(path).stat().st_mode & 0o077:
                    log.warning("%s: the OSDP key file can be read by other users: chmod 600 it", self.label)
                key = _hex_key(Path(path).read_text())
            except OSError as exc:
                raise DeviceUrlError(f"scbk_file: cannot read ({exc.strerror or exc})") from None
            except ValueError as exc:
                raise DeviceUrlError(f"scbk_file: {exc}") from None
        if key is None:
            raise DeviceUrlError(
                "OSDP needs the secure channel key from the config (scbk= or scbk_file=); "
                "plain OSDP is refused, and install mode also needs the key it will set",
                valid=["scbk", "scbk_file"],
            )
        return key

    @property
    def install_mode(self) -> bool:
        return bool(self.options["install_mode"])

    # -- ReconnectingDevice --
    async def _connect(self) -> None:
        import serial

        try:
            import osdp
        except ImportError:
            raise DeviceNotFound("libosdp is not installed (pip install 'bibkiosk[osdp]')") from None
        if self.install_mode:
            if not self._install_warned:
                log.critical(
                    "%s: OSDP INSTALL MODE is ON: a PD without a key is accepted with the well-known default "
                    "key SCBK-D and is then given the configured key. Use this only while provisioning "
                    "readers on a wire you control, then remove install_mode from the configuration.",
                    self.label,
                )
                self._install_warned = True
            else:
                log.warning("%s: OSDP install mode still on (reconnecting)", self.label)
        name = resolve_serial_port(self.url.path, self.options["usb"])
        try:
            port = serial.serial_for_url(name, baudrate=self.options["baudrate"], timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceNotFound(f"{self.label}: cannot open serial port: {getattr(exc, 'strerror', None) or exc}") from None
        try:
            port.reset_input_buffer()  # stale bytes from before an unplug are not an answer
        except (serial.SerialException, OSError):
            pass
        self._port = port
        self._channel = _serial_channel(port)
        flags = [osdp.LibFlag.EnableNotification]
        flags.append(osdp.LibFlag.InstallMode if self.install_mode else osdp.LibFlag.EnforceSecure)
        info = osdp.PDInfo(self.options["address"], self._channel, scbk=self._key, flags=flags, name=f"pd{self.options['address']}")
        cp = osdp.ControlPanel([info], log_level=osdp.LogLevel.Error, event_handler=self._on_osdp_event)
        self._cp = cp
        self._stop.clear()
        self._pd_offline.clear()
        cp.start()
        started = time.monotonic()
        deadline = started + self.options["connect_timeout"]
        address = self.options["address"]
        channel = self._channel
        while time.monotonic() < deadline:
            if channel.failed:
                raise DeviceNotFound(f"{self.label}: serial port {channel.failed}")
            if await asyncio.to_thread(cp.is_sc_active, address):
                break
            if self._pd_offline.is_set():
                break  # libosdp gave up on this PD (and would wait minutes): let our backoff retry
            if not channel.rx_seen and time.monotonic() - started > self.options["offline_after"]:
                break  # nobody answers at all
            await asyncio.sleep(0.05)
        if not await asyncio.to_thread(cp.is_sc_active, address):
            answered = await asyncio.to_thread(self._pd_answered, cp)
            hint = "" if self.install_mode else " (or the PD is in install mode: see install_mode)"
            raise DeviceNotFound(
                f"{self.label}: no secure channel with PD {address}: "
                + ("it answers but the key is wrong" + hint if answered else "no answer (wiring, address, baud rate)")
            )
        self._offline_since = None
        log.info("%s: PD %d online, secure channel active", self.label, address)

    @staticmethod
    def _pd_answered(cp: Any) -> bool:
        """True when the PD told its identity (osdp_PDID): it is there, only the channel failed."""
        try:
            with cp.lock:
                ident = cp.ctx.get_pd_id(0)
        except Exception:  # noqa: BLE001 - only used for the error message
            return False
        return bool(ident) and any(ident.get(k) for k in ("vendor_code", "model", "serial_number"))

    async def _session(self) -> None:
        self._thread_done.clear()
        await run_in_thread(self._supervise_pd, name=f"osdp {self.label}")

    def _supervise_pd(self) -> None:
        """Watch the PD (session thread): return raising when it is gone."""
        address = self.options["address"]
        try:
            while not self._stop.wait(self.CHECK_INTERVAL):
                channel, cp = self._channel, self._cp
                if channel is None or cp is None:
                    return
                if channel.failed:
                    raise DeviceDisconnected(f"serial port {channel.failed}")
                if self._pd_offline.is_set():
                    raise DeviceDisconnected(f"PD {address} offline")
                # libosdp polls the PD about ten times a second but only declares it
                # offline after 8 s (the OSDP spec); silence on the line says it sooner.
                silent = time.monotonic() - channel.last_rx
                if silent > self.options["offline_after"]:
                    raise DeviceDisconnected(f"PD {address} silent for {silent:.1f} s")
                if not cp.is_sc_active(address):
                    now = time.monotonic()
                    if self._offline_since is None:
                        self._offline_since = now
                    elif now - self._offline_since > self.options["offline_after"]:
                        raise DeviceDisconnected(f"PD {address}: secure channel lost")
                else:
                    self._offline_since = None
        finally:
            self._thread_done.set()

    async def _disconnect(self) -> None:
        self._stop.set()
        if not self._thread_done.is_set():
            await asyncio.to_thread(self._thread_done.wait, 2.0)
        cp, self._cp = self._cp, None
        if cp is not None:
            try:
                await asyncio.to_thread(cp.stop)
            except Exception as exc:  # noqa: BLE001
                log.debug("%s: stopping libosdp: %s", self.label, exc)
        port, self._port = self._port, None
        self._channel = None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001
                pass

    async def close(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        await super().close()

    # -- events from libosdp (refresh thread) --
    def _on_osdp_event(self, pd: int, event: dict[str, Any]) -> int:
        try:
            self._handle_event(event)
        except DeviceError as exc:
            log.warning("%s: bad event from the PD ignored: %s", self.label, exc)
        except Exception as exc:  # noqa: BLE001 - never let an exception into libosdp's thread
            log.warning("%s: event handling failed: %s", self.label, type(exc).__name__)
        return 0

    def _handle_event(self, event: dict[str, Any]) -> None:
        import osdp

        kind = event.get("event")
        if kind == osdp.Event.CardRead:
            data = bytes(event.get("data", b""))
            bits = int(event.get("length", len(data) * 8))
            identifier = wiegand_identifier(data, bits, self.options["card_format"])
            log.info("%s: card read (%d bits)", self.label, bits)
            self._emit_threadsafe(CardPresented(identifier, IdentifierKind.WIEGAND, self.label))
        elif kind == osdp.Event.KeyPress:
            keys, unknown = keypad_keys(bytes(event.get("data", b"")))
            if unknown:
                log.warning("%s: %d unknown keypad byte(s) ignored", self.label, unknown)
            for key in keys:
                self._emit_threadsafe(KeyPressed(key))
        elif kind == osdp.Event.Status:
            if event.get("type") == osdp.StatusReportType.Input:
                self._inputs_changed(bytes(event.get("report", b"")))
        elif kind == osdp.Event.Notification:
            if event.get("type") == osdp.EventNotification.PeripheralDeviceStatus and not event.get("arg0"):
                self._pd_offline.set()
            log.debug("%s: libosdp notification type %s arg %s", self.label, event.get("type"), event.get("arg0"))
        else:
            log.debug("%s: OSDP event %s ignored", self.label, kind)

    def _inputs_changed(self, report: bytes) -> None:
        before, self._inputs = self._inputs, report
        door = self.options["door_input"]
        if 0 <= door < len(report):
            active = bool(report[door])
            is_open = active if self.options["door_open_when"] == "active" else not active
            if is_open != self._door_open:
                self._door_open = is_open
                self._emit_threadsafe(DoorOpened() if is_open else DoorClosed())
        exit_no = self.options["exit_input"]
        if 0 <= exit_no < len(report) and report[exit_no]:
            was = exit_no < len(before) and before[exit_no]
            if not was:
                self._emit_threadsafe(ExitPressed())

    # -- commands --
    async def _command(self, command: dict[str, Any]) -> None:
        self._require_ok()
        cp = self._cp
        if cp is None:
            raise DeviceDisconnected(f"{self.label}: not connected")
        ok = await asyncio.to_thread(cp.submit_command, self.options["address"], command)
        if not ok:
            raise DeviceError(f"{self.label}: libosdp refused the command (queue full or PD offline)")
        self.commands_sent += 1

    async def show(self, pattern: Pattern) -> None:
        import osdp

        pattern = Pattern(pattern)
        led, buzzer = PATTERNS[pattern]
        if led is not None:
            cmd = {"command": osdp.Command.LED, "reader": self.options["reader_no"], "led_number": self.options["led_no"]}
            cmd.update(led)
            cmd.setdefault("timer_count", 0)
            await self._command(cmd)
        if buzzer is not None:
            cmd = {"command": osdp.Command.Buzzer, "reader": self.options["reader_no"]}
            cmd.update(buzzer)
            await self._command(cmd)

    async def show_text(self, text: str) -> None:
        """Show *text* on the reader's display (osdp_TEXT, temporary).

        Reader displays are small: the first sentence of *text* is shown,
        transliterated to ASCII and wrapped to ``display_rows`` rows of
        ``display_cols`` characters (cut with "..." when longer).  Without a
        display (``display_rows=0``) this does nothing."""
        import osdp

        rows = display_rows(text, self.options["display_rows"], self.options["display_cols"])
        if rows and not await self._has_display():
            # A PD NAKs an unsupported command and libosdp then takes it
            # offline for minutes: never send text to a reader without one.
            raise DeviceProtocolError(f"{self.label}: the reader reports no text display (display_rows is set)")
        for number, row in enumerate(rows, start=1):
            await self._command({
                "command": osdp.Command.Text,
                "reader": self.options["reader_no"],
                "control_code": 3,  # temporary text, no wrap
                "temp_time": self.options["display_seconds"],
                "offset_row": number,
                "offset_col": 1,
                "data": row,
            })

    async def _has_display(self) -> bool:
        import osdp

        cp = self._cp
        if cp is None:
            raise DeviceDisconnected(f"{self.label}: not connected")
        try:
            compliance, _rows = await asyncio.to_thread(cp.check_capability, self.options["address"],
                                                        osdp.Capability.TextOutput)
        except Exception:  # noqa: BLE001 - an older libosdp: assume the configuration is right
            return True
        return compliance > 0

    async def release(self, seconds: float) -> None:
        """Energise the strike output for *seconds*, then lock again.

        Up to 25.5 s the PD times it (OSDP timer, 100 ms units; libosdp's Python
        binding carries 8 bits of it).  Longer releases switch the output on and
        the driver switches it off when the time is up.
        """
        import osdp

        if not 0 < seconds <= 3600:
            raise ValueError("release time is 0.1 s .. 1 hour")
        ticks = max(1, round(seconds * 10))
        if ticks <= 255:
            command = {"control_code": 5, "timer_count": ticks}  # temporary on, then back to off
        else:
            command = {"control_code": 2, "timer_count": 0}  # permanent on; we switch it off
        await self._command({"command": osdp.Command.Output, "output_no": self.options["strike_output"], **command})
        self._lock_state = LockState.RELEASED
        if self._relock is not None:
            self._relock.cancel()
        self._relock = asyncio.get_running_loop().call_later(ticks / 10, self._timed_relock, ticks > 255)

    def _timed_relock(self, ours: bool = False) -> None:
        self._relock = None
        if not ours:
            self._lock_state = LockState.LOCKED  # the PD timed it
            return
        task = asyncio.ensure_future(self.lock())
        task.add_done_callback(self._relock_done)

    def _relock_done(self, task: asyncio.Future[None]) -> None:
        exc = task.exception() if not task.cancelled() else None
        if exc is not None:
            self._lock_state = LockState.UNKNOWN
            log.error("%s: could not lock the strike after a long release: %s", self.label, type(exc).__name__)

    async def lock(self) -> None:
        import osdp

        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        await self._command(
            {"command": osdp.Command.Output, "output_no": self.options["strike_output"], "control_code": 1, "timer_count": 0}
        )
        self._lock_state = LockState.LOCKED

    @property
    def state(self) -> LockState:
        return self._lock_state

    @property
    def door_open(self) -> bool | None:
        return self._door_open


def display_rows(text: str, rows: int, cols: int) -> list[str]:
    """The first sentence of *text* in ASCII, wrapped to at most *rows* rows
    of *cols* characters; "..." marks what did not fit."""
    import textwrap
    import unicodedata

    if rows <= 0 or cols <= 0:
        return []
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = " ".join(ascii_text.split())
    for end in (". ", "! ", "? "):
        if end in ascii_text:
            ascii_text = ascii_text.split(end, 1)[0] + end.strip()
            break
    lines = textwrap.wrap(ascii_text, cols) or [""]
    if len(lines) > rows:
        lines = lines[:rows]
        lines[-1] = (lines[-1][: max(0, cols - 3)]).rstrip() + "..."
    return lines
