"""The screens: one per flow state.  Each fills its kv layout from the View.

``update(view, tr)`` is the only entry point: *tr* renders a
:class:`~kiosk.flows.model.Text` in the language shown now.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.clock import Clock
from kivy.graphics import Color, InstructionGroup, SmoothEllipse
from kivy.metrics import dp
from kivy.properties import BooleanProperty, ObjectProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import Screen

from kiosk.flows.model import ItemLine, K, LineStatus, State, Text, View, fmt_date, status_text, summary_texts

from . import theme
from .display import DISPLAY
from .widgets import ItemRow, KButton, KLabel, LoanRow, sync_children

Tr = Callable[[Text], str]


class KScreen(Screen):
    """A screen.  Its layout (the kv rule's one child) sits in a vertical
    ScrollView that fills the screen, above the layout's bottom bar (kept
    out of it, always in view).  As long as the layout fits (the kiosk's own
    text size) it is laid out exactly as before and the view does not scroll
    (touches reach the buttons at once); when it does not (200 % text), it
    keeps its natural height and scrolls."""

    kroot = ObjectProperty(None, allownone=True)
    state: State = State.IDLE

    def on_kv_post(self, base_widget) -> None:
        from kivy.uix.boxlayout import BoxLayout

        from .display import FitScroll

        content = self.children[0]
        self.remove_widget(content)
        frame = BoxLayout(orientation="vertical")
        self.page = page = FitScroll()
        frame.add_widget(page)
        last = content.children[0] if content.children else None
        if last is not None and type(last).__name__ == "BottomBar":
            content.remove_widget(last)
            left, top, right, bottom = content.padding
            content.padding = (left, top, right, content.spacing)
            footer = BoxLayout(size_hint_y=None, padding=(left, 0, right, bottom))
            footer.bind(minimum_height=footer.setter("height"))
            footer.add_widget(last)
            frame.add_widget(footer)
            _even_heights(last)
        page.add_widget(content)
        self.add_widget(frame)


def _even_heights(bar) -> None:
    """The buttons of a bar (or the PIN keypad) all as tall as the tallest
    needs (a longer text at 200 % wraps onto more lines)."""

    def even(*_args) -> None:
        buttons = [c for c in bar.children if isinstance(c, KButton)]
        tallest = max((max(b.min_height, b.texture_size[1] + dp(16)) for b in buttons), default=0)
        for b in buttons:
            b.fill_height = tallest

    for child in bar.children:
        if isinstance(child, KButton):
            child.bind(texture_size=even, min_height=even)
    even()


class IdleScreen(KScreen):
    state = State.IDLE

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(K("kiosk.idle.title"))
        ids.card.text = tr(K("kiosk.idle.card"))
        ids.return_hint.text = tr(K("kiosk.idle.return_hint"))
        ids.return_button.text = tr(K("kiosk.button.return"))
        ids.return_button.disabled = not view.can_return
        ids.hint.text = tr(view.hint) if view.hint else ""


class PinScreen(KScreen):
    state = State.PIN

    def on_kv_post(self, base_widget) -> None:
        super().on_kv_post(base_widget)
        pad = self.ids.keypad
        for key in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):
            pad.add_widget(self._key(key, "pin_digit", key))
        self._clear = self._key("", "pin_clear", "", role="secondary", font=22)
        pad.add_widget(self._clear)
        pad.add_widget(self._key("0", "pin_digit", "0"))
        self._back = self._key("", "pin_back", "", role="secondary", font=22)
        pad.add_widget(self._back)
        _even_heights(pad)  # a key whose word wraps (200 % text) makes its row taller: all keys alike
        self._dots = InstructionGroup()
        self.ids.dots.canvas.after.add(self._dots)
        self.ids.dots.bind(pos=lambda *_: self._draw_dots(), size=lambda *_: self._draw_dots(),
                           count=lambda *_: self._draw_dots())
        DISPLAY.fbind("palette", lambda *_: self._draw_dots())  # the screen lives as long as the kiosk

    def _key(self, text: str, action: str, arg: str, role: str = "primary", font: int = 36) -> KButton:
        button = KButton(text=text, role=role, size_hint=(None, None), font_base=font,
                         width=self._key_width(), min_height=dp(theme.KEY_SIZE))
        button.bind(on_release=lambda *_: self.kroot.press(action, arg or None))
        # wider keys for larger text (the screen lives as long as the kiosk: no leak)
        DISPLAY.fbind("text_scale", lambda *_: setattr(button, "width", self._key_width()))
        return button

    @staticmethod
    def _key_width() -> float:
        return (dp(theme.KEY_SIZE) + dp(20)) * (1 + (DISPLAY.text_scale - 1) * 0.75)

    def _draw_dots(self) -> None:
        widget = self.ids.dots
        self._dots.clear()
        self._dots.add(Color(*DISPLAY.palette["primary"]))
        size = dp(22)
        gap = dp(16)
        n = int(widget.count)
        total = n * size + max(n - 1, 0) * gap
        x = widget.center_x - total / 2
        for i in range(n):
            self._dots.add(SmoothEllipse(pos=(x + i * (size + gap), widget.center_y - size / 2), size=(size, size)))

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(K("kiosk.pin.title"))
        ids.help.text = tr(K("kiosk.pin.help"))
        if ids.dots.count != view.pin_length and ids.texts.do_scroll_y:
            Clock.schedule_once(lambda _dt: ids.texts.scroll_to(ids.dots, animate=False), 0)  # 200 %: show the dots
        ids.dots.count = view.pin_length
        ids.error.text = tr(view.pin_error) if view.pin_error else ""
        ids.cancel.text = tr(K("kiosk.button.cancel"))
        self._clear.text = tr(K("kiosk.pin.clear"))
        self._back.text = tr(K("kiosk.pin.backspace"))
        ids.ok.text = tr(K("kiosk.button.ok"))


class MenuScreen(KScreen):
    state = State.MENU
    refusal = BooleanProperty(False)

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(K("kiosk.menu.title"))
        info = [tr(K("kiosk.menu.loans", count=len(view.loans)))]
        ready = sum(1 for h in view.holds if h.ready)
        if ready:
            info.append(tr(K("kiosk.menu.holds_ready", count=ready)))
        ids.info.text = "  ".join(info)
        # the library's own messages for the patron (Wise AF), marked as the library's
        ids.notifications.text = "\n".join(tr(n) for n in view.notifications)
        ids.refusal_text.text = tr(view.borrow_refusal) if view.borrow_refusal else ""
        self.refusal = view.borrow_refusal is not None
        ids.borrow.text = tr(K("kiosk.button.borrow"))
        ids.borrow.role = "secondary" if view.borrow_refusal else "primary"
        ids.borrow.disabled = not view.can_borrow
        ids.return_button.text = tr(K("kiosk.button.return"))
        ids.return_button.disabled = not view.can_return
        ids.renew.text = tr(K("kiosk.button.renew"))
        ids.renew.role = "secondary" if view.renew_refused else "primary"
        ids.renew.disabled = not view.can_renew
        ids.account.text = tr(K("kiosk.button.account"))
        ids.account.disabled = not view.can_renew
        ids.hint.text = tr(K("kiosk.menu.borrow_hint")) if not view.borrow_refusal else ""
        ids.finish.text = tr(K("kiosk.button.finish"))

    def forget(self) -> None:
        """At rest: drop what was the last patron's (their loan count, the
        library's message for them, why they could not borrow); the next
        patron's :meth:`update` sets it again.  Their pixels go with them."""
        ids = self.ids
        for name in ("info", "notifications", "refusal_text", "hint"):
            ids[name].text = ""


