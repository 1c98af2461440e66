"""Prometheus metrics (``prometheus_client``) for the door, the kiosk and the console.

Each service builds its metrics on its own registry and serves them with
:func:`serve` on ``[metrics] listen``/``port`` (``/metrics``; the console
serves its own on its web port).  Names (all prefixed ``bibkiosk_``):

==================================  =========  ====================================================
``entries_total{result,rule}``      counter    entry decisions (rule ``none`` when granted)
``entry_latency_seconds``           histogram  last PIN key (or card) to the strike command, granted
``library_up``                      gauge      1 when the library system answered last, else 0
``device_up{device}``               gauge      each reader, lock, printer... 1 up / 0 down
``door_alarm{alarm}``               gauge      1 while held_open / forced_open stands
``door_lockdown``                   gauge      1 while locked down from the console
``offline_queue_length{queue}``     gauge      fleet outbox (``fleet``), kiosk offline queue (``kiosk``)
``payments_pending``                gauge      payments taken but not yet booked in the library system
``fleet_connected``                 gauge      1 while the fleet link is connected
``console_devices{state}``          gauge      console: devices online / offline
``console_alarms_open``             gauge      console: alarms not cleared
``console_events_total``            counter    console: events stored (duplicates not counted)
``console_sites``                   gauge      console: configured sites
==================================  =========  ====================================================
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


def serve(listen: str, port: int, registry: CollectorRegistry | None = None) -> Any:
    """Serve ``/metrics`` over HTTP in a daemon thread (prometheus_client's server)."""
    return start_http_server(port, addr=listen, registry=registry or _DEFAULT)


_DEFAULT = CollectorRegistry()


class ServiceMetrics:
    """The metrics every device service has (door and kiosk)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or _DEFAULT
        r = self.registry
        self.entries = Counter("bibkiosk_entries", "Entry decisions", ["result", "rule"], registry=r)
        self.latency = Histogram("bibkiosk_entry_latency_seconds", "Entry granted: PIN to strike", buckets=LATENCY_BUCKETS, registry=r)
        self.library_up = Gauge("bibkiosk_library_up", "Library system reachable", registry=r)
        self.device_up = Gauge("bibkiosk_device_up", "Device up", ["device"], registry=r)
        self.alarm = Gauge("bibkiosk_door_alarm", "Door alarm standing", ["alarm"], registry=r)
        self.lockdown = Gauge("bibkiosk_door_lockdown", "Door locked down from the console", registry=r)
        self.queue = Gauge("bibkiosk_offline_queue_length", "Queued, not yet delivered", ["queue"], registry=r)
        self.payments_pending = Gauge("bibkiosk_payments_pending", "Payments not yet booked", registry=r)
        self.fleet_connected = Gauge("bibkiosk_fleet_connected", "Fleet link connected", registry=r)
        for alarm in ("held_open", "forced_open"):
            self.alarm.labels(alarm).set(0)
        self._link: Any = None

    @property
    def link(self) -> Any:
        return self._link

    @link.setter
    def link(self, link: Any) -> None:
        self._link = link
        self.queue.labels("fleet").set_function(lambda: _safe(lambda: link.queue_length))
        self.fleet_connected.set_function(lambda: 1 if link.connected else 0)

    def text(self) -> bytes:
        return generate_latest(self.registry)


def _safe(func: Any) -> float:
    try:
        return float(func())
    except Exception:  # noqa: BLE001 - a scrape never fails on one gauge
        return -1.0


class DoorMetrics(ServiceMetrics):
    """An observer of the DoorService (``service.observers``)."""

    def door_outcome(self, outcome: Any) -> None:
        result = getattr(outcome.result, "value", str(outcome.result))
        for rule in outcome.rules or ("none",):
            self.entries.labels(result, rule).inc()
        if outcome.granted and outcome.latency is not None:
            self.latency.observe(outcome.latency)

    def door_status(self, status: dict[str, Any]) -> None:
        lib = status.get("library")
        self.library_up.set(1 if lib == "online" else 0)
        for label, up in (status.get("devices_up") or {}).items():
            self.device_up.labels(label).set(1 if up else 0)
        standing = set(status.get("alarms") or ())
        for alarm in ("held_open", "forced_open"):
            self.alarm.labels(alarm).set(1 if alarm in standing else 0)
        self.lockdown.set(1 if status.get("lockdown") else 0)


class ConsoleMetrics:
    def __init__(self, store: Any, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.devices = Gauge("bibkiosk_console_devices", "Devices by state", ["state"], registry=r)
        self.alarms = Gauge("bibkiosk_console_alarms_open", "Alarms not cleared", registry=r)
        self.events = Counter("bibkiosk_console_events", "Events stored", registry=r)
        self.sites = Gauge("bibkiosk_console_sites", "Configured sites", registry=r)
        self.site_online = Gauge("bibkiosk_console_site_online", "1 when every device of the site is online", ["site"], registry=r)
        self.store = store

    def refresh(self, sites: list[str]) -> None:
        counts = self.store.device_counts()
        self.devices.labels("online").set(counts.get("online", 0))
        self.devices.labels("offline").set(counts.get("offline", 0))
        self.alarms.set(self.store.open_alarm_count())
        self.sites.set(len(sites))
        online = self.store.site_online()
        for site in sites:
            self.site_online.labels(site).set(1 if online.get(site, False) else 0)

    def text(self, sites: list[str]) -> bytes:
        self.refresh(sites)
        return generate_latest(self.registry)
