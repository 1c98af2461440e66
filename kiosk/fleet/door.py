"""The door on the fleet link: its audit events and status out, remote commands in.

:class:`DoorFleet` is an observer of :class:`kiosk.door.service.DoorService`
(``service.observers``): every audit row becomes an event (entries with the
result, rule ids and the keyed-hash card reference; alarms; devices lost and
back; periods; remote commands), every status change the retained state.
Commands from the console call the service's ``remote_*`` methods; ``check``
runs the same decision as ``bibkiosk check`` (:func:`kiosk.check_cli.run_check`)
against this door's configuration.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.fleet.errors import CommandRefused
from kiosk.fleet.topics import Command

log = logging.getLogger("kiosk.fleet")

#: Door audit events -> fleet event types.
_TYPES = {
    "entry": "entry", "alarm": "alarm", "device": "device", "remote": "remote", "service": "service",
    "period": "period", "exit": "exit", "door.opened": "door", "door.closed": "door", "door.released": "door",
    "door.relocked": "door", "building.empty_check": "building", "occupancy.reset": "occupancy",
    "announcement": "announcement",
}
MAX_RELEASE_SECONDS = 600.0


def door_state(status: dict[str, Any]) -> dict[str, Any]:
    """The retained state from the door's status (no personal data in it)."""
    period = status.get("period") or {}
    devices = status.get("devices") or {}
    occ = status.get("occupancy") or {}
    mode = period.get("kind")
    if status.get("lockdown"):
        mode = "lockdown"
    elif status.get("ended_early"):
        mode = "closed"
    return {
        "online": bool(status.get("running", True)),
        "mode": mode,
        "period_end": period.get("end"),
        "lock": status.get("lock"),
        "door": status.get("door"),
        "alarms": list(status.get("alarms") or []),
        "library": status.get("library"),
        "devices": {label: "up" if up else "down" for label, up in (status.get("devices_up") or {}).items()}
        or {label: "up" for label in devices},
        "occupancy": occ.get("estimate"),
        "entries_today": occ.get("entries"),
        "exits_today": occ.get("exits"),
        # When the standing lockdown was ordered (also one a restart took back from the audit).
        "lockdown_since": (status.get("lockdown_info") or {}).get("since") if status.get("lockdown") else None,
    }


class DoorFleet:
    """Observer + command handler between a DoorService and a FleetLink."""

    #: Carried out even when the fleet journal cannot record them (a full disk): restrictions
    #: (fail secure: a lockdown still locks, an unmanned period still ends) and the question
    #: ``check``; a ``release`` or ``resume`` that cannot be recorded is refused by the link.
    unrecorded_actions = frozenset({"lockdown", "end_unmanned", "check"})

    def __init__(self, service: Any, link: Any = None, *, config_path: str | Path | None = None) -> None:
        self.service = service
        self.link = link
        self.config_path = config_path

    def attach(self, link: Any) -> None:
        self.link = link
        self.service.observers.append(self)

    # observer --------------------------------------------------------------
    def door_event(self, at: datetime, event: str, fields: dict[str, Any]) -> None:
        if self.link is None:
            return
        type_ = _TYPES.get(event, event)
        body: dict[str, Any] = {"event": event}
        for key in ("result", "card_ref", "reader", "source", "detail"):
            value = fields.get(key)
            if value is not None:
                body[key] = str(value)
        rules = fields.get("rules")
        if rules:
            body["rules"] = list(rules)
        self.link.event(type_, at=at, **body)

    def door_status(self, status: dict[str, Any]) -> None:
        if self.link is not None:
            self.link.set_state(door_state(status))

    # commands ---------------------------------------------------------------
    async def __call__(self, command: Command) -> dict[str, Any]:
        from kiosk.door.errors import DoorError

        svc = self.service
        try:
            if command.action == "release":
                seconds = command.args.get("seconds", svc.door.release_seconds)
                if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 < seconds <= MAX_RELEASE_SECONDS:
                    raise CommandRefused(f"seconds: expected a number in (0, {MAX_RELEASE_SECONDS:g}]")
                return await svc.remote_release(float(seconds), staff=command.staff, reason=command.reason)
            if command.action == "lockdown":
                return await svc.remote_lockdown(staff=command.staff, reason=command.reason)
            if command.action == "resume":
                return await svc.remote_resume(staff=command.staff, reason=command.reason)
            if command.action == "end_unmanned":
                return await svc.remote_end_unmanned(staff=command.staff, reason=command.reason)
            if command.action == "check":
                return await check_card(command, config_path=self.config_path, key=svc._key, audit=svc._remote_audit)
        except DoorError as exc:
            raise CommandRefused(str(exc)) from None
        raise CommandRefused(f"unknown action {command.action}")


async def check_card(command: Command, *, config_path: str | Path | None, key: bytes, audit: Any = None) -> dict[str, Any]:
    """"Why refused?": the decision ``bibkiosk check`` gives, for the console."""
    from kiosk.check_cli import ACTIONS, CheckError, run_check
    from kiosk.privacy import pseudonym

    card = command.args.get("card")
    action = command.args.get("action", "entry")
    if not isinstance(card, str) or not card.strip() or len(card) > 64:
        raise CommandRefused("card: expected a card number")
    if action not in ACTIONS:
        raise CommandRefused(f"action: one of {', '.join(ACTIONS)}")
    if config_path is None:
        raise CommandRefused("this device cannot check cards (no configuration file)")
    period = command.args.get("period")
    if period is not None and period not in ("staffed", "unmanned", "closed"):
        raise CommandRefused("period: staffed, unmanned or closed")
    card_ref = pseudonym(card.strip(), key)
    if audit is not None:
        audit("check", command.staff, command.reason, f"card={card_ref} action={action}")
    try:
        result = await run_check(card=card.strip(), action=action, config=str(config_path), period=period)
    except CheckError as exc:
        raise CommandRefused(str(exc)) from None
    return {
        "card_ref": card_ref,
        "check_action": action,
        "allowed": result.allowed,
        "rules": list(result.rules),
        "evidence": list(result.staff),
        "message": result.message,
        "language": result.language,
        "period": result.period,
        "pin_checked": result.pin_checked,
    }


class door_extras:  # noqa: N801 - used as ``async with door_extras(service, config):``
    """The fleet link (``[fleet]``) and the metrics endpoint (``[metrics]``) around a running door.

    Both are optional: without the sections this does nothing.  The link's
    journal is ``<state_dir>/fleet-journal.sqlite``.
    """

    def __init__(self, service: Any, config: Any) -> None:
        self.service = service
        self.config = config
        self.link: Any = None
        self.journal: Any = None
        self.metrics: Any = None

    async def __aenter__(self) -> door_extras:
        from kiosk.fleet.journal import FleetJournal
        from kiosk.fleet.link import FleetLink, settings_from_config

        if getattr(self.config, "metrics", None) is not None:
            from kiosk.metrics import DoorMetrics, serve

            self.metrics = DoorMetrics()
            self.service.observers.append(self.metrics)
            serve(self.config.metrics.listen, self.config.metrics.port)
        settings = settings_from_config(self.config, "door")
        if settings is not None:
            from kiosk.door.service import state_dir_of

            self.journal = FleetJournal(state_dir_of(self.config) / "fleet-journal.sqlite")
            bridge = DoorFleet(self.service, config_path=self.config.source)
            self.link = FleetLink(settings, self.journal, on_command=bridge)
            bridge.attach(self.link)
            if self.metrics is not None:
                self.metrics.link = self.link
            await self.link.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.link is not None:
            await self.link.stop()
        if self.journal is not None:
            self.journal.close()
