"""Drive the door's locks locked with nothing but the ``[devices]`` section.

``bibkiosk door relock --config FILE`` (:func:`relock`) reads the TOML file
itself, takes ``[devices.lock]`` (``url`` and ``extra_urls``) and, for an
OSDP lock, ``[secrets] osdp_key`` where it can be read; nothing else of the
file is validated, no state file, state directory, pseudonym key or library
system is touched.  A config whose env secret is unset, a corrupt or missing
state, an unwritable ``state_dir``: none of them stops it.  systemd runs it
as ``ExecStartPre=`` and ``ExecStopPost=`` of ``bibkiosk-door.service``, so
that after ``kill -9``, a watchdog kill or a failed start the strike is driven
locked within seconds, whatever became of the service (docs/door.md).

``--after-stop`` (for ``ExecStopPost=``): with ``fail_mode = "fail_safe"``
a *clean* stop (systemd: ``SERVICE_RESULT=success``, ``EXIT_CODE=exited``,
``EXIT_STATUS=0``) leaves the lock as the service put it (released: a
fail-safe stop acts as a power loss would).  Every other end (a crash, a kill,
the watchdog, a failed stop, any ``fail_secure`` door) is relocked.
"""

from __future__ import annotations

import asyncio
import os
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.door.errors import DoorError

__all__ = ["RelockError", "RelockReport", "lock_urls", "relock", "relock_sync", "clean_systemd_stop"]

#: Seconds one lock may take to open and lock (an OSDP secure channel takes a few).
DEFAULT_TIMEOUT = 10.0


class RelockError(DoorError):
    """The configuration names no lock, or its ``[devices]`` section cannot be read."""


@dataclass
class RelockReport:
    locked: list[str] = field(default_factory=list)
    #: (device label, one-line reason)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at *path*, unvalidated; :class:`RelockError` when unreadable."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise RelockError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RelockError(f"{path}: not valid TOML: {exc}") from None


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or "://" not in value:
        raise RelockError(f"{where}: expected a device URL such as lcus:///dev/ttyUSB0")
    return value


def lock_urls(document: Mapping[str, Any], source: str = "<config>") -> list[str]:
    """The lock URLs of ``[devices.lock]`` (checked as strictly as the config
    loader does, but only that table, and without importing it: a relock must
    start fast)."""
    devices = document.get("devices")
    lock = devices.get("lock") if isinstance(devices, Mapping) else None
    if lock is None:
        raise RelockError(f"{source}: no [devices.lock]: nothing to lock")
    if not isinstance(lock, Mapping):
        raise RelockError(f"{source}: devices.lock: expected a table")
    unknown = sorted(set(lock) - {"url", "extra_urls"})
    if unknown:
        raise RelockError(f"{source}: devices.lock.{unknown[0]}: unknown key (misspelt?)")
    if "url" not in lock:
        raise RelockError(f"{source}: devices.lock.url: field required")
    extra = lock.get("extra_urls", [])
    if not isinstance(extra, list):
        raise RelockError(f"{source}: devices.lock.extra_urls: expected a list of device URLs")
    return [_url(lock["url"], f"{source}: devices.lock.url"),
            *(_url(u, f"{source}: devices.lock.extra_urls[{i}]") for i, u in enumerate(extra))]


def _osdp_key(document: Mapping[str, Any], source: Path) -> tuple[str | None, str | None]:
    """(key, warning): ``[secrets] osdp_key`` when it can be read here."""
    secrets = document.get("secrets")
    ref = secrets.get("osdp_key") if isinstance(secrets, Mapping) else None
    if ref is None:
        return None, None
    given = [k for k in ("env", "file", "value") if isinstance(ref, Mapping) and isinstance(ref.get(k), str)]
    if len(given) != 1:
        return None, "secrets.osdp_key is malformed: the OSDP lock is tried without it"
    kind, raw = given[0], ref[given[0]]
    if kind == "env":
        value = os.environ.get(raw)
        if value is None:
            return None, f"secrets.osdp_key: environment variable {raw} is not set: the OSDP lock is tried without it"
        return value, None
    if kind == "file":
        path = Path(raw) if Path(raw).is_absolute() else source.parent / raw
        try:
            return path.read_text(encoding="utf-8").strip(), None
        except OSError as exc:
            return None, f"secrets.osdp_key: cannot read {path}: {exc.strerror}: the OSDP lock is tried without it"
    return raw, None