def item_row_props(line: ItemLine, tr: Tr, lang: str, kroot) -> dict:
    return {
        "title": line.title or line.item_id,
        "status": tr(status_text(line.status, line.kind.value)) if line.status else "",
        "tone": line.status.value,
        "detail": "\n".join(tr(t) for t in (line.text, *line.notes) if t is not None),
        "extra": tr(line.extra) if line.extra else "",
        "due": tr(K("kiosk.due", date=fmt_date(line.due, lang))) if line.due and line.kind.value != "return" else "",
        "overdue": False,
        "offer": tr(K("kiosk.item.renew_button")) if line.status is LineStatus.OFFER_RENEW else "",
        "item_id": line.item_id,
        "kroot": kroot,
    }


class ItemsScreen(KScreen):
    """Borrow and return share one layout.  Oldest line first; the list
    scrolls to the newest."""

    def update(self, view: View, tr: Tr) -> None:
        kind = "borrow" if self.state is State.BORROW else "return"
        ids = self.ids
        ids.title.text = tr(K(f"kiosk.{kind}.title"))
        ids.instructions.text = tr(K(f"kiosk.{kind}.instructions"))
        paid = getattr(view.pay, "banner", None) if getattr(view.pay, "stage", "") == "done" else None
        if paid is not None and kind == "borrow":  # just paid at the kiosk: say the block is gone
            ids.instructions.text = tr(paid) + "\n" + ids.instructions.text
        lines = [ln for ln in view.lines if ln.kind.value == kind or (kind == "borrow" and ln.kind.value == "renew")]
        before = len(ids.rows.children)
        if not lines:
            sync_children(ids.rows, [(KLabel, {"text": tr(K("kiosk.items.empty")), "tone": "muted"})])
        else:
            sync_children(ids.rows, [(ItemRow, item_row_props(ln, tr, view.language, self.kroot)) for ln in lines])
        if len(ids.rows.children) != before:
            Clock.schedule_once(self._scroll_to_newest, 0)
        ids.menu.text = tr(K("kiosk.button.menu"))
        ids.menu.opacity = 1 if view.identified else 0
        ids.menu.disabled = not view.identified
        ids.finish.text = tr(K("kiosk.button.finish"))


    def _scroll_to_newest(self, _dt: float) -> None:
        scroll, rows = self.ids.scroll, self.ids.rows
        # content taller than the view: show its end (the newest); else keep it at the top
        scroll.scroll_y = 0 if rows.height > scroll.height else 1
        if self.page.do_scroll_y:  # 200 % text: the page scrolls; bring the list into view
            self.page.scroll_to(scroll, padding=0, animate=False)


