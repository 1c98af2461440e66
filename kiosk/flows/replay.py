"""The library watcher and the exactly-once replay of the offline queue."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kiosk.adapter import LibrarySystemLoginRefused
from kiosk.config import OfflineMode
from kiosk.journal import JournalEntry, ReplayOutcome, TxnKind

from .model import State
from .port import LibrarySystemError, LibrarySystemUnavailable, item_fingerprint, item_result

log = logging.getLogger("kiosk.flows")

S = State


class ReplayFlow:
    """The library watcher and the exactly-once replay of the offline queue.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def probe_at_start(self) -> None:
        """Log in and probe the library system now, at start, so that a wrong
        host, port or account shows at once (a refused login: out of order,
        and one ERROR line for staff) instead of at the first patron."""
        start = getattr(self.library, "start", None)
        if start is None:
            return
        try:
            await start()
        except LibrarySystemLoginRefused as exc:
            log.error("STAFF: the library system refused the kiosk's SIP2 login (%s); check [library] user and "
                      "secrets.sip2_password; the kiosk is out of order until the login works", exc)
            self._login_refused = True
            self._library_down()
            self._goto(S.OUT_OF_ORDER)
        except LibrarySystemUnavailable as exc:
            log.error("STAFF: the library system cannot be reached at start (%s); check [library] host and port", exc)
            self._library_down()
            if self.settings.offline is OfflineMode.OFF:
                self._goto(S.OUT_OF_ORDER)
        except LibrarySystemError as exc:
            log.error("STAFF: the library system's first answer could not be used (%s)", type(exc).__name__)
        else:
            self._login_refused = False

    async def _watch_library(self) -> None:
        while True:
            await asyncio.sleep(self.settings.probe_seconds if self._library_up else min(self.settings.probe_seconds, 5.0))
            if self._library_up and not self.journal.pending_count() and self.session is not None:
                continue  # a patron's requests tell whether it answers
            await self.probe()

    async def probe(self) -> bool:
        """Ask whether the library system answers and show the result (the
        offline notice, or back to full service).  The watcher's step, also
        between patrons, so that the next patron does not wait for it."""
        up = await self.ping()
        async with self._lock:
            was_down = not self._library_up
            if up:
                self._library_back()
                if was_down and self.state is S.OUT_OF_ORDER:
                    self._goto(S.IDLE)
            else:
                self._library_down()
            if was_down == up:
                self._publish()
        return up

    async def ping(self) -> bool:
        """Is the library system reachable now?"""
        try:
            ping = getattr(self.library, "ping", None)
            if ping is not None:
                await ping()
            else:
                await self.library.item_information("0")
        except LibrarySystemUnavailable:
            return False
        except LibrarySystemError:
            return True
        return True

    async def replay(self) -> Any:
        """Send the offline queue to the library system (exactly once, in order)."""
        if self._replaying:
            return None
        if getattr(self.library, "accepts_offline", True) is False:
            pending = self.journal.pending_count()
            if pending:
                log.warning("offline queue kept: %d transaction(s) wait; the library system says it does not accept "
                            "offline transactions now (98 offline_ok N)", pending)
            return None
        self._replaying = True
        try:
            report = await self.journal.replay(self._replay_send, self._replay_probe)
        finally:
            self._replaying = False
        if report.stopped_by is not None:
            if isinstance(report.stopped_by, LibrarySystemUnavailable):
                self._library_down()
            else:
                log.error("replay stopped: %s", type(report.stopped_by).__name__)
        elif report.replayed or report.rejected:
            log.warning("offline queue replayed: %d done, %d rejected by the library system", report.replayed,
                        report.rejected)
        return report

    async def _replay_send(self, entry: JournalEntry) -> ReplayOutcome:
        assert entry.item_id is not None
        if entry.kind is TxnKind.CHECKOUT:
            assert entry.card is not None
            raw = await self.library.checkout(entry.card, entry.item_id, no_block=True)
        else:
            raw = await self.library.checkin(entry.item_id, no_block=True, return_date=entry.created_at)
        res = item_result(raw, entry.item_id)
        return ReplayOutcome(ok=res.ok, message=res.screen_message, due=res.due)

    async def _replay_probe(self, entry: JournalEntry) -> str:
        assert entry.item_id is not None
        try:
            raw = await self.library.item_information(entry.item_id)
        except LibrarySystemUnavailable:
            raise
        except LibrarySystemError:
            return "unknown"
        return item_fingerprint(raw)
