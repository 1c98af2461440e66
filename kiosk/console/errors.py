"""Errors of the staff console (one root)."""

from __future__ import annotations


class ConsoleError(Exception):
    """Root of every console error."""


class ConsoleConfigError(ConsoleError):
    """The console configuration cannot be used."""


class StoreError(ConsoleError):
    """The console's store cannot be read or written."""


class AuthError(ConsoleError):
    """Login refused (wrong password, locked, wrong TOTP code)."""
