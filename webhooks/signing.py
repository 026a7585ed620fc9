"""`Feegate-Signature`: how portals know a notification comes from feegate, unchanged.

    Feegate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

During a rotation of a client's webhook secret both the new and the previous secret are
valid: the header then carries one `v1=` per secret (the new one first), so a portal that
holds either secret verifies the message. The portal's side is docs/examples/verify_signature.py
(shown in docs/api.md, and executed by the tests against what the worker sends).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Feegate-Signature"
SCHEME = "v1"


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` with `secret`."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """The header value for `body`, one `v1=` per secret (current secret first)."""
    if not secrets:
        raise ValueError("at least one webhook secret is needed to sign")
    parts = [f"t={timestamp}"]
    for secret in dict.fromkeys(secrets):  # each distinct secret once, in order
        parts.append(f"{SCHEME}={compute(secret, timestamp, body)}")
    return ",".join(parts)
