"""Fixtures for the door tests: config, an injectable clock, sim devices, a webhook receiver."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import parse_config

PSEUDONYM_KEY = "door-test-pseudonym-key-0123456789"

#: Every day: staffed 09:00-12:00, unmanned 12:00-22:00, closed otherwise.
SCHEDULE = {
    "announcements": [15, 10, 5],
    "branches": {
        "default": {
            day: [
                {"kind": "staffed", "from": "09:00", "until": "12:00"},
                {"kind": "unmanned", "from": "12:00", "until": "22:00"},
            ]
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        }
    },
}


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """An aware local datetime (the schedule is in wall-clock time)."""
    return datetime(y, mo, d, h, mi, s).astimezone()


#: A Monday afternoon: unmanned hours.
UNMANNED = local(2026, 11, 23, 14, 0)
STAFFED = local(2026, 11, 23, 10, 0)
CLOSED = local(2026, 11, 23, 23, 0)


class Clock:
    """The service's clock: set or advanced by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def door_config(tmp_path: Path, *, library: dict | None = None, devices: dict | None = None, **door: Any):
    data = {
        "state_dir": str(tmp_path / "state"),
        "library": library or {"kind": "embedded", "data": "demo"},
        "devices": devices
        or {
            "patron_reader": {"url": "sim://door-controller?name=door"},
            "pinpad": {"url": "sim://door-controller?name=door"},
            "lock": {"url": "sim://door-controller?name=door"},
            "door_contact": {"url": "sim://door-controller?name=door"},
            "indicator": {"url": "sim://door-controller?name=door"},
        },
        "schedule": SCHEDULE,
        "door": {"fail_mode": "fail_secure", "release_seconds": 8, "pin_timeout_seconds": 5, "held_open_seconds": 30, **door},
        "secrets": {"pseudonym_key": {"value": PSEUDONYM_KEY}},
    }
    return parse_config(data)


class Hook:
    """A webhook receiver on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.cond = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with hook.cond:
                    hook.received.append(json.loads(body))
                    hook.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/door"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, pred, timeout: float = 10.0) -> dict:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(p) for p in self.received), timeout)
            assert ok, f"webhook not received; got {self.received}"
            return next(p for p in self.received if pred(p))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()
