"""Borrowing: online checkout, offline queue."""

from __future__ import annotations

import logging

from kiosk.config import OfflineMode
from kiosk.journal import TxnKind
from policy import Decision

from .model import K, LineKind, LineStatus, LoanLine, State
from .outcomes import outcome_text, question_text, refusal_text
from .port import LibrarySystemError, LibrarySystemUnavailable, item_result

log = logging.getLogger("kiosk.flows")

S = State


class BorrowFlow:
    """Borrowing: online checkout, offline queue.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    def _borrow_allowed(self) -> Decision | None:
        """None when this session may borrow, else the refusing decision."""
        sess = self.session
        if sess is None or sess.card is None:
            return None
        if sess.offline:
            return None
        decision = sess.borrow_decision
        if decision is not None and not decision.allowed:
            return decision
        return None

    async def _ui_borrow(self, _: str | None) -> None:
        if not self._identified:
            return
        refusal = self._borrow_allowed()
        if refusal is not None:
            await self._refuse(refusal, back=S.MENU)
            return
        if not self._library_up and not self.session.offline:  # type: ignore[union-attr]
            await self._message(K("kiosk.offline.title"), K(f"kiosk.offline.{self.settings.offline.value}"), back=S.MENU)
            return
        await self._start_borrow()

    async def _start_borrow(self) -> None:
        self._goto(S.BORROW)
        await self._process_waiting(LineKind.BORROW)

    async def _borrow_item(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        if any(loan.item_id == item_id for loan in sess.loans) and not sess.offline:
            self._upsert(LineKind.BORROW, item_id, LineStatus.OFFER_RENEW, text=K("kiosk.item.already_yours"))
            return
        if sess.offline:
            await self._borrow_offline(item_id, uids)
            return
        line = self._upsert(LineKind.BORROW, item_id, LineStatus.WORKING, text=None, extra=None, notes=())
        self._publish()
        txn = self.journal.begin(TxnKind.CHECKOUT, sess.card, item_id)
        try:
            raw = await self.library.checkout(sess.card, item_id, pin=sess.pin)
        except LibrarySystemUnavailable as exc:
            self.journal.finish(txn, ok=None, message="sent, no answer" if exc.outcome_unknown else "not sent")
            self._library_down()
            # Verified online in this very session: offline checkout may go on when allowed.
            decision = sess.borrow_decision
            may_go_offline = self.settings.offline is OfflineMode.CHECKOUT and decision is not None and decision.allowed
            if may_go_offline:
                sess.offline = True
                if not exc.outcome_unknown:  # it never reached the library system: queue it
                    await self._borrow_offline(item_id, uids)
                    return
            self._link_failed(line)
            return
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("checkout failed: %s", type(exc).__name__)
            self._link_failed(line)
            return
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, due=res.due, message=None if res.ok else res.screen_message)
        line.title = res.title or line.title
        if res.ok:
            line.status, line.due, line.text = LineStatus.OK, res.due, None
            line.extra = outcome_text(res.screen_message)
            # Wise FV: what the library says about the item (damaged, for sale, ...), information only
            line.notes = tuple(question_text(q) for q in res.questions)
            if not any(loan.item_id == item_id for loan in sess.loans):
                # the menu's count and the renew screen know it at once
                sess.loans.append(LoanLine(item_id=item_id, title=line.title or item_id, due=res.due))
            if res.security_change:
                await self._set_security(uids, False, line)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED
            line.text = refusal_text(res.screen_message, K("kiosk.item.refused"))
            self._signal(False)

    async def _borrow_offline(self, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        limit = self.settings.offline_item_limit
        if self.journal.offline_checkouts(sess.card) >= limit:
            self._upsert(LineKind.BORROW, item_id, LineStatus.REFUSED, text=K("kiosk.offline.limit", limit=limit))
            self._signal(False)
            return
        self.journal.enqueue(TxnKind.CHECKOUT, sess.card, item_id)
        line = self._upsert(LineKind.BORROW, item_id, LineStatus.QUEUED, text=K("kiosk.offline.confirm_later"))
        await self._set_security(uids, False, line)
        self._signal(True)

