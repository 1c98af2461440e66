"""HID keyboard-wedge barcode scanner (evdev): ``hid://``.

The scanner is a USB keyboard.  The driver *grabs* its input device
exclusively (``EVIOCGRAB``), so scans never land in the UI or a console, and
decodes the key events itself with the keyboard layout the scanner is set up
for.

URL grammar::

    hid:///dev/input/event5
    hid:///dev/input/by-id/usb-Honeywell_Scanner-event-kbd
    hid://usb/VID:PID              # the first key device with that USB id

=============  ===========================  =======  ========================================
option         type                         default  meaning
=============  ===========================  =======  ========================================
layout         us|be-azerty|fr-azerty|      us       keyboard layout the scanner types in
               de-qwertz
terminator     enter|tab                    enter    key ending a scan
grab           bool                         true     grab the device exclusively
max_length     int                          64       longer scans are dropped
frame_timeout  float                        0.5      a gap longer than this drops a half scan
name, retry_initial, retry_max: as for every driver
=============  ===========================  =======  ========================================

Support table:

=====================================  ====================================================
feature                                supported
=====================================  ====================================================
Scanned events                         yes
layouts                                us, be-azerty, fr-azerty, de-qwertz (xkb "basic"
                                       variants: Shift, AltGr, Caps Lock; dead keys skipped)
keypad digits (Num Lock on)            yes
GS1 group separator (Ctrl+])           yes, as ``\\x1d``
exclusive grab                         yes (``grab=false`` only for debugging)
unplug / replug (lost, backoff, back)  yes
found by USB vendor:product id         yes
=====================================  ====================================================

:class:`HidDecoder` is pure (events in, scans out; time from the event
stamps) and is tested with hand-built ``evdev.InputEvent`` sequences.
"""

from __future__ import annotations

import asyncio
import logging
import select
import threading
from typing import Any, ClassVar

from .base import BarcodeScanner, ReconnectingDevice, Scanned, run_in_thread
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceUrlError
from .url import Choice, DeviceUrl, OptionSpec, parse_usb_id

__all__ = ["HidScanner", "HidDecoder", "LAYOUTS", "find_input_device"]

log = logging.getLogger("devices.hid")

# Linux input key codes (linux/input-event-codes.h), so that the decoder does not need evdev.
_K = {
    "ESC": 1, "1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11,
    "MINUS": 12, "EQUAL": 13, "BACKSPACE": 14, "TAB": 15,
    "Q": 16, "W": 17, "E": 18, "R": 19, "T": 20, "Y": 21, "U": 22, "I": 23, "O": 24, "P": 25,
    "LEFTBRACE": 26, "RIGHTBRACE": 27, "ENTER": 28, "LEFTCTRL": 29,
    "A": 30, "S": 31, "D": 32, "F": 33, "G": 34, "H": 35, "J": 36, "K": 37, "L": 38,
    "SEMICOLON": 39, "APOSTROPHE": 40, "GRAVE": 41, "LEFTSHIFT": 42, "BACKSLASH": 43,
    "Z": 44, "X": 45, "C": 46, "V": 47, "B": 48, "N": 49, "M": 50,
    "COMMA": 51, "DOT": 52, "SLASH": 53, "RIGHTSHIFT": 54, "KPASTERISK": 55, "LEFTALT": 56,
    "SPACE": 57, "CAPSLOCK": 58, "KP7": 71, "KP8": 72, "KP9": 73, "KPMINUS": 74,
    "KP4": 75, "KP5": 76, "KP6": 77, "KPPLUS": 78, "KP1": 79, "KP2": 80, "KP3": 81,
    "KP0": 82, "KPDOT": 83, "102ND": 86, "KPENTER": 96, "RIGHTCTRL": 97, "KPSLASH": 98,
    "RIGHTALT": 100,
}
EV_KEY = 1
_SHIFTS = {_K["LEFTSHIFT"], _K["RIGHTSHIFT"]}
_CTRLS = {_K["LEFTCTRL"], _K["RIGHTCTRL"]}
_ALTGR = _K["RIGHTALT"]
_KEYPAD = {
    _K["KP0"]: "0", _K["KP1"]: "1", _K["KP2"]: "2", _K["KP3"]: "3", _K["KP4"]: "4", _K["KP5"]: "5",
    _K["KP6"]: "6", _K["KP7"]: "7", _K["KP8"]: "8", _K["KP9"]: "9", _K["KPDOT"]: ".",
    _K["KPMINUS"]: "-", _K["KPPLUS"]: "+", _K["KPASTERISK"]: "*", _K["KPSLASH"]: "/",
}

