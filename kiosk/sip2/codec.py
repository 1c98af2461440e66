"""A sans-I/O SIP2 codec in the manner of h11: bytes in, messages out.

    codec = Sip2Codec()                    # cp850, AY/AZ error detection on
    wire = codec.encode(LoginRequest(login_user_id="kiosk", login_password="s"))
    codec.receive_data(b"941AY0AZFDFD\\r")
    msg = codec.next_message()            # LoginResponse(ok=True) or NEED_DATA
    codec.last_sequence                   # 0: the AY of the frame just read

Frames from a peer may end in ``\\r``, ``\\r\\n`` or ``\\n``; frames we send
end in ``terminator`` (``\\r``).  The checksum is the two's complement of the
16-bit sum of the *encoded* bytes up to and including ``AZ``, four uppercase
hex digits.  A peer's checksum of fewer than four digits (some clients do not
zero-pad) is accepted when its value is right.  A frame with a bad checksum
raises :class:`Sip2ChecksumError` (a :class:`RemoteSip2Error`) carrying the
frame's sequence number; the frame is consumed, so the caller can answer 96
(or send 97) and carry on.

Dates are ``YYYYMMDDZZZZHHMMSS``.  Blanks in ``ZZZZ`` mean the local time of
the library (``tz``; ``None`` = this machine's zone); a ``Z`` in the last
position means UTC, and other letters are the military zones (A..M east,
N..Y west).  Decoded dates are aware datetimes.  On encode an aware datetime is
converted to ``tz`` and sent as local time (or as UTC with ``send_utc``); a
naive datetime is taken as local wall time and sent as is.
"""

from __future__ import annotations

import functools
import os
import re
from zlib import adler32 as _adler32
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._compile import compile_decoder, compile_encoder
from .errors import LocalSip2Error, RemoteSip2Error, Sip2ChecksumError
from .messages import (
    K_BOOL,
    K_CHAR,
    K_COUNT,
    K_DATE,
    K_INT,
    K_OK,
    K_STATUS,
    K_SUMMARY,
    K_VDATE,
    K_VINT,
    K_YN,
    K_YNU,
    MESSAGE_TYPES,
    Message,
    PatronStatus,
    RequestAcsResend,
    RequestScResend,
    UnknownMessage,
    summary_from_wire,
)


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()

DEFAULT_MAX_FRAME = 64 * 1024
_HEX_TAIL = re.compile(rb"[0-9A-Fa-f]{1,4}")
_BLANK_DATE = " " * 18


# ---------------------------------------------------------------------------
# Checksums and dates
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def machine_zone() -> tzinfo | None:
    """This machine's time zone as a ZoneInfo (from TZ, /etc/localtime or
    /etc/timezone), or None when it cannot be found (local time is then
    taken from the C library, which is slower but right)."""
    candidates: list[str] = []
    env = os.environ.get("TZ")
    if env:
        candidates.append(env.lstrip(":"))
    try:
        link = os.readlink("/etc/localtime")
        marker = link.find("zoneinfo/")
        if marker >= 0:
            candidates.append(link[marker + len("zoneinfo/") :])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="ascii") as fh:
            candidates.append(fh.read().strip())
    except (OSError, UnicodeDecodeError):
        pass
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh)
    except (OSError, ValueError):
        return None


def byte_sum(data: bytes) -> int:
    """The sum of the bytes of ``data``, computed with zlib.adler32 (its low
    half is 1 + the byte sum modulo 65521, exact for chunks of at most 256
    bytes), which is several times faster than ``sum()``."""
    n = len(data)
    if n <= 256:
        return (_adler32(data) & 0xFFFF) - 1
    view = memoryview(data)
    total = 0
    for i in range(0, n, 256):
        total += (_adler32(view[i : i + 256]) & 0xFFFF) - 1
    return total


def checksum(data: bytes) -> str:
    """The AZ value for ``data`` (every byte from the command code to ``AZ``)."""
    return "%04X" % (-byte_sum(data) & 0xFFFF)


