"""Conformance suites: one per device kind, the kit behind ``bibkiosk devices test URL``.

A vendor runs ``bibkiosk devices test URL`` before saying "works with
bibkiosk"; our own tests run the same suites over every backend (sim, real
ptys, TCP peers, escpos files).

Where a person must act ("tap a card now") the suite calls an *actor*::

    async def actor(prompt: Prompt) -> bool

It returns True when the action was done (or, for ``confirm``, the answer is
yes), False when it cannot be done (the check is then skipped; a ``confirm``
answered no fails).  An actor with ``automatic = True`` (tests, ``sim://``)
promises to do exactly what the prompt's ``data`` says, so the suite also
compares the values.  Actions: ``tap_card``, ``scan``, ``place_items``,
``remove_items``, ``press_keys``, ``open_door``, ``close_door``,
``press_exit``, ``unplug``, ``replug``, ``confirm``; for payment terminals
``approve_payment``, ``decline_payment``, ``cancel_payment`` (the patron
cancels on the terminal) and ``hold_payment`` (present no card: the kit
aborts from the kiosk side), each asked for *before* the payment is sent.

Use :func:`run_conformance`; it returns a :class:`Report` (``.passed``,
``.text()``, ``.to_dict()``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .base import (
    KINDS,
    BarcodeScanner,
    CardPresented,
    Device,
    DeviceEvent,
    DoorClosed,
    DoorOpened,
    DoorSensor,
    ExitPressed,
    IdentifierKind,
    Indicator,
    ItemReader,
    KeyPressed,
    Lock,
    LockState,
    PatronReader,
    Pattern,
    PaymentOutcome,
    PaymentProgress,
    PaymentRequest,
    PaymentResult,
    PaymentTerminal,
    PinPad,
    ReceiptPrinter,
    Scanned,
    SpeechOutput,
    Tag,
    TagsChanged,
    kind_names,
    missing_parts,
)
from .errors import DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout
from .registry import open_device

__all__ = [
    "Prompt",
    "Actor",
    "Outcome",
    "CheckResult",
    "Report",
    "run_conformance",
    "sim_actor",
    "no_actor",
    "console_actor",
    "TEST_CARD",
    "TEST_CODE",
    "TEST_ITEMS",
    "TEST_KEYS",
    "TEST_AMOUNT_CENTS",
]

log = logging.getLogger("devices.conformance")

TEST_CARD = "29548000001003"
TEST_CODE = "3000000000017"
TEST_ITEMS = ("3000000000017", "3000000000024")
TEST_KEYS = "1234#"
#: What the payment suite charges (a test card on a test terminal).
TEST_AMOUNT_CENTS = 150
_HEX_RE = re.compile(r"^[0-9A-F]+$")


@dataclass(frozen=True)
class Prompt:
    action: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


Actor = Callable[[Prompt], Awaitable[bool]]


class Outcome(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    suite: str
    name: str
    outcome: Outcome
    detail: str = ""


@dataclass
class Report:
    url: str
    kinds: list[str]
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and not self.failures and any(r.outcome is Outcome.PASS for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is Outcome.FAIL]

    def outcome_of(self, suite: str, name: str) -> Outcome | None:
        for r in self.results:
            if r.suite == suite and r.name == name:
                return r.outcome
        return None

    def header(self) -> str:
        """The report's first line: what is tested (printed before the first prompt)."""
        return f"bibkiosk conformance: {self.url}  (kinds: {', '.join(self.kinds) or 'none'})"

    def text(self, *, header: bool = True) -> str:
        """The report; *header* False leaves out the first line (already printed by ``on_start``)."""
        lines = [self.header()] if header else []
        for r in self.results:
            lines.append(f"  {r.outcome.value.upper():4}  {r.suite:9} {r.name}" + (f"  - {r.detail}" if r.detail else ""))
        counts = {o: sum(1 for r in self.results if r.outcome is o) for o in Outcome}
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(
            f"{verdict}: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
            f"{counts[Outcome.SKIP]} skipped in {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kinds": self.kinds,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "results": [{**asdict(r), "outcome": r.outcome.value} for r in self.results],
        }


class _Failed(Exception):
    pass


class _Skipped(Exception):
    pass


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise _Failed(message)


# --- actors ---------------------------------------------------------------------------------


async def no_actor(prompt: Prompt) -> bool:
    """Nobody there: every interactive check is skipped."""
    return False


no_actor.automatic = False  # type: ignore[attr-defined]


