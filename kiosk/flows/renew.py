"""Renewing: selected loans, all loans, or an item on the borrow screen."""

from __future__ import annotations

import logging

from kiosk.journal import TxnKind

from . import guards
from .model import K, LineKind, LineStatus, LoanLine, State, policy_text
from .outcomes import refusal_text
from .port import LibrarySystemError, LibrarySystemUnavailable, item_result

log = logging.getLogger("kiosk.flows")

S = State


class RenewFlow:
    """Renewing: selected loans, all loans, or an item on the borrow screen.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _ui_renew(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        if sess.offline or not self._library_up:
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.no_renew"), back=S.MENU)
            return
        assert sess.snapshot is not None
        decision = guards.may_renew(self._ctx(sess.snapshot, sess.card))
        if not decision.allowed:
            await self._refuse(decision, back=S.MENU)
            return
        for loan in sess.loans:
            loan.selected = False
        self._goto(S.RENEW)

    async def _ui_toggle(self, item_id: str | None) -> None:
        for loan in self.session.loans if self.session else []:
            if loan.item_id == item_id:
                loan.selected = not loan.selected

    async def _ui_renew_selected(self, _: str | None) -> None:
        sess = self.session
        if sess is None:
            return
        chosen = [loan for loan in sess.loans if loan.selected]
        if not chosen:
            self.view.hint = K("kiosk.renew.choose")
            return
        await self._renew_loans(chosen)

    async def _ui_renew_all(self, _: str | None) -> None:
        if self.session is not None:
            await self._renew_loans(list(self.session.loans))

    async def _renew_loans(self, loans: list[LoanLine]) -> None:
        self.view.hint = None
        any_ok = any_refused = False
        for loan in loans:
            ok = await self._renew_one(loan.item_id, loan)
            any_ok |= ok is True
            any_refused |= ok is False
            loan.selected = False
        if any_ok or any_refused:
            self._signal(not any_refused)

    async def _renew_one(self, item_id: str, loan: LoanLine | None) -> bool | None:
        """Renew one item; returns True/False, or None when the link failed."""
        sess = self.session
        assert sess is not None and sess.card is not None
        if loan is not None:
            loan.status, loan.text = LineStatus.WORKING, None
        self._publish()
        txn = self.journal.begin(TxnKind.RENEW, sess.card, item_id)
        try:
            raw = await self.library.renew(sess.card, item_id, pin=sess.pin)
        except LibrarySystemUnavailable:
            self.journal.finish(txn, ok=None)
            self._library_down()
            if loan is not None:
                loan.status, loan.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            return None
        except LibrarySystemError as exc:
            self.journal.finish(txn, ok=None)
            log.error("renew failed: %s", type(exc).__name__)
            if loan is not None:
                loan.status, loan.text = LineStatus.FAILED, K("kiosk.item.link_failed")
            return None
        res = item_result(raw, item_id)
        self.journal.finish(txn, ok=res.ok, due=res.due, message=None if res.ok else res.screen_message)
        title = res.title or (loan.title if loan else "")
        if res.ok:
            if loan is not None:
                loan.status, loan.due, loan.overdue = LineStatus.OK, res.due or loan.due, False
                loan.text = K("kiosk.renew.done")
            self._upsert(LineKind.RENEW, item_id, LineStatus.OK, title=title, due=res.due, text=None)
            return True
        reason = refusal_text(res.screen_message, K("kiosk.renew.refused"))
        if loan is not None:
            loan.status, loan.text = LineStatus.REFUSED, reason
        return False

    async def _ui_renew_item(self, item_id: str | None) -> None:
        """Borrow screen: renew an item that is already lent to this patron."""
        sess = self.session
        line = self._find_line(LineKind.BORROW, item_id or "")
        if sess is None or line is None or line.status is not LineStatus.OFFER_RENEW:
            return
        assert sess.snapshot is not None and sess.card is not None
        decision = guards.may_renew(self._ctx(sess.snapshot, sess.card))
        if not decision.allowed:
            line.status, line.text = LineStatus.REFUSED, policy_text(decision.message)
            self._signal(False)
            return
        loan = next((ln for ln in sess.loans if ln.item_id == line.item_id), None)
        ok = await self._renew_one(line.item_id, loan)
        renewed = self._find_line(LineKind.RENEW, line.item_id)
        if ok:
            line.status, line.text = LineStatus.OK, K("kiosk.item.renewed")
            line.due = renewed.due if renewed else None
            line.kind = LineKind.RENEW
            if renewed is not None and renewed is not line:
                sess.lines.remove(renewed)
            self._signal(True)
        else:
            line.status = LineStatus.REFUSED if ok is False else LineStatus.FAILED
            line.text = loan.text if loan is not None and loan.text else K("kiosk.renew.refused")
            self._signal(False)

