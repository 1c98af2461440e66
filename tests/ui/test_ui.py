"""The kiosk UI, rendered for real offscreen (Mesa), driven by touches on its
buttons, against the real flows, the embedded library system over SIP2 and
sim:// devices.  Assertions are on what the screen says."""

from __future__ import annotations

from devices import sim
from kiosk.flows import State
from kiosk.i18n import translate

from .kiosk_case import OK_CARD, R2_CARD, KioskCase, kio


class KioskUiTest(KioskCase):
    """The kiosk driven by touches (scenarios share :class:`KioskCase`)."""

    # -- tests ----------------------------------------------------------------------------

    def test_borrow_by_touch_and_receipt(self):
        async def scenario():
            await self.frames()
            assert kio("kiosk.idle.title") in self.screen_text()
            await self.login(OK_CARD)
            assert self.flows.state is State.MENU
            text = self.screen_text()
            assert kio("kiosk.menu.title") in text and kio("kiosk.menu.loans", count=3) in text
            await self.touch(kio("kiosk.button.borrow"))
            assert kio("kiosk.borrow.instructions") in self.screen_text()
            sim.place_items(["30000000000029", "30000000000128"])
            await self.frames()
            text = self.screen_text()
            assert "Max Havelaar" in text and kio("kiosk.status.ok.borrow") in text
            assert "Het verdriet van Belgie" in text and kio("kiosk.status.refused") in text
            await self.touch(kio("kiosk.button.finish"))
            assert kio("kiosk.receipt.question") in self.screen_text()
            await self.touch(kio("kiosk.button.yes_receipt"))
            text = self.screen_text()
            assert kio("kiosk.summary.title") in text and kio("kiosk.summary.borrowed", count=1) in text
            assert "Max Havelaar" in "\n".join(sim.printed()[-1].lines)
            await self.touch(kio("kiosk.button.ok"))
            assert kio("kiosk.idle.title") in self.screen_text()
            assert "Max Havelaar" not in self.screen_text()

        self.run_scenario(scenario)

    def test_label_pixels_live_only_in_textures(self):
        """Kivy's SDL2 text provider would keep each label's SDL surface (a
        second RGBA copy of its text) for the label's life; the kiosk drops it
        once the texture holds the pixels."""
        from kivy.uix.label import Label

        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            sim.place_items(["30000000000029"])
            await self.frames()
            labels = []

            def walk(widget):
                if isinstance(widget, Label):
                    labels.append(widget)
                for child in widget.children:
                    walk(child)

            walk(self.root)
            drawn = [lb for lb in labels if lb.text and lb.texture is not None and lb.texture.width > 1]
            assert len(drawn) > 10
            assert [lb.text for lb in drawn if getattr(lb._label, "_surface", None) is not None] == []
            assert "Max Havelaar" in self.screen_text()

        self.run_scenario(scenario)

    def test_one_texture_per_label_when_frames_are_finished(self):
        """With every frame finished at its swap (the default) no frame is in
        flight when a text changes: each label keeps one texture, not a
        second one to alternate with (issue 16, memory)."""
        from kivy.core.text import Label as CoreLabel

        from kiosk.ui.runner import finishing_frames
        from kiosk.ui.widgets import KLabel

        assert finishing_frames()

        async def scenario():
            await self.frames()
            assert CoreLabel._bibkiosk_alternate is False
            label = KLabel(text="een")
            self.root.add_widget(label)
            await self.frames()
            first = label.texture
            for text in ("twee woorden", "drie", "een veel langere regel tekst"):
                label.text = text
                await self.frames()
                assert label._label.text == text
            assert getattr(label._label, "_bibkiosk_spare", None) is None
            assert label.texture is not None and label.texture.width > 1 and first is not None
            self.root.remove_widget(label)

        self.run_scenario(scenario)

    def test_refusal_shows_the_policy_message_and_language_switch(self):
        async def scenario():
            await self.frames()
            await self.login(R2_CARD)
            r2 = translate("policy", "policy.R2", "nl")
            assert r2 in self.screen_text()
            # R2 refuses borrowing and renewing: both buttons drawn as secondary (still touchable,
            # so every refused item or loan gets its own reason); returning stays primary.
            roles = {key: self.root.find_button(kio(key)).role
                     for key in ("kiosk.button.borrow", "kiosk.button.renew", "kiosk.button.return")}
            assert roles == {"kiosk.button.borrow": "secondary", "kiosk.button.renew": "secondary",
                             "kiosk.button.return": "primary"}, roles
            await self.touch(kio("kiosk.button.borrow"))
            assert self.flows.state is State.MESSAGE and r2 in self.screen_text()
            await self.touch("Français")
            text = self.screen_text()
            assert translate("policy", "policy.R2", "fr") in text and r2 not in text
            await self.touch("English")
            assert translate("policy", "policy.R2", "en") in self.screen_text()
            await self.touch(kio("kiosk.button.ok", "en"))
            assert kio("kiosk.menu.title", "en") in self.screen_text()

        self.run_scenario(scenario)

    def test_wrong_pin_is_said_on_screen(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD, pin="9999")
            assert translate("policy", "policy.P1", "nl") in self.screen_text()
            assert self.flows.state is State.PIN

        self.run_scenario(scenario)

    def test_idle_warning_over_the_receipt_prompt_and_more_time(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            sim.scan("30000000000043")
            await self.frames()
            await self.touch(kio("kiosk.button.finish"))
            assert self.flows.state is State.RECEIPT
            s = self.flows.settings
            self.clock.t += s.idle_timeout_seconds - s.idle_warning_seconds + 1
            await self.flows.tick()
            await self.frames()
            text = self.screen_text()
            assert kio("kiosk.warning.title") in text
            assert kio("kiosk.warning.body", seconds=19) in text
            assert kio("kiosk.receipt.question") in text  # the prompt is still behind it
            await self.touch(kio("kiosk.button.more_time"))
            assert kio("kiosk.warning.title") not in self.screen_text()
            assert self.flows.state is State.RECEIPT
            self.clock.t += s.idle_timeout_seconds + 1
            await self.flows.tick()
            await self.frames()
            assert kio("kiosk.idle.title") in self.screen_text()

        self.run_scenario(scenario)

    def test_return_without_card_and_device_notice(self):
        async def scenario():
            await self.frames()
            await self.touch(kio("kiosk.button.return"))
            sim.place_items([sim.tag_for("30000000000104", secured=False)])
            await self.frames()
            text = self.screen_text()
            assert "Tirza" in text and kio("kiosk.return.hold_shelf") in text
            sim.unplug(name="rfid")
            await self.frames()
            assert kio("kiosk.device.rfid_down") in self.screen_text()
            sim.replug(name="rfid")
            await self.frames()
            assert kio("kiosk.device.rfid_down") not in self.screen_text()

        self.run_scenario(scenario)

    def test_demo_simulator_panel_taps_cards_and_places_items(self):
        from kiosk.library.datafile import load_data
        from kiosk.ui.simpanel import SimPanel, demo_cards, demo_items

        async def scenario():
            data = load_data("demo")
            switched = []
            panel = SimPanel(self.root, cards=demo_cards(data), items=demo_items(data), library_switch=switched.append)
            panel.toggle()
            await self.frames()
            assert self.root.side_panel_width == panel.width

            def panel_button(prefix):
                for child in panel.walk():
                    if getattr(child, "text", "").startswith(prefix) and hasattr(child, "trigger_action"):
                        return child
                raise AssertionError(prefix)

            async def tap(button):
                # the panel scrolls: press it the way a touch would (on_release)
                button.dispatch("on_release")
                await self.frames()

            await tap(panel_button("OK  ·  29999000000010"))
            assert kio("kiosk.pin.title") in self.screen_text()
            for digit in "1234":
                await self.touch(digit)
            await self.touch(kio("kiosk.button.ok"))
            await self.touch(kio("kiosk.button.borrow"))
            await tap(panel_button("place Harry Potter"))  # all 3 parts
            assert "Harry Potter" in self.screen_text() and kio("kiosk.status.ok.borrow") in self.screen_text()
            await tap(panel_button("take the library system down"))
            assert switched == [False]
            panel.toggle()
            await self.frames()
            assert self.root.side_panel_width == 0

        self.run_scenario(scenario)

    def test_touch_targets_and_language_bar_on_every_screen(self):
        from kivy.metrics import dp

        from kiosk.ui.theme import MIN_TOUCH_DP

        async def scenario():
            await self.frames()
            seen = set()
            for state in State:
                self.flows.view.state = state
                self.root.render_now(self.flows.view)
                self.advance_frames(3)
                seen.add(self.root.ids.sm.current)
                texts = self.screen_text()
                for name in ("Nederlands", "Français", "English"):
                    assert name in texts, (state, texts)
                screen = self.root.ids.sm.current_screen
                for button in self.root.all_buttons():
                    if button.get_root_window() is None or button.opacity == 0:
                        continue
                    if button.parent is not None and not (
                        screen in _ancestors(button) or self.root.ids.topbar in _ancestors(button)
                    ):
                        continue
                    assert button.width >= dp(MIN_TOUCH_DP) and button.height >= dp(MIN_TOUCH_DP), (
                        state, button.text, button.size)
            assert seen == {s.value for s in State}

        self.run_scenario(scenario)


def _ancestors(widget):
    out = []
    while widget is not None and widget.parent is not widget:
        out.append(widget)
        widget = widget.parent
    return out