def sim_actor(device: Device) -> Actor:
    """An automatic actor for a ``sim://`` device, through the sim control surface."""
    from . import sim

    name = device.sim_name  # type: ignore[attr-defined]

    async def actor(prompt: Prompt) -> bool:
        act, data = prompt.action, prompt.data
        if act == "tap_card":
            sim.tap_card(data.get("identifier", TEST_CARD), IdentifierKind.BARCODE, name=name)
        elif act == "scan":
            sim.scan(data.get("code", TEST_CODE), name=name)
        elif act == "place_items":
            sim.place_items(data.get("items", TEST_ITEMS), name=name)
        elif act == "remove_items":
            sim.remove_items(name=name)
        elif act == "press_keys":
            sim.press_keys(data.get("keys", TEST_KEYS), name=name)
        elif act == "open_door":
            sim.open_door(name=name)
        elif act == "close_door":
            sim.close_door(name=name)
        elif act == "press_exit":
            sim.press_exit(name=name)
        elif act == "unplug":
            sim.unplug(name=name)
        elif act == "replug":
            sim.replug(name=name)
        elif act in ("approve_payment", "decline_payment", "cancel_payment"):
            sim.script_payments([act.split("_")[0]], name=name)
        elif act == "hold_payment":
            pass  # nothing scripted: the simulated terminal waits for the patron
        elif act == "confirm":
            return True
        else:
            return False
        return True

    actor.automatic = True  # type: ignore[attr-defined]
    return actor


# --- the runner -----------------------------------------------------------------------------


class _Ctx:
    def __init__(self, device: Device, actor: Actor, timeout: float, report: Report) -> None:
        self.dev = device
        self.actor = actor
        self.timeout = timeout
        self.report = report
        self.automatic = bool(getattr(actor, "automatic", False))

    async def act(self, action: str, text: str, **data: Any) -> None:
        """Ask for an action; raise _Skipped if nobody can do it."""
        done = await self.actor(Prompt(action, text, data))
        if not done:
            raise _Skipped(f"not done: {action}")

    async def confirm(self, question: str) -> None:
        ok = await self.actor(Prompt("confirm", question, {"question": question}))
        if not ok:
            raise _Failed(f"answered no: {question}")

    async def check(self, suite: str, name: str, func: Callable[[], Awaitable[str | None]]) -> Outcome:
        try:
            detail = await asyncio.wait_for(func(), self.timeout * 4)
            result = CheckResult(suite, name, Outcome.PASS, detail or "")
        except _Skipped as exc:
            result = CheckResult(suite, name, Outcome.SKIP, str(exc))
        except _Failed as exc:
            result = CheckResult(suite, name, Outcome.FAIL, str(exc))
        except TimeoutError:
            result = CheckResult(suite, name, Outcome.FAIL, "check timed out")
        except DeviceTimeout as exc:
            result = CheckResult(suite, name, Outcome.FAIL, f"timed out: {exc}")
        except Exception as exc:  # noqa: BLE001 - a crashing driver is a failed check
            result = CheckResult(suite, name, Outcome.FAIL, f"{type(exc).__name__}: {exc}")
        self.report.results.append(result)
        log.info("conformance %s/%s: %s %s", suite, name, result.outcome.value, result.detail)
        return result.outcome

    async def wait_for(self, stream: Any, kinds: tuple[type, ...], pred: Callable[[Any], bool] = lambda e: True) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failed(f"no {'/'.join(k.__name__ for k in kinds)} event within {self.timeout:g} s")
            try:
                ev = await stream.get(left)
            except DeviceTimeout:
                continue
            if isinstance(ev, kinds) and pred(ev):
                return ev


async def _common_open(ctx: _Ctx) -> str:
    await ctx.dev.open()
    _expect(ctx.dev.status.ok, f"status after open is not ok: {ctx.dev.status.detail}")
    return ctx.dev.status.detail


async def _common_declared(ctx: _Ctx) -> str:
    dev = ctx.dev
    _expect(bool(kind_names(dev)), "the device implements no kind ABC")
    options = type(dev).all_options()
    for name, spec in options.items():
        _expect(isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[2], str) and spec[2], f"option {name!r}: need (type, default, help)")
    module = sys.modules.get(type(dev).__module__)
    doc = inspect.getdoc(module) or ""
    _expect(dev.url.scheme in doc, f"module docstring of {type(dev).__module__} does not state the URL grammar ({dev.url.scheme}://)")
    _expect("===" in doc or "| " in doc, f"module docstring of {type(dev).__module__} has no support table")
    return f"{len(options)} options, docstring {len(doc)} chars"


