"""The console side of the fleet link: subscribe to every site, send commands.

:class:`ConsoleLink` connects with the console's broker account (the only one
allowed to write ``cmd``), subscribes (QoS 1, persistent session, so events
published while the console was away are delivered when it returns) to every
device's status, state, event and reply, and hands them to a *sink*:

- ``sink.status(site, device, online: bool)``
- ``sink.state(site, device, state: dict)``
- ``sink.add_events(list[dict])`` -> the events that were new (the sink keeps
  each event id once: a redelivered event is dropped there)
- replies resolve the futures of :meth:`command`.

Events are handed over in batches (at most ``batch``, collected while a burst
keeps coming, at most ``linger`` seconds), so a burst of thousands a second
costs one store transaction (one disk sync) per batch.

**Acknowledged once stored.**  paho acknowledges a QoS 1 message (PUBACK) as
soon as its callback returns; the console turns that off (paho's
``manual_ack``) and acknowledges an event only after ``sink.add_events``
stored it (committed).  A console that dies between receiving and storing
has not acknowledged: the broker keeps the event in the console's persistent
session (``clean_session=False``, a fixed client id) and delivers it again on
reconnect, and the store keeps each id once.  Status, state and reply
messages are acknowledged once handled.  Acknowledgements go out in the
order the messages came (MQTT 3.1.1, 4.6), on the connection they came on
(a message of a dropped connection is not acknowledged: the broker sends it
again).  aiomqtt (2.5) does not expose manual acknowledgements yet (its
issue #345), so :func:`manual_acks` reaches its paho client.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from kiosk.fleet.errors import BadMessage, CommandTimeout, FleetError
from kiosk.fleet.link import LinkSettings, quiet_disconnect
from kiosk.fleet.topics import COMMANDS, decode, encode, now_iso, parse_topic, topic

log = logging.getLogger("kiosk.fleet.console")


def manual_acks(client: Any) -> Any:
    """Turn off paho's automatic PUBACK on an aiomqtt client (before it connects); returns the paho
    client, whose ``ack(mid, qos)`` acknowledges.  aiomqtt has no public API for this yet (issue #345)."""
    paho = getattr(client, "_client", None)
    if paho is None or not callable(getattr(paho, "manual_ack_set", None)) or not callable(getattr(paho, "ack", None)):
        # Never fall back to acknowledging on receipt: that loses events when the console dies.
        raise FleetError("this aiomqtt/paho-mqtt cannot acknowledge messages manually (paho-mqtt >= 2.0 needed)")
    paho.manual_ack_set(True)
    return paho


class Acks:
    """The acknowledgements of one connection: each QoS 1 message gets a ticket when it arrives; a ticket
    is done once the message is handled (an event: stored); PUBACKs go out in arrival order, up to the
    first ticket not done yet."""

    def __init__(self, paho: Any = None) -> None:
        self.paho = paho
        self._pending: collections.deque[list[Any]] = collections.deque()
        self.closed = False
        self.sent = 0

    def close(self) -> None:
        """The connection dropped: its messages are not acknowledged any more (the broker sends them again)."""
        self.closed = True
        self._pending.clear()

    def ticket(self, mid: int, qos: int) -> list[Any] | None:
        if qos < 1:
            return None  # QoS 0: nothing to acknowledge
        entry = [mid, qos, False]
        self._pending.append(entry)
        return entry

    def done(self, entry: list[Any] | None) -> None:
        if entry is None:
            return
        entry[2] = True
        while not self.closed and self._pending and self._pending[0][2]:
            mid, qos, _ = self._pending.popleft()
            self.paho.ack(mid, qos)
            self.sent += 1


class ConsoleLink:
    def __init__(self, settings: LinkSettings, sink: Any, *, client_id: str = "bibkiosk-console", batch: int = 500,
                 linger: float = 0.02) -> None:
        self.settings = settings
        self.sink = sink
        self.client_id = client_id
        self.batch = batch
        self.linger = linger
        self._collecting = False
        self.connected = False
        self._stopping = False
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        # Received events not stored yet, each with its acknowledgement ticket (its connection's Acks).
        self._queue: asyncio.Queue[tuple[dict[str, Any], Acks, list[Any] | None]] = asyncio.Queue()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.received = 0
        self.dropped = 0

    async def start(self) -> None:
        if self._task is None:
            self._writer = asyncio.create_task(self._write_events(), name="console event writer")
            self._task = asyncio.create_task(self._run(), name="console link")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 5)
        self._task = self._writer = None
        self.connected = False

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.connected:
                await asyncio.sleep(0.02)

    async def command(
        self, site: str, device: str, action: str, *, staff: str, reason: str,
        args: dict[str, Any] | None = None, timeout: float = 15.0, command_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one command and wait for the device's reply (CommandTimeout without one)."""
        if action not in COMMANDS:
            raise FleetError(f"unknown command {action!r}")
        client = self._client
        if client is None or not self.connected:
            raise CommandTimeout("the console is not connected to the broker")
        cid = command_id or uuid.uuid4().hex
        now = datetime.now(timezone.utc)
        body = {"id": cid, "action": action, "staff": staff, "reason": reason, "args": args or {},
                "at": now_iso(now), "expires": now_iso(now + timedelta(seconds=timeout))}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cid] = fut
        try:
            await client.publish(topic(self.settings.prefix, site, device, "cmd"), encode(body), qos=1)
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise CommandTimeout(f"no answer from {site}/{device} within {timeout:g} s") from None
        except Exception as exc:
            if isinstance(exc, FleetError):
                raise
            raise CommandTimeout(f"cannot send to {site}/{device}: {exc}") from None
        finally:
            self._pending.pop(cid, None)

    async def _run(self) -> None:
        import aiomqtt

        s = self.settings
        backoff = 0.2
        link = self

        def direct(acks: Acks) -> type[asyncio.Queue]:  # type: ignore[type-arg]
            class _Direct(asyncio.Queue):  # type: ignore[type-arg]
                """aiomqtt's incoming queue, handing each message over at once (no task per message),
                with its acknowledgement ticket on this connection."""

                def put_nowait(self, item: Any) -> None:
                    link._on_message(str(item.topic), bytes(item.payload), acks, acks.ticket(item.mid, item.qos))

            return _Direct

        while not self._stopping:
            acks = Acks()
            try:
                client = aiomqtt.Client(
                    s.host, s.port, username=s.username, password=s.password, identifier=self.client_id,
                    clean_session=False, keepalive=s.keepalive, tls_context=s.tls_context(), timeout=10, max_inflight_messages=200,
                    max_queued_incoming_messages=0, queue_type=direct(acks),
                )
                client.pending_calls_threshold = 10_000  # batches of QoS 1 publishes are expected
                # Before connecting: the broker redelivers the session's unacknowledged events right after CONNACK.
                acks.paho = manual_acks(client)
                async with client:
                    quiet_disconnect(client)
                    for kind in ("status", "state", "event", "reply"):
                        await client.subscribe(f"{s.prefix}/+/+/{kind}", qos=1)
                    self._client = client
                    self.connected = True
                    backoff = 0.2
                    log.info("console: connected to the broker %s:%d", s.host, s.port)
                    async for _message in client.messages:  # returns (MqttError) when the connection drops
                        pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker is down: retry
                log.warning("console: broker link down (%s: %s)", type(exc).__name__, exc)
            finally:
                acks.close()
                self._client = None
                self.connected = False
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(s.max_backoff, backoff * 2)

    def _on_message(self, name: str, payload: bytes, acks: Acks, ticket: list[Any] | None) -> None:
        """Handle one message; acknowledge it once handled (an event: once the writer stored it)."""
        queued = False
        try:
            where = parse_topic(self.settings.prefix, name)
            if where.kind == "status":
                text = payload.decode("utf-8", "replace").strip()
                if text not in ("online", "offline"):
                    raise BadMessage(f"status {text[:20]!r}")
                self.sink.status(where.site, where.device, text == "online")
                return
            if not payload:
                return  # a retained message cleared
            body = decode(payload)
            if where.kind == "state":
                self.sink.state(where.site, where.device, body)
            elif where.kind == "event":
                if not isinstance(body.get("id"), str) or not body["id"] or not isinstance(body.get("type"), str):
                    raise BadMessage("event without id or type")
                # The topic, not the payload, says who sent it (the ACL vouches for the topic).
                body["site"], body["device"] = where.site, where.device
                self.received += 1
                self._queue.put_nowait((body, acks, ticket))
                queued = True
            elif where.kind == "reply":
                fut = self._pending.get(str(body.get("id")))
                if fut is not None and not fut.done():
                    fut.set_result(body)
                reply = getattr(self.sink, "reply", None)
                if reply is not None:
                    reply(where.site, where.device, body)
        except BadMessage as exc:
            self.dropped += 1
            log.warning("console: dropped a message on %s: %s", name[:80], exc)
        except Exception:  # noqa: BLE001 - one bad message never stops the console
            self.dropped += 1
            log.exception("console: error handling a message on %s", name[:80])
        finally:
            if not queued:
                acks.done(ticket)  # handled, or dropped for good (a bad message is not asked for again)

    async def _write_events(self) -> None:
        while True:
            first = await self._queue.get()
            self._collecting = True
            try:
                batch = await self._collect(first)
                try:
                    self.sink.add_events([ev for ev, _, _ in batch])
                except Exception:  # noqa: BLE001
                    # Not stored: not acknowledged either; tried again (and, after a restart, delivered again).
                    log.exception("console: cannot store %d events", len(batch))
                    for item in batch:
                        self._queue.put_nowait(item)
                    await asyncio.sleep(0.5)
                    continue
            finally:
                self._collecting = False
            for _, acks, ticket in batch:  # stored (committed): now the broker may forget them
                acks.done(ticket)

    async def _collect(self, first: Any) -> list[Any]:
        """Group commit: every commit is synced to disk (and only then acknowledged), so a burst is collected
        while it keeps coming (up to ``linger`` seconds or ``batch`` events) and stored in one transaction;
        a lone event waits about a millisecond."""
        batch = [first]
        loop = asyncio.get_running_loop()
        until = loop.time() + self.linger
        while len(batch) < self.batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            if loop.time() >= until:
                break
            await asyncio.sleep(0.001)
            if self._queue.empty():
                break  # nothing more within a millisecond
        return batch

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every received event was handed to the sink (tests, benchmark)."""
        async with asyncio.timeout(timeout):
            while not self._queue.empty() or self._collecting:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)
