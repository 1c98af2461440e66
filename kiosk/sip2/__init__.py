"""SIP2 (3M Standard Interchange Protocol 2.00): a sans-I/O codec, an asyncio
client and an asyncio server core.

- :mod:`kiosk.sip2.messages`: frozen, typed messages (one class per code);
- :mod:`kiosk.sip2.codec`: :class:`Sip2Codec` (bytes <-> messages, no I/O);
- :mod:`kiosk.sip2.client`: :class:`Sip2Client` and :class:`ClientSettings`;
- :mod:`kiosk.sip2.server`: :class:`Sip2Server` and :class:`Sip2Handler`;
- :mod:`kiosk.sip2.redact`: frame redaction for log lines;
- :mod:`kiosk.sip2.errors`: the :class:`Sip2Error` tree;
- :mod:`kiosk.sip2.dialects`: the wire format of the extension fields and the
  two dialects (``wise``, ``standard``).

Importing the package (or the codec, the messages, redaction) needs neither
asyncio nor pydantic: the client, the server and the dialects are loaded on
first use (``from kiosk.sip2 import Sip2Client`` still works).
"""

from __future__ import annotations

from .codec import NEED_DATA, Sip2Codec, checksum, decode, encode, parse_sip2_datetime, sip2_datetime
from .errors import (
    LocalSip2Error,
    RemoteSip2Error,
    Sip2ChecksumError,
    Sip2ConnectionError,
    Sip2Error,
    Sip2LoginError,
)
from .messages import *  # noqa: F403
from .messages import __all__ as _messages_all
from .redact import redact_frame

# Loaded on first use (they import asyncio, pydantic).
_LAZY = {
    "SAFE_TO_REPEAT": "client",
    "ClientSettings": "client",
    "Sip2Client": "client",
    "Sip2Handler": "server",
    "Sip2Server": "server",
    "Sip2Session": "server",
    "refusal_for": "server",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiosk.sip2' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "NEED_DATA",
    "SAFE_TO_REPEAT",
    "ClientSettings",
    "Sip2Client",
    "Sip2Handler",
    "Sip2Server",
    "Sip2Session",
    "redact_frame",
    "refusal_for",
    "LocalSip2Error",
    "RemoteSip2Error",
    "Sip2ChecksumError",
    "Sip2Codec",
    "Sip2ConnectionError",
    "Sip2Error",
    "Sip2LoginError",
    "checksum",
    "decode",
    "encode",
    "parse_sip2_datetime",
    "sip2_datetime",
    *_messages_all,
]