def duplicate_window(dev: Device) -> float:
    """Seconds in which the driver ignores the same card again (its ``repeat``
    option, the convention of docs/drivers.md; 0 without one)."""
    try:
        return max(0.0, float(dev.options.get("repeat", 0.0) or 0.0))
    except (AttributeError, TypeError, ValueError):
        return 0.0


async def _patron(ctx: _Ctx) -> None:
    dev = ctx.dev
    stream = dev.events(CardPresented)
    first_at: list[float] = []
    try:

        async def card() -> str:
            await ctx.act("tap_card", "Present a patron card (or eID) to the reader now", identifier=TEST_CARD)
            ev = await ctx.wait_for(stream, (CardPresented,))
            _expect(isinstance(ev.identifier, str) and ev.identifier.strip() == ev.identifier and ev.identifier, "empty or padded identifier")
            _expect(isinstance(ev.kind, IdentifierKind), f"kind is not an IdentifierKind: {ev.kind!r}")
            _expect(isinstance(ev.reader, str), "reader label is not a string")
            _expect(ev.identifier not in repr(ev), "the event repr shows the identifier")
            first_at.append(time.monotonic())
            if ctx.automatic:
                _expect(ev.identifier == TEST_CARD, "identifier differs from the card presented")
            return f"kind={ev.kind.value}, {len(ev.identifier)} chars, reader={ev.reader!r}"

        async def again() -> str:
            # The driver ignores the same card within its duplicate window: wait it out
            # (from the first event on) and tell the person to, or the check fails wrongly.
            window = duplicate_window(dev)
            text = "Take the card away and present it again"
            if window:
                left = first_at[-1] + window + 0.2 - time.monotonic() if first_at else window + 0.2
                if left > 0:
                    await asyncio.sleep(left)
                text = (f"Take the card away, wait {window:g} s (the driver ignores the same card within "
                        f"{window:g} s) and present it again")
            await ctx.act("tap_card", text, identifier=TEST_CARD, wait_seconds=window)
            ev = await ctx.wait_for(stream, (CardPresented,))
            return f"kind={ev.kind.value}" + (f", after the {window:g} s duplicate window" if window else "")

        if await ctx.check("patron", "card presented", card) is Outcome.PASS:
            await ctx.check("patron", "card presented again", again)
    finally:
        stream.close()


async def _scanner(ctx: _Ctx) -> None:
    stream = ctx.dev.events(Scanned)
    try:

        async def one() -> str:
            await ctx.act("scan", "Scan a barcode now", code=TEST_CODE)
            ev = await ctx.wait_for(stream, (Scanned,))
            _expect(isinstance(ev.data, str) and ev.data, "empty scan")
            _expect(all(ch.isprintable() or ch == "\x1d" for ch in ev.data), "scan contains control characters (suffix not stripped?)")
            _expect(ev.data not in repr(ev), "the event repr shows the data")
            if ctx.automatic:
                _expect(ev.data == TEST_CODE, "scan differs from the code scanned")
            return f"{len(ev.data)} chars"

        async def two() -> str:
            await ctx.act("scan", "Scan the barcode once more", code=TEST_CODE)
            ev = await ctx.wait_for(stream, (Scanned,))
            if ctx.automatic:
                _expect(stream.pending() == 0, "more events than scans")
            return f"{len(ev.data)} chars"

        if await ctx.check("scanner", "barcode scanned", one) is Outcome.PASS:
            await ctx.check("scanner", "second scan", two)
    finally:
        stream.close()


