"""Account, menu, message OK, receipt and the end of a session."""

from __future__ import annotations

from devices.base import Pattern
import logging

from kiosk.config import OfflineMode, ReceiptMode
from kiosk.i18n import normalise_language

from . import guards
from .model import K, LineKind, LineStatus, State, Summary, policy_text
from .port import LibrarySystemError, LibrarySystemUnavailable
from .receipt import receipt_lines
from .table import TRANSITIONS

log = logging.getLogger("kiosk.flows")

S = State


class EndFlow:
    """Account, menu, message OK, receipt and the end of a session.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _ui_account(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        if sess.offline or not self._library_up:
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.no_account"), back=S.MENU)
            return
        await self._load_account()
        assert sess.snapshot is not None
        self.view.blocks = [policy_text(d.message) for d in guards.blocks(self._ctx(sess.snapshot, sess.card))]
        self._goto(S.ACCOUNT)

    async def _ui_menu(self, _: str | None) -> None:
        if self._identified:
            self._goto(S.MENU)
        elif self.session is not None and self.session.lines:
            await self._ui_finish(None)
        else:
            self._end_quietly()

    async def _ui_message_ok(self, _: str | None) -> None:
        back = self.view.message_back or S.IDLE
        if back is S.IDLE:
            self._end_quietly()
            return
        if back in (S.MENU, S.BORROW, S.RENEW, S.ACCOUNT) and not self._identified:
            back = S.RETURN if self.session is not None else S.IDLE
        if back is S.OUT_OF_ORDER and self._library_up:
            back = S.IDLE
        self._goto(back)

    # ================================================================== end

    def _did_something(self) -> bool:
        return bool(self.session and any(line.done for line in self.session.lines))

    async def _ui_finish(self, _: str | None) -> None:
        await self._finish(by_timeout=False)

    async def _finish(self, *, by_timeout: bool) -> None:
        mode = self.settings.receipt
        can_print = self._did_something() and self._role_ok("printer")
        printed = False
        if not by_timeout:
            if can_print and mode in (ReceiptMode.ASK, ReceiptMode.ALWAYS_ON_TIMEOUT):
                self._goto(S.RECEIPT)
                return
            if can_print and mode is ReceiptMode.ALWAYS:
                printed = await self._print_receipt()
            await self._end(printed, summary=True)
            return
        if can_print and mode in (ReceiptMode.ALWAYS, ReceiptMode.ALWAYS_ON_TIMEOUT):
            printed = await self._print_receipt()
        await self._end(printed, summary=False)

    async def _ui_receipt_yes(self, _: str | None) -> None:
        printed = await self._print_receipt()
        await self._end(printed, summary=True)

    async def _ui_receipt_no(self, _: str | None) -> None:
        await self._end(False, summary=True)

    async def _print_receipt(self) -> bool:
        sess = self.session
        if sess is None:
            return False
        lines = receipt_lines(sess.lines, self.view.language, now=self._now(), branch=self.settings.branch,
                              payments=sess.payments)
        self._busy(K("kiosk.busy.print"))
        try:
            return await self.hub.print_receipt(lines)
        finally:
            self._clear_busy()

    async def _end(self, printed: bool, *, summary: bool) -> None:
        sess = self.session
        counts = Summary()
        if sess is not None:
            done = [ln for ln in sess.lines if ln.done]
            counts = Summary(
                borrowed=sum(1 for ln in done if ln.kind is LineKind.BORROW),
                returned=sum(1 for ln in done if ln.kind is LineKind.RETURN),
                renewed=sum(1 for ln in done if ln.kind is LineKind.RENEW),
                queued=sum(1 for ln in done if ln.status is LineStatus.QUEUED),
                refused=sum(1 for ln in sess.lines if not ln.done),
                receipt_printed=printed,
                with_card=sess.card is not None or sess.snapshot is not None,
            )
            if sess.card is not None and not sess.offline and self._library_up:
                try:
                    await self.library.end_session(sess.card)
                except LibrarySystemUnavailable:
                    self._library_down()
                except LibrarySystemError as exc:
                    log.debug("end session: %s", type(exc).__name__)
        language, chosen = self.view.language, self._language_chosen
        display = self.view.large_text, self.view.high_contrast
        self._forget_session()
        if summary:
            # the goodbye in the language (and display) the patron saw, until the kiosk is at rest
            self.view.language, self._language_chosen = language, chosen
            self.view.large_text, self.view.high_contrast = display
            self._goto(S.SUMMARY)
            self.view.summary = counts
        else:
            self._goto_idle()

    def _forget_session(self) -> None:
        """Drop everything of the patron: session, PIN, lines, texts."""
        self.session = None
        self.ident.core.reset()
        self._stale |= set(self._pad)
        self._pending_scans.clear()
        v = self.view
        v.lines, v.loans, v.holds, v.blocks = [], [], [], []
        v.borrow_refusal = v.hint = v.pin_error = None
        v.renew_refused = False
        v.pay = None
        v.busy = None
        v.language = normalise_language(self.settings.language)
        self._language_chosen = False
        self._reset_display()

    def _reset_display(self) -> None:
        """The patron's display switches off (200 % text, high contrast)."""
        self.view.large_text = self.view.high_contrast = False

    def _rest(self) -> None:
        """At rest (no session) for the idle timeout since the last touch: a language or display
        chosen here and left (no card presented) ends, and the rest listeners (speech) are told,
        so the next patron gets the kiosk's own."""
        self._rested = True
        v = self.view
        before = v.language, v.large_text, v.high_contrast
        v.language = normalise_language(self.settings.language)
        self._language_chosen = False
        self._reset_display()
        for listener in list(self._rest_listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - a UI bug must not stop the flows
                log.exception("rest listener failed")
        if (v.language, v.large_text, v.high_contrast) != before:
            self._publish()

    def _goto_idle(self) -> None:
        self._forget_session()
        self.view.summary = None
        target = S.OUT_OF_ORDER if not self._library_up and self.settings.offline is OfflineMode.OFF else S.IDLE
        if target is not self.state and target not in TRANSITIONS[self.state]:
            self._goto(S.IDLE)
        self._goto(target)
        self._spawn(self.hub.show(Pattern.IDLE))

    def _end_quietly(self) -> None:
        """Back to idle without a summary (nothing was done)."""
        self._goto_idle()

    async def _ui_summary_ok(self, _: str | None) -> None:
        self._goto_idle()

