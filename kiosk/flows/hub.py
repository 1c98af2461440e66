"""The kiosk's devices by role: open them, pump their events to the flows,
and keep track of which are out of order.

One URL may serve several roles (an OSDP reader is patron reader, PIN pad
and indicator at once): it is opened once and shared.  A device that cannot
be opened at start is out of order and retried in the background; a device
that is lost later reports it itself (``DeviceEvent("lost"/"back")``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from devices.base import (
    BarcodeScanner,
    CardPresented,
    Device,
    DeviceEvent,
    Event,
    HeadphonesChanged,
    IdentifierKind,
    Indicator,
    ItemReader,
    KeyPressed,
    PatronReader,
    Pattern,
    PinPad,
    ReceiptPrinter,
    Scanned,
    SpeechOutput,
    Tag,
    TagsChanged,
)
from devices.errors import DeviceError, DeviceUrlError
from devices.registry import open_device

log = logging.getLogger("kiosk.flows.hub")

#: Kiosk roles and the device kind each needs (door roles are not the kiosk's).
ROLE_KINDS: dict[str, type[Device]] = {
    "patron_reader": PatronReader,
    "item_reader": ItemReader,
    "scanner": BarcodeScanner,
    "pinpad": PinPad,
    "indicator": Indicator,
    "printer": ReceiptPrinter,
    "speech": SpeechOutput,
}

#: Which input events each role handles.
ROLE_EVENTS: dict[str, tuple[type[Event], ...]] = {
    "patron_reader": (CardPresented,),
    "item_reader": (TagsChanged,),
    "pinpad": (KeyPressed,),
    "speech": (HeadphonesChanged,),
}
#: Roles whose events go to their listeners (:meth:`DeviceHub.listen`), not to the flows.
LISTENED_ROLES = frozenset({"speech"})
#: The role of a scan from a scanner that is also the patron reader: a card
#: when nobody is identified at rest, an item otherwise (the flows decide).
SHARED_SCANNER = "patron_reader+scanner"

Post = Callable[[str, Event], None]


class DeviceHub:
    """The kiosk's devices.  ``roles`` maps a role name to its device URLs."""

    def __init__(self, roles: Mapping[str, Iterable[str]], *, retry_seconds: float = 5.0) -> None:
        self._urls: dict[str, list[str]] = {
            str(role): list(urls) for role, urls in roles.items() if str(role) in ROLE_KINDS and urls
        }
        self._devices: dict[str, Device] = {}  # url -> device
        self._ok: dict[str, bool] = {}  # url -> usable
        self._tasks: list[asyncio.Task[None]] = []
        self._post: Post | None = None
        self._retry = retry_seconds
        self._closing = False
        self._first_try: dict[str, asyncio.Event] = {}
        self._open_timeout = 10.0
        self._listeners: dict[str, list[Callable[[Event], None]]] = {}
        self._unheard: dict[str, list[Event]] = {}  # listened-role events that came before a listener

    @classmethod
    def from_config(cls, devices_config: Any) -> DeviceHub:
        return cls({str(role): cfg.urls() for role, cfg in devices_config.configured().items()})

    def listen(self, role: str, listener: Callable[[Event], None]) -> None:
        """Hand the input events of *role* (one of :data:`LISTENED_ROLES`, e.g. the
        speech output's HeadphonesChanged) to *listener* instead of the flows."""
        if role not in LISTENED_ROLES:
            raise ValueError(f"role {role!r} is not listened to; valid: {', '.join(sorted(LISTENED_ROLES))}")
        self._listeners.setdefault(role, []).append(listener)
        for event in self._unheard.pop(role, []):  # e.g. headphones already in at start, before the UI listened
            self._deliver(role, event)

    def _deliver(self, role: str, event: Event) -> None:
        if role in LISTENED_ROLES:
            if not self._listeners.get(role):
                self._unheard.setdefault(role, []).append(event)
                del self._unheard[role][:-16]
                return
            for listener in list(self._listeners.get(role, ())):
                try:
                    listener(event)
                except Exception:  # noqa: BLE001 - a listener's bug must not stop the device
                    log.exception("%s listener failed", role)
        elif self._post is not None:
            self._post(role, event)

    # ------------------------------------------------------------------ life cycle

    def roles_of(self, url: str) -> list[str]:
        return [role for role, urls in self._urls.items() if url in urls]

    async def open(self, post: Post) -> None:
        self._post = post
        for url in dict.fromkeys(u for urls in self._urls.values() for u in urls):
            roles = self.roles_of(url)
            try:
                device = self._open(url, roles)
            except DeviceError as exc:
                log.error("device for %s: %s", "/".join(roles), exc)
                self._ok[url] = False
                continue
            self._devices[url] = device
            self._first_try[url] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._run(url, device), name=f"kiosk device {device.label}"))
        # Return once every device was tried once (opened or out of order).
        if self._first_try:
            await asyncio.wait([asyncio.ensure_future(e.wait()) for e in self._first_try.values()],
                               timeout=self._open_timeout)

    @staticmethod
    def _fits(device: Device, role: str) -> bool:
        # A barcode scanner may serve as patron reader (the barcode on the card).
        if role == "patron_reader" and isinstance(device, BarcodeScanner):
            return True
        return isinstance(device, ROLE_KINDS[role])

    def _open(self, url: str, roles: list[str]) -> Device:
        try:
            device = open_device(url, kind=ROLE_KINDS[roles[0]])
        except DeviceUrlError:
            if roles[0] != "patron_reader":
                raise
            device = open_device(url, kind=BarcodeScanner)
        for role in roles:
            if not self._fits(device, role):
                raise DeviceError(f"{device.label} cannot serve as {role}")
        return device

    def _route(self, roles: list[str], event: Event, label: str) -> tuple[str, Event] | None:
        """The one role an input event is for (an OSDP reader is several roles
        but each of its events is handled once)."""
        if isinstance(event, Scanned):
            if "scanner" in roles and "patron_reader" in roles:
                return SHARED_SCANNER, event
            if "patron_reader" in roles:
                return "patron_reader", CardPresented(event.data, IdentifierKind.BARCODE, label)
            return ("scanner", event) if "scanner" in roles else None
        for role, kinds in ROLE_EVENTS.items():
            if role in roles and isinstance(event, kinds):
                return role, event
        return None

    async def _run(self, url: str, device: Device) -> None:
        roles = self.roles_of(url)
        while not self._closing:
            try:
                await device.open()
            except DeviceError as exc:
                if self._ok.get(url, True):
                    log.warning("%s (%s) out of order: %s", device.label, "/".join(roles), exc)
                    self._set(url, False, str(exc))
                self._first_try[url].set()
                await asyncio.sleep(self._retry)
                continue
            self._set(url, True, "open")
            self._first_try[url].set()
            stream = device.events()
            try:
                async for event in stream:
                    if isinstance(event, DeviceEvent):
                        self._set(url, event.kind != "lost", event.detail)
                        continue
                    routed = self._route(roles, event, device.label)
                    if routed is not None:
                        self._deliver(*routed)
            finally:
                stream.close()
            if self._closing:
                return
            await asyncio.sleep(self._retry)

    def _set(self, url: str, ok: bool, detail: str) -> None:
        before = self._ok.get(url)
        self._ok[url] = ok
        if before is not ok and self._post is not None:
            for role in self.roles_of(url):
                self._post(role, DeviceEvent("back" if ok else "lost", detail, url))

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for device in self._devices.values():
            try:
                await device.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("closing %s: %s", device.label, exc)
        self._tasks.clear()

    # ------------------------------------------------------------------ status

    def configured(self, role: str) -> bool:
        return bool(self._urls.get(role))

    def working(self, role: str) -> bool:
        """At least one device of *role* is usable now."""
        return any(self._ok.get(url, False) for url in self._urls.get(role, ()))

    def devices(self, role: str) -> list[Device]:
        return [self._devices[u] for u in self._urls.get(role, ()) if u in self._devices and self._ok.get(u, False)]

    # ------------------------------------------------------------------ operations (errors are the caller's)

    async def inventory(self) -> list[Tag]:
        tags: list[Tag] = []
        for dev in self.devices("item_reader"):
            tags += await dev.inventory()  # type: ignore[attr-defined]
        return tags

    async def set_security(self, uid: str, secured: bool) -> None:
        readers = self.devices("item_reader")
        if not readers:
            raise DeviceError("no item reader in order")
        last: DeviceError | None = None
        for dev in readers:
            try:
                await dev.set_security(uid, secured)  # type: ignore[attr-defined]
                return
            except DeviceError as exc:
                last = exc
        assert last is not None
        raise last

    async def show(self, pattern: Pattern) -> None:
        for dev in self.devices("indicator"):
            try:
                await dev.show(pattern)  # type: ignore[attr-defined]
            except DeviceError as exc:
                log.debug("indicator %s: %s", dev.label, exc)

    async def print_receipt(self, lines: list[str], barcode: str | None = None) -> bool:
        for dev in self.devices("printer"):
            try:
                await dev.print_receipt(lines, barcode=barcode, cut=True)  # type: ignore[attr-defined]
                return True
            except DeviceError as exc:
                log.warning("printer %s: %s", dev.label, exc)
        return False
