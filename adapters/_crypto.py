"""Signing helpers shared by the adapters: HMAC as hex, compared in constant time."""

from __future__ import annotations

import hmac


def hmac_sha256_hex(key: str | bytes, message: str | bytes) -> str:
    return _hmac_hex(key, message, "sha256")


def hmac_sha512_hex(key: str | bytes, message: str | bytes) -> str:
    return _hmac_hex(key, message, "sha512")


def _hmac_hex(key: str | bytes, message: str | bytes, digest: str) -> str:
    k = key.encode("utf-8") if isinstance(key, str) else key
    m = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(k, m, digest).hexdigest()


def same_hex(expected: str, received: str | None) -> bool:
    """Compare two hex digests case-insensitively in constant time (providers mix cases)."""
    if not received:
        return False
    return hmac.compare_digest(
        expected.lower().encode("ascii"), received.strip().lower().encode("ascii", "replace")
    )
