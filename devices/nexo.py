"""The nexo retailer message set as Adyen's Terminal API speaks it: sans-I/O.

Builds ``SaleToPOIRequest`` messages (``PaymentRequest``, ``AbortRequest``,
``TransactionStatusRequest``), reads ``SaleToPOIResponse`` messages into a
:class:`~devices.base.PaymentResult`, and encrypts / decrypts them for the
terminal's local endpoint (:class:`NexoKey`).  No sockets here: the
``adyen://`` driver (:mod:`devices.adyen`) moves the bytes.

Local-endpoint encryption, as Adyen documents it ("Protect local
communications"): key material is derived from the key passphrase with
PBKDF2-HMAC-SHA1 (salt ``AdyenNexoV1Salt``, 4000 iterations, 80 bytes: HMAC
key 32, cipher key 32, IV 16).  A message is AES-256-CBC (PKCS#7) encrypted
with the cipher key and the derived IV XOR a random 16-byte nonce, and
authenticated with HMAC-SHA256 over the *plaintext*.  The secured message
keeps the ``MessageHeader`` in clear and carries ``NexoBlob`` (base64
ciphertext) and ``SecurityTrailer`` (``AdyenCryptoVersion``,
``KeyIdentifier``, ``KeyVersion``, ``Nonce``, ``Hmac``).

Amounts are integer cents on our side; on the wire they are JSON decimals
(``12.5``), read back with :class:`decimal.Decimal` so no float ever touches
an amount that is compared.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from .base import PaymentOutcome, PaymentRequest, PaymentResult
from .errors import DeviceProtocolError

__all__ = [
    "NexoKey",
    "NexoCryptoError",
    "service_id_for",
    "payment_request",
    "abort_request",
    "status_request",
    "read_payment_response",
    "read_status_response",
    "receipt_lines",
    "PROTOCOL_VERSION",
]

PROTOCOL_VERSION = "3.0"
_SALT = b"AdyenNexoV1Salt"
_ITERATIONS = 4000
_SERVICE_ID_RE = re.compile(r"^[A-Za-z0-9]{1,10}$")


class NexoCryptoError(DeviceProtocolError):
    """A secured message that does not decrypt or whose HMAC does not match."""


def service_id_for(reference: str) -> str:
    """The nexo ``ServiceID`` (at most 10 characters) of our payment *reference*.

    Derived, not stored: after a restart the status request can name the
    payment from the journal's reference alone."""
    return hashlib.sha256(reference.encode()).hexdigest()[:10]


def random_service_id() -> str:
    return os.urandom(5).hex()