def _options(url: str, osdp_key: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    scheme = url.split(":", 1)[0]
    if scheme == "osdp" and osdp_key and "scbk" not in url:
        extra["scbk"] = osdp_key
    if scheme == "lcus":
        extra["door"] = ""  # only the relay: a door contact is no business of a relock
    return extra


def _short_url(url: str) -> str:
    return url.split("?", 1)[0]


async def _relock_one(url: str, extra: Mapping[str, Any], timeout: float) -> None:
    from devices import Lock, open_device

    dev = open_device(url, kind=Lock, **extra)
    try:
        await asyncio.wait_for(dev.open(), timeout)
        await asyncio.wait_for(dev.lock(), timeout)  # type: ignore[attr-defined]
    finally:
        try:
            await asyncio.wait_for(dev.close(), timeout)
        except Exception:  # noqa: BLE001 - the lock command is what counts
            pass


def clean_systemd_stop(env: Mapping[str, str]) -> bool:
    """True when systemd reports (to ``ExecStopPost=``) that the service exited by itself with status 0."""
    return env.get("SERVICE_RESULT") == "success" and env.get("EXIT_CODE") == "exited" and env.get("EXIT_STATUS") == "0"


async def relock(
    config_path: str | os.PathLike[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    after_stop: bool = False,
    env: Mapping[str, str] | None = None,
    skip_schemes: frozenset[str] = frozenset(),
) -> RelockReport:
    """Lock every ``[devices.lock]`` device of *config_path*; see the module docstring."""
    from devices.errors import DeviceError

    t0 = time.monotonic()
    source = Path(config_path)
    document = read_document(source)
    urls = [u for u in lock_urls(document, str(source)) if u.split(":", 1)[0] not in skip_schemes]
    report = RelockReport()
    if after_stop:
        door = document.get("door")
        fail_mode = door.get("fail_mode") if isinstance(door, Mapping) else None
        if fail_mode == "fail_safe" and clean_systemd_stop(os.environ if env is None else env):
            report.skipped = "fail_safe door stopped cleanly: the lock is left as the service put it (released)"
            report.seconds = time.monotonic() - t0
            return report
    key, warning = (None, None)
    if any(u.startswith("osdp:") for u in urls):
        key, warning = _osdp_key(document, source)
    if warning:
        report.warnings.append(warning)
    for url in urls:
        label = _short_url(url)
        try:
            await _relock_one(url, _options(url, key), timeout)
        except TimeoutError:
            report.failed.append((label, f"no answer within {timeout:g} s"))
        except (DeviceError, ValueError, OSError) as exc:
            report.failed.append((label, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        else:
            report.locked.append(label)
    report.seconds = time.monotonic() - t0
    return report


def relock_sync(config_path: str | os.PathLike[str], **kw: Any) -> RelockReport:
    """:func:`relock` from synchronous code (the CLI), on a loop of its own."""
    return asyncio.run(relock(config_path, **kw))


# --------------------------------------------------------------------------- config check

#: Lock URL schemes whose release is timed by the hardware (it ends by itself
#: when the controller dies); every other lock's release is timed in our process.
HARDWARE_TIMED = frozenset({"osdp"})


def config_warnings(config: Any) -> list[tuple[str, str]]:
    """``(key path, text)`` for ``bibkiosk config check``: door settings that are
    valid but whose safety rests on something the operator should know."""
    out: list[tuple[str, str]] = []
    lock = getattr(getattr(config, "devices", None), "lock", None)
    door = getattr(config, "door", None)
    if lock is None or door is None:
        return out
    for index, url in enumerate(lock.urls()):
        key = "devices.lock.url" if index == 0 else f"devices.lock.extra_urls[{index - 1}]"
        scheme = url.split(":", 1)[0]
        if scheme == "lcus":
            out.append((key, (
                "an LCUS relay has no timer of its own: a release is ended by the door process, so after a crash "
                "the door's safety rests on the unit's relock (ExecStopPost= / ExecStartPre= bibkiosk door relock, "
                "deploy/systemd/bibkiosk-door.service); keep it"
            )))
            release_state = "off" if "release_state=off" in url else "on"
            if door.fail_mode.value == "fail_safe" and release_state == "on":
                out.append((key, "fail_mode is fail_safe (a magnetic lock) but the relay releases when on: "
                                 "a magnetic lock wants release_state=off"))
            if door.fail_mode.value == "fail_secure" and release_state == "off":
                out.append((key, "fail_mode is fail_secure (a strike) but the relay releases when off: "
                                 "a strike wants release_state=on"))
        elif scheme not in HARDWARE_TIMED and scheme != "sim":
            out.append((key, f"{scheme}:// releases are timed by the door process: after a crash the door's safety "
                             "rests on the unit's relock (bibkiosk door relock)"))
    return out
