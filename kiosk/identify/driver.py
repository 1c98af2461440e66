"""Carries out the identification core's effects: the library system, the
one patron store, the clock.  Shared by the kiosk flows, the door service
and ``bibkiosk check``, so the three differ only in how they show the
outward effects (:class:`~.core.AskPin`, :class:`~.core.Grant`,
:class:`~.core.Refuse`, :class:`~.core.Alarm`).

Store writes run in one worker thread (never on the event loop), the
scrypt of the verified cache in another (slow on purpose).  The one store
read on the event loop is the budget after the library system's answer
(:meth:`PatronStore.read_failures`: a read-only connection, never waits).  Remembering a verified
patron runs in the background after the answer, at most once a minute per
card.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from policy import Action, PeriodKind

from .core import (
    Alarm,
    AskPin,
    CheckCache,
    ClearFailures,
    Effect,
    Forget,
    Front,
    Grant,
    HoldAttempt,
    Identification,
    LookUp,
    Refuse,
    Remember,
    Settle,
)
from .store import PatronStore, StoreError

log = logging.getLogger("kiosk.identify")

Outward = AskPin | Grant | Refuse | Alarm

#: A card's cache row is refreshed at most this often (seconds).
_REFRESH_SECONDS = 60.0


def _is_unavailable(exc: BaseException) -> bool:
    from kiosk.adapter import LibrarySystemUnavailable

    return isinstance(exc, (LibrarySystemUnavailable, ConnectionError, TimeoutError, asyncio.TimeoutError))


class IdentifyDriver:
    """The core plus its I/O.  One identification at a time."""

    def __init__(
        self,
        core: Identification,
        store: PatronStore | None,
        library: Any,
        *,
        clock: Callable[[], datetime],
        timeout: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.store = store
        self.library = library
        self._clock = clock
        self._mono = monotonic
        self.timeout = timeout
        self._token: int | None = None
        self._known_down = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._cache_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._fresh: dict[str, float] = {}  # card key + flags -> when last remembered
        self._background: set[asyncio.Future[Any]] = set()
        self._writes_pending = 0  # settle/clear writes queued on the store's thread, not yet done
        self._unsent: list[Callable[[], Any]] = []  # ... of which not yet handed to the thread
        #: Did the library system answer the last lookup (None: none was made)?
        self.last_online: bool | None = None
        #: Called with (kind, detail) when a background store write fails (a settle or
        #: clear after the answer): the front raises its alarm (the kiosk: kiosk.flows.alarms).
        self.on_alarm: Callable[[str, str], None] | None = None
        #: The language the patron chose on screen ("nl", "fr", "en"), sent with
        #: each lookup so that the library system's texts come in it; None: no
        #: wish (the library system answers in the record's language).
        self.language: str | None = None

    # ---------------------------------------------------------------- threads

    async def _io(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        self._send_unsent()  # queued writes first: the thread runs in order
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="patron-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: func(*args, **kw))

    async def _slow(self, func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """scrypt work: its own thread, so it never holds up a lockout read."""
        if self._cache_executor is None:
            self._cache_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="patron-cache")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._cache_executor, lambda: func(*args, **kw))

    async def settle_background(self) -> None:
        """Wait for background cache writes (tests, shutdown)."""
        self._send_unsent()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        await self.settle_background()
        for ex in (self._executor, self._cache_executor):
            if ex is not None:
                ex.shutdown(wait=True)
        self._executor = self._cache_executor = None

    # ---------------------------------------------------------------- inputs

    async def failures(self, card: str, patron_id: str | None = None) -> list[datetime]:
        if self.store is None:
            return []
        try:
            return await self._io(self.store.failures, card, patron_id, self._clock(), exclude=self._token)
        except StoreError as exc:
            log.error("patron store: %s", exc)
            return []

    async def present(
        self,
        card: str,
        *,
        action: Action,
        period: PeriodKind | None = None,
        need_pin: bool | None = None,
        pin: str | None = None,
        offline: bool = False,
    ) -> list[Outward]:
        """A card; *offline*: the library system is known to be down (no lookup is tried)."""
        if not self.core.unchecked_hold:
            self._token = None  # a checked attempt left behind stays counted
        # else: the core releases it (its PIN was never given); the read leaves it out meanwhile.
        self._known_down = offline
        failures = await self.failures(card)
        effects = self.core.present(self._clock(), card, action=action, period=period, failures=failures,
                                    need_pin=need_pin, pin=pin)
        return await self._run(effects)

    async def key(self, key: str) -> list[Outward]:
        card = self.core.card
        failures = await self.failures(card) if card is not None and key == "#" else []
        return await self._run(self.core.key(self._clock(), key, failures=failures))

    async def submit(self, pin: str | None = None) -> list[Outward]:
        card = self.core.card
        # The door's core never reads them on submit (an empty PIN is refused, P2; a PIN is held
        # and looked up, and the answer reads the budget): no store round trip before the hold.
        needed = card is not None and self.core.settings.front is not Front.DOOR
        failures = await self.failures(card) if needed else []
        return await self._run(self.core.submit(self._clock(), pin, failures=failures))

    async def timed_out(self) -> list[Outward]:
        return await self._run(self.core.timed_out(self._clock()))

    async def abandon(self) -> list[Outward]:
        """Give up the identification in progress (a held, never checked attempt is released)."""
        return await self._run(self.core.abandon(self._clock()))

    # ---------------------------------------------------------------- effects

    async def _run(self, effects: list[Effect]) -> list[Outward]:
        self.last_online = None
        out: list[Outward] = []
        queue = list(effects)
        while queue:
            effect = queue.pop(0)
            if isinstance(effect, (AskPin, Grant, Refuse, Alarm)):
                out.append(effect)
            elif isinstance(effect, HoldAttempt):
                try:
                    if self.store is None:
                        raise StoreError("no patron store")
                    self._token = await self._io(self.store.hold_attempt, effect.card, self._clock())
                except StoreError as exc:
                    log.critical("ALARM: wrong PINs cannot be counted (%s); PIN actions refused", exc)
                    queue = self.core.store_failed(self._clock(), str(exc))
            elif isinstance(effect, LookUp):
                if self._known_down:
                    self.last_online = False
                    queue = self.core.unavailable(self._clock()) + queue
                else:
                    queue = await self._look_up(effect) + queue
            elif isinstance(effect, CheckCache):
                queue = await self._check_cache(effect) + queue
            elif isinstance(effect, Settle):
                # The attempt is already durable (held before the check): moving or removing it
                # need not hold up the strike.  Queued now, in order, on the store's one thread.
                self._store_later("settle", self._token, effect.card, effect.patron_id, wrong=effect.wrong,
                                  now=self._clock())
                self._token = None
            elif isinstance(effect, ClearFailures):
                self._store_later("clear", effect.card, effect.patron_id)
            elif isinstance(effect, Remember):
                self._remember(effect)
            elif isinstance(effect, Forget):
                self._forget(effect)
        return out

    def _store_later(self, name: str, *args: Any, **kw: Any) -> None:
        """A store write after the answer, in order, on the store's thread; sent to the
        thread from the loop's next pass (``call_soon``), so the thread does not wake and
        contend for the GIL while the strike is still being driven; waited for in the
        background.  Any store call of this driver sends what is unsent first (order kept)."""
        if self.store is None:
            return
        func = getattr(self.store, name)
        self._unsent.append(lambda: func(*args, **kw))
        self._writes_pending += 1
        if len(self._unsent) == 1:
            asyncio.get_running_loop().call_soon(self._send_unsent)

    def _send_unsent(self) -> None:
        if not self._unsent:
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="patron-store")
        loop = asyncio.get_running_loop()
        jobs, self._unsent = self._unsent, []
        for job in jobs:
            self._spawn(asyncio.ensure_future(self._written(loop.run_in_executor(self._executor, job))))

    async def _written(self, fut: asyncio.Future[Any]) -> None:
        try:
            await fut
        except StoreError as exc:
            log.critical("ALARM: patron store: %s", exc)
            self._alarm(str(exc))
        finally:
            self._writes_pending -= 1

    def _alarm(self, detail: str) -> None:
        if self.on_alarm is not None:
            try:
                self.on_alarm("patron_store_unwritable", detail)
            except Exception:  # noqa: BLE001 - the front's alarm must not break the store's thread of work
                log.exception("alarm hook failed")

    async def _store_call(self, name: str, *args: Any, **kw: Any) -> None:
        if self.store is None:
            return
        try:
            await self._io(getattr(self.store, name), *args, **kw)
        except StoreError as exc:
            log.critical("ALARM: patron store: %s", exc)

    async def _look_up(self, effect: LookUp) -> list[Effect]:
        try:
            wish = {"language": self.language} if self.language else {}
            # asyncio.timeout, not wait_for: no task of its own per lookup (3.11's wait_for makes one).
            async with asyncio.timeout(self.timeout or None):
                snapshot = await self.library.identify(effect.card, effect.pin, **wish)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified here, the patron never sees it
            if _is_unavailable(exc):
                self.last_online = False
                return self.core.unavailable(self._clock())
            log.error("library system: %s", type(exc).__name__)
            return self.core.failed(self._clock(), type(exc).__name__)
        self.last_online = True
        failures = await self._budget_after_answer(effect.card, snapshot.patron_id)
        return self.core.answered(self._clock(), snapshot, failures=failures)

    async def _budget_after_answer(self, card: str, patron_id: str | None) -> list[datetime]:
        """The patron's wrong PINs, read on the loop from the store's read-only connection
        (a few index rows, ~0.05 ms; never waits for a lock) instead of a hop to the store's
        thread (~0.2 ms idle, 1 ms and more on a loaded machine).  Only when none of this
        driver's writes is still queued on that thread (they would not be seen yet); else,
        and when the read would have to wait, on the thread after them as before."""
        store = self.store
        if store is None:
            return []
        if not self._writes_pending:
            try:
                got = store.read_failures(card, patron_id, self._clock(), exclude=self._token)
            except StoreError:
                got = None
            if got is not None:
                return got
        return await self.failures(card, patron_id)

    async def _check_cache(self, effect: CheckCache) -> list[Effect]:
        from .store import CacheCheck, CacheStatus

        check = CacheCheck(CacheStatus.UNKNOWN)
        if self.store is not None:
            try:
                check = await self._slow(self.store.check, effect.card, effect.pin, self._clock(), effect.max_age)
            except StoreError as exc:
                log.error("verified cache: %s", exc)
        return self.core.cache_checked(self._clock(), check)

    def _spawn(self, fut: asyncio.Future[Any]) -> None:
        self._background.add(fut)
        fut.add_done_callback(self._background.discard)

    def _remember(self, effect: Remember) -> None:
        store = self.store
        if store is None:
            return
        key = f"{store.card_key(effect.card)}:{effect.entry:d}{effect.borrow:d}{effect.pin is not None:d}"
        last = self._fresh.get(key)
        if last is not None and self._mono() - last < _REFRESH_SECONDS:
            return
        self._fresh[key] = self._mono()
        if len(self._fresh) > 10_000:
            self._fresh.clear()

        async def go() -> None:
            try:
                await self._slow(store.remember, effect.card, effect.pin, entry=effect.entry, borrow=effect.borrow,
                                 at=effect.at)
            except StoreError as exc:
                self._fresh.pop(key, None)
                log.error("verified cache: %s", exc)

        self._spawn(asyncio.ensure_future(go()))

    def _forget(self, effect: Forget) -> None:
        store = self.store
        if store is None:
            return
        card_key = store.card_key(effect.card)
        for key in [k for k in self._fresh if k.startswith(card_key)]:
            self._fresh.pop(key, None)

        async def go() -> None:
            try:
                await self._slow(store.forget, effect.card)
            except StoreError as exc:
                log.error("verified cache: %s", exc)

        self._spawn(asyncio.ensure_future(go()))
