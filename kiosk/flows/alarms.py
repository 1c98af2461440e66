"""The kiosk's standing alarms: today one, the patron store that cannot be
written (full or read-only ``state_dir``).

Raised like the door's ``state_unwritable``: a CRITICAL log line once, the
alarm in :attr:`KioskFlows.alarms` (the fleet reporter publishes it in the
retained state and as an ``alarm`` event, raised and cleared), and a notice
on every screen that PIN actions are out of service (returns still work).
No PIN is checked meanwhile: the identification core refuses it (E2)
before it is sent.  While the alarm stands the kiosk probes ``state_dir``
every :data:`RECHECK_SECONDS` and clears the alarm when the store can be
written again (a later write that fails raises it again): the door does the
same with the same code (:class:`kiosk.identify.recheck.StoreRecheck`).

A part of :class:`~kiosk.flows.engine.KioskFlows`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from kiosk.identify import STORE_NAME, PatronStore, StoreError
from kiosk.identify.recheck import RECHECK_SECONDS, STORE_ALARM, StoreRecheck

from .model import K, Text

log = logging.getLogger("kiosk.flows")

__all__ = ["RECHECK_SECONDS", "STORE_ALARM", "AlarmsFlow", "StoreRecheck"]


class AlarmsFlow:
    """Standing alarms.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    def _raise_alarm(self, kind: str, detail: str) -> None:
        first = kind not in self.alarms
        self.alarms[kind] = detail[:200]
        self._store_check.raised()
        if first:
            log.critical("ALARM %s: PIN actions out of service (%s)", kind, detail)
            self._publish()

    def _clear_alarm(self, kind: str) -> None:
        if self.alarms.pop(kind, None) is not None:
            log.warning("alarm %s cleared: PIN actions back in service", kind)
            self._publish()

    def _alarm_notices(self) -> list[Text]:
        return [K("kiosk.alarm.pin_out_of_service")] if STORE_ALARM in self.alarms else []

    def _store_path(self):  # noqa: ANN202 - pathlib.Path
        return self.journal.path.parent / STORE_NAME

    def _open_store(self) -> PatronStore:
        rules = self.settings.rules
        return PatronStore(
            self._store_path(), self.journal.pseudonym_key, monotonic=self._monotonic,
            keep=timedelta(minutes=rules.lockout.window_minutes + rules.lockout.lockout_minutes),
        )

    def _recheck_store(self) -> None:
        """A standing store alarm: is the store writable again?  (From the ticker, now and then.)"""
        if STORE_ALARM not in self.alarms or not self._store_check.due():
            return
        why = self._store_check.probe()
        if why is None and self.store is None and self._own_store:
            try:
                self.store = self.ident.store = self._open_store()
            except StoreError as exc:
                why = str(exc)[:200]
        if why is not None:
            self.alarms[STORE_ALARM] = why
            return
        self._clear_alarm(STORE_ALARM)
