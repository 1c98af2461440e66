"""`bibkiosk kiosk --config FILE` and `bibkiosk demo`, as subprocesses
rendering offscreen (first frame, then exit), and their error paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "SDL_AUDIODRIVER": "dummy", "KIVY_NO_ARGS": "1",
       "BIBKIOSK_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef"}


def bibkiosk(*args: str, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=ROOT, env=env or ENV,
                          capture_output=True, text=True, timeout=timeout)


def kiosk_config(tmp_path: Path, **extra: str) -> Path:
    cfg = tmp_path / "kiosk.toml"
    cfg.write_text(f"""
state_dir = "{tmp_path / 'state'}"
[library]
kind = "embedded"
data = "demo"
[devices.patron_reader]
url = "sim://patron"
[devices.item_reader]
url = "sim://rfid"
[devices.printer]
url = "sim://printer"
[kiosk]
fullscreen = false
sounds = false
[secrets.pseudonym_key]
env = "{extra.get('key_env', 'BIBKIOSK_PSEUDONYM_KEY')}"
""")
    return cfg


def test_demo_starts_and_draws(tmp_path):
    out = bibkiosk("demo", "--state-dir", str(tmp_path), "--exit-after-first-frame")
    assert out.returncode == 0, out.stderr
    assert "first frame after" in out.stdout
    assert "Traceback" not in out.stderr
    assert (tmp_path / "kiosk-journal.sqlite").exists()


def test_kiosk_with_config_starts_and_draws(tmp_path):
    out = bibkiosk("kiosk", "--config", str(kiosk_config(tmp_path)), "--windowed", "--exit-after-first-frame")
    assert out.returncode == 0, out.stderr
    assert "first frame after" in out.stdout
    assert (tmp_path / "state" / "kiosk-journal.sqlite").exists()


def test_kiosk_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[library]\nkind = "embedded"\ndata = "demo"\n[kiosk]\nidle_timeout_secnds = 5\n')
    out = bibkiosk("kiosk", "--config", str(bad))
    assert out.returncode == 2
    assert "kiosk.idle_timeout_secnds" in out.stderr and "Traceback" not in out.stderr


def test_kiosk_needs_the_pseudonym_key(tmp_path):
    out = bibkiosk("kiosk", "--config", str(kiosk_config(tmp_path, key_env="NO_SUCH_VARIABLE_HERE")))
    assert out.returncode == 2 and "NO_SUCH_VARIABLE_HERE" in out.stderr and "Traceback" not in out.stderr


def test_bad_size_is_a_clear_error():
    out = bibkiosk("demo", "--size", "huge")
    assert out.returncode == 2 and "--size" in out.stderr and "Traceback" not in out.stderr


def test_example_config_passes_config_check():
    out = bibkiosk("config", "check", "deploy/kiosk.toml")
    assert out.returncode == 0, out.stderr


def test_kiosk_tells_systemd_when_it_is_drawn(tmp_path):
    """Type=notify: READY=1 once the first frame is on screen, STOPPING=1 at the end."""
    import socket

    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        env = {**ENV, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "30000000"}
        out = bibkiosk("kiosk", "--config", str(kiosk_config(tmp_path)), "--windowed", "--exit-after-first-frame", env=env)
        assert out.returncode == 0, out.stderr
        sock.settimeout(1)
        messages = []
        try:
            while True:
                messages.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
    assert any("READY=1" in m for m in messages), messages
    assert any("STOPPING=1" in m for m in messages), messages
    assert [i for i, m in enumerate(messages) if "READY=1" in m][0] < [i for i, m in enumerate(messages) if "STOPPING=1" in m][0]
