"""ISO 28560-3 (the Danish data model) for ISO 15693 library tags: pure codec.

The first 32 bytes of the tag's user memory (blocks 0-7 of 4 bytes) hold:

======  =======================================================================
bytes   field
======  =======================================================================
0       version (high nibble, 1) and usage (low nibble: 0 acquisition,
        1 circulating, 2 reference, 7 discarded, 8 patron card)
1       number of parts in the set (1 for a single item)
2       part number (1-based)
3-18    primary item identifier (ASCII, NUL padded, 16 bytes)
19-20   CRC, least significant byte first
21-22   country of the owner library (ISO 3166 alpha-2, e.g. ``BE``)
23-31   ISIL of the owner library (ASCII, NUL padded, 9 bytes on 32-byte tags)
======  =======================================================================

The CRC is CRC-16/CCITT (polynomial 0x1021, initial value 0xFFFF, no final
xor) over bytes 0-18 and 21-31 followed by two zero bytes (the data model has
34 bytes; a 32-byte tag stores the last two as implicit zeros).  Reference:
the ASCII text ``RFID tag data model`` gives 0x1AEE.

Some vendors write each 4-byte block with its bytes in reverse order;
:func:`decode` takes ``reversed_blocks=`` (or use :func:`decode_auto`, which
tries both orders and keeps the one whose CRC matches).

Security is the tag's AFI (application family identifier), not part of these
32 bytes: :data:`AFI_IN_LIBRARY` (0x07) means "in the library, alarm on", and
:data:`AFI_ON_LOAN` (0xC2) "checked out".

Nothing here does I/O; bad bytes raise :class:`TagDataError` (a
:class:`~devices.errors.DeviceProtocolError`).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from .base import AFI_IN_LIBRARY, AFI_ON_LOAN, TagUsage
from .errors import DeviceProtocolError

__all__ = [
    "AFI_IN_LIBRARY",
    "AFI_ON_LOAN",
    "BLOCK_SIZE",
    "DATA_LENGTH",
    "VERSION",
    "TagDataError",
    "Usage",
    "LibraryTagData",
    "crc16",
    "data_crc",
    "reverse_blocks",
    "decode",
    "decode_auto",
    "encode",
    "is_blank",
]

BLOCK_SIZE = 4
DATA_LENGTH = 32
VERSION = 1
ITEM_ID_LENGTH = 16
ISIL_LENGTH = 9

#: ISO 28560-3 type of usage (low nibble of byte 0); the same enum as :class:`devices.base.TagUsage`.
Usage = TagUsage


class TagDataError(DeviceProtocolError):
    """The tag's memory does not hold valid ISO 28560-3 data."""


@dataclass(frozen=True)
class LibraryTagData:
    """The decoded content of one tag (what :func:`encode` writes back)."""

    item_id: str
    usage: int = Usage.CIRCULATING
    set_parts: int = 1
    part_number: int = 1
    country: str = ""
    isil: str = ""
    version: int = VERSION

    @property
    def is_set(self) -> bool:
        """True when the item is one part of a multi-part set."""
        return self.set_parts > 1