class BorrowScreen(ItemsScreen):
    state = State.BORROW


class ReturnScreen(ItemsScreen):
    state = State.RETURN


class RenewScreen(KScreen):
    state = State.RENEW

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(K("kiosk.renew.title"))
        ids.instructions.text = tr(K("kiosk.renew.instructions"))
        ids.hint.text = tr(view.hint) if view.hint else ""
        if not view.loans:
            sync_children(ids.rows, [(KLabel, {"text": tr(K("kiosk.renew.none")), "tone": "muted"})])
        else:
            sync_children(ids.rows, [(LoanRow, {
                "title": loan.title or loan.item_id,
                "due": tr(K("kiosk.overdue" if loan.overdue else "kiosk.due",
                            date=fmt_date(loan.due, view.language))) if loan.due else "",
                "overdue": loan.overdue,
                "selected": loan.selected,
                "status": tr(status_text(loan.status, "renew")) if loan.status else "",
                "tone": loan.status.value if loan.status else "working",
                "detail": tr(loan.text) if loan.text and loan.status is not LineStatus.OK else "",
                "item_id": loan.item_id,
                "kroot": self.kroot,
            }) for loan in view.loans])
        ids.renew_selected.text = tr(K("kiosk.renew.selected"))
        ids.renew_all.text = tr(K("kiosk.renew.all"))
        ids.renew_selected.disabled = ids.renew_all.disabled = not view.loans
        ids.menu.text = tr(K("kiosk.button.menu"))
        ids.finish.text = tr(K("kiosk.button.finish"))


class AccountScreen(KScreen):
    state = State.ACCOUNT

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        lang = view.language
        ids.title.text = tr(K("kiosk.account.title"))
        ids.loans_title.text = tr(K("kiosk.account.loans")) + f" ({len(view.loans)})"
        if not view.loans:
            sync_children(ids.loans, [(KLabel, {"text": tr(K("kiosk.renew.none")), "tone": "muted"})])
        else:
            sync_children(ids.loans, [(ItemRow, {
                "title": loan.title or loan.item_id,
                "status": "",
                "tone": "working",
                "due": tr(K("kiosk.overdue" if loan.overdue else "kiosk.due", date=fmt_date(loan.due, lang)))
                if loan.due else "",
                "overdue": loan.overdue,
            }) for loan in view.loans])
        ids.holds_title.text = tr(K("kiosk.account.holds"))
        if not view.holds:
            sync_children(ids.holds, [(KLabel, {"text": tr(K("kiosk.account.no_holds")), "tone": "muted"})])
        else:
            sync_children(ids.holds, [(ItemRow, {
                "title": hold.title or hold.item_id,
                "status": tr(K("kiosk.account.hold_ready" if hold.ready else "kiosk.account.hold_waiting")),
                "tone": "ok" if hold.ready else "working",
                "detail": tr(K("kiosk.account.pickup", branch=hold.pickup)) if hold.pickup else "",
            }) for hold in view.holds])
        # "What you can't do right now" only above something you can't do
        ids.blocks_title.text = tr(K("kiosk.account.blocks")) if view.blocks else ""
        ids.blocks_title.opacity = 1 if view.blocks else 0
        if view.blocks:
            sync_children(ids.blocks, [(KLabel, {"text": tr(b), "tone": "refusal_text", "bold": True})
                                       for b in view.blocks])
        else:
            sync_children(ids.blocks, [(KLabel, {"text": tr(K("kiosk.account.no_blocks")), "tone": "success",
                                                 "bold": False})])
        ids.renew.text = tr(K("kiosk.button.renew"))
        ids.renew.disabled = not view.loans or not view.can_renew
        ids.menu.text = tr(K("kiosk.button.menu"))
        ids.finish.text = tr(K("kiosk.button.finish"))


