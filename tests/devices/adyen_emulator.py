"""A payment terminal emulator speaking Adyen's Terminal API on loopback.

HTTPS (a self-signed certificate made here, at test time) on 127.0.0.1:

* ``POST /nexo`` - the local endpoint: every message encrypted (NexoBlob +
  SecurityTrailer).  The encryption is written here again from Adyen's
  documentation, not imported from ``devices.nexo``, so the driver and the
  emulator do not share a mistake.
* ``POST /sync`` - the cloud endpoint: plain JSON, ``x-API-key`` header.

What the next payments do is scripted (:meth:`AdyenEmulator.script`):
``approve``, ``decline``, ``cancel`` (the patron pressed Cancel on the
terminal), ``timeout`` (no card presented), ``hold`` (waits until an
AbortRequest or ``hold_seconds``), ``lose`` (approves, books, then closes the
connection without an answer), ``busy`` (as ``lose``, and the first status
request says InProgress).  With nothing scripted a payment is approved.

The emulator remembers every payment (for TransactionStatusRequest) and
counts the charges per sale transaction id, so a test can prove nothing was
charged twice.  Usable from a test, or as a process:
``python tests/devices/adyen_emulator.py PORT_FILE`` (prints its port and
certificate path, reads the script from ``PORT_FILE.script`` lines).
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

POIID = "V400m-324688179"
TLS_NAME = "v400m-324688179.test.terminal.adyen.com"
KEY_ID = "bibkioskkey"
KEY_VERSION = 1
PASSPHRASE = "emulator passphrase"
API_KEY = "AQE-emulator-key"


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, localhost and TLS_NAME: (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.DNSName(TLS_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "terminal.pem", directory / "terminal.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Keys:
    """Adyen's local-endpoint key derivation and message protection."""

    def __init__(self, passphrase: str) -> None:
        raw = hashlib.pbkdf2_hmac("sha1", passphrase.encode(), b"AdyenNexoV1Salt", 4000, 80)
        self.hmac_key, self.cipher_key, self.iv = raw[:32], raw[32:64], raw[64:]

    def _aes(self, nonce: bytes) -> Any:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        return Cipher(algorithms.AES(self.cipher_key), modes.CBC(bytes(x ^ y for x, y in zip(self.iv, nonce))))

    def open(self, secured: dict[str, Any]) -> dict[str, Any]:
        from cryptography.hazmat.primitives import padding

        inner = next(iter(secured.values()))
        trailer = inner["SecurityTrailer"]
        if trailer["KeyIdentifier"] != KEY_ID or trailer["KeyVersion"] != KEY_VERSION:
            raise ValueError("unknown key")
        nonce = base64.b64decode(trailer["Nonce"])
        dec = self._aes(nonce).decryptor()
        padded = dec.update(base64.b64decode(inner["NexoBlob"])) + dec.finalize()
        unpad = padding.PKCS7(128).unpadder()
        plain = unpad.update(padded) + unpad.finalize()
        if not hmac.compare_digest(hmac.new(self.hmac_key, plain, hashlib.sha256).digest(),
                                   base64.b64decode(trailer["Hmac"])):
            raise ValueError("hmac")
        return json.loads(plain, parse_float=Decimal)

    def seal(self, message: dict[str, Any]) -> dict[str, Any]:
        from cryptography.hazmat.primitives import padding

        plain = _dumps(message).encode()
        nonce = os.urandom(16)
        pad = padding.PKCS7(128).padder()
        enc = self._aes(nonce).encryptor()
        blob = enc.update(pad.update(plain) + pad.finalize()) + enc.finalize()
        outer, inner = next(iter(message.items()))
        return {outer: {
            "MessageHeader": inner["MessageHeader"],
            "NexoBlob": base64.b64encode(blob).decode(),
            "SecurityTrailer": {"AdyenCryptoVersion": 1, "KeyIdentifier": KEY_ID, "KeyVersion": KEY_VERSION,
                                "Nonce": base64.b64encode(nonce).decode(),
                                "Hmac": base64.b64encode(hmac.new(self.hmac_key, plain, hashlib.sha256).digest()).decode()},
        }}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=lambda o: float(o) if isinstance(o, Decimal) else str(o), separators=(",", ":"))