def crc16(data: bytes, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT (poly 0x1021, MSB first, no final xor) as the data model uses it."""
    return binascii.crc_hqx(bytes(data), init)


def data_crc(data: bytes) -> int:
    """The CRC of a 32-byte data block (the CRC bytes themselves are skipped)."""
    if len(data) < DATA_LENGTH:
        raise TagDataError(f"need {DATA_LENGTH} bytes of tag data, got {len(data)}")
    return crc16(bytes(data[0:19]) + bytes(data[21:DATA_LENGTH]) + b"\x00\x00")


def reverse_blocks(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Reverse the byte order inside each block (its own inverse)."""
    if block_size < 1 or len(data) % block_size:
        raise TagDataError(f"{len(data)} bytes is not a whole number of {block_size}-byte blocks")
    out = bytearray()
    for start in range(0, len(data), block_size):
        out += bytes(reversed(data[start : start + block_size]))
    return bytes(out)


def is_blank(data: bytes) -> bool:
    """True for a tag that was never programmed (all zeros or all 0xFF)."""
    head = bytes(data[:DATA_LENGTH])
    return head == b"\x00" * len(head) or head == b"\xff" * len(head)


def _text(raw: bytes, field_name: str) -> str:
    value = raw.split(b"\x00", 1)[0]
    rest = raw[len(value) :]
    if rest.strip(b"\x00"):
        raise TagDataError(f"{field_name}: data after the NUL padding")
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise TagDataError(f"{field_name}: not ASCII ({len(value)} bytes)") from None
    if not text.isprintable():
        raise TagDataError(f"{field_name}: control characters ({len(value)} bytes)")
    return text


def decode(data: bytes, *, reversed_blocks: bool = False, check_crc: bool = True) -> LibraryTagData:
    """Decode the first 32 bytes of a tag's memory; raises :class:`TagDataError`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TagDataError(f"tag data must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if len(raw) < DATA_LENGTH:
        raise TagDataError(f"need {DATA_LENGTH} bytes of tag data, got {len(raw)}")
    raw = raw[:DATA_LENGTH]
    if reversed_blocks:
        raw = reverse_blocks(raw)
    if is_blank(raw):
        raise TagDataError("blank tag (never programmed)")
    version = raw[0] >> 4
    if version != VERSION:
        raise TagDataError(f"unsupported data model version {version}")
    if check_crc:
        stored = raw[19] | (raw[20] << 8)
        if stored != data_crc(raw):
            raise TagDataError("CRC mismatch")
    set_parts, part_number = raw[1], raw[2]
    if set_parts == 0 or part_number == 0 or part_number > set_parts:
        raise TagDataError(f"impossible part {part_number} of {set_parts}")
    item_id = _text(raw[3:19], "item id")
    if not item_id:
        raise TagDataError("empty item id")
    return LibraryTagData(
        version=version,
        usage=raw[0] & 0x0F,
        set_parts=set_parts,
        part_number=part_number,
        item_id=item_id,
        country=_text(raw[21:23], "country"),
        isil=_text(raw[23:32], "ISIL"),
    )


def decode_auto(data: bytes) -> tuple[LibraryTagData, bool]:
    """Decode in whichever block order has a valid CRC.

    Returns ``(data, reversed_blocks)``; normal order wins when both match.
    """
    try:
        return decode(data), False
    except TagDataError as first:
        try:
            return decode(data, reversed_blocks=True), True
        except TagDataError:
            raise first from None


def _ascii_field(value: str, size: int, field_name: str) -> bytes:
    if not isinstance(value, str):
        raise TagDataError(f"{field_name} must be text")
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise TagDataError(f"{field_name}: only ASCII is allowed") from None
    if not value.isprintable():
        raise TagDataError(f"{field_name}: control characters")
    if len(raw) > size:
        raise TagDataError(f"{field_name}: {len(raw)} bytes, at most {size}")
    return raw.ljust(size, b"\x00")


def encode(tag: LibraryTagData, *, reversed_blocks: bool = False) -> bytes:
    """The 32 bytes to write to blocks 0-7; raises :class:`TagDataError` on bad values."""
    if not 0 <= tag.usage <= 0x0F:
        raise TagDataError(f"usage {tag.usage} does not fit a nibble")
    if tag.version != VERSION:
        raise TagDataError(f"can only write data model version {VERSION}")
    if not 1 <= tag.set_parts <= 255 or not 1 <= tag.part_number <= tag.set_parts:
        raise TagDataError(f"impossible part {tag.part_number} of {tag.set_parts}")
    if not tag.item_id:
        raise TagDataError("empty item id")
    if tag.country and len(tag.country) != 2:
        raise TagDataError("country must be two letters (ISO 3166 alpha-2) or empty")
    out = bytearray(DATA_LENGTH)
    out[0] = (tag.version << 4) | tag.usage
    out[1] = tag.set_parts
    out[2] = tag.part_number
    out[3:19] = _ascii_field(tag.item_id, ITEM_ID_LENGTH, "item id")
    out[21:23] = _ascii_field(tag.country, 2, "country")
    out[23:32] = _ascii_field(tag.isil, ISIL_LENGTH, "ISIL")
    crc = data_crc(out)
    out[19] = crc & 0xFF
    out[20] = crc >> 8
    raw = bytes(out)
    return reverse_blocks(raw) if reversed_blocks else raw
