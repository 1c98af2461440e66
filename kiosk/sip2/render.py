"""Turn messages into JSON-ready dicts and readable text, and judge answers.

Used by ``bibkiosk sip2`` and handy for journals and debugging.  These
functions show every value, personal data included: they are for a staff
member's terminal, never for log lines (use :func:`redact_frame` there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .codec import sip2_datetime
from .messages import (
    K_BOOL,
    K_DATE,
    K_LIST,
    K_STATUS,
    K_SUMMARY,
    K_VDATE,
    K_VINT,
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    EndSessionResponse,
    FeePaidResponse,
    HoldResponse,
    ItemStatusUpdateResponse,
    LoginResponse,
    Message,
    PatronInformationResponse,
    PatronStatusResponse,
    RenewAllResponse,
    RenewResponse,
    RequestScResend,
    UnknownMessage,
)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(v.name.lower() for v in value)
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "to_wire"):
        return value.to_wire()
    return value


def _wire_value(spec, value: Any) -> str:
    if spec.kind == K_BOOL:
        return "Y" if value else "N"
    if spec.kind == K_VINT:
        return str(value).zfill(spec.width)
    if spec.kind == K_VDATE:
        return sip2_datetime(value)
    return value


def message_to_dict(msg: Message) -> dict[str, Any]:
    """``{"command", "name", "fixed", "fields", "flags"}``: fixed fields by
    name (dates in ISO 8601), variable fields by their two-letter codes (a
    list when the field repeats), and the patron status flags by name."""
    out: dict[str, Any] = {"command": msg.command_code, "name": type(msg).__name__}
    if isinstance(msg, UnknownMessage):
        out["body"] = msg.body
        out["fields"] = {}
        for code, value in msg.fields():
            _add(out["fields"], code, value)
        return out
    fixed: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    for spec in msg.FIXED:
        value = getattr(msg, spec.name)
        if spec.kind == K_STATUS:
            flags.update(value.as_dict())
        if spec.kind == K_SUMMARY:
            fixed[spec.name] = _json_value(value)
        elif spec.kind == K_DATE:
            fixed[spec.name] = value.isoformat() if value is not None else None
        else:
            fixed[spec.name] = _json_value(value)
    for spec in msg.VARIABLE:
        value = getattr(msg, spec.name)
        if spec.kind == K_LIST:
            if value:
                fields[spec.code] = list(value)
        elif value is not None:
            fields[spec.code] = _wire_value(spec, value)
    for code, value in msg.extra_fields:
        _add(fields, code, value)
    out["fixed"] = fixed
    out["fields"] = fields
    if flags:
        out["flags"] = flags
    return out


def _add(fields: dict[str, Any], code: str, value: str) -> None:
    if code not in fields:
        fields[code] = value
    elif isinstance(fields[code], list):
        fields[code].append(value)
    else:
        fields[code] = [fields[code], value]


def format_message(msg: Message) -> str:
    """A readable, multi-line rendering of ``msg``."""
    lines = [f"{msg.command_code} {type(msg).__name__}"]
    if isinstance(msg, UnknownMessage):
        lines.append(f"  body: {msg.body}")
        return "\n".join(lines)
    for spec in msg.FIXED:
        value = getattr(msg, spec.name)
        if spec.kind == K_STATUS:
            shown = ", ".join(value.set_flags()) or "(no flags set)"
        elif spec.kind == K_SUMMARY:
            shown = ", ".join(sorted(v.name.lower() for v in value)) or "(none)"
        elif isinstance(value, datetime):
            shown = value.isoformat(sep=" ")
        elif value is None:
            shown = "(blank)"
        else:
            shown = value
        lines.append(f"  {spec.name}: {shown}")
    for spec in msg.VARIABLE:
        value = getattr(msg, spec.name)
        if spec.kind == K_LIST:
            for item in value:
                lines.append(f"  {spec.code} {spec.name}: {item}")
        elif value is not None:
            shown = value.isoformat(sep=" ") if isinstance(value, datetime) else value
            lines.append(f"  {spec.code} {spec.name}: {shown}")
    for code, value in msg.extra_fields:
        lines.append(f"  {code} (extension): {value}")
    return "\n".join(lines)


def is_refusal(msg: Message, *, pin_given: bool = False) -> bool:
    """Whether an answer says no: ok=0, an invalid patron (or a wrong PIN
    when one was given), a payment not accepted, an offline ACS, a 96."""
    if isinstance(msg, (LoginResponse, CheckoutResponse, CheckinResponse, RenewResponse, RenewAllResponse, HoldResponse)):
        return not msg.ok
    if isinstance(msg, ItemStatusUpdateResponse):
        return not msg.item_properties_ok
    if isinstance(msg, (PatronStatusResponse, PatronInformationResponse)):
        if msg.valid_patron is False:
            return True
        return pin_given and msg.valid_patron_password is False
    if isinstance(msg, FeePaidResponse):
        return not msg.payment_accepted
    if isinstance(msg, EndSessionResponse):
        return not msg.end_session
    if isinstance(msg, AcsStatus):
        return not msg.online_status
    if isinstance(msg, RequestScResend):
        return True
    return False


__all__ = ["format_message", "is_refusal", "message_to_dict"]
