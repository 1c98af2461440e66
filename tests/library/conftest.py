"""Fixtures: the demo library system served over real SIP2, in-process or
as a `bibkiosk library serve` subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from kiosk.adapter import Sip2LibrarySystem
from kiosk.library.datafile import load_data
from kiosk.library.server import LibraryServer
from kiosk.library.store import Store
from kiosk.sip2.client import ClientSettings, Sip2Client

#: The demo data's "today" in these tests (the demo's dates are chosen around it).
NOW = datetime(2026, 11, 23, 12, 0).astimezone()
REPO = Path(__file__).resolve().parents[2]


def settings_for(port: int, *, user: str = "kiosk1", password: str = "kiosk1", **kw) -> ClientSettings:
    values = dict(
        port=port,
        user=user,
        password=SecretStr(password),
        institution="9999",
        location="9901",
        keepalive_seconds=None,
        timeout=10,
    )
    values.update(kw)
    return ClientSettings(**values)


@pytest.fixture
async def demo_server(tmp_path):
    store = Store.create(tmp_path / "library.sqlite", load_data("demo"))
    server = LibraryServer(store, clock=lambda: NOW)
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()
    store.close()


@pytest.fixture
async def client(demo_server):
    async with Sip2Client(settings_for(demo_server.port)) as c:
        yield c


@pytest.fixture
async def library(demo_server):
    # The embedded library speaks Wise (its extended dialect): read it as such.
    system = Sip2LibrarySystem(settings_for(demo_server.port), dialect="wise", badges=demo_server.store.badge_map())
    async with system:
        yield system


class ServeProcess:
    """`bibkiosk library serve` in a subprocess, on a free port."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        cmd = [sys.executable, "-m", "kiosk", "library", "serve", "--port", "0", *args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd or REPO, env=env
        )
        line = self.proc.stdout.readline()
        match = re.search(r"serving SIP2 on [\d.]+:(\d+)", line)
        if not match:
            self.proc.kill()
            err = self.proc.stderr.read()
            raise RuntimeError(f"library serve did not start: {line!r} {err!r}")
        self.port = int(match.group(1))

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return self.proc.returncode


@pytest.fixture
def serve_process():
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        proc = ServeProcess(*args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