def _header(category: str, sale_id: str, poiid: str, service_id: str) -> dict[str, Any]:
    return {
        "ProtocolVersion": PROTOCOL_VERSION,
        "MessageClass": "Service",
        "MessageCategory": category,
        "MessageType": "Request",
        "SaleID": sale_id,
        "ServiceID": service_id,
        "POIID": poiid,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payment_request(request: PaymentRequest, *, sale_id: str, poiid: str) -> dict[str, Any]:
    """The ``SaleToPOIRequest`` for *request* (amount as a JSON decimal)."""
    return {
        "SaleToPOIRequest": {
            "MessageHeader": _header("Payment", sale_id, poiid, service_id_for(request.reference)),
            "PaymentRequest": {
                "SaleData": {
                    "SaleTransactionID": {"TransactionID": request.reference, "TimeStamp": _now()},
                },
                "PaymentTransaction": {
                    "AmountsReq": {"Currency": request.currency, "RequestedAmount": request.amount_cents / 100},
                },
            },
        }
    }


def abort_request(reference: str, *, sale_id: str, poiid: str) -> dict[str, Any]:
    return {
        "SaleToPOIRequest": {
            "MessageHeader": _header("Abort", sale_id, poiid, random_service_id()),
            "AbortRequest": {
                "AbortReason": "MerchantAbort",
                "MessageReference": {
                    "MessageCategory": "Payment",
                    "SaleID": sale_id,
                    "ServiceID": service_id_for(reference),
                    "POIID": poiid,
                },
            },
        }
    }


def status_request(reference: str, *, sale_id: str, poiid: str) -> dict[str, Any]:
    return {
        "SaleToPOIRequest": {
            "MessageHeader": _header("TransactionStatus", sale_id, poiid, random_service_id()),
            "TransactionStatusRequest": {
                "ReceiptReprintFlag": True,
                "DocumentQualifier": ["CashierReceipt", "CustomerReceipt"],
                "MessageReference": {
                    "MessageCategory": "Payment",
                    "SaleID": sale_id,
                    "ServiceID": service_id_for(reference),
                },
            },
        }
    }


# --- reading answers --------------------------------------------------------------------------

#: ErrorCondition -> outcome (a Failure without one is a decline).
_CONDITIONS = {
    "Cancel": PaymentOutcome.CANCELLED,
    "Aborted": PaymentOutcome.CANCELLED,
    "Refusal": PaymentOutcome.DECLINED,
    "WrongPIN": PaymentOutcome.DECLINED,
    "InvalidCard": PaymentOutcome.DECLINED,
    "NotAllowed": PaymentOutcome.DECLINED,
    "PaymentRestriction": PaymentOutcome.DECLINED,
    "Busy": PaymentOutcome.OFFLINE,
    "DeviceOut": PaymentOutcome.OFFLINE,
    "UnavailableDevice": PaymentOutcome.OFFLINE,
    "UnavailableService": PaymentOutcome.OFFLINE,
    "UnreachableHost": PaymentOutcome.OFFLINE,
    "LoggedOut": PaymentOutcome.OFFLINE,
    "MessageFormat": PaymentOutcome.OFFLINE,
    "InProgress": PaymentOutcome.IN_PROGRESS,
    "NotFound": PaymentOutcome.NOT_FOUND,
}


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DeviceProtocolError(f"nexo: {what} is not an object")
    return value


def _cents(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DeviceProtocolError("nexo: amount is not a number") from None
    cents = amount * 100
    if cents != cents.to_integral_value() or cents < 0:
        raise DeviceProtocolError("nexo: amount is not a whole number of cents")
    return int(cents)


def receipt_lines(payment_response: dict[str, Any], qualifier: str = "CustomerReceipt") -> tuple[str, ...]:
    """The terminal's receipt lines (Adyen sends them form-encoded: ``key=..&name=..&value=..``)."""
    receipts = payment_response.get("PaymentReceipt") or []
    if not isinstance(receipts, list):
        return ()
    chosen = [r for r in receipts if isinstance(r, dict) and r.get("DocumentQualifier") == qualifier] or [
        r for r in receipts if isinstance(r, dict)
    ][:1]
    lines: list[str] = []
    for receipt in chosen[:1]:
        texts = ((receipt.get("OutputContent") or {}).get("OutputText")) or []
        for item in texts if isinstance(texts, list) else []:
            text = item.get("Text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                continue
            fields = dict(parse_qsl(text, keep_blank_values=True)) if "=" in text else {"value": text}
            if fields.get("key") == "filler":
                lines.append("")
                continue
            name, value = fields.get("name", ""), fields.get("value", "")
            line = f"{name}: {value}" if name and value else (value or name)
            lines.append("".join(ch for ch in line if ch.isprintable())[:64])
    return tuple(lines)


def _additional(response: dict[str, Any]) -> dict[str, str]:
    text = response.get("AdditionalResponse")
    if not isinstance(text, str) or not text:
        return {}
    if "=" not in text:
        try:
            text = base64.b64decode(text, validate=True).decode()
            data = json.loads(text)
            extra = data.get("additionalData") if isinstance(data, dict) else None
            return {str(k): str(v) for k, v in (extra or {}).items()}
        except (ValueError, UnicodeDecodeError, AttributeError):
            return {}
    return dict(parse_qsl(text, keep_blank_values=True))


def _payment_result(body: dict[str, Any], reference: str, currency: str) -> PaymentResult:
    response = _obj(body.get("Response"), "Response")
    result = response.get("Result")
    extra = _additional(response)
    condition = response.get("ErrorCondition") or ""
    sale = (body.get("SaleData") or {}).get("SaleTransactionID") or {}
    if isinstance(sale, dict) and sale.get("TransactionID") not in (None, reference):
        raise DeviceProtocolError("nexo: the answer is about another payment")
    if result in ("Success", "Partial"):
        amounts = _obj((body.get("PaymentResult") or {}).get("AmountsResp"), "AmountsResp")
        cents = _cents(amounts.get("AuthorizedAmount"))
        poi = ((body.get("POIData") or {}).get("POITransactionID") or {}).get("TransactionID") or ""
        terminal_ref = extra.get("pspReference") or str(poi)
        return PaymentResult(
            PaymentOutcome.APPROVED,
            reference,
            cents,
            str(amounts.get("Currency") or currency),
            terminal_ref[:80],
            receipt_lines(body),
            f"approved ({result})",
        )
    if result != "Failure":
        raise DeviceProtocolError("nexo: Response.Result is neither Success nor Failure")
    reason = (extra.get("message") or extra.get("refusalReason") or "")[:80]
    outcome = _CONDITIONS.get(str(condition), PaymentOutcome.DECLINED)
    if outcome is PaymentOutcome.CANCELLED and "timeout" in reason.lower().replace(" ", ""):
        outcome = PaymentOutcome.TIMEOUT
    detail = f"{condition or 'Failure'}" + (f": {reason}" if reason else "")
    return PaymentResult(outcome, reference, 0, currency, detail=detail)


def _response(message: dict[str, Any]) -> dict[str, Any]:
    return _obj(_obj(message, "message").get("SaleToPOIResponse"), "SaleToPOIResponse")


def read_payment_response(message: dict[str, Any], request: PaymentRequest) -> PaymentResult:
    """The outcome of *request* from the terminal's ``PaymentResponse``."""
    response = _response(message)
    header = _obj(response.get("MessageHeader"), "MessageHeader")
    if header.get("ServiceID") not in (None, service_id_for(request.reference)):
        raise DeviceProtocolError("nexo: the answer is for another ServiceID")
    if "PaymentResponse" not in response:
        raise DeviceProtocolError("nexo: no PaymentResponse in the answer")
    return _payment_result(_obj(response["PaymentResponse"], "PaymentResponse"), request.reference, request.currency)


def read_status_response(message: dict[str, Any], reference: str, currency: str = "EUR") -> PaymentResult:
    """The outcome of payment *reference* from a ``TransactionStatusResponse``."""
    body = _obj(_response(message).get("TransactionStatusResponse"), "TransactionStatusResponse")
    response = _obj(body.get("Response"), "Response")
    if response.get("Result") != "Success":
        condition = str(response.get("ErrorCondition") or "")
        outcome = {"InProgress": PaymentOutcome.IN_PROGRESS, "NotFound": PaymentOutcome.NOT_FOUND}.get(
            condition, PaymentOutcome.UNKNOWN
        )
        return PaymentResult(outcome, reference, 0, currency, detail=f"status: {condition or 'Failure'}")
    repeated = _obj(body.get("RepeatedMessageResponse"), "RepeatedMessageResponse")
    header = repeated.get("MessageHeader") or {}
    if isinstance(header, dict) and header.get("ServiceID") not in (None, service_id_for(reference)):
        raise DeviceProtocolError("nexo: the status is about another ServiceID")
    inner = _obj(repeated.get("RepeatedResponseMessageBody"), "RepeatedResponseMessageBody")
    return _payment_result(_obj(inner.get("PaymentResponse"), "PaymentResponse"), reference, currency)


# --- encryption ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NexoKey:
    """The shared key of a terminal: identifier, version and the derived material."""

    identifier: str
    version: int
    hmac_key: bytes
    cipher_key: bytes
    iv: bytes
    crypto_version: int = 1

    def __repr__(self) -> str:
        return f"NexoKey({self.identifier!r}, version={self.version})"

    @classmethod
    def derive(cls, passphrase: str, identifier: str, version: int) -> NexoKey:
        if not passphrase:
            raise ValueError("the key passphrase is empty")
        material = hashlib.pbkdf2_hmac("sha1", passphrase.encode("latin-1", "strict"), _SALT, _ITERATIONS, 80)
        return cls(identifier, int(version), material[:32], material[32:64], material[64:80])

    def _cipher(self, nonce: bytes) -> Any:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        iv = bytes(a ^ b for a, b in zip(self.iv, nonce, strict=True))
        return Cipher(algorithms.AES(self.cipher_key), modes.CBC(iv))

    def encrypt(self, message: dict[str, Any], *, nonce: bytes | None = None) -> dict[str, Any]:
        """The secured form of *message* (a ``SaleToPOIRequest`` or ``SaleToPOIResponse``)."""
        from cryptography.hazmat.primitives import padding

        ((outer, inner),) = message.items()
        plain = json.dumps(message, separators=(",", ":")).encode()
        nonce = os.urandom(16) if nonce is None else nonce
        padder = padding.PKCS7(128).padder()
        enc = self._cipher(nonce).encryptor()
        blob = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        mac = hmac.new(self.hmac_key, plain, hashlib.sha256).digest()
        return {
            outer: {
                "MessageHeader": inner.get("MessageHeader", {}),
                "NexoBlob": base64.b64encode(blob).decode(),
                "SecurityTrailer": {
                    "AdyenCryptoVersion": self.crypto_version,
                    "KeyIdentifier": self.identifier,
                    "KeyVersion": self.version,
                    "Nonce": base64.b64encode(nonce).decode(),
                    "Hmac": base64.b64encode(mac).decode(),
                },
            }
        }

    def decrypt(self, secured: dict[str, Any]) -> dict[str, Any]:
        """The plain message inside *secured*; :class:`NexoCryptoError` when it is not ours."""
        from cryptography.hazmat.primitives import padding

        try:
            ((_outer, inner),) = _obj(secured, "message").items()
            inner = _obj(inner, "secured message")
            trailer = _obj(inner.get("SecurityTrailer"), "SecurityTrailer")
            if trailer.get("KeyIdentifier") != self.identifier or int(trailer.get("KeyVersion", -1)) != self.version:
                raise NexoCryptoError("nexo: the answer is secured with another key")
            blob = base64.b64decode(inner["NexoBlob"], validate=True)
            nonce = base64.b64decode(trailer["Nonce"], validate=True)
            mac = base64.b64decode(trailer["Hmac"], validate=True)
            if len(nonce) != 16 or not blob or len(blob) % 16:
                raise NexoCryptoError("nexo: malformed NexoBlob or Nonce")
            dec = self._cipher(nonce).decryptor()
            padded = dec.update(blob) + dec.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(padded) + unpadder.finalize()
        except NexoCryptoError:
            raise
        except (KeyError, TypeError, ValueError, DeviceProtocolError) as exc:
            raise NexoCryptoError(f"nexo: secured message unreadable ({type(exc).__name__})") from None
        if not hmac.compare_digest(hmac.new(self.hmac_key, plain, hashlib.sha256).digest(), mac):
            raise NexoCryptoError("nexo: HMAC does not match (wrong key passphrase?)")
        try:
            message = json.loads(plain, parse_float=Decimal)
        except ValueError:
            raise NexoCryptoError("nexo: decrypted message is not JSON") from None
        return _obj(message, "decrypted message")
