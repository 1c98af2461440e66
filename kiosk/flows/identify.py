"""Identification: card, PIN, online or offline, then the account."""

from __future__ import annotations

from devices.base import KEY_CLEAR, KEY_ENTER
from datetime import UTC
import logging
from datetime import timedelta

from devices.base import CardPresented
from kiosk.config import OfflineMode
from kiosk.i18n import normalise_language
from policy import PatronSnapshot, PinCheck

from . import guards
from .model import K, State, policy_text
from .port import LibrarySystemError, LibrarySystemUnavailable, account_data
from .session import Session

log = logging.getLogger("kiosk.flows")

S = State


class IdentifyFlow:
    """Identification: card, PIN, online or offline, then the account.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _on_card(self, ev: CardPresented) -> None:
        if self._identified or self.state not in (S.IDLE, S.RETURN, S.MESSAGE, S.OUT_OF_ORDER):
            return
        if self.state is S.MESSAGE and self.session is not None and self.session.lines:
            return
        if self.state is S.OUT_OF_ORDER and (self.settings.offline is OfflineMode.OFF or self._login_refused):
            return
        await self._identify(ev.identifier)

    async def _identify(self, card: str) -> None:
        back = S.RETURN if self.state is S.RETURN else S.IDLE
        sess = self.session or Session()
        self.session = sess
        if not self._library_up:
            # Known down (the watcher probes in the background and brings the
            # kiosk back): the patron gets limited service now instead of
            # waiting for the client's reconnect attempts.
            await self._identify_offline(card, back)
            return
        self._busy(K("kiosk.busy.identify"))
        try:
            snapshot = await self.library.identify(card)
        except LibrarySystemUnavailable:
            self._clear_busy()
            self._library_down()
            await self._identify_offline(card, back)
            return
        except LibrarySystemError as exc:
            self._clear_busy()
            log.error("identify failed: %s", type(exc).__name__)
            self._signal(False)
            await self._message(K("kiosk.error.title"), K("kiosk.error.library"), back=back)
            return
        self._clear_busy()
        self._library_back()
        refusal = guards.card_usable(self._ctx(snapshot, card))
        if refusal is not None:
            if back is S.IDLE:
                self.session = None
            await self._refuse(refusal, back=back)
            return
        sess.card = card
        sess.snapshot = snapshot
        if snapshot.language and not self._language_chosen:
            self.view.language = normalise_language(snapshot.language)
        if guards.needs_pin(self.settings.rules):
            sess.pin_buffer = ""
            self._goto(S.PIN)
            return
        await self._identified_online(snapshot, pin=None)

    async def _identify_offline(self, card: str, back: State) -> None:
        mode = self.settings.offline
        if mode is OfflineMode.OFF:
            self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.off"), back=S.OUT_OF_ORDER)
            return
        if mode is OfflineMode.RETURN_ONLY:
            if back is S.IDLE:
                self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.return_only"), back=back)
            return
        sess = self.session
        assert sess is not None
        if guards.needs_pin(self.settings.rules):
            sess.card = card
            sess.awaiting_offline_pin = True
            sess.pin_buffer = ""
            self._goto(S.PIN)
            return
        await self._offline_session(card, pin=None, back=back)

    async def _offline_session(self, card: str, pin: str | None, back: State) -> None:
        sess = self.session
        assert sess is not None
        within = timedelta(hours=self.settings.offline_recent_hours)
        if not self.journal.recently_verified(card, within, pin=pin, now=self._now()):
            sess.card = None
            sess.pin = None
            sess.awaiting_offline_pin = False
            if not sess.lines:
                self.session = None
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.not_verified"), back=back if back is not S.PIN else S.IDLE)
            return
        sess.card = card
        sess.pin = pin
        sess.offline = True
        sess.awaiting_offline_pin = False
        self._signal(True)
        await self._enter_borrow_or_menu()

    async def _on_key(self, key: str) -> None:
        if self.state is not S.PIN:
            return
        if key == KEY_ENTER:
            await self._ui_pin_enter(None)
        elif key == KEY_CLEAR:
            await self._ui_pin_clear(None)
        elif key.isdigit():
            await self._ui_pin_digit(key)

    async def _ui_pin_digit(self, digit: str | None) -> None:
        sess = self.session
        if sess is None or not digit or not digit.isdigit() or len(digit) != 1:
            return
        if len(sess.pin_buffer) < self.settings.max_pin_length:
            sess.pin_buffer += digit
        self.view.pin_error = None

    async def _ui_pin_back(self, _: str | None) -> None:
        if self.session is not None:
            self.session.pin_buffer = self.session.pin_buffer[:-1]

    async def _ui_pin_clear(self, _: str | None) -> None:
        if self.session is not None:
            self.session.pin_buffer = ""

    async def _ui_cancel(self, _: str | None) -> None:
        sess = self.session
        if sess is not None and sess.lines:
            sess.card = None
            sess.pin_buffer = ""
            self._goto(S.RETURN)
            return
        self._end_quietly()

    async def _ui_pin_enter(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None:
            return
        pin, sess.pin_buffer = sess.pin_buffer, ""
        if not pin:
            self.view.pin_error = K("kiosk.pin.empty")
            return
        card = sess.card
        if sess.awaiting_offline_pin:
            await self._offline_session(card, pin, back=S.IDLE)
            return
        self._busy(K("kiosk.busy.pin"))
        try:
            snapshot = await self.library.identify(card, pin)
        except LibrarySystemUnavailable:
            self._clear_busy()
            self._library_down()
            if self.settings.offline is OfflineMode.CHECKOUT:
                await self._offline_session(card, pin, back=S.IDLE)
            else:
                await self._identify_offline(card, S.IDLE)
            return
        except LibrarySystemError as exc:
            self._clear_busy()
            log.error("PIN check failed: %s", type(exc).__name__)
            await self._message(K("kiosk.error.title"), K("kiosk.error.library"), back=S.IDLE)
            self._drop_patron()
            return
        self._clear_busy()
        if snapshot.pin is PinCheck.WRONG:
            self.journal.record_pin_failure(card, when=self._now().astimezone(UTC))
        refusal = guards.pin_accepted(self._ctx(snapshot, card))
        if refusal is not None:
            self._signal(False)
            log.info("PIN refused: %s", ",".join(refusal.rule_ids()))
            if "P1" in refusal.rule_ids() and "L1" not in refusal.rule_ids():
                self.view.pin_error = policy_text(refusal.message)
                return
            self._drop_patron()
            await self._message(K("kiosk.refused.title"), policy_text(refusal.message), back=S.IDLE)
            return
        self.journal.clear_pin_failures(card)
        sess.pin = pin
        sess.snapshot = snapshot
        await self._identified_online(snapshot, pin=pin)

    def _drop_patron(self) -> None:
        sess = self.session
        if sess is None:
            return
        if sess.lines:
            sess.card = sess.pin = None
            sess.snapshot = None
        else:
            self.session = None

    async def _identified_online(self, snapshot: PatronSnapshot, pin: str | None) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        card = sess.card
        if snapshot.language and not self._language_chosen:
            self.view.language = normalise_language(snapshot.language)
        ctx = self._ctx(snapshot, card)
        decision = guards.may_borrow(ctx)
        sess.borrow_decision = decision
        if decision.allowed:
            self.journal.remember_verified(card, pin=pin)
        else:
            self.journal.forget_verified(card)
        self.view.borrow_refusal = None if decision.allowed else policy_text(decision.message)
        self.view.renew_refused = not guards.may_renew(ctx).allowed
        self.view.blocks = [policy_text(d.message) for d in guards.blocks(ctx)]
        await self._load_account()
        self._signal(True)
        await self._enter_borrow_or_menu()

    async def _load_account(self) -> None:
        sess = self.session
        assert sess is not None and sess.card is not None
        self._busy(K("kiosk.busy.account"))
        try:
            raw = await self.library.account(sess.card, sess.pin)
        except LibrarySystemUnavailable:
            self._library_down()
            return
        except LibrarySystemError as exc:
            log.error("account failed: %s", type(exc).__name__)
            return
        finally:
            self._clear_busy()
        data = account_data(raw, self._now().date())
        sess.loans = data.loans
        names = self.settings.branch_names
        for hold in data.holds:
            if hold.pickup:
                hold.pickup = names.get(hold.pickup, hold.pickup)
        sess.holds = sorted(data.holds, key=lambda h: not h.ready)

    async def _enter_borrow_or_menu(self) -> None:
        """After identification: straight to borrowing when items wait, else the menu."""
        if self._waiting_items() and self._borrow_allowed() is None:
            await self._start_borrow()
        else:
            self._goto(S.MENU)

    def _waiting_items(self) -> bool:
        sess = self.session
        seen = sess.seen_uids if sess else set()
        fresh = [u for u in self._pad if u not in seen and u not in self._stale]
        return bool(fresh or self._pending_scans)