async def _rfid(ctx: _Ctx) -> None:
    dev: ItemReader = ctx.dev  # type: ignore[assignment]
    stream = dev.events(TagsChanged)
    state: dict[str, Any] = {}
    try:

        async def place() -> str:
            await ctx.act("place_items", "Place two tagged library items on the reader", items=list(TEST_ITEMS))
            ev = await ctx.wait_for(stream, (TagsChanged,), lambda e: len(e.tags) >= (2 if ctx.automatic else 1))
            _expect(all(isinstance(t, Tag) for t in ev.tags), "TagsChanged.tags holds non-Tag objects")
            return f"{len(ev.tags)} tags"

        async def inventory() -> str:
            tags = await dev.inventory()
            _expect(bool(tags), "inventory is empty with items on the reader")
            for tag in tags:
                _expect(bool(_HEX_RE.match(tag.uid)), "uid is not upper-case hex")
                _expect(isinstance(tag.secured, bool), "secured is not a bool")
            decoded = [t for t in tags if not t.error]
            _expect(bool(decoded), "no tag decoded")
            if ctx.automatic:
                _expect(sorted(t.item_id for t in decoded) == sorted(TEST_ITEMS), "item ids differ from the items placed")
            missing_parts(tags)
            state["tag"] = decoded[0]
            return f"{len(tags)} tags, {len(decoded)} decoded"

        async def security() -> str:
            tag: Tag = state["tag"]
            original = tag.secured
            for wanted in (not original, original):
                await dev.set_security(tag.uid, wanted)
                now = {t.uid: t for t in await dev.inventory()}
                _expect(tag.uid in now, "tag left the field")
                _expect(now[tag.uid].secured is wanted, f"security is {now[tag.uid].secured} after set_security({wanted})")
            return "cleared and set again"

        async def absent() -> str:
            try:
                await dev.set_security("E0FFFFFFFFFFFFFE", False)
            except DeviceNotFound:
                return "DeviceNotFound"
            except DeviceError as exc:
                return f"{type(exc).__name__}"
            raise _Failed("set_security on a tag not in the field did not raise")

        async def remove() -> str:
            await ctx.act("remove_items", "Take every item off the reader")
            await ctx.wait_for(stream, (TagsChanged,), lambda e: not e.tags)
            _expect(await dev.inventory() == [], "inventory not empty after removing the items")
            return "field empty"

        if await ctx.check("rfid", "items placed", place) is Outcome.PASS:
            if await ctx.check("rfid", "inventory decoded", inventory) is Outcome.PASS:
                await ctx.check("rfid", "security bit", security)
            await ctx.check("rfid", "tag not in field", absent)
            await ctx.check("rfid", "items removed", remove)
    finally:
        stream.close()


async def _pinpad(ctx: _Ctx) -> None:
    stream = ctx.dev.events(KeyPressed)
    try:

        async def keys() -> str:
            await ctx.act("press_keys", f"Press {' '.join(TEST_KEYS)} on the PIN pad", keys=TEST_KEYS)
            got = []
            for _ in TEST_KEYS:
                ev = await ctx.wait_for(stream, (KeyPressed,))
                _expect(ev.key in set("0123456789#*"), "key outside 0-9 # *")
                _expect(not ev.key.isdigit() or ev.key not in repr(ev), "the event repr shows a digit")
                got.append(ev.key)
            if ctx.automatic:
                _expect("".join(got) == TEST_KEYS, "keys differ from the keys pressed")
            return f"{len(got)} keys"

        await ctx.check("pinpad", "keys pressed", keys)
    finally:
        stream.close()


async def _lock(ctx: _Ctx) -> None:
    dev: Lock = ctx.dev  # type: ignore[assignment]

    async def release() -> str:
        await dev.release(1.0)
        _expect(dev.state is LockState.RELEASED, f"state after release is {dev.state}")
        await ctx.confirm("Did the lock release (click / open) just now?")
        return "released"

    async def relock() -> str:
        deadline = time.monotonic() + 1.0 + ctx.timeout
        while dev.state is not LockState.LOCKED and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        _expect(dev.state is LockState.LOCKED, "did not lock again by itself after the release time")
        return "locked again by itself"

    async def lock_now() -> str:
        await dev.release(30.0)
        await dev.lock()
        _expect(dev.state is LockState.LOCKED, f"state after lock() is {dev.state}")
        return "locked"

    async def bad_time() -> str:
        for bad in (0, -1):
            try:
                await dev.release(bad)
            except (ValueError, DeviceError):
                continue
            raise _Failed(f"release({bad}) was accepted")
        _expect(dev.state is LockState.LOCKED, "a refused release changed the state")
        return "refused"

    if await ctx.check("lock", "release", release) is Outcome.PASS:
        await ctx.check("lock", "relock after time", relock)
    await ctx.check("lock", "lock now", lock_now)
    await ctx.check("lock", "bad release time", bad_time)


