"""Random, unguessable identifiers, and provider-safe references."""

from __future__ import annotations

import secrets

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the counter


def public_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length)).lower()}"


def provider_reference(prefix: str = "FG", length: int = 16) -> str:
    """Alphanumeric only: every provider accepts it (VNPay TxnRef, MoMo orderId, ZaloPay)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def api_key() -> str:
    return "fgk_" + secrets.token_urlsafe(32)


def webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
