"""Speech output: what each screen says (kiosk.flows.speech) through sim://tts,
in every language, from the catalogs; only what changed; the PIN never
spoken; headphones; the session reset; and real espeak-ng WAV files."""

from __future__ import annotations

import re
import shutil
import wave

import pytest

from devices import DeviceNotFound, open_device, sim
from devices.base import PIN_WORDS, HeadphonesChanged
from kiosk.flows import HoldLine, ItemLine, LineKind, LineStatus, LoanLine, State, Summary, Ui, View
from kiosk.flows.model import K, Text, literal, policy_text
from kiosk.flows.pay import PayView
from kiosk.flows.speech import DOT, Narrator, S, SpeechSwitch, screen_parts, spoken
from kiosk.i18n import LANGUAGES, MissingMessage, translate

from .fakelib import FakeLibrary
from .harness import SIM_ROLES, close_harness, fixed_now, make_harness

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make apt)")

#: Keys whose text is the same word in Dutch and French or English (checked: not Dutch left in).
SAME_WORD = {"kiosk.button.menu", "kiosk.button.ok", "kiosk.pay.title"}


class _Msg:
    def __init__(self, key: str, **params) -> None:
        self.key, self.params = key, params


def rich_view(state: State, lang: str) -> View:
    """A view of *state* with something in every field the screen shows."""
    v = View(state=state, language=lang, identified=state not in (State.IDLE, State.RETURN, State.OUT_OF_ORDER))
    v.notices = [K("kiosk.device.printer_down")]
    if state is State.IDLE:
        v.hint = K("kiosk.idle.items_waiting")
    elif state is State.PIN:
        v.pin_length = 3
        v.pin_error = K("kiosk.pin.wrong_tries", reason=policy_text(_Msg("policy.P1")), tries=2)
    elif state is State.MENU:
        v.loans = [LoanLine("L1", "Lent one", "2026-12-14")]
        v.holds = [HoldLine("H1", "Held book", True, "Centrum")]
        v.borrow_refusal = policy_text(_Msg("policy.R2"))
        v.notifications = [literal("De bibliotheek is dicht op 25/12.")]
    elif state in (State.BORROW, State.RETURN):
        kind = LineKind.BORROW if state is State.BORROW else LineKind.RETURN
        v.lines = [
            ItemLine(kind, "I1", LineStatus.OK, title="Book 1", due="2026-12-14",
                     text=K("kiosk.return.hold_shelf") if kind is LineKind.RETURN else None),
            ItemLine(kind, "I2", LineStatus.REFUSED, title="Book 2", text=K("kiosk.item.refused")),
            ItemLine(kind, "I3", LineStatus.QUEUED, title="Book 3"),
            ItemLine(kind, "I4", LineStatus.INCOMPLETE, title="Box set", text=K("kiosk.item.set_incomplete", parts=3, missing="2")),
            ItemLine(kind, "I5", LineStatus.FAILED, title="Book 5", text=K("kiosk.item.link_failed")),
        ]
        if kind is LineKind.BORROW:
            v.lines.append(ItemLine(kind, "L1", LineStatus.OFFER_RENEW, title="Lent one", text=K("kiosk.item.already_yours")))
    elif state in (State.RENEW, State.ACCOUNT):
        v.loans = [LoanLine("L1", "Lent one", "2026-12-14", selected=True),
                   LoanLine("L2", "Lent two", "2026-11-01", overdue=True, status=LineStatus.REFUSED,
                            text=K("kiosk.outcome.not_renewable"))]
        v.holds = [HoldLine("H1", "Held book", True, "Centrum"), HoldLine("H2", "Other book", False)]
        v.blocks = [policy_text(_Msg("policy.R2"))]
        v.hint = K("kiosk.renew.choose")
    elif state is State.SUMMARY:
        v.summary = Summary(borrowed=2, returned=1, renewed=1, queued=1, refused=3, receipt_printed=True, with_card=True)
    elif state is State.MESSAGE:
        v.title = K("kiosk.refused.title")
        v.message = policy_text(_Msg("policy.C1"))
        v.message_extra = K("kiosk.error.library")
    elif state in (State.PAY, State.PAYING):
        v.pay = PayView(reason=policy_text(_Msg("policy.R2")),
                        lines=[(K("kiosk.pay.line.fee"), "€ 5,00", True, True), (K("kiosk.pay.line.charge", date="01/11/2026"), "€ 1,20", False, False)],
                        total="€ 5,00", total_cents=500, lifts=True, lifts_text=K("kiosk.pay.lifts"),
                        banner=K("kiosk.pay.result.declined"), pay_label=K("kiosk.pay.button", amount="€ 5,00"))
    v.busy = K("kiosk.busy.account") if state is State.ACCOUNT else None
    v.warning_seconds = 20 if state is State.RECEIPT else None
    return v