async def _door(ctx: _Ctx) -> None:
    dev: DoorSensor = ctx.dev  # type: ignore[assignment]
    stream = dev.events(DoorOpened, DoorClosed, ExitPressed)
    try:

        async def opened() -> str:
            await ctx.act("open_door", "Open the door (or the door contact)")
            await ctx.wait_for(stream, (DoorOpened,))
            _expect(dev.door_open in (True, None), "door_open is False after DoorOpened")
            return "DoorOpened"

        async def closed() -> str:
            await ctx.act("close_door", "Close the door")
            await ctx.wait_for(stream, (DoorClosed,))
            _expect(dev.door_open in (False, None), "door_open is True after DoorClosed")
            return "DoorClosed"

        async def exit_button() -> str:
            await ctx.act("press_exit", "Press the exit button (if there is one)")
            await ctx.wait_for(stream, (ExitPressed,))
            return "ExitPressed"

        await ctx.check("door", "door opened", opened)
        await ctx.check("door", "door closed", closed)
        await ctx.check("door", "exit button", exit_button)
    finally:
        stream.close()


async def _indicator(ctx: _Ctx) -> None:
    dev: Indicator = ctx.dev  # type: ignore[assignment]

    async def patterns() -> str:
        for pattern in Pattern:
            await dev.show(pattern)
            await asyncio.sleep(0.05 if ctx.automatic else 1.0)
        await dev.show(Pattern.IDLE)
        await ctx.confirm("Did the indicator show five different patterns (idle, granted, refused, error, busy)?")
        return f"{len(Pattern)} patterns"

    await ctx.check("indicator", "patterns", patterns)


async def _printer(ctx: _Ctx) -> None:
    dev: ReceiptPrinter = ctx.dev  # type: ignore[assignment]

    async def receipt() -> str:
        lines = ["bibkiosk conformance test", "Ontleend / Emprunté / Borrowed", time.strftime("%Y-%m-%d %H:%M"), "-" * 24]
        await dev.print_receipt(lines, barcode=TEST_CODE, cut=True)
        await ctx.confirm("Did a receipt print with accented text and a barcode, and was it cut?")
        return f"{len(lines)} lines + barcode"

    async def plain() -> str:
        await dev.print_receipt(["no barcode, no cut"], barcode=None, cut=False)
        return "ok"

    await ctx.check("printer", "receipt with barcode", receipt)
    await ctx.check("printer", "receipt without barcode or cut", plain)


def _payment_ref(tag: str) -> str:
    return f"bkconf{time.time_ns() // 1000 % 10**12}{tag}"


def _check_result(result: Any, request: PaymentRequest) -> None:
    _expect(isinstance(result, PaymentResult), f"pay() returned {type(result).__name__}, not a PaymentResult")
    _expect(isinstance(result.outcome, PaymentOutcome), "outcome is not a PaymentOutcome")
    _expect(result.reference == request.reference, "the result is about another reference")
    _expect(all(isinstance(line, str) for line in result.receipt_lines), "receipt lines are not strings")
    if not result.outcome.charged:
        _expect(result.amount_cents == 0, f"{result.outcome.value} but {result.amount_cents} cents taken")


