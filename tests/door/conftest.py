"""Fixtures for the door tests: config, an injectable clock, sim devices, a webhook receiver."""

from __future__ import annotations

import asyncio
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


# --------------------------------------------------------------------------- privacy

#: Card numbers, PINs and names used by the door tests; no log line of the
#: whole run (and no audit journal) may contain any of them.
SECRETS: set[str] = set()
LOG_FILE: dict[str, Path] = {}


def register_secrets(*values: str) -> None:
    SECRETS.update(v for v in values if v)


def find_secrets(text: str) -> list[str]:
    """The registered secrets found in *text*; digit strings only as whole numbers."""
    import re

    found = []
    for secret in SECRETS:
        if secret.isdigit():
            if re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", text):
                found.append(secret)
        elif secret in text:
            found.append(secret)
    return found


@pytest.fixture(scope="package", autouse=True)
def _door_log_capture(tmp_path_factory):
    """Every log record of the door tests (DEBUG and up, every logger: door,
    devices, SIP2, library, adapter) goes to one file; after the last door test
    it is grepped for card numbers, PINs and names."""
    import logging

    path = tmp_path_factory.mktemp("door-logs") / "all.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    LOG_FILE["path"] = path
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()
    text = path.read_text(encoding="utf-8", errors="replace")
    leaked = find_secrets(text)
    assert not leaked, f"card numbers / PINs / names in the door test logs ({path}): {sorted(leaked)}"


async def enter_any(svc, card, pin, timeout: float = 15.0):
    """Tap; type the PIN if one is asked before the door answers (a store that cannot
    hold the attempt refuses at the card, before any prompt)."""
    from devices import sim

    sim.tap_card(card, name="door")
    asked = asyncio.ensure_future(svc.pin_asked(timeout))
    outcome = asyncio.ensure_future(svc.next_outcome(timeout))
    await asyncio.wait({asked, outcome}, return_when=asyncio.FIRST_COMPLETED)
    if asked.done() and not outcome.done():
        sim.press_keys(pin + "#", name="door")
    else:
        asked.cancel()
    return await outcome
