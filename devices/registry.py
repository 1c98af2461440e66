"""Choose a driver by URL: :func:`open_device`, in the manner of pyserial's ``serial_for_url``.

Schemes come from the built-in table below plus the entry-point group
``bibkiosk.devices`` (``importlib.metadata``): a vendor package adds a scheme
with, in its ``pyproject.toml``::

    [project.entry-points."bibkiosk.devices"]
    acme = "acme_bibkiosk:AcmeReader"

The target is a :class:`~devices.base.Device` subclass, or a callable
``factory(url: DeviceUrl, **options) -> Device``.  A built-in scheme cannot be
taken over by a package (a clash is logged and the built-in wins).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .base import Device, kind_class, kind_names
from .errors import DeviceError, DeviceUrlError
from .url import DeviceUrl, parse_url

__all__ = ["open_device", "schemes", "load_scheme", "SchemeInfo", "ENTRY_POINT_GROUP", "BUILTIN_SCHEMES"]

log = logging.getLogger("devices.registry")

ENTRY_POINT_GROUP = "bibkiosk.devices"

#: Built-in schemes (also declared as entry points in our pyproject.toml).
BUILTIN_SCHEMES: dict[str, str] = {
    "sim": "devices.sim:open_sim",
    "serial": "devices.serial_scanner:SerialScanner",
    "hid": "devices.hid:HidScanner",
    "lcus": "devices.relay:LcusRelay",
    "contact": "devices.relay:SerialContact",
    "escpos+usb": "devices.printer:EscposPrinter",
    "escpos+serial": "devices.printer:EscposPrinter",
    "escpos+net": "devices.printer:EscposPrinter",
    "escpos+file": "devices.printer:EscposPrinter",
    "pcsc": "devices.pcsc:PcscPatronReader",
    "pcsc-rfid": "devices.rfid:PcscRfidReader",
    "osdp": "devices.osdp:OsdpDevice",
    "adyen": "devices.adyen:AdyenTerminal",
    "adyen+cloud": "devices.adyen:AdyenTerminal",
    "tts+espeak": "devices.tts:EspeakSpeech",
}


@dataclass(frozen=True)
class SchemeInfo:
    scheme: str
    target: str  # "module:attr"
    origin: str  # "builtin" or the distribution name

    def load(self) -> Callable[..., Device]:
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise DeviceError(
                f"driver for {self.scheme}:// ({self.target}) cannot be imported: {exc}"
            ) from None
        try:
            obj = module
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise DeviceError(f"driver for {self.scheme}:// not found: {self.target}") from None
        return obj  # type: ignore[return-value]


def _entry_points() -> list[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception as exc:  # noqa: BLE001 - broken metadata must not stop the kiosk
        log.warning("cannot read entry points %s: %s", ENTRY_POINT_GROUP, exc)
        return []


def schemes() -> dict[str, SchemeInfo]:
    """Every known scheme -> :class:`SchemeInfo`, sorted by scheme."""
    table = {name: SchemeInfo(name, target, "builtin") for name, target in BUILTIN_SCHEMES.items()}
    for ep in _entry_points():
        name = ep.name.strip().lower()
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        if name in table:
            if table[name].target != ep.value:
                log.warning(
                    "entry point %s=%s from %s ignored: scheme taken by %s",
                    name, ep.value, dist, table[name].target,
                )
            continue
        table[name] = SchemeInfo(name, ep.value, dist)
    return dict(sorted(table.items()))


def load_scheme(scheme: str) -> Callable[..., Device]:
    table = schemes()
    info = table.get(scheme.lower())
    if info is None:
        raise DeviceUrlError(f"unknown device URL scheme {scheme[:40]!r}", valid=table)
    return info.load()


def open_device(url: str | DeviceUrl, *, kind: type[Device] | str | None = None, **extra: Any) -> Device:
    """Build the driver for *url* (not opened yet: ``await dev.open()`` or ``async with dev``).

    *kind* (a kind ABC such as :class:`~devices.base.Lock`, or its name
    ``"lock"``) checks that the device is of that kind; ``sim://`` also uses it
    to pick what to simulate.  Keyword *extra* options override URL options.
    Raises :class:`DeviceUrlError` for an unknown scheme, option or kind.
    """
    parsed = parse_url(url)
    wanted = kind_class(kind) if kind is not None else None
    factory = load_scheme(parsed.scheme)
    if wanted is not None and getattr(factory, "accepts_kind_hint", False):
        device = factory(parsed, kind_hint=wanted, **extra)
    else:
        device = factory(parsed, **extra)
    if not isinstance(device, Device):
        raise DeviceError(f"driver for {parsed.scheme}:// did not return a Device")
    if wanted is not None and not isinstance(device, wanted):
        raise DeviceUrlError(
            f"{parsed.scheme}://{parsed.path} is not a {wanted.__name__}; it provides",
            valid=kind_names(device) or ["nothing"],
        )
    return device
