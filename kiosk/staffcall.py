"""Calling staff from the kiosk's help (``[help] call_staff``).

* ``console``: a ``help`` event (``result: call_staff``) on the fleet link
  (kiosk.fleet); the staff console raises a ``help`` alarm for it.  "Sent"
  once the broker acknowledged it; if the link is down it stays journalled
  and goes out when the link is back, but the patron is told it could not be
  sent now.
* ``webhook``: a JSON POST to each ``[help] webhooks`` URL through the door's
  :class:`~kiosk.door.webhooks.WebhookSender` (few, quick attempts: a patron
  is waiting).  "Sent" as soon as one URL answered 2xx.

Nothing about the patron goes out: the screen, the period, whether someone
is identified, never who.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("kiosk.help")

#: How long a staff call may wait for the broker / the webhooks (s): a patron is watching.
DELIVERY_TIMEOUT = 8.0


class ConsoleStaffCall:
    """A staff call as an event on the fleet link (an alarm on the staff console)."""

    def __init__(self, link: Any, *, timeout: float = DELIVERY_TIMEOUT) -> None:
        self.link = link
        self.timeout = timeout

    async def call(self, info: Mapping[str, Any]) -> bool:
        detail = f"screen={info.get('screen', '?')}" + (" unmanned" if info.get("unmanned") else "")
        event_id = self.link.event("help", result="call_staff", detail=detail)
        return bool(await self.link.wait_delivered(event_id, self.timeout))

    async def close(self) -> None:
        return None


class WebhookStaffCall:
    """A staff call POSTed to webhooks (the door's sender, with a patron's patience)."""

    def __init__(self, urls: list[str], *, branch: str | None = None, timeout: float = DELIVERY_TIMEOUT) -> None:
        from kiosk.door.webhooks import WebhookSender

        self.branch = branch
        self.timeout = timeout
        self.sender = WebhookSender(urls, attempts=2, backoff=0.5, max_backoff=1.0, timeout=min(timeout / 2, 4.0))
        self.sender.start()

    async def call(self, info: Mapping[str, Any]) -> bool:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[bool] = loop.create_future()

        def told(sent: bool) -> None:  # a worker thread
            loop.call_soon_threadsafe(lambda: result.done() or result.set_result(sent))

        payload = {"event": "help", "result": "call_staff", "at": datetime.now(timezone.utc).isoformat(),
                   "branch": self.branch, **{k: v for k, v in info.items() if k in ("screen", "unmanned", "identified")}}
        self.sender.send(payload, on_result=told)
        try:
            return await asyncio.wait_for(result, self.timeout)
        except TimeoutError:
            return False

    async def close(self) -> None:
        await asyncio.to_thread(self.sender.stop, 1.0)


def staff_caller(config: Any, link: Any = None) -> ConsoleStaffCall | WebhookStaffCall | None:
    """The caller for ``[help] call_staff`` (None: no call button).  *link*: the kiosk's fleet link."""
    from kiosk.config import CallStaff

    mode = config.help.call_staff
    if mode is CallStaff.CONSOLE:
        if link is None:
            log.error("help: call_staff = console but the fleet link is not running; no call button")
            return None
        return ConsoleStaffCall(link)
    if mode is CallStaff.WEBHOOK:
        return WebhookStaffCall(list(config.help.webhooks), branch=config.kiosk.branch)
    return None
