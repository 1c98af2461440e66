"""The palette's contrast, the sizes, and the cue sound files."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

from kiosk.ui import audio, theme


def test_every_text_colour_pair_reaches_4_5_to_1():
    for fg, bg in theme.TEXT_PAIRS:
        assert theme.contrast(fg, bg) >= theme.MIN_CONTRAST, (fg, bg, round(theme.contrast(fg, bg), 2))


def test_contrast_arithmetic_matches_wcag_examples():
    assert round(theme.contrast("#000000", "#FFFFFF"), 1) == 21.0
    assert round(theme.contrast("#777777", "#FFFFFF"), 2) == 4.48  # the classic just-too-light grey
    assert theme.contrast("#FFFFFF", "#FFFFFF") == 1.0


def test_status_colours_have_readable_badges():
    for tone, colour in theme.STATUS_COLOURS.items():
        assert theme.contrast("#FFFFFF", colour) >= theme.MIN_CONTRAST, tone


def test_sizes():
    assert min(theme.BUTTON_HEIGHT, theme.BUTTON_HEIGHT_SMALL, theme.KEY_SIZE) >= theme.MIN_TOUCH_DP
    assert theme.FONT_SMALL >= 20 and theme.FONT_BODY >= 24


def test_cue_files_are_ours_and_current(tmp_path):
    fresh = {p.name: p.read_bytes() for p in audio.write_sounds(tmp_path)}
    assert set(fresh) == {f"{name}.wav" for name in audio.CUES}
    for name, data in fresh.items():
        committed = audio.SOUND_DIR / name
        assert committed.read_bytes() == data, f"{name}: run python -m kiosk.ui.audio"
        with wave.open(str(committed)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, audio.RATE)
            frames = w.readframes(w.getnframes())
        assert max(abs(int.from_bytes(frames[i:i + 2], "little", signed=True)) for i in range(0, len(frames), 2)) > 5000


def test_player_without_audio_device_is_silent_not_broken():
    player = audio.CuePlayer(enabled=False)
    assert player.play("success") is False


def test_kivy_settings_for_a_software_renderer():
    """No multisampling: under llvmpipe 2x MSAA costs ~30 MB of framebuffers
    at 1280x800; rounded shapes are antialiased by their texture instead
    (kiosk.ui.widgets.RoundedBox, tests/ui/test_rounded_box.py)."""
    code = ("from kiosk.ui.runner import configure_kivy; configure_kivy(); "
            "from kivy.config import Config; print(Config.get('graphics', 'multisamples'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KIVY_NO_CONSOLELOG": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "0"
    kv = (Path(__file__).resolve().parents[2] / "kiosk" / "ui" / "kiosk.kv").read_text()
    assert "RoundedBox:" in kv


def test_a_machine_without_a_sound_card_logs_one_info_line_not_a_critical():
    """Kivy's audio provider logs CRITICAL "Unable to open mixer" when SDL
    finds no audio device; for a kiosk that is a silent cue, one INFO line."""
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
            "from kiosk.ui.runner import configure_kivy; configure_kivy(log_level=logging.INFO); "
            "from kiosk.ui.audio import CuePlayer; p = CuePlayer(); print('played', p.play('tap'), p.play('success'))")
    env = {**os.environ, "SDL_AUDIODRIVER": "no-such-device", "SDL_VIDEODRIVER": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    both = out.stdout + out.stderr
    assert "CRITICAL" not in both, both[-2000:]
    assert both.count("no audio output") == 1 and "played False False" in out.stdout


def test_high_contrast_palette_reaches_7_to_1_for_every_text_pair():
    assert set(theme.HIGH_CONTRAST) == set(theme.PALETTE)
    for fg, bg in theme.TEXT_PAIRS:
        ratio = theme.contrast(fg, bg, theme.HIGH_CONTRAST)
        assert ratio >= theme.MIN_CONTRAST_HIGH, (fg, bg, round(ratio, 2))


def test_status_badges_are_readable_in_both_palettes():
    for palette, minimum in ((theme.PALETTE, theme.MIN_CONTRAST), (theme.HIGH_CONTRAST, theme.MIN_CONTRAST_HIGH)):
        for tone, colour in theme.STATUS_COLOURS.items():
            assert theme.contrast(theme.status_text_colour(tone), colour, palette) >= minimum, tone
