"""What the patron reads: counts, summary, dates, words, one language per
screen (#16 defects, #13 item 7).  Rendered for real offscreen against the
embedded library system; each test failed before its fix."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from devices import sim
from kiosk.flows import State, Ui
from kiosk.flows.port import account_data
from kiosk.i18n import LANGUAGES, translate, translations
from tests.ui import test_ui as base
from tests.ui.test_ui import OK_CARD, R2_CARD, kio

HOLD_PATRON = "29999000000180"  # record language: English
OK_ITEMS = ("30000000000029", "30000000000036")
HELD_FOR_OTHER = "30000000000128"  # a hold of another patron waits for it


def _po_keys(domain: str, lang: str) -> list[str]:
    from babel.messages.pofile import read_po

    from kiosk.i18n import LOCALE_DIR

    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return [m.id for m in read_po(fh) if m.id]


@lru_cache(maxsize=None)
def catalog_patterns(lang: str) -> tuple[re.Pattern[str], ...]:
    """Every patron-facing sentence of *lang* (kiosk, policy, library), its
    {placeholders} as wildcards."""
    out = []
    for domain in ("kiosk", "policy", "library"):
        cat = translations(domain, lang)
        for key in _po_keys(domain, lang):
            text = cat.gettext(key)
            if not text or text == key:
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
                # "OK", "Menu": the same in several languages; "{what} van {date}":
                # too little of its own to tell a language (it matches a Dutch book title)
                if len(re.sub(r"\{\w+\}", "", sentence).strip()) < 12:
                    continue
                pattern = re.escape(sentence)
                pattern = re.sub(r"\\\{\w+\\\}", ".+?", pattern)
                out.append(re.compile(pattern))
    return tuple(out)


def foreign_sentences(texts: list[str], lang: str) -> list[str]:
    """Sentences on screen that are another language's catalog text and not this one's."""
    bad = []
    for text in texts:
        if text in ("Nederlands", "Français", "English"):  # the language bar names each in its own
            continue
        for other in LANGUAGES:
            if other == lang:
                continue
            for pattern in catalog_patterns(other):
                if pattern.search(text) and not any(p.search(text) for p in catalog_patterns(lang)):
                    bad.append(f"{other}: {text!r}")
                    break
    return bad


class PatronTextsTest(base.KioskUiTest):  # (not imported by name: pytest would run its tests again)
    def settings_extra(self):
        return {"branch_names": {"9901": "Demo Centrum", "9902": "Demo Noord"}}

    async def borrow(self, *items):
        sim.place_items([sim.tag_for(i) for i in items])
        await self.frames()

    def test_menu_counts_what_was_just_borrowed(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            assert kio("kiosk.menu.loans", count=3) in self.screen_text()
            await self.touch(kio("kiosk.button.borrow"))
            await self.borrow(*OK_ITEMS)
            await self.touch(kio("kiosk.button.menu"))
            assert kio("kiosk.menu.loans", count=5) in self.screen_text()

        self.run_scenario(scenario)

    def test_summary_shows_refusals_and_a_card_reminder_only_with_a_card(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            await self.borrow(OK_ITEMS[0], HELD_FOR_OTHER)
            await self.touch(kio("kiosk.button.finish"))
            await self.touch(kio("kiosk.button.no_receipt"))
            text = self.screen_text()
            assert kio("kiosk.summary.refused", count=1) in text and kio("kiosk.summary.card") in text
            await self.touch(kio("kiosk.button.ok"))
            sim.remove_items()
            await self.frames()
            # a return without a card: no "don't forget your card"
            await self.touch(kio("kiosk.button.return"))
            sim.place_items([sim.tag_for(OK_ITEMS[0], secured=False)])
            await self.frames()
            await self.touch(kio("kiosk.button.finish"))
            if self.flows.state is State.RECEIPT:
                await self.touch(kio("kiosk.button.no_receipt"))
            text = self.screen_text()
            assert kio("kiosk.summary.returned", count=1) in text
            assert kio("kiosk.summary.card") not in text

        self.run_scenario(scenario)

    def test_account_dates_follow_the_kiosk_clock_and_fine_is_not_under_a_warning(self):
        async def scenario():
            await self.frames()
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.button.account"))
            text = self.screen_text()
            # the demo's "today" is 2026-11-23: nothing of its loans is overdue
            assert not any(ln.overdue for ln in self.flows.view.loans), self.flows.view.loans
            assert kio("kiosk.overdue", date="01/12/2026") not in text
            assert kio("kiosk.account.no_blocks") in text
            assert kio("kiosk.account.blocks") not in text

        self.run_scenario(scenario)

    def test_hold_pickup_by_branch_name(self):
        async def scenario():
            await self.frames()
            await self.login(HOLD_PATRON)
            await self.touch(kio("kiosk.button.account", "en"))
            text = self.screen_text()
            assert kio("kiosk.account.pickup", "en", branch="Demo Centrum") in text
            assert "9901" not in text

        self.run_scenario(scenario)

    def test_due_date_once_and_one_language_after_choosing_french(self):
        async def scenario():
            await self.frames()
            await self.touch("Français")
            await self.login(OK_CARD)  # the record says Dutch: the patron's choice wins
            assert self.flows.view.language == "fr"
            assert kio("kiosk.menu.title", "fr") in self.screen_text()
            await self.touch(kio("kiosk.button.borrow", "fr"))
            await self.borrow(OK_ITEMS[0], HELD_FOR_OTHER)
            text = self.screen_text()
            assert text.count("2026") == 1, text  # the due date, once, in our format
            assert kio("kiosk.outcome.hold_for_other", "fr") in text
            assert foreign_sentences(self.root.visible_texts(), "fr") == []
            await self.touch(kio("kiosk.button.finish", "fr"))
            await self.touch(kio("kiosk.button.no_receipt", "fr"))
            text = self.screen_text()
            assert kio("kiosk.summary.title", "fr") in text and kio("kiosk.summary.borrowed", "fr", count=1) in text

        self.run_scenario(scenario)

    def test_return_with_a_hold_one_word_for_the_hold_shelf(self):
        async def scenario():
            await self.frames()
            await self.touch(kio("kiosk.button.return"))
            sim.place_items([sim.tag_for("30000000000104", secured=False)])
            await self.frames()
            text = self.screen_text().lower()
            assert "reservatieplank" in text and "reserveringsplank" not in text
            assert text.count("plank") == 1, text

        self.run_scenario(scenario)

    def test_every_screen_in_every_language_shows_only_that_language(self):
        """Walks the screens a patron sees (idle, PIN, menu, borrow with a
        refusal, renew, account, receipt, summary, a refused patron's menu and
        message, return with a hold, account with holds) in each language."""

        async def check(lang, where):
            bad = foreign_sentences(self.root.visible_texts(), lang)
            assert bad == [], (lang, where, bad)

        async def scenario():
            for lang in LANGUAGES:
                await self.frames()
                self.flows.set_language(lang)
                await self.frames()
                await check(lang, "idle")
                await self.login(OK_CARD, lang=lang)
                await check(lang, "menu")
                self.flows.press(Ui.BORROW)
                await self.frames()
                await check(lang, "borrow-empty")
                await self.borrow(OK_ITEMS[0], HELD_FOR_OTHER)
                await check(lang, "borrow")
                for action, name in ((Ui.RENEW, "renew"), (Ui.RENEW_ALL, "renew-done"), (Ui.ACCOUNT, "account")):
                    self.flows.press(action)
                    await self.frames()
                    await check(lang, name)
                self.flows.press(Ui.FINISH)
                await self.frames()
                await check(lang, "receipt")
                self.flows.press(Ui.RECEIPT_NO)
                await self.frames()
                await check(lang, "summary")
                self.flows.press(Ui.OK)
                sim.remove_items()
                await self.frames()
                self.flows.set_language(lang)
                await self.login(R2_CARD, lang=lang)
                await check(lang, "menu-refused")
                self.flows.press(Ui.BORROW)
                await self.frames()
                await check(lang, "message-refused")
                self.flows.press(Ui.OK)
                await self.frames()
                self.flows.press(Ui.FINISH)
                await self.frames()
                self.flows.press(Ui.OK)
                await self.frames()
                self.flows.set_language(lang)
                self.flows.press(Ui.RETURN)
                sim.place_items([sim.tag_for("30000000000104", secured=False),
                                 sim.tag_for(OK_ITEMS[0], secured=False)])
                await self.frames()
                await check(lang, "return")
                self.flows.press(Ui.FINISH)
                await self.frames()
                if self.flows.state is State.RECEIPT:
                    self.flows.press(Ui.RECEIPT_NO)
                    await self.frames()
                await check(lang, "summary-return")
                self.flows.press(Ui.OK)
                sim.remove_items()
                await self.frames()
                self.flows.set_language(lang)
                await self.login(HOLD_PATRON, lang=lang)
                self.flows.press(Ui.ACCOUNT)
                await self.frames()
                await check(lang, "account-holds")
                self.flows.press(Ui.FINISH)
                await self.frames()
                if self.flows.state is State.RECEIPT:
                    self.flows.press(Ui.RECEIPT_NO)
                    await self.frames()
                self.flows.press(Ui.OK)
                await self.frames()
                # put the borrowed item back for the next language
                await self.flows.library.checkin(OK_ITEMS[0])

        self.run_scenario(scenario)

    def test_simulator_panel_scrolls_to_its_last_button_and_shows_the_receipt(self):
        from kivy.tests.common import UnitTestTouch

        from kiosk.library.datafile import load_data
        from kiosk.ui.simpanel import SimPanel, demo_cards, demo_items

        async def scenario():
            data = load_data("demo")
            panel = SimPanel(self.root, cards=demo_cards(data), items=demo_items(data), library_switch=lambda up: None)
            panel.toggle()
            await self.frames(6)
            scroll, body = panel.scroll, panel.body
            last = body.children[0]  # the last button added
            scroll.scroll_to(last, padding=0, animate=False)
            self.advance_frames(10)
            lx, ly = last.to_window(last.x, last.y)
            sx, sy = scroll.to_window(scroll.x, scroll.y)
            assert ly >= sy - 0.5, ("the last button is cut off", ly, sy)
            scroll.scroll_y = 1
            self.advance_frames(10)
            # a slow drag (held longer than Kivy's 55 ms default before moving) scrolls
            from kiosk.ui.widgets import KButton

            first = [w for w in reversed(body.children) if isinstance(w, KButton)][2]  # a card button, on screen
            x, y = first.to_window(*first.center)
            touch = UnitTestTouch(x, y)
            before = scroll.scroll_y
            touch.touch_down()
            import time

            time.sleep(0.12)  # the patron's finger rests a moment before it moves (input timing, not a wait)
            self.advance_frames(2)
            for step in range(1, 11):
                touch.touch_move(x, y + step * 30)
                self.advance_frames(1)
            touch.touch_up()
            self.advance_frames(3)
            assert scroll.scroll_y < before - 0.01, ("a slow drag did not scroll", before, scroll.scroll_y)
            self.advance_frames(60)  # the drag's momentum runs out
            # a printed receipt shows in the panel
            await self.login(OK_CARD)
            await self.touch(kio("kiosk.button.borrow"))
            await self.borrow(OK_ITEMS[0])
            await self.touch(kio("kiosk.button.finish"))
            await self.touch(kio("kiosk.button.yes_receipt"))
            assert panel.show_receipt() or "Max Havelaar" in panel.receipt.text
            assert "Max Havelaar" in panel.receipt.text
            panel.toggle()
            await self.frames()

        self.run_scenario(scenario)


def test_account_overdue_is_decided_by_the_kiosk_clock():
    from kiosk.adapter import Account, LoanInfo
    from policy import PatronSnapshot

    raw = Account(patron=PatronSnapshot(), loans=(LoanInfo(item_id="1", title="t", due=date(2026, 12, 1), overdue=True),))
    assert not account_data(raw, date(2026, 11, 23)).loans[0].overdue
    assert account_data(raw, date(2026, 12, 2)).loans[0].overdue


def test_a1_names_the_age():
    for lang in LANGUAGES:
        assert "16" in translate("policy", "policy.A1.age", lang, age=16)
    from policy import Action, PeriodKind, decide
    from tests.policy.helpers import NOW as POLICY_NOW
    from tests.policy.helpers import RULES, clean

    decision = decide(Action.ENTRY, clean(birth_date=date(2015, 1, 1)), RULES.model_copy(update={"min_entry_age": 16}),
                      POLICY_NOW, period=PeriodKind.UNMANNED)
    assert "A1" in decision.rule_ids()
    assert decision.message.key == "policy.A1.age" and decision.message.params == {"age": 16}


def test_the_pin_help_says_the_same_in_every_language():
    counts = {lang: len(re.findall(r"[.!?]", translate("kiosk", "kiosk.pin.help", lang))) for lang in LANGUAGES}
    assert len(set(counts.values())) == 1, counts


def test_disabled_buttons_look_the_same_whatever_their_role():
    from kivy.graphics import Color

    from kiosk.ui import theme
    from kiosk.ui.app import load_kv
    from kiosk.ui.widgets import KButton

    load_kv()
    looks = set()
    for role in ("primary", "secondary", "success", "danger"):
        button = KButton(text="x", role=role, disabled=True)
        colours = [tuple(round(c, 3) for c in i.rgba) for i in button.canvas.before.children if isinstance(i, Color)]
        looks.add((tuple(colours), tuple(round(c, 3) for c in button.disabled_color)))
    assert len(looks) == 1, looks
    assert theme.contrast("disabled_text", "disabled") >= theme.MIN_CONTRAST


# Only this class's own tests (the base class's run in test_ui.py).
for _name in dir(base.KioskUiTest):
    if _name.startswith("test_") and _name not in PatronTextsTest.__dict__:
        setattr(PatronTextsTest, _name, None)


def test_the_demo_window_fits_a_1280x800_screen():
    from kiosk.kiosk_cli import DEMO_LAYOUT, fit_window

    width, height, density = fit_window(DEMO_LAYOUT, (1280, 800))
    assert width <= 1280 and height <= 800 and density < 1
    assert abs(width / height - DEMO_LAYOUT[0] / DEMO_LAYOUT[1]) < 0.02  # scaled, not cut off
    assert fit_window(DEMO_LAYOUT, (2560, 1440)) == (1680, 800, 1.0)  # never scaled up
    assert fit_window(DEMO_LAYOUT, None) == (1680, 800, 1.0)  # no screen to ask (offscreen)
