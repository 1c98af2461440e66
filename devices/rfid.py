"""PC/SC RFID item reader for ISO 15693 library tags: ``pcsc-rfid://``.

URL grammar::

    pcsc-rfid://                         # the first PC/SC reader
    pcsc-rfid://?reader=READER[&options] # the reader whose name contains READER
    pcsc-rfid://READER[?options]         # the same, READER in the path
    pcsc-rfid://OMNIKEY?style=omnikey&blocks=reversed

Options:

=============  =========================  =============  ========================================
option         type                       default        meaning
=============  =========================  =============  ========================================
style          transparent | omnikey      transparent    command style: PC/SC 2.02 transparent
                                                         session (``FF C2``) or Omnikey-style
                                                         vendor APDUs (``FF 30``, ``FF B0``,
                                                         ``FF D6``)
blocks         auto | normal | reversed   auto           byte order inside each 4-byte block
                                                         (some vendors store blocks reversed;
                                                         auto keeps the order whose CRC is right)
afi_secured    int                        0x07           AFI meaning "in library" (alarm on)
afi_unsecured  int                        0xC2           AFI meaning "on loan" (alarm off)
verify         bool                       true           read the AFI back after writing it
poll           float                      0.3            seconds between looks at the field
name           str                        -              label for logs and events
retry_initial  float                      0.2            first reconnect delay (s)
retry_max      float                      10             longest reconnect delay (s)
=============  =========================  =============  ========================================

Support table:

======================================================  =========================================
feature                                                 supported
======================================================  =========================================
several tags in the field (inventory)                   yes (reader-side anticollision)
ISO 28560-3 (Danish data model) decode, CRC check       yes (:mod:`devices.iso28560`)
blocks stored reversed                                  yes (``blocks=``, detected with ``auto``)
blank / foreign / corrupt tags                          reported in ``Tag.error``, never fatal
security by AFI (0x07 / 0xC2)                           yes: :meth:`PcscRfidReader.set_security`
programming a tag (encode + write blocks 0-7)           yes: :meth:`PcscRfidReader.program`
set with parts missing from the field                   yes: ``devices.base.missing_parts`` on
                                                        the tags, and a log line per scan change
TagsChanged events                                      yes, when the set of UIDs changes
reader unplugged / pcscd restarted                      lost once, backoff, back
ISO 28560-2 (object identifier encoding)                no (decoded as ``Tag.error``)
======================================================  =========================================

How the tags of the field appear through PC/SC: the reader shows a "card"
while at least one tag is in its field.  ``style=transparent`` uses a PC/SC
2.02 part 3 transparent session: ``FF C2 00 00 02 81 00`` (start), ``FF C2 00
02 04 8F 02 02 03`` (switch to ISO 15693 layer 3), ``FF C2 00 01 .. 95 len
<frame>`` (transceive raw ISO 15693 frames: Inventory 0x01, Get System
Information 0x2B, Read Multiple Blocks 0x23, Write Single Block 0x21, Write
AFI 0x27, addressed by UID), ``FF C2 00 00 02 82 00`` (end); an Inventory
answer holds one ``97`` response object per tag.  ``style=omnikey`` uses
vendor APDUs: ``FF 30 00 01 00`` (inventory: 8-byte UIDs), ``FF 30 00 02 08
<uid>`` (select), ``FF 30 00 03 00`` (system information), ``FF 30 00 04 01
<afi>`` (write AFI) and the PC/SC storage-card ``FF B0`` / ``FF D6`` for the
selected tag.  UIDs travel least significant byte first; ``Tag.uid`` is the
usual upper-case hex, most significant byte first (``E004...``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from . import iso28560
from .base import ItemReader, Tag, TagsChanged, missing_parts
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceProtocolError, DeviceUrlError
from .pcsc import CardGone, CardHandle, PcscDevice, PcscLink
from .url import Choice, DeviceUrl, OptionSpec

__all__ = [
    "PcscRfidReader",
    "SystemInfo",
    "TagMissing",
    "CommandStyle",
    "OmnikeyStyle",
    "TransparentStyle",
    "parse_system_info",
    "parse_data_objects",
]

log = logging.getLogger("devices.rfid")


class TagMissing(DeviceNotFound):
    """The addressed tag did not answer (it is not in the field)."""


@dataclass(frozen=True)
class SystemInfo:
    """ISO 15693 Get System Information, decoded."""

    wire_uid: bytes
    dsfid: int | None = None
    afi: int | None = None
    blocks: int | None = None
    block_size: int | None = None
    ic_reference: int | None = None


def parse_system_info(data: bytes) -> SystemInfo:
    """Decode a Get System Information answer *without* its leading response-flags byte."""
    if len(data) < 9:
        raise DeviceProtocolError(f"system information of {len(data)} bytes")
    info = data[0]
    uid = bytes(data[1:9])
    pos = 9
    fields: dict[str, int | None] = {}

    def take(count: int) -> bytes:
        nonlocal pos
        if pos + count > len(data):
            raise DeviceProtocolError(f"system information truncated at byte {pos}")
        chunk = bytes(data[pos : pos + count])
        pos += count
        return chunk

    if info & 0x01:
        fields["dsfid"] = take(1)[0]
    if info & 0x02:
        fields["afi"] = take(1)[0]
    if info & 0x04:
        mem = take(2)
        fields["blocks"] = mem[0] + 1
        fields["block_size"] = (mem[1] & 0x1F) + 1
    if info & 0x08:
        fields["ic_reference"] = take(1)[0]
    return SystemInfo(wire_uid=uid, **fields)


def parse_data_objects(data: bytes) -> list[tuple[int, bytes]]:
    """Split PC/SC 2.02 part 3 response data objects (tag, BER length, value)."""
    objects = []
    pos = 0
    while pos < len(data):
        tag = data[pos]
        pos += 1
        if pos >= len(data):
            raise DeviceProtocolError("data object without length")
        length = data[pos]
        pos += 1
        if length == 0x81 or length == 0x82:
            count = length - 0x80
            if pos + count > len(data):
                raise DeviceProtocolError("data object length truncated")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        elif length > 0x80:
            raise DeviceProtocolError(f"data object length form 0x{length:02X}")
        if pos + length > len(data):
            raise DeviceProtocolError(f"data object 0x{tag:02X}: {length} bytes announced, {len(data) - pos} left")
        objects.append((tag, bytes(data[pos : pos + length])))
        pos += length
    return objects


# --- command styles -----------------------------------------------------------------------------


class CommandStyle(ABC):
    """How to reach the ISO 15693 tags of the field through one reader's APDUs."""

    name: ClassVar[str]

    def __init__(self, card: CardHandle) -> None:
        self.card = card

    def begin(self) -> None:
        """Prepare a sequence of commands (e.g. open a transparent session)."""

    def end(self) -> None:
        """Finish it."""

    @abstractmethod
    def inventory(self) -> list[bytes]:
        """Wire UIDs (LSB first) of every tag in the field."""

    @abstractmethod
    def system_info(self, wire_uid: bytes) -> SystemInfo: ...

    @abstractmethod
    def read_blocks(self, wire_uid: bytes, first: int, count: int, block_size: int) -> bytes: ...

    @abstractmethod
    def write_block(self, wire_uid: bytes, block: int, data: bytes) -> None: ...

    @abstractmethod
    def write_afi(self, wire_uid: bytes, afi: int) -> None: ...

    def _apdu(self, apdu: bytes, what: str) -> bytes:
        data, sw = self.card.transmit(apdu)
        if sw != 0x9000:
            raise DeviceProtocolError(f"{what}: status {sw:04X}")
        return data


