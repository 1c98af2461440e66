"""The staff console: a web application over the fleet link (see docs/console.md)."""

from kiosk.console.errors import AuthError, ConsoleConfigError, ConsoleError, StoreError

__all__ = ["AuthError", "ConsoleConfigError", "ConsoleError", "StoreError"]
