"""``bibkiosk door --config`` with ``[fleet]`` and ``[metrics]``: the real command
connects out to the broker, publishes its state, serves /metrics, and says
goodbye ("offline") when stopped.  ``[fleet]`` is strict like the rest."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from kiosk.config import ConfigError, parse_config
from kiosk.fleet.broker import free_port
from kiosk.fleet.console_link import ConsoleLink

from .conftest import CONSOLE, MemorySink, b2_door_toml

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]


def door_toml(tmp: Path, fleet, metrics_port: int) -> Path:
    return b2_door_toml(tmp, fleet, device_url="sim://door-controller?name=cli",
                        roles=("patron_reader", "pinpad", "lock", "door_contact"), door=[],
                        metrics=["[metrics]", f"port = {metrics_port}"], pseudonym_key="door-cli-fleet-key-0123456789")


async def test_bibkiosk_door_with_fleet_and_metrics(fleet, tmp_path):
    sink = MemorySink()
    console = ConsoleLink(fleet.settings(CONSOLE), sink, client_id="console-door-cli")
    await console.start()
    await console.wait_connected()
    port = free_port()
    cfg = door_toml(tmp_path, fleet, port)
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "door", "--config", str(cfg)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        await sink.wait(lambda: sink.states.get(("b2", "door"), {}).get("mode") == "unmanned", timeout=30)
        assert ("b2", "door", True) in sink.statuses
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
        assert "bibkiosk_fleet_connected 1.0" in text and "bibkiosk_door_lockdown 0.0" in text
        assert oct(os.stat(tmp_path / "state" / "fleet-journal.sqlite").st_mode & 0o777) == "0o600"
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
        await sink.wait(lambda: sink.statuses[-1] == ("b2", "door", False), timeout=10)
        assert proc.returncode == 0, proc.stdout.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        await console.stop()


def test_fleet_section_is_strict(tmp_path):
    base = {"library": {"kind": "embedded", "data": "demo"}, "state_dir": str(tmp_path)}
    good = {"broker": "mqtt.example", "username": "d", "site": "b1", "device": "door"}
    assert parse_config({**base, "fleet": good}, check_secrets=False).fleet.port == 8883
    with pytest.raises(ConfigError, match=r"fleet\.brokr: unknown key"):
        parse_config({**base, "fleet": {**good, "brokr": "x"}}, check_secrets=False)
    with pytest.raises(ConfigError, match=r"fleet: .*tls = false only"):
        parse_config({**base, "fleet": {**good, "tls": False}}, check_secrets=False)
    with pytest.raises(ConfigError, match=r"fleet\.site"):
        parse_config({**base, "fleet": {**good, "site": "b1/+"}}, check_secrets=False)
