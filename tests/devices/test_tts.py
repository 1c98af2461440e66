"""Speech output (``tts`` kind): the PIN rule, sim://tts, the real espeak-ng driver, the conformance kit."""

from __future__ import annotations

import asyncio
import os
import shutil
import wave
from pathlib import Path

import pytest

from devices import DeviceError, DeviceNotFound, DeviceUrlError, SpeechOutput, open_device, sim, spoken_pin
from devices.conformance import Outcome, Prompt, run_conformance
from devices.tts import EspeakSpeech

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make apt)")

SENTENCES = {
    "nl": "Houd uw bibliotheekpas voor de lezer.",
    "fr": "Présentez votre carte de bibliothèque au lecteur.",
    "en": "Hold your library card to the reader.",
}
LONG = "Dit is een lange zin die we gaan onderbreken. " * 80  # ~3700 characters


def yes_actor():
    async def actor(prompt: Prompt) -> bool:
        return prompt.action == "confirm"

    actor.automatic = True  # type: ignore[attr-defined]
    return actor


# --- the PIN rule ------------------------------------------------------------------------------


def test_a_pin_is_spoken_as_dots_in_each_language():
    assert spoken_pin("0101", "nl") == "punt punt punt punt"
    assert spoken_pin("9876", "fr") == "point point point point"
    assert spoken_pin("12", "en") == "dot dot"
    assert spoken_pin("", "nl") == ""
    for language in ("nl", "fr", "en"):
        spoken = spoken_pin("1234567890", language)
        assert not any(c.isdigit() for c in spoken)
        assert len(spoken.split()) == 10
    with pytest.raises(ValueError):
        spoken_pin("1234", "de")


# --- sim://tts ---------------------------------------------------------------------------------


async def test_sim_records_text_language_and_volume():
    dev = open_device("sim://tts?name=tts-rec", kind=SpeechOutput)
    assert dev.kinds == ["tts"]
    async with dev:
        await dev.say("Welkom", "nl")
        dev.volume = 80
        await dev.say("Bienvenue", "fr", interrupt=False)
        await dev.say(spoken_pin("0101", "en"), "en", interrupt=False)
        await dev.idle(1.0)
        got = sim.spoken(name="tts-rec")
    assert [(u.text, u.language, u.volume) for u in got] == [
        ("Welkom", "nl", 50), ("Bienvenue", "fr", 80), ("dot dot dot dot", "en", 80)]
    assert not any(u.interrupted for u in got)


async def test_sim_interrupt_and_stop_cut_the_current_utterance():
    dev = open_device("sim://tts?name=tts-cut&speak_seconds=5")
    async with dev:
        await dev.say("eerste scherm", "nl")
        await dev.say("wacht in de rij", "nl", interrupt=False)
        assert dev.speaking
        await dev.say("tweede scherm", "nl")  # interrupts: the queued one is never said
        await dev.stop()
        assert not dev.speaking
        await dev.idle(0.5)
        got = sim.spoken(name="tts-cut")
    assert [(u.text, u.interrupted) for u in got] == [("eerste scherm", True), ("tweede scherm", True)]


async def test_volume_bounds():
    dev = open_device("sim://tts?name=tts-vol")
    async with dev:
        for value in (0, 100):
            dev.volume = value
            assert dev.volume == value
        for bad in (-1, 101, 7.5, True, "50", None):
            with pytest.raises(ValueError):
                dev.volume = bad
        assert dev.volume == 100
    with pytest.raises(DeviceUrlError):
        open_device("tts+espeak://?volume=101")


async def test_sim_passes_the_conformance_kit():
    report = await run_conformance("sim://tts?name=tts-conf", timeout=2.0, faults=True)
    assert report.passed, report.text()
    assert {r.suite for r in report.results} >= {"tts", "faults"}
    assert not [r for r in report.results if r.outcome is Outcome.SKIP], report.text()


async def test_sim_unplugged_refuses_to_speak():
    dev = open_device("sim://tts?name=tts-lost")
    async with dev:
        sim.unplug(name="tts-lost")
        await asyncio.sleep(0)
        with pytest.raises(DeviceError):
            await dev.say("hallo", "nl")


# --- URL options --------------------------------------------------------------------------------


@pytest.mark.parametrize("url, word", [
    ("tts+espeak://?rate=20", "rate"),
    ("tts+espeak://?rate=fast", "rate"),
    ("tts+espeak://?voice_nl=-w/etc/passwd", "voice_nl"),
    ("tts+espeak://?voice_de=de", "voice_de"),
    ("tts+espeak://?volume=-3", "volume"),
    ("sim://tts?speak_seconds=-1", "speak_seconds"),
])
def test_bad_url_options_are_one_line_errors(url, word):
    with pytest.raises(DeviceUrlError) as exc:
        open_device(url)
    text = str(exc.value)
    assert "\n" not in text and word in text


