"""Turn messages into JSON-ready dicts and readable text, and judge answers.

Used by ``bibkiosk sip2`` and handy for journals and debugging.  These
functions show every value, personal data included: they are for a staff
member's terminal, never for log lines (use :func:`redact_frame` there).

Everything a peer sent is printed through :func:`escape_text`: control
characters (C0, DEL, C1: terminal escape sequences) become ``\\xNN``, so a
hostile library system cannot set the terminal's title or clear the screen.
"""

from __future__ import annotations

import json
import re
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
    RegistrationsResponse,
    RenewAllResponse,
    RenewResponse,
    RequestScResend,
    UnknownMessage,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_text(text: Any) -> str:
    """``text`` with control characters (and bidi overrides) escaped as
    ``\\xNN`` / ``\\uNNNN``: safe to print on a terminal."""
    value = str(text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", value)


def dumps_safe(doc: Any) -> str:
    """JSON text of ``doc`` with every control character escaped (json
    leaves DEL and C1 as they are)."""
    text = json.dumps(doc, ensure_ascii=False)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def registration_dicts(msg: RegistrationsResponse) -> list[dict[str, Any]]:
    """The registrations of a 42 as JSON-ready dicts (values as sent, plus
    the typed views)."""
    out = []
    for reg in msg.registrations:
        amount = reg.amount_value
        created, based_on = reg.created_date, reg.based_on_date
        out.append({
            "adm_id": reg.adm_id,
            "type": reg.kind_number,
            "type_name": reg.kind_name,
            "description": reg.description,
            "title": reg.title,
            "amount": None if amount is None else f"{amount:.2f}",
            "created": created.isoformat() if created else None,
            "based_on": based_on.isoformat() if based_on else None,
            "status": reg.status,
            "collection_date": reg.collection.isoformat() if reg.collection else None,
            "arrangement_date": reg.arrangement.isoformat() if reg.arrangement else None,
            "wire": reg.to_wire(),
        })  # fmt: skip
    return out


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
    if isinstance(msg, RegistrationsResponse):
        out["registrations"] = registration_dicts(msg)
    return out


def _add(fields: dict[str, Any], code: str, value: str) -> None:
    if code not in fields:
        fields[code] = value
    elif isinstance(fields[code], list):
        fields[code].append(value)
    else:
        fields[code] = [fields[code], value]


def format_message(msg: Message) -> str:
    """A readable, multi-line rendering of ``msg`` (control characters escaped)."""
    return "\n".join(escape_text(line) for line in _format_lines(msg))


def _format_lines(msg: Message) -> list[str]:
    lines = [f"{msg.command_code} {type(msg).__name__}"]
    if isinstance(msg, UnknownMessage):
        lines.append(f"  body: {msg.body}")
        return lines
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
    if isinstance(msg, RegistrationsResponse):
        regs = registration_dicts(msg)
        lines.append(f"  registrations: {len(regs)}")
        for reg in regs:
            lines.append(
                f"    adm_id {reg['adm_id'] or '(none)'}: type {reg['type'] if reg['type'] is not None else '?'}"
                f" ({reg['type_name']}), amount {reg['amount'] or '?'}, created {reg['created'] or '?'}"
                f", based on {reg['based_on'] or '-'}, status {reg['status'] or '-'}"
                + (f", arrangement {reg['arrangement_date']}" if reg["arrangement_date"] else "")
                + f": {reg['description']}" + (f" / {reg['title']}" if reg["title"] else "")
            )
    return lines


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


__all__ = ["dumps_safe", "escape_text", "format_message", "is_refusal", "message_to_dict", "registration_dicts"]
