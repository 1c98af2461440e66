"""Strict configuration: every error names the file and the key path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_config, parse_config

MINIMAL = """
[library]
kind = "embedded"
data = "demo"
"""


def write(tmp_path: Path, text: str, name: str = "bibkiosk.toml", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    return exc.value.problems


def test_minimal_config_loads(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.library.kind == "embedded"
    assert config.kiosk.language == "nl"


def test_unknown_key_is_named(tmp_path):
    assert problems(tmp_path, MINIMAL + "\n[kiosk]\nidle_timout_seconds = 60\n") == [
        ("kiosk.idle_timout_seconds", "unknown key (misspelt?)")
    ]


def test_missing_required_key_is_named(tmp_path):
    found = problems(tmp_path, '[library]\nkind = "sip2"\nhost = "wise.example"\n')
    assert ("library.user", "Field required") in found


def test_wrong_type_is_named(tmp_path):
    found = problems(tmp_path, MINIMAL + '\n[kiosk]\nidle_timeout_seconds = "soon"\n')
    assert found[0][0] == "kiosk.idle_timeout_seconds"


def test_every_error_is_listed(tmp_path):
    found = problems(tmp_path, MINIMAL + '\n[kiosk]\nlanguage = "de"\nreceipt = "sometimes"\nbogus = 1\n')
    assert {p for p, _ in found} == {"kiosk.language", "kiosk.receipt", "kiosk.bogus"}


def test_door_fail_mode_is_required(tmp_path):
    found = problems(tmp_path, MINIMAL + "\n[door]\nrelease_seconds = 8\n")
    assert ("door.fail_mode", "Field required") in found


def test_device_url_needs_a_scheme(tmp_path):
    found = problems(tmp_path, MINIMAL + '\n[devices.lock]\nurl = "/dev/ttyUSB0"\n')
    assert found[0][0] == "devices.lock.url"


def test_unknown_device_role(tmp_path):
    found = problems(tmp_path, MINIMAL + '\n[devices.coffee_machine]\nurl = "sim://"\n')
    assert found == [("devices.coffee_machine", "unknown key (misspelt?)")]


def test_bad_toml_is_a_clear_error(tmp_path):
    found = problems(tmp_path, "[library\nkind=")
    assert found[0][0] == "" and "not valid TOML" in found[0][1]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.toml")
    assert "cannot read" in str(exc.value)


def test_secret_from_env(tmp_path, monkeypatch):
    config = load_config(write(tmp_path, MINIMAL + '\n[secrets.pseudonym_key]\nenv = "BK_TEST_KEY"\n'))
    monkeypatch.setenv("BK_TEST_KEY", "s3cret")
    assert config.secret("pseudonym_key") == "s3cret"
    monkeypatch.delenv("BK_TEST_KEY")
    with pytest.raises(ConfigError, match="BK_TEST_KEY is not set"):
        config.secret("pseudonym_key")


def test_secret_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "sip2.secret"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    found = problems(tmp_path, MINIMAL + '\n[secrets.sip2_password]\nfile = "sip2.secret"\n')
    assert found[0][0] == "secrets.sip2_password.file" and "readable by others" in found[0][1]
    secret.chmod(0o600)
    config = load_config(tmp_path / "bibkiosk.toml")
    assert config.secret("sip2_password") == "pw"


def test_inline_secret_in_world_readable_config_is_refused(tmp_path):
    text = MINIMAL + '\n[secrets.sip2_password]\nvalue = "pw"\n'
    with pytest.raises(ConfigError, match="inline secret"):
        load_config(write(tmp_path, text, mode=0o644))
    assert load_config(write(tmp_path, text, mode=0o600)).secret("sip2_password") == "pw"


def test_secret_needs_exactly_one_source(tmp_path):
    found = problems(tmp_path, MINIMAL + '\n[secrets.osdp_key]\nenv = "A"\nvalue = "b"\n')
    assert found == [("secrets.osdp_key", "give exactly one of env, file, value")]


def test_secret_values_do_not_leak_in_repr(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + '\n[secrets.sip2_password]\nvalue = "hunter2"\n'))
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())


def test_example_configs_are_valid():
    examples = sorted(Path(__file__).resolve().parents[2].glob("deploy/*.toml"))
    assert examples, "deploy/ has example configs"
    for path in examples:
        parse_config(__import__("tomllib").loads(path.read_text()), path, check_secrets=False)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_config_check(tmp_path):
    good = write(tmp_path, MINIMAL, "good.toml")
    result = run_cli("config", "check", str(good))
    assert result.returncode == 0 and result.stdout.strip().endswith("OK")
    bad = write(tmp_path, MINIMAL + "\n[door]\nfail_mod = 1\n", "bad.toml")
    result = run_cli("config", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}: door.fail_mod: unknown key (misspelt?)" in result.stderr
    assert f"{bad}: door.fail_mode: Field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_config_check_without_argument_is_an_error():
    result = run_cli("config", "check")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_schedule_errors_name_the_period(tmp_path):
    text = MINIMAL + """
[schedule.branches."9401"]
monday = [{ kind = "staffed", from = "10:00", until = "17:00" },
          { kind = "unmanned", from = "17:00", until = "25:99" }]
