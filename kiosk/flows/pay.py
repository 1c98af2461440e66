"""Paying at the kiosk: a refusal that payment lifts offers "Pay € X now".

A part of :class:`~kiosk.flows.engine.KioskFlows`.  When borrowing (or
renewing) is refused for R1, R2, R3, R4 or R5 and a payment terminal is
configured, the refusal opens the PAY screen instead of a plain message: the
refusal, what is owed (the registrations from 41/42 when the library system
gives them, else the charges and the open membership fee of the patron
snapshot, else the total BV), a choice of *everything* or *only what lifts
the block* (the policy is asked, on the snapshot as it would be after paying,
which choice lifts it), and the pay button.  PAYING waits for the terminal
(present card, PIN on the terminal; Cancel on the kiosk aborts it).  Then:

* approved and booked (one 37 per line): the patron is identified again and,
  when the block is gone, goes straight to borrowing;
* declined, cancelled, timed out, terminal offline: back to PAY with a clear
  banner (nothing was charged) and the choice to try again or stop;
* approved but not (yet) booked: a message with the terminal reference; the
  payment service keeps booking it and tells staff (never lost).

One amount source: :meth:`PaySelection.lines` gives the lines; the screen
shows their sum, the payment service asks the terminal for that sum and
books each line's amount.  ``[policy] show_amounts`` decides whether amounts
appear before the patron entered the PIN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from kiosk.payments import LineKind, PayLine, PayReport, PaymentState, cents, format_amount
from policy import Action, Decision, PatronSnapshot, SubscriptionStatus, decide

from .model import K, State, Text, fmt_date, literal, policy_text
from .outcomes import library_says
from .port import LibrarySystemError, LibrarySystemUnavailable

log = logging.getLogger("kiosk.flows")

S = State

#: Rules a payment lifts (the Wise digest, seed 003).
PAYABLE_RULES = frozenset({"R1", "R2", "R3", "R4", "R5"})
#: Words that mark a registration as a replacement invoice (the adapter's default for R4).
INVOICE_WORDS = ("nota", "materiaalvergoeding")
_PAID_STATUSES = (SubscriptionStatus.INVOICED, SubscriptionStatus.REMINDER, SubscriptionStatus.NOT_PAID)


@dataclass(frozen=True, slots=True)
class OwedLine:
    """One thing the patron owes, as the pay screen lists it."""

    line: PayLine
    created: date | None = None
    label: Text | None = None  # patron-facing description


@dataclass(slots=True)
class PayView:
    """What the PAY / PAYING screens show."""

    reason: Text | None = None  # the refusal
    lines: list[tuple[Text, str, bool, bool]] = field(default_factory=list)  # label, amount, selected, needed
    total: str = ""  # "" when amounts are hidden
    total_cents: int = 0
    lifts: bool = False  # paying the selection lifts the block
    lifts_text: Text | None = None
    needed_total: str = ""
    can_choose_needed: bool = False
    banner: Text | None = None  # the last attempt's outcome
    banner_bad: bool = False
    stage: str = "choose"  # choose | terminal
    pay_label: Text | None = None


@dataclass(slots=True)
class PaySelection:
    owed: list[OwedLine]
    selected: list[bool]
    decision: Decision
    back: State
    show_amounts: bool

    def lines(self) -> list[PayLine]:
        """The one amount source: what the screen sums, the terminal charges and the 37s book."""
        return [o.line for o, chosen in zip(self.owed, self.selected, strict=True) if chosen]

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines())


def owed_from_snapshot(snapshot: PatronSnapshot, fee_amount: Decimal | None) -> list[OwedLine]:
    """Without registrations: the snapshot's unpaid charges, the membership fee (BV less the charges)."""
    out: list[OwedLine] = []
    charges = [c for c in snapshot.charges if not c.paid and c.amount > 0]
    for c in sorted(charges, key=lambda c: c.created):
        out.append(OwedLine(PayLine(cents(c.amount), LineKind.CHARGE, None, f"charge {c.created.isoformat()}"),
                            c.created, K("kiosk.pay.line.charge", date=fmt_date(c.created))))
    total = cents(fee_amount) if fee_amount is not None and fee_amount > 0 else 0
    rest = total - sum(o.line.amount_cents for o in out)
    sub = snapshot.subscription
    fee_open = sub is not None and (not sub.fee_paid or sub.status in _PAID_STATUSES)
    if rest > 0 and fee_open:
        out.insert(0, OwedLine(PayLine(rest, LineKind.MEMBERSHIP_FEE, None, "membership fee"), None,
                               K("kiosk.pay.line.fee")))
    elif rest > 0 and not out:
        out.append(OwedLine(PayLine(rest, LineKind.TOTAL, None, "total owed"), None, K("kiosk.pay.line.total")))
    elif rest > 0:
        out.append(OwedLine(PayLine(rest, LineKind.CHARGE, None, "other charges"), None, K("kiosk.pay.line.other")))
    return out


