"""Idempotency-Key: claim the key before the work, store the answer with the work.

The claim is its own committed row, so a concurrent request with the same key sees it
(unique constraint) and is told 409 while the first is in flight, or gets the stored
answer once it is done. The same key with another body is a 409 as well.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from payments.errors import IdempotencyConflict, IdempotencyInFlight, ValidationFailed
from payments.models import IdempotencyKey
from payments.services.gateway import Gateway


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]


def request_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def claim(gw: Gateway, client_id: str, key: str, fingerprint: str) -> StoredAnswer | None:
    """Claim `key`; return the stored answer when it was already answered."""
    if not key or len(key) > 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters")
    try:
        with gw.sessions.begin() as session:
            session.add(
                IdempotencyKey(
                    client_id=client_id, key=key, request_hash=fingerprint, created_at=gw.now()
                )
            )
        return None
    except IntegrityError:
        pass
    with gw.sessions.begin() as session:
        row = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
            )
        )
        assert row is not None
        if row.request_hash != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
        if row.state != "done" or row.response_status is None:
            raise IdempotencyInFlight(
                "a request with this Idempotency-Key is still being processed"
            )
        return StoredAnswer(row.response_status, dict(row.response_body or {}))


def complete(
    gw: Gateway,
    client_id: str,
    key: str,
    status: int,
    body: dict[str, Any],
    payment_id: str | None = None,
    session: Any = None,
) -> None:
    """Store the answer; pass `session` to store it in the same transaction as the work."""

    def _store(s: Any) -> None:
        row = s.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
            )
        )
        if row is None:
            return
        row.state = "done"
        row.response_status = status
        row.response_body = body
        row.payment_id = payment_id

    if session is not None:
        _store(session)
    else:
        with gw.sessions.begin() as s:
            _store(s)


def release(gw: Gateway, client_id: str, key: str) -> None:
    """Forget a claim whose request crashed, so the portal may retry with the same key."""
    with gw.sessions.begin() as session:
        row = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
            )
        )
        if row is not None and row.state != "done":
            session.delete(row)


REFUSED_BEFORE_WORK = frozenset({400, 401, 403, 404, 422})
"""Answers given before anything was done: the key is freed for the corrected request."""


def settle(gw: Gateway, client_id: str, key: str, status: int, body: dict[str, Any]) -> None:
    """After an error: free the key when the request was refused as invalid, else store it.

    As with other payment APIs, a request that failed validation did nothing, so the
    portal may fix it and send it again under the same key; a conflict with the payment's
    state (409) or a provider's refusal is an answer to keep and replay.
    """
    if status in REFUSED_BEFORE_WORK:
        release(gw, client_id, key)
    else:
        complete(gw, client_id, key, status, body)