def keyed(texts):
    """Every catalog text in *texts*, parameters included."""
    for t in texts:
        if t.literal is None:
            yield t
        for _name, value in t.params:
            if isinstance(value, Text):
                yield from keyed([value])


@pytest.fixture
async def tts():
    dev = open_device("sim://tts?name=speech-test")
    await dev.open()
    yield dev
    await dev.close()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("state", list(State))
async def test_every_screen_is_spoken_from_the_catalogs_in_the_patrons_language(tts, state, lang):
    view = rich_view(state, lang)
    switch = SpeechSwitch(lambda: [tts])
    switch.view_changed(view)
    switch.set_on(True)
    await switch.settle()
    said = sim.spoken(name="speech-test")
    assert said[0].text == translate("speech", "speech.on", lang)
    texts = [t for p in screen_parts(view) for t in p.texts]
    assert said[-1].text == spoken(texts, lang) and said[-1].language == lang
    assert len(said) == 2
    for t in keyed(texts):
        # no missing key: each one has a text in this language ...
        try:
            translate(t.domain, t.key, lang)
        except MissingMessage as exc:
            pytest.fail(str(exc))
        # ... and it is not the Dutch one (no Dutch in the French speech)
        if lang != "nl" and t.key not in SAME_WORD:
            assert translate(t.domain, t.key, lang) != translate(t.domain, t.key, "nl"), t.key
    assert not re.search(r"\b(kiosk|policy|speech)\.[a-z_]+\.", said[-1].text)  # no key reached the patron
    assert "{" not in said[-1].text  # every placeholder filled
    # the screen's title and the buttons one can press are said
    assert translate("speech", "speech.choices", lang) in said[-1].text or state is State.OUT_OF_ORDER
    assert translate("kiosk", "kiosk.device.printer_down", lang) in said[-1].text


async def test_screens_say_their_outcomes_and_refusals():
    lang = "nl"
    text = spoken([t for p in screen_parts(rich_view(State.BORROW, lang)) for t in p.texts], lang)
    for key in ("kiosk.status.ok.borrow", "kiosk.status.refused", "kiosk.item.refused", "kiosk.status.queued",
                "kiosk.status.incomplete", "kiosk.status.failed", "kiosk.status.offer_renew", "kiosk.item.renew_button"):
        assert translate("kiosk", key, lang) in text, key
    summary = spoken([t for p in screen_parts(rich_view(State.SUMMARY, lang)) for t in p.texts], lang)
    assert translate("kiosk", "kiosk.summary.refused", lang, count=3) in summary
    assert translate("kiosk", "kiosk.summary.card", lang) in summary
    renew = spoken([t for p in screen_parts(rich_view(State.RENEW, lang)) for t in p.texts], lang)
    assert "Lent one" in renew and translate("speech", "speech.selected", lang) in renew
    assert translate("speech", "speech.not_selected", lang) in renew
    receipt = spoken([t for p in screen_parts(rich_view(State.RECEIPT, lang)) for t in p.texts], lang)
    assert translate("kiosk", "kiosk.warning.body", lang, seconds=20) in receipt
    account = spoken([t for p in screen_parts(rich_view(State.ACCOUNT, lang)) for t in p.texts], lang)
    assert translate("kiosk", "kiosk.busy.account", lang) in account
    assert translate("kiosk", "kiosk.account.pickup", lang, branch="Centrum") in account


def test_the_pin_word_is_the_devices_pin_word():
    for lang in LANGUAGES:
        assert DOT.render(lang) == PIN_WORDS[lang]
        assert spoken([DOT] * 4, lang) == " ".join([PIN_WORDS[lang]] * 4)


