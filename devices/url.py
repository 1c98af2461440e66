"""Device URLs: ``scheme://path?option=value&...``.

Every device is chosen by a URL, in the manner of pyserial's
``serial_for_url``::

    sim://patron?name=front
    serial:///dev/ttyACM0?baud=9600&suffix=%0D
    serial://usb/0403:6001               # the serial port of that USB device
    serial:///dev/ttyUSB0?usb=0403:6001  # same, the path is only a fallback
    lcus://usb/1a86:7523?channel=1
    escpos+net://192.0.2.10:9100

:func:`parse_url` splits a URL into a :class:`DeviceUrl` (scheme, path,
raw option strings).  :func:`parse_options` converts the raw strings with a
driver's option table (``OPTIONS: dict[name, (type, default, help)]``),
strictly: an unknown option, a repeated option, or a value that does not
convert is a :class:`~devices.errors.DeviceUrlError` that lists what is valid.

Option values are percent-decoded (``%0D`` is a carriage return, ``+`` stays
a plus).  Option types: ``str``, ``int``, ``float``, ``bool`` (1/0, true/false,
yes/no, on/off), ``bytes`` (percent or backslash escapes: ``\\r``, ``\\n``,
``\\t``, ``\\xNN``), a :class:`Choice`, :class:`UsbId`, or any callable that
takes the string and raises ``ValueError`` on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import DeviceNotFound, DeviceUrlError

__all__ = [
    "DeviceUrl",
    "OptionSpec",
    "Choice",
    "UsbId",
    "parse_url",
    "parse_options",
    "parse_bool",
    "parse_bytes",
    "find_serial_port",
    "resolve_serial_port",
    "SECRET_OPTIONS",
]

#: (converter, default, help).  A default of ``REQUIRED`` makes the option mandatory.
OptionSpec = tuple[Any, Any, str]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

#: Option names whose values are never shown (``DeviceUrl.redacted``, reprs, logs).
SECRET_OPTIONS = frozenset({"key", "scbk", "password", "secret", "pin", "token", "passphrase", "api_key"})

_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.\-]*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class DeviceUrl:
    """A parsed device URL.

    ``path`` is everything between ``scheme://`` and ``?``: ``"patron"`` for
    ``sim://patron``, ``"/dev/ttyUSB0"`` for ``serial:///dev/ttyUSB0``,
    ``"usb/0403:6001"`` for ``serial://usb/0403:6001``, ``"host:9100"`` for
    ``escpos+net://host:9100``.  ``options`` holds the raw (decoded) strings.
    """

    scheme: str
    path: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.to_string(redact=True)

    def __repr__(self) -> str:
        return f"DeviceUrl({self.to_string(redact=True)!r})"

    def to_string(self, *, redact: bool = True) -> str:
        from urllib.parse import quote

        text = f"{self.scheme}://{self.path}"
        if self.options:
            parts = []
            for name, value in self.options.items():
                shown = "***" if redact and name in SECRET_OPTIONS else quote(value, safe="/:,.-_+")
                parts.append(f"{name}={shown}")
            text += "?" + "&".join(parts)
        return text

    def redacted(self) -> str:
        """The URL with secret option values replaced by ``***`` (safe to log)."""
        return self.to_string(redact=True)


def parse_url(url: str | DeviceUrl) -> DeviceUrl:
    """Split *url* into a :class:`DeviceUrl`; raises :class:`DeviceUrlError`."""
    if isinstance(url, DeviceUrl):
        return url
    if not isinstance(url, str):
        raise DeviceUrlError(f"a device URL must be a string, not {type(url).__name__}")
    text = url.strip()
    if not text:
        raise DeviceUrlError("empty device URL")
    if any(ord(ch) < 0x20 for ch in text):
        raise DeviceUrlError("control characters in device URL (percent-encode them)")
    if "://" not in text:
        raise DeviceUrlError("device URL needs the form scheme://path?options, e.g. sim://patron")
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if not _SCHEME_RE.match(scheme):
        raise DeviceUrlError(f"malformed URL scheme {scheme[:40]!r}")
    if "#" in rest:
        raise DeviceUrlError("a device URL takes no #fragment (percent-encode '#' as %23)")
    path, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if query:
        for part in query.split("&"):
            if not part:
                continue
            name, eq, value = part.partition("=")
            name = unquote(name).strip().lower()
            if not _NAME_RE.match(name):
                raise DeviceUrlError(f"malformed option name {name[:40]!r}")
            if name in options:
                raise DeviceUrlError(f"option {name!r} given twice")
            options[name] = unquote(value) if eq else ""
    return DeviceUrl(scheme=scheme, path=unquote(path), options=options)


# --- option converters -----------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE or low == "":  # a bare flag (?grab) means true
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "e": b"\x1b"}


def parse_bytes(text: str) -> bytes:
    r"""Bytes from an option value: latin-1 text with ``\r \n \t \0 \e \\ \xNN`` escapes."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise ValueError("dangling backslash")
            nxt = text[i + 1]
            if nxt == "x":
                hexpart = text[i + 2 : i + 4]
                if len(hexpart) != 2 or not all(c in "0123456789abcdefABCDEF" for c in hexpart):
                    raise ValueError(r"\x needs two hex digits")
                out.append(int(hexpart, 16))
                i += 4
                continue
            if nxt not in _ESCAPES:
                raise ValueError(f"unknown escape \\{nxt}")
            out += _ESCAPES[nxt]
            i += 2
            continue
        code = ord(ch)
        if code > 0xFF:
            raise ValueError("only latin-1 characters (use \\xNN)")
        out.append(code)
        i += 1
    return bytes(out)


