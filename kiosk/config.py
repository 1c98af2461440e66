"""Machine configuration: one TOML file, validated once, strictly.

An unknown or misspelt key, a wrong type or a missing required key is an
error naming the file and the key path, e.g.::

    /etc/bibkiosk/door.toml: schedule.branches.9401.monday[1].until: expected HH:MM

Secrets (the SIP2 password, the pseudonym key, the OSDP secure-channel key)
are never written in code.  Each is a table with exactly one of ``env`` (the
name of an environment variable), ``file`` (a path, relative to the config
file; refused when readable by others) or ``value`` (inline; refused when the
config file itself is readable by others).

Sections: ``[library]`` (embedded data file or a SIP2 library system),
``[devices.<role>]`` (a device URL per role), ``[policy]`` (site rules),
``[schedule]`` (opening periods), ``[kiosk]``, ``[door]``, ``[secrets]``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from kiosk.sip2.dialects import FieldCodes as Sip2Fields  # one set of codes for server and adapter
from kiosk.files import CONFIG_LIMIT, SECRET_LIMIT, read_bounded
from policy import Schedule, SiteRules


class ConfigError(Exception):
    """The configuration cannot be used.  ``problems`` lists every error found,
    each as ``(key_path, message)``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- secrets


class SecretRef(_Strict):
    """Where a secret comes from: exactly one of env, file, value."""

    env: str | None = None
    file: Path | None = None
    value: SecretStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [k for k in ("env", "file", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of env, file, value")
        return self


def _others_can_read(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH))


class Secrets(_Strict):
    pseudonym_key: SecretRef | None = None
    sip2_password: SecretRef | None = None
    sip2_terminal_password: SecretRef | None = None
    osdp_key: SecretRef | None = None
    fleet_password: SecretRef | None = None


# --------------------------------------------------------------------------- library


class WiseSettings(_Strict):
    """``[library.wise]``: what the site's OCLC Wise offers (docs/sip2.md)."""

    #: the flag of the 41 registrations request (FA, FB or FC); "" = SIP2+ is
    #: not licensed: charges are told by BV alone
    registrations: Literal["FA", "FB", "FC", ""] = "FB"
    #: a registration whose description or title holds one of these words is a
    #: replacement invoice (R4); compared case-insensitively
    replacement_invoice_words: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=lambda: ["nota", "materiaalvergoeding"]
    )


