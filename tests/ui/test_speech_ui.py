"""Speech output in the rendered kiosk: the "Speech" button beside the
language buttons, volume while speech is on, speech on when headphones are
plugged in, the focused button spoken, and reset at the end of the session."""

from __future__ import annotations

from devices import sim
from kiosk.flows import State
from kiosk.i18n import translate

from .kiosk_case import OK_CARD, KioskCase, kio

TTS = "ui-tts"


def sp(key: str, lang: str = "nl", **params) -> str:
    return translate("speech", key, lang, **params)


class SpeechUiTest(KioskCase):
    def roles_extra(self) -> dict:
        return {"speech": [f"sim://tts?name={TTS}"]}

    async def said(self) -> list[str]:
        await self.frames()
        await self.root.speech.settle()
        return [u.text for u in sim.spoken(name=TTS)]

    def test_speech_button_volume_and_session_reset(self):
        async def scenario():
            await self.frames()
            bar = self.root.speech_bar
            assert bar is not None and bar in self.root.ids.topbar.children
            # beside the language buttons, in the top bar's language
            kids = list(reversed(self.root.ids.topbar.children))
            assert kids.index(bar) == kids.index(self.root.ids.lang_nl) - 1
            assert sp("speech.button") in self.screen_text()
            assert self.root.find_button(sp("speech.louder")) is None  # volume only while speech is on
            assert await self.said() == []  # off by default: nothing said
            await self.touch(sp("speech.button"))
            said = await self.said()
            assert said[0] == sp("speech.on")
            assert said[1].startswith(kio("kiosk.idle.title"))
            assert self.root.speech.on and bar.on
            await self.touch(sp("speech.louder"))
            assert (await self.said())[-1] == sp("speech.volume", volume=60)
            assert sim.spoken(name=TTS)[-1].volume == 60
            # the session: the language chosen is spoken, the PIN never
            await self.touch("English")
            assert (await self.said())[-1].startswith(translate("kiosk", "kiosk.idle.title", "en"))
            before = len(sim.spoken(name=TTS))
            await self.login(OK_CARD, lang="en")
            said = [u.text for u in sim.spoken(name=TTS)[before:]]
            pin_part = said[:said.index(next(s for s in said if s.startswith(kio("kiosk.menu.title", "en"))))]
            assert sp("speech.pin.dot", "en") in pin_part
            assert not any(d in text for text in pin_part for d in "1234"), pin_part
            assert self.flows.state is State.MENU
            # keyboard focus (dispatched by the keypad navigation): the focused button is spoken
            self.root.dispatch("on_focus_text", kio("kiosk.button.borrow", "en"))
            assert (await self.said())[-1] == kio("kiosk.button.borrow", "en")
            await self.touch(kio("kiosk.button.finish", "en"))
            if self.flows.state is State.RECEIPT:
                await self.touch(kio("kiosk.button.no_receipt", "en"))
            await self.touch(kio("kiosk.button.ok", "en"))
            assert self.flows.state is State.IDLE
            # session over: speech off again, volume back, Dutch
            assert not self.root.speech.on and not bar.on
            assert self.root.speech.volume == 50
            assert self.root.find_button(sp("speech.louder")) is None
            await self.touch(sp("speech.button"))
            await self.said()
            assert sim.spoken(name=TTS)[-1].volume == 50 and sim.spoken(name=TTS)[-1].language == "nl"
            await self.touch(sp("speech.button"))
            assert (await self.said())[-1] == sp("speech.off") and not bar.on

        self.run_scenario(scenario)

    def test_headphones_turn_speech_on_and_off(self):
        async def scenario():
            await self.frames()
            sim.plug_headphones(name=TTS)
            said = await self.said()
            assert self.root.speech.on and self.root.speech_bar.on
            assert said[0] == sp("speech.on") and kio("kiosk.idle.title") in said[1]
            assert self.root.find_button(sp("speech.louder")) is not None
            # a PIN digit key focused on the PIN screen is never said
            sim.tap_card(OK_CARD)
            await self.said()
            self.root.dispatch("on_focus_text", "7")
            assert (await self.said())[-1] == sp("speech.pin.key")
            sim.plug_headphones(False, name=TTS)
            assert (await self.said())[-1] == sp("speech.off")
            assert not self.root.speech.on and not self.root.speech_bar.on

        self.run_scenario(scenario)

    def test_choices_left_at_rest_end_after_the_idle_timeout(self):
        """Issue 16: a patron chose English, 200 % text and speech on the idle screen and walked
        away without a card; the next patron must not find them."""
        from kiosk.ui.display import DISPLAY

        async def scenario():
            await self.frames()
            await self.touch("English")
            await self.touch(kio("kiosk.display.large_text", "en"))
            await self.touch(sp("speech.button", "en"))
            await self.said()
            assert self.root.speech.on and DISPLAY.large_text and self.root.language == "en"
            assert kio("kiosk.idle.title", "en") in self.screen_text()
            self.clock.t += self.flows.settings.idle_timeout_seconds - 1
            await self.flows.tick()
            await self.frames()
            assert self.root.language == "en" and self.root.speech.on  # not before the timeout
            self.clock.t += 2
            await self.flows.tick()
            await self.said()
            assert self.flows.state is State.IDLE
            text = self.screen_text()
            assert kio("kiosk.idle.title") in text and kio("kiosk.idle.title", "en") not in text, text
            assert self.root.language == "nl" and not DISPLAY.large_text and DISPLAY.text_scale == 1.0
            assert not self.root.speech.on and not self.root.speech_bar.on
            assert self.root.find_button(sp("speech.louder")) is None

        self.run_scenario(scenario)

