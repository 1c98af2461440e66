"""A card emulator for Debian's ``vsmartcard-vpcd`` virtual PC/SC reader.

vpcd (loaded by pcscd) listens on TCP 35963 (``Virtual PCD 00 00``) and 35964
(``Virtual PCD 00 01``).  A card "is in the reader" while an emulator is
connected to that port.  The protocol: every message is a 2-byte big-endian
length and a payload.  From vpcd, a 1-byte payload is a control code (0 power
off, 1 power on, 2 reset: no answer; 4: answer with the ATR); anything longer
is a command APDU, answered with the response APDU.  pcscd asks for the ATR
about every 0.4 s to see whether the card is still there.

One :class:`VpcdEmulator` per vpcd slot; put a card in with
:meth:`VpcdEmulator.insert` and take it out with :meth:`VpcdEmulator.remove`.
Cards:

* :class:`ContactlessCard` - answers ``FF CA 00 00 00`` with its UID.
* :class:`BelgianEidCard` - ``SELECT`` by path ``3F00/DF01/4031`` and
  ``READ BINARY`` of the identity file (TLV), no PIN.
* :class:`TagField` - the RF field of an ISO 15693 library reader with any
  number of :class:`EmulatedTag` in it (see "Several tags in the field").
* :class:`GarbageCard` - answers every APDU with nonsense.

Several tags in the field
-------------------------
A PC/SC reader shows one "card"; an RFID library reader has many tags in its
field.  The emulated reader is present as a card while its field holds at
least one tag (a test calls ``insert(field)`` / ``remove()``); tags can be
added and taken away while it is present.  It understands two command
styles, both always on (the driver picks one by its ``style=`` URL option;
:attr:`TagField.log` records which APDUs arrived):

``omnikey`` (vendor APDUs in the ``FF 30`` class, modelled on Omnikey's
storage-card commands; tag UIDs on the wire are least significant byte first,
as ISO 15693 transmits them):

==========================  ================================================
``FF 30 00 01 00``          inventory: every UID in the field, 8 bytes each
``FF 30 00 02 08 <uid>``    select that tag (``6A 82`` if not in the field);
                            the commands below address the selected tag (the
                            first tag if none is selected)
``FF 30 00 03 00``          system information: the ISO 15693 Get System
                            Information response without its flags byte
                            (info flags, UID, DSFID, AFI, blocks-1,
                            block size-1, IC reference)
``FF 30 00 04 01 <afi>``    write the AFI
``FF CA 00 00 00``          UID of the selected tag
``FF B0 00 <blk> <Le>``     read Le bytes (a multiple of 4) from block blk
``FF D6 00 <blk> <Lc> ..``  write Lc bytes (a multiple of 4) from block blk
==========================  ================================================

``transparent`` (PC/SC 2.02 part 3 transparent exchange, ``FF C2``): start
session ``FF C2 00 00 02 81 00``, switch to ISO 15693 layer 3 ``FF C2 00 02
04 8F 02 02 03``, transceive ``FF C2 00 01 Lc 95 len <raw ISO 15693 frame>
00``, end session ``FF C2 00 00 02 82 00``.  Every answer starts with the
generic error status ``C0 03 00 90 00`` (or ``C0 03 01 64 01``: no tag
answered).  Raw commands: Inventory (0x01; the emulated reader resolves
collisions itself and returns one ``97`` response object per tag: ``00 DSFID
UID``), Read Single Block (0x20), Write Single Block (0x21), Read Multiple
Blocks (0x23), Write AFI (0x27), Get System Information (0x2B); addressed
(flag 0x20, UID after the command byte) or not (first tag).  An addressed tag
that is not in the field does not answer.
"""

from __future__ import annotations

import binascii
import random
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

VPCD_HOST = "127.0.0.1"
VPCD_PORTS = (35963, 35964)
READER_NAMES = ("Virtual PCD 00 00", "Virtual PCD 00 01")

# A contactless ISO 15693 "card" (PC/SC part 3 ATR, standard 0x0B).
ATR_ISO15693 = bytes.fromhex("3B8F8001804F0CA0000003060B00140000000077")
# A contactless ISO 14443 A card (PC/SC part 3 ATR for a MIFARE Classic 1K).
ATR_ISO14443A = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
# A Belgian eID (applet 1.7 style ATR).
ATR_BELGIAN_EID = bytes.fromhex("3B9813400AA503010101AD1311")

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_P1P2 = b"\x6B\x00"
SW_NOT_FOUND = b"\x6A\x82"
SW_INS_NOT_SUPPORTED = b"\x6D\x00"
SW_CLA_NOT_SUPPORTED = b"\x6E\x00"
SW_FUNC_NOT_SUPPORTED = b"\x6A\x81"


