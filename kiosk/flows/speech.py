"""What the kiosk says: a :class:`View` turned into catalog texts, and the
speech switch that sends them to the ``tts`` device.

Pure of Kivy.  :func:`screen_parts` lists what a screen says, in reading
order, as :class:`Part`\\ s of catalog :class:`Text`\\ s (title, what to do,
what is on it and selected, the buttons one can press); :class:`Narrator`
compares a view with the previous one and returns only what changed: a new
screen (or language) is spoken whole and cuts off what was being said; on
the same screen a new or changed item line, a refusal, the busy text, the
idle warning or one more PIN digit is queued behind it.

The PIN is never spoken: the PIN field is one "dot" (``speech.pin.dot``,
the words of :data:`devices.base.PIN_WORDS`) per digit typed, and on the
PIN screen a focused digit key is spoken as "digit key".

:class:`SpeechSwitch` holds the session's speech state (on / off, volume),
turns speech on when headphones are plugged in (``HeadphonesChanged``),
and resets at the end of a session like the language (switched on at rest
and left, after the idle timeout: ``KioskFlows.on_rest``).  ``say`` is fire and
forget on the asyncio loop: the view listener only schedules the work for
the next loop turn, so speech adds nothing to the rendering of a step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from devices.base import SPEECH_MAX_CHARS

from .model import TIMED_STATES, K, LineKind, LineStatus, State, Text, View, fmt_date, status_text, summary_texts

log = logging.getLogger("kiosk.flows.speech")

__all__ = ["Part", "Speech", "Narrator", "SpeechSwitch", "S", "screen_parts", "spoken", "DOT", "VOLUME_STEP"]


def S(key: str, **params: Any) -> Text:  # noqa: N802 - like K
    """A text of the ``speech`` domain (phrases only speech uses)."""
    return Text(key=key, params=tuple(sorted(params.items())), domain="speech")


#: One typed PIN digit, as spoken.
DOT = S("speech.pin.dot")
VOLUME_STEP = 10
_END = (".", "!", "?", ":", ";", "…")


@dataclass(frozen=True, slots=True)
class Part:
    """One thing a screen says.  ``slot`` names it on the screen (``"title"``,
    ``"line:<item id>"``); ``mark`` is what counts as a change (default: the texts)."""

    slot: str
    texts: tuple[Text, ...]
    mark: Any = None

    @property
    def ident(self) -> Any:
        return self.texts if self.mark is None else self.mark


@dataclass(frozen=True, slots=True)
class Speech:
    """An utterance: texts in one language; ``interrupt`` cuts off what is being said."""

    texts: tuple[Text, ...]
    language: str
    interrupt: bool = True

    def render(self) -> str:
        return spoken(self.texts, self.language)


def spoken(texts: Iterable[Text], lang: str) -> str:
    """The texts as one utterance: sentences end in a full stop (a pause),
    the dots of a PIN are one run ("punt punt punt")."""
    out: list[str] = []
    previous: Text | None = None
    for text in texts:
        said = " ".join(text.render(lang).split())
        if not said:
            continue
        if out:
            sep = " " if (text == DOT and previous == DOT) or out[-1].endswith(_END) else ". "
            out.append(sep)
        out.append(said)
        previous = text
    return "".join(out)


def chunks(text: str, limit: int = SPEECH_MAX_CHARS) -> list[str]:
    """*text* cut at sentence ends into pieces of at most *limit* characters
    (what one ``say`` takes); a sentence longer than that is cut at a space."""
    out: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind(". ", 0, limit), rest.rfind("? ", 0, limit), rest.rfind("! ", 0, limit))
        cut = cut + 1 if cut > 0 else (rest.rfind(" ", 0, limit) if rest.rfind(" ", 0, limit) > 0 else limit)
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        out.append(rest)
    return out


# ------------------------------------------------------------------ what each screen says


def _part(slot: str, *texts: Text | None, mark: Any = None) -> Part | None:
    kept = tuple(t for t in texts if t is not None)
    return Part(slot, kept, mark) if kept else None


def _choices(*buttons: tuple[Text, bool]) -> Part | None:
    """The buttons one can press now."""
    enabled = [label for label, ok in buttons if ok]
    return _part("choices", S("speech.choices"), *enabled) if enabled else None


def _due(iso: str | None, lang: str, overdue: bool = False) -> Text | None:
    return K("kiosk.overdue" if overdue else "kiosk.due", date=fmt_date(iso, lang)) if iso else None


def _title(title: str, item_id: str) -> Text:
    return Text(literal=title or item_id)


def _pin(view: View) -> Part:
    n = view.pin_length
    return Part("pin", (DOT,) * n if n else (S("speech.pin.none"),), mark=n)


def _items(view: View) -> list[Part | None]:
    kind = "borrow" if view.state is State.BORROW else "return"
    parts: list[Part | None] = [_part("title", K(f"kiosk.{kind}.title"))]
    paid = getattr(view.pay, "banner", None) if getattr(view.pay, "stage", "") == "done" else None
    if paid is not None and kind == "borrow":
        parts.append(_part("paid", paid))
    parts.append(_part("instructions", K(f"kiosk.{kind}.instructions")))
    lines = [ln for ln in view.lines
             if ln.kind.value == kind or (kind == "borrow" and ln.kind is LineKind.RENEW)]
    if not lines:
        parts.append(_part("empty", K("kiosk.items.empty")))
    for ln in lines:
        if ln.status is LineStatus.WORKING:
            continue  # spoken once the library system has answered
        parts.append(_part(
            f"line:{ln.item_id}", _title(ln.title, ln.item_id), status_text(ln.status, ln.kind.value),
            ln.text, *ln.notes, ln.extra, _due(ln.due, view.language) if ln.kind is not LineKind.RETURN else None,
            K("kiosk.item.renew_button") if ln.status is LineStatus.OFFER_RENEW else None))
    parts.append(_choices((K("kiosk.button.menu"), view.identified), (K("kiosk.button.finish"), True)))
    return parts


def _loans(view: View, *, renew: bool) -> list[Part | None]:
    out: list[Part | None] = []
    for loan in view.loans:
        texts = [_title(loan.title, loan.item_id), _due(loan.due, view.language, loan.overdue)]
        if renew:
            texts.append(S("speech.selected" if loan.selected else "speech.not_selected"))
            if loan.status is not None:
                texts.append(status_text(loan.status, "renew"))
                if loan.text is not None and loan.status is not LineStatus.OK:
                    texts.append(loan.text)
        out.append(_part(f"loan:{loan.item_id}", *texts))
    return out


def _pay(view: View) -> list[Part | None]:
    pv = view.pay
    parts: list[Part | None] = [_part("title", K("kiosk.pay.title"))]
    if pv is None:
        return parts
    parts += [_part("reason", pv.reason), _part("offer", K("kiosk.pay.offer")), _part("banner", pv.banner),
              _part("owed", K("kiosk.pay.owed"))]
    for i, (label, amount, chosen, needed) in enumerate(pv.lines):
        parts.append(_part(f"pay:{i}", label, Text(literal=amount) if amount else None,
                           K("kiosk.pay.needed") if needed else None,
                           S("speech.selected" if chosen else "speech.not_selected")))
    parts.append(_part("lifts", pv.lifts_text))
    parts.append(_part("total", K("kiosk.pay.total", amount=pv.total) if pv.total else K("kiosk.pay.amount_on_terminal")))
    choose = K("kiosk.pay.choose_needed") if pv.can_choose_needed else K("kiosk.pay.choose_all")
    parts.append(_choices((pv.pay_label or K("kiosk.pay.button_no_amount"), pv.total_cents > 0), (choose, True),
                          (K("kiosk.pay.back"), True)))
    return parts


def _screen(view: View) -> list[Part | None]:
    st = view.state
    if st is State.IDLE:
        return [_part("title", K("kiosk.idle.title")), _part("card", K("kiosk.idle.card")),
                _part("return_hint", K("kiosk.idle.return_hint")) if view.can_return else None,
                _part("hint", view.hint), _choices((K("kiosk.button.return"), view.can_return))]
    if st is State.PIN:
        return [_part("title", K("kiosk.pin.title")), _part("help", K("kiosk.pin.help")), _pin(view),
                _part("error", view.pin_error),
                _choices((K("kiosk.button.ok"), True), (K("kiosk.pin.backspace"), True), (K("kiosk.pin.clear"), True),
                         (K("kiosk.button.cancel"), True))]
    if st is State.MENU:
        ready = sum(1 for h in view.holds if h.ready)
        return [_part("title", K("kiosk.menu.title")),
                _part("info", K("kiosk.menu.loans", count=len(view.loans)),
                      K("kiosk.menu.holds_ready", count=ready) if ready else None),
                _part("notifications", *view.notifications), _part("refusal", view.borrow_refusal),
                _part("hint", K("kiosk.menu.borrow_hint")) if not view.borrow_refusal else None,
                _choices((K("kiosk.button.borrow"), view.can_borrow), (K("kiosk.button.return"), view.can_return),
                         (K("kiosk.button.renew"), view.can_renew), (K("kiosk.button.account"), view.can_renew),
                         (K("kiosk.button.finish"), True))]
    if st in (State.BORROW, State.RETURN):
        return _items(view)
    if st is State.RENEW:
        return [_part("title", K("kiosk.renew.title")), _part("instructions", K("kiosk.renew.instructions")),
                _part("hint", view.hint), None if view.loans else _part("none", K("kiosk.renew.none")),
                *_loans(view, renew=True),
                _choices((K("kiosk.renew.selected"), bool(view.loans)), (K("kiosk.renew.all"), bool(view.loans)),
                         (K("kiosk.button.menu"), True), (K("kiosk.button.finish"), True))]
    if st is State.ACCOUNT:
        holds = [_part(f"hold:{h.item_id}", _title(h.title, h.item_id),
                       K("kiosk.account.hold_ready" if h.ready else "kiosk.account.hold_waiting"),
                       K("kiosk.account.pickup", branch=h.pickup) if h.pickup else None) for h in view.holds]
        return [_part("title", K("kiosk.account.title")),
                _part("loans", K("kiosk.account.loans"), K("kiosk.menu.loans", count=len(view.loans))),
                *_loans(view, renew=False),
                _part("holds", K("kiosk.account.holds"), None if view.holds else K("kiosk.account.no_holds")), *holds,
                _part("blocks", K("kiosk.account.blocks"), *view.blocks) if view.blocks
                else _part("blocks", K("kiosk.account.no_blocks")),
                _choices((K("kiosk.button.renew"), bool(view.loans) and view.can_renew), (K("kiosk.button.menu"), True),
                         (K("kiosk.button.finish"), True))]
    if st is State.RECEIPT:
        return [_part("title", K("kiosk.receipt.question")),
                _choices((K("kiosk.button.yes_receipt"), True), (K("kiosk.button.no_receipt"), True))]
    if st is State.SUMMARY:
        return [_part("title", K("kiosk.summary.title")), _part("summary", *summary_texts(view.summary)),
                _choices((K("kiosk.button.ok"), True))]
    if st is State.MESSAGE:
        return [_part("title", view.title), _part("message", view.message, view.message_extra),
                _choices((K("kiosk.button.ok"), True))]
    if st is State.OUT_OF_ORDER:
        return [_part("title", K("kiosk.out_of_order.title")), _part("body", K("kiosk.out_of_order.body"))]
    if st is State.PAY:
        return _pay(view)
    if st is State.PAYING:
        pv = view.pay
        return [_part("title", K("kiosk.paying.title")),
                _part("amount", K("kiosk.paying.amount", amount=pv.total) if pv is not None and pv.total else None),
                _part("body", K("kiosk.paying.body")), _choices((K("kiosk.paying.cancel"), True))]
    return []  # pragma: no cover - every state is listed above


def screen_parts(view: View) -> list[Part]:
    """Everything the screen of *view* says, in reading order: the notices
    (devices out of order, offline), the screen, the busy text and the idle
    warning when they show."""
    parts: list[Part | None] = [_part("notices", *view.notices), *_screen(view)]
    parts.append(_part("busy", view.busy))
    parts += _help(view)
    if view.warning_seconds is not None:
        # said once when it appears, not at every second of the countdown
        parts.append(_part("warning", K("kiosk.warning.title"), K("kiosk.warning.body", seconds=view.warning_seconds),
                           K("kiosk.button.more_time"), mark="shown"))
    return [p for p in parts if p is not None]


def _help(view: View) -> list[Part | None]:
    """The help overlay (kiosk.flows.help): what the screen is for, the unmanned-hours
    details, the staff call's outcome when it changes, and the buttons."""
    shown = view.help
    if shown is None:
        return []
    status = None
    if shown.call is not None:
        key = f"kiosk.help.call_{shown.call.value}"
        status = K(key + "_unmanned" if shown.call.value == "failed" and shown.unmanned else key)
    return [
        _part("help", K("kiosk.help.title"), shown.explain,
              K("kiosk.help.unmanned") if shown.unmanned else K("kiosk.help.staffed"), *shown.emergency,
              mark=shown.opened),
        _part("help_call", status, mark=(shown.opened, shown.call)),
        _part("help_choices", S("speech.choices"),
              *([K("kiosk.help.call_staff")] if shown.can_call and status is None else []), K("kiosk.help.close"),
              mark=(shown.opened, shown.can_call and status is None)),
    ]


