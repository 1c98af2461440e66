"""Throttling of the embedded library system's SIP2 server.

As the most trusted login services do:

- **Failed logins** slow the peer address down exponentially: after the
  first failure every further attempt from that address waits for its own
  slot, ``failure_delay_seconds`` × 2^(failures − 1) after the previous one
  (capped at ``failure_delay_max_seconds``; failures older than
  ``failure_window_minutes`` no longer count).  Slots are reserved, so
  opening more connections does not buy more guesses.  The server drops a
  connection after ``login_failures_per_connection`` failures.
- **Unknown-card probes** (a 23/63 for a number nobody has) cost the same
  once an address has used its ``unknown_patron_free`` per window: card
  numbers are sequential, enumeration must be slow.
- **Wrong PINs** lock the patron's PIN in the library system after
  ``pin_attempts`` within ``pin_window_minutes``, whichever client sends
  them (a PyPI ``limits`` moving window per patron): while locked, even the
  right PIN is answered "wrong" and the patron is told to ask staff.
- **One log line per burst**: :class:`BurstLog` logs the first event of a
  burst and, once the burst is over, one summary with the count.

:class:`AddressThrottle` and :class:`BurstLog` take the time as an argument
(monotonic seconds): no clock is read inside them.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from kiosk.logsafe import BurstLog

from .datafile import Limits

__all__ = ["AddressThrottle", "BurstLog", "PinLock"]


@dataclass
class _Address:
    failures: deque[float] = field(default_factory=deque)
    next_slot: float = 0.0


class AddressThrottle:
    """Exponential slow-down per peer address for one kind of failure
    (failed logins, unknown-card probes), *free* failures per window first."""

    def __init__(self, *, base: float, cap: float, window: float, free: int = 0, max_addresses: int = 100_000) -> None:
        self.base = base
        self.cap = cap
        self.window = window
        self.free = free
        self.max_addresses = max_addresses
        self._addresses: dict[str, _Address] = {}

    def _state(self, address: str, now: float) -> _Address:
        state = self._addresses.get(address)
        if state is None:
            if len(self._addresses) >= self.max_addresses:
                self.prune(now)
                if len(self._addresses) >= self.max_addresses:  # still full: forget the oldest
                    self._addresses.pop(next(iter(self._addresses)))
            state = self._addresses[address] = _Address()
        failures = state.failures
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return state

    def counted(self, address: str, now: float) -> int:
        """Failures of *address* still in the window."""
        return len(self._state(address, now).failures)

    def delay_for(self, count: int) -> float:
        """The gap between attempts after *count* failures in the window."""
        over = count - self.free
        if over <= 0 or self.base <= 0:
            return 0.0
        return min(self.cap, self.base * 2 ** min(over - 1, 62))

    def reserve(self, address: str, now: float) -> float:
        """Seconds the next attempt from *address* waits (0: none).  The
        attempt takes its slot: the one after it waits one gap longer."""
        state = self._state(address, now)
        gap = self.delay_for(len(state.failures))
        if gap <= 0:
            return 0.0
        start = max(now, state.next_slot)
        state.next_slot = start + gap
        return start - now

    def failed(self, address: str, now: float) -> int:
        """Record a failure; the number in the window."""
        state = self._state(address, now)
        state.failures.append(now)
        return len(state.failures)

    def prune(self, now: float) -> None:
        for address in [a for a, s in self._addresses.items() if (not s.failures or s.failures[-1] <= now - self.window)
                        and s.next_slot <= now]:
            del self._addresses[address]


class PinLock:
    """Per patron: ``attempts`` wrong PINs within ``window_minutes`` lock the
    PIN (a ``limits`` moving window, in memory; the same object serves every
    connection, so it counts whatever the client).

    ``limits`` is imported at the first wrong PIN: it loads every storage
    backend it has (redis, memcached, mongodb, async twins; ~100 modules,
    ~4 MB), and a process that never saw a wrong PIN has nothing to count
    (the embedded library inside a kiosk: bench/kiosk.py memory)."""

    def __init__(self, attempts: int, window_minutes: int) -> None:
        self.attempts = attempts
        self.window_minutes = window_minutes
        self._limiter = None
        self.item = None

    def _counting(self):  # noqa: ANN202 - limits' MovingWindowRateLimiter
        if self._limiter is None:
            from limits import RateLimitItemPerMinute
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter

            self.item = RateLimitItemPerMinute(self.attempts, self.window_minutes)
            self._limiter = MovingWindowRateLimiter(MemoryStorage())
        return self._limiter

    def locked(self, patron_id: str) -> bool:
        if self._limiter is None:  # no wrong PIN yet
            return False
        return not self._limiter.test(self.item, "pin", patron_id)

    def wrong(self, patron_id: str) -> bool:
        """Count a wrong PIN; True when the patron is now locked."""
        self._counting().hit(self.item, "pin", patron_id)
        return self.locked(patron_id)

    def clear(self, patron_id: str) -> None:
        if self._limiter is not None:
            self._limiter.clear(self.item, "pin", patron_id)


def login_throttle(limits: Limits) -> AddressThrottle:
    return AddressThrottle(
        base=limits.failure_delay_seconds, cap=limits.failure_delay_max_seconds, window=limits.failure_window_minutes * 60
    )


def probe_throttle(limits: Limits) -> AddressThrottle:
    return AddressThrottle(
        base=limits.failure_delay_seconds,
        cap=limits.failure_delay_max_seconds,
        window=limits.failure_window_minutes * 60,
        free=limits.unknown_patron_free,
    )
