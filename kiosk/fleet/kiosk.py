"""The kiosk on the fleet link and its metrics.

:class:`KioskReporter` looks at the kiosk's flows every few seconds (no hook
inside the flows): the library link, the offline queue (journal), each
device role up or down, payments not yet booked.  It publishes the retained
state, an event when a device is lost or back or the library link changes,
and a ``payment`` event (``result: problem``, the payment's reference and the
card's keyed hash, never the card) when a payment stays unbooked past the
payment service's alarm time, or at once when the library refused a payment
the terminal took; an ``alarm`` event when a standing alarm of the kiosk is
raised or cleared (the patron store that cannot be written:
``patron_store_unwritable``, as the door reports it), the alarms also in the
retained state (``alarms``, and ``alarm_detail``: kind -> why).  A fleet
journal that cannot be written (the same full ``state_dir``) loses no alarm:
the events are tried again at the next tick and the retained state, kept in
memory, still goes out, so the console opens the alarm from it.  The kiosk takes no remote commands except
``check`` ("why refused?" for a checkout, with this kiosk's configuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from kiosk.fleet.errors import CommandRefused, FleetError
from kiosk.fleet.topics import Command

log = logging.getLogger("kiosk.fleet")
ROLES = ("patron_reader", "item_reader", "scanner", "pinpad", "printer", "payment_terminal")


class KioskReporter:
    #: ``check`` is a question: answered even when the fleet journal cannot record it.
    unrecorded_actions = frozenset({"check"})

    def __init__(self, flows: Any, *, link: Any = None, metrics: Any = None, config: Any = None, every: float = 2.0) -> None:
        self.flows = flows
        self.link = link
        self.metrics = metrics
        self.config = config
        self.every = every
        self._devices: dict[str, str] = {}
        self._library: str | None = None
        self._alarmed: set[str] = set()
        self._alarms: set[str] = set()  # standing alarms the console was told of (raised events queued)
        self._unqueued = False  # the last event could not be queued (fleet journal not writable)
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        flows = self.flows
        hub = getattr(flows, "hub", None) or getattr(flows, "devices", None)
        devices = {}
        if hub is not None:
            for role in ROLES:
                with contextlib.suppress(Exception):
                    if hub.configured(role):
                        devices[role] = "up" if hub.working(role) else "down"
        library = "online" if getattr(flows, "_library_up", True) else "offline"
        queue = 0
        with contextlib.suppress(Exception):
            queue = int(flows.journal.pending_count())
        payments = self._open_payments()
        standing = dict(getattr(flows, "alarms", None) or {})
        return {"online": True, "mode": "kiosk", "library": library, "offline_queue": queue, "devices": devices,
                "payments_pending": len(payments), "alarms": sorted(standing),
                "alarm_detail": {kind: str(why)[:200] for kind, why in sorted(standing.items())}}

    def _open_payments(self) -> list[Any]:
        service = getattr(self.flows, "payments", None)
        if service is None:
            return []
        try:
            return list(service.journal.open_payments())
        except Exception:  # noqa: BLE001
            return []

    def _staff_payments(self) -> list[Any]:
        """Payments staff must look at: open ones, and those the library refused (money taken)."""
        service = getattr(self.flows, "payments", None)
        if service is None:
            return []
        try:
            from kiosk.payments import STAFF_STATES

            return list(service.journal.records(STAFF_STATES))
        except Exception:  # noqa: BLE001
            return []

    def tick(self) -> dict[str, Any]:
        state = self.snapshot()
        if self.link is not None:
            for role, up in state["devices"].items():
                if self._devices.get(role, "up") != up:
                    self._send("device", result="lost" if up == "down" else "back", detail=role)
            if self._library is not None and self._library != state["library"]:
                self._send("library", result=state["library"])
            standing = state["alarm_detail"]
            for kind in sorted(set(standing) - self._alarms):  # as the door: raised, then cleared
                if self._send("alarm", result=kind, detail="raised"):
                    self._alarms.add(kind)
                    self._send("state", result=kind, detail=standing[kind])
            for kind in sorted(self._alarms - set(standing)):
                if self._send("alarm", result=kind, detail="cleared"):
                    self._alarms.discard(kind)
            after = getattr(getattr(self.flows, "payments", None), "alarm_after", None)
            after = 600.0 if after is None else float(after)  # 0 means "at once", not the default
            for rec in self._staff_payments():
                refused = rec.state.value == "refused"  # charged, the library said no: at once
                if rec.ref not in self._alarmed and (refused or time.time() - float(rec.created_at) > after):
                    if self._send("payment", result="problem", detail=f"{rec.ref} {rec.state.value}", card_ref=rec.card_ref):
                        self._alarmed.add(rec.ref)
            self.link.set_state(state)
        self._devices = dict(state["devices"])
        self._library = state["library"]
        if self.link is None:
            self._alarms = set(state["alarms"])
        if self.metrics is not None:
            m = self.metrics
            m.library_up.set(1 if state["library"] == "online" else 0)
            m.queue.labels("kiosk").set(state["offline_queue"])
            m.payments_pending.set(state["payments_pending"])
            for role, up in state["devices"].items():
                m.device_up.labels(role).set(1 if up == "up" else 0)
        return state

    def _send(self, type_: str, **fields: Any) -> bool:
        """Queue one event; False when the fleet journal cannot take it (full state_dir): tried again next tick."""
        try:
            self.link.event(type_, **fields)
        except FleetError as exc:
            if not self._unqueued:  # once, not every tick while the disk stays full
                log.warning("fleet: %s event not queued (%s); sent when the journal takes it", type_, exc)
            self._unqueued = True
            return False
        self._unqueued = False
        return True

    async def _loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - reporting never stops the kiosk
                log.exception("fleet: kiosk report failed")
            await asyncio.sleep(self.every)

    async def __call__(self, command: Command) -> dict[str, Any]:
        if command.action != "check":
            raise CommandRefused("a kiosk takes only 'check' commands")
        from kiosk.fleet.door import check_card

        key = (self.config.secret("pseudonym_key") or "").encode() if self.config is not None else b""
        if not key:
            raise CommandRefused("no pseudonym key")
        return await check_card(command, config_path=getattr(self.config, "source", None), key=key)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="kiosk report")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class kiosk_extras:  # noqa: N801 - ``async with kiosk_extras(flows, config):``
    """The fleet link (``[fleet]``) and metrics (``[metrics]``) of a kiosk; nothing without the sections."""

    def __init__(self, flows: Any, config: Any) -> None:
        self.flows = flows
        self.config = config
        self.link: Any = None
        self.journal: Any = None
        self.reporter: KioskReporter | None = None

    async def __aenter__(self) -> kiosk_extras:
        from kiosk.fleet.journal import FleetJournal
        from kiosk.fleet.link import FleetLink, settings_from_config

        metrics = None
        if getattr(self.config, "metrics", None) is not None:
            from kiosk.metrics import ServiceMetrics, serve

            metrics = ServiceMetrics()
            serve(self.config.metrics.listen, self.config.metrics.port)
        settings = settings_from_config(self.config, "kiosk")
        self.reporter = KioskReporter(self.flows, metrics=metrics, config=self.config)
        if settings is not None:
            self.journal = FleetJournal(self.config.state_dir / "fleet-journal.sqlite")
            self.link = FleetLink(settings, self.journal, on_command=self.reporter)
            self.reporter.link = self.link
            if metrics is not None:
                metrics.link = self.link
            await self.link.start()
        if settings is not None or metrics is not None:
            await self.reporter.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.reporter is not None:
            await self.reporter.stop()
        if self.link is not None:
            await self.link.stop()
        if self.journal is not None:
            self.journal.close()
