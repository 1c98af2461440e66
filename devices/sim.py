"""``sim://`` - a simulated device of every kind, scriptable from tests and the demo.

URL grammar::

    sim://KIND[,KIND...][?name=NAME&...]
    sim://?kind=KIND[,KIND...]
    sim://door-controller         # patron,pinpad,indicator,lock,door (like an OSDP reader)

KIND is one of ``patron scanner rfid pinpad lock door indicator printer payment tts``.
``open_device("sim://", kind=Lock)`` simulates the asked kind.

Options: ``name`` (the name on the :data:`BUS`; default: the kinds joined by
``+``), ``reader`` (label in ``CardPresented.reader``), ``tags`` (RFID tags
in the field at start: item ids separated by commas).

Every open sim device registers on the module-level :class:`SimBus`
(:data:`BUS`) under its name; the control surface acts on it::

    from devices import sim
    sim.tap_card("29548000001003")                # -> CardPresented
    sim.scan("3000012345678")                     # -> Scanned
    sim.place_items(["3000012345678", Tag(...)])  # -> TagsChanged
    sim.remove_items(["E004..."]) / sim.remove_items()
    sim.press_keys("0101#")                       # -> KeyPressed x5
    sim.open_door(); sim.close_door(); sim.press_exit()
    sim.lock_history(); sim.indicator_history(); sim.printed()
    sim.unplug(); sim.replug()                    # -> DeviceEvent lost / back
    sim.script_payments(["approve", "decline"])   # answers for the next payments
    sim.answer_payment("approve")                 # answers the payment waiting now
    sim.payments(); sim.payment_waiting()
    sim.spoken()                                  # what a sim://tts said: Utterance(text, language, volume)
    sim.plug_headphones(); sim.plug_headphones(False)  # -> HeadphonesChanged (sim://tts)

A payment terminal answers each ``pay`` with the next scripted outcome (after
``pay_delay`` seconds), or, with nothing scripted, waits for
``answer_payment`` (the demo's simulator panel) until the request's timeout.
Outcomes: ``approve``, ``decline``, ``cancel`` (the patron cancelled on the
terminal), ``timeout``, ``offline`` (the terminal cannot be reached: it never
sees the payment), ``lost`` (approved, but the answer is lost: ``pay``
returns ``unknown`` and ``status`` then says ``approved``).

Each function takes ``name=`` to pick a device; without it, the one open
device of that kind is used (an error lists them if there are several).
The functions are plain (not async) and may be called from any thread.

Support table:

=============  ===========================================================
kind           simulated
=============  ===========================================================
patron         CardPresented with any IdentifierKind
scanner        Scanned
rfid           inventory, TagsChanged, set_security (AFI 0x07 / 0xC2)
pinpad         KeyPressed
lock           release(seconds) with automatic relock, lock, state, history
door           DoorOpened, DoorClosed, ExitPressed, door_open
indicator      show(pattern), history
printer        print_receipt, history of receipts
payment        pay / abort / status with scripted or manual outcomes, receipt
               lines, progress events, lost answers resolved by status
tts            say / stop / idle / volume; every utterance recorded (text,
               language, volume; ``interrupted`` when cut off), spoken
               instantly or over ``speak_seconds``; headphones plugged /
               pulled (HeadphonesChanged) by ``plug_headphones``
(all)          unplug / replug: DeviceEvent lost / back, operations raise
=============  ===========================================================
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from .base import _check_speech, _check_volume
from .base import (
    AFI_IN_LIBRARY,
    AFI_ON_LOAN,
    KINDS,
    BarcodeScanner,
    CardPresented,
    Device,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    ExitPressed,
    HeadphonesChanged,
    IdentifierKind,
    Indicator,
    ItemReader,
    KeyPressed,
    Lock,
    LockState,
    PatronReader,
    Pattern,
    PinPad,
    PaymentOutcome,
    PaymentProgress,
    PaymentRequest,
    PaymentResult,
    PaymentTerminal,
    SpeechOutput,
    ReceiptPrinter,
    Scanned,
    Tag,
    TagsChanged,
    kind_names,
)
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout, DeviceUrlError
from .url import DeviceUrl, parse_url

__all__ = [
    "SimBus",
    "BUS",
    "SimDevice",
    "Receipt",
    "open_sim",
    "sim_class",
    "tap_card",
    "scan",
    "place_items",
    "remove_items",
    "press_keys",
    "open_door",
    "close_door",
    "press_exit",
    "lock_history",
    "indicator_history",
    "printed",
    "unplug",
    "replug",
    "script_payments",
    "answer_payment",
    "payments",
    "payment_waiting",
    "spoken",
    "plug_headphones",
    "Utterance",
    "PAYMENT_ACTIONS",
    "tag_for",
    "tags",
]

log = logging.getLogger("devices.sim")

#: What a simulated device remembers for tests and the demo panel (lock moves,
#: indicator patterns, receipts, payments): the newest this many.  A demo or a
#: bench runs for days; an unbounded list would grow with every patron.
HISTORY = 256

ALIASES = {"door-controller": ("patron", "pinpad", "indicator", "lock", "door")}
PIN_KEYS = set("0123456789#*")
#: What a simulated payment terminal can answer.
PAYMENT_ACTIONS = ("approve", "decline", "cancel", "timeout", "offline", "lost")


@dataclass(frozen=True)
class Utterance:
    """One thing a simulated speech device said (``interrupted``: cut off by stop / a new say)."""

    text: str
    language: str
    volume: int
    interrupted: bool = False


@dataclass(frozen=True)
class Receipt:
    lines: tuple[str, ...]
    barcode: str | None
    cut: bool


def tag_for(item_id: str, *, part_number: int = 1, set_parts: int = 1, secured: bool = True, isil: str = "BE-SIM") -> Tag:
    """A decoded tag for *item_id* with a stable made-up ISO 15693 uid."""
    digest = hashlib.sha1(f"{item_id}/{part_number}".encode()).hexdigest().upper()
    return Tag(
        uid="E004" + digest[:12],
        item_id=item_id,
        set_parts=set_parts,
        part_number=part_number,
        country="BE",
        isil=isil,
        afi=AFI_IN_LIBRARY if secured else AFI_ON_LOAN,
        secured=secured,
    )


# --- the bus --------------------------------------------------------------------------------


class SimBus:
    """Open sim devices by name, and the control surface acting on them."""

    def __init__(self) -> None:
        self._devices: dict[str, SimDevice] = {}
        self._lock = threading.Lock()

    def register(self, device: SimDevice) -> None:
        with self._lock:
            other = self._devices.get(device.sim_name)
            if other is not None and other is not device:
                raise DeviceError(f"a sim device named {device.sim_name!r} is already open")
            self._devices[device.sim_name] = device

    def unregister(self, device: SimDevice) -> None:
        with self._lock:
            if self._devices.get(device.sim_name) is device:
                del self._devices[device.sim_name]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._devices)

    def get(self, name: str | None = None, kind: type[Device] = Device) -> SimDevice:
        with self._lock:
            devices = dict(self._devices)
        if name is not None:
            dev = devices.get(name)
            if dev is None:
                raise DeviceNotFound(f"no open sim device named {name!r}; open: {', '.join(sorted(devices)) or 'none'}")
            if not isinstance(dev, kind):
                raise DeviceError(f"sim device {name!r} is not a {kind.__name__}")
            return dev
        found = [dev for dev in devices.values() if isinstance(dev, kind)]
        if len(found) != 1:
            which = ", ".join(sorted(d.sim_name for d in found)) or "none"
            raise DeviceNotFound(f"{len(found)} open sim {kind.__name__} devices ({which}): pass name=")
        return found[0]

    # control surface
    def tap_card(self, identifier: str, kind: IdentifierKind = IdentifierKind.BARCODE, *, name: str | None = None) -> None:
        dev = self.get(name, PatronReader)
        dev._sim_emit(CardPresented(identifier, IdentifierKind(kind), dev.options["reader"] or dev.sim_name))

    def scan(self, data: str, *, name: str | None = None) -> None:
        self.get(name, BarcodeScanner)._sim_emit(Scanned(data))

    def place_items(self, items: Iterable[Tag | str], *, name: str | None = None) -> list[Tag]:
        dev = self.get(name, ItemReader)
        tags = [item if isinstance(item, Tag) else tag_for(str(item)) for item in items]
        dev._sim_call(dev._place, tags)  # type: ignore[attr-defined]
        return tags

    def remove_items(self, uids: Iterable[str | Tag] | None = None, *, name: str | None = None) -> None:
        dev = self.get(name, ItemReader)
        keys = None if uids is None else [u.uid if isinstance(u, Tag) else str(u) for u in uids]
        dev._sim_call(dev._remove, keys)  # type: ignore[attr-defined]

    def tags(self, *, name: str | None = None) -> list[Tag]:
        dev = self.get(name, ItemReader)
        return sorted(dev._tags.values(), key=lambda t: t.uid)  # type: ignore[attr-defined]

    def press_keys(self, keys: str, *, name: str | None = None) -> None:
        bad = set(keys) - PIN_KEYS
        if bad:
            raise ValueError("PIN pad keys are 0-9, # and *")
        dev = self.get(name, PinPad)
        for key in keys:
            dev._sim_emit(KeyPressed(key))

    def open_door(self, *, name: str | None = None) -> None:
        dev = self.get(name, DoorSensor)
        dev._sim_call(dev._set_door, True)  # type: ignore[attr-defined]

    def close_door(self, *, name: str | None = None) -> None:
        dev = self.get(name, DoorSensor)
        dev._sim_call(dev._set_door, False)  # type: ignore[attr-defined]

    def press_exit(self, *, name: str | None = None) -> None:
        self.get(name, DoorSensor)._sim_emit(ExitPressed())

    def lock_history(self, *, name: str | None = None) -> list[tuple[str, float | None]]:
        return list(self.get(name, Lock)._lock_history)  # type: ignore[attr-defined]

    def indicator_history(self, *, name: str | None = None) -> list[Pattern]:
        return list(self.get(name, Indicator)._patterns)  # type: ignore[attr-defined]

    def printed(self, *, name: str | None = None) -> list[Receipt]:
        return list(self.get(name, ReceiptPrinter)._receipts)  # type: ignore[attr-defined]

    def script_payments(self, outcomes: Iterable[str], *, name: str | None = None) -> None:
        """Answers for the next payments, in order (see :data:`PAYMENT_ACTIONS`)."""
        wanted = [str(o).strip().lower() for o in outcomes]
        bad = [o for o in wanted if o not in PAYMENT_ACTIONS]
        if bad:
            raise ValueError(f"unknown payment outcome {bad[0][:20]!r}; valid: {', '.join(PAYMENT_ACTIONS)}")
        dev = self.get(name, PaymentTerminal)
        dev._script.extend(wanted)  # type: ignore[attr-defined]

    def answer_payment(self, outcome: str, *, name: str | None = None) -> None:
        """Answer the payment the terminal is waiting on now (the demo's panel)."""
        outcome = str(outcome).strip().lower()
        if outcome not in PAYMENT_ACTIONS:
            raise ValueError(f"unknown payment outcome {outcome[:20]!r}; valid: {', '.join(PAYMENT_ACTIONS)}")
        dev = self.get(name, PaymentTerminal)
        dev._sim_call(dev._answer, outcome)  # type: ignore[attr-defined]

    def payments(self, *, name: str | None = None) -> list[PaymentResult]:
        """Every payment the simulated terminal answered, oldest first."""
        return list(self.get(name, PaymentTerminal)._history)  # type: ignore[attr-defined]

    def spoken(self, *, name: str | None = None) -> list[Utterance]:
        """Everything the simulated speech device said, oldest first."""
        return list(self.get(name, SpeechOutput)._spoken)  # type: ignore[attr-defined]

    def plug_headphones(self, plugged: bool = True, *, name: str | None = None) -> None:
        """Plug headphones into (or pull them from) a sim://tts jack: HeadphonesChanged."""
        dev = self.get(name, SpeechOutput)
        dev._sim_call(dev._set_headphones, bool(plugged))  # type: ignore[attr-defined]

    def payment_waiting(self, *, name: str | None = None) -> bool:
        return bool(self.get(name, PaymentTerminal)._waiting)  # type: ignore[attr-defined]

    def unplug(self, *, name: str | None = None) -> None:
        dev = self.get(name)
        dev._sim_call(dev._report_lost, "simulated unplug")

    def replug(self, *, name: str | None = None) -> None:
        dev = self.get(name)
        dev._sim_call(dev._report_back, "simulated replug")


BUS = SimBus()


# --- devices --------------------------------------------------------------------------------


class SimDevice(Device):
    """Base of the simulated devices (see the module docstring)."""

    SCHEMES = ("sim",)
    OPTIONS: ClassVar[dict[str, Any]] = {
        "kind": (str, "", "kinds to simulate, comma separated (instead of the path)"),
        "reader": (str, "", "reader label in CardPresented events (default: the name)"),
        "tags": (str, "", "RFID: item ids in the field at start, comma separated"),
        "pay_delay": (float, 0.0, "payment: seconds before a scripted answer"),
        "speak_seconds": (float, 0.0, "tts: seconds each utterance takes to speak (0: instant)"),
    }
    SIM_KINDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self.sim_name: str = self.options["name"] or "+".join(self.SIM_KINDS) or "sim"
        self.label = f"sim:{self.sim_name}"

    async def open(self) -> None:
        BUS.register(self)
        await super().open()

    async def close(self) -> None:
        BUS.unregister(self)
        await super().close()

    def _sim_call(self, func: Any, *args: Any) -> None:
        """Run *func* in the device's loop (from any thread)."""
        if not self._opened or self._loop is None:
            raise DeviceDisconnected(f"{self.label} is not open")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    def _sim_emit(self, event: Any) -> None:
        if self._lost:
            log.info("%s: unplugged, simulated input dropped", self.label)
            return
        self._sim_call(self._emit, event)


class _SimPatron(SimDevice, PatronReader):
    pass


class _SimScanner(SimDevice, BarcodeScanner):
    pass


class _SimPinPad(SimDevice, PinPad):
    pass


class _SimItems(SimDevice, ItemReader):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._tags: dict[str, Tag] = {}
        for item_id in filter(None, (s.strip() for s in self.options["tags"].split(","))):
            tag = tag_for(item_id)
            self._tags[tag.uid] = tag

    def _changed(self, added: Iterable[str], removed: Iterable[str]) -> None:
        self._emit(TagsChanged(tuple(sorted(self._tags.values(), key=lambda t: t.uid)), tuple(added), tuple(removed)))

    def _place(self, tags: list[Tag]) -> None:
        added = []
        for tag in tags:
            if tag.uid not in self._tags:
                added.append(tag.uid)
            self._tags[tag.uid] = tag
        if not self._lost:
            self._changed(added, ())

    def _remove(self, uids: list[str] | None) -> None:
        gone = list(self._tags) if uids is None else [u for u in uids if u in self._tags]
        for uid in gone:
            del self._tags[uid]
        if not self._lost:
            self._changed((), gone)

    async def inventory(self) -> list[Tag]:
        self._require_ok()
        return sorted(self._tags.values(), key=lambda t: t.uid)

    async def set_security(self, uid: str, secured: bool) -> None:
        self._require_ok()
        tag = self._tags.get(uid.upper())
        if tag is None:
            raise DeviceNotFound(f"{self.label}: tag not in the field")
        self._tags[tag.uid] = replace(tag, secured=bool(secured), afi=AFI_IN_LIBRARY if secured else AFI_ON_LOAN)


class _SimLock(SimDevice, Lock):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._state = LockState.LOCKED
        self._lock_history: deque[tuple[str, float | None]] = deque(maxlen=HISTORY)
        self._relock: asyncio.TimerHandle | None = None

    @property
    def state(self) -> LockState:
        return self._state

    async def release(self, seconds: float) -> None:
        self._require_ok()
        if not seconds > 0:
            raise ValueError("release needs a positive number of seconds")
        if self._relock is not None:
            self._relock.cancel()
        self._state = LockState.RELEASED
        self._lock_history.append(("release", float(seconds)))
        self._relock = asyncio.get_running_loop().call_later(seconds, self._auto_lock)

    def _auto_lock(self) -> None:
        self._relock = None
        self._state = LockState.LOCKED
        self._lock_history.append(("lock", None))

    async def lock(self) -> None:
        self._require_ok()
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        self._state = LockState.LOCKED
        self._lock_history.append(("lock", None))

    async def close(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
        await super().close()


class _SimDoor(SimDevice, DoorSensor):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._door: bool = False

    @property
    def door_open(self) -> bool | None:
        return self._door

    def _set_door(self, is_open: bool) -> None:
        if self._lost:
            return
        if is_open != self._door:
            self._door = is_open
            self._emit(DoorOpened() if is_open else DoorClosed())


class _SimIndicator(SimDevice, Indicator):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._patterns: deque[Pattern] = deque(maxlen=HISTORY)

    async def show(self, pattern: Pattern) -> None:
        self._require_ok()
        self._patterns.append(Pattern(pattern))


class _SimPrinter(SimDevice, ReceiptPrinter):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        self._receipts: deque[Receipt] = deque(maxlen=HISTORY)

    async def print_receipt(self, lines: list[str], barcode: str | None = None, cut: bool = True) -> None:
        self._require_ok()
        self._receipts.append(Receipt(tuple(str(line) for line in lines), barcode, bool(cut)))


class _SimPayment(SimDevice, PaymentTerminal):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if self.options["pay_delay"] < 0:
            raise DeviceUrlError("pay_delay must be 0 or more seconds")
        import collections

        self._script: collections.deque[str] = collections.deque()
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._known: dict[str, PaymentResult] = {}
        self._history: deque[PaymentResult] = deque(maxlen=HISTORY)
        self._counter = 0

    def _answer(self, outcome: str) -> None:
        for fut in list(self._waiting.values()):
            if not fut.done():
                fut.set_result(outcome)
                return
        raise DeviceError(f"{self.label}: no payment is waiting for an answer")

    def _result(self, request: PaymentRequest, action: str) -> PaymentResult:
        if action in ("approve", "lost"):
            self._counter += 1
            ref = f"SIM{self._counter:06d}"
            amount = f"{request.currency} {request.amount_cents // 100},{request.amount_cents % 100:02d}"
            lines = ("bibkiosk sim terminal", f"Ref. {ref}", amount, "AKKOORD / ACCEPTE / APPROVED")
            return PaymentResult(PaymentOutcome.APPROVED, request.reference, request.amount_cents, request.currency,
                                 ref, lines, "approved (sim)")
        outcome = {
            "decline": PaymentOutcome.DECLINED,
            "cancel": PaymentOutcome.CANCELLED,
            "abort": PaymentOutcome.CANCELLED,
            "timeout": PaymentOutcome.TIMEOUT,
            "offline": PaymentOutcome.OFFLINE,
        }[action]
        return PaymentResult(outcome, request.reference, 0, request.currency, detail=f"{action} (sim)")

    async def pay(self, request: PaymentRequest) -> PaymentResult:
        if not isinstance(request, PaymentRequest):
            raise TypeError("pay() needs a PaymentRequest")
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        if request.reference in self._known or request.reference in self._waiting:
            raise DeviceError(f"{self.label}: payment reference used before")
        if self._lost:
            result = PaymentResult(PaymentOutcome.OFFLINE, request.reference, currency=request.currency,
                                   detail="terminal unplugged (sim)")
            self._history.append(result)
            return result
        self._emit(PaymentProgress("sent", request.reference))
        if self._script:
            action = self._script.popleft()
            if action != "offline":
                self._emit(PaymentProgress("present_card", request.reference))
            fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._waiting[request.reference] = fut
            try:
                if self.options["pay_delay"]:
                    try:
                        action = await asyncio.wait_for(asyncio.shield(fut), self.options["pay_delay"])
                    except TimeoutError:
                        pass
                elif fut.done():
                    action = fut.result()
            finally:
                self._waiting.pop(request.reference, None)
        else:
            self._emit(PaymentProgress("present_card", request.reference))
            fut = asyncio.get_running_loop().create_future()
            self._waiting[request.reference] = fut
            try:
                action = await asyncio.wait_for(fut, request.timeout)
            except TimeoutError:
                action = "timeout"
            finally:
                self._waiting.pop(request.reference, None)
        result = self._result(request, action)
        if action != "offline":
            self._known[request.reference] = result
        if action == "lost":
            answered = PaymentResult(PaymentOutcome.UNKNOWN, request.reference, currency=request.currency,
                                     detail="answer lost (sim)")
        else:
            answered = result
        self._history.append(answered)
        self._emit(PaymentProgress("done", request.reference))
        return answered

    async def abort(self, reference: str) -> None:
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        fut = self._waiting.get(reference)
        if fut is not None and not fut.done():
            fut.set_result("abort")

    async def payment_status(self, reference: str) -> PaymentResult:
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        if self._lost:
            return PaymentResult(PaymentOutcome.UNKNOWN, reference, detail="terminal unplugged (sim)")
        if reference in self._waiting:
            return PaymentResult(PaymentOutcome.IN_PROGRESS, reference, detail="in progress (sim)")
        known = self._known.get(reference)
        if known is None:
            return PaymentResult(PaymentOutcome.NOT_FOUND, reference, detail="never seen (sim)")
        return known

    async def close(self) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result("abort")
        await super().close()


class _SimSpeech(SimDevice, SpeechOutput):
    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if self.options["speak_seconds"] < 0:
            raise DeviceUrlError("speak_seconds must be 0 or more seconds")
        import collections

        self._spoken: deque[Utterance] = deque(maxlen=4 * HISTORY)  # a screen says several
        self._queue: collections.deque[Utterance] = collections.deque()
        self._current: Utterance | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._volume = 50
        self._quiet: asyncio.Event | None = None
        #: headphones in the simulated jack (plug_headphones)
        self.headphones = False

    @property
    def volume(self) -> int:
        return self._volume

    @volume.setter
    def volume(self, value: int) -> None:
        self._volume = _check_volume(value)

    @property
    def speaking(self) -> bool:
        return self._current is not None or bool(self._queue)

    def _set_headphones(self, plugged: bool) -> None:
        if plugged != self.headphones:
            self.headphones = plugged
            self._sim_emit(HeadphonesChanged(plugged))

    def _cut(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._current is not None:
            self._spoken[-1] = replace(self._current, interrupted=True)
            self._current = None
        self._queue.clear()

    def _next(self) -> None:
        self._timer = None
        self._current = None
        while self._queue:
            utt = self._queue.popleft()
            self._spoken.append(utt)
            if self.options["speak_seconds"]:
                self._current = utt
                self._timer = asyncio.get_running_loop().call_later(self.options["speak_seconds"], self._next)
                return
        if self._quiet is not None:
            self._quiet.set()

    async def say(self, text: str, language: str, *, interrupt: bool = True) -> None:
        _check_speech(text, language)
        self._require_ok()
        if interrupt:
            self._cut()
        if not text.strip():
            return
        self._queue.append(Utterance(text, language, self._volume))
        if self._quiet is None:
            self._quiet = asyncio.Event()
        self._quiet.clear()
        if self._current is None:
            self._next()

    async def stop(self) -> None:
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        self._cut()
        if self._quiet is not None:
            self._quiet.set()

    async def idle(self, timeout: float | None = None) -> None:
        if not self.speaking or self._quiet is None:
            return
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout)
        except TimeoutError:
            raise DeviceTimeout(f"{self.label}: still speaking after {timeout} s") from None

    async def close(self) -> None:
        self._cut()
        if self._quiet is not None:
            self._quiet.set()
        await super().close()


_MIXINS: dict[str, type[SimDevice]] = {
    "patron": _SimPatron,
    "scanner": _SimScanner,
    "rfid": _SimItems,
    "pinpad": _SimPinPad,
    "lock": _SimLock,
    "door": _SimDoor,
    "indicator": _SimIndicator,
    "printer": _SimPrinter,
    "payment": _SimPayment,
    "tts": _SimSpeech,
}
_CLASSES: dict[tuple[str, ...], type[SimDevice]] = {}


def sim_class(kinds: Iterable[str]) -> type[SimDevice]:
    """The sim device class for these kind names (cached)."""
    names: list[str] = []
    for raw in kinds:
        for part in ALIASES.get(raw, (raw,)):
            if part not in _MIXINS:
                raise DeviceUrlError(f"sim:// cannot simulate {part[:40]!r}", valid=[*KINDS, *ALIASES])
            if part not in names:
                names.append(part)
    if not names:
        raise DeviceUrlError("sim:// needs a kind: sim://KIND or sim://?kind=KIND", valid=[*KINDS, *ALIASES])
    key = tuple(sorted(names, key=list(KINDS).index))
    klass = _CLASSES.get(key)
    if klass is None:
        bases = tuple(_MIXINS[k] for k in key)
        title = "".join(k.title() for k in key)
        klass = type(f"Sim{title}", bases, {"SIM_KINDS": key, "__module__": __name__})
        _CLASSES[key] = klass
    return klass


def open_sim(url: DeviceUrl | str, *, kind_hint: type[Device] | None = None, **extra: Any) -> SimDevice:
    """Registry factory for ``sim://``."""
    parsed = parse_url(url)
    spec = (str(extra.get("kind") or parsed.options.get("kind") or "") or parsed.path).strip().strip("/")
    kinds = [k.strip().lower() for k in spec.replace("+", ",").split(",") if k.strip()]
    if not kinds and kind_hint is not None:
        kinds = kind_names(kind_hint)[:1]
    return sim_class(kinds)(parsed, **extra)


open_sim.accepts_kind_hint = True  # type: ignore[attr-defined]

# Module-level control surface (acting on BUS).
tap_card = BUS.tap_card
scan = BUS.scan
place_items = BUS.place_items
remove_items = BUS.remove_items
press_keys = BUS.press_keys
open_door = BUS.open_door
close_door = BUS.close_door
press_exit = BUS.press_exit
lock_history = BUS.lock_history
indicator_history = BUS.indicator_history
printed = BUS.printed
unplug = BUS.unplug
replug = BUS.replug
tags = BUS.tags
script_payments = BUS.script_payments
answer_payment = BUS.answer_payment
payments = BUS.payments
payment_waiting = BUS.payment_waiting
spoken = BUS.spoken
plug_headphones = BUS.plug_headphones
