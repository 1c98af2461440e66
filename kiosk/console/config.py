"""The console's configuration: one TOML file, validated strictly like kiosk/config.py.

::

    [console]
    listen = "127.0.0.1"          # behind a reverse proxy (deploy/console/)
    port = 8080
    secure_cookies = true         # false only when served on 127.0.0.1 over plain HTTP
    language = "nl"               # default language of the pages (each staff member may choose)
    store = "sqlite:///var/lib/bibkiosk/console.sqlite"   # or postgresql://...
    lockout_attempts = 5
    lockout_minutes = 15
    session_hours = 8
    metrics_token = { env = "BIBKIOSK_CONSOLE_METRICS_TOKEN" }   # optional: /metrics needs this bearer token

    [broker]
    host = "mqtt.example.org"
    port = 8883
    username = "console"
    ca_file = "/etc/bibkiosk/mqtt-ca.pem"

    [secrets]
    broker_password = { file = "/etc/bibkiosk/console-mqtt.secret" }
    session_key = { file = "/etc/bibkiosk/console-session.secret" }

    [sites.b1]
    name = "Bibliotheek Centrum"
    pseudonym_key = { file = "/etc/bibkiosk/b1-pseudonym.secret" }   # the site's key: audit search by card
    # schedule: the same [schedule] tables as the site's own config, for "today's periods"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kiosk.config import ConfigError, SecretRef, _others_can_read, problems_from
from kiosk.fleet.topics import DEFAULT_PREFIX
from policy import Schedule

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsoleSection(_Strict):
    listen: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    secure_cookies: bool = True
    language: Literal["nl", "fr", "en"] = "nl"
    store: str = "console.sqlite"
    lockout_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    lockout_minutes: Annotated[float, Field(gt=0, le=24 * 60)] = 15
    session_hours: Annotated[float, Field(gt=0, le=24 * 7)] = 8
    command_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20
    client_id: str = Field(default="bibkiosk-console", pattern=_ID, description="MQTT client id (one per console instance)")
    metrics: bool = True
    #: when set, GET /metrics needs ``Authorization: Bearer <token>`` (Prometheus ``authorization``); 16+ characters
    metrics_token: SecretRef | None = None

    @model_validator(mode="after")
    def _plain_http_only_on_loopback(self) -> ConsoleSection:
        if not self.secure_cookies and self.listen not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("secure_cookies = false only when listening on 127.0.0.1")
        return self


class BrokerSection(_Strict):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 8883
    tls: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str = Field(min_length=1, max_length=120)
    topic_prefix: str = DEFAULT_PREFIX
    keepalive_seconds: Annotated[int, Field(ge=5, le=600)] = 30

    @model_validator(mode="after")
    def _tls(self) -> BrokerSection:
        if not self.tls and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("tls = false only for a broker on this machine (127.0.0.1)")
        return self


class SiteSection(_Strict):
    name: str = Field(min_length=1, max_length=120)
    pseudonym_key: SecretRef | None = None
    branch: str | None = None
    schedule: Schedule | None = None


class ConsoleSecrets(_Strict):
    broker_password: SecretRef | None = None
    session_key: SecretRef


class ConsoleConfig(_Strict):
    console: ConsoleSection = ConsoleSection()
    broker: BrokerSection
    secrets: ConsoleSecrets
    sites: dict[Annotated[str, Field(pattern=_ID)], SiteSection] = Field(default_factory=dict)
    source: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: Path) -> Path:
        if path.is_absolute() or self.source is None:
            return path
        return (self.source.parent / path).resolve()

    def secret_value(self, ref: SecretRef | None, name: str) -> str | None:
        if ref is None:
            return None
        where = str(self.source or "<console config>")
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                raise ConfigError(where, [(name, f"environment variable {ref.env} is not set")])
            return value
        if ref.file is not None:
            path = self.resolve(ref.file)
            try:
                if _others_can_read(path):
                    raise ConfigError(where, [(name, f"{path} is readable by others; chmod 600 it")])
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(where, [(name, f"cannot read {path}: {exc.strerror}")]) from None
        assert ref.value is not None
        if self.source is not None and _others_can_read(self.source):
            raise ConfigError(where, [(name, "an inline secret in a config file readable by others; use env or file")])
        return ref.value.get_secret_value()

    def site_key(self, site: str) -> bytes | None:
        s = self.sites.get(site)
        if s is None or s.pseudonym_key is None:
            return None
        value = self.secret_value(s.pseudonym_key, f"sites.{site}.pseudonym_key")
        return value.encode() if value else None

    def metrics_token(self) -> str | None:
        """The bearer token /metrics asks for (None: /metrics is open, for a scraper on a closed network)."""
        return self.secret_value(self.console.metrics_token, "console.metrics_token")

    def store_url(self) -> str:
        url = self.console.store
        if url.startswith(("postgresql://", "postgres://")):
            return url
        path = Path(url.removeprefix("sqlite://"))
        return str(self.resolve(path))


def parse_console_config(data: dict[str, Any], source: Path | None = None) -> ConsoleConfig:
    where = str(source) if source else "<console config>"
    try:
        cfg = ConsoleConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where, problems_from(exc)) from None
    cfg = cfg.model_copy(update={"source": source.resolve() if source else None})
    # Every secret readable now: a missing key file is a start-up error, not a 500 later.
    cfg.secret_value(cfg.secrets.session_key, "secrets.session_key")
    cfg.secret_value(cfg.secrets.broker_password, "secrets.broker_password")
    token = cfg.metrics_token()
    if token is not None and len(token) < 16:
        raise ConfigError(str(cfg.source or "<console config>"), [("console.metrics_token", "at least 16 characters")])
    for site in cfg.sites:
        cfg.site_key(site)
    return cfg


def load_console_config(path: str | os.PathLike[str]) -> ConsoleConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [("", f"not UTF-8 text ({exc.reason})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("", f"not valid TOML: {exc}")]) from None
    return parse_console_config(data, path)
