"""Adyen payment terminals over the Terminal API (nexo JSON): ``adyen://`` and ``adyen+cloud://``.

URL grammar::

    adyen://HOST[:PORT]?poiid=POIID&key_id=ID&key_version=N&passphrase=SECRET[&ca=PATH][&tls_name=NAME]
    adyen://HOST[:PORT]?poiid=POIID&key_id=ID&key_version=N&passphrase_file=PATH ...
    adyen+cloud://test?poiid=POIID&api_key_file=PATH            # terminal-api-test.adyen.com
    adyen+cloud://live?poiid=POIID&api_key=SECRET[&endpoint=URL] # terminal-api-live.adyen.com

``adyen://`` talks to the terminal on the shop network: ``https://HOST:8443/nexo``
(port 8443 unless given), each message encrypted with the terminal's shared
key (key identifier, version and passphrase from the Customer Area; see
:mod:`devices.nexo`).  TLS is verified against ``ca`` (Adyen's terminal
fleet root certificate; default: the system store) and the name in the
terminal's certificate, ``tls_name`` (default: HOST).  ``adyen+cloud://``
sends the same messages through Adyen's cloud (``/sync``, API key header,
TLS only); ``endpoint`` overrides the URL (a regional live endpoint, or a
test emulator).

=================  ==========  ===========  =================================================
option             type        default      meaning
=================  ==========  ===========  =================================================
poiid              str         (required)   the terminal: ``MODEL-SERIAL`` (e.g. V400m-324688179)
sale_id            str         bibkiosk     our id towards the terminal (SaleID)
key_id             str         ""           local: KeyIdentifier of the shared key
key_version        int         1            local: KeyVersion
passphrase         str         ""           local: the key passphrase (secret)
passphrase_file    str         ""           local: file holding the passphrase
api_key            str         ""           cloud: the API key (secret)
api_key_file       str         ""           cloud: file holding the API key
endpoint           str         ""           override the URL
ca                 str         ""           CA bundle for the terminal's TLS certificate
tls_name           str         ""           name expected in the terminal's certificate
connect_timeout    float       5            seconds to reach the terminal
answer_margin      float       15           seconds past the request's timeout to wait
status_attempts    int         6            status requests after a lost answer
status_interval    float       2            seconds between them
=================  ==========  ===========  =================================================

Support table:

==========================================  =========
feature                                     supported
==========================================  =========
PaymentRequest (sale), EUR and any ISO 4217  yes
AbortRequest (patron pressed Cancel)         yes
TransactionStatusRequest after a lost
answer, and after a restart                  yes
local endpoint encryption (NexoBlob)         yes
cloud endpoint (sync)                        yes
cloud endpoint (async + notifications)       no
terminal receipt lines (CustomerReceipt)     yes
progress events (card / PIN prompts)         no: ``sent`` and ``done`` only
refunds, reversals, tokenisation             no
==========================================  =========

The blocking HTTP (``requests``) runs in a thread of the driver's own; a
payment never raises for what the terminal or the network did: an answer
that did not arrive is resolved with status requests, and stays
``unknown`` (for the kiosk's payment journal to resolve later) only when the
terminal cannot be asked either.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from . import nexo
from .base import _check_reference, PaymentOutcome, PaymentProgress, PaymentRequest, PaymentResult, PaymentTerminal, run_in_thread
from .errors import DeviceError, DeviceProtocolError, DeviceUrlError
from .url import REQUIRED, DeviceUrl

__all__ = ["AdyenTerminal"]

log = logging.getLogger("devices.adyen")

CLOUD_ENDPOINTS = {
    "test": "https://terminal-api-test.adyen.com/sync",
    "live": "https://terminal-api-live.adyen.com/sync",
}


class _Offline(Exception):
    """The request certainly did not reach the terminal."""


class _Lost(Exception):
    """The request went out; no usable answer came back."""


def _secret(options: dict[str, Any], name: str) -> str:
    value = options[name]
    path = options[f"{name}_file"]
    if value and path:
        raise DeviceUrlError(f"give {name} or {name}_file, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeviceUrlError(f"{name}_file {path}: {exc.strerror or exc}") from None
    return value


class AdyenTerminal(PaymentTerminal):
    """An Adyen terminal (see the module docstring)."""

    SCHEMES = ("adyen", "adyen+cloud")
    OPTIONS: ClassVar[dict[str, Any]] = {
        "poiid": (str, REQUIRED, "the terminal's POIID (MODEL-SERIAL)"),
        "sale_id": (str, "bibkiosk", "our SaleID towards the terminal"),
        "key_id": (str, "", "local: the shared key's KeyIdentifier"),
        "key_version": (int, 1, "local: the shared key's KeyVersion"),
        "passphrase": (str, "", "local: the shared key's passphrase"),
        "passphrase_file": (str, "", "local: a file holding the passphrase"),
        "api_key": (str, "", "cloud: the API key"),
        "api_key_file": (str, "", "cloud: a file holding the API key"),
        "endpoint": (str, "", "override the terminal or cloud URL"),
        "ca": (str, "", "CA bundle that signed the terminal's TLS certificate"),
        "tls_name": (str, "", "name expected in the terminal's TLS certificate (default: the host)"),
        "connect_timeout": (float, 5.0, "seconds to reach the terminal"),
        "answer_margin": (float, 15.0, "seconds past the request timeout to wait for the answer"),
        "status_attempts": (int, 6, "status requests after a lost answer"),
        "status_interval": (float, 2.0, "seconds between status requests"),
    }

    def __init__(self, url: DeviceUrl | str, **extra: Any) -> None:
        super().__init__(url, **extra)
        opts = self.options
        self.cloud = self.url.scheme == "adyen+cloud"
        self.sale_id = opts["sale_id"]
        self.poiid = opts["poiid"]
        if not self.poiid or not self.sale_id:
            raise DeviceUrlError("adyen: poiid and sale_id must not be empty")
        for name in ("connect_timeout", "answer_margin", "status_interval"):
            if opts[name] <= 0:
                raise DeviceUrlError(f"adyen: {name} must be positive")
        if opts["status_attempts"] < 0:
            raise DeviceUrlError("adyen: status_attempts must be 0 or more")
        self._key: nexo.NexoKey | None = None
        self._api_key = ""
        path = self.url.path.strip("/")
        if self.cloud:
            self._api_key = _secret(opts, "api_key")
            if not self._api_key:
                raise DeviceUrlError("adyen+cloud:// needs api_key or api_key_file")
            if opts["endpoint"]:
                self.endpoint = opts["endpoint"]
            elif path in CLOUD_ENDPOINTS:
                self.endpoint = CLOUD_ENDPOINTS[path]
            else:
                raise DeviceUrlError("adyen+cloud://test or adyen+cloud://live (or endpoint=URL)", valid=CLOUD_ENDPOINTS)
        else:
            if not path and not opts["endpoint"]:
                raise DeviceUrlError("adyen://HOST[:PORT] needs the terminal's address")
            passphrase = _secret(opts, "passphrase")
            if not passphrase or not opts["key_id"]:
                raise DeviceUrlError("adyen:// needs key_id and passphrase (or passphrase_file): local messages are encrypted")
            try:
                self._key = nexo.NexoKey.derive(passphrase, opts["key_id"], opts["key_version"])
            except (ValueError, UnicodeError) as exc:
                raise DeviceUrlError(f"adyen: key passphrase: {exc}") from None
            host = path if ":" in path.rsplit("]", 1)[-1] else f"{path}:8443"
            self.endpoint = opts["endpoint"] or f"https://{host}/nexo"
        if not self.endpoint.startswith("https://"):
            raise DeviceUrlError("adyen: the endpoint must be https://")
        self._session: Any = None
        self._control: Any = None

    # -- life cycle
    async def open(self) -> None:
        self._session = self._new_session()
        self._control = self._new_session()
        await super().open()

    async def close(self) -> None:
        for session in (self._session, self._control):
            if session is not None:
                session.close()
        self._session = self._control = None
        await super().close()

    def _new_session(self) -> Any:
        import requests
        from requests.adapters import HTTPAdapter

        tls_name = self.options["tls_name"]

        class _Adapter(HTTPAdapter):
            def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
                if tls_name:
                    kwargs["assert_hostname"] = tls_name
                super().init_poolmanager(*args, **kwargs)

        session = requests.Session()
        session.trust_env = False  # never through a proxy from the environment
        session.mount("https://", _Adapter(max_retries=0))
        session.verify = self.options["ca"] or True
        session.headers["Content-Type"] = "application/json"
        if self._api_key:
            session.headers["x-API-key"] = self._api_key
        return session

    # -- one exchange (thread)
    def _exchange(self, session: Any, message: dict[str, Any], read_timeout: float) -> dict[str, Any]:
        import requests

        body = self._key.encrypt(message) if self._key is not None else message
        data = json.dumps(body, separators=(",", ":"))
        try:
            answer = session.post(self.endpoint, data=data, timeout=(self.options["connect_timeout"], read_timeout))
        except requests.exceptions.ConnectTimeout as exc:
            raise _Offline("terminal did not answer the connection") from exc
        except requests.exceptions.SSLError as exc:
            raise _Offline(f"TLS with the terminal failed: {type(exc).__name__}") from exc
        except requests.exceptions.ConnectionError as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            import urllib3.exceptions as u3

            if isinstance(reason, (u3.NewConnectionError, u3.ConnectTimeoutError)):
                raise _Offline("terminal unreachable") from exc
            raise _Lost("connection lost while waiting for the answer") from exc
        except requests.exceptions.Timeout as exc:
            raise _Lost("no answer in time") from exc
        except requests.exceptions.RequestException as exc:
            raise _Lost(f"HTTP: {type(exc).__name__}") from exc
        if answer.status_code in (401, 403):
            raise _Offline(f"terminal refused our credentials (HTTP {answer.status_code})")
        if 400 <= answer.status_code < 500:
            raise _Offline(f"terminal rejected the message (HTTP {answer.status_code})")
        if answer.status_code != 200:
            raise _Lost(f"HTTP {answer.status_code}")
        if not answer.content.strip() or answer.content.strip() == b"ok":
            return {}
        try:
            parsed = json.loads(answer.content, parse_float=Decimal)
        except ValueError:
            raise _Lost("answer is not JSON") from None
        if not isinstance(parsed, dict):
            raise _Lost("answer is not a JSON object")
        if self._key is not None:
            try:
                parsed = self._key.decrypt(parsed)
            except DeviceProtocolError as exc:
                raise _Lost(str(exc)) from None
        return parsed

    async def _call(self, session: Any, message: dict[str, Any], read_timeout: float) -> dict[str, Any]:
        if session is None:
            raise DeviceError(f"{self.label}: not open")
        return await run_in_thread(lambda: self._exchange(session, message, read_timeout), name=f"adyen {self.poiid}")

    # -- the kind
    async def pay(self, request: PaymentRequest) -> PaymentResult:
        if not isinstance(request, PaymentRequest):
            raise TypeError("pay() needs a PaymentRequest")
        message = nexo.payment_request(request, sale_id=self.sale_id, poiid=self.poiid)
        self._emit(PaymentProgress("sent", request.reference))
        try:
            answer = await self._call(self._session, message, request.timeout + self.options["answer_margin"])
            result = nexo.read_payment_response(answer, request)
        except _Offline as exc:
            result = PaymentResult(PaymentOutcome.OFFLINE, request.reference, currency=request.currency, detail=str(exc))
        except (_Lost, DeviceProtocolError) as exc:
            log.warning("%s: payment answer lost (%s); asking the terminal for its status", self.label, exc)
            if isinstance(exc, _Lost) and "in time" in str(exc):
                await self.abort(request.reference)
            result = await self._resolve(request.reference, request.currency)
            if result.outcome is PaymentOutcome.NOT_FOUND:
                result = PaymentResult(PaymentOutcome.OFFLINE, request.reference, currency=request.currency,
                                       detail="the terminal never saw the payment")
        self._emit(PaymentProgress("done", request.reference))
        log.info("%s: payment %s: %s", self.label, request.reference, result.outcome.value)
        return result

    async def _resolve(self, reference: str, currency: str) -> PaymentResult:
        result = PaymentResult(PaymentOutcome.UNKNOWN, reference, currency=currency, detail="answer lost")
        for attempt in range(self.options["status_attempts"]):
            if attempt:
                await asyncio.sleep(self.options["status_interval"])
            result = await self._ask_status(reference, currency)
            if result.outcome.final:
                return result
        return PaymentResult(PaymentOutcome.UNKNOWN, reference, currency=currency, detail=result.detail or "answer lost")

    async def _ask_status(self, reference: str, currency: str = "EUR") -> PaymentResult:
        message = nexo.status_request(reference, sale_id=self.sale_id, poiid=self.poiid)
        try:
            answer = await self._call(self._control, message, self.options["connect_timeout"] + 10)
            return nexo.read_status_response(answer, reference, currency)
        except (_Offline, _Lost, DeviceProtocolError) as exc:
            return PaymentResult(PaymentOutcome.UNKNOWN, reference, currency=currency, detail=f"status: {exc}")

    async def payment_status(self, reference: str) -> PaymentResult:
        _check_reference(reference)
        return await self._ask_status(reference)

    async def abort(self, reference: str) -> None:
        message = nexo.abort_request(reference, sale_id=self.sale_id, poiid=self.poiid)
        try:
            await self._call(self._control, message, self.options["connect_timeout"] + 5)
        except (_Offline, _Lost) as exc:
            log.warning("%s: abort not delivered (%s)", self.label, exc)
