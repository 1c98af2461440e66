"""Entry: a thin shell over the identification core (kiosk.identify).

A card from a reader, the PIN from a PIN pad or the touch screen, then
the core's outcome carried out: the strike, the indicator, the texts, the
audit.  Every decision is the core's (``policy.decide``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from devices import KEY_ENTER, Pattern
from kiosk.door.audit import AuditEvent, Result
from kiosk.door.pay_advice import payment_advice
from kiosk.identify import CORE_RULES
from kiosk.identify.core import Alarm, AskPin, Grant, Reason, Refuse
from kiosk.door.monitor import ReleaseReason
from kiosk.i18n import normalise_language
from kiosk.privacy import pseudonym
from policy import RULES, Action, PeriodKind

log = logging.getLogger("kiosk.door")

#: Door-specific rule ids (the policy's ids are in policy.RULES).
DOOR_RULES: dict[str, str] = {
    "RL": "RL: too many card presentations at this reader within a minute (rate limit against card enumeration)",
    **CORE_RULES,
    "LD": "LD: the door is locked down by staff (remote command); nobody gets in until it is resumed",
}


@dataclass(frozen=True, slots=True)
class DoorMessage:
    """A text for the reader's display or the kiosk's screen."""

    kind: str  # prompt / checking / granted / refused / error / info / announcement
    text: str
    language: str
    rules: tuple[str, ...] = ()
    reader: str | None = None


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    granted: bool
    result: Result
    rules: tuple[str, ...]
    source: str  # online / offline / staffed / local
    message_key: str
    text: str
    card_ref: str | None
    reader: str
    staff: str
    #: Seconds from the last PIN key (or the card, without PIN) to the strike command sent; granted only.
    latency: float | None = None


@dataclass
class _PinWait:
    reader: str
    future: asyncio.Future[tuple[str | None, float]] | None = None



class DoorEntry:
    """Entry: a thin shell over the identification core (kiosk.identify).

    A part of :class:`~kiosk.door.service.DoorService`.
    """

    # ================================================================ entry

    def present_card(self, card: str, reader: str = "touch") -> None:
        """A card was presented at *reader* (reader events, or the kiosk's own reader)."""
        if not self._started or not card:
            return
        if self._session is not None and self._session.future is not None and not self._session.future.done():
            # A new card while a PIN is awaited: the new card wins.
            self._session.future.cancel()
        elif self._busy:
            log.info("door: card at %s ignored, a decision is in progress", reader)
            return
        self._pin_asked.clear()
        self._entry_task = asyncio.create_task(self._entry(card, reader), name="door entry")

    def press_key(self, key: str) -> None:
        """A PIN pad key ("0"-"9", "#", "*") from the kiosk's touch screen."""
        self._on_key(key, self._mono())

    def submit_pin(self, pin: str) -> None:
        """A whole PIN from the kiosk's touch screen."""
        session = self._session
        if session is None or session.future is None or session.future.done():
            return
        session.future.set_result((pin, self._mono()))

    def _on_key(self, key: str, at: float) -> None:
        """The one PIN buffer is the core's; "#" hands it over to the entry task."""
        session = self._session
        if session is None or session.future is None or session.future.done():
            return
        if key == KEY_ENTER:
            session.future.set_result((None, at))
        else:
            self.ident.core.key(self._clock(), key)

    async def pin_asked(self, timeout: float = 10.0) -> None:
        """Until the door waits for a PIN (tests, benchmarks: an explicit settle, no sleep)."""
        await asyncio.wait_for(self._pin_asked.wait(), timeout)
        self._pin_asked.clear()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until everything given to the service so far is handled: device
        events delivered and handled, an entry either finished or waiting for
        its PIN, background work (offline-cache writes) done, monitor effects
        applied.  An explicit settle for tests and benchmarks (never a sleep);
        :class:`TimeoutError` after *timeout* seconds of work still going on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:  # three passes of the loop in a row with nothing to do
            if loop.time() > deadline:
                raise TimeoutError("the door service did not settle")
            await asyncio.sleep(0)
            background = getattr(getattr(self, "ident", None), "_background", None) or ()
            busy = [t for t in [*self._background, *background] if not t.done()]
            entry = self._entry_task
            session = self._session
            waiting_pin = session is not None and session.future is not None and not session.future.done()
            deciding = entry is not None and not entry.done() and not waiting_pin
            if busy or deciding:
                quiet = 0
                await asyncio.wait([*busy, *([entry] if deciding and entry else [])], timeout=0.05)
                continue
            if self._handling or any(stream.pending() for stream in self._streams):
                quiet = 0
                continue
            quiet += 1

    async def next_outcome(self, timeout: float = 10.0) -> EntryOutcome:
        """The next entry outcome (for tests and an embedding kiosk)."""
        return await asyncio.wait_for(self._outcomes.get(), timeout)

    async def _entry(self, card: str, reader: str) -> None:
        card_ref = pseudonym(card, self._key)
        try:
            if self.state_fault is not None:
                # Nothing is decided that could not be recorded: locked, refused, the alarm stands.
                await self._finish(
                    reader, card_ref, granted=False, result=Result.ERROR, rules=("E1",), source="local",
                    domain="door", key="door.E1", params={}, staff=f"E1: state files not writable ({self.state_fault})",
                    language=None,
                )
                return
            await self._entry_inner(card, card_ref, reader)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the door must answer, never crash
            log.exception("door: entry at %s failed (%s)", reader, card_ref)
            await self._finish(
                reader, card_ref, granted=False, result=Result.ERROR, rules=("E1",), source="local",
                domain="door", key="door.E1", params={}, staff=f"E1: {type(exc).__name__}", language=None,
            )
        finally:
            self._busy = False

    async def _entry_inner(self, card: str, card_ref: str, reader: str) -> None:
        """A shell over the identification core (kiosk.identify): every decision is its."""
        if self.ident.core.unchecked_hold:
            # The card before this one was waiting for its PIN (held when asked): never given, not counted.
            await self.ident.abandon()
        now = self._clock()
        if not self.rate.allow(reader, self._mono()):
            await self._refuse_door_rule(reader, card_ref, "RL", "door.RL", source="local")
            return
        period = self.schedule.period_at(now)
        if self._lockdown is not None:
            await self._finish(
                reader, card_ref, granted=False, result=Result.REFUSED, rules=("LD",), source="local", domain="policy",
                key=RULES["S1"].message_key, params={}, staff=DOOR_RULES["LD"], language=None,
            )
            return
        if period.kind is PeriodKind.CLOSED or self._ended_early(period):
            await self._refuse_policy_rule(reader, card_ref, "S1", source="local")
            return
        if period.kind is PeriodKind.STAFFED and self.door.staffed_entry.value == "free":
            self._message("info", "door.open.staffed", None, reader=reader)
            await self._indicate(Pattern.GRANTED)
            return
        since = self._mono()
        if period.kind is PeriodKind.STAFFED:
            self._busy = True
        effects = await self.ident.present(card, action=Action.ENTRY, period=period.kind)
        while True:
            for effect in effects:
                if isinstance(effect, Alarm):
                    self._store_alarm(effect)
            outcome = next((e for e in effects if isinstance(e, (Grant, Refuse))), None)
            if outcome is not None:
                self._set_online_from(self.ident.last_online)
                await self._outcome(reader, card_ref, outcome, since)
                return
            if not any(isinstance(e, AskPin) for e in effects):
                return
            got = await self._collect_pin(reader)
            if got is None:
                effects = await self.ident.timed_out()
                continue
            pin, since = got
            self._busy = True
            await self._indicate(Pattern.BUSY)
            self._message("checking", "door.checking", None, reader=reader)
            effects = await self.ident.submit(pin)

    async def _outcome(self, reader: str, card_ref: str, outcome: Grant | Refuse, since: float) -> None:
        language = outcome.snapshot.language if isinstance(outcome, Grant) and outcome.snapshot else None
        if isinstance(outcome, Grant):
            latency = await self._release_for_entry(since)
            offline = outcome.source == "offline"
            await self._finish(
                reader, card_ref, granted=True, result=Result.GRANTED, rules=(), source=outcome.source,
                domain="door", key="door.granted.offline" if offline else "door.granted", params={},
                staff=outcome.staff, language=language, latency=latency,
            )
            return
        rules = outcome.rules
        if outcome.decision is not None:
            domain, key, params = "policy", outcome.decision.message.key, dict(outcome.decision.message.params)
            # A block that payment lifts: where and how to pay (no desk in unmanned hours).
            advice = payment_advice(tuple(rules), normalise_language(outcome.language or self.door.language),
                                    getattr(getattr(self.config, "payments", None), "portal_url", None))
            if advice is not None:
                domain, (key, params) = "door", advice
        elif outcome.reason in (Reason.PIN_TIMEOUT, Reason.PIN_EMPTY):
            domain, key, params = "door", "door.P2.timeout", {}
        elif outcome.reason in (Reason.OUT_OF_SERVICE, Reason.ERROR):
            domain, key, params = "door", "door.E1", {}
        else:
            domain, key, params = "door", "door.O1", {}
        result = Result.ERROR if outcome.reason in (Reason.OUT_OF_SERVICE, Reason.ERROR) else Result.REFUSED
        await self._finish(
            reader, card_ref, granted=False, result=result, rules=rules, source=outcome.source,
            domain=domain, key=key, params=params, staff=outcome.staff, language=outcome.language,
        )

    def _store_alarm(self, alarm: Alarm) -> None:
        now = self._clock()
        self._store_check.raised()  # cleared by housekeeping once state_dir is writable (_recheck_store_alarm)
        if self._state_alarm(now, alarm.kind, alarm.detail):  # raised once while it stands
            log.critical("ALARM %s: %s", alarm.kind, alarm.detail)

    def _set_online_from(self, online: bool | None) -> None:
        if online is not None:
            self._set_online(online)

    async def _collect_pin(self, reader: str) -> tuple[str | None, float] | None:
        loop = asyncio.get_running_loop()
        session = _PinWait(reader=reader, future=loop.create_future())
        self._session = session
        self._pin_asked.set()
        self._message("prompt", "door.pin.prompt", None, reader=reader)
        await self._indicate(Pattern.BUSY)
        try:
            return await asyncio.wait_for(asyncio.shield(session.future), self.door.pin_timeout_seconds)
        except TimeoutError:
            return None
        finally:
            if not session.future.done():
                session.future.cancel()
            if self._session is session:
                self._session = None

    async def _release_for_entry(self, since: float) -> float:
        """Release the strike; returns the seconds from *since* to the strike command sent."""
        effects = self.monitor.release(self._mono(), ReleaseReason.ENTRY)
        latency = await self._apply(effects, timed_since=since)
        return latency if latency is not None else self._mono() - since

    async def _refuse_policy_rule(
        self, reader: str, card_ref: str, rule: str, *, source: str, params: dict | None = None, language: str | None = None
    ) -> None:
        info = RULES[rule]
        await self._finish(
            reader, card_ref, granted=False, result=Result.REFUSED, rules=(rule,), source=source,
            domain="policy", key=info.message_key, params=params or {}, staff=info.staff, language=language,
        )

    async def _refuse_door_rule(
        self, reader: str, card_ref: str, rule: str, key: str, *, source: str, staff_extra: str = ""
    ) -> None:
        await self._finish(
            reader, card_ref, granted=False, result=Result.REFUSED, rules=(rule,), source=source,
            domain="door", key=key, params={}, staff=DOOR_RULES[rule] + staff_extra, language=None,
        )

    async def _finish(
        self,
        reader: str,
        card_ref: str | None,
        *,
        granted: bool,
        result: Result,
        rules: tuple[str, ...],
        source: str,
        domain: str,
        key: str,
        params: dict,
        staff: str,
        language: str | None,
        latency: float | None = None,
    ) -> None:
        now = self._clock()
        if not granted:
            await self._indicate(Pattern.REFUSED if result is Result.REFUSED else Pattern.ERROR)
        else:
            await self._indicate(Pattern.GRANTED)
        self._record(now, AuditEvent.ENTRY, result=result, card_ref=card_ref, reader=reader, rules=rules, source=source)
        lang = normalise_language(language or self.door.language)
        text = self._text(domain, key, lang, params)
        kind = "granted" if granted else ("error" if result is Result.ERROR else "refused")
        self._message(kind, None, lang, text=text, rules=rules, reader=reader)
        await self._display(text)
        if granted:
            log.info("entry granted at %s: %s (%s)", reader, card_ref, source)
        else:
            log.info("entry %s at %s: %s rules=%s (%s) %s", result.value, reader, card_ref, ",".join(rules), source, staff)
        outcome = EntryOutcome(granted, result, rules, source, key, text, card_ref, reader, staff, latency)
        self._notify("door_outcome", outcome)
        if self._outcomes.full():
            self._outcomes.get_nowait()
        self._outcomes.put_nowait(outcome)

    def _set_online(self, online: bool, exc: BaseException | None = None) -> None:
        if self._library_online is online:
            return
        self._library_online = online
        if online:
            log.warning("library system reachable again; deciding online")
        else:
            log.warning("library system unreachable (%s); deciding from the offline cache", type(exc).__name__ if exc else "?")
            self._webhook(self._clock(), "library", state="unreachable")
        self._write_status()
