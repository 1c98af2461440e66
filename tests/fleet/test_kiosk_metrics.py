"""The kiosk's reporter (state, device and payment events) and the Prometheus metrics."""

from __future__ import annotations

import time
import urllib.request
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from kiosk.door.audit import Result
from kiosk.door.service import EntryOutcome
from kiosk.fleet.broker import free_port
from kiosk.fleet.kiosk import KioskReporter
from kiosk.metrics import DoorMetrics, ServiceMetrics, serve


class Link:
    connected = True
    queue_length = 3

    def __init__(self):
        self.events, self.state = [], None

    def event(self, type_, **fields):
        self.events.append((type_, fields))

    def set_state(self, state):
        self.state = state


class Hub:
    def __init__(self):
        self.up = {"patron_reader": True, "printer": True}

    def configured(self, role):
        return role in self.up

    def working(self, role):
        return self.up[role]


def test_kiosk_reporter_state_events_and_metrics():
    hub = Hub()
    record = SimpleNamespace(ref="pay-1", created_at=time.time() - 3600, state=SimpleNamespace(value="paid"), card_ref="card:ab")
    payments = SimpleNamespace(journal=SimpleNamespace(open_payments=lambda: [record], records=lambda states: [record]),
                               alarm_after=600)
    flows = SimpleNamespace(hub=hub, _library_up=True, journal=SimpleNamespace(pending_count=lambda: 2), payments=payments)
    link = Link()
    metrics = ServiceMetrics(CollectorRegistry())
    rep = KioskReporter(flows, link=link, metrics=metrics)
    state = rep.tick()
    assert state["devices"] == {"patron_reader": "up", "printer": "up"} and state["offline_queue"] == 2
    assert state["payments_pending"] == 1 and link.state == state
    assert [e for e in link.events if e[0] == "payment"] == [("payment", {"result": "problem", "detail": "pay-1 paid", "card_ref": "card:ab"})]
    hub.up["printer"] = False
    flows._library_up = False
    rep.tick()
    assert ("device", {"result": "lost", "detail": "printer"}) in link.events
    assert ("library", {"result": "offline"}) in link.events
    rep.tick()
    assert len([e for e in link.events if e[0] == "payment"]) == 1  # once per payment
    text = metrics.text().decode()
    assert 'bibkiosk_device_up{device="printer"} 0.0' in text
    assert "bibkiosk_library_up 0.0" in text and "bibkiosk_payments_pending 1.0" in text
    assert 'bibkiosk_offline_queue_length{queue="kiosk"} 2.0' in text


def test_door_metrics_and_the_http_endpoint():
    registry = CollectorRegistry()
    m = DoorMetrics(registry)
    m.link = Link()
    m.door_outcome(EntryOutcome(True, Result.GRANTED, (), "online", "door.granted", "", "card:1", "r", "", 0.12))
    m.door_outcome(EntryOutcome(False, Result.REFUSED, ("B1", "A1"), "online", "k", "", "card:1", "r", ""))
    m.door_status({"library": "online", "devices_up": {"lock": True, "reader": False}, "alarms": ["held_open"], "lockdown": False})
    port = free_port()
    serve("127.0.0.1", port, registry)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'bibkiosk_entries_total{result="granted",rule="none"} 1.0' in text
    assert 'bibkiosk_entries_total{result="refused",rule="B1"} 1.0' in text
    assert "bibkiosk_entry_latency_seconds_count 1.0" in text
    assert 'bibkiosk_door_alarm{alarm="held_open"} 1.0' in text and 'bibkiosk_device_up{device="reader"} 0.0' in text
    assert 'bibkiosk_offline_queue_length{queue="fleet"} 3.0' in text and "bibkiosk_fleet_connected 1.0" in text
