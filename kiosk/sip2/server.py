"""An asyncio SIP2 server core (the ACS side) around :class:`Sip2Codec`.

    class Library(Sip2Handler):
        async def on_login(self, msg, session):
            ok = msg.login_user_id == "kiosk" and msg.login_password == "secret"
            if ok:
                session.account = "kiosk"
            return LoginResponse(ok=ok)

        def on_patron_information(self, msg, session):   # sync is fine too
            return PatronInformationResponse(patron_identifier=msg.patron_identifier, ...)

    server = Sip2Server(Library(institution_id="BIB"))
    port = await server.start("127.0.0.1", 0)
    ...
    await server.close()

- Many connections at once; requests on one connection are answered in order.
- A handler method per message type; any method not overridden answers
  sensibly (a refusal naming the patron/item, an ACS status built from the
  overridden methods, end-session yes).  Handler methods may be sync or async.
- A frame that cannot be read (bad checksum, cut short, not SIP2) is answered
  with 96; 97 re-sends the last answer; no bytes crash the server.
- Answers carry AY/AZ when the request did (``error_detection="auto"``),
  always (``True``) or never (``False``).
- Log lines show frames only through :func:`redact_frame`.
- Limits: ``max_connections`` (at the cap, the connection idle longest
  that has not logged in makes room; else the newcomer is closed),
  ``max_connections_per_address``, ``idle_timeout`` (logged in) and
  ``login_timeout`` (not yet logged in).  The cap never exceeds what the
  open-file limit leaves (``RLIMIT_NOFILE`` less a reserve); ``accept()``
  failing at the limit is one log line per burst, not a traceback each.
- A handler sets ``session.close_after_answer`` to drop the connection once
  its answer is sent (too many failed logins).
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import itertools
import logging
import resource
import ssl as ssl_module
import time
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Literal

from kiosk.logsafe import BurstLog, stack_only

from .codec import DEFAULT_MAX_FRAME, Sip2Codec
from .errors import LocalSip2Error, RemoteSip2Error, Sip2Error
from .messages import (
    MAX_FIELD_LENGTH,
    AcsStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnable,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RegistrationsRequest,
    RegistrationsResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
    now,
    supported_messages_field,
)
from .redact import redact_frame

log = logging.getLogger("kiosk.sip2.server")

_connection_ids = itertools.count(1)


@dataclass(eq=False)
class Sip2Session:
    """Per-connection state handed to every handler call.

    ``account`` and ``state`` belong to the handler: set ``session.account``
    in ``on_login`` (the server sets ``logged_in`` and ``login_user_id``
    when the answer is ``ok``)."""

    connection_id: int
    peer: Any = None
    logged_in: bool = False
    login_user_id: str | None = None
    location_code: str | None = None
    account: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    last_response: bytes | None = field(default=None, repr=False)
    #: set by a handler: close the connection once this answer is sent
    close_after_answer: bool = False
    #: monotonic time of the last request (or of the connection)
    last_activity: float = 0.0

    @property
    def address(self) -> str:
        """The peer's address without the port ("127.0.0.1")."""
        peer = self.peer
        if isinstance(peer, (tuple, list)) and peer:
            return str(peer[0])
        return str(peer) if peer else "?"


_DENIED = PatronStatus(
    charge_privileges_denied=True,
    renewal_privileges_denied=True,
    recall_privileges_denied=True,
    hold_privileges_denied=True,
)


