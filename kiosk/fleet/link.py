"""The device side of the fleet link: connect out, publish, answer commands.

:class:`FleetLink` runs on the caller's asyncio loop (aiomqtt on paho-mqtt).
It connects out to the broker with TLS and the device's own account, and
keeps reconnecting (backoff up to ``max_backoff``).  On every connection:

1. ``status`` "online" (retained), with "offline" as the last will;
2. the latest ``state`` (retained), and again whenever it changes;
3. every event of the journal's outbox, oldest first, QoS 1, deleted from the
   outbox only once the broker acknowledged it.  When that delete cannot be
   written (a full disk), the link stays up: the acknowledged events stay in
   the journal (nothing is lost), are not sent again by this process, and the
   delete is retried until there is room; after a restart they are sent again
   with the same ids, and the console keeps each id once;
4. ``cmd`` subscribed; each command is validated, refused when expired,
   recorded in the journal (staff, reason), carried out by the handler once
   (a redelivered command gets the same reply), and answered on ``reply``
   (through the outbox too, so an answer is not lost either).

A command that cannot be recorded (the journal cannot be written: a full
disk) is still answered, never dropped: the handler's ``unrecorded_actions``
(restrictions and questions: a door's ``lockdown``, ``end_unmanned``,
``check``) are carried out and answered ``ok`` with ``recorded: false`` and a
``warning`` (so is a command the handler carried out but could not record itself:
its result says ``recorded: false``, e.g. a lockdown the door's audit could not
take); every other command (a ``release``, a ``resume``: what grants or
lifts a restriction) is refused, ``error`` "state not writable: …", and not
carried out.  Both with a ``COMMAND NOT RECORDED`` error log line.  Such an
answer (and the ``command`` event) goes out from memory when the outbox cannot
take it; a redelivery in this process gets the same answer, not carried out
again (after a restart a redelivered lockdown locks once more: idempotent).

:meth:`event` and :meth:`set_state` never block on the network: they write
the journal and wake the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kiosk.fleet.errors import BadMessage, CommandRefused, FleetError
from kiosk.fleet.journal import FleetJournal
from kiosk.fleet.topics import DEFAULT_PREFIX, Command, decode, encode, now_iso, topic

log = logging.getLogger("kiosk.fleet")

#: How many answers the link remembers for commands it could not record (redeliveries).
MEMO_SIZE = 256
#: How many replies and command events wait in memory when the outbox cannot take them.
HELD_SIZE = 1000

CommandHandler = Callable[[Command], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    username: str
    password: str
    site: str
    device: str
    kind: str = "door"  # door / kiosk
    tls: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    prefix: str = DEFAULT_PREFIX
    keepalive: int = 30
    max_backoff: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx


def quiet_disconnect(client: Any) -> None:
    """A connection that ends while we stop or reconnect is expected: mark aiomqtt's
    disconnection future as seen, so asyncio does not log "Future exception was never retrieved"."""
    fut = getattr(client, "_disconnected", None)
    if isinstance(fut, asyncio.Future):
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())


def settings_from_config(config: Any, kind: str) -> LinkSettings | None:
    """LinkSettings from a machine config's ``[fleet]`` (None when absent)."""
    fleet = getattr(config, "fleet", None)
    if fleet is None:
        return None
    password = config.secret("fleet_password") or ""
    return LinkSettings(
        host=fleet.broker, port=fleet.port, username=fleet.username, password=password, site=fleet.site,
        device=fleet.device, kind=kind, tls=fleet.tls,
        ca_file=config.resolve(fleet.ca_file) if fleet.ca_file else None,
        cert_file=config.resolve(fleet.cert_file) if fleet.cert_file else None,
        key_file=config.resolve(fleet.key_file) if fleet.key_file else None,
        prefix=fleet.topic_prefix, keepalive=fleet.keepalive_seconds,
    )


