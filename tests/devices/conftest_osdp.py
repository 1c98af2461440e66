"""A real OSDP bus for the tests: a socat pty pair and a libosdp PD in a second process.

Import into a test module::

    from tests.devices.conftest_osdp import osdp_bus, osdp_key, pd  # noqa: F401

``osdp_bus``: ``socat pty,raw,echo=0,link=DIR/cp pty,raw,echo=0,link=DIR/pd``
(the control panel opens ``DIR/cp``, the PD ``DIR/pd``); stopping and
starting it unplugs and replugs the line at the same paths.
``pd``: :class:`PdProcess` running ``tests/devices/osdp_pd.py`` with the
test key (secure channel enforced); it reports every command it receives.
A missing socat or libosdp is a FAILURE, not a skip.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["OsdpBus", "PdProcess", "TEST_KEY", "osdp_bus", "osdp_key", "pd"]

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


class OsdpBus:
    """A pty pair made by socat, with stable symlinks for both ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cp_path = workdir / "cp"
        self.pd_path = workdir / "pd"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("socat") is None:
            pytest.fail("socat is not installed (apt-get install socat): the OSDP tests need a real pty pair", pytrace=False)
        self.proc = subprocess.Popen(
            [
                "socat",
                f"pty,raw,echo=0,link={self.cp_path}",
                f"pty,raw,echo=0,link={self.pd_path}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.cp_path.exists() and self.pd_path.exists():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        pytest.fail("socat did not create the pty pair", pytrace=False)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for path in (self.cp_path, self.pd_path):
            try:
                path.unlink()
            except OSError:
                pass

    @property
    def url_path(self) -> str:
        return str(self.cp_path)


class PdProcess:
    """``tests/devices/osdp_pd.py`` in its own process; JSON lines over its stdin/stdout."""

    def __init__(self, bus: OsdpBus, *, address: int = 101, key: bytes | None = TEST_KEY, install: bool = False,
                 display: bool = True) -> None:
        self.display = display
        self.bus = bus
        self.address = address
        self.key = key
        self.install = install
        self.key_file = bus.workdir / f"pd{address}.key"
        self.proc: subprocess.Popen[str] | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []

    def start(self) -> None:
        try:
            import osdp  # noqa: F401
        except ImportError:
            pytest.fail("libosdp is not installed (pip install 'bibkiosk[osdp]')", pytrace=False)
        args = [sys.executable, "-m", "tests.devices.osdp_pd", "--port", str(self.bus.pd_path), "--address", str(self.address)]
        if not self.display:
            args.append("--no-display")
        if self.install:
            args += ["--install", "--key-file", str(self.key_file)]
        elif self.key is not None:
            args += ["--key", self.key.hex()]
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
        self.expect(lambda ev: ev["ev"] == "ready", 10)

    def _reader(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.seen.append(event)
            self.events.put(event)

    def send(self, **msg: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def card(self, data: bytes, bits: int) -> None:
        self.send(op="card", data=data.hex(), bits=bits)

    def keys(self, keys: str) -> None:
        self.send(op="keys", data=keys)

    def inputs(self, *report: int) -> None:
        self.send(op="inputs", report=list(report))

    def expect(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The next event matching *predicate* (others are skipped); fails after *timeout*."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the PD did not report the expected event in {timeout} s; seen: {self.seen[-10:]}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("ev") == "error":
                pytest.fail(f"the PD reported an error: {event}")
            if predicate(event):
                return event

    def command(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        return self.expect(lambda ev: ev["ev"] == "command" and ev["command"] == name, timeout)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                proc.stdin.flush()
                proc.wait(3)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def kill(self) -> None:
        """The PD dies at once (power cut, cable cut)."""
        if self.proc is not None:
            os.kill(self.proc.pid, 9)
            self.proc.wait(5)
            self.stop()


@pytest.fixture
def osdp_bus(tmp_path: Path):
    bus = OsdpBus(tmp_path)
    bus.start()
    yield bus
    bus.stop()


@pytest.fixture
def osdp_key() -> bytes:
    return TEST_KEY


@pytest.fixture
def pd(osdp_bus: OsdpBus):
    process = PdProcess(osdp_bus)
    process.start()
    yield process
    process.stop()