def refusal_for(msg: Message, screen_message: str | None = None) -> Message | None:
    """The protocol-valid negative answer to request ``msg`` (None for codes
    that get no answer).  Identifiers are echoed from the request (cut to the
    255 characters a field may hold: a peer may send longer ones)."""
    af = (screen_message,) if screen_message else ()
    kind = type(msg)
    original = msg
    if isinstance(msg, Message) and any(
        isinstance(getattr(msg, spec.name), str) and len(getattr(msg, spec.name)) > MAX_FIELD_LENGTH for spec in msg.SPEC
    ):
        msg = object.__new__(kind)
        for spec in kind.SPEC:
            value = getattr(original, spec.name)
            object.__setattr__(msg, spec.name, value[:MAX_FIELD_LENGTH] if isinstance(value, str) else value)
        object.__setattr__(msg, "extra_fields", ())
    inst = getattr(msg, "institution_id", "")
    if kind is LoginRequest:
        return LoginResponse(ok=False)
    if kind is ScStatus:
        return AcsStatus(
            online_status=False, checkin_ok=False, checkout_ok=False, acs_renewal_policy=False,
            status_update_ok=False, offline_ok=False, supported_messages="N" * 16, screen_message=af,
        )  # fmt: skip
    if kind in (PatronStatusRequest, BlockPatron):
        return PatronStatusResponse(
            patron_status=_DENIED, institution_id=inst, patron_identifier=msg.patron_identifier,
            valid_patron=False, valid_patron_password=False, screen_message=af,
        )  # fmt: skip
    if kind is PatronInformationRequest:
        return PatronInformationResponse(
            patron_status=_DENIED, language=msg.language, institution_id=inst,
            patron_identifier=msg.patron_identifier, valid_patron=False, valid_patron_password=False,
            screen_message=af,
        )  # fmt: skip
    if kind is CheckoutRequest:
        return CheckoutResponse(
            ok=False, renewal_ok=False, magnetic_media=None, desensitize=False, institution_id=inst,
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier, screen_message=af,
        )  # fmt: skip
    if kind is CheckinRequest:
        return CheckinResponse(
            ok=False, resensitize=False, magnetic_media=None, alert=False, institution_id=inst,
            item_identifier=msg.item_identifier, screen_message=af,
        )  # fmt: skip
    if kind is RenewRequest:
        return RenewResponse(
            ok=False, renewal_ok=False, magnetic_media=None, desensitize=False, institution_id=inst,
            patron_identifier=msg.patron_identifier, item_identifier=msg.item_identifier or "",
            title_identifier=msg.title_identifier or "", screen_message=af,
        )  # fmt: skip
    if kind is RenewAllRequest:
        return RenewAllResponse(ok=False, institution_id=inst, screen_message=af)
    if kind is ItemInformationRequest:
        return ItemInformationResponse(
            circulation_status=1, security_marker=0, fee_type=1, item_identifier=msg.item_identifier,
            screen_message=af,
        )  # fmt: skip
    if kind is FeePaidRequest:
        return FeePaidResponse(
            payment_accepted=False, institution_id=inst, patron_identifier=msg.patron_identifier,
            transaction_id=msg.transaction_id, screen_message=af,
        )  # fmt: skip
    if kind is EndPatronSessionRequest:
        return EndSessionResponse(
            end_session=False, institution_id=inst, patron_identifier=msg.patron_identifier, screen_message=af
        )
    if kind is ItemStatusUpdate:
        return ItemStatusUpdateResponse(
            item_properties_ok=False, item_identifier=msg.item_identifier, screen_message=af
        )
    if kind is PatronEnable:
        return PatronEnableResponse(
            patron_status=_DENIED, institution_id=inst, patron_identifier=msg.patron_identifier,
            valid_patron=False, valid_patron_password=False, screen_message=af,
        )  # fmt: skip
    if kind is RegistrationsRequest:
        return RegistrationsResponse(institution_id=inst, patron_identifier=msg.patron_identifier, screen_message=af)
    if kind is HoldRequest:
        return HoldResponse(
            ok=False, available=False, institution_id=inst, patron_identifier=msg.patron_identifier,
            item_identifier=msg.item_identifier, title_identifier=msg.title_identifier, screen_message=af,
        )  # fmt: skip
    return None