class FleetLink:
    def __init__(
        self,
        settings: LinkSettings,
        journal: FleetJournal,
        *,
        on_command: CommandHandler | None = None,
        on_connected: Callable[[bool], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self._on_command = on_command
        self._on_connected = on_connected
        self._state: dict[str, Any] = {}
        self._state_sent: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self.connected = False
        self._stopping = False
        self.connections = 0
        self._handlers: set[asyncio.Task[Any]] = set()
        #: Acknowledged by the broker, not yet deleted from the outbox (the delete failed: a full
        #: disk); every outbox row up to ``_acked_through`` has been acknowledged.
        self._unmarked: dict[int, str] = {}  # seq -> event id
        self._acked_through = 0
        #: Commands the journal could not record (or whose answer it could not keep): id -> the
        #: answer given (None while being carried out), so a redelivery gets the same answer.
        self._memo: OrderedDict[str, dict[str, Any] | None] = OrderedDict()
        #: Replies and command events the outbox could not take (a full disk): sent from memory.
        self._held: deque[tuple[str, bytes]] = deque(maxlen=HELD_SIZE)
        s = settings
        self.t_status = topic(s.prefix, s.site, s.device, "status")
        self.t_state = topic(s.prefix, s.site, s.device, "state")
        self.t_event = topic(s.prefix, s.site, s.device, "event")
        self.t_cmd = topic(s.prefix, s.site, s.device, "cmd")
        self.t_reply = topic(s.prefix, s.site, s.device, "reply")

    # ------------------------------------------------------------------ API

    def event(self, type_: str, at: datetime | None = None, **fields: Any) -> str:
        """Queue one event; returns its id.  Never blocks on the network."""
        event_id, body = self._event_body(type_, at, fields)
        self.journal.add(event_id, self.t_event, encode(body))
        self._wake.set()
        return event_id

    def _event_body(self, type_: str, at: datetime | None, fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        event_id = uuid.uuid4().hex
        body = {"id": event_id, "type": type_, "at": now_iso(at), "site": self.settings.site,
                "device": self.settings.device, "kind": self.settings.kind}
        body.update({k: v for k, v in fields.items() if v is not None})
        return event_id, body

    def events(self, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Queue many events in one journal transaction (the benchmark's path)."""
        rows, ids = [], []
        for type_, fields in items:
            event_id = uuid.uuid4().hex
            body = {"id": event_id, "type": type_, "at": now_iso(), "site": self.settings.site,
                    "device": self.settings.device, "kind": self.settings.kind, **fields}
            rows.append((event_id, self.t_event, encode(body)))
            ids.append(event_id)
        self.journal.add_many(rows)
        self._wake.set()
        return ids

    def set_state(self, state: dict[str, Any]) -> None:
        """The device's current state; published (retained) when it differs from the last one sent."""
        self._state = dict(state)
        if self._comparable(self._state) != self._comparable(self._state_sent or {}):
            self._wake.set()

    @property
    def queue_length(self) -> int:
        """Events not yet acknowledged by the broker."""
        return self.journal.queue_length() - len(self._unmarked)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="fleet link")

    async def stop(self) -> None:
        if self._task is not None and not self.connected and self.connections:
            # Reconnecting right now: let the connection finish, then say goodbye on it.
            with contextlib.suppress(TimeoutError):
                await self.wait_connected(2.0)
        self._stopping = True
        task, self._task = self._task, None
        client = self._client
        if client is not None and self.connected:
            # A clean goodbye: "offline" now, not after the keepalive.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.publish(self.t_status, b"offline", qos=0, retain=True), 1)
        for t in list(self._handlers):
            t.cancel()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        self.connected = False

    async def wait_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.connected:
                await asyncio.sleep(0.02)

    async def wait_delivered(self, event_id: str, timeout: float = 10.0) -> bool:
        """True once the broker acknowledged event *event_id*; False if not within *timeout*
        (it stays journalled and goes out when the link is back)."""
        try:
            async with asyncio.timeout(timeout):
                while self.journal.is_queued(event_id) and event_id not in self._unmarked.values():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            return False
        return True

    async def wait_drained(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while self.journal.queue_length():
                await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ loop

    @staticmethod
    def _comparable(state: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in state.items() if k not in ("at", "updated")}

    async def _run(self) -> None:
        import aiomqtt

        backoff = 0.2
        s = self.settings
        while not self._stopping:
            try:
                client = aiomqtt.Client(
                    s.host, s.port, username=s.username, password=s.password,
                    identifier=f"bibkiosk-{s.site}-{s.device}", clean_session=True, keepalive=s.keepalive,
                    will=aiomqtt.Will(self.t_status, b"offline", qos=1, retain=True),
                    tls_context=s.tls_context(), timeout=10, max_inflight_messages=200,
                )
                client.pending_calls_threshold = 10_000  # batches of QoS 1 publishes are expected
                async with client:
                    quiet_disconnect(client)
                    self._client = client
                    await client.publish(self.t_status, b"online", qos=1, retain=True)
                    await client.subscribe(self.t_cmd, qos=1)
                    self._state_sent = None
                    self.connected = True
                    self.connections += 1
                    backoff = 0.2
                    log.info("fleet: connected to %s:%d as %s", s.host, s.port, s.username)
                    self._connected_changed(True)
                    sender = asyncio.create_task(self._sender(client))
                    receiver = asyncio.create_task(self._receiver(client))
                    try:
                        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
                        for t in done:
                            t.result()
                    finally:
                        for t in (sender, receiver):
                            t.cancel()
                        for t in (sender, receiver):
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await t
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - aiomqtt.MqttError, OSError, ssl errors: the link is down
                log.warning("fleet: link to %s:%d down (%s: %s); %d queued", s.host, s.port, type(exc).__name__, exc,
                            self._safe_queue_length())
            finally:
                self._client = None
                if self.connected:
                    self.connected = False
                    self._connected_changed(False)
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(s.max_backoff, backoff * 2)

    def _safe_queue_length(self) -> int:
        with contextlib.suppress(FleetError):
            return self.journal.queue_length()
        return -1

    def _connected_changed(self, up: bool) -> None:
        if self._on_connected is not None:
            try:
                self._on_connected(up)
            except Exception:  # noqa: BLE001
                log.exception("fleet: on_connected failed")

    def _mark_delivered(self, acked: list[Any]) -> None:
        """Delete acknowledged events (:class:`Pending`) from the outbox; kept in memory (and
        retried) when the journal cannot be written, so the link goes on (a full disk is no
        link failure)."""
        first = not self._unmarked
        for p in acked:
            self._unmarked[p.seq] = p.id
            self._acked_through = max(self._acked_through, p.seq)
        if not self._unmarked:
            return
        try:
            self.journal.delivered(list(self._unmarked))
        except FleetError as exc:
            if first:
                log.warning("fleet: %d events acknowledged but not marked delivered (%s): kept in the journal, "
                            "retried; a restart sends them again (the console keeps each id once)", len(acked), exc)
            return
        if not first:
            log.info("fleet: %d acknowledged events marked delivered", len(self._unmarked))
        self._unmarked = {}

    async def _sender(self, client: Any) -> None:
        while True:
            self._wake.clear()
            self._mark_delivered([])  # acknowledged earlier, the mark failed: try again
            if self._held:
                # Answers (and command events) the outbox could not take: first, the console waits.
                held = self._held.popleft()
                try:
                    await client.publish(held[0], held[1], qos=1)
                except BaseException:
                    self._held.appendleft(held)
                    raise
                continue
            batch = self.journal.pending(200, after=self._acked_through)
            if batch:
                # QoS 1: each publish returns once the broker acknowledged it.
                await asyncio.gather(*(client.publish(p.topic, p.payload, qos=1) for p in batch))
                self._mark_delivered(batch)
                continue
            state = self._state
            if state and self._comparable(state) != self._comparable(self._state_sent or {}):
                body = {**state, "site": self.settings.site, "device": self.settings.device,
                        "kind": self.settings.kind, "queue": self.queue_length, "at": now_iso()}
                await client.publish(self.t_state, encode(body), qos=1, retain=True)
                self._state_sent = dict(state)
                continue
            with contextlib.suppress(TimeoutError):
                # (Sooner while acknowledged events wait for their mark: room comes back unannounced.)
                await asyncio.wait_for(self._wake.wait(), 1.0 if self._unmarked else 5.0)

    async def _receiver(self, client: Any) -> None:
        async for message in client.messages:
            if str(message.topic) != self.t_cmd:
                continue
            try:
                command = Command.parse(decode(message.payload))
            except BadMessage as exc:
                log.warning("fleet: command dropped: %s", exc)
                continue
            task = asyncio.create_task(self._handle(command))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _handle(self, command: Command) -> None:
        """Carry out and answer one command; never raises (a task nobody awaits)."""
        try:
            await self._handle_command(command)
        except asyncio.CancelledError:
            if command.id in self._memo and self._memo[command.id] is None:
                del self._memo[command.id]  # not answered: a redelivery is carried out (and answered)
            raise
        except Exception:  # noqa: BLE001 - logged, never "Task exception was never retrieved"
            log.exception("fleet: command %s %s not handled", command.id, command.action)

    def _unrecorded_actions(self) -> frozenset[str]:
        """The handler's actions that are carried out although they cannot be recorded (the safe ones)."""
        return frozenset(getattr(self._on_command, "unrecorded_actions", ()) or ())

    def _remember(self, command_id: str, reply: dict[str, Any] | None) -> None:
        self._memo[command_id] = reply
        self._memo.move_to_end(command_id)
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    async def _handle_command(self, command: Command) -> None:
        if command.id in self._memo:
            remembered = self._memo[command.id]
            if remembered is not None:
                self._reply(remembered)  # redelivered: the same answer, not carried out again
            return  # (None: being carried out now)
        unrecorded: str | None = None  # why the command cannot be recorded
        try:
            seen = self.journal.command_seen(command.id)
        except FleetError as exc:
            seen, unrecorded = None, str(exc)
        if seen:
            self._reply(seen)  # redelivered: the same answer, not carried out again
            return
        if seen is not None:
            return  # being carried out now
        args = {k: v for k, v in command.args.items() if k != "card"}
        if "card" in command.args:
            args["card"] = "(given)"
        if unrecorded is None:
            try:
                self.journal.command_received(command.id, command.action, command.staff, command.reason, args)
            except FleetError as exc:
                unrecorded = str(exc)
        if unrecorded is not None:
            self._remember(command.id, None)
        log.info("fleet: command %s %s from %s", command.id, command.action, command.staff)
        reply: dict[str, Any] = {"id": command.id, "action": command.action, "site": self.settings.site,
                                 "device": self.settings.device, "staff": command.staff}
        if command.expires < datetime.now(timezone.utc):
            reply.update(ok=False, error="expired")
        elif self._on_command is None:
            reply.update(ok=False, error=f"this {self.settings.kind} takes no commands")
        elif unrecorded is not None and command.action not in self._unrecorded_actions():
            # Nothing is granted (nor a restriction lifted) that cannot be recorded.
            reply.update(ok=False, error=f"state not writable: {command.action} not carried out, "
                                         f"the {self.settings.kind} cannot record the command ({unrecorded})")
            log.error("COMMAND NOT RECORDED: %s %s from %s refused (state not writable: %s)",
                      command.id, command.action, command.staff, unrecorded)
        else:
            try:
                result = await self._on_command(command)
                reply.update(ok=True, result=result)
                if unrecorded is None and isinstance(result, dict) and result.get("recorded") is False:
                    # Taken by this journal, but the device itself could not record it (the door's
                    # audit on another, full disk): carried out in memory only; staff are told.
                    why = str(result.get("unrecorded") or "state not writable")
                    reply["recorded"] = False
                    reply["warning"] = f"state not writable: carried out, but not recorded on the {self.settings.kind} ({why})"
                    log.error("COMMAND NOT RECORDED: %s %s from %s carried out, not recorded by the %s (%s)",
                              command.id, command.action, command.staff, self.settings.kind, why)
            except CommandRefused as exc:
                reply.update(ok=False, error=str(exc))
            except Exception as exc:  # noqa: BLE001 - answered, never a crash
                log.exception("fleet: command %s failed", command.action)
                reply.update(ok=False, error=f"{type(exc).__name__}")
            if unrecorded is not None:
                # A restriction (or a question): carried out; staff are told it is not on record here.
                reply["warning"] = (f"state not writable: {'carried out' if reply['ok'] else 'answered'}, "
                                    f"but not recorded on the {self.settings.kind} ({unrecorded})")
                log.error("COMMAND NOT RECORDED: %s %s from %s %s, not recorded (state not writable: %s)",
                          command.id, command.action, command.staff,
                          "carried out" if reply["ok"] else "refused", unrecorded)
        if unrecorded is not None:
            reply["recorded"] = False
        reply["at"] = now_iso()
        if unrecorded is None:
            try:
                self.journal.command_answered(command.id, bool(reply.get("ok")), reply)
            except FleetError as exc:
                # Carried out and recorded as received, its answer not kept: remembered here instead.
                log.error("fleet: the answer to command %s %s is not recorded: %s", command.id, command.action, exc)
                self._remember(command.id, reply)
        else:
            self._remember(command.id, reply)
        self._reply(reply)
        # The device-side audit goes to the console too.
        event_id, body = self._event_body("command", None, dict(
            action=command.action, command_id=command.id, staff=command.staff, reason=command.reason,
            ok=bool(reply.get("ok")), error=reply.get("error"), recorded=False if reply.get("recorded") is False else None))
        self._queue(event_id, self.t_event, encode(body))

    def _reply(self, reply: dict[str, Any]) -> None:
        self._queue(f"reply-{reply['id']}-{uuid.uuid4().hex[:8]}", self.t_reply, encode(reply))

    def _queue(self, row_id: str, topic_: str, payload: bytes) -> None:
        """Into the outbox; when it cannot take it (a full disk), held in memory and sent from there
        (lost only if the process ends before the link is up)."""
        try:
            self.journal.add(row_id, topic_, payload)
        except FleetError as exc:
            if not self._held:
                log.warning("fleet: the outbox cannot be written (%s): replies are sent from memory", exc)
            self._held.append((topic_, payload))
        self._wake.set()
