"""The device contract: one :class:`Device` base, one ABC per kind, the events.

Everything here is asyncio.  A driver around a blocking library runs that
library in a thread of its own and hands events to the loop with
``loop.call_soon_threadsafe`` (:meth:`Device._emit_threadsafe`); the
application never sees a thread.

Life cycle::

    dev = open_device("sim://patron")        # devices.registry; not opened yet
    async with dev:                          # open() ... close()
        async for ev in dev.events():        # CardPresented, DeviceEvent("lost"/"back"), ...
            ...

A driver that loses its device reports it once (``DeviceEvent("lost")``,
``status.ok`` False), retries with backoff, and reports ``DeviceEvent("back")``
when it has it again.  :class:`ReconnectingDevice` implements that loop; a
driver fills in ``_connect``, ``_session`` and ``_disconnect``.

Kinds (a device may implement several, e.g. an OSDP reader is a
PatronReader, PinPad, Indicator, Lock and DoorSensor at once):

=================  =====================================  ==============================
kind (name)        methods                                events
=================  =====================================  ==============================
PatronReader       -                                      CardPresented
(patron)
BarcodeScanner     -                                      Scanned
(scanner)
ItemReader (rfid)  inventory(), set_security(uid, bool)   TagsChanged
PinPad (pinpad)    -                                      KeyPressed
Lock (lock)        release(seconds), lock(), state        -
DoorSensor (door)  door_open                              DoorOpened, DoorClosed, ExitPressed
Indicator          show(Pattern)                          -
(indicator)
ReceiptPrinter     print_receipt(lines, barcode, cut)     -
(printer)
PaymentTerminal    pay(PaymentRequest), abort(ref),       PaymentProgress
(payment)          payment_status(ref) -> PaymentResult
SpeechOutput       say(text, language, interrupt),        HeadphonesChanged
(tts)              stop(), idle(), volume (0-100)
=================  =====================================  ==============================

Every device also emits :class:`DeviceEvent` (``"lost"`` / ``"back"``).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout
from .url import DeviceUrl, OptionSpec, parse_options, parse_url

__all__ = [
    "Device",
    "ReconnectingDevice",
    "DeviceStatus",
    "Event",
    "DeviceEvent",
    "CardPresented",
    "IdentifierKind",
    "Scanned",
    "Tag",
    "TagUsage",
    "TagsChanged",
    "KeyPressed",
    "KEY_ENTER",
    "KEY_CLEAR",
    "DoorOpened",
    "DoorClosed",
    "ExitPressed",
    "LockState",
    "Pattern",
    "PatronReader",
    "BarcodeScanner",
    "ItemReader",
    "PinPad",
    "Lock",
    "DoorSensor",
    "Indicator",
    "ReceiptPrinter",
    "PaymentTerminal",
    "PaymentRequest",
    "PaymentResult",
    "PaymentOutcome",
    "PaymentProgress",
    "SpeechOutput",
    "HeadphonesChanged",
    "SPEECH_LANGUAGES",
    "PIN_WORDS",
    "spoken_pin",
    "KINDS",
    "kind_names",
    "kind_class",
    "missing_parts",
    "Backoff",
    "EventStream",
    "run_in_thread",
    "AFI_IN_LIBRARY",
    "AFI_ON_LOAN",
]

log = logging.getLogger("devices")

# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every device event.  ``at`` is ``time.monotonic()`` when it happened."""

    at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class DeviceEvent(Event):
    """Status change of a device: ``kind`` is ``"lost"`` or ``"back"``."""

    kind: str
    detail: str = ""
    device: str = ""


class IdentifierKind(str, enum.Enum):
    BARCODE = "barcode"
    UID = "uid"
    EID_CARD_NUMBER = "eid_card_number"
    EID_NATIONAL_NUMBER = "eid_national_number"
    WIEGAND = "wiegand"


