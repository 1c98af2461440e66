"""Redaction of SIP2 frames for log lines.

Every log line that shows a frame goes through :func:`redact_frame`: the
values of PIN (AD), password (CO), terminal password (AC), patron identifier
(AA), name (AE), address, e-mail and phone (BD, BE, BF) and a few extension
fields with personal data are replaced by their length, e.g. ``AD<4>``.
The extension codes a site configures for personal data (the birth date, by
default PB) are masked too: the client and the server register them
(:func:`kiosk.sip2.messages.register_sensitive_codes`), and ``sensitive``
adds more for one call.  Frames of unknown commands keep only their field
codes and lengths.
"""

from __future__ import annotations

from collections.abc import Iterable

from .messages import MESSAGE_TYPES, sensitive_codes


def redact_frame(frame: bytes | str, *, encoding: str = "cp850", sensitive: Iterable[str] = ()) -> str:
    """A log-safe text for a frame (bytes or text, with or without trailer);
    ``sensitive``: more codes to mask (beyond the registered ones)."""
    masked = sensitive_codes()
    if sensitive:
        masked = masked | frozenset(sensitive)
    if isinstance(frame, (bytes, bytearray, memoryview)):
        text = bytes(frame).decode(encoding, "replace")
    else:
        text = str(frame)
    text = text.rstrip("\r\n")
    if len(text) < 2:
        return repr(text)
    code = text[:2]
    cls = MESSAGE_TYPES.get(code)
    if cls is None:
        # Unknown layout: we cannot tell a fixed part from a field, so show
        # the code, then each segment as code + length only.
        segments = text[2:].split("|")
        shown = [f"{seg[:2]}<{len(seg) - 2}>" if len(seg) >= 2 else f"<{len(seg)}>" for seg in segments if seg]
        return code + "|".join(shown)
    width = sum(s.width for s in cls.FIXED)
    head, rest = text[: 2 + width], text[2 + width :]
    out = [head]
    for seg in rest.split("|"):
        if not seg:
            continue
        fcode = seg[:2]
        if fcode in masked:
            out.append(f"{fcode}<{len(seg) - 2}>|")
        elif fcode == "AY" or fcode == "AZ":
            out.append(seg)
        else:
            out.append(seg + "|")
    return "".join(out)


__all__ = ["redact_frame"]
