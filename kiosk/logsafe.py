"""Logging that keeps personal data out of tracebacks.

An exception's message can carry what a handler was working on: a card
number, a name, a PIN.  Tracebacks in our logs therefore show where it
happened (the stack) and the exception's type, never its message.
``PrivateFormatter`` does that for every log line with ``exc_info``;
``stack_only`` gives the same text for code that logs a stack itself.
"""

from __future__ import annotations

import logging
import traceback

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