"""
    assert problems(tmp_path, text) == [("schedule.branches.9401.monday[1].until", "expected HH:MM")]


def test_policy_section_is_strict(tmp_path):
    found = problems(tmp_path, MINIMAL + "\n[policy]\nmax_charge = 5\n")
    assert found == [("policy.max_charge", "unknown key (misspelt?)")]


def test_device_urls_are_checked_against_the_drivers(tmp_path):
    text = MINIMAL + """
[devices.lock]
url = "sim://lock?colour=red"
[devices.patron_reader]
url = "nosuch:///dev/ttyS0"
[devices.printer]
url = "sim://lock"
"""
    found = dict(problems(tmp_path, text))
    assert "colour" in found["devices.lock.url"] and "valid" in found["devices.lock.url"]
    assert "nosuch" in found["devices.patron_reader.url"] and "sim" in found["devices.patron_reader.url"]
    assert "not a ReceiptPrinter" in found["devices.printer.url"]


def test_sim_devices_pass(tmp_path):
    text = MINIMAL + '''
[devices.lock]
url = "sim://lock"
[devices.item_reader]
url = "sim://rfid"
[devices.patron_reader]
url = "sim://"
extra_urls = ["serial:///dev/ttyACM0?baud=9600"]
'''
    assert load_config(write(tmp_path, text)).devices.lock.url == "sim://lock"


def test_osdp_key_comes_from_secrets(tmp_path, monkeypatch):
    text = MINIMAL + '''
[devices.pinpad]
url = "osdp:///dev/ttyUSB0?address=101"
'''
    found = dict(problems(tmp_path, text))
    assert "devices.pinpad.url" in found
    monkeypatch.setenv("BK_OSDP_KEY", "00112233445566778899aabbccddeeff")
    load_config(write(tmp_path, text + '[secrets.osdp_key]\nenv = "BK_OSDP_KEY"\n'))


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    config = load_config(write(tmp_path, 'state_dir = "state"\n' + MINIMAL))
    assert config.state_dir == (tmp_path / "state").resolve()


def test_extension_field_codes_are_the_adapters(tmp_path):
    from kiosk.adapter.fields import FieldCodes

    config = load_config(write(tmp_path, MINIMAL + '\n[library.fields]\ncharges = "ZG"\nbadges = "ZB"\n'))
    assert isinstance(config.library.fields, FieldCodes)
    assert (config.library.fields.charges, config.library.fields.badges, config.library.fields.birth_date) == ("ZG", "ZB", "PB")
    assert problems(tmp_path, MINIMAL + '\n[library.fields]\nbadges = "badge"\n')[0][0] == "library.fields.badges"


def test_branch_names_reach_the_flows(tmp_path):
    """A hold's pickup branch is shown by name: ``[kiosk.branch_names]`` reaches
    FlowSettings (before, only the demo filled it, so a real kiosk showed "9901")."""
    from kiosk.flows import FlowSettings

    config = load_config(write(tmp_path, MINIMAL + '\n[kiosk.branch_names]\n"9901" = "Centrum"\n'))
    assert FlowSettings.from_config(config).branch_names == {"9901": "Centrum"}
    found = problems(tmp_path, MINIMAL + '\n[kiosk.branch_names]\n"9901" = ""\n')
    assert found[0][0].startswith("kiosk.branch_names")


def test_help_section_is_strict_and_reaches_the_flows(tmp_path):
    """``[help]`` (#16): the call to staff needs its way out, the contact text all three languages."""
    from kiosk.config import CallStaff
    from kiosk.flows import FlowSettings

    text = MINIMAL + (
        '\n[kiosk]\npin_reset_url = "bib.example.be/pin"\n'
        '[help]\ncall_staff = "webhook"\nwebhooks = ["http://127.0.0.1:9/help"]\nphone = "09 123 45 67"\n'
        '[help.contact]\nnl = "Balie"\nfr = "Accueil"\nen = "Desk"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.help.call_staff is CallStaff.WEBHOOK and config.help.emergency_phone == "112"
    settings = FlowSettings.from_config(config)
    assert settings.pin_reset_url == "bib.example.be/pin"
    assert settings.help.phone == "09 123 45 67" and dict(settings.help.contact) == {"nl": "Balie", "fr": "Accueil", "en": "Desk"}
    assert load_config(write(tmp_path, MINIMAL)).help.call_staff is CallStaff.NONE

    assert problems(tmp_path, MINIMAL + '\n[help]\ncall_staf = "none"\n') == [("help.call_staf", "unknown key (misspelt?)")]
    found = problems(tmp_path, MINIMAL + '\n[help]\ncall_staff = "webhook"\n')
    assert found[0][0] == "help" and "webhooks" in found[0][1]
    found = problems(tmp_path, MINIMAL + '\n[help]\ncall_staff = "console"\n')
    assert "[fleet]" in found[0][1]
    found = problems(tmp_path, MINIMAL + '\n[help.contact]\nnl = "Balie"\n')
    assert {p for p, _ in found} == {"help.contact.fr", "help.contact.en"}
    found = problems(tmp_path, MINIMAL + '\n[help]\ncall_staff = "webhook"\nwebhooks = ["ftp://x"]\n')
    assert "http" in found[0][1]
    found = problems(tmp_path, MINIMAL + '\n[kiosk]\npin_reset_url = "with space"\n')
    assert found[0][0] == "kiosk.pin_reset_url"
