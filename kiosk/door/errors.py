"""Errors of the door controller: one root, split by who is to blame."""

from __future__ import annotations


class DoorError(Exception):
    """Root of every error raised by kiosk.door."""


class DoorConfigError(DoorError):
    """The configuration cannot drive a door (no [door] section, no reader, no lock...)."""


class DoorStateError(DoorError):
    """The door's own state (audit journal, offline cache) cannot be read or written."""