# (normal, shift, altgr) per key.  "" = nothing (dead key or unused).
Row = tuple[str, str, str]


def _letters(keys: str) -> dict[int, Row]:
    return {_K[k.upper()]: (k, k.upper(), "") for k in keys}


_US: dict[int, Row] = {
    **_letters("abcdefghijklmnopqrstuvwxyz"),
    **{_K[d]: (d, s, "") for d, s in zip("1234567890", "!@#$%^&*()")},
    _K["MINUS"]: ("-", "_", ""), _K["EQUAL"]: ("=", "+", ""), _K["LEFTBRACE"]: ("[", "{", ""),
    _K["RIGHTBRACE"]: ("]", "}", ""), _K["BACKSLASH"]: ("\\", "|", ""), _K["SEMICOLON"]: (";", ":", ""),
    _K["APOSTROPHE"]: ("'", '"', ""), _K["GRAVE"]: ("`", "~", ""), _K["COMMA"]: (",", "<", ""),
    _K["DOT"]: (".", ">", ""), _K["SLASH"]: ("/", "?", ""), _K["SPACE"]: (" ", " ", ""),
    _K["102ND"]: ("\\", "|", ""),
}


def _azerty_letters() -> dict[int, Row]:
    table = _letters("bcdefghijklnoprstuvxy")
    table.update({_K["Q"]: ("a", "A", ""), _K["W"]: ("z", "Z", ""), _K["A"]: ("q", "Q", ""),
                  _K["Z"]: ("w", "W", ""), _K["SEMICOLON"]: ("m", "M", "")})
    return table


# From xkb symbols/fr "basic".
_FR: dict[int, Row] = {
    **_azerty_letters(),
    _K["1"]: ("&", "1", "¹"), _K["2"]: ("é", "2", "~"), _K["3"]: ('"', "3", "#"), _K["4"]: ("'", "4", "{"),
    _K["5"]: ("(", "5", "["), _K["6"]: ("-", "6", "|"), _K["7"]: ("è", "7", "`"), _K["8"]: ("_", "8", "\\"),
    _K["9"]: ("ç", "9", "^"), _K["0"]: ("à", "0", "@"), _K["MINUS"]: (")", "°", "]"), _K["EQUAL"]: ("=", "+", "}"),
    _K["E"]: ("e", "E", "€"), _K["LEFTBRACE"]: ("", "", ""), _K["RIGHTBRACE"]: ("$", "£", "¤"),
    _K["APOSTROPHE"]: ("ù", "%", ""), _K["GRAVE"]: ("²", "~", ""), _K["BACKSLASH"]: ("*", "µ", ""),
    _K["M"]: (",", "?", ""), _K["COMMA"]: (";", ".", ""), _K["DOT"]: (":", "/", ""), _K["SLASH"]: ("!", "§", ""),
    _K["SPACE"]: (" ", " ", ""), _K["102ND"]: ("<", ">", ""),
}

# From xkb symbols/be "basic".
_BE: dict[int, Row] = {
    **_azerty_letters(),
    _K["1"]: ("&", "1", "|"), _K["2"]: ("é", "2", "@"), _K["3"]: ('"', "3", "#"), _K["4"]: ("'", "4", "¼"),
    _K["5"]: ("(", "5", "½"), _K["6"]: ("§", "6", "^"), _K["7"]: ("è", "7", "{"), _K["8"]: ("!", "8", "["),
    _K["9"]: ("ç", "9", "{"), _K["0"]: ("à", "0", "}"), _K["MINUS"]: (")", "°", "\\"), _K["EQUAL"]: ("-", "_", ""),
    _K["E"]: ("e", "E", "€"), _K["LEFTBRACE"]: ("", "", "["), _K["RIGHTBRACE"]: ("$", "*", "]"),
    _K["APOSTROPHE"]: ("ù", "%", ""), _K["GRAVE"]: ("²", "³", ""), _K["BACKSLASH"]: ("µ", "£", ""),
    _K["M"]: (",", "?", ""), _K["COMMA"]: (";", ".", ""), _K["DOT"]: (":", "/", ""), _K["SLASH"]: ("=", "+", ""),
    _K["SPACE"]: (" ", " ", ""), _K["102ND"]: ("<", ">", "\\"),
}
_BE[_K["Q"]] = ("a", "A", "@")

