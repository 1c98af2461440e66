"""systemd's notify protocol, without a dependency.

A unit with ``Type=notify`` waits for ``READY=1`` on the datagram socket
named in ``$NOTIFY_SOCKET``; with ``WatchdogSec=`` it expects ``WATCHDOG=1``
at least every ``$WATCHDOG_USEC`` microseconds, and restarts the service when
the pings stop (a hung event loop stops them).  Outside systemd every call is
a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_seconds: float | None = None
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_seconds = int(usec) / 1_000_000
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ping_interval(self) -> float | None:
        """How often to send WATCHDOG=1 (half the watchdog period), or None."""
        return None if self.watchdog_seconds is None else self.watchdog_seconds / 2

    def notify(self, *states: str) -> bool:
        """Send ``KEY=VALUE`` lines; False when not under systemd or the send failed."""
        if self.address is None:
            return False
        addr = self.address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(states).encode(), addr)
            return True
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc.strerror or exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def watchdog_loop(notifier: Notifier) -> None:
    """Ping the watchdog at systemd's interval until cancelled.  It runs on
    the event loop, so a hung loop stops the pings and systemd restarts us."""
    import asyncio

    interval = notifier.ping_interval() or 10.0
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