def _screen_key(view: View) -> tuple[Any, ...]:
    """What makes a screen a new one (spoken whole): the state and language,
    for a message the message itself, and the help opened over it (closing
    it says the screen again)."""
    opened = view.help.opened if view.help is not None else None
    if view.state is State.MESSAGE:
        return view.state, view.language, view.title, view.message, opened
    return view.state, view.language, opened


class Narrator:
    """Views in, :class:`Speech` out: only what changed since the last view."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._seen: dict[str, Any] = {}

    def reset(self) -> None:
        """Forget the last view: the next one is spoken whole."""
        self._key = None
        self._seen = {}

    def update(self, view: View) -> Speech | None:
        parts = screen_parts(view)
        key = _screen_key(view)
        seen, self._seen = self._seen, {p.slot: p.ident for p in parts}
        if key != self._key:
            self._key = key
            return Speech(tuple(t for p in parts for t in p.texts), view.language, interrupt=True)
        texts: list[Text] = []
        for part in parts:
            before = seen.get(part.slot)
            if before == part.ident:
                continue
            if part.slot == "pin" and isinstance(before, int):
                n = view.pin_length
                texts += [DOT] * (n - before) if n > before else [S("speech.pin.erased"), *part.texts]
            else:
                texts += part.texts
        return Speech(tuple(texts), view.language, interrupt=False) if texts else None


# ------------------------------------------------------------------ the switch


class SpeechSwitch:
    """The session's speech: on / off, volume, headphones, and the device.

    *devices* returns the speech devices in order now (the hub's
    ``devices("speech")``); the first one speaks.  *changed* is called after
    ``on`` or ``volume`` changed (the UI redraws its speech buttons);
    *activity* when the patron presses a speech button (the flows' idle
    timer starts again).
    """

    def __init__(self, devices: Callable[[], list[Any]], *, changed: Callable[[], None] | None = None,
                 activity: Callable[[], None] | None = None) -> None:
        self._devices = devices
        self._changed = changed
        self._activity = activity
        self.narrator = Narrator()
        self.on = False
        self.headphones = False
        self.volume: int | None = None  # None: the device's own volume
        self._default_volume: int | None = None
        self._view: View | None = None
        self._pending = False
        self._after_notice = False  # the next screen waits for "speech is on" instead of cutting it off
        self._in_session = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._order: asyncio.Lock | None = None  # one say at a time, in the order asked

    @classmethod
    def for_flows(cls, flows: Any, *, changed: Callable[[], None] | None = None) -> SpeechSwitch:
        """A switch over the flows' hub (role ``speech``), listening to their views, their rest and the headphone jack."""
        switch = cls(lambda: flows.hub.devices("speech"), changed=changed, activity=flows.activity)
        switch._view = flows.view
        flows.subscribe(switch.view_changed)
        flows.on_rest(switch.at_rest)
        flows.hub.listen("speech", switch.device_event)
        return switch

    # -- inputs
    def view_changed(self, view: View) -> None:
        self._view = view
        if view.state in TIMED_STATES:
            self._in_session = True
        elif self._in_session and view.state is State.IDLE:
            self._in_session = False
            self._session_ended()
        if self.on:
            self._schedule()

    def device_event(self, event: Any) -> None:
        plugged = getattr(event, "plugged", None)
        if plugged is None:
            return
        self.headphones = bool(plugged)
        self.set_on(self.headphones)

    def at_rest(self) -> None:
        """The kiosk stood at rest for the idle timeout (``KioskFlows.on_rest``): speech switched on
        there without a session and left goes off (it stays on while headphones are in), the volume back."""
        if self.on != self.headphones or (self._default_volume is not None and self.volume != self._default_volume):
            self._session_ended()

    def toggle(self) -> None:
        self._active()
        self.set_on(not self.on)

    def set_on(self, on: bool) -> None:
        if on == self.on:
            return
        self.on = on
        if on:
            self.narrator.reset()
            self._say(Speech((S("speech.on"),), self._language()))
            self._after_notice = True
            self._schedule()
        else:
            self._say(Speech((S("speech.off"),), self._language()))
        self._notify()

    def louder(self) -> None:
        self._active()
        self._step(VOLUME_STEP)

    def softer(self) -> None:
        self._active()
        self._step(-VOLUME_STEP)

    def focus(self, text: str) -> None:
        """Speak the text of the button that got the keyboard focus (cutting off the rest)."""
        if not self.on or not str(text).strip():
            return
        view = self._view
        if view is not None and view.state is State.PIN and any(c.isdigit() for c in str(text)):
            self._say(Speech((S("speech.pin.key"),), self._language()))  # never a digit near the PIN
            return
        self._say(Speech((Text(literal=str(text)),), self._language()))

    # -- helpers
    def _active(self) -> None:
        if self._activity is not None:
            self._activity()

    def _language(self) -> str:
        return self._view.language if self._view is not None else "nl"

    def _device(self) -> Any:
        devices = self._devices()
        return devices[0] if devices else None

    def _step(self, delta: int) -> None:
        if not self.on:
            return
        device = self._device()
        current = self.volume if self.volume is not None else (device.volume if device is not None else 50)
        if self._default_volume is None:
            self._default_volume = current
        self.volume = max(0, min(100, current + delta))
        self._say(Speech((S("speech.volume", volume=self.volume),), self._language()))
        self._notify()

    def _session_ended(self) -> None:
        """Like the language: the next patron starts with speech off (on while headphones are in)
        and the kiosk's volume."""
        if self._default_volume is not None:
            self.volume = self._default_volume
        changed = self.on != self.headphones
        self.on = self.headphones
        self.narrator.reset()
        if changed:
            device = self._device()
            if device is not None:
                self._spawn(device.stop())
            self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            try:
                self._changed()
            except Exception:  # noqa: BLE001 - a UI bug must not stop speech
                log.exception("speech listener failed")

    def _schedule(self) -> None:
        # The view is spoken on the next loop turn: the render of this step does not wait for it.
        if self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = True
        loop.call_soon(self._speak_view)

    def _speak_view(self) -> None:
        self._pending = False
        if not self.on or self._view is None:
            return
        speech = self.narrator.update(self._view)
        if speech is not None:
            if self._after_notice:
                speech = Speech(speech.texts, speech.language, interrupt=False)
            self._say(speech)
        self._after_notice = False

    def _say(self, speech: Speech) -> None:
        device = self._device()
        text = speech.render()
        if device is None or not text:
            return
        self._spawn(self._send(device, text, speech))

    async def _send(self, device: Any, text: str, speech: Speech) -> None:
        if self._order is None:
            self._order = asyncio.Lock()
        async with self._order:
            if self.volume is not None and device.volume != self.volume:
                device.volume = self.volume
            for i, chunk in enumerate(chunks(text)):  # a long screen (My account, 200 loans) in several utterances
                await device.say(chunk, speech.language, interrupt=speech.interrupt and i == 0)

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("speech: %s", task.exception())

    async def settle(self) -> None:
        """Wait until everything scheduled was handed to the device (tests)."""
        for _ in range(3):
            await asyncio.sleep(0)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