# From xkb symbols/de "basic" (dead keys skipped).
_DE: dict[int, Row] = {
    **_letters("abcdefghijklmnopqrstuvwx"),
    _K["Y"]: ("z", "Z", ""), _K["Z"]: ("y", "Y", ""),
    **{_K[d]: (d, s, "") for d, s in zip("1234567890", '!"§$%&/()=')},
    _K["2"]: ("2", '"', "²"), _K["3"]: ("3", "§", "³"), _K["7"]: ("7", "/", "{"), _K["8"]: ("8", "(", "["),
    _K["9"]: ("9", ")", "]"), _K["0"]: ("0", "=", "}"), _K["MINUS"]: ("ß", "?", "\\"), _K["EQUAL"]: ("", "", ""),
    _K["Q"]: ("q", "Q", "@"), _K["E"]: ("e", "E", "€"), _K["LEFTBRACE"]: ("ü", "Ü", ""),
    _K["RIGHTBRACE"]: ("+", "*", "~"), _K["SEMICOLON"]: ("ö", "Ö", ""), _K["APOSTROPHE"]: ("ä", "Ä", ""),
    _K["GRAVE"]: ("", "°", ""), _K["BACKSLASH"]: ("#", "'", ""), _K["COMMA"]: (",", ";", ""),
    _K["DOT"]: (".", ":", ""), _K["SLASH"]: ("-", "_", ""), _K["SPACE"]: (" ", " ", ""),
    _K["102ND"]: ("<", ">", "|"), _K["M"]: ("m", "M", "µ"),
}

LAYOUTS: dict[str, dict[int, Row]] = {"us": _US, "be-azerty": _BE, "fr-azerty": _FR, "de-qwertz": _DE}
_MODIFIERS = _SHIFTS | _CTRLS | {_ALTGR, _K["LEFTALT"], _K["CAPSLOCK"]}


class HidDecoder:
    """Key events -> scans, for one layout.  Pure: time comes from the event stamps.

    ``feed(event)`` takes anything with ``type``, ``code``, ``value`` and
    ``timestamp()`` (an ``evdev.InputEvent``) and returns a finished scan or
    None.  Dropped input is described (lengths only) in ``dropped``.
    """

    def __init__(self, layout: str = "us", *, terminator: str = "enter", max_length: int = 64, frame_timeout: float = 0.5) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
        self.table = LAYOUTS[layout]
        self.terminators = {_K["TAB"]} if terminator == "tab" else {_K["ENTER"], _K["KPENTER"]}
        self.max_length = max_length
        self.frame_timeout = frame_timeout
        self.dropped: list[str] = []
        self.reset()

    def reset(self) -> None:
        self._buf: list[str] = []
        self._bad = 0
        self._shift: set[int] = set()
        self._ctrl: set[int] = set()
        self._altgr = False
        self._caps = False
        self._last = None

    def feed(self, event: Any) -> str | None:
        if event.type != EV_KEY:
            return None
        code, value = event.code, event.value
        if code in _SHIFTS:
            (self._shift.add if value else self._shift.discard)(code)
            return None
        if code in _CTRLS:
            (self._ctrl.add if value else self._ctrl.discard)(code)
            return None
        if code == _ALTGR:
            self._altgr = bool(value)
            return None
        if value != 1:  # key up, autorepeat
            return None
        if code == _K["CAPSLOCK"]:
            self._caps = not self._caps
            return None
        if code in _MODIFIERS:
            return None
        now = event.timestamp()
        if self._buf and self._last is not None and now - self._last > self.frame_timeout:
            self.dropped.append(f"{len(self._buf)}-character half scan timed out")
            self._buf, self._bad = [], 0
        self._last = now
        if code in self.terminators:
            return self._finish()
        char = self._char(code)
        if char is None:
            self._bad += 1
        elif char:
            self._buf.append(char)
        return None

    def _char(self, code: int) -> str | None:
        if self._ctrl:
            # Ctrl+] (the key right of P) is GS, the GS1 separator; other control keys are unknown.
            return "\x1d" if code == _K["RIGHTBRACE"] else None
        if code in _KEYPAD:
            return _KEYPAD[code]
        row = self.table.get(code)
        if row is None:
            return None
        normal, shifted, altgr = row
        if self._altgr:
            return altgr
        shift = bool(self._shift)
        if self._caps and len(normal) == 1 and normal.isalpha() and normal.lower() != normal.upper():
            shift = not shift
        return shifted if shift else normal

    def _finish(self) -> str | None:
        buf, bad = "".join(self._buf), self._bad
        self._buf, self._bad = [], 0
        if not buf and not bad:
            return None
        if bad:
            self.dropped.append(f"{len(buf) + bad}-key scan with {bad} unknown keys (wrong layout?)")
            return None
        if len(buf) > self.max_length:
            self.dropped.append(f"{len(buf)}-character scan longer than {self.max_length}")
            return None
        return buf