def test_only_what_changed_is_said():
    n = Narrator()
    v = View(state=State.BORROW, language="nl", identified=True)
    first = n.update(v)
    assert first.interrupt and first.texts[0] == K("kiosk.borrow.title")
    assert n.update(v) is None  # nothing new: nothing said
    v.lines = [ItemLine(LineKind.BORROW, "I1", LineStatus.WORKING, title="Book 1")]
    said = n.update(v)  # the empty-list text went, the line is still being asked about: nothing to say yet
    assert said is None
    v.lines = [ItemLine(LineKind.BORROW, "I1", LineStatus.OK, title="Book 1", due="2026-12-14")]
    said = n.update(v)
    assert not said.interrupt  # queued behind what is being said
    assert said.render() == spoken([literal("Book 1"), K("kiosk.status.ok.borrow"),
                                    K("kiosk.due", date="14/12/2026")], "nl")
    v.lines = [*v.lines, ItemLine(LineKind.BORROW, "I2", LineStatus.REFUSED, title="Book 2", text=K("kiosk.item.refused"))]
    said = n.update(v)
    assert "Book 1" not in said.render() and "Book 2" in said.render()
    # the idle warning: once when it appears, not at every second
    v.warning_seconds = 20
    assert translate("kiosk", "kiosk.warning.title", "nl") in n.update(v).render()
    v.warning_seconds = 19
    assert n.update(v) is None
    # another language: the whole screen again, in that language
    v.language = "fr"
    said = n.update(v)
    assert said.interrupt and said.language == "fr" and said.texts[0] == K("kiosk.borrow.title")
    # a new message is a new screen
    v.state, v.title, v.message = State.MESSAGE, K("kiosk.refused.title"), K("kiosk.item.refused")
    assert n.update(v).interrupt
    v.message = K("kiosk.error.body")
    assert n.update(v).interrupt


def test_pin_digits_are_dots_and_erasing_says_what_is_left():
    n = Narrator()
    v = View(state=State.PIN, language="en", identified=True)
    assert S("speech.pin.none") in n.update(v).texts
    for length in (1, 2, 3):
        v.pin_length = length
        assert n.update(v).render() == "dot"
    v.pin_length = 2
    assert n.update(v).render() == "Erased. dot dot"
    v.pin_length = 0
    assert n.update(v).render() == "Erased. No digits typed yet."


async def test_headphones_speech_through_the_flows_and_the_pin_never_spoken(tmp_path):
    roles = {**SIM_ROLES, "speech": ["sim://tts?name=flow-tts"]}
    h = await make_harness(FakeLibrary(), tmp_path, roles=roles, now=fixed_now())
    try:
        switch = SpeechSwitch.for_flows(h.flows)
        assert h.flows.hub.configured("speech") and h.flows.hub.working("speech")
        await switch.settle()
        assert sim.spoken(name="flow-tts") == []  # off until asked
        sim.plug_headphones(name="flow-tts")  # HeadphonesChanged goes to the switch, not the flows
        await h.settle()
        await switch.settle()
        assert switch.on and switch.headphones
        said = sim.spoken(name="flow-tts")
        assert said[0].text == translate("speech", "speech.on", "nl")
        assert said[1].text.startswith(translate("kiosk", "kiosk.idle.title", "nl"))
        await h.tap("1001")
        await switch.settle()
        mark = len(sim.spoken(name="flow-tts"))
        for digit in "1234":
            h.flows.press(Ui.PIN_DIGIT, digit)
            await h.settle()
            await switch.settle()
        switch.focus("5")  # a focused PIN key: never its digit
        await switch.settle()
        during_pin = [u.text for u in sim.spoken(name="flow-tts")[mark:]]
        lang = h.view.language
        assert during_pin == [PIN_WORDS[lang]] * 4 + [translate("speech", "speech.pin.key", lang)]
        assert not any(c.isdigit() for text in during_pin for c in text)
        await h.press(Ui.PIN_ENTER)
        await switch.settle()
        assert h.state is State.MENU
        assert sim.spoken(name="flow-tts")[-1].text.startswith(translate("kiosk", "kiosk.menu.title", lang))
        # volume for this session only
        switch.louder()
        switch.louder()
        await switch.settle()
        assert sim.spoken(name="flow-tts")[-1].volume == 70
        sim.plug_headphones(False, name="flow-tts")
        await h.settle()
        await switch.settle()
        assert not switch.on and sim.spoken(name="flow-tts")[-1].text == translate("speech", "speech.off", lang)
        switch.toggle()  # the button: on again without headphones
        await switch.settle()
        assert switch.on
        await h.press(Ui.FINISH)
        while h.state is not State.IDLE:
            await h.press(Ui.RECEIPT_NO if h.state is State.RECEIPT else Ui.OK)
        await switch.settle()
        assert not switch.on and switch.volume == 50  # the session ended: off, the kiosk's volume
    finally:
        await close_harness(h)


