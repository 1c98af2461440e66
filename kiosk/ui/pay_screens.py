"""The pay screens: PAY (what is owed, what to pay, "Pay € X now") and
PAYING (the terminal has the payment; Cancel aborts it at once).  Filled from
``View.pay`` (:class:`kiosk.flows.pay.PayView`); layouts in ``pay.kv``."""

from __future__ import annotations

from kivy.properties import BooleanProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout

from kiosk.flows.model import K, State, View

from .screens import KScreen, Tr
from .widgets import KLabel, sync_children


class PayRow(ButtonBehavior, BoxLayout):
    """One owed line: tap to choose it or not."""

    label = StringProperty("")
    amount = StringProperty("")
    needed = StringProperty("")
    selected = BooleanProperty(True)
    index = StringProperty("0")
    kroot = ObjectProperty(None, allownone=True)


class PayScreen(KScreen):
    state = State.PAY
    choose_action = StringProperty("pay_all")

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        pv = view.pay
        ids.title.text = tr(K("kiosk.pay.title"))
        if pv is None:
            return
        ids.reason.text = tr(pv.reason) if pv.reason else ""
        ids.offer.text = tr(K("kiosk.pay.offer"))
        ids.banner.text = tr(pv.banner) if pv.banner else ""
        ids.owed_title.text = tr(K("kiosk.pay.owed"))
        sync_children(ids.lines, [(PayRow, {
            "label": tr(label), "amount": amount, "selected": chosen, "index": str(i), "kroot": self.kroot,
            "needed": tr(K("kiosk.pay.needed")) if needed else "",
        }) for i, (label, amount, chosen, needed) in enumerate(pv.lines)])
        ids.lifts.text = tr(pv.lifts_text) if pv.lifts_text else ""
        ids.lifts.tone = "success" if pv.lifts else "muted"
        ids.total.text = tr(K("kiosk.pay.total", amount=pv.total)) if pv.total else tr(K("kiosk.pay.amount_on_terminal"))
        ids.pay.text = tr(pv.pay_label) if pv.pay_label else ""
        ids.pay.disabled = pv.total_cents <= 0
        if pv.can_choose_needed:
            self.choose_action = "pay_needed"
            ids.choose.text = tr(K("kiosk.pay.choose_needed")) + (f" ({pv.needed_total})" if pv.needed_total else "")
        else:
            self.choose_action = "pay_all"
            ids.choose.text = tr(K("kiosk.pay.choose_all"))
        ids.back.text = tr(K("kiosk.pay.back"))


class PayingScreen(KScreen):
    state = State.PAYING

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        pv = view.pay
        ids.title.text = tr(K("kiosk.paying.title"))
        ids.amount.text = tr(K("kiosk.paying.amount", amount=pv.total)) if pv is not None and pv.total else ""
        ids.body.text = tr(K("kiosk.paying.body"))
        ids.cancel.text = tr(K("kiosk.paying.cancel"))

    def cancel(self) -> None:
        kroot = self.kroot
        if kroot is not None and kroot.flows is not None:
            kroot.cues.play("tap")
            kroot.flows.cancel_payment()


PAY_SCREENS: dict[State, type[KScreen]] = {State.PAY: PayScreen, State.PAYING: PayingScreen}

__all__ = ["PAY_SCREENS", "PayRow", "PayScreen", "PayingScreen", "KLabel"]