def owed_from_registrations(registrations: Any) -> list[OwedLine]:
    """Wise registrations (41/42): one line per open registration, paid by its adm_id."""
    out: list[OwedLine] = []
    for reg in registrations:
        amount = getattr(reg, "amount", None)
        adm_id = getattr(reg, "adm_id", "") or None
        if amount is None or amount <= 0 or adm_id is None or getattr(reg, "status", "") == "R":
            continue  # nothing to pay, no id to pay it by, or a payment arrangement
        text = (getattr(reg, "description", "") or getattr(reg, "title", "") or "").strip()
        words = f"{getattr(reg, 'description', '')} {getattr(reg, 'title', '')}".lower()
        if getattr(reg, "kind", None) == 1:
            kind = LineKind.MEMBERSHIP_FEE
        elif any(w in words for w in INVOICE_WORDS):  # a replacement invoice (R4), as the adapter reads it
            kind = LineKind.INVOICE
        else:
            kind = LineKind.CHARGE
        created = getattr(reg, "created", None)
        out.append(OwedLine(PayLine(cents(amount), kind, adm_id, text[:60]), created,
                            registration_label(kind, getattr(reg, "kind", None), text[:60], created)))
    return out


#: The kiosk's own words for a Wise registration type (YZ field 9, docs: wise-sip2.md);
#: 1, the membership fee, is :data:`LineKind.MEMBERSHIP_FEE`'s.
REGISTRATION_TYPE_KEYS = {
    2: "kiosk.pay.line.type.fine",
    3: "kiosk.pay.line.type.sale",
    4: "kiosk.pay.line.type.cash",
    6: "kiosk.pay.line.type.theatre",
}


def registration_label(kind: LineKind, registration_type: int | None, text: str, created: date | None) -> Text:
    """A registration's line in the patron's language (issue 13: one language on every screen).

    The kiosk's words when it knows the type (membership fee, replacement
    invoice, fine, sale, cash receipt, theatre), with the date; otherwise the
    library's own description (Dutch, from Wise), marked as the library's.
    """
    if kind is LineKind.MEMBERSHIP_FEE:
        return K("kiosk.pay.line.fee")
    key = "kiosk.pay.line.type.invoice" if kind is LineKind.INVOICE else REGISTRATION_TYPE_KEYS.get(registration_type or 0)
    if key is not None:
        return K("kiosk.pay.line.dated", what=K(key), date=fmt_date(created)) if created else K(key)
    if text:
        return library_says(text)
    return K("kiosk.pay.line.charge", date=fmt_date(created))


def after_payment(snapshot: PatronSnapshot, paid: list[OwedLine], owed: list[OwedLine]) -> PatronSnapshot:
    """The patron snapshot as it would be once *paid* is booked (for "which choice lifts the block")."""
    everything = len(paid) == len(owed)
    charges = list(snapshot.charges)
    update: dict[str, Any] = {}
    for o in paid:
        line = o.line
        if line.kind is LineKind.MEMBERSHIP_FEE and snapshot.subscription is not None:
            sub = snapshot.subscription
            status = SubscriptionStatus.NORMAL if sub.status in _PAID_STATUSES else sub.status
            update["subscription"] = sub.model_copy(update={"fee_paid": True, "status": status})
        elif line.kind in (LineKind.CHARGE, LineKind.INVOICE):
            for i, c in enumerate(charges):
                if not c.paid and cents(c.amount) == line.amount_cents and (o.created is None or c.created == o.created):
                    del charges[i]
                    break
    invoices = [o for o in owed if o.line.kind is LineKind.INVOICE]
    if invoices and all(any(o is p for p in paid) for o in invoices):
        update["replacement_invoice"] = False
    if everything:
        charges = []
        update["replacement_invoice"] = False
        if snapshot.subscription is not None and "subscription" not in update and any(
                o.line.kind is LineKind.TOTAL for o in paid):
            sub = snapshot.subscription
            status = SubscriptionStatus.NORMAL if sub.status in _PAID_STATUSES else sub.status
            update["subscription"] = sub.model_copy(update={"fee_paid": True, "status": status})
        if snapshot.flags is not None:
            update["flags"] = snapshot.flags.model_copy(update={
                "excessive_outstanding_fines": False, "excessive_outstanding_fees": False, "charge_privileges_denied": False,
                "renewal_privileges_denied": False})
    update["charges"] = tuple(charges)
    return snapshot.model_copy(update=update)


#: The pay screen's own reason text per rule (the policy's texts say "at the desk").
_REASON_KEYS = {"R2": "kiosk.pay.reason.fee", "R5": "kiosk.pay.reason.fee", "R1": "kiosk.pay.reason.charges",
                "R3": "kiosk.pay.reason.old", "R4": "kiosk.pay.reason.invoice"}


