"""Pseudonymous references for personal data.

Card numbers, patron ids and names never appear in logs or the audit
journal; a keyed hash (HMAC-SHA256, key from the config's secrets) stands in
for them.  The same card gives the same reference under one key, so staff can
follow one patron's attempts without learning who it is.
"""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(value: str, key: bytes, *, kind: str = "card", length: int = 16) -> str:
    """Return a stable, keyed reference such as ``card:3f9a0c…`` for *value*."""
    if not key:
        raise ValueError("a pseudonym key is required (config secrets.pseudonym_key)")
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:length]}"
