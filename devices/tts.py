"""``tts+espeak://`` - speech output through Debian's ``espeak-ng`` (a :class:`SpeechOutput`).

URL grammar::

    tts+espeak://[?voice_nl=nl&voice_fr=fr-fr&voice_en=en-gb&rate=160&volume=50&wav=DIR&jack=/dev/input/eventN]

Each utterance runs one ``espeak-ng`` process (``asyncio`` subprocess, no
shell); the text goes on its stdin (``--stdin``), never on the command line,
so no text can turn into an option, and SSML is off (no ``-m``).  The audio
goes to the default audio device, or with ``wav=DIR`` to one WAV file per
utterance, ``DIR/NNNNNN-LANG.wav`` (tests, and checking a kiosk without
speakers).  :meth:`stop` and an interrupting :meth:`say` kill the running
process (SIGKILL) and wait for it, so nothing keeps talking.

``volume`` (0-100) maps to espeak's amplitude 0-200 (50 = espeak's default).

``jack=/dev/input/eventN`` names the Linux input device of the sound card's
headphone jack (the one whose ``evtest`` shows ``SW_HEADPHONE_INSERT``; on
most boards "HDA ... Headphone" or "... Headphone Jack"): the driver reads it
with python-evdev on the asyncio loop (``add_reader``, no thread) and emits
:class:`~devices.base.HeadphonesChanged` at open (when plugged) and on every
change, so the kiosk turns speech on when headphones go in.  Without
``jack`` no headphone events come (the speech button still works).

Support table:

==============================  ============================================
feature                         supported
==============================  ============================================
Dutch, French, English          yes (any espeak-ng voice per language)
say / interrupt / stop / close  yes: the running espeak-ng is killed (SIGKILL
                                to its process group) and reaped
volume 0-100, rate 80-450 wpm   yes (volume applies to the next utterance)
audio device / WAV files        default audio device, or ``wav=DIR``
SSML / markup                   no (plain text only, by design)
headphone jack                  ``jack=/dev/input/eventN`` (Linux input
                                SW_HEADPHONE_INSERT through python-evdev);
                                a jack that cannot be read fails open()
unplug / replug                 n/a (a local program; a failing espeak-ng is
                                logged, the next utterance tries again)
==============================  ============================================
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

from .base import Event, HeadphonesChanged, SpeechOutput, _check_speech, _check_volume
from .errors import DeviceDisconnected, DeviceNotFound, DeviceTimeout, DeviceUrlError
from .url import DeviceUrl

__all__ = ["EspeakSpeech"]

log = logging.getLogger("devices.tts")

_RATE_MIN, _RATE_MAX = 80, 450

# linux/input-event-codes.h (so that decoding does not need evdev)
EV_SW = 0x05
SW_HEADPHONE_INSERT = 0x02
_SW_CNT = 0x11


def headphones_event(event: object) -> HeadphonesChanged | None:
    """The HeadphonesChanged for one Linux input event (an ``evdev.InputEvent``
    or anything with ``type``, ``code``, ``value``), None for any other event."""
    if getattr(event, "type", None) == EV_SW and getattr(event, "code", None) == SW_HEADPHONE_INSERT:
        return HeadphonesChanged(bool(getattr(event, "value", 0)))
    return None


def jack_plugged(fd: int) -> bool:
    """Whether the switch SW_HEADPHONE_INSERT is on now (ioctl EVIOCGSW on an input device)."""
    size = (_SW_CNT + 7) // 8
    request = (2 << 30) | (size << 16) | (ord("E") << 8) | 0x1B  # _IOC(_IOC_READ, 'E', 0x1b, size)
    bits = fcntl.ioctl(fd, request, bytes(size))
    return bool(bits[SW_HEADPHONE_INSERT // 8] >> (SW_HEADPHONE_INSERT % 8) & 1)


def _voice(value: Any) -> str:
    text = str(value).strip()
    if not text or len(text) > 40 or text.startswith("-") or not all(c.isalnum() or c in "-_+/" for c in text):
        raise ValueError("a voice name is letters, digits and - _ + / (see espeak-ng --voices)")
    return text


class EspeakSpeech(SpeechOutput):
    """Speech through ``espeak-ng`` subprocesses (see the module docstring)."""

    SCHEMES = ("tts+espeak",)
    OPTIONS: ClassVar[dict[str, Any]] = {
        "voice_nl": (_voice, "nl", "espeak-ng voice for Dutch"),
        "voice_fr": (_voice, "fr-fr", "espeak-ng voice for French"),
        "voice_en": (_voice, "en-gb", "espeak-ng voice for English"),
        "rate": (int, 160, f"speed in words per minute, {_RATE_MIN}-{_RATE_MAX}"),
        "volume": (int, 50, "initial volume 0-100 (espeak amplitude 0-200)"),
        "wav": (str, "", "write each utterance to a WAV file in this directory instead of playing it"),
        "program": (str, "espeak-ng", "the espeak-ng executable (name on PATH or absolute path)"),
        "jack": (str, "", "Linux input device of the headphone jack (SW_HEADPHONE_INSERT), e.g. /dev/input/event5"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        if not _RATE_MIN <= self.options["rate"] <= _RATE_MAX:
            raise DeviceUrlError(f"rate must be {_RATE_MIN}-{_RATE_MAX} words per minute, not {self.options['rate']}")
        try:
            self._volume = _check_volume(self.options["volume"])
        except ValueError as exc:
            raise DeviceUrlError(str(exc)) from None
        self.label = self.options["name"] or "tts+espeak"
        self._queue: collections.deque[tuple[str, str]] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._program = ""
        self._counter = 0
        self._jack: Any = None  # evdev.InputDevice of the headphone jack (jack=)
        self._jack_task: asyncio.Task[None] | None = None
        #: headphones in the jack now (always False without ``jack=``)
        self.headphones = False
        self._generation = 0  # bumped by stop() / an interrupting say()
        #: WAV files written (``wav=DIR``), oldest first, with the utterance's language.
        self.wav_files: list[tuple[Path, str]] = []

    # -- life cycle
    async def open(self) -> None:
        if self._opened:
            return
        program = shutil.which(self.options["program"])
        if program is None:
            raise DeviceNotFound(f"{self.label}: {self.options['program']!r} not found (apt-get install espeak-ng)")
        wav = self.options["wav"]
        if wav and not Path(wav).is_dir():
            raise DeviceNotFound(f"{self.label}: wav directory {wav!r} does not exist")
        if self.options["jack"]:
            self._open_jack(self.options["jack"])
        self._program = program
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        await super().open()
        self._worker = asyncio.create_task(self._run(), name=f"device {self.label}")
        if self._jack is not None:
            if self.headphones:
                self._emit(HeadphonesChanged(True))
            self._jack_task = asyncio.create_task(self._watch_jack(), name=f"device {self.label} jack")

    def _open_jack(self, path: str) -> None:
        try:
            import evdev
        except ImportError:  # pragma: no cover - evdev is a dependency on Linux
            raise DeviceNotFound(f"{self.label}: jack= needs the evdev package (pip install bibkiosk[evdev])") from None
        try:
            jack = evdev.InputDevice(path)
        except OSError as exc:
            raise DeviceNotFound(f"{self.label}: headphone jack {path!r}: {exc.strerror or exc}") from None
        if SW_HEADPHONE_INSERT not in jack.capabilities().get(EV_SW, []):
            jack.close()
            raise DeviceNotFound(f"{self.label}: {path!r} ({jack.name}) reports no headphone jack (SW_HEADPHONE_INSERT)")
        try:
            self.headphones = jack_plugged(jack.fd)
        except OSError:
            self.headphones = False
        self._jack = jack

    def _jack_event(self, event: object) -> Event | None:
        found = headphones_event(event)
        if found is not None and found.plugged != self.headphones:
            self.headphones = found.plugged
            self._emit(found)
            return found
        return None

    async def _watch_jack(self) -> None:
        try:
            async for event in self._jack.async_read_loop():
                self._jack_event(event)
        except OSError as exc:
            log.warning("%s: headphone jack lost: %s", self.label, exc.strerror or exc)

    async def close(self) -> None:
        jack_task, self._jack_task = self._jack_task, None
        if jack_task is not None:
            jack_task.cancel()
            await asyncio.gather(jack_task, return_exceptions=True)
        if self._jack is not None:
            self._jack.close()
            self._jack = None
        worker, self._worker = self._worker, None
        self._queue.clear()
        await self._kill()
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self._kill()
        if self._idle is not None:
            self._idle.set()
        await super().close()

    # -- the kind
    @property
    def volume(self) -> int:
        return self._volume

    @volume.setter
    def volume(self, value: int) -> None:
        self._volume = _check_volume(value)

    @property
    def speaking(self) -> bool:
        return bool(self._queue) or self._proc is not None

    @property
    def pid(self) -> int | None:
        """The running espeak-ng process, if any (tests)."""
        return self._proc.pid if self._proc is not None else None

    async def say(self, text: str, language: str, *, interrupt: bool = True) -> None:
        _check_speech(text, language)
        self._require_ok()
        if interrupt:
            self._generation += 1
            self._queue.clear()
            await self._kill()
        if not text.strip():
            return
        self._queue.append((text, language))
        self._idle.clear()  # type: ignore[union-attr]
        self._wakeup.set()  # type: ignore[union-attr]

    async def stop(self) -> None:
        if not self._opened:
            raise DeviceDisconnected(f"{self.label}: not open")
        self._generation += 1
        self._queue.clear()
        await self._kill()

    async def idle(self, timeout: float | None = None) -> None:
        if self._idle is None:
            return
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            raise DeviceTimeout(f"{self.label}: still speaking after {timeout} s") from None

    # -- the worker
    def _command(self, language: str) -> tuple[list[str], Path | None]:
        args = [self._program, "-v", self.options[f"voice_{language}"], "-s", str(self.options["rate"]),
                "-a", str(self._volume * 2), "-b", "1", "--stdin"]
        target = None
        if self.options["wav"]:
            self._counter += 1
            target = Path(self.options["wav"]) / f"{self._counter:06d}-{language}.wav"
            args += ["-w", str(target)]
        return args, target

    async def _run(self) -> None:
        assert self._wakeup is not None and self._idle is not None
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            text, language = self._queue.popleft()
            generation = self._generation
            args, target = self._command(language)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as exc:
                log.warning("%s: cannot start espeak-ng: %s", self.label, exc.strerror or exc)
                continue
            self._proc = proc
            if generation != self._generation:  # stopped while it was starting
                await self._kill()
            try:
                _out, err = await proc.communicate(text.encode("utf-8"))
            except (BrokenPipeError, ConnectionResetError):
                err = b""
                await proc.wait()
            finally:
                if self._proc is proc:
                    self._proc = None
            if proc.returncode and proc.returncode > 0:
                first = (err or b"").decode("utf-8", "replace").strip().splitlines()[:1]
                log.warning("%s: espeak-ng exited %s: %s", self.label, proc.returncode, first[0][:200] if first else "")
            elif target is not None and proc.returncode == 0:
                self.wav_files.append((target, language))

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.kill()
        await proc.wait()
        if self._proc is proc:
            self._proc = None