@dataclass(frozen=True)
class CardPresented(Event):
    """A patron card (or barcode, eID, Wiegand credential) was presented.

    The repr never shows the identifier (privacy), only its kind and length.
    """

    identifier: str
    kind: IdentifierKind = IdentifierKind.BARCODE
    reader: str = ""

    def __repr__(self) -> str:
        return f"CardPresented(kind={self.kind.value}, length={len(self.identifier)}, reader={self.reader!r})"


@dataclass(frozen=True)
class Scanned(Event):
    """A barcode was scanned (the repr shows only its length)."""

    data: str

    def __repr__(self) -> str:
        return f"Scanned(length={len(self.data)})"


#: Application family identifiers (ISO 28560, Danish standard): security on / off.
AFI_IN_LIBRARY = 0x07
AFI_ON_LOAN = 0xC2


class TagUsage(enum.IntEnum):
    """ISO 28560-3 type of usage (low nibble of byte 0)."""

    ACQUISITION = 0
    CIRCULATING = 1
    REFERENCE = 2
    DISCARDED = 7
    PATRON_CARD = 8


@dataclass(frozen=True)
class Tag:
    """One RFID library tag in the field, decoded.

    ``uid`` is upper-case hex.  ``secured`` True means the security bit is
    set (AFI "in library": the gate alarms); False means checked out.
    ``error`` is non-empty when the data could not be decoded (blank tag,
    bad CRC, unknown data model); ``raw`` keeps the bytes read.
    """

    uid: str
    item_id: str = ""
    set_parts: int = 1
    part_number: int = 1
    usage: int = TagUsage.CIRCULATING
    country: str = ""
    isil: str = ""
    afi: int | None = None
    secured: bool = True
    raw: bytes = field(default=b"", repr=False)
    error: str = ""


