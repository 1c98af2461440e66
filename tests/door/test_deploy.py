"""deploy/: the example door config passes `bibkiosk config check`; the units are
hardened Type=notify services whose command lines parse; the udev rules are well formed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import build_parser
from kiosk.config import load_config
from kiosk.door.service import DoorService

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def door_toml(tmp_path: Path) -> Path:
    """deploy/door.toml with the OSDP key file at a temporary path (it lives in /etc/bibkiosk on a door)."""
    key = tmp_path / "osdp.key"
    key.write_text("00112233445566778899AABBCCDDEEFF\n")
    key.chmod(0o600)
    cfg = tmp_path / "door.toml"
    cfg.write_text((DEPLOY / "door.toml").read_text().replace("/etc/bibkiosk/osdp.key", str(key)))
    cfg.chmod(0o600)
    return cfg


def test_example_door_config_passes_config_check(tmp_path):
    cfg = door_toml(tmp_path)
    r = subprocess.run([sys.executable, "-m", "kiosk", "config", "check", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stderr


def test_example_door_config_builds_a_door_service(tmp_path, monkeypatch):
    monkeypatch.setenv("BIBKIOSK_PSEUDONYM_KEY", "k" * 64)
    config = load_config(door_toml(tmp_path))
    assert config.door.fail_mode.value == "fail_secure"
    svc = DoorService(config)  # no I/O: checks the schedule branch, the key
    assert svc.branch == "9401"


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_three_units():
    assert [u.name for u in UNITS] == [
        "bibkiosk-console.service", "bibkiosk-door.service", "bibkiosk-kiosk.service", "bibkiosk-library.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_are_hardened_notify_services(unit):
    s = unit_settings(unit)
    assert s["Type"] == ["notify"] and int(s["WatchdogSec"][0]) > 0
    for key, value in {
        "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/bibkiosk", "StandardOutput": "journal", "StandardError": "journal",
        "User": "bibkiosk", "Restart": "always",
    }.items():
        assert s.get(key) == [value], (unit.name, key)
    assert s["CapabilityBoundingSet"] == [""]


def test_door_unit_groups_and_command_line():
    s = unit_settings(DEPLOY / "systemd" / "bibkiosk-door.service")
    assert set(s["SupplementaryGroups"][0].split()) == {"dialout", "plugdev", "audio", "input"}
    argv = shlex.split(s["ExecStart"][0])[1:]
    args = build_parser().parse_args(argv)
    from kiosk.door.cli import _run

    assert args.command == "door" and args.config == "/etc/bibkiosk/door.toml" and args.func is _run


def test_door_unit_relocks_before_start_and_after_stop():
    """ExecStartPre= and ExecStopPost= run `door relock` (failures ignored: "-"), the same config."""
    from kiosk.door.cli import _relock

    s = unit_settings(DEPLOY / "systemd" / "bibkiosk-door.service")
    for key, after_stop in (("ExecStartPre", False), ("ExecStopPost", True)):
        (line,) = s[key]
        assert line.startswith("-/opt/bibkiosk/.venv/bin/bibkiosk ")
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.func is _relock and args.door_action == "relock"
        assert args.config == "/etc/bibkiosk/door.toml" and args.after_stop is after_stop


def test_library_unit_command_line():
    s = unit_settings(DEPLOY / "systemd" / "bibkiosk-library.service")
    args = build_parser().parse_args(shlex.split(s["ExecStart"][0])[1:])
    assert args.command == "library" and args.host == "127.0.0.1"


def test_units_verify_with_systemd_analyze(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd): cannot verify the units", pytrace=False)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/bibkiosk/.venv/bin/bibkiosk", "/bin/true"))
    r = subprocess.run([tool, "verify", "--man=no", *(str(tmp_path / u.name) for u in UNITS)],
                       capture_output=True, text=True, timeout=120)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert r.returncode == 0 and not problems, problems


_RULE_PART = re.compile(r'^(?:[A-Z_]+(?:\{[A-Za-z0-9_]+\})?)(==|!=|=|\+=|-=|:=)"[^"]*"$')


def test_udev_rules_are_well_formed():
    rules = (DEPLOY / "udev" / "70-bibkiosk.rules").read_text().splitlines()
    count = 0
    for number, line in enumerate(rules, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(", ")]
        for part in parts:
            assert _RULE_PART.match(part), f"line {number}: {part!r}"
        assert any("==" in p for p in parts) and any(re.match(r"^(GROUP|MODE|SYMLINK|ENV|ATTR)", p) and "==" not in p for p in parts)
        count += 1
    text = "\n".join(rules)
    for vendor in ("1a86", "0403", "0c2e"):  # relays, RS-485 (OSDP) adapters, scanners
        assert vendor in text
    assert count >= 10
