"""Errors of the fleet link (one root, split by who is to blame)."""

from __future__ import annotations


class FleetError(Exception):
    """Root of every fleet-link error."""


class FleetConfigError(FleetError):
    """The [fleet] configuration cannot be used (our side's mistake)."""


class FleetStateError(FleetError):
    """The local fleet journal cannot be read or written."""


class BadMessage(FleetError):
    """A message on the link is malformed (the peer's mistake); dropped with a log line."""


class CommandRefused(FleetError):
    """A command was understood but cannot be carried out (answered with ``ok: false``)."""


class CommandTimeout(FleetError):
    """No answer to a command in time (the link or the site is down)."""