class OmnikeyStyle(CommandStyle):
    """Vendor APDUs in the ``FF 30`` class plus PC/SC storage-card read/update binary."""

    name = "omnikey"

    def __init__(self, card: CardHandle) -> None:
        super().__init__(card)
        self._selected: bytes | None = None

    def inventory(self) -> list[bytes]:
        data = self._apdu(b"\xff\x30\x00\x01\x00", "inventory")
        if len(data) % 8:
            raise DeviceProtocolError(f"inventory answer of {len(data)} bytes is not a list of UIDs")
        return [data[i : i + 8] for i in range(0, len(data), 8)]

    def _select(self, wire_uid: bytes) -> None:
        if self._selected == wire_uid:
            return
        data, sw = self.card.transmit(b"\xff\x30\x00\x02\x08" + wire_uid)
        if sw == 0x6A82:
            self._selected = None
            raise TagMissing("tag not in the field")
        if sw != 0x9000:
            raise DeviceProtocolError(f"select tag: status {sw:04X}")
        self._selected = wire_uid

    def system_info(self, wire_uid: bytes) -> SystemInfo:
        self._select(wire_uid)
        return parse_system_info(self._apdu(b"\xff\x30\x00\x03\x00", "system information"))

    def read_blocks(self, wire_uid: bytes, first: int, count: int, block_size: int) -> bytes:
        self._select(wire_uid)
        length = count * block_size
        if length > 0xFF:
            raise DeviceProtocolError(f"cannot read {length} bytes in one APDU")
        data = self._apdu(bytes([0xFF, 0xB0, 0x00, first, length]), "read blocks")
        if len(data) != length:
            raise DeviceProtocolError(f"read {len(data)} bytes, asked {length}")
        return data

    def write_block(self, wire_uid: bytes, block: int, data: bytes) -> None:
        self._select(wire_uid)
        self._apdu(bytes([0xFF, 0xD6, 0x00, block, len(data)]) + data, "write block")

    def write_afi(self, wire_uid: bytes, afi: int) -> None:
        self._select(wire_uid)
        self._apdu(bytes([0xFF, 0x30, 0x00, 0x04, 0x01, afi]), "write AFI")


