"""The SIP2 exception tree: one root, split by who is to blame.

- :class:`LocalSip2Error`: we built something wrong (a field too long, a bad
  date, a missing required field).  ``field`` names the field.
- :class:`RemoteSip2Error`: the peer sent something we cannot read (bad
  checksum, truncated fixed fields, an answer of the wrong kind).  The text
  says what was wrong; it never contains field values (no PINs, no cards).
- :class:`Sip2ConnectionError`: the link is down, timed out or unreachable.
- :class:`Sip2LoginError`: the library system refused our login account.
"""

from __future__ import annotations


class Sip2Error(Exception):
    """Root of every error raised by :mod:`kiosk.sip2`."""


class LocalSip2Error(Sip2Error, ValueError):
    """A message we built (or asked to build) is not valid SIP2."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RemoteSip2Error(Sip2Error):
    """A peer sent a frame we cannot read.

    ``sequence`` is the frame's AY sequence number when it could be read, so
    the caller can ask for a resend (96 from an ACS, 97 from an SC).
    ``field`` names the offending field when there is one.
    """

    def __init__(self, message: str, *, sequence: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence
        self.field = field


class Sip2ChecksumError(RemoteSip2Error):
    """A frame's AZ checksum does not match its bytes."""


class Sip2ConnectionError(Sip2Error, ConnectionError):
    """The connection is dead, timed out, or the peer is unreachable.

    ``outcome_unknown`` is true when a request that changes state (checkout,
    checkin, renew, fee paid, ...) was sent but no answer came back: the
    library system may or may not have done it.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class Sip2LoginError(Sip2Error):
    """The library system answered our 93 login with ok=0."""


__all__ = [
    "LocalSip2Error",
    "RemoteSip2Error",
    "Sip2ChecksumError",
    "Sip2ConnectionError",
    "Sip2Error",
    "Sip2LoginError",
]
