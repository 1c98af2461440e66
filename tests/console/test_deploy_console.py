"""deploy/ for the console: the example config validates, the alert rules and the
scrape config name real metrics, the proxy does not buffer the live updates,
the example ACL is what mosquitto_acl generates."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.console.config import parse_console_config
from kiosk.fleet.topics import mosquitto_acl

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_example_console_config_validates(tmp_path):
    import tomllib

    text = (DEPLOY / "console" / "console.toml").read_text()
    for path in set(re.findall(r'file = "(/etc/bibkiosk/[^"]+)"', text)):
        local = tmp_path / Path(path).name
        local.write_text("x" * 40)
        local.chmod(0o600)
        text = text.replace(path, str(local))
    cfg = parse_console_config(tomllib.loads(text))
    assert set(cfg.sites) == {"centrum", "noord"} and cfg.console.secure_cookies
    assert cfg.metrics_token() == "x" * 40


def test_the_scrape_config_sends_the_console_metrics_token():
    prom = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    job = prom[prom.index("job_name: bibkiosk-console"):]
    job = job[:job.index("static_configs")]
    assert re.search(r"\n    authorization:\n      type: Bearer\n      credentials_file: /etc/\S+\n", job), job
    assert "metrics_token" in (DEPLOY / "console" / "console.toml").read_text()


def test_alert_rules_use_real_metrics():
    import kiosk.metrics as metrics

    source = Path(metrics.__file__).read_text()
    rules = (DEPLOY / "prometheus" / "bibkiosk-alerts.yml").read_text()
    names = set(re.findall(r"\b(bibkiosk_[a-z_]+)\b", rules))
    assert {"bibkiosk_door_alarm", "bibkiosk_console_site_online", "bibkiosk_library_up"} <= names
    for name in names:
        assert f'"{name}"' in source or f'"{name.removesuffix("_total")}"' in source, name
    for alert in ("BibkioskDoorHeldOpen", "BibkioskSiteOffline", "BibkioskLibraryLinkDown"):
        assert f"alert: {alert}" in rules
    assert "bibkiosk-alerts.yml" in (DEPLOY / "prometheus" / "prometheus.yml").read_text()


def test_proxy_streams_events_unbuffered():
    conf = (DEPLOY / "console" / "nginx.conf").read_text()
    block = conf[conf.index("location = /events"):]
    block = block[:block.index("}")]
    assert "proxy_buffering off" in block and "proxy_read_timeout" in block


def test_example_acl_matches_the_generator():
    example = (DEPLOY / "mosquitto" / "bibkiosk.acl").read_text()
    generated = mosquitto_acl([("centrum-door", "centrum", "door"), ("centrum-kiosk", "centrum", "kiosk")], ["console"])
    body = lambda t: [line for line in t.splitlines() if line and not line.startswith("#")]  # noqa: E731
    assert body(example) == body(generated)