def _badge_table(value: dict[str, str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for code, name in value.items():
        key = code.strip()
        if not key or len(key) > 10 or any(c in key for c in ",;|") or not key.isprintable():
            raise ValueError(f"badge code {code!r} must be 1 to 10 printable characters without ',', ';' or '|'")
        if not name.strip() or len(name) > 50:
            raise ValueError(f"badge {code!r}: the name must be 1 to 50 characters")
        if key.casefold() in seen:
            raise ValueError(f"badge code {code!r} is given twice (codes compare case-insensitively)")
        seen[key.casefold()] = key
    return {code.strip(): name.strip() for code, name in value.items()}


class _LibraryCommon(_Strict):
    #: "wise" (OCLC Wise: GL badge codes, 41/42 registrations, AF, CL) or "standard"
    dialect: Literal["wise", "standard"] = "wise"
    #: Wise badge code -> name, for decisions, logs and ``check``
    badges: dict[str, str] = Field(default_factory=dict)
    wise: WiseSettings = WiseSettings()
    fields: Sip2Fields = Sip2Fields()
    #: the account screen asks for list entries 1..account_window (BP/BQ)
    account_window: Annotated[int, Field(ge=1, le=1000)] = 50
    #: at most this many item lookups (17) for the account screen's titles
    account_item_lookups: Annotated[int, Field(ge=0, le=200)] = 20

    @field_validator("badges")
    @classmethod
    def _check_badges(cls, value: dict[str, str]) -> dict[str, str]:
        return _badge_table(value)


class EmbeddedLibrary(_LibraryCommon):
    kind: Literal["embedded"]
    data: Path = Field(description="JSON data file of the embedded library system, or 'demo'")
    database: Path | None = Field(default=None, description="SQLite file; default: <state_dir>/library.sqlite")


class Sip2Library(_LibraryCommon):
    kind: Literal["sip2"]
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 6001
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    user: str
    institution: str = ""
    location: str = ""
    encoding: Literal["cp850", "utf-8", "latin-1", "ascii"] = "cp850"
    error_detection: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    #: below the common 60 s idle timeout of library systems; 0 = off
    keepalive_seconds: Annotated[float, Field(ge=0)] = 45.0


LibraryConfig = Annotated[EmbeddedLibrary | Sip2Library, Field(discriminator="kind")]

# --------------------------------------------------------------------------- devices


class DeviceRole(StrEnum):
    PATRON_READER = "patron_reader"
    ITEM_READER = "item_reader"
    SCANNER = "scanner"
    PINPAD = "pinpad"
    LOCK = "lock"
    DOOR_CONTACT = "door_contact"
    INDICATOR = "indicator"
    PRINTER = "printer"
    PAYMENT_TERMINAL = "payment_terminal"
    SPEECH = "speech"


class DeviceConfig(_Strict):
    url: str
    extra_urls: list[str] = Field(default_factory=list, description="more devices in the same role, e.g. a second card reader")

    @field_validator("url")
    @classmethod
    def _has_scheme(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError("expected a device URL such as serial:///dev/ttyACM0?baud=9600 or sim://")
        return v

    def urls(self) -> list[str]:
        return [self.url, *self.extra_urls]


class DevicesConfig(_Strict):
    patron_reader: DeviceConfig | None = None
    item_reader: DeviceConfig | None = None
    scanner: DeviceConfig | None = None
    pinpad: DeviceConfig | None = None
    lock: DeviceConfig | None = None
    door_contact: DeviceConfig | None = None
    indicator: DeviceConfig | None = None
    printer: DeviceConfig | None = None
    payment_terminal: DeviceConfig | None = None
    speech: DeviceConfig | None = None

    def configured(self) -> dict[DeviceRole, DeviceConfig]:
        return {DeviceRole(k): v for k, v in self if v is not None}


# --------------------------------------------------------------------------- kiosk and door


class ReceiptMode(StrEnum):
    NONE = "none"
    ASK = "ask"
    ALWAYS = "always"
    ALWAYS_ON_TIMEOUT = "always_on_timeout"


class OfflineMode(StrEnum):
    OFF = "off"
    RETURN_ONLY = "return_only"
    CHECKOUT = "checkout"


class KioskConfig(_Strict):
    branch: str | None = None
    branch_names: dict[Annotated[str, Field(min_length=1, max_length=20)], Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        default_factory=dict, description="branch code -> name patrons know, e.g. a hold's pickup branch (\"9901\" = \"Centrum\")"
    )
    language: Literal["nl", "fr", "en"] = "nl"
    idle_timeout_seconds: Annotated[int, Field(ge=30, le=3600)] = 90
    idle_warning_seconds: Annotated[int, Field(ge=20, le=600)] = 20
    receipt: ReceiptMode = ReceiptMode.ASK
    offline: OfflineMode = OfflineMode.RETURN_ONLY
    offline_item_limit: Annotated[int, Field(ge=0, le=100)] = 5
    offline_recent_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 72
    fullscreen: bool = True
    sounds: bool = True
    pin_reset_url: str | None = Field(
        default=None, pattern=r"^\S{4,200}$",
        description="where a patron resets a forgotten PIN (the library's portal), shown from the first wrong PIN on; "
                    "without it the kiosk says to ask at the desk")

    @model_validator(mode="after")
    def _warning_fits(self) -> KioskConfig:
        if self.idle_warning_seconds >= self.idle_timeout_seconds:
            raise ValueError("idle_warning_seconds must be shorter than idle_timeout_seconds")
        return self


class PaymentsConfig(_Strict):
    """Paying at the kiosk (the terminal itself is ``[devices.payment_terminal]``)."""

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    terminal_timeout_seconds: Annotated[float, Field(gt=5, le=600)] = 120.0
    webhooks: list[str] = Field(default_factory=list, description="staff alarms: a payment the library refused, or one not settled in time")
    alarm_after_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 10
    portal_url: str | None = Field(default=None, description="the library's online portal where patrons pay (told at the door in unmanned hours)")


class CallStaff(StrEnum):
    NONE = "none"
    CONSOLE = "console"  # an event on the fleet link ([fleet]): an alarm on the staff console
    WEBHOOK = "webhook"  # a JSON POST to [help] webhooks


class LocalText(_Strict):
    """A text of the library's own, in the kiosk's three languages (all three, Dutch first)."""

    nl: str = Field(min_length=1, max_length=400)
    fr: str = Field(min_length=1, max_length=400)
    en: str = Field(min_length=1, max_length=400)


class HelpConfig(_Strict):
    """The help button on every kiosk screen: what it explains, whom it calls."""

    call_staff: CallStaff = Field(default=CallStaff.NONE, description="none, console (the fleet link) or webhook")
    webhooks: list[str] = Field(default_factory=list, description="URLs a staff call is POSTed to (call_staff = \"webhook\")")
    phone: str | None = Field(default=None, min_length=3, max_length=40, description="the library's phone number")
    emergency_phone: str = Field(default="112", min_length=3, max_length=40, description="shown in unmanned hours")
    contact: LocalText | None = Field(default=None, description="contact details shown in unmanned hours (nl, fr, en)")

    @model_validator(mode="after")
    def _call_needs_a_way(self) -> HelpConfig:
        if self.call_staff is CallStaff.WEBHOOK and not self.webhooks:
            raise ValueError('call_staff = "webhook" needs at least one URL in webhooks')
        if self.webhooks and self.call_staff is not CallStaff.WEBHOOK:
            raise ValueError('webhooks are used only with call_staff = "webhook"')
        for url in self.webhooks:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhooks: {url!r} is not an http(s) URL")
        return self


class FailMode(StrEnum):
    FAIL_SECURE = "fail_secure"
    FAIL_SAFE = "fail_safe"


class StaffedEntry(StrEnum):
    FREE = "free"
    CARD = "card"


class DoorConfig(_Strict):
    branch: str | None = None
    fail_mode: FailMode = Field(description="required: what the lock does without power (fail_secure: stays locked)")
    staffed_entry: StaffedEntry = StaffedEntry.FREE
    release_seconds: Annotated[float, Field(gt=0, le=60)] = 8.0
    pin_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    held_open_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    offline_cache_days: Annotated[int, Field(ge=0, le=90)] = 7
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 28
    reader_rate_limit_per_minute: Annotated[int, Field(ge=1, le=600)] = 20
    webhooks: list[str] = Field(default_factory=list)
    announcement_sounds: Path | None = None
    closing_outputs: list[str] = Field(default_factory=list, description="device URLs switched on at a closing announcement")
    building_empty_check: bool = False
    # Added for the door controller (issue 7):
    language: Literal["nl", "fr", "en"] = Field(default="nl", description="texts when the patron's language is unknown")
    alarm_outputs: list[str] = Field(default_factory=list, description="device URLs (lock/relay or indicator) on while an alarm stands")
    sound_command: list[str] = Field(default_factory=lambda: ["aplay", "-q"], min_length=1, description="plays a WAV file given as last argument")
    exit_button_releases: bool = True
    library_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5.0, description="longest wait for the library system before the offline cache decides"
    )


_FLEET_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class FleetConfig(_Strict):
    """The fleet link (kiosk.fleet): this machine connects out to the console's MQTT broker."""

    broker: str = Field(description="broker host name")
    port: Annotated[int, Field(ge=1, le=65535)] = 8883
    tls: bool = True
    ca_file: Path | None = Field(default=None, description="CA of the broker's certificate; default: the system's")
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str = Field(min_length=1, max_length=120, description="this device's own broker account")
    site: str = Field(pattern=_FLEET_ID, description="the site (branch) id in the topics")
    device: str = Field(pattern=_FLEET_ID, description="this device's id in the topics, e.g. door-1")
    topic_prefix: str = Field(default="bibkiosk/v1", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    keepalive_seconds: Annotated[int, Field(ge=5, le=600)] = 30

    @model_validator(mode="after")
    def _tls_off_only_on_loopback(self) -> FleetConfig:
        if not self.tls and self.broker not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("tls = false only for a broker on this machine (127.0.0.1)")
        if (self.cert_file is None) != (self.key_file is None) and self.key_file is not None:
            raise ValueError("key_file without cert_file")
        return self


class MetricsConfig(_Strict):
    """Prometheus metrics (kiosk.metrics): an HTTP /metrics endpoint."""

    listen: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 9464


class Config(_Strict):
    """A whole machine's configuration."""

    state_dir: Path = Path("/var/lib/bibkiosk")
    library: LibraryConfig
    devices: DevicesConfig = DevicesConfig()
    policy: SiteRules = Field(default_factory=SiteRules)
    schedule: Schedule | None = None
    kiosk: KioskConfig = KioskConfig()
    door: DoorConfig | None = None
    payments: PaymentsConfig = PaymentsConfig()
    help: HelpConfig = HelpConfig()
    secrets: Secrets = Secrets()
    fleet: FleetConfig | None = None
    metrics: MetricsConfig | None = None

    # Where the file was read from, for resolving relative paths and secrets.
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _help_console_needs_fleet(self) -> Config:
        if self.help.call_staff is CallStaff.CONSOLE and self.fleet is None:
            raise ValueError('help.call_staff = "console" needs the [fleet] link to the staff console')
        return self

    def secret(self, name: str) -> str | None:
        """The value of secret *name* (a field of [secrets]), read now."""
        ref: SecretRef | None = getattr(self.secrets, name)
        if ref is None:
            return None
        where = str(self.source) if self.source else "<config>"
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                raise ConfigError(where, [(f"secrets.{name}.env", f"environment variable {ref.env} is not set")])
            return value
        if ref.file is not None:
            path = self.resolve(ref.file)
            try:
                if _others_can_read(path):
                    raise ConfigError(where, [(f"secrets.{name}.file", f"{path} is readable by others; chmod 600 it")])
                return read_bounded(path, SECRET_LIMIT).decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigError(where, [(f"secrets.{name}.file", f"{path} is not UTF-8 text")]) from None
            except OSError as exc:
                raise ConfigError(where, [(f"secrets.{name}.file", f"cannot read {path}: {exc.strerror}")]) from None
        assert ref.value is not None
        return ref.value.get_secret_value()

    def resolve(self, path: Path) -> Path:
        if path.is_absolute() or self.source is None:
            return path
        return (self.source.parent / path).resolve()


# --------------------------------------------------------------------------- loading


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # Discriminated unions and function validators add their own tags.
            if part in ("embedded", "sip2") and out == "library":
                continue
            if isinstance(part, str) and part.startswith(("function-", "json-or-python", "lax-or-strict")):
                continue
            out += f".{part}" if out else str(part)
    return out


def _clean(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        msg = _clean(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        problems.append((_loc(err["loc"]), msg))
    return problems


def config_warnings(config: Config) -> list[tuple[str, str]]:
    """Settings that are valid but can have no effect with this library
    system (``bibkiosk config check`` prints them; the config still loads)."""
    out: list[tuple[str, str]] = []
    lib = config.library
    rules = config.policy
    if lib.kind != "sip2":
        return out
    itemised = lib.dialect == "wise" and bool(lib.wise.registrations)
    if rules.max_charges:
        out.append((
            "policy.max_charges",
            f"a maximum per subscription type has effect only when the library system sends the patron type in field "
            f"{lib.fields.patron_type} ([library.fields] patron_type); otherwise R1 uses default_max_charges"
            + ("" if rules.default_max_charges is not None else ", which is not set: then no maximum applies"),
        ))  # fmt: skip
    if (rules.charge_age_days or rules.default_charge_age_days is not None) and not itemised:
        out.append((
            "policy.charge_age_days" if rules.charge_age_days else "policy.default_charge_age_days",
            "charge age (R3) needs dated charges: the 41/42 registrations ([library] dialect = \"wise\" with "
            f"[library.wise] registrations) or field {lib.fields.charges}; BV alone has no dates",
        ))  # fmt: skip
    return out


def parse_config(data: dict[str, Any], source: Path | None = None, *, check_secrets: bool = True) -> Config:
    """Validate *data* (a parsed TOML document).  With ``check_secrets`` the
    secret files must exist here and be private (off for checking a config
    meant for another machine)."""
    where = str(source) if source else "<config>"
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where, problems_from(exc)) from None
    config = config.model_copy(update={"source": source.resolve() if source else None})
    # Relative paths are relative to the config file, wherever the process runs.
    config = config.model_copy(update={"state_dir": config.resolve(config.state_dir)})
    if check_secrets:
        _check_secret_files(config, where)
    _check_devices(config, where, read_secrets=check_secrets)
    return config


#: Device kinds (devices.base.KINDS names) that may serve each role.
ROLE_KINDS: dict[DeviceRole, tuple[str, ...]] = {
    DeviceRole.PATRON_READER: ("patron", "scanner"),
    DeviceRole.ITEM_READER: ("rfid",),
    DeviceRole.SCANNER: ("scanner",),
    DeviceRole.PINPAD: ("pinpad",),
    DeviceRole.LOCK: ("lock",),
    DeviceRole.DOOR_CONTACT: ("door",),
    DeviceRole.INDICATOR: ("indicator",),
    DeviceRole.PRINTER: ("printer",),
    DeviceRole.PAYMENT_TERMINAL: ("payment",),
    DeviceRole.SPEECH: ("tts",),
}


def device_options(config: Config, url: str, *, read_secrets: bool = True) -> dict[str, Any]:
    """Keyword options the application adds to a device URL: the OSDP
    secure-channel key from ``[secrets] osdp_key`` (never written in a URL)."""
    extra: dict[str, Any] = {}
    if url.startswith("osdp:") and config.secrets.osdp_key is not None and "scbk" not in url:
        # Checked for another machine: a well-formed stand-in, never used.
        extra["scbk"] = config.secret("osdp_key") if read_secrets else "0" * 32
    return extra


def _check_devices(config: Config, where: str, *, read_secrets: bool = True) -> None:
    """Build (never open) every configured device as the kind its role needs:
    an unknown scheme or option, a bad option value or a device of the wrong
    kind is reported at its key path.  Drivers do no I/O in their constructor."""
    from devices.errors import DeviceError
    from devices.registry import open_device

    problems = []
    for role, device in config.devices.configured().items():
        for index, url in enumerate(device.urls()):
            path = f"devices.{role.value}.url" if index == 0 else f"devices.{role.value}.extra_urls[{index - 1}]"
            errors = []
            for kind in ROLE_KINDS[role]:
                try:
                    open_device(url, kind=kind, **device_options(config, url, read_secrets=read_secrets))
                    break
                except DeviceError as exc:
                    errors.append(str(exc))
            else:
                problems.append((path, errors[0] if len(set(errors)) == 1 else "; or ".join(errors)))
    if problems:
        raise ConfigError(where, problems)


def _check_secret_files(config: Config, where: str) -> None:
    problems = []
    for name, ref in config.secrets:
        if ref is None:
            continue
        if ref.file is not None:
            path = config.resolve(ref.file)
            if not path.exists():
                problems.append((f"secrets.{name}.file", f"{path} does not exist"))
            elif _others_can_read(path):
                problems.append((f"secrets.{name}.file", f"{path} is readable by others; chmod 600 it"))
        if ref.value is not None and config.source is not None and _others_can_read(config.source):
            problems.append((f"secrets.{name}.value", "an inline secret in a config file readable by others; use env or file"))
    if problems:
        raise ConfigError(where, problems)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate *path*; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = read_bounded(path, CONFIG_LIMIT)
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("", f"not valid TOML: {exc}")]) from None
    return parse_config(data, path)