class Card(ABC):
    """Something vpcd can power and send APDUs to."""

    atr: bytes = ATR_ISO14443A

    def __init__(self) -> None:
        self.log: list[bytes] = []
        self.times: list[float] = []  # time.monotonic() when each APDU arrived
        self.lock = threading.Lock()

    def power_on(self) -> None:
        """Power on (no answer)."""

    def power_off(self) -> None:
        """Power off (no answer)."""

    def reset(self) -> None:
        """Warm reset (no answer)."""

    def handle(self, apdu: bytes) -> bytes:
        with self.lock:
            self.times.append(time.monotonic())
            self.log.append(bytes(apdu))
            return self.apdu(bytes(apdu))

    @abstractmethod
    def apdu(self, apdu: bytes) -> bytes:
        """The response APDU (data + SW1 SW2) to *apdu*."""


class ContactlessCard(Card):
    """A contactless card that only tells its UID (``FF CA 00 00 00``)."""

    def __init__(self, uid: bytes, atr: bytes = ATR_ISO14443A) -> None:
        super().__init__()
        self.uid = bytes(uid)
        self.atr = atr

    def apdu(self, apdu: bytes) -> bytes:
        if apdu[:4] == b"\xff\xca\x00\x00":
            return self.uid + SW_OK
        if apdu[:1] == b"\xff":
            return SW_FUNC_NOT_SUPPORTED
        return SW_CLA_NOT_SUPPORTED


def eid_tlv(fields: list[tuple[int, bytes]], pad_to: int = 0) -> bytes:
    """Encode a Belgian eID TLV file (independent of the code under test)."""
    out = bytearray()
    for tag, value in fields:
        length = len(value)
        groups = [length & 0x7F]
        length >>= 7
        while length:
            groups.append(0x80 | (length & 0x7F))
            length >>= 7
        out += bytes([tag, *reversed(groups)]) + value
    return bytes(out).ljust(pad_to, b"\x00")


def eid_identity_file(
    card_number: str = "591123456782",
    national_number: str = "85073003328",
    *,
    surname: str = "Peeters",
    first_names: str = "Jan Maria",
    pad_to: int = 0,
) -> bytes:
    """A plausible identity file (the real one is about 200 bytes, padded)."""
    return eid_tlv(
        [
            (1, card_number.encode()),
            (2, bytes(range(0x10, 0x20))),
            (3, b"01.02.2020"),
            (4, b"01.02.2030"),
            (5, "Gent".encode("utf-8")),
            (6, national_number.encode()),
            (7, surname.encode("utf-8")),
            (8, first_names.encode("utf-8")),
            (9, b"J"),
            (10, "Belg".encode("utf-8")),
            (11, "Gent".encode("utf-8")),
            (12, b"30 JUL 1985"),
            (13, b"M"),
            (14, b""),
            (15, b"01"),
            (16, b"0"),
            (17, bytes(20)),
        ],
        pad_to=pad_to,
    )


class BelgianEidCard(Card):
    """A Belgian eID: the identity file 3F00/DF01/4031, read without PIN."""

    atr = ATR_BELGIAN_EID
    PATH = bytes.fromhex("3F00DF014031")

    def __init__(self, identity_file: bytes | None = None) -> None:
        super().__init__()
        self.identity_file = identity_file if identity_file is not None else eid_identity_file()
        self.selected = False

    def reset(self) -> None:
        self.selected = False

    def power_off(self) -> None:
        self.selected = False

    def apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0x00:
            return SW_CLA_NOT_SUPPORTED
        if ins == 0xA4:  # SELECT
            if p1 == 0x08 and len(apdu) >= 5 and apdu[5 : 5 + apdu[4]] == self.PATH:
                self.selected = True
                return SW_OK
            self.selected = False
            return SW_NOT_FOUND
        if ins == 0xB0:  # READ BINARY
            if not self.selected:
                return b"\x69\x86"  # command not allowed: no current EF
            offset = (p1 << 8) | p2
            le = apdu[4] if len(apdu) > 4 else 0
            le = le or 256
            if offset >= len(self.identity_file):
                return SW_WRONG_P1P2
            chunk = self.identity_file[offset : offset + le]
            if len(chunk) < le and apdu[4:5] != b"\x00":
                # Le longer than what is left: tell the real length (6C xx), as the card does.
                return bytes([0x6C, len(chunk)])
            return chunk + SW_OK
        return SW_INS_NOT_SUPPORTED