_DISPATCH: dict[type[Message], str] = {
    LoginRequest: "on_login",
    ScStatus: "on_sc_status",
    PatronStatusRequest: "on_patron_status",
    PatronInformationRequest: "on_patron_information",
    CheckoutRequest: "on_checkout",
    CheckinRequest: "on_checkin",
    RenewRequest: "on_renew",
    RenewAllRequest: "on_renew_all",
    ItemInformationRequest: "on_item_information",
    FeePaidRequest: "on_fee_paid",
    EndPatronSessionRequest: "on_end_patron_session",
    ItemStatusUpdate: "on_item_status_update",
    BlockPatron: "on_block_patron",
    HoldRequest: "on_hold",
    PatronEnable: "on_patron_enable",
    RegistrationsRequest: "on_registrations",
}

# BX position code -> handler method that makes it supported.
_SUPPORT: dict[str, str] = {
    "23": "on_patron_status",
    "11": "on_checkout",
    "09": "on_checkin",
    "01": "on_block_patron",
    "93": "on_login",
    "63": "on_patron_information",
    "35": "on_end_patron_session",
    "37": "on_fee_paid",
    "17": "on_item_information",
    "19": "on_item_status_update",
    "15": "on_hold",
    "25": "on_patron_enable",
    "29": "on_renew",
    "65": "on_renew_all",
}