def _military_offset(letter: str) -> timedelta | None:
    if letter == "Z":
        return timedelta(0)
    if "A" <= letter <= "I":
        return timedelta(hours=ord(letter) - ord("A") + 1)
    if "K" <= letter <= "M":
        return timedelta(hours=ord(letter) - ord("K") + 10)
    if "N" <= letter <= "Y":
        return timedelta(hours=-(ord(letter) - ord("N") + 1))
    return None


def parse_sip2_datetime(text: str, tz: tzinfo | None = None) -> datetime | None:
    """Parse an 18-character SIP2 date; blank gives None, garbage ValueError.

    Blanks in the zone part mean local time (``tz``, or this machine's zone
    when ``tz`` is None); a letter in the last zone position is a military
    zone (``Z`` = UTC).  The result is always an aware datetime.
    """
    if len(text) != 18:
        if not text.strip():
            return None
        raise ValueError(f"a SIP2 date has 18 characters, not {len(text)}")
    if text == _BLANK_DATE or not text.strip():
        return None
    date_part, zone, time_part = text[:8], text[8:12], text[12:]
    if not (date_part.isdigit() and date_part.isascii()):
        raise ValueError("the date part of a SIP2 date must be 8 digits")
    # Some systems leave the time blank: midnight.
    time_part = time_part.replace(" ", "0")
    if not (time_part.isdigit() and time_part.isascii()):
        raise ValueError("the time part of a SIP2 date must be 6 digits")
    naive = datetime(
        int(date_part[:4]), int(date_part[4:6]), int(date_part[6:8]),
        int(time_part[:2]), int(time_part[2:4]), int(time_part[4:6]),
    )  # fmt: skip
    letter = zone.strip()
    if not letter:
        return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    if len(letter) != 1:
        raise ValueError(f"unknown SIP2 time zone {zone!r}")
    offset = _military_offset(letter.upper())
    if offset is None:
        raise ValueError(f"unknown SIP2 time zone {zone!r}")
    return naive.replace(tzinfo=timezone(offset))


def sip2_datetime(value: datetime | None, tz: tzinfo | None = None, *, utc: bool = False) -> str:
    """Format a datetime as an 18-character SIP2 date (None gives blanks).

    Aware datetimes are converted to ``tz`` (this machine's zone when None)
    and sent as local time, or to UTC with a ``Z`` when ``utc`` is true.
    Naive datetimes are taken as local wall time."""
    if value is None:
        return _BLANK_DATE
    zone = "    "
    if value.tzinfo is not None:
        if utc:
            value = value.astimezone(timezone.utc)
            zone = "   Z"
        else:
            value = value.astimezone(tz)
    elif utc:
        value = value.astimezone(timezone.utc)
        zone = "   Z"
    return f"{value.year:04d}{value.month:02d}{value.day:02d}{zone}{value.hour:02d}{value.minute:02d}{value.second:02d}"


# ---------------------------------------------------------------------------
# The codec
# ---------------------------------------------------------------------------


