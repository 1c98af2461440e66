"""PC/SC patron card reader (pyscard, pcscd): ``pcsc://``.

URL grammar::

    pcsc://                              # the first PC/SC reader
    pcsc://?reader=READER[&options]      # the reader whose name contains READER
    pcsc://READER[?options]              # the same, READER in the path
                                         # (case-insensitive; percent-encode spaces)
    pcsc://OMNIKEY%205022?identify=national_number

Options:

=============  =================  ===============  ===========================================
option         type               default          meaning
=============  =================  ===============  ===========================================
accept         list of uid, eid   ``uid,eid``      which cards identify a patron
identify       card_number |      ``card_number``  which Belgian eID number is the patron's
               national_number                     identifier (Flemish libraries link the
                                                   card number)
uid_order      as_read | reversed ``as_read``      byte order of contactless UIDs (varies by
                                                   reader)
poll           float              1.0              seconds between status checks (a card is
                                                   seen at once; this bounds how fast a
                                                   stop request or a vanished reader is seen)
reader         str                (first reader)   the reader whose name contains this text
name           str                -                label for logs and events
retry_initial  float              0.2              first reconnect delay (s)
retry_max      float              10               longest reconnect delay (s)
=============  =================  ===============  ===========================================

Support table:

===================================================  =======================================
feature                                              supported
===================================================  =======================================
contactless UID (``FF CA 00 00 00``)                 yes: :attr:`IdentifierKind.UID`, hex
Belgian eID card number / national register number   yes: identity file, no PIN
eID names, address, photo                            never read or kept
one event per card presentation                      yes (until the card is taken away)
reader unplugged / pcscd restarted                   lost once, backoff, back
garbage answers, unknown cards                       logged by kind and length, no event
reader found by USB vendor:product id                no (PC/SC names readers, use the name)
===================================================  =======================================

The Belgian eID is tried first (``SELECT`` by path ``3F00/DF01/4031``); a
card that refuses it is read as a contactless card by its UID.  Nothing
personal is logged: identifiers appear only in :class:`CardPresented` events.

pyscard runs in a thread of this driver with two PC/SC contexts: one waits in
``SCardGetStatusChange`` (woken by ``SCardCancel`` on close), the other talks
to cards.  :class:`PcscLink` is shared with the RFID driver (:mod:`devices.rfid`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from . import eid
from .base import CardPresented, IdentifierKind, PatronReader, ReconnectingDevice, run_in_thread
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceProtocolError
from .url import Choice, DeviceUrl, OptionSpec

try:  # pyscard is the optional "pcsc" extra
    from smartcard import scard as _scard
except ImportError:  # pragma: no cover - exercised only where pyscard is missing
    _scard = None

__all__ = [
    "PcscPatronReader",
    "PcscDevice",
    "PcscLink",
    "CardHandle",
    "CardGone",
    "KindList",
    "list_readers",
    "identify_card",
    "read_eid_file",
]

log = logging.getLogger("devices.pcsc")

T = TypeVar("T")

#: Errors meaning "the reader or pcscd went away" (the device is lost).
_LOST_CODES = (
    "SCARD_E_NO_SERVICE",
    "SCARD_E_SERVICE_STOPPED",
    "SCARD_E_INVALID_HANDLE",
    "SCARD_E_READER_UNAVAILABLE",
    "SCARD_E_UNKNOWN_READER",
    "SCARD_E_NO_READERS_AVAILABLE",
)
#: Errors meaning "the card went away or cannot be talked to" (not a lost reader).
_CARD_CODES = (
    "SCARD_W_REMOVED_CARD",
    "SCARD_E_NO_SMARTCARD",
    "SCARD_W_RESET_CARD",
    "SCARD_W_UNRESPONSIVE_CARD",
    "SCARD_W_UNPOWERED_CARD",
    "SCARD_W_UNSUPPORTED_CARD",
    "SCARD_E_PROTO_MISMATCH",
    "SCARD_E_NOT_TRANSACTED",
    "SCARD_E_SHARING_VIOLATION",
    "SCARD_F_COMM_ERROR",
    "SCARD_E_COMM_DATA_LOST",
    "SCARD_E_INSUFFICIENT_BUFFER",
    "SCARD_E_TIMEOUT",
)


def _codes(names: tuple[str, ...]) -> frozenset[int]:
    if _scard is None:  # pragma: no cover
        return frozenset()
    return frozenset(getattr(_scard, n) & 0xFFFFFFFF for n in names if hasattr(_scard, n))


LOST = _codes(_LOST_CODES)
CARD_ERRORS = _codes(_CARD_CODES)


class CardGone(DeviceError):
    """The card left the reader (or stopped answering) during an exchange."""


def _require_pyscard() -> Any:
    if _scard is None:
        raise DeviceNotFound("pyscard is not installed (pip install 'bibkiosk[pcsc]')")
    return _scard


def _message(code: int) -> str:
    try:
        return str(_scard.SCardGetErrorMessage(code)).strip().rstrip(".")
    except Exception:  # noqa: BLE001 - only used for a log line
        return f"PC/SC error 0x{code & 0xFFFFFFFF:08X}"


def _check(code: int, what: str) -> None:
    """Raise the right :class:`DeviceError` for a PC/SC return code."""
    code &= 0xFFFFFFFF
    if code == 0:
        return
    text = f"{what}: {_message(code)} (0x{code:08X})"
    if code in CARD_ERRORS:
        raise CardGone(text)
    if code in LOST:
        raise DeviceDisconnected(text)
    raise DeviceProtocolError(text)


class KindList:
    """URL option converter: a comma-separated subset of *choices*."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def __call__(self, text: str) -> frozenset[str]:
        items = {part.strip().lower() for part in text.split(",") if part.strip()}
        bad = sorted(items - set(self.choices))
        if bad or not items:
            raise ValueError(f"expected a comma-separated list of {', '.join(self.choices)}")
        return frozenset(items)

    def __repr__(self) -> str:
        return ",".join(self.choices)


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows now (``[]`` if none or no pcscd)."""
    sc = _require_pyscard()
    code, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if code != 0:
        return []
    try:
        code, names = sc.SCardListReaders(ctx, [])
        return list(names) if code == 0 else []
    finally:
        sc.SCardReleaseContext(ctx)


# --- one card connection --------------------------------------------------------------------


class CardHandle:
    """A connected card: :meth:`transmit` returns ``(data, sw)`` or raises a :class:`DeviceError`."""

    def __init__(self, ctx: Any, reader: str, *, exclusive: bool = False) -> None:
        sc = _require_pyscard()
        share = sc.SCARD_SHARE_EXCLUSIVE if exclusive else sc.SCARD_SHARE_SHARED
        code, handle, protocol = sc.SCardConnect(ctx, reader, share, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
        _check(code, "connect")
        self.handle = handle
        self.protocol = protocol
        self.apdus = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        code, response = _scard.SCardTransmit(self.handle, self.protocol, list(apdu))
        _check(code, "transmit")
        self.apdus += 1
        if len(response) < 2:
            raise DeviceProtocolError(f"answer of {len(response)} bytes has no status word")
        raw = bytes(response)
        return raw[:-2], (raw[-2] << 8) | raw[-1]

    def close(self, *, reset: bool = False) -> None:
        if self.handle is None:
            return
        sc = _scard
        try:
            sc.SCardDisconnect(self.handle, sc.SCARD_RESET_CARD if reset else sc.SCARD_LEAVE_CARD)
        except Exception:  # noqa: BLE001 - the card may be gone already
            pass
        self.handle = None

    def __enter__(self) -> CardHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the link to one reader -------------------------------------------------------------------


class PcscLink:
    """One PC/SC reader seen through two contexts (watching and talking).

    Blocking; used from the driver's thread.  :meth:`wait_change` returns the
    new card presence (``True``/``False``) or ``None`` on timeout, and raises
    :class:`DeviceDisconnected` when the reader or pcscd is gone.
    """

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.reader = ""
        self._watch: Any = None
        self._talk: Any = None
        self._state = 0
        self.present = False
        self.atr = b""

    def open(self) -> str:
        sc = _require_pyscard()
        try:
            code, watch = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            _check(code, "establish context")
            self._watch = watch
            code, names = sc.SCardListReaders(watch, [])
            if code & 0xFFFFFFFF in (
                sc.SCARD_E_NO_READERS_AVAILABLE & 0xFFFFFFFF,
                sc.SCARD_E_NO_SERVICE & 0xFFFFFFFF,
            ):
                names = []
            else:
                _check(code, "list readers")
            self.reader = self._choose(list(names))
            code, talk = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            _check(code, "establish context")
            self._talk = talk
        except DeviceDisconnected as exc:
            self.close()
            raise DeviceNotFound(str(exc)) from None
        except DeviceError:
            self.close()
            raise
        self._state = sc.SCARD_STATE_UNAWARE
        self.present = False
        return self.reader

    def _choose(self, names: list[str]) -> str:
        if not names:
            raise DeviceNotFound("no PC/SC reader (is pcscd running and the reader plugged in?)")
        if not self.wanted:
            return sorted(names)[0]
        exact = [n for n in names if n == self.wanted]
        if exact:
            return exact[0]
        matches = sorted(n for n in names if self.wanted.lower() in n.lower())
        if not matches:
            raise DeviceNotFound(f"no PC/SC reader matches {self.wanted!r} (readers: {', '.join(sorted(names))})")
        return matches[0]

    def wait_change(self, timeout: float) -> bool | None:
        sc = _scard
        if self._watch is None:
            raise DeviceDisconnected("not connected")
        code, states = sc.SCardGetStatusChange(self._watch, max(1, int(timeout * 1000)), [(self.reader, self._state)])
        code &= 0xFFFFFFFF
        if code in (sc.SCARD_E_TIMEOUT & 0xFFFFFFFF, sc.SCARD_E_CANCELLED & 0xFFFFFFFF):
            return None
        if code:
            # Whatever the code, the watcher cannot go on: pcscd or the reader is gone.
            raise DeviceDisconnected(f"wait for card: {_message(code)} (0x{code:08X})")
        if not states:
            raise DeviceDisconnected("reader state missing")
        _name, event, atr = states[0]
        if event & (sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_UNAVAILABLE | sc.SCARD_STATE_IGNORE):
            raise DeviceDisconnected("reader gone")
        self._state = event & ~sc.SCARD_STATE_CHANGED
        present = bool(event & sc.SCARD_STATE_PRESENT) and not event & sc.SCARD_STATE_MUTE
        self.atr = bytes(atr or b"")
        changed = present != self.present
        self.present = present
        return present if changed else None

    def connect(self, *, exclusive: bool = False) -> CardHandle:
        if self._talk is None:
            raise DeviceDisconnected("not connected")
        return CardHandle(self._talk, self.reader, exclusive=exclusive)

    def cancel(self) -> None:
        """Wake a :meth:`wait_change` in another thread."""
        if self._watch is not None:
            try:
                _scard.SCardCancel(self._watch)
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        for attr in ("_watch", "_talk"):
            ctx = getattr(self, attr)
            setattr(self, attr, None)
            if ctx is not None:
                try:
                    _scard.SCardReleaseContext(ctx)
                except Exception:  # noqa: BLE001
                    pass


# --- reading a patron card ------------------------------------------------------------------


def read_eid_file(card: CardHandle) -> bytes | None:
    """The Belgian eID identity file, or ``None`` if the card is not an eID.

    Raises :class:`DeviceProtocolError` when the card says it is one but then
    answers nonsense.
    """
    _data, sw = card.transmit(eid.SELECT_IDENTITY)
    if sw != 0x9000:
        return None
    content = bytearray()
    length = 0xFF
    while True:
        if len(content) > eid.MAX_FILE_LENGTH:
            raise DeviceProtocolError(f"eID file longer than {eid.MAX_FILE_LENGTH} bytes")
        data, sw = card.transmit(eid.read_binary(len(content), length))
        if sw == 0x9000:
            if len(data) > length:
                raise DeviceProtocolError(f"READ BINARY returned {len(data)} bytes for {length}")
            content += data
            if len(data) < length or not data:
                break
            length = 0xFF
            continue
        if sw >> 8 == 0x6C and sw & 0xFF and length != sw & 0xFF:
            length = sw & 0xFF  # wrong Le: the card tells the right one
            continue
        if sw == 0x6B00 and content:
            break  # offset past the end: done
        raise DeviceProtocolError(f"READ BINARY at offset {len(content)}: status {sw:04X}")
    return bytes(content)


def identify_card(
    card: CardHandle,
    *,
    accept: frozenset[str] = frozenset({"uid", "eid"}),
    identify: str = "card_number",
    uid_order: str = "as_read",
) -> tuple[str, IdentifierKind]:
    """Read the patron identifier from a connected card.

    Raises :class:`DeviceProtocolError` (garbage, unknown card) or
    :class:`CardGone`.
    """
    if "eid" in accept:
        content = read_eid_file(card)
        if content is not None:
            identity = eid.parse_identity(content)
            if identify == "national_number":
                return identity.national_number, IdentifierKind.EID_NATIONAL_NUMBER
            return identity.card_number, IdentifierKind.EID_CARD_NUMBER
    if "uid" in accept:
        data, sw = card.transmit(b"\xff\xca\x00\x00\x00")
        if sw == 0x9000:
            if not 4 <= len(data) <= 10:
                raise DeviceProtocolError(f"UID of {len(data)} bytes")
            uid = data[::-1] if uid_order == "reversed" else data
            return uid.hex().upper(), IdentifierKind.UID
        raise DeviceProtocolError(f"card refused GET UID (status {sw:04X})")
    raise DeviceProtocolError("card is not of an accepted kind")


# --- the driver -----------------------------------------------------------------------------


class PcscDevice(ReconnectingDevice):
    """Common part of the PC/SC drivers: the reader link and its watcher thread."""

    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "poll": (float, 1.0, "seconds between status checks (bounds how fast a vanished reader is seen)"),
        "reader": (str, "", "the reader whose name contains this text (case-insensitive); same as the URL path"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if not 0.01 <= self.options["poll"] <= 60:
            from .errors import DeviceUrlError

            raise DeviceUrlError("option 'poll': between 0.01 and 60 seconds")
        self._link: PcscLink | None = None
        self._stop = threading.Event()
        self._thread_done = threading.Event()
        self._thread_done.set()
        self.reader_name = ""
        path = self.url.path.strip("/")
        if path and self.options["reader"] and path != self.options["reader"]:
            from .errors import DeviceUrlError

            raise DeviceUrlError("name the reader in the path or with ?reader=, not both")
        #: Text the reader's name must contain ("" = the first reader).
        self.wanted_reader: str = self.options["reader"] or path

    async def _connect(self) -> None:
        link = PcscLink(self.wanted_reader)
        name = await asyncio.to_thread(link.open)
        self._link = link
        self.reader_name = name
        self._stop.clear()
        log.info("%s: using PC/SC reader %r", self.label, name)

    async def _session(self) -> None:
        link = self._link
        if link is None:
            raise DeviceDisconnected("not connected")
        self._thread_done.clear()
        await run_in_thread(lambda: self._watch(link), name=f"pcsc {self.label}")

    def _watch(self, link: PcscLink) -> None:
        try:
            while not self._stop.is_set():
                change = link.wait_change(self.options["poll"])
                if self._stop.is_set():
                    return
                self._on_poll(link, change)
        finally:
            self._thread_done.set()

    def _on_poll(self, link: PcscLink, change: bool | None) -> None:
        """Called in the watcher thread after each status check (``change``: new presence)."""

    def _with_card(self, link: PcscLink, func: Callable[[CardHandle], T], attempts: int = 3) -> T:
        """Connect, run *func*, disconnect; retry when the card vanished under us.

        A card swapped faster than pcscd polls leaves a stale "present" state:
        the first connection fails with :class:`CardGone` while the new card is
        already there.  Other errors are not retried.
        """
        for attempt in range(attempts):
            try:
                with link.connect() as card:
                    return func(card)
            except CardGone:
                if attempt == attempts - 1 or self._stop.wait(0.15 * (attempt + 1)):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _disconnect(self) -> None:
        self._stop.set()
        link, self._link = self._link, None
        if link is None:
            return
        link.cancel()
        if not self._thread_done.is_set():
            await asyncio.to_thread(self._thread_done.wait, 5.0)
        link.close()


class PcscPatronReader(PcscDevice, PatronReader):
    """A PC/SC reader identifying patrons by contactless UID or Belgian eID."""

    SCHEMES: ClassVar[tuple[str, ...]] = ("pcsc",)
    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "accept": (KindList("uid", "eid"), frozenset({"uid", "eid"}), "cards that identify a patron: uid, eid"),
        "identify": (
            Choice("card_number", "national_number"),
            "card_number",
            "Belgian eID: the patron is identified by the card number or the national register number",
        ),
        "uid_order": (Choice("as_read", "reversed"), "as_read", "byte order of contactless UIDs"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        #: Cards read / unreadable since open (for the conformance kit and the bench).
        self.cards_read = 0
        self.cards_refused = 0

    def _on_poll(self, link: PcscLink, change: bool | None) -> None:
        if change is not True:
            return
        try:
            identifier, kind = self._with_card(
                link,
                lambda card: identify_card(
                    card,
                    accept=self.options["accept"],
                    identify=self.options["identify"],
                    uid_order=self.options["uid_order"],
                ),
            )
        except CardGone as exc:
            self.cards_refused += 1
            log.info("%s: card left before it was read (%s)", self.label, exc)
            return
        except DeviceDisconnected:
            raise
        except DeviceError as exc:
            self.cards_refused += 1
            log.warning("%s: unreadable card ignored: %s: %s", self.label, type(exc).__name__, exc)
            return
        self.cards_read += 1
        log.info("%s: card read (%s, %d characters)", self.label, kind.value, len(identifier))
        self._emit_threadsafe(CardPresented(identifier, kind, self.label))
