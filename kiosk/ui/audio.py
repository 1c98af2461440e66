"""Audio cues: our own small WAV files, made here with the wave module.

``python -m kiosk.ui.audio`` (re)writes kiosk/ui/sounds/*.wav.  The files
are committed; the kiosk only plays them.  A machine without an audio device
plays nothing (and says so once in the log).
"""

from __future__ import annotations

import logging
import math
import struct
import sys
import wave
from pathlib import Path

log = logging.getLogger("kiosk.ui.audio")

SOUND_DIR = Path(__file__).resolve().parent / "sounds"
RATE = 22050

#: cue -> list of (frequency Hz or 0 for silence, seconds)
CUES: dict[str, list[tuple[float, float]]] = {
    "success": [(660.0, 0.11), (0.0, 0.02), (990.0, 0.20)],
    "refusal": [(392.0, 0.18), (0.0, 0.03), (294.0, 0.30)],
    "warning": [(880.0, 0.10), (0.0, 0.08), (880.0, 0.10), (0.0, 0.08), (880.0, 0.10)],
    "tap": [(1200.0, 0.03)],
}


def synth(parts: list[tuple[float, float]], volume: float = 0.45) -> bytes:
    """16-bit mono PCM: sine tones with soft 8 ms attack and release, plus a
    quieter octave for warmth."""
    frames = bytearray()
    ramp = int(RATE * 0.008)
    for freq, seconds in parts:
        n = int(RATE * seconds)
        for i in range(n):
            if freq <= 0:
                sample = 0.0
            else:
                env = min(1.0, i / ramp, (n - i) / ramp) if ramp else 1.0
                t = i / RATE
                sample = env * (0.8 * math.sin(2 * math.pi * freq * t) + 0.2 * math.sin(4 * math.pi * freq * t))
            frames += struct.pack("<h", int(max(-1.0, min(1.0, sample * volume)) * 32767))
    return bytes(frames)


def write_sounds(directory: Path = SOUND_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, parts in CUES.items():
        path = directory / f"{name}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(synth(parts))
        written.append(path)
    return written


class _AudioComplaints(logging.Filter):
    """Catches Kivy's audio provider complaining (a CRITICAL "Unable to open
    mixer" when the machine has no sound card: not critical for a kiosk)."""

    def __init__(self, into: list[str]) -> None:
        super().__init__()
        self.into = into

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Audio" in message[:40] or "mixer" in message:
            if record.levelno >= logging.WARNING:
                self.into.append(message.split("]", 1)[-1].strip() or message)
            return False
        return True


class _audio_complaints:  # noqa: N801 - a context manager
    def __init__(self, into: list[str]) -> None:
        self.filter = _AudioComplaints(into)
        self.loggers = [logging.getLogger("kivy"), logging.getLogger()]

    def __enter__(self) -> None:
        for logger in self.loggers:
            logger.addFilter(self.filter)
            for handler in logger.handlers:
                handler.addFilter(self.filter)

    def __exit__(self, *exc: object) -> None:
        for logger in self.loggers:
            logger.removeFilter(self.filter)
            for handler in logger.handlers:
                handler.removeFilter(self.filter)


class CuePlayer:
    """Plays the cue files through Kivy's audio (loaded lazily)."""

    def __init__(self, enabled: bool = True, directory: Path = SOUND_DIR) -> None:
        self.enabled = enabled
        self.directory = directory
        self._sounds: dict[str, object | None] = {}
        self._warned = False

    def _load(self, name: str):
        if name not in self._sounds:
            sound = None
            problems: list[str] = []
            try:
                with _audio_complaints(problems):
                    from kivy.core.audio import SoundLoader

                    sound = SoundLoader.load(str(self.directory / f"{name}.wav"))
            except Exception as exc:  # noqa: BLE001 - no audio device is not an error
                problems.append(str(exc))
            if problems:
                sound = None
                if not self._warned:
                    log.info("no audio output (%s): cues stay silent", problems[0])
                    self._warned = True
            self._sounds[name] = sound
        return self._sounds[name]

    def play(self, name: str) -> bool:
        if not self.enabled:
            return False
        sound = self._load(name)
        if sound is None:
            return False
        try:
            sound.stop()
            sound.play()
        except Exception as exc:  # noqa: BLE001
            log.debug("cue %s: %s", name, exc)
            return False
        return True


if __name__ == "__main__":
    for p in write_sounds(Path(sys.argv[1]) if len(sys.argv) > 1 else SOUND_DIR):
        print(p)
