"""The one exception root of the policy package."""

from __future__ import annotations


class PolicyError(Exception):
    """Root of every error raised by ``policy``."""


class UnknownAction(PolicyError, ValueError):
    """``decide`` was asked about an action that does not exist (a bug of the caller)."""


class UnknownBranch(PolicyError, LookupError):
    """The schedule has no periods for this branch and no ``default`` branch."""