def _ts() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AdyenEmulator:
    """The emulated terminal (see the module docstring).  Use as a context manager."""

    def __init__(self, directory: Path, *, hold_seconds: float = 10.0, port: int = 0) -> None:
        self.cert, self.keyfile = make_certificate(directory)
        self.keys = _Keys(PASSPHRASE)
        self.hold_seconds = hold_seconds
        self._script: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self.payments: dict[str, dict[str, Any]] = {}  # ServiceID -> {"state", "response", "header", "ref"}
        self.charges: collections.Counter[str] = collections.Counter()  # sale transaction id -> approvals
        self.requests: list[dict[str, Any]] = []  # every plain request, in order
        self._aborts: dict[str, threading.Event] = {}
        self._busy_status: set[str] = set()
        self._counter = 0
        emulator = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                emulator._handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.keyfile)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="adyen-emulator", daemon=True)

    # -- control
    def script(self, *actions: str) -> None:
        with self._lock:
            self._script.extend(actions)

    def local_url(self, **extra: str) -> str:
        opts = {"poiid": POIID, "key_id": KEY_ID, "key_version": str(KEY_VERSION), "passphrase": PASSPHRASE,
                "ca": str(self.cert), "status_interval": "0.05", **extra}
        return f"adyen://127.0.0.1:{self.port}?" + "&".join(f"{k}={quote(v, safe='/.:')}" for k, v in opts.items())

    def cloud_url(self, **extra: str) -> str:
        opts = {"poiid": POIID, "api_key": API_KEY, "endpoint": f"https://127.0.0.1:{self.port}/sync",
                "ca": str(self.cert), "status_interval": "0.05", **extra}
        return "adyen+cloud://test?" + "&".join(f"{k}={quote(v, safe='/.:')}" for k, v in opts.items())

    def approved(self) -> dict[str, int]:
        with self._lock:
            return dict(self.charges)

    def __enter__(self) -> AdyenEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for ev in list(self._aborts.values()):
            ev.set()
        self.server.shutdown()
        self.server.server_close()

    # -- protocol
    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        secured = h.path == "/nexo"
        if h.path == "/sync" and h.headers.get("x-API-key") != API_KEY:
            return self._send(h, 401, b'{"status":401,"errorCode":"000","message":"HTTP Status Response - Unauthorized"}')
        if h.path not in ("/nexo", "/sync"):
            return self._send(h, 404, b"")
        try:
            message = json.loads(raw, parse_float=Decimal)
            if secured:
                message = self.keys.open(message)
            request = message["SaleToPOIRequest"]
            header = request["MessageHeader"]
        except (ValueError, KeyError, TypeError, StopIteration):
            return self._send(h, 400, b"")
        with self._lock:
            self.requests.append(message)
        category = header["MessageCategory"]
        if category == "Payment":
            answer = self._payment(header, request["PaymentRequest"])
            if answer is None:  # "lose": the answer never leaves the terminal
                h.close_connection = True
                try:
                    h.connection.shutdown(2)
                except OSError:
                    pass
                return None
        elif category == "Abort":
            ref = request["AbortRequest"]["MessageReference"]["ServiceID"]
            with self._lock:
                ev = self._aborts.get(ref)
            if ev is not None:
                ev.set()
            return self._send(h, 200, b"")
        elif category == "TransactionStatus":
            answer = self._status(header, request["TransactionStatusRequest"])
        else:
            return self._send(h, 400, b"")
        if secured:
            answer = self.keys.seal(answer)
        self._send(h, 200, _dumps(answer).encode())
        return None

    def _send(self, h: http.server.BaseHTTPRequestHandler, code: int, body: bytes) -> None:
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _reply_header(self, header: dict[str, Any]) -> dict[str, Any]:
        return {**header, "MessageType": "Response"}

    def _payment(self, header: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
        service_id = header["ServiceID"]
        sale_ref = body["SaleData"]["SaleTransactionID"]["TransactionID"]
        amounts = body["PaymentTransaction"]["AmountsReq"]
        with self._lock:
            if service_id in self.payments:
                return self._wrap(header, {"Response": {"Result": "Failure", "ErrorCondition": "MessageFormat",
                                                        "AdditionalResponse": "message=Duplicate ServiceID"}})
            action = self._script.popleft() if self._script else "approve"
            abort = self._aborts[service_id] = threading.Event()
            self.payments[service_id] = {"state": "in_progress", "ref": sale_ref}
            if action == "busy":
                self._busy_status.add(service_id)
        if action == "hold":
            action = "aborted" if abort.wait(self.hold_seconds) else "timeout"
        response = self._payment_response(action, sale_ref, amounts)
        with self._lock:
            self._aborts.pop(service_id, None)
            self.payments[service_id] = {"state": "done", "ref": sale_ref, "response": response,
                                         "header": self._reply_header(header)}
            if response["Response"]["Result"] == "Success":
                self.charges[sale_ref] += 1
        if action in ("lose", "busy"):
            return None
        return self._wrap(header, response)

    def _wrap(self, header: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return {"SaleToPOIResponse": {"MessageHeader": self._reply_header(header), "PaymentResponse": body}}

    def _payment_response(self, action: str, sale_ref: str, amounts: dict[str, Any]) -> dict[str, Any]:
        sale = {"SaleTransactionID": {"TransactionID": sale_ref, "TimeStamp": _ts()}}
        if action in ("approve", "lose", "busy"):
            with self._lock:
                self._counter += 1
                psp = f"EMU{int(time.time())}{self._counter:06d}"
            lines = [
                "key=header1&name=BIBLIOTHEEK%20EMULATOR",
                "key=filler&name=filler&value=filler",
                f"key=txRef&name=Tx%20Ref&value={psp}",
                f"key=totalAmount&name=Totaal&value={amounts['Currency']}%20{amounts['RequestedAmount']}",
                "key=approved&name=GOEDGEKEURD",
            ]
            return {
                "POIData": {"POITransactionID": {"TransactionID": f"oLkO{self._counter:010d}.{psp}", "TimeStamp": _ts()},
                            "POIReconciliationID": "1000"},
                "SaleData": sale,
                "PaymentResult": {
                    "AmountsResp": {"AuthorizedAmount": Decimal(str(amounts["RequestedAmount"])),
                                    "Currency": amounts["Currency"]},
                    "PaymentInstrumentData": {"CardData": {"MaskedPan": "541333 **** 9999"}},
                },
                "PaymentReceipt": [
                    {"DocumentQualifier": "CashierReceipt", "OutputContent": {"OutputFormat": "Text", "OutputText": []}},
                    {"DocumentQualifier": "CustomerReceipt",
                     "OutputContent": {"OutputFormat": "Text", "OutputText": [{"Text": t} for t in lines]}},
                ],
                "Response": {"Result": "Success", "AdditionalResponse": f"pspReference={psp}&tid=324688179"},
            }
        condition, message = {
            "decline": ("Refusal", "message=Declined&refusalReason=Refused"),
            "cancel": ("Cancel", "message=Cancelled by shopper"),
            "aborted": ("Aborted", "message=Aborted by sale system"),
            "timeout": ("Cancel", "message=Shopper timeout"),
        }[action]
        return {"SaleData": sale, "POIData": {"POITransactionID": {"TransactionID": "", "TimeStamp": _ts()}},
                "Response": {"Result": "Failure", "ErrorCondition": condition, "AdditionalResponse": message}}

    def _status(self, header: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        ref = body["MessageReference"]["ServiceID"]
        with self._lock:
            known = self.payments.get(ref)
            busy = ref in self._busy_status
            self._busy_status.discard(ref)
        reply = {"MessageHeader": self._reply_header(header)}
        if known is None:
            reply["TransactionStatusResponse"] = {"Response": {"Result": "Failure", "ErrorCondition": "NotFound"}}
        elif known["state"] == "in_progress" or busy:
            reply["TransactionStatusResponse"] = {"Response": {"Result": "Failure", "ErrorCondition": "InProgress"}}
        else:
            reply["TransactionStatusResponse"] = {
                "Response": {"Result": "Success"},
                "MessageReference": body["MessageReference"],
                "RepeatedMessageResponse": {
                    "MessageHeader": known["header"],
                    "RepeatedResponseMessageBody": {"PaymentResponse": known["response"]},
                },
            }
        return {"SaleToPOIResponse": reply}


def main(port_file: str) -> None:
    """Run as a process: write ``PORT CERT`` to *port_file*; a line in ``PORT_FILE.script`` is an action."""
    path = Path(port_file)
    emulator = AdyenEmulator(path.parent / "emulator-tls")
    with emulator:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{emulator.port} {emulator.cert}\n")
        tmp.replace(path)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
