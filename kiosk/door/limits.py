"""The per-reader rate limit.

:class:`RateLimiter` counts card presentations per reader in a sliding
minute, against card enumeration.  (Wrong PINs are counted per patron in the
one patron store, :mod:`kiosk.identify.store`.)
"""

from __future__ import annotations

from collections import deque


class RateLimiter:
    """At most *per_minute* card presentations per reader in any 60 seconds.

    Times are monotonic seconds (``time.monotonic()``), passed in.
    """

    def __init__(self, per_minute: int, *, window: float = 60.0) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def allow(self, reader: str, now: float) -> bool:
        """Count one presentation at *reader*; False when over the limit."""
        seen = self._seen.setdefault(reader, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.per_minute:
            return False
        seen.append(now)
        return True

    def retry_after(self, reader: str, now: float) -> float:
        seen = self._seen.get(reader)
        if not seen or len(seen) < self.per_minute:
            return 0.0
        return max(0.0, seen[0] + self.window - now)