class Sip2Handler:
    """Subclass and override the ``on_*`` methods you support.

    Each ``on_*(msg, session)`` returns the answer message (or None for no
    answer) and may be a plain or an ``async`` method.  ``handle`` dispatches;
    override it to see every message first.
    """

    #: refuse everything but 93, 99 and 97 until a login succeeded
    login_required: bool = False
    institution_id: str = ""
    library_name: str | None = None
    terminal_location: str | None = None
    #: what the 98 says, in tenths of a second / number of retries
    timeout_period: int = 30
    retries_allowed: int = 3
    offline_ok: bool = False
    not_supported_message: str = "Not supported"
    login_required_message: str = "Not logged in"
    error_message: str = "System error"

    def __init__(
        self,
        *,
        institution_id: str | None = None,
        library_name: str | None = None,
        login_required: bool | None = None,
    ) -> None:
        if institution_id is not None:
            self.institution_id = institution_id
        if library_name is not None:
            self.library_name = library_name
        if login_required is not None:
            self.login_required = login_required

    # -- dispatch ----------------------------------------------------------

    async def handle(self, msg: Message, session: Sip2Session) -> Message | None:
        if (
            self.login_required
            and not session.logged_in
            and not isinstance(msg, (LoginRequest, ScStatus))
        ):
            return refusal_for(msg, self.login_required_message)
        name = _DISPATCH.get(type(msg))
        if name is None:
            result = self.on_unknown(msg, session)
        else:
            result = getattr(self, name)(msg, session)
        if inspect.isawaitable(result):
            result = await result
        return result

    def overrides(self, method: str) -> bool:
        """Whether this handler's class overrides ``on_*`` method ``method``."""
        return getattr(type(self), method, None) is not getattr(Sip2Handler, method, None)

    def supported_codes(self) -> set[str]:
        codes = {"99", "97", "35"}  # 35 is answered yes by default
        codes.update(code for code, method in _SUPPORT.items() if self.overrides(method))
        return codes

    # -- defaults ----------------------------------------------------------

    def on_login(self, msg: LoginRequest, session: Sip2Session) -> Message | None:
        return LoginResponse(ok=False)

    def on_sc_status(self, msg: ScStatus, session: Sip2Session) -> Message | None:
        return AcsStatus(
            online_status=True,
            checkin_ok=self.overrides("on_checkin"),
            checkout_ok=self.overrides("on_checkout"),
            acs_renewal_policy=self.overrides("on_renew") or self.overrides("on_renew_all"),
            status_update_ok=self.overrides("on_block_patron"),
            offline_ok=self.offline_ok,
            timeout_period=self.timeout_period,
            retries_allowed=self.retries_allowed,
            date_time_sync=now(),
            institution_id=self.institution_id,
            library_name=self.library_name,
            supported_messages=supported_messages_field(self.supported_codes()),
            terminal_location=self.terminal_location,
        )

    def on_patron_status(self, msg: PatronStatusRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_patron_information(self, msg: PatronInformationRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_checkout(self, msg: CheckoutRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_checkin(self, msg: CheckinRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_renew(self, msg: RenewRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_renew_all(self, msg: RenewAllRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_item_information(self, msg: ItemInformationRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_fee_paid(self, msg: FeePaidRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_end_patron_session(self, msg: EndPatronSessionRequest, session: Sip2Session) -> Message | None:
        return EndSessionResponse(
            end_session=True, institution_id=msg.institution_id, patron_identifier=msg.patron_identifier
        )

    def on_item_status_update(self, msg: ItemStatusUpdate, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_block_patron(self, msg: BlockPatron, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_hold(self, msg: HoldRequest, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_patron_enable(self, msg: PatronEnable, session: Sip2Session) -> Message | None:
        return refusal_for(msg, self.not_supported_message)

    def on_registrations(self, msg: RegistrationsRequest, session: Sip2Session) -> Message | None:
        """41 (Wise SIP2+): answer a 42 with one YZ per registration
        (``RegistrationsResponse.of(registrations, ...)``).  A fee paid by
        registration is a 37 with CG = adm_id: see :meth:`on_fee_paid`."""
        return refusal_for(msg, self.not_supported_message)

    def on_unknown(self, msg: Message, session: Sip2Session) -> Message | None:
        """Codes we have no class for (UnknownMessage) and stray answers: no
        answer by default, as the standard has it."""
        return None

    def on_error(self, msg: Message, session: Sip2Session, exc: BaseException) -> Message | None:
        """A handler method raised: answer with the refusal for ``msg``."""
        return refusal_for(msg, self.error_message)

    async def on_connect(self, session: Sip2Session) -> None:
        """A connection opened."""

    async def on_disconnect(self, session: Sip2Session) -> None:
        """A connection closed."""


class Sip2Server:
    """Serve a :class:`Sip2Handler` over TCP (optionally TLS)."""

    def __init__(
        self,
        handler: Sip2Handler,
        *,
        encoding: str = "cp850",
        error_detection: bool | Literal["auto"] = "auto",
        terminator: bytes = b"\r",
        tz: tzinfo | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float | None = None,
        max_unreadable: int | None = None,
        max_connections: int | None = None,
        max_connections_per_address: int | None = None,
        login_timeout: float | None = None,
        fd_reserve: int = 32,
    ) -> None:
        if error_detection not in (True, False, "auto"):
            raise LocalSip2Error("error_detection must be True, False or 'auto'", field="error_detection")
        Sip2Codec(encoding, terminator=terminator)  # validate the options now
        self.handler = handler
        self.encoding = encoding
        self.error_detection = error_detection
        self.terminator = terminator
        self.tz = tz
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.max_unreadable = max_unreadable
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.login_timeout = login_timeout
        self.fd_reserve = fd_reserve
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._session_writers: dict[int, asyncio.StreamWriter] = {}
        self._refused_log = BurstLog(log, "connections refused (connection limit)")
        self._accept_log = BurstLog(log, "accept() failed (open-file limit reached)", quiet=10.0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_exception_handler: Any = None
        self.sessions: dict[int, Sip2Session] = {}
        self.port: int | None = None

    def connection_cap(self) -> int | None:
        """The connections served at once: ``max_connections``, but never
        more than the open-file limit leaves after ``fd_reserve``."""
        try:
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (OSError, ValueError):  # pragma: no cover
            soft = resource.RLIM_INFINITY
        by_files = None if soft == resource.RLIM_INFINITY else max(1, soft - self.fd_reserve)
        caps = [c for c in (self.max_connections, by_files) if c is not None]
        return min(caps) if caps else None

    async def start(self, host: str = "127.0.0.1", port: int = 0, ssl: ssl_module.SSLContext | None = None) -> int:
        """Listen on ``host:port`` (0 = a free port); return the bound port."""
        self._cap = self.connection_cap()
        self._install_accept_handler()
        self._server = await asyncio.start_server(self._on_connection, host, port, ssl=ssl, limit=self.max_frame)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SIP2 server listening on %s:%s%s", host, self.port, " (TLS)" if ssl else "")
        return self.port

    async def serve_forever(self) -> None:
        if self._server is None:
            raise LocalSip2Error("start() the server first", field="server")
        await self._server.serve_forever()

    def _install_accept_handler(self) -> None:
        """accept() at the open-file limit: asyncio pauses accepting for a
        second and reports it with a traceback each time; one line per
        burst instead."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._previous_exception_handler = loop.get_exception_handler()
        previous = self._previous_exception_handler

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if (
                isinstance(exc, OSError)
                and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
                and "accept" in str(context.get("message", ""))
            ):
                self._accept_log.note("the listening socket", time.monotonic(), errno.errorcode.get(exc.errno, ""))
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    def _restore_accept_handler(self) -> None:
        if self._loop is not None:
            try:
                self._loop.set_exception_handler(self._previous_exception_handler)
            except RuntimeError:  # pragma: no cover - loop closed
                pass
            self._loop = None
        now = time.monotonic()
        self._accept_log.flush(now, everything=True)
        self._refused_log.flush(now, everything=True)

    def _make_room(self, address: str) -> bool:
        """Whether a new connection from *address* may be served, closing
        the longest-idle connection that has not logged in when at the cap."""
        per_address = self.max_connections_per_address
        if per_address is not None and sum(1 for s in self.sessions.values() if s.address == address) >= per_address:
            return False
        cap = getattr(self, "_cap", None)
        if cap is None or len(self.sessions) < cap:
            return True
        idle = [s for s in self.sessions.values() if not s.logged_in and s.connection_id in self._session_writers]
        if not idle:
            return False
        victim = min(idle, key=lambda s: s.last_activity)
        writer = self._session_writers.pop(victim.connection_id)
        self.sessions.pop(victim.connection_id, None)  # room now; its task ends by itself
        log.debug("connection %d closed to make room (connection limit)", victim.connection_id)
        transport = writer.transport
        if transport is not None:
            transport.abort()
        return True

    async def close(self) -> None:
        """Stop listening and close every connection."""
        self._restore_accept_handler()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Sip2Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connections(self) -> int:
        return len(self.sessions)

    # -- one connection ----------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session = Sip2Session(connection_id=next(_connection_ids), peer=peer, last_activity=time.monotonic())
        if not self._make_room(session.address):
            self._refused_log.note(session.address, session.last_activity)
            transport = writer.transport
            if transport is not None:
                transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.sessions[session.connection_id] = session
        self._session_writers[session.connection_id] = writer
        codec = Sip2Codec(
            self.encoding,
            error_detection=self.error_detection is True,
            terminator=self.terminator,
            tz=self.tz,
            max_frame=self.max_frame,
        )
        log.debug("connection %d opened", session.connection_id)
        try:
            await self.handler.on_connect(session)
            await self._serve(reader, writer, codec, session)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, TimeoutError, ssl_module.SSLError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:  # never let one connection take the server down
            log.error("connection %d failed: %s", session.connection_id, type(exc).__name__)
            log.debug("connection %d failure detail:\n%s", session.connection_id, stack_only(exc))
        finally:
            self.sessions.pop(session.connection_id, None)
            self._session_writers.pop(session.connection_id, None)
            self._writers.discard(writer)
            try:
                await self.handler.on_disconnect(session)
            except Exception as exc:  # pragma: no cover - a handler bug
                log.debug("on_disconnect failed:\n%s", stack_only(exc))
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (Exception, asyncio.CancelledError):
                pass
            if task is not None:
                self._tasks.discard(task)
            log.debug("connection %d closed after %d requests", session.connection_id, session.requests)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, codec: Sip2Codec, session: Sip2Session
    ) -> None:
        unreadable = 0
        while True:
            timeout = self.idle_timeout if session.logged_in else (self.login_timeout or self.idle_timeout)
            if timeout is not None:
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    log.debug("connection %d idle, closing", session.connection_id)
                    return
            else:
                data = await reader.read(65536)
            if not data:
                return
            session.last_activity = time.monotonic()
            codec.receive_data(data)
            while True:
                try:
                    frame = codec.next_frame()
                except RemoteSip2Error as exc:
                    log.warning("connection %d: %s", session.connection_id, exc)
                    await self._send(writer, session, codec, RequestScResend(), None, remember=False)
                    continue
                if frame is None:
                    break
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("connection %d recv %s", session.connection_id, redact_frame(frame, encoding=self.encoding))
                try:
                    msg = codec.decode(frame)
                except Sip2Error as exc:
                    unreadable += 1
                    log.warning("connection %d: unreadable frame (%s), asking a resend", session.connection_id, exc)
                    if self.max_unreadable is not None and unreadable > self.max_unreadable:
                        log.warning("connection %d: too many unreadable frames in a row, closing", session.connection_id)
                        return
                    await self._send(writer, session, codec, RequestScResend(), None, remember=False)
                    continue
                unreadable = 0
                session.requests += 1
                had_checksum = codec.last_had_checksum
                seq = codec.last_sequence
                if isinstance(msg, RequestAcsResend):
                    if session.last_response is not None:
                        writer.write(session.last_response)
                        await writer.drain()
                    else:
                        await self._send(writer, session, codec, RequestScResend(), None, remember=False)
                    continue
                if isinstance(msg, RequestScResend):
                    continue  # an SC asking us to resend makes no sense; ignore
                answer = await self._answer(msg, session)
                if answer is None:
                    if session.close_after_answer:
                        return
                    continue
                checksummed = had_checksum if self.error_detection == "auto" else bool(self.error_detection)
                await self._send(writer, session, codec, answer, seq if checksummed else None, checksummed=checksummed, request=msg)
                if session.close_after_answer:
                    return

    async def _answer(self, msg: Message, session: Sip2Session) -> Message | None:
        handler = self.handler
        try:
            answer = await handler.handle(msg, session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "connection %d: handler failed on a %s: %s: %s",
                session.connection_id,
                msg.command_code,
                type(exc).__name__,
                exc if isinstance(exc, Sip2Error) else "",
            )
            log.debug("handler failure detail:\n%s", stack_only(exc))
            try:
                answer = handler.on_error(msg, session, exc)
            except Exception as again:
                log.error(
                    "connection %d: on_error failed too: %s: %s",
                    session.connection_id,
                    type(again).__name__,
                    again if isinstance(again, Sip2Error) else "",
                )
                answer = None
        if answer is not None and not isinstance(answer, Message):
            log.error("connection %d: handler returned a %s, not a message", session.connection_id, type(answer).__name__)
            answer = refusal_for(msg, handler.error_message)
        if isinstance(msg, LoginRequest) and isinstance(answer, LoginResponse) and answer.ok:
            session.logged_in = True
            session.login_user_id = msg.login_user_id
            session.location_code = msg.location_code
        return answer

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        session: Sip2Session,
        codec: Sip2Codec,
        answer: Message,
        seq: int | None,
        *,
        checksummed: bool | None = None,
        remember: bool = True,
        request: Message | None = None,
    ) -> None:
        if checksummed is None:
            checksummed = self.error_detection is not False
        try:
            frame = codec.encode(answer, seq if seq is not None else 0, error_detection=checksummed)
        except LocalSip2Error as exc:
            log.error("connection %d: cannot encode the handler's answer: %s", session.connection_id, exc)
            fallback = refusal_for(request, self.handler.error_message) if request is not None else None
            if fallback is None:
                return
            frame = codec.encode(fallback, seq if seq is not None else 0, error_detection=checksummed)
        if remember:
            session.last_response = frame
        if log.isEnabledFor(logging.DEBUG):
            log.debug("connection %d send %s", session.connection_id, redact_frame(frame, encoding=self.encoding))
        writer.write(frame)
        await writer.drain()


__all__ = ["Sip2Handler", "Sip2Server", "Sip2Session", "refusal_for"]