class ReceiptScreen(KScreen):
    state = State.RECEIPT

    def update(self, view: View, tr: Tr) -> None:
        self.ids.question.text = tr(K("kiosk.receipt.question"))
        self.ids.yes.text = tr(K("kiosk.button.yes_receipt"))
        self.ids.no.text = tr(K("kiosk.button.no_receipt"))


class SummaryScreen(KScreen):
    state = State.SUMMARY

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(K("kiosk.summary.title"))
        lines = [tr(t) for t in summary_texts(view.summary)]
        sync_children(ids.counts, [(KLabel, {"text": text, "font_base": 30}) for text in lines])
        ids.ok.text = tr(K("kiosk.button.ok"))


class MessageScreen(KScreen):
    state = State.MESSAGE
    refusal = BooleanProperty(False)

    def update(self, view: View, tr: Tr) -> None:
        ids = self.ids
        ids.title.text = tr(view.title) if view.title else ""
        ids.body.text = tr(view.message) if view.message else ""
        ids.extra.text = tr(view.message_extra) if view.message_extra else ""
        self.refusal = bool(view.message and (view.message.domain == "policy" or
                                              (view.title is not None and view.title.key == "kiosk.refused.title")))
        ids.ok.text = tr(K("kiosk.button.ok"))


class OutOfOrderScreen(KScreen):
    state = State.OUT_OF_ORDER

    def update(self, view: View, tr: Tr) -> None:
        self.ids.title.text = tr(K("kiosk.out_of_order.title"))
        self.ids.body.text = tr(K("kiosk.out_of_order.body"))


SCREENS: dict[State, type[KScreen]] = {
    State.IDLE: IdleScreen,
    State.PIN: PinScreen,
    State.MENU: MenuScreen,
    State.BORROW: BorrowScreen,
    State.RETURN: ReturnScreen,
    State.RENEW: RenewScreen,
    State.ACCOUNT: AccountScreen,
    State.RECEIPT: ReceiptScreen,
    State.SUMMARY: SummaryScreen,
    State.MESSAGE: MessageScreen,
    State.OUT_OF_ORDER: OutOfOrderScreen,
}


def _add_pay_screens() -> None:
    from .pay_screens import PAY_SCREENS  # the pay screens live in their own module (pay.kv)

    SCREENS.update(PAY_SCREENS)


_add_pay_screens()


class BusyOverlay(FloatLayout):
    kroot = ObjectProperty(None, allownone=True)

    def on_touch_down(self, touch):
        # While the library system answers, touches below wait (the top bar stays usable).
        return self.collide_point(*touch.pos)

    def update(self, view: View, tr: Tr) -> None:
        self.ids.text.text = tr(view.busy) if view.busy else ""


class WarningOverlay(FloatLayout):
    kroot = ObjectProperty(None, allownone=True)

    def on_touch_down(self, touch):
        if not self.collide_point(*touch.pos):
            return False  # the top bar (language switch) stays usable
        super().on_touch_down(touch)
        return True  # modal: nothing behind it takes touches

    def update(self, view: View, tr: Tr) -> None:
        self.ids.title.text = tr(K("kiosk.warning.title"))
        self.ids.body.text = tr(K("kiosk.warning.body", seconds=view.warning_seconds or 0))
        self.ids.more.text = tr(K("kiosk.button.more_time"))