class Sip2Codec:
    """Encode messages to frames and decode frames to messages; no I/O.

    ``error_detection``: add ``AY<seq>AZ<checksum>`` to the frames we send
    (``seq`` from :meth:`encode`'s argument, else our own counter 0..9).
    Checksums on incoming frames are verified whenever present.
    ``require_checksum``: refuse incoming frames without one (default off).
    """

    def __init__(
        self,
        encoding: str = "cp850",
        error_detection: bool = True,
        terminator: bytes = b"\r",
        *,
        tz: tzinfo | None = None,
        send_utc: bool = False,
        errors: str = "strict",
        require_checksum: bool = False,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        try:
            "x".encode(encoding)
        except LookupError:
            raise LocalSip2Error(f"unknown encoding {encoding!r}", field="encoding") from None
        if terminator not in (b"\r", b"\r\n", b"\n"):
            raise LocalSip2Error("terminator must be CR, CR LF or LF", field="terminator")
        self.encoding = encoding
        ascii_chars = "".join(map(chr, range(128)))
        self._ascii_fast = ascii_chars.encode(encoding, "replace") == ascii_chars.encode("ascii")
        self.error_detection = error_detection
        self.terminator = terminator
        self.tz = tz if tz is not None else machine_zone()
        self.send_utc = send_utc
        self.errors = errors
        self.require_checksum = require_checksum
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._skip_lf = False
        self._discarding = False
        self._next_seq = 0
        self._date_cache: dict[str, datetime | None] = {}
        self._fmt_cache: dict[datetime, str] = {}
        #: AY sequence number of the frame last returned by next_message/decode.
        self.last_sequence: int | None = None
        #: whether that frame carried a (good) AZ checksum.
        self.last_had_checksum = False

    # -- sequence numbers --------------------------------------------------

    def next_sequence(self) -> int:
        """Take the next AY sequence number (0..9, wrapping)."""
        seq = self._next_seq
        self._next_seq = (seq + 1) % 10
        return seq

    # -- encoding ----------------------------------------------------------

    def encode(self, msg: Message, seq: int | None = None, *, error_detection: bool | None = None) -> bytes:
        """The frame for ``msg``, terminator included.

        With error detection on (``error_detection`` overrides the codec's
        setting for this frame), ``seq`` (0..9) goes in AY; None takes the
        next number of our own counter.  96 and 97 get only an AZ checksum.
        """
        text = self.encode_text(msg)
        try:
            if self._ascii_fast and text.isascii():
                data = text.encode("ascii")
            else:
                data = text.encode(self.encoding, self.errors)
        except UnicodeEncodeError as exc:
            raise LocalSip2Error(
                f"{type(msg).__name__}: character {text[exc.start]!r} cannot be sent in {self.encoding}",
                field=_field_at(msg, text, exc.start),
            ) from None
        if self.error_detection if error_detection is None else error_detection:
            if type(msg) in (RequestAcsResend, RequestScResend):
                data += b"AZ"
            else:
                if seq is None:
                    seq = self.next_sequence()
                elif not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 9:
                    raise LocalSip2Error("the sequence number must be 0..9", field="AY")
                data += b"AY%dAZ" % seq
            data += b"%04X" % (-byte_sum(data) & 0xFFFF)
        return data + self.terminator

    def encode_text(self, msg: Message) -> str:
        """The frame text without AY/AZ trailer and terminator."""
        kind = type(msg)
        if kind is UnknownMessage:
            return msg.code + msg.body
        try:
            encoder = _ENCODERS[kind]
        except KeyError:
            raise LocalSip2Error(f"{kind.__name__} is not a SIP2 message class", field="msg") from None
        return encoder(self, msg)

    def _fmt_date(self, value: datetime | None) -> str:
        if value is None:
            return _BLANK_DATE
        cache = self._fmt_cache
        try:
            return cache[value]
        except KeyError:
            pass
        text = sip2_datetime(value, self.tz, utc=self.send_utc)
        if len(cache) >= 1024:
            cache.clear()
        cache[value] = text
        return text

    # -- framing -----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer (any chunking)."""
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """Cut the next complete frame (terminator stripped) off the buffer,
        or None when there is none yet.  Blank lines are skipped.  A frame
        longer than ``max_frame`` raises RemoteSip2Error (its bytes are
        dropped up to the next terminator)."""
        buf = self._buffer
        while True:
            if self._skip_lf and buf:
                if buf[0] == 0x0A:
                    del buf[0]
                self._skip_lf = False
            cr = buf.find(b"\r")
            lf = buf.find(b"\n", 0, cr if cr >= 0 else len(buf))
            if lf >= 0:
                end, cut = lf, lf + 1
            elif cr >= 0:
                end = cr
                if cr + 1 < len(buf):
                    cut = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
                else:
                    cut = cr + 1
                    self._skip_lf = True
            else:
                if len(buf) > self.max_frame:
                    del buf[:]
                    self._discarding = True
                    raise RemoteSip2Error(f"frame longer than {self.max_frame} bytes without a terminator")
                return None
            frame = bytes(buf[:end])
            del buf[:cut]
            if self._discarding:
                self._discarding = False
                continue
            frame = frame.strip(b"\x00")
            if not frame:
                continue
            if len(frame) > self.max_frame:
                raise RemoteSip2Error(f"frame longer than {self.max_frame} bytes")
            return frame

    def next_message(self) -> Message | _NeedData:
        """The next complete message, or NEED_DATA.  A frame that cannot be
        read raises RemoteSip2Error and is consumed."""
        frame = self.next_frame()
        if frame is None:
            return NEED_DATA
        return self.decode(frame)

    def __iter__(self):
        """Iterate over the complete messages in the buffer (errors raise)."""
        while True:
            msg = self.next_message()
            if msg is NEED_DATA:
                return
            yield msg

    @property
    def buffered(self) -> int:
        """Bytes received but not yet cut into frames."""
        return len(self._buffer)

    def clear(self) -> None:
        """Forget buffered bytes (after a reconnect)."""
        del self._buffer[:]
        self._skip_lf = False

    # -- decoding ----------------------------------------------------------

    def decode(self, frame: bytes) -> Message:
        """Decode one frame (a trailing CR / CR LF / LF is allowed).

        Sets :attr:`last_sequence` and :attr:`last_had_checksum`."""
        self.last_sequence = None
        self.last_had_checksum = False
        if not isinstance(frame, (bytes, bytearray, memoryview)):
            raise LocalSip2Error("decode() takes bytes", field="frame")
        if type(frame) is not bytes:
            frame = bytes(frame)
        if frame[-1:] in (b"\r", b"\n"):
            frame = frame.rstrip(b"\r\n")
        seq: int | None = None
        body = frame
        az = frame.rfind(b"AZ")
        if az >= 0 and _HEX_TAIL.fullmatch(frame, az + 2):
            head = frame[: az + 2]
            if len(head) >= 5 and head[-5:-3] == b"AY" and 0x30 <= head[-3] <= 0x39:
                seq = head[-3] - 0x30
            if (byte_sum(head) + int(frame[az + 2 :], 16)) & 0xFFFF:
                raise Sip2ChecksumError("bad checksum", sequence=seq, field="AZ")
            body = frame[:az]
            self.last_had_checksum = True
        elif self.require_checksum:
            raise RemoteSip2Error("frame without AZ checksum", field="AZ")
        if seq is None:
            if len(body) >= 5 and body[-3:-1] == b"AY" and 0x30 <= body[-1] <= 0x39:
                seq = body[-1] - 0x30
                body = body[:-3]
        elif body[-3:-1] == b"AY":
            body = body[:-3]
        self.last_sequence = seq
        if b"\r" in body or b"\n" in body or b"\x00" in body:
            raise RemoteSip2Error("frame contains a CR, LF or NUL inside", sequence=seq)
        try:
            if self._ascii_fast and body.isascii():
                text = body.decode("ascii")
            else:
                text = body.decode(self.encoding, self.errors)
        except UnicodeDecodeError as exc:
            raise RemoteSip2Error(f"frame is not valid {self.encoding} at byte {exc.start}", sequence=seq) from None
        decoder = _DECODERS_BY_CODE.get(text[:2])
        if decoder is not None:
            return decoder(self, text, seq)
        return self._decode_text(text, seq)

    def _decode_text(self, text: str, seq: int | None) -> Message:
        if len(text) < 2:
            raise RemoteSip2Error("frame too short for a command code", sequence=seq)
        code = text[:2]
        cls = MESSAGE_TYPES.get(code)
        if cls is None:
            if "|" in code or not code.isprintable():
                raise RemoteSip2Error("frame does not start with a command code", sequence=seq)
            obj = object.__new__(UnknownMessage)
            _set = object.__setattr__
            _set(obj, "code", code)
            _set(obj, "body", text[2:])
            _set(obj, "extra_fields", ())
            return obj
        return _DECODERS[cls](self, text, seq)

    def _fixed_value(self, name: str, spec, raw: str, seq: int | None) -> object:
        kind = spec.kind
        if kind == K_DATE:
            return self._date(name, spec, raw, seq)
        if kind == K_YN:
            if raw in "YyNn 01":
                return raw in "Yy1"
        elif kind == K_OK:
            if raw in "10YyNn":
                return raw in "1Yy"
        elif kind == K_INT:
            if raw.isdigit() and raw.isascii():
                return int(raw)
            if not raw.strip():
                return 0
        elif kind == K_COUNT:
            if raw.isdigit() and raw.isascii():
                return int(raw)
            if not raw.strip():
                return None
        elif kind == K_CHAR:
            return raw
        elif kind == K_STATUS:
            return PatronStatus.from_wire(raw)
        elif kind == K_YNU:
            if raw in "Yy":
                return True
            if raw in "Nn":
                return False
            return None
        elif kind == K_SUMMARY:
            return summary_from_wire(raw)
        raise RemoteSip2Error(f"{name}: fixed field {spec.name} has an unreadable value", sequence=seq, field=spec.name)

    def _var_value(self, name: str, spec, raw: str, seq: int | None) -> object:
        kind = spec.kind
        if kind == K_BOOL:
            if raw in ("Y", "y", "1"):
                return True
            if raw in ("N", "n", "0", "", " "):
                return False
        elif kind == K_VINT:
            stripped = raw.strip()
            if not stripped:
                return None
            if stripped.isdigit() and stripped.isascii():
                return int(stripped)
        elif kind == K_VDATE:
            return self._date(name, spec, raw, seq)
        raise RemoteSip2Error(f"{name}: field {spec.code} ({spec.name}) has an unreadable value", sequence=seq, field=spec.code)

    def _date(self, name: str, spec, raw: str, seq: int | None) -> datetime | None:
        cache = self._date_cache
        try:
            return cache[raw]
        except KeyError:
            pass
        try:
            value = parse_sip2_datetime(raw, self.tz)
        except ValueError as exc:
            label = spec.code or spec.name
            raise RemoteSip2Error(f"{name}: date {label} is not a SIP2 date ({exc})", sequence=seq, field=label) from None
        if len(cache) >= 1024:
            cache.clear()
        cache[raw] = value
        return value


def _field_at(msg: Message, text: str, index: int) -> str | None:
    """Name the field at character ``index`` of ``msg``'s frame text."""
    start = text.rfind("|", 0, index) + 1
    if start == 0:
        return "fixed fields"
    code = text[start : start + 2]
    spec = getattr(msg, "BY_CODE", {}).get(code)
    return spec.name if spec is not None else code


_DECODERS = {cls: compile_decoder(cls) for cls in MESSAGE_TYPES.values()}
_ENCODERS = {cls: compile_encoder(cls) for cls in MESSAGE_TYPES.values()}
_DECODERS_BY_CODE = {code: _DECODERS[cls] for code, cls in MESSAGE_TYPES.items()}

_DEFAULT_CODEC = Sip2Codec()


def decode(frame: bytes, *, encoding: str = "cp850", tz: tzinfo | None = None) -> Message:
    """Decode one frame with a default codec (see :meth:`Sip2Codec.decode`)."""
    if encoding == "cp850" and tz is None:
        return _DEFAULT_CODEC.decode(frame)
    return Sip2Codec(encoding, tz=tz).decode(frame)


def encode(msg: Message, seq: int | None = 0, *, encoding: str = "cp850", error_detection: bool = True) -> bytes:
    """Encode one message with a fresh codec (see :meth:`Sip2Codec.encode`)."""
    return Sip2Codec(encoding, error_detection).encode(msg, seq)


__all__ = [
    "NEED_DATA",
    "Sip2Codec",
    "checksum",
    "decode",
    "encode",
    "parse_sip2_datetime",
    "sip2_datetime",
]
