"""The standing alarm of a patron store that cannot be written, checked again.

The kiosk (:mod:`kiosk.flows.alarms`) and the door (:mod:`kiosk.door.service`)
both raise :data:`STORE_ALARM` when a write to the one patron store fails
(full or read-only ``state_dir``) and both clear it the same way: every
:data:`RECHECK_SECONDS` (monotonic) while it stands, ``state_dir`` is probed
(:func:`kiosk.statefile.probe_writable`); writable again, the alarm is
cleared (a later write that fails raises it again).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kiosk.statefile import StateFileError, probe_writable

#: The alarm's name (the core's :class:`~kiosk.identify.core.Alarm` kind), the same at kiosk and door.
STORE_ALARM = "patron_store_unwritable"
#: How often a standing store alarm is checked again (seconds, monotonic).
RECHECK_SECONDS = 30.0


class StoreRecheck:
    """When a standing store alarm is looked at again, and the look."""

    def __init__(self, directory: Path, monotonic: Callable[[], float], every: float = RECHECK_SECONDS) -> None:
        self.directory = directory
        self.every = every
        self._monotonic = monotonic
        self._checked = monotonic()

    def raised(self) -> None:
        """The alarm was (again) raised now: the next look is a full period away."""
        self._checked = self._monotonic()

    def due(self) -> bool:
        return self._monotonic() - self._checked >= self.every

    def probe(self) -> str | None:
        """Look now: None when the store's directory can be written, else why not."""
        self._checked = self._monotonic()
        try:
            probe_writable(self.directory)
        except StateFileError as exc:
            return str(exc)[:200]
        return None