def find_input_device(vid: int, pid: int) -> str:
    """The first evdev device with USB id *vid:pid* that has letter or digit keys."""
    import evdev

    for path in sorted(evdev.list_devices()):
        try:
            dev = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            if dev.info.vendor == vid and dev.info.product == pid:
                keys = dev.capabilities().get(EV_KEY, [])
                if _K["ENTER"] in keys or _K["1"] in keys:
                    return path
        finally:
            dev.close()
    raise DeviceNotFound(f"no input device with USB id {vid:04x}:{pid:04x}")


class HidScanner(ReconnectingDevice, BarcodeScanner):
    """A keyboard-wedge barcode scanner read through evdev, grabbed exclusively."""

    SCHEMES = ("hid",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "layout": (Choice(*LAYOUTS), "us", "keyboard layout the scanner types in"),
        "terminator": (Choice("enter", "tab"), "enter", "key ending a scan"),
        "grab": (bool, True, "grab the device exclusively"),
        "max_length": (int, 64, "longest scan"),
        "frame_timeout": (float, 0.5, "a gap longer than this drops a half scan"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        path = self.url.path
        if path.startswith("usb/"):
            try:
                self._usb: tuple[int, int] | None = parse_usb_id(path[4:])
            except ValueError as exc:
                raise DeviceUrlError(f"hid://usb/VID:PID: {exc}") from None
        elif path.startswith("/"):
            self._usb = None
        else:
            raise DeviceUrlError("hid:// needs /dev/input/eventN, /dev/input/by-id/... or usb/VID:PID")
        if self.options["max_length"] < 1 or self.options["frame_timeout"] <= 0:
            raise DeviceUrlError("max_length must be >= 1 and frame_timeout > 0")
        self.decoder = HidDecoder(
            self.options["layout"],
            terminator=self.options["terminator"],
            max_length=self.options["max_length"],
            frame_timeout=self.options["frame_timeout"],
        )
        self._dev: Any = None
        self._stop = threading.Event()

    async def _connect(self) -> None:
        try:
            import evdev
        except ImportError:  # pragma: no cover - evdev is a dependency on Linux
            raise DeviceError("hid:// needs the evdev package (pip install bibkiosk[evdev])") from None
        path = find_input_device(*self._usb) if self._usb else self.url.path
        try:
            dev = evdev.InputDevice(path)
        except OSError as exc:
            raise DeviceNotFound(f"{self.label}: cannot open {path}: {exc.strerror or exc}") from None
        if self.options["grab"]:
            try:
                dev.grab()
            except OSError as exc:
                dev.close()
                raise DeviceError(f"{self.label}: cannot grab the device (another program holds it?): {exc.strerror}") from None
        self.decoder.reset()
        self._stop.clear()
        self._dev = dev

    async def _session(self) -> None:
        dev = self._dev
        if dev is None:
            raise DeviceDisconnected("not open")
        await run_in_thread(lambda: self._reader(dev), name=f"hid {self.label}")

    def _reader(self, dev: Any) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([dev.fd], [], [], 0.2)
                if not ready:
                    continue
                events = list(dev.read())
            except (OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                raise DeviceDisconnected(f"read failed: {getattr(exc, 'strerror', None) or exc}") from None
            for event in events:
                self._handle(event)

    def _handle(self, event: Any) -> None:
        """One input event (reader thread)."""
        scan = self.decoder.feed(event)
        while self.decoder.dropped:
            log.warning("%s: ignored scanner input: %s", self.label, self.decoder.dropped.pop(0))
        if scan is not None:
            self._emit_threadsafe(Scanned(scan))

    async def _disconnect(self) -> None:
        self._stop.set()
        dev, self._dev = self._dev, None
        if dev is not None:
            await asyncio.sleep(0)
            for action in (dev.ungrab, dev.close):
                try:
                    action()
                except (OSError, ValueError):
                    pass
