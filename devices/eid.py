"""Belgian eID identity file: APDUs and a pure TLV parser.

The identity file (``3F00/DF01/4031``) is read without a PIN: select it by
path (:data:`SELECT_IDENTITY`), then ``READ BINARY`` 255 bytes at a time
(:func:`read_binary`) until a short block or status ``6B00``.  The file is a
flat list of TLVs: one tag byte, a length in 7-bit groups (bit 8 set means
"another length byte follows"), the value; zero bytes pad the end.

Tags used here (source: e-Contract commons-eid): 1 card number (12 ASCII
digits), 2 chip number (16 bytes), 3 and 4 card validity begin and end
(``dd.mm.yyyy``), 6 national register number (11 ASCII digits, modulo-97
check).  Names, birth data and the photo hash are never kept: the parser
skips every other tag.

Bad bytes raise :class:`EidDataError` (a
:class:`~devices.errors.DeviceProtocolError`); messages carry lengths and tag
numbers, never the values.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from .errors import DeviceProtocolError

__all__ = [
    "SELECT_IDENTITY",
    "EidDataError",
    "EidIdentity",
    "parse_tlv",
    "encode_tlv",
    "parse_identity",
    "read_binary",
    "national_number_valid",
    "TAG_CARD_NUMBER",
    "TAG_CHIP_NUMBER",
    "TAG_VALID_FROM",
    "TAG_VALID_UNTIL",
    "TAG_NATIONAL_NUMBER",
]

#: SELECT FILE by path from the MF: 3F00 / DF01 / 4031 (identity), no response data.
SELECT_IDENTITY = bytes.fromhex("00A4080C063F00DF014031")

TAG_CARD_NUMBER = 1
TAG_CHIP_NUMBER = 2
TAG_VALID_FROM = 3
TAG_VALID_UNTIL = 4
TAG_NATIONAL_NUMBER = 6

#: The identity file is about 200 bytes; anything much larger is not an eID.
MAX_FILE_LENGTH = 4096


class EidDataError(DeviceProtocolError):
    """The card's identity file is not a valid Belgian eID identity file."""


@dataclass(frozen=True)
class EidIdentity:
    """What the kiosk needs from the identity file (no names, no birth data)."""

    card_number: str
    national_number: str
    chip_number: str = ""
    valid_from: _dt.date | None = None
    valid_until: _dt.date | None = None

    def __repr__(self) -> str:  # never print the numbers
        return (
            f"EidIdentity(card_number=<{len(self.card_number)} digits>, "
            f"national_number=<{len(self.national_number)} digits>)"
        )

    __str__ = __repr__


def read_binary(offset: int, length: int = 0xFF) -> bytes:
    """``READ BINARY`` at *offset* (0..0x7FFF) for *length* bytes (1..255)."""
    if not 0 <= offset <= 0x7FFF:
        raise ValueError("READ BINARY offset out of range")
    if not 1 <= length <= 0xFF:
        raise ValueError("READ BINARY length out of range")
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length])


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """Split an eID file into ``{tag: value}``; stops at the zero padding.

    A repeated tag keeps its first value.  Truncated or oversized data raises
    :class:`EidDataError`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EidDataError(f"eID data must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > MAX_FILE_LENGTH:
        raise EidDataError(f"eID file too long ({len(raw)} bytes)")
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        if tag == 0x00:
            if raw[pos:].strip(b"\x00"):
                raise EidDataError(f"data after the padding at offset {pos}")
            break
        pos += 1
        length = 0
        for _ in range(4):
            if pos >= len(raw):
                raise EidDataError(f"tag {tag}: length missing at offset {pos}")
            byte = raw[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        else:
            raise EidDataError(f"tag {tag}: length field too long")
        if pos + length > len(raw):
            raise EidDataError(f"tag {tag}: {length} bytes announced, {len(raw) - pos} left")
        fields.setdefault(tag, raw[pos : pos + length])
        pos += length
    return fields


def encode_tlv(fields: list[tuple[int, bytes]] | dict[int, bytes], *, pad_to: int = 0) -> bytes:
    """Build an eID-style TLV file (the inverse of :func:`parse_tlv`, for tests and emulators)."""
    items = fields.items() if isinstance(fields, dict) else fields
    out = bytearray()
    for tag, value in items:
        if not 1 <= tag <= 0xFF:
            raise ValueError("tag must be 1..255")
        length = len(value)
        groups = [length & 0x7F]
        length >>= 7
        while length:
            groups.append(0x80 | (length & 0x7F))
            length >>= 7
        out.append(tag)
        out += bytes(reversed(groups))
        out += value
    if len(out) < pad_to:
        out += b"\x00" * (pad_to - len(out))
    return bytes(out)


def national_number_valid(number: str) -> bool:
    """The modulo-97 check of a Belgian national register number (11 digits)."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    body, check = int(number[:9]), int(number[9:])
    # Born in 2000 or later: the check is computed over "2" + the first 9 digits.
    return check in (97 - body % 97, 97 - int("2" + number[:9]) % 97)


def _digits(fields: dict[int, bytes], tag: int, size: int, what: str) -> str:
    if tag not in fields:
        raise EidDataError(f"tag {tag} ({what}) missing")
    value = fields[tag]
    if len(value) != size or not value.isdigit():
        raise EidDataError(f"tag {tag} ({what}): expected {size} digits, got {len(value)} bytes")
    return value.decode("ascii")


def _date(fields: dict[int, bytes], tag: int) -> _dt.date | None:
    value = fields.get(tag)
    if value is None:
        return None
    try:
        text = value.decode("ascii")
        return _dt.datetime.strptime(text, "%d.%m.%Y").date()
    except (UnicodeDecodeError, ValueError):
        raise EidDataError(f"tag {tag}: not a dd.mm.yyyy date ({len(value)} bytes)") from None


def parse_identity(data: bytes) -> EidIdentity:
    """Parse the identity file; raises :class:`EidDataError` on anything odd."""
    fields = parse_tlv(data)
    card_number = _digits(fields, TAG_CARD_NUMBER, 12, "card number")
    national_number = _digits(fields, TAG_NATIONAL_NUMBER, 11, "national number")
    if not national_number_valid(national_number):
        raise EidDataError("national number fails its modulo-97 check")
    chip = fields.get(TAG_CHIP_NUMBER, b"")
    return EidIdentity(
        card_number=card_number,
        national_number=national_number,
        chip_number=chip.hex().upper(),
        valid_from=_date(fields, TAG_VALID_FROM),
        valid_until=_date(fields, TAG_VALID_UNTIL),
    )