class Choice:
    """One of a fixed set of strings (case-insensitive)."""

    def __init__(self, *choices: str) -> None:
        self.choices = tuple(choices)

    def __call__(self, text: str) -> str:
        low = text.strip().lower()
        if low not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}")
        return low

    def __repr__(self) -> str:
        return "|".join(self.choices)


class UsbId:
    """``VVVV:PPPP`` in hex -> ``(vid, pid)``."""

    def __call__(self, text: str) -> tuple[int, int]:
        return parse_usb_id(text)

    def __repr__(self) -> str:
        return "VID:PID"


def parse_usb_id(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,4})\s*", text)
    if not m:
        raise ValueError("expected a USB id VID:PID in hex, e.g. 0403:6001")
    return int(m.group(1), 16), int(m.group(2), 16)


def _type_name(conv: Any) -> str:
    if conv is bool:
        return "bool"
    if conv is bytes:
        return "bytes"
    if isinstance(conv, type):
        return conv.__name__
    return repr(conv)


def _convert(name: str, conv: Any, value: Any) -> Any:
    if not isinstance(value, str):
        # Already typed (keyword argument from code): accept the right type.
        if conv in (int, float, str, bytes, bool) and not isinstance(value, conv):
            if conv is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise DeviceUrlError(f"option {name!r}: expected {_type_name(conv)}, got {type(value).__name__}")
        return value
    try:
        if conv is bool:
            return parse_bool(value)
        if conv is bytes:
            return parse_bytes(value)
        if conv is int:
            return int(value.strip(), 0)
        return conv(value)
    except (ValueError, TypeError) as exc:
        raise DeviceUrlError(f"option {name!r}: bad value ({exc})") from None


def parse_options(
    url: DeviceUrl,
    spec: Mapping[str, OptionSpec],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert ``url.options`` (and keyword *extra*, which wins) with *spec*.

    Returns a dict with every option of *spec* (defaults filled in).
    """
    given: dict[str, Any] = dict(url.options)
    for name, value in (extra or {}).items():
        given[name] = value
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise DeviceUrlError(
            f"unknown option {unknown[0]!r} for {url.scheme}://",
            valid=sorted(spec),
        )
    result: dict[str, Any] = {}
    for name, (conv, default, _help) in spec.items():
        if name in given:
            result[name] = _convert(name, conv, given[name])
        elif default is REQUIRED:
            raise DeviceUrlError(f"option {name!r} is required for {url.scheme}://")
        else:
            result[name] = default
    return result


def describe_options(spec: Mapping[str, OptionSpec]) -> list[tuple[str, str, str, str]]:
    """``[(name, type, default, help)]`` for documentation and ``devices list``."""
    rows = []
    for name, (conv, default, help_text) in sorted(spec.items()):
        shown = "required" if default is REQUIRED else repr(default)
        rows.append((name, _type_name(conv), shown, help_text))
    return rows


# --- serial ports by USB id ---------------------------------------------------------------------


def find_serial_port(vid: int, pid: int, serial_number: str | None = None) -> str:
    """The device path of the (first) serial port of USB device *vid:pid*."""
    from serial.tools import list_ports

    found = []
    for port in list_ports.comports():
        if port.vid == vid and port.pid == pid:
            if serial_number and port.serial_number != serial_number:
                continue
            found.append(port.device)
    if not found:
        raise DeviceNotFound(f"no serial port with USB id {vid:04x}:{pid:04x}")
    return sorted(found)[0]


def resolve_serial_port(path: str, usb: tuple[int, int] | None = None) -> str:
    """Turn a URL path into a port name pyserial can open.

    ``usb/VID:PID`` or ``usb/VID:PID/SERIALNUMBER`` (or the ``usb=`` option)
    looks the port up with ``serial.tools.list_ports``; ``/dev/...`` is
    used as is; other pyserial URLs (``loop://``) pass through.
    """
    if path.startswith("usb/"):
        parts = path[4:].split("/", 1)
        try:
            vid, pid = parse_usb_id(parts[0])
        except ValueError as exc:
            raise DeviceUrlError(str(exc)) from None
        return find_serial_port(vid, pid, parts[1] if len(parts) > 1 else None)
    if usb is not None:
        try:
            return find_serial_port(*usb)
        except DeviceNotFound:
            if not path:
                raise
    if not path:
        raise DeviceUrlError("no serial port given: use scheme:///dev/ttyX or scheme://usb/VID:PID")
    return path


def callable_name(conv: Callable[..., Any]) -> str:  # pragma: no cover - helper for docs
    return _type_name(conv)