async def test_missing_program_or_wav_dir_is_device_not_found(tmp_path):
    with pytest.raises(DeviceNotFound):
        await open_device("tts+espeak://?program=no-such-espeak-here").open()
    with pytest.raises(DeviceNotFound):
        await open_device(f"tts+espeak://?wav={tmp_path / 'absent'}").open()


# --- the real espeak-ng -----------------------------------------------------------------------


@needs_espeak
async def test_espeak_speaks_dutch_french_english_to_wav(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}&rate=170", kind=SpeechOutput)
    assert isinstance(dev, EspeakSpeech)
    async with dev:
        for language, text in SENTENCES.items():
            await dev.say(text, language, interrupt=False)
        await dev.idle(20)
        files = list(dev.wav_files)
    assert [lang for _, lang in files] == ["nl", "fr", "en"]
    for path, _lang in files:
        with wave.open(str(path)) as w:
            frames, rate = w.getnframes(), w.getframerate()
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
            seconds = frames / rate
            audio = w.readframes(frames)
        assert 0.8 < seconds < 8, f"{path.name}: {seconds:.2f} s for one sentence"
        assert any(audio[i] for i in range(0, len(audio), 97)), f"{path.name} is silent"


@needs_espeak
async def test_espeak_volume_changes_the_amplitude(tmp_path):
    from array import array

    def rms(frames: bytes) -> float:
        samples = array("h", frames)
        return (sum(x * x for x in samples[::7]) / max(1, len(samples[::7]))) ** 0.5

    peaks = []
    dev = open_device(f"tts+espeak://?wav={tmp_path}")
    async with dev:
        for volume in (20, 100):
            dev.volume = volume
            await dev.say(SENTENCES["en"], "en")
            await dev.idle(20)
            path, _ = dev.wav_files[-1]
            with wave.open(str(path)) as w:
                peaks.append(rms(w.readframes(w.getnframes())))
    assert peaks[1] > peaks[0] * 2, peaks


async def _running(dev: EspeakSpeech) -> int:
    for _ in range(2000):  # bounded: the worker starts the process within a few loop turns
        if dev.pid is not None:
            return dev.pid
        await asyncio.sleep(0.001)
    raise AssertionError("espeak-ng never started")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@needs_espeak
async def test_espeak_stop_kills_the_process(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}&rate=80")
    async with dev:
        await dev.say(LONG, "nl")
        pid = await _running(dev)
        await dev.stop()
        assert dev.pid is None and not dev.speaking
        assert _gone(pid)
        await dev.idle(5)
        assert dev.wav_files == []  # the killed utterance is not a finished file


@needs_espeak
async def test_espeak_interrupt_kills_the_current_and_speaks_the_new(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}&rate=80")
    async with dev:
        await dev.say(LONG, "nl")
        first = await _running(dev)
        await dev.say(SENTENCES["fr"], "fr")  # interrupt=True by default
        assert _gone(first)
        await dev.idle(20)
        assert [lang for _, lang in dev.wav_files] == ["fr"]
        # interrupt=False queues behind instead
        await dev.say(SENTENCES["nl"], "nl", interrupt=False)
        await dev.say(SENTENCES["en"], "en", interrupt=False)
        await dev.idle(20)
        assert [lang for _, lang in dev.wav_files] == ["fr", "nl", "en"]


@needs_espeak
async def test_espeak_close_kills_the_process(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}&rate=80")
    await dev.open()
    await dev.say(LONG, "nl")
    pid = await _running(dev)
    await dev.close()
    assert _gone(pid)


@needs_espeak
async def test_espeak_text_cannot_become_an_option(tmp_path):
    dev = open_device(f"tts+espeak://?wav={tmp_path}")
    async with dev:
        await dev.say("-w /tmp/owned.wav --version", "en")
        await dev.idle(20)
    assert len(dev.wav_files) == 1 and dev.wav_files[0][0].parent == Path(tmp_path)
    assert not Path("/tmp/owned.wav").exists()


@needs_espeak
async def test_espeak_passes_the_conformance_kit(tmp_path):
    report = await run_conformance(f"tts+espeak://?wav={tmp_path}", yes_actor(), timeout=10.0)
    assert report.passed, report.text()
    assert [r.name for r in report.results if r.suite == "tts"] == [
        "Dutch, French, English", "volume 0-100", "interrupt and stop", "bad input refused"]


# --- config -------------------------------------------------------------------------------------


def test_config_accepts_a_speech_role(tmp_path):
    from kiosk.config import ConfigError, load_config

    base = '[library]\nkind = "embedded"\ndata = "demo"\n\n[devices.speech]\n'
    path = tmp_path / "bibkiosk.toml"
    path.write_text(base + 'url = "tts+espeak://?voice_fr=fr-fr&rate=150"\n', encoding="utf-8")
    path.chmod(0o600)
    config = load_config(path)
    assert config.devices.speech is not None
    path.write_text(base + 'url = "sim://lock"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any(where.startswith("devices.speech") for where, _ in exc.value.problems)
    path.write_text(base + 'url = "tts+espeak://?rate=9000"\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(path)