_START = bytes.fromhex("FFC20000028100")
_END = bytes.fromhex("FFC20000028200")
_ISO15693 = bytes.fromhex("FFC20002048F020203")
_FLAGS_ADDRESSED = 0x22  # addressed + high data rate
_FLAGS_INVENTORY = 0x26  # inventory + 1 slot + high data rate


class TransparentStyle(CommandStyle):
    """PC/SC 2.02 part 3 transparent exchange (``FF C2``) with raw ISO 15693 frames."""

    name = "transparent"

    def _manage(self, apdu: bytes, what: str) -> list[tuple[int, bytes]]:
        objects = parse_data_objects(self._apdu(apdu, what))
        for tag, value in objects:
            if tag == 0xC0 and value != b"\x00\x90\x00":
                raise DeviceProtocolError(f"{what}: reader status {value.hex().upper()}")
        return objects

    def begin(self) -> None:
        self._manage(_START, "start transparent session")
        self._manage(_ISO15693, "switch to ISO 15693")

    def end(self) -> None:
        self._manage(_END, "end transparent session")

    def transceive(self, frame: bytes) -> list[bytes]:
        """Send a raw frame; the tags' answers (empty: nobody answered)."""
        if len(frame) > 0xFD:
            raise DeviceProtocolError("ISO 15693 frame too long")
        body = bytes([0x95, len(frame)]) + frame
        apdu = bytes([0xFF, 0xC2, 0x00, 0x01, len(body)]) + body + b"\x00"
        answers = []
        for tag, value in parse_data_objects(self._apdu(apdu, "transceive")):
            if tag == 0xC0:
                if value[1:3] == b"\x64\x01":
                    return []  # no answer within the time-out: no such tag in the field
                if value != b"\x00\x90\x00":
                    raise DeviceProtocolError(f"transceive: reader status {value.hex().upper()}")
            elif tag == 0x97:
                answers.append(value)
        return answers

    def _addressed(self, cmd: int, wire_uid: bytes, args: bytes, what: str) -> bytes:
        answers = self.transceive(bytes([_FLAGS_ADDRESSED, cmd]) + wire_uid + args)
        if not answers:
            raise TagMissing("tag not in the field")
        answer = answers[0]
        if not answer:
            raise DeviceProtocolError(f"{what}: empty answer")
        if answer[0] & 0x01:
            code = answer[1] if len(answer) > 1 else -1
            raise DeviceProtocolError(f"{what}: tag error 0x{code & 0xFF:02X}")
        return answer[1:]

    def inventory(self) -> list[bytes]:
        uids = []
        for answer in self.transceive(bytes([_FLAGS_INVENTORY, 0x01, 0x00])):
            if len(answer) != 10 or answer[0] & 0x01:
                raise DeviceProtocolError(f"inventory answer of {len(answer)} bytes")
            uids.append(answer[2:10])
        return uids

    def system_info(self, wire_uid: bytes) -> SystemInfo:
        return parse_system_info(self._addressed(0x2B, wire_uid, b"", "system information"))

    def read_blocks(self, wire_uid: bytes, first: int, count: int, block_size: int) -> bytes:
        data = self._addressed(0x23, wire_uid, bytes([first, count - 1]), "read blocks")
        if len(data) != count * block_size:
            raise DeviceProtocolError(f"read {len(data)} bytes, asked {count * block_size}")
        return data

    def write_block(self, wire_uid: bytes, block: int, data: bytes) -> None:
        self._addressed(0x21, wire_uid, bytes([block]) + data, "write block")

    def write_afi(self, wire_uid: bytes, afi: int) -> None:
        self._addressed(0x27, wire_uid, bytes([afi]), "write AFI")