@dataclass(frozen=True)
class TagsChanged(Event):
    """The set of tags in the field changed; ``tags`` is the whole current set."""

    tags: tuple[Tag, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


KEY_ENTER = "#"
KEY_CLEAR = "*"


@dataclass(frozen=True)
class KeyPressed(Event):
    """One key of a PIN pad: ``"0"``-``"9"``, ``"#"`` (enter), ``"*"`` (clear).

    The repr hides digits (a PIN must never reach a log).
    """

    key: str

    def __repr__(self) -> str:
        shown = self.key if self.key in (KEY_ENTER, KEY_CLEAR) else "<digit>"
        return f"KeyPressed({shown})"


@dataclass(frozen=True)
class DoorOpened(Event):
    pass


@dataclass(frozen=True)
class DoorClosed(Event):
    pass


@dataclass(frozen=True)
class ExitPressed(Event):
    pass


@dataclass(frozen=True)
class HeadphonesChanged(Event):
    """Headphones were plugged into (``plugged``) or pulled from the speech
    output's jack (the kiosk turns speech on / off with it)."""

    plugged: bool


class LockState(str, enum.Enum):
    LOCKED = "locked"
    RELEASED = "released"
    UNKNOWN = "unknown"


class Pattern(str, enum.Enum):
    IDLE = "idle"
    GRANTED = "granted"
    REFUSED = "refused"
    ERROR = "error"
    BUSY = "busy"


@dataclass(frozen=True)
class DeviceStatus:
    ok: bool
    detail: str = ""


def missing_parts(tags: Iterable[Tag]) -> dict[str, list[int]]:
    """For multi-part sets, ``{item_id: [missing part numbers]}`` (only incomplete sets)."""
    seen: dict[str, set[int]] = collections.defaultdict(set)
    parts: dict[str, int] = {}
    for tag in tags:
        if tag.error or not tag.item_id or tag.set_parts <= 1:
            continue
        seen[tag.item_id].add(tag.part_number)
        parts[tag.item_id] = max(parts.get(tag.item_id, 0), tag.set_parts)
    result = {}
    for item_id, total in parts.items():
        missing = [n for n in range(1, total + 1) if n not in seen[item_id]]
        if missing:
            result[item_id] = missing
    return result


# --- backoff --------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with jitter: ``initial, initial*factor, ...`` capped at ``maximum``."""

    def __init__(self, initial: float = 0.2, maximum: float = 10.0, factor: float = 2.0, jitter: float = 0.1) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter < 1")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return min(base, self.maximum)


# --- event streams ----------------------------------------------------------------------------

_CLOSED = object()
_QUEUE_LIMIT = 1000
_BACKLOG_LIMIT = 256


class EventStream:
    """An async iterator over a device's events (an :class:`asyncio.Queue` underneath).

    Subscribed from the moment :meth:`Device.events` returns; ends when the
    device is closed.  ``await stream.get(timeout)`` reads one event or raises
    :class:`DeviceTimeout`.  Use as a context manager (or call ``close()``)
    to unsubscribe.
    """

    def __init__(self, device: Device, kinds: tuple[type[Event], ...]) -> None:
        self._device = device
        self._kinds = kinds
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._done = False

    def wants(self, event: Event) -> bool:
        return not self._kinds or isinstance(event, self._kinds)

    def _put(self, item: Any) -> None:
        if self._queue.qsize() >= _QUEUE_LIMIT:
            self._queue.get_nowait()
            log.warning("%s: event queue full, oldest event dropped", self._device.label)
        self._queue.put_nowait(item)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            self._done = True
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> Any:
        """The next event; :class:`DeviceTimeout` after *timeout* s, :class:`DeviceDisconnected` if closed."""
        if self._done:
            raise DeviceDisconnected(f"{self._device.label}: device closed")
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise DeviceTimeout(f"{self._device.label}: no event within {timeout} s") from None
        if item is _CLOSED:
            self._done = True
            raise DeviceDisconnected(f"{self._device.label}: device closed")
        return item

    def get_nowait(self) -> Any | None:
        """The next queued event, or ``None``."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is _CLOSED:
            self._done = True
            return None
        return item

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._device._unsubscribe(self)
        self._done = True

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- threads ----------------------------------------------------------------------------------

T = TypeVar("T")


def run_in_thread(func: Callable[[], T], *, name: str = "device") -> Awaitable[T]:
    """Run blocking *func* in a dedicated daemon thread; await its result.

    Unlike ``asyncio.to_thread`` this does not use the loop's shared
    executor, so a long-running reader loop does not starve other users.
    Cancelling the awaitable does not stop the thread: the function must
    watch a stop flag or have its file closed under it.
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def _set(result: Any, exc: BaseException | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def _runner() -> None:
        try:
            result = func()
        except BaseException as exc:  # noqa: BLE001 - handed to the loop
            _call_soon(loop, _set, None, exc)
        else:
            _call_soon(loop, _set, result, None)

    threading.Thread(target=_runner, name=name, daemon=True).start()
    return fut


def _call_soon(loop: asyncio.AbstractEventLoop, func: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(func, *args)
    except RuntimeError:  # loop closed: nobody is listening any more
        pass


# --- the device base ---------------------------------------------------------------------------


class Device(ABC):
    """Base of every driver.

    Subclasses declare ``OPTIONS`` (merged along the class hierarchy, see
    :meth:`all_options`), ``SCHEMES`` (informative) and implement
    :meth:`open` / :meth:`close`.  The constructor takes the parsed URL and
    keyword options (which override URL options) and validates them strictly;
    it does no I/O.
    """

    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "name": (str, "", "a label for logs, events and the sim control surface"),
    }
    SCHEMES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        self.url: DeviceUrl = parse_url(url)
        self.options: dict[str, Any] = parse_options(self.url, self.all_options(), extra)
        self.label: str = self.options.get("name") or f"{self.url.scheme}://{self.url.path}"
        self._status = DeviceStatus(False, "closed")
        self._subscribers: list[EventStream] = []
        self._backlog: collections.deque[Event] = collections.deque(maxlen=_BACKLOG_LIMIT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost = False
        self._opened = False
        self._was_closed = False

    # -- options & kinds
    @classmethod
    def all_options(cls) -> dict[str, OptionSpec]:
        merged: dict[str, OptionSpec] = {}
        for klass in reversed(cls.__mro__):
            merged.update(getattr(klass, "OPTIONS", {}) if "OPTIONS" in vars(klass) else {})
        return merged

    @property
    def kinds(self) -> list[str]:
        return kind_names(self)

    # -- life cycle
    async def open(self) -> None:
        """Connect to the device.  Raises :class:`DeviceNotFound` (or another
        :class:`DeviceError`) when it cannot.  Subclasses call ``super().open()`` first."""
        self._loop = asyncio.get_running_loop()
        self._opened = True
        self._was_closed = False
        self._lost = False
        self._status = DeviceStatus(True, "open")

    async def close(self) -> None:
        """Release the device; ends every event stream.  Idempotent."""
        self._opened = False
        self._was_closed = True
        self._status = DeviceStatus(False, "closed")
        for sub in list(self._subscribers):
            sub._put(_CLOSED)
        self._subscribers.clear()

    async def __aenter__(self: T) -> T:
        await self.open()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._opened

    @property
    def status(self) -> DeviceStatus:
        return self._status

    # -- events
    def events(self, *kinds: type[Event]) -> EventStream:
        """Subscribe to this device's events (optionally only the given event classes).

        Events emitted while nobody was subscribed (up to 256) go to the
        first subscriber that wants them.
        """
        stream = EventStream(self, tuple(kinds))
        if not self._subscribers and self._backlog:
            keep: collections.deque[Event] = collections.deque(maxlen=_BACKLOG_LIMIT)
            for ev in self._backlog:
                (stream._put if stream.wants(ev) else keep.append)(ev)
            self._backlog = keep
        self._subscribers.append(stream)
        if self._was_closed:
            stream._put(_CLOSED)
        return stream

    def _unsubscribe(self, stream: EventStream) -> None:
        if stream in self._subscribers:
            self._subscribers.remove(stream)

    def _emit(self, event: Event) -> None:
        """Deliver *event* to the subscribers.  Call from the loop thread only."""
        if not self._subscribers:
            self._backlog.append(event)
            return
        for sub in self._subscribers:
            if sub.wants(event):
                sub._put(event)

    def _emit_threadsafe(self, event: Event) -> None:
        """Deliver *event* from any thread (a driver's reader thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._emit(event)
        else:
            _call_soon(loop, self._emit, event)

    # -- lost / back
    def _report_lost(self, detail: str) -> None:
        """Mark the device lost; emits ``DeviceEvent("lost")`` once per loss.  Loop thread only."""
        self._status = DeviceStatus(False, f"lost: {detail}")
        if self._lost:
            return
        self._lost = True
        log.warning("%s: device lost (%s); retrying with backoff", self.label, detail)
        self._emit(DeviceEvent("lost", detail, self.label))

    def _report_back(self, detail: str = "reconnected") -> None:
        self._status = DeviceStatus(True, detail)
        if not self._lost:
            return
        self._lost = False
        log.warning("%s: device back (%s)", self.label, detail)
        self._emit(DeviceEvent("back", detail, self.label))

    def _require_ok(self) -> None:
        """Raise :class:`DeviceDisconnected` unless the device is open and present."""
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        if self._lost:
            raise DeviceDisconnected(f"{self.label}: {self._status.detail}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url.redacted()} {'ok' if self._status.ok else self._status.detail}>"


class ReconnectingDevice(Device):
    """A device with a connection that can drop: open, supervise, reconnect.

    Subclasses implement:

    * ``async _connect()``: open the connection; raise :class:`DeviceNotFound`
      / :class:`OSError` / :class:`DeviceError` when the device is absent;
    * ``async _session()``: run while connected (e.g. await a reader thread);
      return or raise when the connection is gone;
    * ``async _disconnect()``: release the connection (idempotent; may be
      called from ``close()`` while ``_session`` is running: it must make the
      session end, e.g. by closing the port under the reader thread).

    ``open()`` connects once and raises if that fails.  After that, a lost
    connection is reported once, retried with :class:`Backoff`
    (``retry_initial`` .. ``retry_max`` seconds), and reported back.
    Writers call :meth:`_connection_failed` when an operation finds the
    connection dead.
    """

    OPTIONS: ClassVar[dict[str, OptionSpec]] = {
        "retry_initial": (float, 0.2, "first reconnect delay in seconds"),
        "retry_max": (float, 10.0, "longest reconnect delay in seconds"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        try:
            self._backoff = Backoff(self.options["retry_initial"], max(self.options["retry_max"], self.options["retry_initial"]))
        except ValueError as exc:
            from .errors import DeviceUrlError

            raise DeviceUrlError(f"retry options: {exc}") from None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake: asyncio.Event | None = None  # created in open()

    @abstractmethod
    async def _connect(self) -> None: ...

    @abstractmethod
    async def _session(self) -> None: ...

    @abstractmethod
    async def _disconnect(self) -> None: ...

    async def open(self) -> None:
        if self._opened:
            return
        self._closing = False
        try:
            await self._connect()
        except DeviceError:
            await self._safe_disconnect()
            raise
        except OSError as exc:
            await self._safe_disconnect()
            raise DeviceNotFound(f"{self.label}: {exc.strerror or exc}") from None
        await super().open()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._supervise(), name=f"device {self.label}")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        await self._safe_disconnect()
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await super().close()

    async def _safe_disconnect(self) -> None:
        try:
            await self._disconnect()
        except Exception as exc:  # noqa: BLE001 - cleanup must not fail close()
            log.debug("%s: disconnect: %s", self.label, exc)

    def _connection_failed(self, detail: str) -> None:
        """Called (loop thread) when an operation finds the connection dead."""
        if not self._lost and not self._closing:
            self._report_lost(detail)
            if self._wake is not None:
                self._wake.set()

    async def _supervise(self) -> None:
        while not self._closing:
            detail = "connection ended"
            if not self._lost:
                session = asyncio.ensure_future(self._session())
                waker = asyncio.ensure_future(self._wake.wait())  # type: ignore[union-attr]
                # close() cancels this supervisor while the session ends with the
                # error its disconnect caused: collect it, never "never retrieved".
                session.add_done_callback(_collect)
                waker.add_done_callback(_collect)
                try:
                    done, _ = await asyncio.wait({session, waker}, return_when=asyncio.FIRST_COMPLETED)
                    waker.cancel()
                    if session in done:
                        exc = session.exception()
                        if exc is not None:
                            detail = _describe(exc)
                    else:
                        detail = self._status.detail.removeprefix("lost: ") or "operation failed"
                        await self._safe_disconnect()
                        session.cancel()
                        try:
                            await session
                        except (asyncio.CancelledError, Exception):  # noqa: BLE001
                            pass
                except asyncio.CancelledError:
                    session.cancel()
                    waker.cancel()
                    raise
                if self._closing:
                    return
                await self._safe_disconnect()
                self._report_lost(detail)
            self._wake.clear()  # type: ignore[union-attr]
            self._backoff.reset()
            while not self._closing:
                await asyncio.sleep(self._backoff.next_delay())
                if self._closing:
                    return
                try:
                    await self._connect()
                except (DeviceError, OSError) as exc:
                    log.debug("%s: reconnect failed: %s", self.label, _describe(exc))
                    await self._safe_disconnect()
                    continue
                self._report_back()
                break


def _collect(future: asyncio.Future[Any]) -> None:
    """Retrieve a finished future's exception (so asyncio does not log it as never retrieved)."""
    if not future.cancelled():
        future.exception()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text[:200]


# --- kinds ----------------------------------------------------------------------------------


class PatronReader(Device):
    """Identifies patrons: emits :class:`CardPresented`."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = (CardPresented,)


class BarcodeScanner(Device):
    """Reads barcodes: emits :class:`Scanned`."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = (Scanned,)


class ItemReader(Device):
    """RFID item reader: the tags in the field, their security bit.  Emits :class:`TagsChanged`."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = (TagsChanged,)

    @abstractmethod
    async def inventory(self) -> list[Tag]:
        """The tags in the field now, decoded (sorted by uid)."""

    @abstractmethod
    async def set_security(self, uid: str, secured: bool) -> None:
        """Set (True: in library, alarm) or clear (False: on loan) the security of tag *uid*.

        Raises :class:`DeviceNotFound` if the tag is not in the field."""


class PinPad(Device):
    """PIN entry: emits :class:`KeyPressed` (digits, ``#`` enter, ``*`` clear)."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = (KeyPressed,)


class Lock(Device):
    """A door strike or locker."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = ()

    @abstractmethod
    async def release(self, seconds: float) -> None:
        """Release (unlock) for *seconds*, then lock again by itself."""

    @abstractmethod
    async def lock(self) -> None:
        """Lock now."""

    async def leave_released(self, seconds: float) -> None:
        """Release for a controller that is going away (a fail-safe stop): like
        :meth:`release`, but :meth:`close` does not lock again.  A lock with a
        hardware timer (OSDP) ends the release after *seconds* by itself; one whose
        timer lives in the driver (LCUS) stays released until the next :meth:`lock`."""
        await self.release(seconds)

    @property
    @abstractmethod
    def state(self) -> LockState: ...


class DoorSensor(Device):
    """Door contact and exit button: emits DoorOpened / DoorClosed / ExitPressed."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = (DoorOpened, DoorClosed, ExitPressed)

    @property
    def door_open(self) -> bool | None:
        """True open, False closed, None unknown."""
        return None


class Indicator(Device):
    """LEDs and buzzer."""

    EVENTS: ClassVar[tuple[type[Event], ...]] = ()

    @abstractmethod
    async def show(self, pattern: Pattern) -> None: ...


class ReceiptPrinter(Device):
    EVENTS: ClassVar[tuple[type[Event], ...]] = ()

    @abstractmethod
    async def print_receipt(self, lines: list[str], barcode: str | None = None, cut: bool = True) -> None:
        """Print *lines*, then *barcode* (CODE128) if given, then cut if asked."""


# --- payment terminals ----------------------------------------------------------------------


class PaymentOutcome(str, enum.Enum):
    """What became of a payment.  Only ``APPROVED`` took money.

    ``UNKNOWN`` (the request went out, no usable answer came back) and
    ``IN_PROGRESS`` are not final: ask :meth:`PaymentTerminal.payment_status` again.
    ``OFFLINE`` and ``NOT_FOUND`` are final and certain: the terminal never
    took the payment.
    """

    APPROVED = "approved"  # money taken: terminal_reference is set
    DECLINED = "declined"  # card, issuer or PIN refused: nothing taken
    CANCELLED = "cancelled"  # the patron cancelled on the terminal, or the kiosk aborted
    TIMEOUT = "timeout"  # no card presented in time: nothing taken
    OFFLINE = "offline"  # the request never reached the terminal (or it cannot pay now): nothing taken
    UNKNOWN = "unknown"  # sent, no answer: resolve with payment_status()
    IN_PROGRESS = "in_progress"  # payment_status(): the terminal is still busy with it
    NOT_FOUND = "not_found"  # payment_status(): the terminal never saw this payment: nothing taken

    @property
    def final(self) -> bool:
        return self not in (PaymentOutcome.UNKNOWN, PaymentOutcome.IN_PROGRESS)

    @property
    def charged(self) -> bool:
        return self is PaymentOutcome.APPROVED


_REFERENCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _check_reference(reference: str) -> str:
    if not isinstance(reference, str) or not 1 <= len(reference) <= 40 or set(reference) - _REFERENCE_CHARS:
        raise ValueError("a payment reference is 1-40 characters of A-Z a-z 0-9 - _ .")
    return reference


@dataclass(frozen=True)
class PaymentRequest:
    """Ask the terminal for *amount_cents* (integer cents: no floats near money).

    ``reference`` is ours, unique per payment and stable across restarts (the
    journal's id): :meth:`PaymentTerminal.payment_status` finds the payment by it.
    ``timeout`` is how long the patron has on the terminal.
    """

    reference: str
    amount_cents: int
    currency: str = "EUR"
    timeout: float = 120.0
    description: str = ""

    def __post_init__(self) -> None:
        _check_reference(self.reference)
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int) or self.amount_cents <= 0:
            raise ValueError("a payment needs a positive whole number of cents")
        if self.amount_cents > 99_999_99:
            raise ValueError("a payment of more than 99 999.99 is not a kiosk payment")
        if not (len(self.currency) == 3 and self.currency.isalpha() and self.currency.isupper()):
            raise ValueError("currency is an ISO 4217 code such as EUR")
        if not self.timeout > 0:
            raise ValueError("a payment timeout must be positive")


@dataclass(frozen=True)
class PaymentResult:
    """The terminal's answer.  ``amount_cents`` is what was taken (0 unless approved).

    ``terminal_reference`` identifies the payment at the terminal / acquirer
    (for staff and the receipt); ``receipt_lines`` are the terminal's own
    receipt lines, when it gives them; ``detail`` is for staff logs (never
    a card number).
    """

    outcome: PaymentOutcome
    reference: str
    amount_cents: int = 0
    currency: str = "EUR"
    terminal_reference: str = ""
    receipt_lines: tuple[str, ...] = ()
    detail: str = ""

    def __repr__(self) -> str:
        return (
            f"PaymentResult({self.outcome.value}, ref={self.reference}, {self.amount_cents} {self.currency}, "
            f"terminal_ref={self.terminal_reference!r})"
        )


@dataclass(frozen=True)
class PaymentProgress(Event):
    """What the terminal asks of the patron now, for the kiosk screen.

    ``stage``: ``"sent"`` (request on its way), ``"present_card"``, ``"pin"``,
    ``"processing"``, ``"done"``.  A terminal that tells nothing emits only
    ``sent`` and ``done``.
    """

    stage: str
    reference: str = ""


class PaymentTerminal(Device):
    """A card payment terminal: one payment at a time, exactly once.

    :meth:`pay` returns when the payment is over (or given up on) and never
    raises for anything the terminal or the network did: that is in the
    result's ``outcome``.  It raises ``ValueError`` / :class:`DeviceError`
    only for a request it cannot send (nothing was charged).
    """

    EVENTS: ClassVar[tuple[type[Event], ...]] = (PaymentProgress,)

    @abstractmethod
    async def pay(self, request: PaymentRequest) -> PaymentResult:
        """Charge ``request.amount_cents``; the patron presents a card and enters the PIN on the terminal."""

    @abstractmethod
    async def abort(self, reference: str) -> None:
        """Ask the terminal to stop payment *reference* (the patron pressed Cancel on the kiosk).

        The running :meth:`pay` then returns ``CANCELLED`` - or ``APPROVED``
        when it was too late.  A no-op when nothing is in progress."""

    @abstractmethod
    async def payment_status(self, reference: str) -> PaymentResult:
        """What became of payment *reference* (after a lost answer or a restart).

        ``NOT_FOUND`` when the terminal never saw it; ``UNKNOWN`` when the
        terminal cannot be asked now."""


# --- speech output ----------------------------------------------------------------------------

#: Languages a speech device must speak (the kiosk's three, Dutch first).
SPEECH_LANGUAGES: tuple[str, ...] = ("nl", "fr", "en")

#: The word spoken for each character of a PIN: a PIN is never spoken.
PIN_WORDS: dict[str, str] = {"nl": "punt", "fr": "point", "en": "dot"}

#: Longest text one ``say`` accepts (a screen's worth; more is a caller bug).
SPEECH_MAX_CHARS = 4000


def spoken_pin(pin: str, language: str) -> str:
    """What to speak for the PIN typed so far: one "dot" word per character.

    ``spoken_pin("0101", "nl") == "punt punt punt punt"``; ``""`` for an
    empty PIN.  Only the count is ever spoken, never a digit: speak the PIN
    field through this and nothing else.
    """
    try:
        word = PIN_WORDS[language]
    except KeyError:
        raise ValueError(f"no PIN word for language {str(language)[:10]!r}; valid: {', '.join(PIN_WORDS)}") from None
    return " ".join(word for _ in str(pin))


def _check_speech(text: str, language: str) -> None:
    if not isinstance(text, str):
        raise TypeError("say() needs text as a str")
    if language not in SPEECH_LANGUAGES:
        raise ValueError(f"unknown speech language {str(language)[:10]!r}; valid: {', '.join(SPEECH_LANGUAGES)}")
    if len(text) > SPEECH_MAX_CHARS:
        raise ValueError(f"say() text of {len(text)} characters; at most {SPEECH_MAX_CHARS}")


def _check_volume(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"volume must be a whole number 0-100, not {str(value)[:20]!r}")
    return value


class SpeechOutput(Device):
    """Speech output (text to speech) in the kiosk's languages (``tts``).

    :meth:`say` queues an utterance and returns at once; with
    ``interrupt=True`` (the default) whatever is being spoken or queued is
    dropped first, so a new screen cuts the old one off.  :meth:`stop`
    silences the device; :meth:`idle` waits until everything queued has been
    spoken (tests, and a caller that must not talk over itself).
    ``volume`` is 0-100 and applies to the next utterance.

    The caller never passes a PIN: it speaks :func:`spoken_pin` instead.

    A device that can tell whether headphones are in its jack emits
    :class:`HeadphonesChanged` (optional: most cannot, and emit nothing).
    """

    EVENTS: ClassVar[tuple[type[Event], ...]] = (HeadphonesChanged,)
    LANGUAGES: ClassVar[tuple[str, ...]] = SPEECH_LANGUAGES

    @abstractmethod
    async def say(self, text: str, language: str, *, interrupt: bool = True) -> None:
        """Queue *text* in *language* (``"nl"``, ``"fr"``, ``"en"``); ``ValueError`` for a bad one."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop speaking now and drop the queue (a no-op when silent)."""

    @abstractmethod
    async def idle(self, timeout: float | None = None) -> None:
        """Return when nothing is queued or being spoken (:class:`DeviceTimeout` after *timeout* s)."""

    @property
    @abstractmethod
    def speaking(self) -> bool:
        """True while an utterance is being spoken or waits in the queue."""

    @property
    @abstractmethod
    def volume(self) -> int: ...

    @volume.setter
    @abstractmethod
    def volume(self, value: int) -> None: ...


#: kind name -> kind ABC, in a stable order.
KINDS: dict[str, type[Device]] = {
    "patron": PatronReader,
    "scanner": BarcodeScanner,
    "rfid": ItemReader,
    "pinpad": PinPad,
    "lock": Lock,
    "door": DoorSensor,
    "indicator": Indicator,
    "printer": ReceiptPrinter,
    "payment": PaymentTerminal,
    "tts": SpeechOutput,
}


def kind_names(device: Device | type[Device]) -> list[str]:
    klass = device if isinstance(device, type) else type(device)
    return [name for name, kind in KINDS.items() if issubclass(klass, kind)]


def kind_class(kind: str | type[Device]) -> type[Device]:
    """``"lock"`` or ``Lock`` -> ``Lock``; :class:`~devices.errors.DeviceUrlError` if unknown."""
    from .errors import DeviceUrlError

    if isinstance(kind, type):
        if issubclass(kind, Device):
            return kind
        raise DeviceUrlError(f"{kind.__name__} is not a device kind", valid=KINDS)
    try:
        return KINDS[str(kind).strip().lower()]
    except KeyError:
        raise DeviceUrlError(f"unknown device kind {str(kind)[:40]!r}", valid=KINDS) from None
