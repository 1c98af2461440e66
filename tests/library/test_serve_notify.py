"""`bibkiosk library serve` under systemd's notify protocol (Type=notify + WatchdogSec)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_library_serve_notifies_ready_watchdog_and_stopping(tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "library", "serve", "--demo", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        messages: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 2:
            messages.append(sock.recv(4096).decode())
        assert any("READY=1" in m for m in messages), messages
        assert sum("WATCHDOG=1" in m for m in messages) >= 2, messages
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        while True:
            try:
                sock.settimeout(1)
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                break
        assert any("STOPPING=1" in m for m in messages), messages
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