async def _payment(ctx: _Ctx) -> None:
    dev: PaymentTerminal = ctx.dev  # type: ignore[assignment]
    state: dict[str, Any] = {}
    stream = dev.events(PaymentProgress)
    try:

        async def approved() -> str:
            await ctx.act("approve_payment", "Present an approving test card and enter its PIN on the terminal",
                          amount_cents=TEST_AMOUNT_CENTS)
            request = PaymentRequest(_payment_ref("a"), TEST_AMOUNT_CENTS, timeout=ctx.timeout)
            result = await dev.pay(request)
            _check_result(result, request)
            _expect(result.outcome is PaymentOutcome.APPROVED, f"outcome {result.outcome.value}: {result.detail}")
            _expect(result.amount_cents == TEST_AMOUNT_CENTS, f"{result.amount_cents} cents taken, {TEST_AMOUNT_CENTS} asked")
            _expect(result.currency == "EUR", f"currency {result.currency}")
            _expect(isinstance(result.terminal_reference, str) and result.terminal_reference, "no terminal reference")
            stages = []
            while (ev := stream.get_nowait()) is not None:
                _expect(isinstance(ev, PaymentProgress) and isinstance(ev.stage, str), "progress event without a stage")
                stages.append(ev.stage)
            _expect("sent" in stages and "done" in stages, f"progress events {stages}: need at least sent and done")
            state["approved"] = result
            return f"terminal ref {len(result.terminal_reference)} chars, {len(result.receipt_lines)} receipt lines"

        async def status_approved() -> str:
            first: PaymentResult = state["approved"]
            again = await dev.payment_status(first.reference)
            _expect(again.outcome is PaymentOutcome.APPROVED, f"status says {again.outcome.value}")
            _expect(again.terminal_reference == first.terminal_reference, "status gives another terminal reference")
            _expect(again.amount_cents == first.amount_cents, "status gives another amount")
            return "approved, same reference and amount"

        async def declined() -> str:
            await ctx.act("decline_payment", "Present a declining test card on the terminal", amount_cents=TEST_AMOUNT_CENTS)
            request = PaymentRequest(_payment_ref("d"), TEST_AMOUNT_CENTS, timeout=ctx.timeout)
            result = await dev.pay(request)
            _check_result(result, request)
            _expect(result.outcome is PaymentOutcome.DECLINED, f"outcome {result.outcome.value}: {result.detail}")
            return result.detail or "declined"

        async def cancelled() -> str:
            await ctx.act("cancel_payment", "Press Cancel (the red key) on the terminal", amount_cents=TEST_AMOUNT_CENTS)
            request = PaymentRequest(_payment_ref("c"), TEST_AMOUNT_CENTS, timeout=ctx.timeout)
            result = await dev.pay(request)
            _check_result(result, request)
            _expect(result.outcome is PaymentOutcome.CANCELLED, f"outcome {result.outcome.value}: {result.detail}")
            return result.detail or "cancelled"

        async def aborted() -> str:
            await ctx.act("hold_payment", "Present NO card: the kiosk cancels the payment itself")
            request = PaymentRequest(_payment_ref("k"), TEST_AMOUNT_CENTS, timeout=ctx.timeout * 3)
            task = asyncio.ensure_future(dev.pay(request))
            try:
                await ctx.wait_for(stream, (PaymentProgress,), lambda e: e.reference == request.reference)
                await asyncio.sleep(0.2)
                _expect(not task.done(), "pay() returned before the patron could act")
                await dev.abort(request.reference)
                result = await asyncio.wait_for(task, ctx.timeout)
            finally:
                if not task.done():
                    task.cancel()
            _check_result(result, request)
            _expect(result.outcome is PaymentOutcome.CANCELLED, f"outcome after abort {result.outcome.value}")
            after = await dev.payment_status(request.reference)
            _expect(after.outcome is PaymentOutcome.CANCELLED, f"status after abort {after.outcome.value}")
            return "cancelled from the kiosk"

        async def never_seen() -> str:
            result = await dev.payment_status(_payment_ref("n"))
            _expect(result.outcome is PaymentOutcome.NOT_FOUND, f"status of an unknown payment: {result.outcome.value}")
            return "not found"

        async def bad_request() -> str:
            try:
                await dev.pay("1.50")  # type: ignore[arg-type]
            except (TypeError, ValueError, DeviceError):
                return "refused"
            raise _Failed("pay() accepted something that is not a PaymentRequest")

        if await ctx.check("payment", "approved", approved) is Outcome.PASS:
            await ctx.check("payment", "status of an approved payment", status_approved)
        await ctx.check("payment", "declined", declined)
        await ctx.check("payment", "cancelled on the terminal", cancelled)
        await ctx.check("payment", "aborted by the kiosk", aborted)
        await ctx.check("payment", "status of a payment never sent", never_seen)
        await ctx.check("payment", "bad request refused", bad_request)
    finally:
        stream.close()


#: What the speech suite says, per language.
TTS_SENTENCES = {
    "nl": "Welkom in de bibliotheek. Houd uw pas voor de lezer.",
    "fr": "Bienvenue à la bibliothèque. Présentez votre carte au lecteur.",
    "en": "Welcome to the library. Hold your card to the reader.",
}


