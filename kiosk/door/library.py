"""The door's view of the library-system adapter.

The door needs one call, ``await library.identify(card, pin)`` returning a
policy ``PatronSnapshot``, and needs to tell "the library system cannot be
reached" (decide from the offline cache) from every other failure (refuse
with an error).  This module holds that classification and builds the
adapter from the configuration, so the rest of the door does not depend on
where the adapter lives.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any, Protocol

from policy import PatronSnapshot


class PatronLookup(Protocol):
    async def identify(self, card: str, pin: str | None = None) -> PatronSnapshot: ...


def _adapter_errors() -> tuple[type[BaseException] | None, type[BaseException] | None]:
    """(LibrarySystemUnavailable, LibrarySystemError) from the adapter package, if installed."""
    for name in ("kiosk.adapter", "kiosk.adapter.errors", "kiosk.adapter.base"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        unavailable = getattr(module, "LibrarySystemUnavailable", None)
        root = getattr(module, "LibrarySystemError", None)
        if unavailable is not None:
            return unavailable, root
    return None, None


def is_unavailable(exc: BaseException) -> bool:
    """True when *exc* means the library system cannot be reached now."""
    unavailable, _ = _adapter_errors()
    if unavailable is not None and isinstance(exc, unavailable):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError))


def library_from_config(config: Any) -> Any:
    """The adapter for ``config.library`` (see kiosk.adapter)."""
    from kiosk.door.errors import DoorConfigError

    try:
        module = importlib.import_module("kiosk.adapter")
    except ImportError as exc:
        raise DoorConfigError(f"the library-system adapter is not installed: {exc}") from None
    factory = getattr(module, "library_system_from_config", None) or getattr(module, "from_config", None)
    if factory is None:
        raise DoorConfigError("kiosk.adapter offers no library_system_from_config(config)")
    return factory(config)