def pay_reason(decision: Decision) -> Text:
    for rule in decision.rule_ids():
        if rule in _REASON_KEYS:
            return K(_REASON_KEYS[rule])
    return policy_text(decision.message)


def payable(decision: Decision) -> bool:
    return not decision.allowed and bool(set(decision.rule_ids()) & PAYABLE_RULES)


class PayFlow:
    """The pay screens (see the module docstring).  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    # -- the offer ---------------------------------------------------------------------------

    def _can_pay_here(self) -> bool:
        return (getattr(self, "payments", None) is not None and self._library_up and self.session is not None
                and self.session.card is not None and not self.session.offline
                and self.session.snapshot is not None)

    async def _offer_payment(self, decision: Decision, back: State) -> bool:
        """Open the PAY screen for a refusal that payment lifts; False when it does not apply."""
        if not payable(decision) or not self._can_pay_here():
            return False
        sess = self.session
        owed = await self._owed_lines()
        if not owed:
            return False
        sel = PaySelection(owed, [True] * len(owed), decision, back if back is not S.PAY else S.MENU,
                           show_amounts=sess.pin is not None or self.settings.rules.show_amounts)
        sess.pay = sel
        sess.pay_banner = None
        self._signal(False)
        self._goto(S.PAY)
        self._pay_view()
        return True

    async def _owed_lines(self) -> list[OwedLine]:
        sess = self.session
        registrations = getattr(self.library, "registrations", None)
        if registrations is not None:
            try:
                regs = await registrations(sess.card, sess.pin)
            except LibrarySystemUnavailable:
                self._library_down()
                return []
            except LibrarySystemError as exc:  # registrations off at this site: fall back to BV
                log.info("registrations not available (%s); paying by amount", type(exc).__name__)
            else:
                lines = owed_from_registrations(regs)
                if lines:
                    return lines
        try:
            account = await self.library.account(sess.card, sess.pin)
        except LibrarySystemUnavailable:
            self._library_down()
            return []
        except LibrarySystemError:
            return []
        return owed_from_snapshot(sess.snapshot, getattr(account, "fee_amount", None))

    def _lifts(self, sel: PaySelection, chosen: list[bool]) -> bool:
        sess = self.session
        paid = [o for o, c in zip(sel.owed, chosen, strict=True) if c]
        if not paid:
            return False
        after = after_payment(sess.snapshot, paid, sel.owed)
        decision = decide(Action.CHECKOUT, after, self.settings.rules, self._now())
        return not (set(decision.rule_ids()) & PAYABLE_RULES)

    def _needed(self, sel: PaySelection) -> list[bool] | None:
        """The shortest choice that lifts the block: the fee first, then the oldest charges."""
        order = sorted(range(len(sel.owed)), key=lambda i: (sel.owed[i].line.kind is not LineKind.MEMBERSHIP_FEE,
                                                             sel.owed[i].created or date.max, i))
        chosen = [False] * len(sel.owed)
        for i in order:
            chosen[i] = True
            if self._lifts(sel, chosen):
                return chosen
        return None

    def _amount(self, amount_cents: int, sel: PaySelection) -> str:
        return format_amount(amount_cents, self.view.language) if sel.show_amounts else ""

    def _pay_view(self) -> None:
        sess = self.session
        sel: PaySelection | None = sess.pay if sess is not None else None
        if sel is None:
            self.view.pay = None
            return
        needed = self._needed(sel)
        total = sel.total_cents
        lifts = self._lifts(sel, sel.selected)
        pv = PayView(
            reason=pay_reason(sel.decision),
            lines=[(o.label or literal(o.line.description), self._amount(o.line.amount_cents, sel), chosen,
                    bool(needed and needed[i])) for i, (o, chosen) in enumerate(zip(sel.owed, sel.selected, strict=True))],
            total=self._amount(total, sel),
            total_cents=total,
            lifts=lifts,
            lifts_text=K("kiosk.pay.lifts") if lifts else K("kiosk.pay.not_lifts"),
            needed_total=self._amount(sum(o.line.amount_cents for o, n in zip(sel.owed, needed or [], strict=False) if n), sel),
            can_choose_needed=needed is not None and needed != sel.selected and sum(needed) < len(sel.owed),
            banner=sess.pay_banner,
            banner_bad=sess.pay_banner is not None,
            stage="terminal" if self.state is S.PAYING else "choose",
            pay_label=(K("kiosk.pay.button", amount=self._amount(total, sel)) if sel.show_amounts
                       else K("kiosk.pay.button_no_amount")),
        )
        self.view.pay = pv

    # -- touches on PAY ------------------------------------------------------------------------

    async def _ui_pay_toggle(self, arg: str | None) -> None:
        sel = self.session.pay if self.session else None
        if sel is None or arg is None or not arg.isdigit() or int(arg) >= len(sel.owed):
            return
        sel.selected[int(arg)] = not sel.selected[int(arg)]
        self.session.pay_banner = None
        self._pay_view()

    async def _ui_pay_all(self, _: str | None) -> None:
        sel = self.session.pay if self.session else None
        if sel is not None:
            sel.selected = [True] * len(sel.owed)
            self._pay_view()

    async def _ui_pay_needed(self, _: str | None) -> None:
        sel = self.session.pay if self.session else None
        if sel is not None:
            needed = self._needed(sel)
            if needed is not None:
                sel.selected = needed
            self._pay_view()

    async def _ui_pay_back(self, _: str | None) -> None:
        sess = self.session
        back = sess.pay.back if sess is not None and sess.pay is not None else S.MENU
        if sess is not None:
            sess.pay = None
        self.view.pay = None
        self._goto(back if back in (S.MENU, S.BORROW, S.RENEW, S.ACCOUNT) else S.MENU)

    async def _ui_pay_start(self, _: str | None) -> None:
        sess = self.session
        sel = sess.pay if sess is not None else None
        if sel is None or not sel.lines() or not self._can_pay_here():
            return
        lines = sel.lines()
        self._goto(S.PAYING)
        self._pay_view()
        report = await self.payments.pay(sess.card, lines, on_sent=lambda _record: self._publish())
        await self._payment_done(report)

    def cancel_payment(self) -> None:
        """The patron pressed Cancel on the kiosk while the terminal waits (immediate, not queued:
        the payment step holds the flows' lock while the terminal works)."""
        if self.state is S.PAYING and getattr(self, "payments", None) is not None:
            self._spawn(self.payments.abort())

    # -- after the terminal --------------------------------------------------------------------

    async def _payment_done(self, report: PayReport) -> None:
        sess = self.session
        record = report.record
        sess.payments.append(report)
        if not report.charged:
            outcome = report.result.outcome.value if record.state is PaymentState.NOT_CHARGED else "unknown"
            sess.pay_banner = K(f"kiosk.pay.result.{outcome}")
            self._signal(False)
            self._goto(S.PAY)
            self._pay_view()
            return
        self._spawn(self._print_payment_receipt(report))
        if not report.booked:
            sess.pay = None
            self.view.pay = None
            self._signal(True)
            await self._message(K("kiosk.pay.taken.title"), K("kiosk.pay.taken.not_booked",
                                amount=format_amount(record.amount_cents, self.view.language)),
                                back=S.MENU, extra=K("kiosk.pay.reference", ref=record.terminal_ref or record.ref))
            return
        # booked: ask the library system again, as at identification
        sess.pay = None
        self.view.pay = None
        try:
            snapshot = await self.library.identify(sess.card, sess.pin)
        except LibrarySystemError:
            await self._message(K("kiosk.pay.taken.title"), K("kiosk.pay.booked",
                                amount=format_amount(record.amount_cents, self.view.language)), back=S.MENU)
            return
        sess.snapshot = snapshot
        self._decisions_after_payment(snapshot)
        amount = format_amount(record.amount_cents, self.view.language)
        if self._borrow_allowed() is None:
            if self.state is not S.BORROW:
                await self._start_borrow()
            # shown on the borrow screen above its instructions (PayView stage "done")
            self.view.pay = PayView(stage="done", banner=K("kiosk.pay.done_borrow", amount=amount))
        else:
            await self._message(K("kiosk.pay.taken.title"), K("kiosk.pay.booked_still_blocked", amount=amount),
                                back=S.MENU, extra=policy_text(self._borrow_allowed().message))

    def _decisions_after_payment(self, snapshot: PatronSnapshot) -> None:
        """As at identification, without asking for the account again (paying changes no loan or hold)."""
        from . import guards

        sess = self.session
        ctx = self._ctx(snapshot, sess.card)
        decision = guards.may_borrow(ctx)
        sess.borrow_decision = decision
        self.view.borrow_refusal = None if decision.allowed else policy_text(decision.message)
        self.view.renew_refused = not guards.may_renew(ctx).allowed
        self.view.blocks = [policy_text(d.message) for d in guards.blocks(ctx)]
        self._signal(decision.allowed)
        self._goto(S.MENU)

    async def _print_payment_receipt(self, report: PayReport) -> None:
        """The payment's own receipt, printed at once (also when the patron later declines a loan receipt)."""
        if not self._role_ok("printer"):
            return
        from .receipt import payment_lines

        lines = payment_lines([report], self.view.language, now=self._now(), branch=self.settings.branch)
        try:
            await self.hub.print_receipt(lines)
        except Exception:  # noqa: BLE001 - a printer fault never undoes a payment
            log.exception("payment receipt failed")
