"""SIP2 (3M Standard Interchange Protocol 2.00): a sans-I/O codec, an asyncio
client and an asyncio server core.

- :mod:`kiosk.sip2.messages`: frozen, typed messages (one class per code);
- :mod:`kiosk.sip2.codec`: :class:`Sip2Codec` (bytes <-> messages, no I/O);
- :mod:`kiosk.sip2.client`: :class:`Sip2Client` and :class:`ClientSettings`;
- :mod:`kiosk.sip2.server`: :class:`Sip2Server` and :class:`Sip2Handler`;
- :mod:`kiosk.sip2.redact`: frame redaction for log lines;
- :mod:`kiosk.sip2.errors`: the :class:`Sip2Error` tree.
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
from .server import Sip2Handler, Sip2Server, Sip2Session, refusal_for
from .client import SAFE_TO_REPEAT, ClientSettings, Sip2Client  # noqa: E402  (imports pydantic)

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
