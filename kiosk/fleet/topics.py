"""Topic layout and message shapes of the fleet link (see docs/console.md).

Every door and kiosk is a *device* of a *site* (a branch).  Under the prefix
(default ``bibkiosk/v1``)::

    <prefix>/<site>/<device>/status   retained  "online" / "offline" (last will)
    <prefix>/<site>/<device>/state    retained  JSON: the device's current state
    <prefix>/<site>/<device>/event    QoS 1     JSON: one event, with a unique "id"
    <prefix>/<site>/<device>/cmd      QoS 1     JSON: a command from the console
    <prefix>/<site>/<device>/reply    QoS 1     JSON: the answer to one command

Devices write status/state/event/reply of their own topics only and read their
own ``cmd``; only the console's account writes ``cmd`` (broker ACL, see
:func:`mosquitto_acl`).  No card number, PIN or name is ever published by a
device: events carry the keyed hash (``card:<hex>``) of :mod:`kiosk.privacy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kiosk.fleet.errors import BadMessage

DEFAULT_PREFIX = "bibkiosk/v1"
KINDS = ("status", "state", "event", "cmd", "reply")
#: Site and device ids: what may stand in a topic level and a broker user name.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
COMMANDS = ("release", "lockdown", "resume", "end_unmanned", "check")
#: Commands that change the door: operator role at the console.
DOOR_COMMANDS = ("release", "lockdown", "resume", "end_unmanned")
MAX_PAYLOAD = 64 * 1024


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValueError(f"{what} {value!r}: letters, digits, '_', '.', '-' only (at most 63, no '/', '+', '#')")
    return value


def topic(prefix: str, site: str, device: str, kind: str) -> str:
    assert kind in KINDS
    return f"{prefix}/{site}/{device}/{kind}"


@dataclass(frozen=True, slots=True)
class TopicName:
    site: str
    device: str
    kind: str


def parse_topic(prefix: str, name: str) -> TopicName:
    """Split a topic of the layout; BadMessage for anything else."""
    if not name.startswith(prefix + "/"):
        raise BadMessage(f"topic outside {prefix}: {name[:80]!r}")
    parts = name[len(prefix) + 1:].split("/")
    if len(parts) != 3 or parts[2] not in KINDS or not all(ID_PATTERN.match(p) for p in parts[:2]):
        raise BadMessage(f"not a fleet topic: {name[:80]!r}")
    return TopicName(parts[0], parts[1], parts[2])


def now_iso(at: datetime | None = None) -> str:
    return (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise BadMessage("time: expected an ISO 8601 string")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadMessage(f"time {text[:40]!r}: not ISO 8601") from None
    if value.tzinfo is None:
        raise BadMessage(f"time {text[:40]!r}: no UTC offset")
    return value


def decode(payload: bytes | bytearray | str) -> dict[str, Any]:
    """One JSON object, at most MAX_PAYLOAD bytes; BadMessage otherwise."""
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) > MAX_PAYLOAD:
        raise BadMessage(f"message of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    try:
        value = json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadMessage("expected a JSON object")
    return value


def encode(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True, slots=True)
class Command:
    """A command from the console, as validated by the device."""

    id: str
    action: str
    staff: str
    reason: str
    at: datetime
    expires: datetime
    args: dict[str, Any]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Command:
        def text(key: str, limit: int, required: bool = True) -> str:
            value = data.get(key)
            if value is None and not required:
                return ""
            if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
                raise BadMessage(f"command {key}: expected a non-empty string of at most {limit} characters")
            return value.strip()

        cid = text("id", 64)
        if not re.match(r"^[A-Za-z0-9_-]+$", cid):
            raise BadMessage("command id: letters, digits, '_' and '-' only")
        action = text("action", 32)
        if action not in COMMANDS:
            raise BadMessage(f"command action {action!r}: one of {', '.join(COMMANDS)}")
        args = data.get("args", {})
        if not isinstance(args, dict):
            raise BadMessage("command args: expected an object")
        return cls(
            id=cid, action=action, staff=text("staff", 120), reason=text("reason", 500),
            at=parse_time(data.get("at")), expires=parse_time(data.get("expires")), args=dict(args),
        )


def mosquitto_acl(devices: Iterable[tuple[str, str, str]], consoles: Iterable[str], prefix: str = DEFAULT_PREFIX) -> str:
    """A Mosquitto ACL file: *devices* are ``(user, site, device)``, *consoles* user names.

    A device writes its own status/state/event/reply and reads its own cmd; a
    console reads every device's status/state/event/reply and alone writes cmd.
    """
    lines = ["# bibkiosk fleet ACL (generated; see docs/console.md)", ""]
    for user in consoles:
        lines += [f"user {user}"]
        for kind in ("status", "state", "event", "reply"):
            lines.append(f"topic read {prefix}/+/+/{kind}")
        lines += [f"topic write {prefix}/+/+/cmd", ""]
    for user, site, device in devices:
        base = f"{prefix}/{check_id(site, 'site')}/{check_id(device, 'device')}"
        lines += [f"user {user}"]
        for kind in ("status", "state", "event", "reply"):
            lines.append(f"topic write {base}/{kind}")
        lines += [f"topic read {base}/cmd", ""]
    return "\n".join(lines)