class GarbageCard(Card):
    """Answers APDUs with nonsense, cycling through *responses*.

    The default mix: one byte (no status word), random bytes, an error
    status, an eID-like TLV announcing more than there is, random data with
    ``90 00``.
    """

    def __init__(self, responses: list[bytes] | None = None, *, seed: int = 7, atr: bytes = ATR_ISO14443A) -> None:
        super().__init__()
        rng = random.Random(seed)
        self.responses = responses or [
            b"\x90",
            bytes(rng.randrange(256) for _ in range(rng.randrange(2, 300))),
            b"\x6f\x00",
            b"\x01\xff\x7f" + bytes(40) + SW_OK,
            bytes(rng.randrange(256) for _ in range(7)) + SW_OK,
        ]
        self.atr = atr
        self.count = 0

    def apdu(self, apdu: bytes) -> bytes:
        response = self.responses[self.count % len(self.responses)]
        self.count += 1
        return response


# --- ISO 15693 library tags -------------------------------------------------------------------


def danish_crc(data32: bytes) -> int:
    return binascii.crc_hqx(bytes(data32[0:19]) + bytes(data32[21:32]) + b"\x00\x00", 0xFFFF)


def danish_data(
    item_id: str,
    *,
    usage: int = 1,
    set_parts: int = 1,
    part_number: int = 1,
    country: str = "BE",
    isil: str = "BE-GNT01",
    reversed_blocks: bool = False,
    bad_crc: bool = False,
) -> bytes:
    """32 bytes of ISO 28560-3 data, written by hand (independent of devices.iso28560)."""
    out = bytearray(32)
    out[0] = 0x10 | usage
    out[1] = set_parts
    out[2] = part_number
    out[3:19] = item_id.encode("ascii").ljust(16, b"\x00")
    out[21:23] = country.encode("ascii").ljust(2, b"\x00")
    out[23:32] = isil.encode("ascii").ljust(9, b"\x00")
    crc = danish_crc(out) ^ (0x5555 if bad_crc else 0)
    out[19], out[20] = crc & 0xFF, crc >> 8
    if reversed_blocks:
        out = bytearray(b"".join(bytes(reversed(out[i : i + 4])) for i in range(0, 32, 4)))
    return bytes(out)


@dataclass
class EmulatedTag:
    """One ISO 15693 tag: UID (most significant byte first, E0...), memory, AFI."""

    uid: bytes
    memory: bytearray
    afi: int = 0x07
    dsfid: int = 0x00
    block_size: int = 4
    ic_reference: int = 0x01
    writes: int = 0

    @property
    def wire_uid(self) -> bytes:
        return bytes(reversed(self.uid))

    @property
    def blocks(self) -> int:
        return len(self.memory) // self.block_size

    def system_info(self) -> bytes:
        """Get System Information response without the leading flags byte."""
        return bytes([0x0F]) + self.wire_uid + bytes(
            [self.dsfid, self.afi, self.blocks - 1, self.block_size - 1, self.ic_reference]
        )

    def read(self, first: int, count: int) -> bytes | None:
        if first < 0 or count < 1 or first + count > self.blocks:
            return None
        return bytes(self.memory[first * self.block_size : (first + count) * self.block_size])

    def write(self, first: int, data: bytes) -> bool:
        if len(data) % self.block_size or first < 0 or first + len(data) // self.block_size > self.blocks:
            return False
        self.memory[first * self.block_size : first * self.block_size + len(data)] = data
        self.writes += 1
        return True


def library_tag(item_id: str, n: int = 0, *, afi: int = 0x07, blocks: int = 28, **kwargs) -> EmulatedTag:
    """A programmed library tag with UID ``E0 04 01 00 00 00 nn nn`` (NXP ICODE SLIX style)."""
    uid = bytes([0xE0, 0x04, 0x01, 0x00, 0x00, 0x00, (n >> 8) & 0xFF, n & 0xFF])
    memory = bytearray(danish_data(item_id, **kwargs)).ljust(blocks * 4, b"\x00")
    return EmulatedTag(uid=uid, memory=memory, afi=afi)


_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
_GENERIC_OK = b"\xc0\x03\x00\x90\x00"
_GENERIC_TIMEOUT = b"\xc0\x03\x01\x64\x01"


