"""Identification: a shell over the one identification core
(:mod:`kiosk.identify`): card, PIN, online or offline, then the account.

The PIN buffer, the wrong-PIN budget (per patron, shared with a door on this
machine) and the verified-patron cache are the core's; this module only
turns its outward effects into screens.
"""

from __future__ import annotations

import logging

from devices.base import KEY_CLEAR, KEY_ENTER, CardPresented
from kiosk.config import OfflineMode
from kiosk.i18n import normalise_language
from kiosk.identify.core import Alarm, AskPin, Grant, Reason, Refuse
from policy import Action, PatronSnapshot

from . import guards
from .model import K, State, Text, policy_text
from .port import LibrarySystemError, LibrarySystemUnavailable, account_data, patron_notifications
from .session import Session

log = logging.getLogger("kiosk.flows")

S = State


class IdentifyFlow:
    """Identification.  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _on_card(self, ev: CardPresented) -> None:
        if self._identified or self.state not in (S.IDLE, S.RETURN, S.MESSAGE, S.OUT_OF_ORDER):
            return
        if self.state is S.MESSAGE and self.session is not None and self.session.lines:
            return
        if self.state is S.OUT_OF_ORDER and (self.settings.offline is OfflineMode.OFF or self._login_refused):
            return
        await self._identify(ev.identifier)

    def _chosen_language(self) -> str | None:
        """The language the patron chose on screen, for the library system's
        texts (sent in the 63/23); None when the patron chose none (the
        record's language then rules the screen and the texts alike)."""
        return self.view.language if self._language_chosen else None

    def _pin_action(self) -> Action:
        """The action whose PIN rules the kiosk's PIN screen answers for."""
        required = self.settings.rules.pin_required
        return Action.RENEW if Action.CHECKOUT not in required and Action.RENEW in required else Action.CHECKOUT

    async def _identify(self, card: str) -> None:
        back = S.RETURN if self.state is S.RETURN else S.IDLE
        sess = self.session or Session()
        self.session = sess
        # Known down (the watcher probes in the background and brings the
        # kiosk back): the patron gets limited service now instead of
        # waiting for the client's reconnect attempts.
        known_down = not self._library_up
        self._busy(K("kiosk.busy.identify"))
        self.ident.language = self._chosen_language()
        try:
            out = await self.ident.present(card, action=self._pin_action(), need_pin=guards.needs_pin(self.settings.rules),
                                           offline=known_down)
        finally:
            self._clear_busy()
        await self._identification(card, out, back)

    async def _identification(self, card: str, out: list, back: State) -> None:
        """Show what the core decided."""
        sess = self.session
        assert sess is not None
        online = self.ident.last_online
        if online is False:
            self._library_down()
        elif online is True:
            self._library_back()
        for effect in out:
            if isinstance(effect, Alarm):
                self._raise_alarm(effect.kind, effect.detail)
        effect = next((e for e in out if isinstance(e, (AskPin, Grant, Refuse))), None)
        if isinstance(effect, AskPin):
            sess.card = card
            sess.awaiting_offline_pin = effect.offline
            snapshot = self.ident.core.snapshot
            if snapshot is not None and snapshot.language and not self._language_chosen:
                self.view.language = normalise_language(snapshot.language)
            self._goto(S.PIN)
            self.view.pin_error = self._pin_text(effect)
            if effect.error is not None and effect.error is not Reason.PIN_EMPTY:
                self._signal(False)
                log.info("PIN refused: %s", ",".join(effect.error.rule_ids()))  # type: ignore[union-attr]
            return
        if isinstance(effect, Grant):
            sess.card = card
            sess.pin = effect.pin
            sess.awaiting_offline_pin = False
            if effect.source == "offline":
                sess.offline = True
                self._signal(True)
                await self._enter_borrow_or_menu()
                return
            assert effect.snapshot is not None
            sess.snapshot = effect.snapshot
            await self._identified_online(effect.snapshot, pin=effect.pin)
            return
        if isinstance(effect, Refuse):
            await self._refused(effect, back)

    def _pin_text(self, ask: AskPin) -> Text | None:
        if ask.error is Reason.PIN_EMPTY:
            return K("kiosk.pin.empty")
        if ask.error is None:
            return None
        text = policy_text(ask.error.message)  # type: ignore[union-attr]
        if ask.tries_left == 1:
            text = K("kiosk.pin.wrong_last", reason=text)
        elif ask.tries_left is not None:
            text = K("kiosk.pin.wrong_tries", reason=text, tries=ask.tries_left)
        # From the first wrong PIN on: where to reset a forgotten one.
        return K("kiosk.pin.with_hint", text=text, hint=self._pin_reset_hint())

    def _pin_reset_hint(self) -> Text:
        """"Forgot your PIN?": the library's portal (``[kiosk] pin_reset_url``), else the desk."""
        url = self.settings.pin_reset_url
        return K("kiosk.pin.reset_url", url=url) if url else K("kiosk.pin.reset_desk")

    async def _refused(self, refusal: Refuse, back: State) -> None:
        sess = self.session
        at_pin = self.state is S.PIN
        reason = refusal.reason
        if reason is Reason.OFFLINE_OFF:
            mode = self.settings.offline
            if mode is OfflineMode.OFF:
                self.session = None
                self._signal(False)
                await self._message(K("kiosk.offline.title"), K("kiosk.offline.off"), back=S.OUT_OF_ORDER)
                return
            if at_pin or back is S.IDLE:
                self._drop_patron()
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.return_only"), back=back)
            return
        if reason is Reason.NOT_VERIFIED:
            self._drop_patron()
            self._signal(False)
            await self._message(K("kiosk.offline.title"), K("kiosk.offline.not_verified"), back=back if not at_pin else S.IDLE)
            return
        if reason is Reason.OUT_OF_SERVICE:
            self._drop_patron()
            self._signal(False)
            await self._message(K("kiosk.error.title"), K("kiosk.pin.out_of_service"), back=S.IDLE)
            return
        if reason is Reason.ERROR:
            log.error("identify failed: %s", refusal.staff)
            self._drop_patron()
            self._signal(False)
            await self._message(K("kiosk.error.title"), K("kiosk.error.library"), back=back if not at_pin else S.IDLE)
            return
        assert refusal.decision is not None
        log.info("refused: %s", ",".join(refusal.rules))
        # Locked out after wrong PINs: the message says where to reset the PIN.
        locked = "L1" in refusal.rules
        if at_pin:
            self._drop_patron()
            self._signal(False)
            await self._message(K("kiosk.refused.title"), policy_text(refusal.decision.message), back=S.IDLE,
                                extra=self._pin_reset_hint() if locked else None)
            return
        if back is S.IDLE and not (sess and sess.lines):
            self.session = None
        elif sess is not None:
            sess.card = None
        if locked:
            self._signal(False)
            await self._message(K("kiosk.refused.title"), policy_text(refusal.decision.message), back=back,
                                extra=self._pin_reset_hint())
            return
        await self._refuse(refusal.decision, back=back)

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
        if self.session is None or not digit or not digit.isdigit() or len(digit) != 1:
            return
        self.ident.core.key(self._now(), digit)
        self.view.pin_error = None

    async def _ui_pin_back(self, _: str | None) -> None:
        self.ident.core.backspace()

    async def _ui_pin_clear(self, _: str | None) -> None:
        self.ident.core.key(self._now(), KEY_CLEAR)

    async def _ui_cancel(self, _: str | None) -> None:
        sess = self.session
        self.ident.core.reset()
        if sess is not None and sess.lines:
            sess.card = None
            self._goto(S.RETURN)
            return
        self._end_quietly()

    async def _ui_pin_enter(self, _: str | None) -> None:
        sess = self.session
        if sess is None or sess.card is None or not self.ident.core.waiting_for_pin:
            return
        card = sess.card
        self._busy(K("kiosk.busy.pin"))
        self.ident.language = self._chosen_language()
        try:
            out = await self.ident.submit()
        finally:
            self._clear_busy()
        await self._identification(card, out, S.IDLE)

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
        sess.notifications = patron_notifications(snapshot, refused=not decision.allowed)
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
            raw = await self.library.account(sess.card, sess.pin, language=self._chosen_language())
        except LibrarySystemUnavailable:
            self._library_down()
            return
        except LibrarySystemError as exc:
            log.error("account failed: %s", type(exc).__name__)
            return
        finally:
            self._clear_busy()
        decision = sess.borrow_decision
        data = account_data(raw, self._now().date(), refused=decision is not None and not decision.allowed)
        sess.loans = data.loans
        sess.notifications = tuple(dict.fromkeys(sess.notifications + data.notifications))
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