class DemoHeadphonesTest(KioskCase):
    """The demo's simulator panel plugs headphones into the simulated jack:
    speech goes on (and off when they are pulled), said by the first speech
    device (the demo puts espeak-ng first where it is installed, the
    sim://tts with the jack after it)."""

    def roles_extra(self) -> dict:
        return {"speech": [f"sim://tts?name={TTS}", "sim://tts?name=demo-jack"]}

    def test_simulator_panel_plugs_and_pulls_headphones(self):
        from kiosk.ui.simpanel import SimPanel

        async def scenario():
            panel = SimPanel(self.root, cards=[], items=[], headphones="demo-jack")
            panel.toggle()
            self.on_close(panel.toggle)
            await self.frames()
            button = next(w for w in panel.walk() if getattr(w, "text", "") == "plug in headphones (speech on)")
            assert not self.root.speech.on
            button.dispatch("on_release")  # the panel scrolls: pressed the way a touch would
            await self.frames()
            await self.root.speech.settle()
            assert self.root.speech.on and self.root.speech_bar.on
            assert [u.text for u in sim.spoken(name=TTS)][0] == sp("speech.on")
            assert sim.spoken(name="demo-jack") == []  # the first device speaks
            assert button.text == "pull out the headphones (speech off)"
            button.dispatch("on_release")
            await self.frames()
            await self.root.speech.settle()
            assert not self.root.speech.on and sim.spoken(name=TTS)[-1].text == sp("speech.off")
            assert button.text == "plug in headphones (speech on)"

        self.run_scenario(scenario)


class NoSpeechDeviceTest(KioskCase):
    def test_no_speech_device_no_speech_button(self):
        async def scenario():
            await self.frames()
            # a kiosk without [devices.speech] keeps its top bar as it was
            assert self.root.speech_bar is None and self.root.speech is None
            assert sp("speech.button") not in self.screen_text()
            self.root.dispatch("on_focus_text", "Lenen")  # nothing to say it with: no error

        self.run_scenario(scenario)


class SpeechLayoutTest(KioskCase):
    """The speech buttons at 200 % text and in high contrast: every screen in
    every language still fits (the checks of test_display.py), with speech on."""

    def roles_extra(self) -> dict:
        return {"speech": ["sim://tts?name=layout-tts"]}

    def tearDown(self, *args) -> None:
        from kiosk.ui.display import DISPLAY

        DISPLAY.apply(large_text=False, high_contrast=False)
        super().tearDown(*args)

    def test_every_screen_fits_with_the_speech_buttons(self):
        from kiosk.i18n import LANGUAGES
        from kiosk.ui import theme

        from .display_check import contrast_problems, layout_problems, long_view

        async def scenario():
            self.root.speech.set_on(True)
            await self.frames()
            problems = []
            for large, contrast in ((True, False), (True, True)):
                minimum = theme.MIN_CONTRAST_HIGH if contrast else theme.MIN_CONTRAST
                for lang in LANGUAGES:
                    for state in State:
                        self.root.render_now(long_view(state, lang, large_text=large, high_contrast=contrast))
                        self.advance_frames(4)
                        assert self.root.speech_bar.on and len(self.root.speech_bar.children) == 3
                        texture = self.root.export_as_image().texture
                        frame = texture.pixels, texture.width, texture.height
                        where = f"large={large} contrast={contrast} {lang} {state.value}"
                        problems += [f"{where}: {p}" for p in layout_problems(self.root, frame[1:])]
                        problems += [f"{where}: {p}" for p in contrast_problems(self.root, frame, minimum)]
            assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"

        self.run_scenario(scenario)