async def _tts(ctx: _Ctx) -> None:
    dev: SpeechOutput = ctx.dev  # type: ignore[assignment]
    long_text = "Dit is een lange zin om te onderbreken. " * 60

    async def languages() -> str:
        for language, text in TTS_SENTENCES.items():
            await dev.say(text, language, interrupt=False)
        await dev.idle(ctx.timeout * 3)
        _expect(not dev.speaking, "still speaking after idle()")
        await ctx.confirm("Did you hear the same sentence in Dutch, French and English, one after the other?")
        return ", ".join(TTS_SENTENCES)

    async def volume() -> str:
        before = dev.volume
        _expect(isinstance(before, int) and 0 <= before <= 100, f"volume {before!r} is not 0-100")
        for value in (0, 100, 37):
            dev.volume = value
            _expect(dev.volume == value, f"volume set to {value} reads {dev.volume}")
        for bad in (-1, 101, 50.5, True, "50"):
            try:
                dev.volume = bad  # type: ignore[assignment]
            except ValueError:
                continue
            raise _Failed(f"volume {bad!r} accepted")
        _expect(dev.volume == 37, "a refused volume changed the volume")
        dev.volume = before
        return f"0-100, back to {before}"

    async def interrupt() -> str:
        await dev.say(long_text, "nl")
        await dev.say(TTS_SENTENCES["en"], "en", interrupt=True)
        await dev.idle(ctx.timeout)
        await dev.say(long_text, "nl")
        await dev.stop()
        _expect(not dev.speaking, "still speaking after stop()")
        await dev.idle(1.0)
        await dev.stop()  # silent: a no-op
        await ctx.confirm("Was the long Dutch sentence cut off twice (once by English, once by silence)?")
        return "interrupted and stopped"

    async def bad_input() -> str:
        for args, exc in (((TTS_SENTENCES["en"], "de"), ValueError), ((b"bytes", "en"), TypeError),
                          (("x" * 100_000, "en"), ValueError)):
            try:
                await dev.say(*args)  # type: ignore[arg-type]
            except exc:
                continue
            raise _Failed(f"say{tuple(a[:10] for a in args)!r} accepted")
        await dev.say("   ", "en")
        _expect(not dev.speaking, "blank text is spoken")
        return "refused"

    await ctx.check("tts", "Dutch, French, English", languages)
    await ctx.check("tts", "volume 0-100", volume)
    await ctx.check("tts", "interrupt and stop", interrupt)
    await ctx.check("tts", "bad input refused", bad_input)


_SUITES: dict[str, Callable[[_Ctx], Awaitable[None]]] = {
    "patron": _patron,
    "scanner": _scanner,
    "rfid": _rfid,
    "pinpad": _pinpad,
    "lock": _lock,
    "door": _door,
    "indicator": _indicator,
    "printer": _printer,
    "payment": _payment,
    "tts": _tts,
}


async def _poke(dev: Device) -> None:
    """An operation that must fail while the device is away (output kinds)."""
    if isinstance(dev, ReceiptPrinter):
        await dev.print_receipt(["bibkiosk: connection test"], cut=False)
    elif isinstance(dev, Lock):
        await dev.lock()
    elif isinstance(dev, Indicator):
        await dev.show(Pattern.IDLE)
    elif isinstance(dev, ItemReader):
        await dev.inventory()
    elif isinstance(dev, SpeechOutput):
        await dev.say("bibkiosk: connection test", "en")


async def _faults(ctx: _Ctx, kinds: list[str]) -> None:
    dev = ctx.dev
    stream = dev.events(DeviceEvent)
    output_kind = isinstance(dev, (ReceiptPrinter, Lock, Indicator, ItemReader, SpeechOutput))
    try:

        async def unplug() -> str:
            await ctx.act("unplug", "Unplug the device (or stop it) now")
            deadline = time.monotonic() + ctx.timeout
            poked = ""
            while True:
                try:
                    ev = await stream.get(0.5)
                except DeviceTimeout:
                    if time.monotonic() > deadline:
                        raise _Failed("no DeviceEvent('lost') after the unplug") from None
                    if output_kind:
                        try:
                            await _poke(dev)
                        except DeviceError as exc:
                            poked = f"; operation refused ({type(exc).__name__})"
                    continue
                if ev.kind == "lost":
                    break
            _expect(not dev.status.ok, "status still ok after lost")
            if output_kind:
                try:
                    await _poke(dev)
                except DeviceError:
                    poked = "; operations refused while lost"
                else:
                    raise _Failed("an operation succeeded while the device was lost")
            return f"lost: {ev.detail}{poked}"

        async def replug() -> str:
            await asyncio.sleep(0.3)  # let the driver retry against an absent device at least once
            await ctx.act("replug", "Plug the device back in now")
            ev = await ctx.wait_for(stream, (DeviceEvent,), lambda e: e.kind in ("back", "lost"))
            _expect(ev.kind == "back", "lost reported more than once")
            _expect(dev.status.ok, f"status not ok after back: {dev.status.detail}")
            return "back"

        async def works_again() -> str:
            for kind in kinds:
                if kind in ("lock", "indicator", "printer", "tts"):
                    await _poke(dev)
                elif kind == "patron":
                    s = dev.events(CardPresented)
                    try:
                        await ctx.act("tap_card", "Present the card once more", identifier=TEST_CARD)
                        await ctx.wait_for(s, (CardPresented,))
                    finally:
                        s.close()
                elif kind == "scanner":
                    s = dev.events(Scanned)
                    try:
                        await ctx.act("scan", "Scan once more", code=TEST_CODE)
                        await ctx.wait_for(s, (Scanned,))
                    finally:
                        s.close()
                elif kind == "rfid":
                    await dev.inventory()  # type: ignore[attr-defined]
            return "works"

        if await ctx.check("faults", "unplug reported once", unplug) is Outcome.PASS:
            if await ctx.check("faults", "replug reported", replug) is Outcome.PASS:
                await ctx.check("faults", "works after replug", works_again)
    finally:
        stream.close()


