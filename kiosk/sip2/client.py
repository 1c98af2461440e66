"""An asyncio SIP2 client (the SC side) around :class:`Sip2Codec`.

    settings = ClientSettings(host="wise.example", port=6001, user="kiosk",
                              password="...", institution="BIB", location="KIOSK1")
    async with Sip2Client(settings) as client:          # connect, 93, 99
        info = await client.patron_information("2000123456", pin="1234", summary="charged")
        if info.valid_patron: ...

Behaviour:
- one request at a time per connection (an asyncio lock): SIP2 is strictly
  request/response;
- on connect: log in (93, when ``user`` is set) and send an SC status (99);
  an idle connection gets a 99 every ``keepalive_seconds``;
- an answer must come within ``timeout`` seconds, else
  :class:`Sip2ConnectionError` (the connection is closed, the next request
  reconnects);
- a 96 from the ACS makes us send the same frame again; an answer with a bad
  checksum or that we cannot read makes us send 97; both at most ``retries``
  times;
- when the connection drops, we reconnect with exponential backoff and log in
  again.  A request that reads (93, 99, 23, 63, 17, 35) is then sent again;
  one that changes state (checkout, checkin, renew, fee paid, ...) is not,
  unless ``retry_unsafe``: it raises ``Sip2ConnectionError`` with
  ``outcome_unknown=True`` so the caller can check with an item information;
- optional TLS with a CA file and a client certificate;
- log lines show frames only through :func:`redact_frame`: never a PIN (AD),
  password (CO, AC), patron identifier or name.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .codec import Sip2Codec
from .dialects import REGISTRATION_FEE_TYPE, REGISTRATION_PAYMENT_TYPE
from .errors import LocalSip2Error, RemoteSip2Error, Sip2ConnectionError, Sip2Error, Sip2LoginError
from .messages import (
    RESPONSE_FOR,
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
    PatronInformationRequest,
    PatronInformationResponse,
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
    Summary,
    UnknownMessage,
)
from .messages import register_sensitive_codes
from .redact import redact_frame

log = logging.getLogger("kiosk.sip2.client")

M = TypeVar("M", bound=Message)

#: requests that only read: safe to send again after a lost answer
SAFE_TO_REPEAT: frozenset[str] = frozenset({"93", "99", "23", "63", "17", "35", "97", "41"})


class ClientSettings(BaseModel):
    """How to reach and talk to a library system over SIP2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(6001, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_verify_hostname: bool = True
    user: str | None = None  # CN; None: no 93 login
    password: SecretStr | None = None  # CO
    location: str | None = None  # CP in the login, AP in checkins
    institution: str = ""  # AO
    terminal_password: SecretStr | None = None  # AC
    language: int = Field(0, ge=0, le=999)
    encoding: str = "cp850"
    error_detection: bool = True
    terminator: Literal["\r", "\r\n", "\n"] = "\r"
    timezone: str | None = None  # IANA zone of the library system; None: this machine's
    send_utc: bool = False
    timeout: float = Field(10.0, gt=0)  # seconds for an answer
    connect_timeout: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0, le=20)  # resends (96/97) and reconnect attempts
    backoff_initial: float = Field(0.2, ge=0)
    backoff_max: float = Field(10.0, ge=0)
    #: a 99 on an idle connection this often: below the common 60 s idle timeout
    keepalive_seconds: float | None = Field(45.0, gt=0)
    #: before a request that changes state (checkout, ...) on a connection idle
    #: this long, a 99 checks the link, so that a link the library system has
    #: dropped is reopened before the request goes out (not after: then its
    #: outcome would be unknown); None = never
    probe_idle_seconds: float | None = Field(20.0, ge=0)
    #: more field codes whose values are masked in log lines (configured
    #: extension codes with personal data, e.g. the birth date's)
    sensitive_codes: tuple[str, ...] = ()
    status_on_connect: bool = True
    retry_unsafe: bool = False
    max_print_width: int = Field(80, ge=0, le=999)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            "x".encode(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def tzinfo(self) -> tzinfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file:
                context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise LocalSip2Error(f"TLS set-up failed: {exc}", field="tls") from None
        context.check_hostname = self.tls_verify_hostname
        return context


class _Dropped(Exception):
    """The connection died under a request (internal)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


class Sip2Client:
    """One SIP2 connection to a library system, with recovery."""

    def __init__(self, settings: ClientSettings, *, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.log = logger or log
        register_sensitive_codes(settings.sensitive_codes)
        self._tz = settings.tzinfo()
        self._ssl = settings.ssl_context()
        self._codec = self._new_codec()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._keepalive: asyncio.Task | None = None
        self._last_used = 0.0
        self._closed = False
        #: the last 98 the library system sent
        self.acs_status: AcsStatus | None = None
        #: how many times we reconnected after a drop
        self.reconnects = 0

    def _new_codec(self) -> Sip2Codec:
        s = self.settings
        return Sip2Codec(
            s.encoding, s.error_detection, s.terminator.encode(), tz=self._tz, send_utc=s.send_utc
        )

    # -- life cycle ----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Connect, log in and send an SC status; raise Sip2ConnectionError
        when the library system is unreachable, Sip2LoginError on ok=0."""
        self._closed = False
        async with self._lock:
            await self._open()
        self._start_keepalive()

    async def close(self) -> None:
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            try:
                await self._keepalive
            except (asyncio.CancelledError, Exception):
                pass
            self._keepalive = None
        await self._drop()

    async def __aenter__(self) -> Sip2Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _drop(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except Exception:
                pass

    async def _open(self) -> None:
        """Open the TCP/TLS connection, then 93 and 99 (lock held)."""
        s = self.settings
        await self._drop()
        self._codec = self._new_codec()
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    s.host, s.port, ssl=self._ssl, server_hostname=s.host if self._ssl else None
                ),
                s.connect_timeout,
            )
        except TimeoutError:
            raise Sip2ConnectionError(f"library system {s.host}:{s.port} did not accept a connection within {s.connect_timeout:g} s") from None
        except ssl.SSLError as exc:
            raise Sip2ConnectionError(f"TLS with {s.host}:{s.port} failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise Sip2ConnectionError(f"library system {s.host}:{s.port} is unreachable: {exc.strerror or exc}") from None
        self.log.info("connected to %s:%s%s", s.host, s.port, " (TLS)" if self._ssl else "")
        try:
            if s.user is not None:
                answer = await self._exchange(self._login_request(), LoginResponse)
                if not answer.ok:
                    await self._drop()
                    raise Sip2LoginError(f"the library system refused the login of account {s.user!r}")
            if s.status_on_connect:
                self.acs_status = await self._exchange(self._status_request(), AcsStatus)
                if not self.acs_status.online_status:
                    self.log.warning("the library system says it is offline")
        except _Dropped as exc:
            await self._drop()
            raise Sip2ConnectionError(f"connection to {s.host}:{s.port} dropped during log-in: {exc}") from None
        except Sip2Error:
            await self._drop()
            raise
        self._last_used = time.monotonic()

    async def _reopen(self, reason: str) -> None:
        """Reconnect with exponential backoff (lock held)."""
        s = self.settings
        delay = s.backoff_initial
        last: Exception | None = None
        for attempt in range(s.retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2 or s.backoff_initial, s.backoff_max)
            self.log.info("reconnecting (%s), attempt %d", reason, attempt + 1)
            try:
                await self._open()
                self.reconnects += 1
                return
            except Sip2LoginError:
                raise
            except Sip2Error as exc:
                last = exc
        raise Sip2ConnectionError(f"cannot reconnect to {s.host}:{s.port}: {last}")

    def _start_keepalive(self) -> None:
        if self.settings.keepalive_seconds and (self._keepalive is None or self._keepalive.done()):
            self._keepalive = asyncio.create_task(self._keepalive_loop(), name="sip2-keepalive")

    async def _keepalive_loop(self) -> None:
        period = self.settings.keepalive_seconds
        assert period
        while not self._closed:
            idle = time.monotonic() - self._last_used
            if idle < period:
                await asyncio.sleep(period - idle)
                continue
            try:
                await self.sc_status()
            except Sip2Error as exc:
                self.log.warning("keep-alive status failed: %s", exc)
                self._last_used = time.monotonic()

    # -- requests ----------------------------------------------------------

    async def request(self, msg: Message, expect: type[M] | None = None) -> M:
        """Send ``msg`` and return the answer (of type ``expect``, else of the
        type that answers ``msg``'s code; any type for unknown codes)."""
        async with self._lock:
            if self._closed and self._writer is None:
                self._closed = False
            if not self.connected:
                await self._reopen("not connected")
            safe = msg.command_code in SAFE_TO_REPEAT or self.settings.retry_unsafe
            if not safe:
                await self._probe_if_idle()
            attempts = 0
            while True:
                try:
                    answer = await self._exchange(msg, expect)
                    self._last_used = time.monotonic()
                    if self._keepalive is None and self.settings.keepalive_seconds:
                        self._start_keepalive()
                    return answer
                except _Dropped as exc:
                    await self._drop()
                    attempts += 1
                    if exc.sent and not safe:
                        raise Sip2ConnectionError(
                            f"connection dropped before the answer to a {msg.command_code} ({exc}); "
                            "the library system may or may not have done it",
                            outcome_unknown=True,
                        ) from None
                    if attempts > self.settings.retries:
                        raise Sip2ConnectionError(f"connection keeps dropping: {exc}") from None
                    await self._reopen(str(exc))

    async def _probe_if_idle(self) -> None:
        """Check an idle link with a 99 before a request that changes state
        (lock held): a dead link is reopened now, while nothing is at stake."""
        limit = self.settings.probe_idle_seconds
        if limit is None or time.monotonic() - self._last_used < limit:
            return
        try:
            self.acs_status = await self._exchange(self._status_request(), AcsStatus)
            self._last_used = time.monotonic()
        except (_Dropped, Sip2ConnectionError) as exc:
            await self._drop()
            await self._reopen(f"idle link did not answer a status request: {exc}")

    async def _exchange(self, msg: Message, expect: type[M] | None = None) -> M:
        """Send one request and read its answer on the open connection.
        Raises _Dropped when the connection dies, Sip2ConnectionError on a
        timeout, RemoteSip2Error when the answers stay unreadable."""
        s = self.settings
        codec = self._codec
        seq = codec.next_sequence() if s.error_detection else None
        frame = codec.encode(msg, seq)
        expected_code = expect.CODE if expect is not None else RESPONSE_FOR.get(msg.command_code)
        resends = 0
        reader = self._reader
        if reader is None or reader.at_eof():
            # The library system hung up while we were idle: nothing was sent.
            raise _Dropped("the library system had closed the connection", sent=False)
        await self._write(frame, sent=False)
        deadline = time.monotonic() + s.timeout
        while True:
            raw = await self._read_frame(deadline, msg)
            try:
                answer = codec.decode(raw)
            except RemoteSip2Error as exc:
                resends += 1
                if resends > s.retries:
                    raise RemoteSip2Error(f"answers to a {msg.command_code} stay unreadable: {exc}", field=exc.field) from None
                self.log.warning("unreadable answer (%s); asking a resend (97)", exc)
                await self._write(codec.encode(RequestAcsResend()), sent=True)
                deadline = time.monotonic() + s.timeout
                continue
            if isinstance(answer, RequestScResend):
                resends += 1
                if resends > s.retries:
                    raise RemoteSip2Error(f"the library system keeps asking to resend a {msg.command_code}")
                self.log.warning("the library system could not read our %s; sending it again", msg.command_code)
                await self._write(frame, sent=True)
                deadline = time.monotonic() + s.timeout
                continue
            if (
                seq is not None
                and not isinstance(msg, RequestAcsResend)  # the resent answer has the old AY
                and codec.last_sequence is not None
                and codec.last_sequence != seq
                and answer.command_code != expected_code
            ):
                # A late answer to an earlier request: skip it.
                self.log.info("skipping a stale %s answer", answer.command_code)
                continue
            if expected_code is not None and answer.command_code != expected_code:
                raise RemoteSip2Error(
                    f"the library system answered a {msg.command_code} with a {answer.command_code}, not a {expected_code}"
                )
            return answer  # type: ignore[return-value]

    async def _write(self, frame: bytes, *, sent: bool) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise _Dropped("not connected", sent=sent)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("send %s", redact_frame(frame, encoding=self.settings.encoding))
        try:
            writer.write(frame)
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            raise _Dropped(f"write failed: {type(exc).__name__}", sent=sent) from None

    async def _read_frame(self, deadline: float, msg: Message) -> bytes:
        codec = self._codec
        reader = self._reader
        while True:
            try:
                raw = codec.next_frame()
            except RemoteSip2Error as exc:
                raise _Dropped(str(exc), sent=True) from None
            if raw is not None:
                if self.log.isEnabledFor(logging.DEBUG):
                    self.log.debug("recv %s", redact_frame(raw, encoding=self.settings.encoding))
                return raw
            if reader is None:
                raise _Dropped("not connected", sent=True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._timeout(msg)
            try:
                data = await asyncio.wait_for(reader.read(65536), remaining)
            except TimeoutError:
                await self._timeout(msg)
            except (ConnectionError, OSError) as exc:
                raise _Dropped(f"read failed: {type(exc).__name__}", sent=True) from None
            if not data:
                raise _Dropped("the library system closed the connection", sent=True)
            codec.receive_data(data)

    async def _timeout(self, msg: Message) -> None:
        await self._drop()
        s = self.settings
        raise Sip2ConnectionError(
            f"no answer to a {msg.command_code} from {s.host}:{s.port} within {s.timeout:g} s",
            outcome_unknown=msg.command_code not in SAFE_TO_REPEAT,
        )

    # -- building requests -------------------------------------------------

    def _ac(self) -> str:
        tp = self.settings.terminal_password
        return tp.get_secret_value() if tp is not None else ""

    def _language(self, language: int | None) -> int:
        if language is None:
            return self.settings.language
        if not 0 <= language <= 999:
            raise LocalSip2Error(f"a SIP2 language code is 000-999, not {language}", field="language")
        return language

    def _login_request(self) -> LoginRequest:
        s = self.settings
        return LoginRequest(
            login_user_id=s.user or "",
            login_password=s.password.get_secret_value() if s.password is not None else "",
            location_code=s.location,
        )

    def _status_request(self, status_code: int = 0) -> ScStatus:
        return ScStatus(status_code=status_code, max_print_width=self.settings.max_print_width)

    # -- convenience -------------------------------------------------------

    async def login(self) -> LoginResponse:
        """Send a 93 with the configured account; Sip2LoginError on ok=0."""
        answer = await self.request(self._login_request(), LoginResponse)
        if not answer.ok:
            raise Sip2LoginError(f"the library system refused the login of account {self.settings.user!r}")
        return answer

    async def sc_status(self, status_code: int = 0) -> AcsStatus:
        answer = await self.request(self._status_request(status_code), AcsStatus)
        self.acs_status = answer
        return answer

    async def patron_status(
        self, patron_id: str, pin: str | None = None, *, language: int | None = None
    ) -> PatronStatusResponse:
        """A 23; *language*: the SIP2 language code the patron's texts should
        come in (default: the ``language`` setting, 000 = no wish)."""
        return await self.request(
            PatronStatusRequest(
                language=self._language(language),
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
                patron_password=pin or "",
            ),
            PatronStatusResponse,
        )

    async def patron_information(
        self,
        patron_id: str,
        pin: str | None = None,
        summary: str | Summary | None = None,
        *,
        start_item: int | None = None,
        end_item: int | None = None,
        language: int | None = None,
    ) -> PatronInformationResponse:
        """A 63; ``summary`` asks for one list: "hold", "overdue", "charged",
        "fine", "recall", "unavailable" (or a Summary); ``language`` as for
        :meth:`patron_status`."""
        kinds = frozenset({Summary.parse(summary)}) if summary is not None else frozenset()
        if kinds and start_item is None:
            start_item, end_item = 1, 9999
        return await self.request(
            PatronInformationRequest(
                language=self._language(language),
                summary=kinds,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
                patron_password=pin,
                start_item=start_item,
                end_item=end_item,
            ),
            PatronInformationResponse,
        )

    async def checkout(
        self,
        patron_id: str,
        item_id: str,
        pin: str | None = None,
        *,
        sc_renewal_policy: bool = False,
        no_block: bool = False,
        nb_due_date: datetime | None = None,
        fee_acknowledged: bool | None = None,
        cancel: bool | None = None,
        item_properties: str | None = None,
    ) -> CheckoutResponse:
        return await self.request(
            CheckoutRequest(
                sc_renewal_policy=sc_renewal_policy,
                no_block=no_block,
                nb_due_date=nb_due_date,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                item_identifier=item_id,
                terminal_password=self._ac(),
                item_properties=item_properties,
                patron_password=pin,
                fee_acknowledged=fee_acknowledged,
                cancel=cancel,
            ),
            CheckoutResponse,
        )

    async def checkin(
        self,
        item_id: str,
        *,
        return_date: datetime | None = None,
        location: str | None = None,
        no_block: bool = False,
        cancel: bool | None = None,
        item_properties: str | None = None,
    ) -> CheckinResponse:
        kwargs = {} if return_date is None else {"return_date": return_date}
        return await self.request(
            CheckinRequest(
                no_block=no_block,
                current_location=location if location is not None else (self.settings.location or ""),
                institution_id=self.settings.institution,
                item_identifier=item_id,
                terminal_password=self._ac(),
                item_properties=item_properties,
                cancel=cancel,
                **kwargs,
            ),
            CheckinResponse,
        )

    async def renew(
        self,
        patron_id: str,
        item_id: str | None = None,
        pin: str | None = None,
        *,
        title_id: str | None = None,
        third_party_allowed: bool = False,
        no_block: bool = False,
        nb_due_date: datetime | None = None,
        fee_acknowledged: bool | None = None,
        item_properties: str | None = None,
    ) -> RenewResponse:
        return await self.request(
            RenewRequest(
                third_party_allowed=third_party_allowed,
                no_block=no_block,
                nb_due_date=nb_due_date,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                patron_password=pin,
                item_identifier=item_id,
                title_identifier=title_id,
                terminal_password=self._ac(),
                item_properties=item_properties,
                fee_acknowledged=fee_acknowledged,
            ),
            RenewResponse,
        )

    async def renew_all(
        self, patron_id: str, pin: str | None = None, *, fee_acknowledged: bool | None = None
    ) -> RenewAllResponse:
        return await self.request(
            RenewAllRequest(
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                patron_password=pin,
                terminal_password=self._ac(),
                fee_acknowledged=fee_acknowledged,
            ),
            RenewAllResponse,
        )

    async def hold(
        self,
        patron_id: str,
        item_id: str | None = None,
        pin: str | None = None,
        *,
        mode: str = "+",
        title_id: str | None = None,
        pickup_location: str | None = None,
        expiration_date: datetime | None = None,
        hold_type: int | None = None,
        fee_acknowledged: bool | None = None,
    ) -> HoldResponse:
        """A 15; ``mode`` is "+" (place a hold), "-" (cancel it) or "*" (change it)."""
        return await self.request(
            HoldRequest(
                hold_mode=mode,
                expiration_date=expiration_date,
                pickup_location=pickup_location,
                hold_type=hold_type,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                patron_password=pin,
                item_identifier=item_id,
                title_identifier=title_id,
                terminal_password=self._ac(),
                fee_acknowledged=fee_acknowledged,
            ),
            HoldResponse,
        )

    async def item_information(self, item_id: str) -> ItemInformationResponse:
        return await self.request(
            ItemInformationRequest(
                institution_id=self.settings.institution, item_identifier=item_id, terminal_password=self._ac()
            ),
            ItemInformationResponse,
        )

    async def end_session(self, patron_id: str, pin: str | None = None) -> EndSessionResponse:
        return await self.request(
            EndPatronSessionRequest(
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
                patron_password=pin,
            ),
            EndSessionResponse,
        )

    async def fee_paid(
        self,
        patron_id: str,
        amount: str,
        *,
        fee_type: int = 1,
        payment_type: int = 0,
        currency: str = "EUR",
        fee_id: str | None = None,
        transaction_id: str | None = None,
        pin: str | None = None,
    ) -> FeePaidResponse:
        return await self.request(
            FeePaidRequest(
                fee_type=fee_type,
                payment_type=payment_type,
                currency_type=currency,
                fee_amount=amount,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
                patron_password=pin,
                fee_identifier=fee_id,
                transaction_id=transaction_id,
            ),
            FeePaidResponse,
        )

    async def registrations(self, patron_id: str, pin: str | None = None, *, flag: str = "FB") -> RegistrationsResponse:
        """A 41 (Wise SIP2+) with ``Y`` in ``flag`` (FA, FB or FC: the one the
        site's Wise wants); the answer's ``registrations`` are parsed YZ lines."""
        return await self.request(
            RegistrationsRequest.for_flag(
                flag,
                institution_id=self.settings.institution,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
                patron_password=pin,
            ),
            RegistrationsResponse,
        )

    async def pay_registration(
        self,
        patron_id: str,
        adm_id: str,
        amount: str,
        *,
        transaction_id: str,
        pin: str | None = None,
        payment_type: int | None = None,
        currency: str = "EUR",
    ) -> FeePaidResponse:
        """Pay one Wise registration: a 37 with CG = ``adm_id`` and BV =
        ``amount``.  ``transaction_id`` (BK) must be unique per payment and
        the same on a retry of it, so that the library system can tell a
        duplicate (a 37 is never re-sent by the client on its own)."""
        if not adm_id or not transaction_id:
            raise LocalSip2Error("paying a registration needs its adm_id and a transaction id", field="CG" if not adm_id else "BK")
        return await self.fee_paid(
            patron_id,
            amount,
            fee_type=REGISTRATION_FEE_TYPE,
            payment_type=REGISTRATION_PAYMENT_TYPE if payment_type is None else payment_type,
            currency=currency,
            fee_id=adm_id,
            transaction_id=transaction_id,
            pin=pin,
        )

    async def item_status_update(self, item_id: str, item_properties: str) -> ItemStatusUpdateResponse:
        return await self.request(
            ItemStatusUpdate(
                institution_id=self.settings.institution,
                item_identifier=item_id,
                terminal_password=self._ac(),
                item_properties=item_properties,
            ),
            ItemStatusUpdateResponse,
        )

    async def block_patron(
        self, patron_id: str, message: str = "", *, card_retained: bool = False
    ) -> PatronStatusResponse:
        return await self.request(
            BlockPatron(
                card_retained=card_retained,
                institution_id=self.settings.institution,
                blocked_card_message=message,
                patron_identifier=patron_id,
                terminal_password=self._ac(),
            ),
            PatronStatusResponse,
        )

    async def raw(self, frame: str) -> Message:
        """Send a hand-written frame (without AY/AZ: we add them when error
        detection is on) and return whatever comes back, decoded."""
        text = frame.rstrip("\r\n")
        if len(text) < 2 or "\r" in text or "\n" in text:
            raise LocalSip2Error("a raw frame needs a 2-character command code and no CR/LF inside", field="frame")
        try:
            msg: Message = self._codec.decode(text.encode(self.settings.encoding))
        except (RemoteSip2Error, UnicodeEncodeError):
            msg = UnknownMessage(code=text[:2], body=text[2:])
        return await self.request(msg)


__all__ = ["SAFE_TO_REPEAT", "ClientSettings", "Sip2Client"]
