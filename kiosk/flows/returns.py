"""Returning: online checkin, offline queue."""

from __future__ import annotations

import logging

from kiosk.config import OfflineMode
from kiosk.journal import TxnKind

from .model import K, LineKind, LineStatus, State
from .outcomes import outcome_text, refusal_text
from .port import LibrarySystemError, LibrarySystemUnavailable, item_result
from .session import Session

log = logging.getLogger("kiosk.flows")

S = State


class ReturnFlow:
    """Returning: online checkin, offline queue.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _ui_return(self, _: str | None) -> None:
        if self.state is S.OUT_OF_ORDER or (not self._library_up and self.settings.offline is OfflineMode.OFF):
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.off"),
                                back=S.MENU if self._identified else S.OUT_OF_ORDER)
            return
        if self.session is None:
            self.session = Session()
        self._goto(S.RETURN)
        await self._process_waiting(LineKind.RETURN)

    async def _return_item(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None
        if not self._library_up and self.settings.offline is not OfflineMode.OFF:
            self.journal.enqueue(TxnKind.CHECKIN, sess.card, item_id)
            line = self._upsert(LineKind.RETURN, item_id, LineStatus.QUEUED, text=K("kiosk.offline.return_later"))
            await self._set_security(uids, True, line)
            self._signal(True)
            return
        line = self._upsert(LineKind.RETURN, item_id, LineStatus.WORKING, text=None, extra=None, hold_bin=None)
        self._publish()
        txn = self.journal.begin(TxnKind.CHECKIN, sess.card, item_id)
        try:
            raw = await self.library.checkin(item_id)
        except LibrarySystemUnavailable as exc:
            self.journal.finish(txn, ok=None, message="sent, no answer" if exc.outcome_unknown else "not sent")
            self._library_down()
            if not exc.outcome_unknown and self.settings.offline is not OfflineMode.OFF:
                await self._return_item(item_id, uids)  # never sent: the offline queue takes it
                return
            self._link_failed(line)
            return
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("checkin failed: %s", type(exc).__name__)
            self._link_failed(line)
            return
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, message=None if res.ok else res.screen_message)
        line.title = res.title or line.title
        if res.ok:
            line.status = LineStatus.OK
            if res.hold_shelf or res.hold_bin == "hold_shelf":  # Wise CL 03
                line.text, line.hold_bin = K("kiosk.return.hold_shelf"), "hold_shelf"
            elif res.hold_bin == "in_transport":  # Wise CL 02: a hold waits for it at another branch
                line.text, line.hold_bin = K("kiosk.return.hold_transport"), "in_transport"
            elif res.transit:
                line.text = K("kiosk.return.transit")
            else:
                line.text = K("kiosk.return.done")
            line.extra = outcome_text(res.screen_message)
            sess.loans = [loan for loan in sess.loans if loan.item_id != item_id]
            if res.security_change:
                await self._set_security(uids, True, line)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED
            line.text = refusal_text(res.screen_message, K("kiosk.item.return_refused"))
            self._signal(False)

