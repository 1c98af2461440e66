"""The help button on every screen (#16 item 4), rendered offscreen with real GL and
driven by touches: it explains the screen in the chosen language only, closes back to
the same screen as it was, lets the idle timeout run, calls staff through a webhook
(a real HTTP server on loopback) and says whether the call went out, and in unmanned
hours shows the library's emergency and contact details."""

from __future__ import annotations

import asyncio
import json

from devices import sim
from kiosk.flows import State
from kiosk.flows.help import HelpSettings
from kiosk.staffcall import WebhookStaffCall
from policy import Schedule

from ..http_hook import Hook
from .kiosk_case import NOW, OK_CARD, KioskCase, kio
from .test_ui import _ancestors

LANGS = ("nl", "fr", "en")
#: the "help" screen texts: one per state, in each language
OTHER = {lang: {state: kio(f"kiosk.help.screen.{state.value}", lang) for state in State} for lang in LANGS}


def _schedule(kind: str) -> Schedule:
    day = NOW.strftime("%A").lower()
    return Schedule.model_validate({"branches": {"default": {day: [{"kind": kind, "from": "08:00", "until": "21:00"}]}}})


class HelpCase(KioskCase):
    help_settings = HelpSettings()

    def settings_extra(self) -> dict:
        return {"help": self.help_settings, "branch": "9901"}

    def help_button(self, lang: str):
        button = self.root.find_button(kio("kiosk.help.button", lang))
        assert button is not None and self.root.ids.topbar in _ancestors(button), self.root.visible_texts()
        return button

    async def wait_call(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while self.flows.view.help.call is not None and self.flows.view.help.call.value == "sending":
                await asyncio.sleep(0.02)
        await self.frames()


class TestHelpOnEveryScreen(HelpCase):
    def test_every_screen_has_help_that_explains_it_in_the_chosen_language_only(self):
        async def scenario():
            await self.frames()
            for lang in ("nl", "fr"):
                self.flows.set_language(lang)
                for state in State:
                    self.flows.view.state = state
                    self.root.render_now(self.flows.view)
                    self.advance_frames(2)
                    screen = self.root.ids.sm.current
                    self.help_button(lang)
                    await self.touch(kio("kiosk.help.button", lang))
                    text = self.screen_text()
                    assert kio("kiosk.help.title", lang) in text, (state, text)
                    assert OTHER[lang][state] in text, (state, lang)
                    for other in LANGS:
                        if other != lang:  # one language on the screen
                            assert OTHER[other][state] not in text and kio("kiosk.help.title", other) not in text
                    for other_state in State:
                        if OTHER[lang][other_state] != OTHER[lang][state]:
                            assert OTHER[lang][other_state] not in text, (state, other_state)
                    assert kio("kiosk.help.staffed", lang) in text  # no schedule: staffed
                    assert kio("kiosk.help.call_staff", lang) not in text  # no call configured
                    await self.touch(kio("kiosk.help.close", lang))
                    assert kio("kiosk.help.title", lang) not in self.screen_text()
                    assert self.root.ids.sm.current == screen and self.flows.view.state is state

        self.run_scenario(scenario)

    def test_help_keeps_the_pin_screen_as_it_was_and_the_idle_timeout_runs(self):
        async def scenario():
            await self.frames()
            sim.tap_card(OK_CARD)
            await self.frames()
            await self.touch("1")
            await self.touch("2")
            await self.touch(kio("kiosk.help.button"))
            assert OTHER["nl"][State.PIN] in self.screen_text()
            assert self.flows.state is State.PIN and self.flows.view.pin_length == 2
            await self.touch(kio("kiosk.help.button"))  # pressed again: closed
            assert OTHER["nl"][State.PIN] not in self.screen_text()
            assert self.flows.state is State.PIN and self.flows.view.pin_length == 2
            await self.touch("3")
            assert self.flows.view.pin_length == 3  # the PIN goes on where it was
            # Open again and leave the kiosk: the warning comes over the help, then the timeout.
            await self.touch(kio("kiosk.help.button"))
            s = self.flows.settings
            self.clock.t += s.idle_timeout_seconds - s.idle_warning_seconds + 1
            await self.flows.tick()
            await self.frames()
            text = self.screen_text()
            assert kio("kiosk.warning.title") in text and OTHER["nl"][State.PIN] in text
            warning, overlay = self.root._warning, self.root._help.overlay
            assert self.root.children.index(warning) < self.root.children.index(overlay)  # the warning on top
            self.clock.t += s.idle_warning_seconds + 1
            await self.flows.tick()
            await self.frames()
            assert self.flows.state is State.IDLE and self.flows.view.help is None
            assert kio("kiosk.idle.title") in self.screen_text()
            assert OTHER["nl"][State.PIN] not in self.screen_text()

        self.run_scenario(scenario)

    def test_help_on_the_welcome_screen_closes_after_the_idle_time(self):
        async def scenario():
            await self.frames()
            await self.touch(kio("kiosk.help.button"))
            assert OTHER["nl"][State.IDLE] in self.screen_text()
            self.clock.t += self.flows.settings.idle_timeout_seconds + 1
            await self.flows.tick()
            await self.frames()
            assert self.flows.view.help is None and OTHER["nl"][State.IDLE] not in self.screen_text()

        self.run_scenario(scenario)


class TestCallStaffByWebhook(HelpCase):
    def test_call_staff_goes_to_the_webhook_and_the_patron_sees_it_went_out(self):
        async def scenario():
            hook = Hook()
            self.on_close(hook.close)
            caller = WebhookStaffCall([hook.url], branch="9901")
            self.on_close(caller.close)
            self.flows.staff_caller = caller
            await self.frames()
            await self.login(OK_CARD, lang="nl")
            assert self.flows.state is State.MENU
            self.flows.set_language("fr")
            await self.frames()
            await self.touch(kio("kiosk.help.button", "fr"))
            await self.touch(kio("kiosk.help.call_staff", "fr"), settle=False)
            await self.wait_call()
            text = self.screen_text()
            assert kio("kiosk.help.call_sent", "fr") in text and kio("kiosk.help.call_sent", "nl") not in text
            (body,) = hook.received
            assert body["event"] == "help" and body["result"] == "call_staff"
            assert body["screen"] == "menu" and body["identified"] is True and body["branch"] == "9901"
            assert OK_CARD not in json.dumps(body)
            # one call per opening: the button is spent
            assert self.root.find_button(kio("kiosk.help.call_staff", "fr")) is None
            await self.touch(kio("kiosk.help.close", "fr"))
            assert self.flows.state is State.MENU

        self.run_scenario(scenario)

    def test_a_call_that_cannot_go_out_says_so(self):
        async def scenario():
            hook = Hook(fail_first=2)  # both attempts of the first call fail (503)
            self.on_close(hook.close)
            caller = WebhookStaffCall([hook.url])
            self.on_close(caller.close)
            self.flows.staff_caller = caller
            await self.frames()
            await self.touch(kio("kiosk.help.button"))
            await self.touch(kio("kiosk.help.call_staff"), settle=False)
            await self.wait_call()
            text = self.screen_text()
            assert kio("kiosk.help.call_failed") in text and kio("kiosk.help.call_sent") not in text
            assert hook.calls == 2 and hook.received == []  # both attempts reached the server, refused
            # it may be tried again
            await self.touch(kio("kiosk.help.call_staff"), settle=False)
            await self.wait_call()
            assert kio("kiosk.help.call_sent") in self.screen_text()

        self.run_scenario(scenario)


class TestUnmannedHours(HelpCase):
    help_settings = HelpSettings(
        phone="+32 9 123 45 67", emergency_phone="112", schedule=_schedule("unmanned"),
        contact={"nl": "Balie open ma-vr 10-17 u.", "fr": "Accueil ouvert lu-ve 10-17 h.", "en": "Desk open Mon-Fri 10-17."},
    )

    def test_unmanned_hours_show_emergency_and_contact_details(self):
        async def scenario():
            await self.frames()
            for lang, contact in (("nl", "Balie open ma-vr 10-17 u."), ("en", "Desk open Mon-Fri 10-17.")):
                self.flows.set_language(lang)
                await self.frames()
                await self.touch(kio("kiosk.help.button", lang))
                text = self.screen_text()
                assert kio("kiosk.help.unmanned", lang) in text
                assert kio("kiosk.help.emergency", lang, phone="112") in text
                assert kio("kiosk.help.phone", lang, phone="+32 9 123 45 67") in text
                assert contact in text and "Accueil ouvert" not in text
                assert kio("kiosk.help.staffed", lang) not in text
                await self.touch(kio("kiosk.help.close", lang))

        self.run_scenario(scenario)


class TestStaffedHours(HelpCase):
    help_settings = HelpSettings(phone="+32 9 123 45 67", schedule=_schedule("staffed"),
                                 contact={"nl": "Balie", "fr": "Accueil", "en": "Desk"})

    def test_staffed_hours_send_the_patron_to_the_desk(self):
        async def scenario():
            await self.frames()
            await self.touch(kio("kiosk.help.button"))
            text = self.screen_text()
            assert kio("kiosk.help.staffed") in text
            assert kio("kiosk.help.unmanned") not in text and kio("kiosk.help.emergency", phone="112") not in text

        self.run_scenario(scenario)



class TestPinResetHint(HelpCase):
    """#16 item 5: from the first wrong PIN on, and on the lockout message, where to reset a
    forgotten PIN: the library's portal from ``[kiosk] pin_reset_url``."""

    url = "bib.example.be/pincode"

    def settings_extra(self) -> dict:
        return {**super().settings_extra(), "pin_reset_url": self.url}

    def hint(self, lang: str = "nl") -> str:
        return kio("kiosk.pin.reset_url", lang, url=self.url) if self.url else kio("kiosk.pin.reset_desk", lang)

    def test_hint_from_the_first_wrong_pin_and_on_the_lockout(self):
        from kiosk.i18n import translate

        async def scenario():
            await self.frames()
            assert self.hint() not in self.screen_text()
            sim.tap_card(OK_CARD)
            await self.frames()
            assert self.hint() not in self.screen_text()  # no wrong PIN yet
            attempts = self.flows.settings.rules.lockout.attempts
            for n in range(1, attempts):
                for digit in "9999":
                    await self.touch(digit)
                await self.touch(kio("kiosk.button.ok"))
                text = self.screen_text()
                assert self.flows.state is State.PIN
                assert translate("policy", "policy.P1", "nl") in text
                assert self.hint() in text, (n, text)
                left = attempts - n
                reason = translate("policy", "policy.P1", "nl")
                if left > 1:  # the warning before the lockout stays, the hint comes below it
                    assert kio("kiosk.pin.wrong_tries", reason=reason, tries=left) + "\n" + self.hint() in text
                else:
                    assert kio("kiosk.pin.wrong_last", reason=reason) + "\n" + self.hint() in text
            self.flows.set_language("fr")
            await self.frames()
            assert self.hint("fr") in self.screen_text() and self.hint("nl") not in self.screen_text()
            for digit in "9999":
                await self.touch(digit)
            await self.touch(kio("kiosk.button.ok", "fr"))
            assert self.flows.state is State.MESSAGE  # locked out (L1)
            text = self.screen_text()
            assert self.hint("fr") in text, text

        self.run_scenario(scenario)


class TestPinResetAtTheDesk(TestPinResetHint):
    url = None


class TestHelpByKeys(HelpCase):
    def test_the_help_is_modal_for_the_keypad_focus_too(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.help.button"))
            focus = self.root.focus
            items = focus.focusables()
            overlay = self.root._help.overlay
            close = overlay.ids.close
            assert close in items and self.root.find_button(kio("kiosk.help.button")) in items
            screen = self.root.ids.sm.current_screen
            assert not [w for w in items if screen in _ancestors(w)]  # nothing behind the help
            focus.set_focus(close)
            focus.activate()
            await self.frames()
            assert self.flows.view.help is None and self.flows.state is State.MENU

        self.run_scenario(scenario)
