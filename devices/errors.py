"""The one exception root of ``devices``: :class:`DeviceError`.

Split by what the caller can do about it:

* :class:`DeviceNotFound` - nothing answers at that address (unplugged, wrong
  path, no such USB id, no such reader).
* :class:`DeviceTimeout` - the device is there but did not answer in time.
* :class:`DeviceDisconnected` - the device was there and went away (or is away
  right now, between a "lost" and a "back" event).
* :class:`DeviceProtocolError` - the peer sent bytes we cannot make sense of.
* :class:`DeviceUrlError` - we (the configuration) are wrong: unknown scheme,
  unknown or malformed option.  The message lists the valid choices.

Messages never contain card numbers, PINs or names: drivers describe data by
length and kind only.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DeviceError",
    "DeviceNotFound",
    "DeviceTimeout",
    "DeviceDisconnected",
    "DeviceProtocolError",
    "DeviceUrlError",
]


class DeviceError(Exception):
    """Root of every error raised by ``devices``."""


class DeviceNotFound(DeviceError):
    """No device answers at the given address."""


class DeviceTimeout(DeviceError):
    """The device did not answer (or nothing happened) in time."""


class DeviceDisconnected(DeviceError):
    """The device went away, or is away right now."""


class DeviceProtocolError(DeviceError):
    """The device sent something that does not follow its protocol."""


class DeviceUrlError(DeviceError, ValueError):
    """A device URL is wrong: unknown scheme, unknown or malformed option.

    ``valid`` holds the accepted choices (schemes or option names) so callers
    (the config validator, the CLI) can show them.
    """

    def __init__(self, message: str, valid: Iterable[str] = ()) -> None:
        self.valid: tuple[str, ...] = tuple(valid)
        if self.valid:
            message = f"{message} (valid: {', '.join(self.valid)})"
        super().__init__(message)
