"""Errors of the embedded library system (one root: :class:`LibraryError`)."""

from __future__ import annotations


class LibraryError(Exception):
    """Root of every error raised by ``kiosk.library``."""


class DataFileError(LibraryError):
    """A data file that cannot be used.  ``problems`` lists ``(json_path,
    message)`` pairs, e.g. ``("patrons[0].cards[1].status", "Input should be …")``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {path}: {msg}" for path, msg in self.problems))


class StoreError(LibraryError):
    """The SQLite state cannot be opened or written."""


class NotFound(LibraryError):
    """No patron, card or item with that id."""


class PaymentRefused(LibraryError):
    """A payment (37) that cannot be booked; ``reason`` names why:
    ``unknown_registration``, ``already_paid``, ``amount``, ``overpayment``,
    ``conflict`` (the transaction id already booked another amount)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(detail or reason.replace("_", " "))
