"""Staff accounts: argon2 password hashes, lockout after failed logins, optional TOTP, CSRF tokens.

Sessions are Starlette's signed cookies (itsdangerous): ``HttpOnly``,
``SameSite=Strict``, ``Secure`` unless the console listens on 127.0.0.1 over
plain HTTP (the demo).  The cookie holds the user name, the session's CSRF
token and when it was issued; every POST carries the token in a hidden field
(synchronizer token) and is refused without it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kiosk.console.errors import AuthError
from kiosk.console.store import ROLES, ConsoleStore

_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so both cases take as long.
_DUMMY = _HASHER.hash("bibkiosk-no-such-user")
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def new_totp_secret() -> str:
    import pyotp

    return pyotp.random_base32()


def totp_now(secret: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).now()


@dataclass(frozen=True)
class LoginResult:
    username: str
    role: str
    language: str


def authenticate(store: ConsoleStore, username: str, password: str, code: str | None, *, attempts: int, lock_minutes: float) -> LoginResult:
    """The staff member, or AuthError (the message never says which part was wrong)."""
    staff = store.staff(username)
    if staff is None:
        try:
            _HASHER.verify(_DUMMY, password)
        except (VerificationError, InvalidHashError):
            pass
        raise AuthError("login.failed")
    if staff.locked_until > time.time():
        raise AuthError("login.locked")
    try:
        _HASHER.verify(staff.hash, password)
        ok = True
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok and staff.totp:
        import pyotp

        ok = bool(code) and pyotp.TOTP(staff.totp).verify(code.strip(), valid_window=1)
    if not ok:
        locked = store.login_failed(username, attempts, lock_minutes * 60)
        raise AuthError("login.locked" if locked else "login.failed")
    rehash = _HASHER.hash(password) if _HASHER.check_needs_rehash(staff.hash) else None
    store.login_ok(username, rehash)
    return LoginResult(staff.username, staff.role, staff.language)


def add_staff(store: ConsoleStore, username: str, password: str, role: str, language: str = "nl", totp: bool = False) -> str | None:
    """Create or replace an account; returns the TOTP secret when one was made."""
    if role not in ROLES:
        raise AuthError(f"role: one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise AuthError("user name: letters, digits, '.', '-', '_' (at most 64)")
    secret = new_totp_secret() if totp else None
    store.put_staff(username, hash_password(password), role, language, secret)
    return secret


def can(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
