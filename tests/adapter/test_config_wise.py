"""The [library] keys of the Wise dialect, exactly as issue 13 names them,
validated strictly; warnings for settings that can have no effect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.adapter import EmbeddedLibrarySystem, Sip2LibrarySystem, library_system_from_config
from kiosk.config import ConfigError, config_warnings, parse_config

BASE = {"kind": "sip2", "host": "wise.example", "user": "ZUS-1"}


def cfg(library=None, policy=None):
    data = {"library": {**BASE, **(library or {})}}
    if policy is not None:
        data["policy"] = policy
    return parse_config(data, check_secrets=False)


def test_wise_is_the_default_dialect_with_the_documented_keys():
    lib = cfg().library
    assert lib.dialect == "wise" and lib.badges == {} and lib.wise.registrations == "FB"
    assert lib.wise.replacement_invoice_words == ["nota", "materiaalvergoeding"]
    assert lib.keepalive_seconds == 45 and lib.account_window == 50
    lib = cfg({"dialect": "standard", "badges": {"OBOU": "Onbemande openingsuren"},
               "wise": {"registrations": "", "replacement_invoice_words": ["nota"]}}).library  # fmt: skip
    assert (lib.dialect, lib.badges, lib.wise.registrations) == ("standard", {"OBOU": "Onbemande openingsuren"}, "")
    system = library_system_from_config(cfg({"dialect": "standard"}))
    assert isinstance(system, Sip2LibrarySystem) and system.dialect.name == "standard" and system.registrations_flag == ""
    embedded = library_system_from_config(parse_config({"library": {"kind": "embedded", "data": "demo"}}, check_secrets=False))
    assert isinstance(embedded, EmbeddedLibrarySystem) and embedded.dialect.name == "wise"


@pytest.mark.parametrize(
    "library, where",
    [
        ({"dialect": "wize"}, "library.dialect"),
        ({"wise": {"registration": "FB"}}, "library.wise.registration"),
        ({"wise": {"registrations": "FD"}}, "library.wise.registrations"),
        ({"badges": {"OB;OU": "x"}}, "library.badges"),
        ({"badges": {"OBOU": ""}}, "library.badges"),
        ({"badges": {"OBOU": "a", "obou": "b"}}, "library.badges"),
        ({"account_window": 0}, "library.account_window"),
    ],
)
def test_wise_keys_are_strict(library, where):
    with pytest.raises(ConfigError) as info:
        cfg(library)
    assert [p for p, _ in info.value.problems] == [where]


def test_unmanned_badge_by_code_or_name_is_accepted():
    assert cfg(policy={"unmanned_badge": "OBOU"}).policy.unmanned_badge == "OBOU"


def test_warnings_for_settings_without_effect():
    quiet = cfg(policy={"default_max_charges": 10.0, "default_charge_age_days": 30})
    assert config_warnings(quiet) == []
    per_type = cfg(policy={"max_charges": {"53": 10.0}})
    ((path, msg),) = config_warnings(per_type)
    assert path == "policy.max_charges" and "patron type in field PC" in msg and "no maximum applies" in msg
    no_dates = cfg({"wise": {"registrations": ""}}, {"default_charge_age_days": 30})
    ((path, msg),) = config_warnings(no_dates)
    assert path == "policy.default_charge_age_days" and "BV alone has no dates" in msg
    assert config_warnings(cfg({"dialect": "standard"}, {"charge_age_days": {"9401": 60}}))[0][0] == "policy.charge_age_days"


def test_config_check_prints_the_warnings(tmp_path: Path):
    path = tmp_path / "k.toml"
    path.write_text('[library]\nkind = "sip2"\nhost = "h"\nuser = "u"\n[library.wise]\nregistrations = ""\n'
                    "[policy]\ndefault_charge_age_days = 30\n[policy.max_charges]\n\"53\" = 10.0\n")  # fmt: skip
    os.chmod(path, 0o600)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-m", "kiosk", "config", "check", str(path)], capture_output=True,
                            text=True, env=env, timeout=60)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip().endswith("OK")
    assert f"{path}: warning: policy.max_charges:" in result.stdout
    assert f"{path}: warning: policy.default_charge_age_days:" in result.stdout
