"""Errors of the kiosk flows (one root: :class:`FlowError`)."""

from __future__ import annotations


class FlowError(Exception):
    """Root of the flows' errors."""


class BadTransition(FlowError):
    """A move between states the state machine does not allow: a bug of ours."""