async def run_conformance(
    target: str | Device,
    actor: Actor | None = None,
    *,
    kinds: list[str] | None = None,
    timeout: float = 10.0,
    faults: bool = False,
    on_start: Callable[[Report], None] | None = None,
) -> Report:
    """Run the suites for *target* (a URL or an unopened :class:`Device`).

    *kinds* limits the suites (default: every kind the device implements).
    *faults* adds the unplug / replug checks (the actor must do them).
    *timeout* is how long each interaction may take.  The device is opened
    and closed here.  Never raises for a driver fault: it is in the report.
    *on_start* gets the (empty) report before the first check or prompt, so
    a console can print its header above the prompts.
    """
    started = time.monotonic()
    if isinstance(target, Device):
        device = target
    else:
        device = open_device(target)
    url_text = device.url.redacted()
    dev_kinds = kind_names(device)
    selected = [k for k in (kinds or dev_kinds) if k in dev_kinds]
    report = Report(url_text, selected)
    if actor is None:
        from .sim import SimDevice

        actor = sim_actor(device) if isinstance(device, SimDevice) else no_actor
    ctx = _Ctx(device, actor, timeout, report)
    unknown = [k for k in (kinds or []) if k not in KINDS or k not in dev_kinds]
    for k in unknown:
        report.results.append(CheckResult("device", f"kind {k}", Outcome.FAIL, f"device does not implement {k!r}"))
    if on_start is not None:
        on_start(report)

    await ctx.check("device", "declares kinds, options, URL grammar", lambda: _common_declared(ctx))
    if await ctx.check("device", "open", lambda: _common_open(ctx)) is Outcome.PASS:
        try:
            for kind in selected:
                await _SUITES[kind](ctx)
            if faults:
                await _faults(ctx, selected)
        finally:

            async def close() -> str:
                stream = device.events()
                await device.close()
                _expect(not device.status.ok, "status still ok after close")
                async for _ev in stream:  # must end, not hang
                    pass
                return "closed, event streams ended"

            async def reopen() -> str:
                await device.open()
                _expect(device.status.ok, "status not ok after reopening")
                await device.close()
                return "reopened and closed"

            if await ctx.check("device", "close", close) is Outcome.PASS:
                await ctx.check("device", "reopen", reopen)
    else:
        try:
            await device.close()
        except Exception:  # noqa: BLE001
            pass
    report.seconds = time.monotonic() - started
    return report


def console_actor(*, yes: bool = False, optional_yes: bool = False, out: Any = None, ask: Callable[[str], str] | None = None) -> Actor:
    """An actor for a person at a console (``bibkiosk devices test``).

    Action prompts are printed and the person acts (the check waits for the
    event).  ``confirm`` questions are asked (``y``/``n``) unless *yes*.
    ``press_exit`` is only asked for if the person says there is an exit
    button (or *optional_yes*).
    """
    stream = out if out is not None else sys.stdout
    reader = ask if ask is not None else input

    async def question(text: str) -> bool:
        try:
            answer = await asyncio.to_thread(reader, f"  ? {text} [y/n] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes", "j", "ja", "o", "oui")

    async def actor(prompt: Prompt) -> bool:
        if prompt.action == "confirm":
            if yes:
                print(f"  ? {prompt.text} -> yes (--yes)", file=stream, flush=True)
                return True
            return await question(prompt.text)
        if prompt.action == "press_exit" and not optional_yes and not yes:
            if not await question("Is there an exit button to test?"):
                return False
        print(f"  > {prompt.text}", file=stream, flush=True)
        return True

    actor.automatic = False  # type: ignore[attr-defined]
    return actor