async def test_speech_switched_on_at_rest_and_left_goes_off_after_the_idle_timeout(tmp_path):
    """No session started: like the language, speech (and its volume) chosen at rest
    ends after the idle timeout; with headphones in it stays on."""
    roles = {**SIM_ROLES, "speech": ["sim://tts?name=rest-tts"]}
    h = await make_harness(FakeLibrary(), tmp_path, roles=roles, now=fixed_now())
    try:
        switch = SpeechSwitch.for_flows(h.flows)
        timeout = h.flows.settings.idle_timeout_seconds
        await h.advance(timeout + 5)  # long at rest before anyone came
        switch.toggle()  # the button at rest: a touch, the timeout starts from here
        await switch.settle()
        await h.advance(timeout - 1)
        assert switch.on and h.state is State.IDLE
        switch.louder()
        await switch.settle()
        await h.advance(timeout - 1)
        assert switch.on and switch.volume == 60
        await h.advance(2)
        await switch.settle()
        assert h.state is State.IDLE and not switch.on and switch.volume == 50
        sim.plug_headphones(name="rest-tts")
        await h.settle()
        switch.louder()
        await switch.settle()
        await h.advance(timeout + 1)
        await switch.settle()
        assert switch.on and switch.headphones and switch.volume == 50  # on while plugged, the kiosk's volume
    finally:
        await close_harness(h)


async def test_hub_listen_is_only_for_listened_roles(tmp_path):
    from kiosk.flows import DeviceHub

    hub = DeviceHub({"speech": ["sim://tts"]})
    with pytest.raises(ValueError, match="speech"):
        hub.listen("pinpad", lambda event: None)
    hub._deliver("speech", HeadphonesChanged(True))  # headphones in at start, before the UI listens
    got = []
    hub.listen("speech", got.append)
    assert got == [HeadphonesChanged(True)]
    hub._deliver("speech", HeadphonesChanged(False))
    assert got == [HeadphonesChanged(True), HeadphonesChanged(False)]


async def test_without_a_speech_device_nothing_fails():
    switch = SpeechSwitch(lambda: [])
    switch.view_changed(View(state=State.MENU))
    switch.set_on(True)
    switch.louder()
    switch.focus("Lenen")
    await switch.settle()
    assert switch.on


# --- the real engine ---------------------------------------------------------------------------


@needs_espeak
async def test_espeak_speaks_a_screen_in_each_language_to_wav_files(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}&rate=250")
    await dev.open()
    try:
        for lang in LANGUAGES:
            view = View(state=State.MENU, language=lang, identified=True, loans=[LoanLine("L1", "Max Havelaar", None)])
            switch = SpeechSwitch(lambda: [dev])
            switch.view_changed(view)
            switch.set_on(True)
            await switch.settle()
            await dev.idle(timeout=60)
    finally:
        await dev.close()
    langs = [lang for _path, lang in dev.wav_files]
    assert langs == ["nl", "nl", "fr", "fr", "en", "en"]  # "speech is on", then the menu
    for path, _lang in dev.wav_files[1::2]:
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
        assert seconds > 3, (path, seconds)  # the whole menu, not a word


def test_headphone_jack_events_decode():
    evdev = pytest.importorskip("evdev")
    from devices.tts import EV_SW, SW_HEADPHONE_INSERT, headphones_event

    assert headphones_event(evdev.InputEvent(0, 0, EV_SW, SW_HEADPHONE_INSERT, 1)) == HeadphonesChanged(True)
    assert headphones_event(evdev.InputEvent(0, 0, EV_SW, SW_HEADPHONE_INSERT, 0)) == HeadphonesChanged(False)
    assert headphones_event(evdev.InputEvent(0, 0, EV_SW, 0x04, 1)) is None  # SW_MICROPHONE_INSERT
    assert headphones_event(evdev.InputEvent(0, 0, 0x01, SW_HEADPHONE_INSERT, 1)) is None  # a key


@needs_espeak
async def test_espeak_jack_reports_changes_once_and_a_missing_jack_fails_open(tmp_path):
    evdev = pytest.importorskip("evdev")
    from devices.tts import EV_SW, SW_HEADPHONE_INSERT

    with pytest.raises(DeviceNotFound, match="headphone jack"):
        await open_device(f"tts+espeak://?jack={tmp_path / 'event99'}").open()
    dev = open_device(f"tts+espeak://?wav={tmp_path}")
    await dev.open()
    try:
        stream = dev.events(HeadphonesChanged)
        for value in (1, 1, 0):
            dev._jack_event(evdev.InputEvent(0, 0, EV_SW, SW_HEADPHONE_INSERT, value))
        got = [await stream.get(timeout=1), await stream.get(timeout=1)]
        assert got == [HeadphonesChanged(True), HeadphonesChanged(False)]
        stream.close()
    finally:
        await dev.close()