class TagField(Card):
    """The RF field of an ISO 15693 reader with several tags (see module docstring)."""

    atr = ATR_ISO15693

    def __init__(self, tags: list[EmulatedTag] | None = None) -> None:
        super().__init__()
        self.tags: list[EmulatedTag] = list(tags or [])
        self.selected: EmulatedTag | None = None
        self.session = False

    # -- test controls --
    def place(self, *tags: EmulatedTag) -> None:
        with self.lock:
            self.tags.extend(tags)

    def take(self, uid: bytes) -> None:
        with self.lock:
            self.tags = [t for t in self.tags if t.uid != uid]
            if self.selected is not None and self.selected.uid == uid:
                self.selected = None

    def tag(self, uid: bytes) -> EmulatedTag:
        for t in self.tags:
            if t.uid == uid:
                return t
        raise KeyError(uid.hex())

    def styles_seen(self) -> set[str]:
        seen = set()
        for apdu in self.log:
            if apdu[:2] == b"\xff\x30":
                seen.add("omnikey")
            elif apdu[:2] == b"\xff\xc2":
                seen.add("transparent")
        return seen

    def reset(self) -> None:
        self.selected = None
        self.session = False

    power_off = reset

    def _find_wire(self, wire_uid: bytes) -> EmulatedTag | None:
        for t in self.tags:
            if t.wire_uid == wire_uid:
                return t
        return None

    def _current(self) -> EmulatedTag | None:
        if self.selected is not None and self.selected in self.tags:
            return self.selected
        return self.tags[0] if self.tags else None

    def apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4 or apdu[0] != 0xFF:
            return SW_CLA_NOT_SUPPORTED
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        body = apdu[5 : 5 + apdu[4]] if len(apdu) > 5 else b""
        if ins == 0xC2:
            return self._transparent(p1, p2, body)
        if ins == 0x30:
            return self._vendor(p2, body)
        tag = self._current()
        if ins == 0xCA and p1 == 0x00:
            return (tag.wire_uid + SW_OK) if tag else b"\x63\x00"
        if ins == 0xB0:
            le = apdu[4] if len(apdu) == 5 else 0
            if tag is None:
                return b"\x63\x00"
            if le == 0 or le % tag.block_size:
                return SW_WRONG_LENGTH
            data = tag.read(p2, le // tag.block_size)
            return (data + SW_OK) if data is not None else SW_WRONG_P1P2
        if ins == 0xD6:
            if tag is None:
                return b"\x63\x00"
            if not body or len(body) % tag.block_size:
                return SW_WRONG_LENGTH
            return SW_OK if tag.write(p2, body) else SW_WRONG_P1P2
        return SW_INS_NOT_SUPPORTED

    def _vendor(self, p2: int, body: bytes) -> bytes:
        if p2 == 0x01:  # inventory
            return b"".join(t.wire_uid for t in self.tags) + SW_OK
        if p2 == 0x02:  # select
            if len(body) != 8:
                return SW_WRONG_LENGTH
            tag = self._find_wire(body)
            if tag is None:
                return SW_NOT_FOUND
            self.selected = tag
            return SW_OK
        tag = self._current()
        if tag is None:
            return b"\x63\x00"
        if p2 == 0x03:
            return tag.system_info() + SW_OK
        if p2 == 0x04:
            if len(body) != 1:
                return SW_WRONG_LENGTH
            tag.afi = body[0]
            tag.writes += 1
            return SW_OK
        return SW_WRONG_P1P2

    def _transparent(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 != 0x00:
            return SW_WRONG_P1P2
        if p2 == 0x00:  # manage session
            if body[:1] == b"\x81":
                self.session = True
            elif body[:1] == b"\x82":
                self.session = False
            else:
                return SW_WRONG_P1P2
            return _GENERIC_OK + SW_OK
        if p2 == 0x02:  # switch protocol
            if body[:4] != b"\x8f\x02\x02\x03":
                return b"\xc0\x03\x01\x6a\x81" + SW_OK
            return _GENERIC_OK + SW_OK
        if p2 != 0x01:
            return SW_WRONG_P1P2
        if not self.session:
            return b"\xc0\x03\x01\x69\x86" + SW_OK  # no session
        if len(body) < 2 or body[0] != 0x95 or body[1] + 2 > len(body):
            return b"\xc0\x03\x01\x67\x00" + SW_OK
        frame = body[2 : 2 + body[1]]
        answers = self._iso15693(frame)
        if not answers:
            return _GENERIC_TIMEOUT + SW_OK
        out = bytearray(_GENERIC_OK)
        for answer in answers:
            out += bytes([0x97, len(answer)]) + answer
        return bytes(out) + SW_OK

    def _iso15693(self, frame: bytes) -> list[bytes]:
        if len(frame) < 2:
            return []
        flags, cmd = frame[0], frame[1]
        rest = frame[2:]
        if flags & 0x04:  # inventory flag
            if cmd != 0x01:
                return [b"\x01\x01"]
            return [bytes([0x00, t.dsfid]) + t.wire_uid for t in self.tags]
        if flags & 0x20:  # addressed
            if len(rest) < 8:
                return [b"\x01\x0f"]
            tag = self._find_wire(rest[:8])
            rest = rest[8:]
            if tag is None:
                return []
        else:
            tag = self._current()
            if tag is None:
                return []
        if cmd == 0x20 and len(rest) >= 1:
            data = tag.read(rest[0], 1)
            return [b"\x00" + data] if data is not None else [b"\x01\x10"]
        if cmd == 0x23 and len(rest) >= 2:
            data = tag.read(rest[0], rest[1] + 1)
            return [b"\x00" + data] if data is not None else [b"\x01\x10"]
        if cmd == 0x21 and len(rest) >= 1 + tag.block_size:
            ok = tag.write(rest[0], rest[1 : 1 + tag.block_size])
            return [b"\x00"] if ok else [b"\x01\x10"]
        if cmd == 0x27 and len(rest) >= 1:
            tag.afi = rest[0]
            tag.writes += 1
            return [b"\x00"]
        if cmd == 0x2B:
            return [b"\x00" + tag.system_info()]
        return [b"\x01\x01"]  # error flag, command not supported


# --- the vpcd connection ----------------------------------------------------------------------


class VpcdEmulator:
    """Plays one card in one vpcd slot; reconnects by itself while a card is inserted."""

    def __init__(self, port: int = VPCD_PORTS[0], host: str = VPCD_HOST) -> None:
        self.port = port
        self.host = host
        self.card: Card | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.atr_requests = 0
        self.connected_at: float | None = None  # when the card "touched" the reader
        self.atr_times: list[float] = []  # when vpcd asked for the ATR (pcscd's presence polls)

    @property
    def reader_name(self) -> str:
        return READER_NAMES[VPCD_PORTS.index(self.port)] if self.port in VPCD_PORTS else ""

    def insert(self, card: Card, *, wait: float = 5.0) -> None:
        """Put *card* in the reader; waits until vpcd has asked for its ATR."""
        self.remove()
        self.card = card
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.atr_requests = 0
        self.connected_at = None
        self.atr_times = []
        self._thread = threading.Thread(target=self._run, args=(card, self._stop), name=f"vpcd-{self.port}", daemon=True)
        self._thread.start()
        if wait:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.atr_requests == 0:
                time.sleep(0.01)
            if self.atr_requests == 0:
                raise TimeoutError(f"vpcd on port {self.port} did not take the card (is pcscd running?)")

    def remove(self) -> None:
        """Take the card out (close the connection); vpcd notices at its next poll."""
        self._stop.set()
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.card = None

    stop = remove

    def _connect(self, stop: threading.Event) -> socket.socket | None:
        while not stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                stop.wait(0.1)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if stop.is_set():
                    sock.close()
                    return None
                self._sock = sock
            return sock
        return None

    def _run(self, card: Card, stop: threading.Event) -> None:
        while not stop.is_set():
            sock = self._connect(stop)
            if sock is None:
                return
            if self.connected_at is None:
                self.connected_at = time.monotonic()
            self.connected.set()
            try:
                self._serve(sock, card, stop)
            except OSError:
                pass
            finally:
                self.connected.clear()
                with self._lock:
                    if self._sock is sock:
                        self._sock = None
                try:
                    sock.close()
                except OSError:
                    pass
            stop.wait(0.05)  # pcscd went away: try again while the card is "inserted"

    @staticmethod
    def _recv_exact(sock: socket.socket, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            # vpcd writes the length and the payload in two send() calls; without a
            # quick ACK, Nagle on its side plus our delayed ACK cost 40 ms per APDU.
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)
            chunk = sock.recv(size - len(buf))
            if not chunk:
                raise ConnectionResetError("vpcd closed the connection")
            buf += chunk
        return bytes(buf)

    def _serve(self, sock: socket.socket, card: Card, stop: threading.Event) -> None:
        while not stop.is_set():
            (size,) = struct.unpack(">H", self._recv_exact(sock, 2))
            payload = self._recv_exact(sock, size) if size else b""
            if size == 1:
                code = payload[0]
                if code == 0:
                    card.power_off()
                elif code == 1:
                    card.power_on()
                elif code == 2:
                    card.reset()
                elif code == 4:
                    self.atr_requests += 1
                    self.atr_times.append(time.monotonic())
                    sock.sendall(struct.pack(">H", len(card.atr)) + card.atr)
                continue
            response = card.handle(payload)
            sock.sendall(struct.pack(">H", len(response)) + response)
