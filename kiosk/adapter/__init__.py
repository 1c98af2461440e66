"""The library-system adapter: one interface for the kiosk and the door.

- :class:`LibrarySystem` (``kiosk.adapter.base``): identify a patron (a
  policy ``PatronSnapshot``), the account screen, check out, renew, renew
  all, check in, item information, end session, pay.
- :class:`Sip2LibrarySystem`: over SIP2 (Wise, or any SIP2 library system).
- :class:`EmbeddedLibrarySystem`: the embedded library system, served in
  this process on loopback and asked over SIP2.
- :func:`library_system_from_config`: the one for a ``kiosk.config.Config``.
- :class:`FieldCodes` (``kiosk.adapter.fields``): the SIP2 extension codes.
"""

from __future__ import annotations

from typing import Any

from .base import (
    Account,
    HoldInfo,
    ItemInfo,
    ItemStatus,
    LibrarySystem,
    LibrarySystemError,
    LibrarySystemLoginRefused,
    LibrarySystemNotSupported,
    LibrarySystemProtocolError,
    LibrarySystemRequestError,
    LibrarySystemUnavailable,
    LoanInfo,
    PaymentResult,
    RegistrationInfo,
    RenewAllResult,
    TransactionResult,
)
from kiosk.sip2.dialects import FieldCodes
from .sip2 import Sip2LibrarySystem, snapshot_from_sip2

__all__ = [
    "Account",
    "EmbeddedLibrarySystem",
    "FieldCodes",
    "HoldInfo",
    "ItemInfo",
    "ItemStatus",
    "LibrarySystem",
    "LibrarySystemError",
    "LibrarySystemLoginRefused",
    "LibrarySystemNotSupported",
    "LibrarySystemProtocolError",
    "LibrarySystemRequestError",
    "LibrarySystemUnavailable",
    "LoanInfo",
    "PaymentResult",
    "RegistrationInfo",
    "RenewAllResult",
    "Sip2LibrarySystem",
    "TransactionResult",
    "dialect_options",
    "library_system_from_config",
    "sip2_settings_from_config",
    "snapshot_from_sip2",
]


def __getattr__(name: str) -> Any:
    """:class:`EmbeddedLibrarySystem` on first use: it brings the whole embedded
    library system (its server, store, throttling: ~5 MB resident), which a
    door or kiosk talking SIP2 to Wise never needs."""
    if name == "EmbeddedLibrarySystem":
        from .embedded import EmbeddedLibrarySystem

        return EmbeddedLibrarySystem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sip2_settings_from_config(config: Any):  # noqa: ANN201 - kiosk.sip2.client.ClientSettings
    """ClientSettings for a ``[library] kind = "sip2"`` configuration."""
    from pydantic import SecretStr

    from kiosk.sip2.client import ClientSettings

    lib = config.library
    password = config.secret("sip2_password")
    terminal = config.secret("sip2_terminal_password")
    return ClientSettings(
        host=lib.host,
        port=lib.port,
        tls=lib.tls,
        ca_file=config.resolve(lib.ca_file) if lib.ca_file else None,
        cert_file=config.resolve(lib.cert_file) if lib.cert_file else None,
        key_file=config.resolve(lib.key_file) if lib.key_file else None,
        user=lib.user,
        password=SecretStr(password) if password is not None else None,
        terminal_password=SecretStr(terminal) if terminal is not None else None,
        institution=lib.institution,
        location=lib.location or None,
        encoding=lib.encoding,
        error_detection=lib.error_detection,
        timeout=lib.timeout_seconds,
        keepalive_seconds=lib.keepalive_seconds or None,
        sensitive_codes=tuple(sorted(lib.fields.personal_codes())),
    )


def dialect_options(lib: Any) -> dict[str, Any]:
    """The adapter's dialect options from a ``[library]`` table (either kind)."""
    wise = getattr(lib, "wise", None)
    return {
        "dialect": getattr(lib, "dialect", "wise"),
        "badges": dict(getattr(lib, "badges", {}) or {}),
        "registrations_flag": wise.registrations if wise is not None else "FB",
        "replacement_invoice_words": tuple(wise.replacement_invoice_words) if wise is not None else ("nota", "materiaalvergoeding"),
        "account_window": getattr(lib, "account_window", 50),
        "account_item_lookups": getattr(lib, "account_item_lookups", 20),
    }


def library_system_from_config(config: Any) -> LibrarySystem:
    """The library system a ``kiosk.config.Config`` names (not yet connected:
    ``await system.start()`` or just make the first request)."""
    lib = config.library
    if lib.kind == "sip2":
        return Sip2LibrarySystem(sip2_settings_from_config(config), fields=lib.fields, **dialect_options(lib))
    if lib.kind == "embedded":
        from .embedded import EmbeddedLibrarySystem

        data = str(lib.data) if str(lib.data) == "demo" else str(config.resolve(lib.data))
        database = config.resolve(lib.database) if lib.database else config.state_dir / "library.sqlite"
        return EmbeddedLibrarySystem(data, database=database, fields=lib.fields, **dialect_options(lib))
    raise LibrarySystemError(f"unknown library kind {lib.kind!r}")  # pragma: no cover - config validates


#: The name the door looks for.
from_config = library_system_from_config
