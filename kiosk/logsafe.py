"""Logging that keeps personal data out of tracebacks.

An exception's message can carry what a handler was working on: a card
number, a name, a PIN.  Tracebacks in our logs therefore show where it
happened (the stack) and the exception's type, never its message.
``PrivateFormatter`` does that for every log line with ``exc_info``;
``stack_only`` gives the same text for code that logs a stack itself.
``BurstLog`` logs a burst of like events (failed logins, refused
connections) as one line when it starts and one summary when it is over.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

WITHHELD = "(message withheld: it may contain personal data)"


def stack_only(exc: BaseException) -> str:
    """The traceback of *exc* and its causes, without any exception message."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        block = "Traceback (most recent call last):\n" + "".join(traceback.format_tb(current.__traceback__))
        block += f"{type(current).__module__}.{type(current).__qualname__} {WITHHELD}"
        parts.append(block)
        current = current.__cause__ or current.__context__
    return "\n\nwhich happened while handling:\n".join(reversed(parts)) if len(parts) > 1 else parts[0]


class PrivateFormatter(logging.Formatter):
    """A Formatter whose tracebacks withhold exception messages."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return stack_only(ei[1]) if ei and ei[1] is not None else ""


def install(level: int, fmt: str) -> None:
    """Configure the root logger for a bibkiosk process."""
    handler = logging.StreamHandler()
    handler.setFormatter(PrivateFormatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


@dataclass
class _Burst:
    first: float
    last: float
    count: int


class BurstLog:
    """One log line when a burst of events starts, one summary when it is
    over (no event for *quiet* seconds), instead of a line per event."""

    def __init__(
        self, logger: logging.Logger, what: str, *, quiet: float = 5.0, every: float = 60.0, level: int = logging.WARNING
    ) -> None:
        self.logger = logger
        self.what = what
        self.quiet = quiet
        self.every = every  # a burst that goes on is summarised this often
        self.level = level
        self._bursts: dict[str, _Burst] = {}

    def note(self, key: str, now: float, detail: str = "") -> None:
        """One event for *key* (a peer address, "accept" …)."""
        burst = self._bursts.get(key)
        if burst is not None and (now - burst.last > self.quiet or now - burst.first >= self.every):
            self._summary(key, burst)
            burst = None
        if burst is None:
            self._bursts[key] = _Burst(now, now, 1)
            self.logger.log(self.level, "%s from %s%s", self.what, key, f" ({detail})" if detail else "")
            return
        burst.last = now
        burst.count += 1

    def flush(self, now: float, *, everything: bool = False) -> None:
        """Summarise the bursts that are over (all of them with *everything*)."""
        for key, burst in list(self._bursts.items()):
            if everything or now - burst.last > self.quiet:
                self._summary(key, burst)

    def _summary(self, key: str, burst: _Burst) -> None:
        self._bursts.pop(key, None)
        if burst.count > 1:
            self.logger.log(
                self.level, "%s from %s: %d in %.1f s (burst over)", self.what, key, burst.count, burst.last - burst.first
            )
