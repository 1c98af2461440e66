"""The demo's simulator panel: tap the demo cards, place or scan the demo
items, unplug the RFID pad, plug in headphones, take the library system
down.  F2 or F12 shows
and hides it.  It acts on the sim:// devices through devices.sim, exactly as
real hardware would send events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from devices import sim
from devices.base import Tag

from .widgets import KButton, KLabel

log = logging.getLogger("kiosk.ui.sim")

PANEL_WIDTH_DP = 400


@dataclass(frozen=True)
class DemoCard:
    number: str
    label: str


@dataclass(frozen=True)
class DemoItem:
    item_id: str
    title: str
    rfid: bool
    parts: int = 1


def demo_cards(data: Any) -> list[DemoCard]:
    """Every card and temporary number of the demo data, labelled by patron."""
    out = []
    for patron in data.patrons:
        name = patron.name.removeprefix("Demo Klant ").strip() or patron.name
        for card in patron.cards:
            state = "" if card.status.value == "active" else f" [{card.status.value}]"
            out.append(DemoCard(card.number, f"{name}{state}"))
        if patron.temporary_number:
            out.append(DemoCard(patron.temporary_number, f"{name} (temp. nr)"))
    out.append(DemoCard("00000000000000", "unknown card"))
    return out


def demo_items(data: Any) -> list[DemoItem]:
    return [DemoItem(i.item_id, i.title, bool(i.rfid), i.parts) for i in data.items]


def part_tags(item: DemoItem, parts: Iterable[int]) -> list[Tag]:
    return [sim.tag_for(item.item_id, part_number=n, set_parts=item.parts) for n in parts]


class SimPanel(BoxLayout):
    """The panel; ``toggle()`` shows or hides it on *host* (the KioskRoot)."""

    def __init__(self, host: Any, *, cards: list[DemoCard], items: list[DemoItem],
                 library_switch: Callable[[bool], Any] | None = None, pin: str = "1234",
                 payment_terminal: str | None = None, headphones: str | None = None, **kwargs: Any) -> None:
        """*payment_terminal*, *headphones*: the names of the sim://payment
        terminal the panel answers and of the sim://tts whose headphone jack
        it plugs (HeadphonesChanged: speech on / off); None: no such buttons."""
        super().__init__(orientation="vertical", size_hint=(None, 1), width=dp(PANEL_WIDTH_DP),
                         padding=dp(12), spacing=dp(8), **kwargs)
        from kivy.graphics import Color, Rectangle

        with self.canvas.before:
            Color(0.11, 0.13, 0.16, 0.97)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.host = host
        self._library_switch = library_switch
        self._library_up = True
        self._rfid_up = True
        self._headphones = headphones
        self._headphones_in = False
        self.add_widget(KLabel(text="Simulator  (F2 / F12)", tone="topbar_text", bold=True, font_size=sp(22)))
        self.add_widget(KLabel(text=f"PIN of every demo card: {pin}", tone="topbar_text", font_size=sp(17)))
        # A slow drag scrolls too (Kivy's default hands a touch that has not moved
        # 20 px within 55 ms to the button under it); the bar can be dragged and the
        # wheel scrolls; room below the last button so it is never cut off.
        scroll = ScrollView(do_scroll_x=False, bar_width=dp(14), scroll_type=["bars", "content"],
                            scroll_timeout=250, scroll_distance=dp(8), scroll_wheel_distance=dp(40))
        self.scroll = scroll
        body = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(6), padding=(0, 0, dp(16), dp(32)))
        self.body = body
        body.bind(minimum_height=body.setter("height"))
        scroll.add_widget(body)
        self.add_widget(scroll)

        def section(title: str) -> None:
            body.add_widget(KLabel(text=title, tone="topbar_text", bold=True, font_size=sp(19)))

        def button(text: str, callback: Callable[[], None], role: str = "secondary") -> KButton:
            b = KButton(text=text, role=role, height=dp(48), font_size=sp(16), bold=False)
            b.bind(on_release=lambda *_: self._safe(callback))
            body.add_widget(b)
            return b

        # The printed receipt, as the sim:// printer got it (the demo has no paper).
        section("Last receipt")
        self.receipt = KLabel(text="(nothing printed yet)", tone="topbar_text", font_size=sp(15),
                              font_name="RobotoMono-Regular")
        body.add_widget(self.receipt)
        self._receipts_seen: Any = None
        from kivy.clock import Clock

        self._receipt_poll = Clock.schedule_interval(lambda _dt: self.show_receipt(), 0.5)
        section("Patron cards: tap")
        for card in cards:
            button(f"{card.label}  ·  {card.number}", lambda c=card: sim.tap_card(c.number), role="lang")
        section("Items: place on the pad (RFID) or scan (barcode)")
        for item in items:
            short = item.title if len(item.title) <= 30 else item.title[:29] + "…"
            if item.parts > 1:
                button(f"place {short} (all {item.parts} parts)", lambda i=item: sim.place_items(part_tags(i, range(1, i.parts + 1))))
                button(f"place {short} (part 1 only)", lambda i=item: sim.place_items(part_tags(i, [1])))
            elif item.rfid:
                button(f"place {short}", lambda i=item: sim.place_items([i.item_id]))
            button(f"scan {short}", lambda i=item: sim.scan(i.item_id))
        if payment_terminal is not None:
            # The simulated payment terminal (sim://payment): answer the payment it waits on.
            section("Payment terminal: answer the payment")
            for outcome, role in (("approve", "primary"), ("decline", "danger"), ("cancel", "secondary"),
                                  ("timeout", "secondary")):
                button(f"terminal: {outcome}", lambda o=outcome: sim.answer_payment(o, name=payment_terminal), role=role)
        section("Pad and links")
        button("clear the pad", lambda: sim.remove_items(), role="primary")
        self._rfid_button = button("unplug the RFID pad", self._toggle_rfid, role="danger")
        if headphones is not None:
            self._headphones_button = button("plug in headphones (speech on)", self._toggle_headphones, role="primary")
        if library_switch is not None:
            self._library_button = button("take the library system down", self._toggle_library, role="danger")

    def show_receipt(self) -> bool:
        """Show the newest receipt of the sim:// printer; True when it changed."""
        try:
            receipts = sim.printed()
        except Exception:  # noqa: BLE001 - no sim printer configured
            return False
        last = receipts[-1] if receipts else None
        if last is None or last is self._receipts_seen:  # the sim keeps only the newest: compare the receipt itself
            return False
        self._receipts_seen = last
        self.receipt.text = "\n".join(last.lines) + (f"\n[{last.barcode}]" if last.barcode else "")
        return True

    def _safe(self, func: Callable[[], Any]) -> None:
        try:
            func()
        except Exception as exc:  # noqa: BLE001 - a demo button must not crash the kiosk
            log.warning("simulator: %s", exc)

    def _toggle_rfid(self) -> None:
        if self._rfid_up:
            sim.unplug(name="rfid")
            self._rfid_button.text = "plug the RFID pad back in"
        else:
            sim.replug(name="rfid")
            self._rfid_button.text = "unplug the RFID pad"
        self._rfid_up = not self._rfid_up

    def _toggle_headphones(self) -> None:
        plugged = not self._headphones_in
        sim.plug_headphones(plugged, name=self._headphones)
        self._headphones_in = plugged
        self._headphones_button.text = ("pull out the headphones (speech off)" if plugged
                                        else "plug in headphones (speech on)")

    def _toggle_library(self) -> None:
        assert self._library_switch is not None
        self._library_up = not self._library_up
        result = self._library_switch(self._library_up)
        if asyncio.iscoroutine(result):
            asyncio.get_running_loop().create_task(result)
        self._library_button.text = (
            "take the library system down" if self._library_up else "bring the library system back"
        )

    @property
    def shown(self) -> bool:
        return self.parent is not None

    def toggle(self) -> None:
        if self.parent is not None:
            self.parent.remove_widget(self)
            self.host.side_panel_width = 0
        else:
            self.pos_hint = {"right": 1, "top": 1}
            self.host.side_panel_width = self.width
            self.host.add_widget(self)