def test_a_configured_speech_device_reaches_the_kiosks_hub(tmp_path):
    from kiosk.config import load_config
    from kiosk.flows import DeviceHub

    cfg = tmp_path / "kiosk.toml"
    cfg.write_text('[library]\nkind = "embedded"\ndata = "demo"\n\n[devices.speech]\nurl = "sim://tts"\n')
    hub = DeviceHub.from_config(load_config(cfg).devices)
    assert hub.configured("speech") and not hub.configured("printer")


async def test_a_long_screen_is_said_in_pieces_the_device_takes(tts):
    from devices.base import SPEECH_MAX_CHARS
    from kiosk.flows.speech import chunks

    view = View(state=State.ACCOUNT, language="nl", identified=True,
                loans=[LoanLine(f"L{i}", f"Een heel lange titel van boek nummer {i}, deel {i}", "2026-12-14")
                       for i in range(200)])
    whole = spoken([t for p in screen_parts(view) for t in p.texts], "nl")
    assert len(whole) > 2 * SPEECH_MAX_CHARS
    switch = SpeechSwitch(lambda: [tts])
    switch.view_changed(view)
    switch.set_on(True)
    await switch.settle()
    said = sim.spoken(name="speech-test")[1:]
    assert len(said) >= 3 and all(len(u.text) <= SPEECH_MAX_CHARS for u in said)
    assert " ".join(u.text for u in said) == whole
    assert all(u.text.endswith((".", ":")) for u in said[:-1])  # cut at the end of a sentence
    assert chunks("a" * 9000, 4000) == ["a" * 4000, "a" * 4000, "a" * 1000]  # no sentence end: cut anyway


async def test_a_speech_device_out_of_order_is_a_notice(tmp_path):
    roles = {**SIM_ROLES, "speech": ["sim://tts?name=down-tts"]}
    h = await make_harness(FakeLibrary(), tmp_path, roles=roles, now=fixed_now())
    try:
        down = translate("speech", "speech.device_down", "nl")
        assert down not in h.text()
        sim.unplug(name="down-tts")
        await h.settle()
        assert down in h.text()
        sim.replug(name="down-tts")
        await h.settle()
        assert down not in h.text()
    finally:
        await close_harness(h)


async def test_headphones_in_before_the_kiosk_listens_still_turn_speech_on(tmp_path):
    """The hub opens its devices before the UI is built: a jack that reports
    headphones at open is not lost (the old hub dropped it)."""
    roles = {**SIM_ROLES, "speech": ["sim://tts?name=early-tts"]}
    h = await make_harness(FakeLibrary(), tmp_path, roles=roles, now=fixed_now())
    try:
        sim.plug_headphones(name="early-tts")
        await h.settle()
        switch = SpeechSwitch.for_flows(h.flows)
        await switch.settle()
        assert switch.on and switch.headphones
        assert sim.spoken(name="early-tts")[-1].text.startswith(translate("kiosk", "kiosk.idle.title", "nl"))
    finally:
        await close_harness(h)


def test_the_help_is_spoken_and_closing_it_says_the_screen_again():
    """The help overlay (#16 item 4) is spoken in the patron's language when it opens (cutting off
    the screen), the staff call's outcome when it changes, and the screen whole again once closed."""
    from kiosk.flows.help import CallStatus, HelpView, LocalText, help_text

    narrator = Narrator()
    v = View(state=State.MENU, language="fr", identified=True)
    narrator.update(v)
    v.help = HelpView(screen=State.MENU, explain=help_text(State.MENU), can_call=True, unmanned=True,
                      emergency=[K("kiosk.help.emergency", phone="112"), LocalText((("nl", "Balie"), ("fr", "Accueil")))],
                      opened=1)
    said = narrator.update(v)
    assert said is not None and said.interrupt
    text = said.render()
    for key, params in (("kiosk.help.title", {}), ("kiosk.help.screen.menu", {}), ("kiosk.help.unmanned", {}),
                        ("kiosk.help.emergency", {"phone": "112"}), ("kiosk.help.call_staff", {}), ("kiosk.help.close", {})):
        assert " ".join(translate("kiosk", key, "fr", **params).split()) in text, key
    assert "Accueil" in text and "Balie" not in text
    assert translate("kiosk", "kiosk.help.screen.menu", "nl") not in text
    v.help.call = CallStatus.SENT
    said = narrator.update(v)
    assert not said.interrupt and translate("kiosk", "kiosk.help.call_sent", "fr") in said.render()
    assert translate("kiosk", "kiosk.help.screen.menu", "fr") not in said.render()  # only what changed
    v.help = None
    said = narrator.update(v)
    assert said.interrupt and translate("kiosk", "kiosk.menu.title", "fr") in said.render()