STYLES: dict[str, type[CommandStyle]] = {"omnikey": OmnikeyStyle, "transparent": TransparentStyle}


def _afi(text: str) -> int:
    value = int(text.strip(), 0)
    if not 0 <= value <= 0xFF:
        raise ValueError("an AFI is one byte, 0x00..0xFF")
    return value


# --- the driver -----------------------------------------------------------------------------


class PcscRfidReader(PcscDevice, ItemReader):
    """ISO 15693 library tags on a PC/SC reader (see the module docstring)."""

    SCHEMES: ClassVar[tuple[str, ...]] = ("pcsc-rfid",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "style": (Choice("transparent", "omnikey"), "transparent", "command style: transparent (FF C2) or omnikey (FF 30)"),
        "blocks": (Choice("auto", "normal", "reversed"), "auto", "byte order inside each block"),
        "afi_secured": (_afi, iso28560.AFI_IN_LIBRARY, "AFI meaning in library (security on)"),
        "afi_unsecured": (_afi, iso28560.AFI_ON_LOAN, "AFI meaning on loan (security off)"),
        "verify": (bool, True, "read the AFI back after writing it"),
        "poll": (float, 0.3, "seconds between looks at the field"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if self.options["afi_secured"] == self.options["afi_unsecured"]:
            raise DeviceUrlError("afi_secured and afi_unsecured must differ")
        self._style_class = STYLES[self.options["style"]]
        self._io = threading.Lock()
        self._card: CardHandle | None = None
        self._cache: dict[bytes, Tag] = {}  # wire uid -> decoded tag, for the tags in the field
        self._reversed: dict[bytes, bool] = {}
        self._last_uids: tuple[str, ...] = ()
        self._last_problem = ""
        self._last_problem_at = 0.0

    # -- card connection (under self._io) --
    def _handle(self, link: PcscLink) -> CardHandle:
        if self._card is None:
            self._card = link.connect()
        return self._card

    def _drop_card(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            card.close()

    def _run(self, func: Any) -> Any:
        """Run ``func(style)`` on the field under the I/O lock; a fresh connection on CardGone."""
        link = self._link
        if link is None:
            raise DeviceDisconnected(f"{self.label}: not connected")
        with self._io:
            for attempt in range(3):
                try:
                    style = self._style_class(self._handle(link))
                    style.begin()
                    try:
                        return func(style)
                    finally:
                        try:
                            style.end()
                        except CardGone:
                            raise
                        except DeviceError as exc:
                            log.debug("%s: end of session: %s", self.label, exc)
                except CardGone:
                    self._drop_card()
                    if attempt == 2 or self._stop.wait(0.1 * (attempt + 1)):
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- decoding --
    def _decode(self, style: CommandStyle, wire_uid: bytes) -> Tag:
        uid = wire_uid[::-1].hex().upper()
        info = style.system_info(wire_uid)
        afi = info.afi
        secured = afi == self.options["afi_secured"]
        block_size = info.block_size or iso28560.BLOCK_SIZE
        count = -(-iso28560.DATA_LENGTH // block_size)
        raw = style.read_blocks(wire_uid, 0, count, block_size)[: iso28560.DATA_LENGTH]
        try:
            mode = self.options["blocks"]
            if mode == "auto":
                data, flipped = iso28560.decode_auto(raw)
            else:
                flipped = mode == "reversed"
                data = iso28560.decode(raw, reversed_blocks=flipped)
        except iso28560.TagDataError as exc:
            return Tag(uid=uid, afi=afi, secured=secured, raw=raw, error=str(exc))
        self._reversed[wire_uid] = flipped
        return Tag(
            uid=uid,
            item_id=data.item_id,
            set_parts=data.set_parts,
            part_number=data.part_number,
            usage=data.usage,
            country=data.country,
            isil=data.isil,
            afi=afi,
            secured=secured,
            raw=raw,
        )

    def _scan(self, style: CommandStyle, refresh: bool) -> list[Tag]:
        uids = style.inventory()
        fresh: dict[bytes, Tag] = {}
        for wire_uid in uids:
            tag = None if refresh else self._cache.get(wire_uid)
            if tag is None:
                try:
                    tag = self._decode(style, wire_uid)
                except TagMissing:
                    continue  # left the field between inventory and read
                except (CardGone, DeviceDisconnected):
                    raise
                except DeviceProtocolError as exc:
                    # One tag answering nonsense must not hide the others.
                    tag = Tag(uid=wire_uid[::-1].hex().upper(), error=f"unreadable: {exc}")
            fresh[wire_uid] = tag
        self._cache = fresh
        for gone in set(self._reversed) - set(fresh):
            del self._reversed[gone]
        return sorted(fresh.values(), key=lambda t: t.uid)

    def _scan_field(self, link: PcscLink, refresh: bool) -> list[Tag]:
        try:
            return self._run(lambda style: self._scan(style, refresh))
        except CardGone:
            with self._io:
                self._cache = {}
                self._reversed = {}
            return []

    # -- watcher thread --
    def _on_poll(self, link: PcscLink, change: bool | None) -> None:
        if change is False or not link.present:
            tags: list[Tag] = []
            with self._io:
                self._drop_card()
                self._cache = {}
                self._reversed = {}
        else:
            try:
                tags = self._scan_field(link, refresh=False)
            except DeviceDisconnected:
                raise
            except DeviceError as exc:
                # Once per kind of trouble (and at most every minute), not on every poll.
                kind = type(exc).__name__
                now = time.monotonic()
                if kind != self._last_problem or now - self._last_problem_at > 60:
                    log.warning("%s: reading the field failed: %s: %s", self.label, kind, exc)
                    self._last_problem, self._last_problem_at = kind, now
                with self._io:
                    self._drop_card()
                return
        self._last_problem = ""
        self._last_problem_at = 0.0
        self._publish(tags)

    def _publish(self, tags: list[Tag]) -> None:
        uids = tuple(t.uid for t in tags)
        if uids == self._last_uids:
            return
        before = set(self._last_uids)
        self._last_uids = uids
        added = tuple(u for u in uids if u not in before)
        removed = tuple(sorted(before - set(uids)))
        incomplete = missing_parts(tags)
        if incomplete:
            log.info(
                "%s: %d incomplete set(s) in the field (%s)",
                self.label,
                len(incomplete),
                ", ".join(f"{len(parts)} part(s) missing" for parts in incomplete.values()),
            )
        bad = sum(1 for t in tags if t.error)
        log.info("%s: %d tag(s) in the field (+%d -%d, %d undecodable)", self.label, len(tags), len(added), len(removed), bad)
        self._emit_threadsafe(TagsChanged(tuple(tags), added, removed))

    def _forget_field(self) -> None:
        with self._io:
            self._drop_card()
            self._cache = {}
            self._reversed = {}

    async def _disconnect(self) -> None:
        await super()._disconnect()
        # Under the I/O lock, which a call in a worker thread may hold: not in the loop thread.
        await asyncio.to_thread(self._forget_field)
        self._last_uids = ()

    # -- public API --
    async def inventory(self, *, refresh: bool = False) -> list[Tag]:
        """The tags in the field now, decoded, sorted by UID.

        Tags seen before and still in the field are not read again unless
        *refresh* is true (their AFI is kept up to date by :meth:`set_security`).
        """
        self._require_ok()
        link = self._link
        if link is None:
            raise DeviceDisconnected(f"{self.label}: not connected")
        try:
            return await asyncio.to_thread(self._scan_field, link, refresh)
        except DeviceDisconnected as exc:
            self._connection_failed(str(exc))
            raise

    async def set_security(self, uid: str, secured: bool) -> None:
        """Write the AFI of tag *uid*: ``afi_secured`` (True) or ``afi_unsecured`` (False).

        Raises :class:`~devices.errors.DeviceNotFound` when the tag is not in
        the field and :class:`~devices.errors.DeviceProtocolError` when the
        read-back AFI differs.
        """
        self._require_ok()
        wire_uid = _wire_uid(uid)
        afi = self.options["afi_secured"] if secured else self.options["afi_unsecured"]

        def work(style: CommandStyle) -> None:
            style.write_afi(wire_uid, afi)
            if self.options["verify"]:
                got = style.system_info(wire_uid).afi
                if got is not None and got != afi:
                    raise DeviceProtocolError(f"AFI read back as 0x{got:02X}, wrote 0x{afi:02X}")
            tag = self._cache.get(wire_uid)
            if tag is not None:
                self._cache[wire_uid] = replace(tag, afi=afi, secured=bool(secured))

        await self._call(work)

    async def program(self, uid: str, data: iso28560.LibraryTagData) -> Tag:
        """Encode *data* and write it to blocks 0-7 of tag *uid*; returns the tag read back.

        The block order follows ``blocks=`` (``auto``: the order the tag was
        read in, normal for a blank tag).
        """
        self._require_ok()
        wire_uid = _wire_uid(uid)
        mode = self.options["blocks"]

        def work(style: CommandStyle) -> Tag:
            flipped = mode == "reversed" or (mode == "auto" and self._reversed.get(wire_uid, False))
            raw = iso28560.encode(data, reversed_blocks=flipped)
            info = style.system_info(wire_uid)
            size = info.block_size or iso28560.BLOCK_SIZE
            for block in range(len(raw) // size):
                style.write_block(wire_uid, block, raw[block * size : (block + 1) * size])
            tag = self._decode(style, wire_uid)
            if tag.error:
                raise DeviceProtocolError(f"tag reads back wrong after programming: {tag.error}")
            self._cache[wire_uid] = tag
            return tag

        return await self._call(work)

    async def _call(self, work: Any) -> Any:
        link = self._link
        if link is None:
            raise DeviceDisconnected(f"{self.label}: not connected")
        try:
            return await asyncio.to_thread(self._run, work)
        except CardGone:
            raise DeviceNotFound(f"{self.label}: no tag in the field") from None
        except DeviceDisconnected as exc:
            self._connection_failed(str(exc))
            raise


def _wire_uid(uid: str) -> bytes:
    try:
        raw = bytes.fromhex(uid)
    except (ValueError, TypeError):
        raise DeviceNotFound("not an ISO 15693 UID (16 hex digits)") from None
    if len(raw) != 8:
        raise DeviceNotFound("not an ISO 15693 UID (16 hex digits)")
    return raw[::-1]
