"""Idempotency-Key: claim the key before the work, store the answer with the work.

The claim is its own committed row, so a concurrent request with the same key sees it
(unique constraint) and is told 409 while the first is in flight, or gets the stored
answer once it is done. The same key with another body is a 409 as well.

A claim holds a lease, as Stripe's keys hold a lock with a timeout: `lock_token` names
the request holding it and `locked_until` (`gw.now()` + FEEGATE_IDEMPOTENCY_LEASE_SECONDS)
says until when. A request killed mid-way (SIGKILL, OOM, a lost host) never completes
nor releases its claim; once its lease has run out, a retry with the same key and the
same body takes the claim over with one conditional UPDATE (compare-and-set on the old
token, `WHERE` the lease has expired), so of two retries only one wins and the other is
told 409. The lease is also a fence: every later write of a holder (`complete`,
`attach_refund`, `settle`, `release`) is conditional on its own token, so a holder that
was only slow, not dead, cannot store an answer (nor commit a payment) after losing it.

What the crashed request may have done decides what the new holder finds:

- a create commits its payment in the same transaction as its stored answer
  (`complete(..., session=...)`): a committed payment always has a `done` key, and an
  in-flight key means no payment was committed, so the new holder simply creates it;
- a refund commits its pending refund before it calls the provider; the refund and the
  claim's `refund_id` are written in that same transaction (`attach_refund`), so the new
  holder answers that refund as it now stands and never opens a second one (the worker
  settles a pending refund with the provider: `sync_refund`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payments.errors import IdempotencyConflict, IdempotencyInFlight, ValidationFailed
from payments.models import IdempotencyKey
from payments.services.gateway import Gateway

logger = logging.getLogger(__name__)

JSON = "application/json"
PROBLEM = "application/problem+json"
IN_FLIGHT = "in_flight"
DONE = "done"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: dict[str, Any]
    content_type: str = JSON


@dataclass(frozen=True)
class Claim:
    """What `claim` found: an answer to replay, or the key held by this request.

    `refund_id` is set when this request took over the claim of a crashed one that had
    already opened that refund: answer it, do not refund again.
    """

    client_id: str
    key: str
    token: str | None = None
    answer: StoredAnswer | None = None
    took_over: bool = False
    refund_id: str | None = None

    def on_refund_opened(self, session: Session, refund_id: str) -> None:
        """For `create_refund(on_open=…)`: link the pending refund to this claim."""
        attach_refund(session, self, refund_id)


def request_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_content_type(status: int) -> str:
    """Every error answer of the API is a problem (RFC 9457); the rest is JSON."""
    return PROBLEM if status >= 400 else JSON


def lease(gw: Gateway) -> timedelta:
    return timedelta(seconds=gw.settings.idempotency_lease_seconds)


def lease_expires(gw: Gateway, row: IdempotencyKey) -> datetime:
    """When an in-flight claim may be taken over; a claim made before revision 0007 has
    no `locked_until` and is leased from its creation."""
    return row.locked_until or row.created_at + lease(gw)


def claim(gw: Gateway, client_id: str, key: str, fingerprint: str) -> Claim:
    """Claim `key`, take over a claim whose lease ran out, or find its stored answer.

    Raises IdempotencyConflict (another body) and IdempotencyInFlight (leased by another
    request that may still be working).
    """
    if not key or len(key) > 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters")
    for _ in range(3):  # the row may be released between our insert and our read
        token = secrets.token_hex(16)
        now = gw.now()
        try:
            with gw.sessions.begin() as session:
                session.add(
                    IdempotencyKey(
                        client_id=client_id, key=key, request_hash=fingerprint,
                        state=IN_FLIGHT, created_at=now, lock_token=token,
                        locked_until=now + lease(gw),
                    )
                )
            return Claim(client_id, key, token)
        except IntegrityError:
            pass
        found = _existing(gw, client_id, key, fingerprint, token)
        if found is not None:
            return found
    raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed")


def _existing(
    gw: Gateway, client_id: str, key: str, fingerprint: str, token: str
) -> Claim | None:
    with gw.sessions.begin() as session:
        row = session.scalar(_row(client_id, key))
        if row is None:
            return None
        if row.request_hash != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
        if row.state == DONE and row.response_status is not None:
            return Claim(client_id, key, answer=_answer(row))
        now = gw.now()
        expires = lease_expires(gw, row)
        if expires > now:
            seconds = max(1, int((expires - now).total_seconds() + 0.999))
            raise IdempotencyInFlight(
                "a request with this Idempotency-Key is still being processed; "
                f"retry with the same key in {seconds} s"
            )
        holder = (IdempotencyKey.lock_token.is_(None) if row.lock_token is None
                  else IdempotencyKey.lock_token == row.lock_token)
        taken = session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.id == row.id,
                IdempotencyKey.state == IN_FLIGHT,
                holder,
                IdempotencyKey.locked_until.is_(None) | (IdempotencyKey.locked_until <= now),
            )
            .values(
                lock_token=token,
                locked_until=now + lease(gw),
                note=_noted(row.note, f"lease taken over at {now.isoformat()}"),
            )
            .execution_options(synchronize_session=False)
        )
        won = _rowcount(taken) == 1
        refund_id = row.refund_id
    if not won:  # another retry took it over first, or the holder completed meanwhile
        return _after_lost_race(gw, client_id, key)
    logger.warning(
        "Idempotency-Key of client %s taken over after its lease ran out (refund %s)",
        client_id, refund_id or "none",
    )
    return Claim(client_id, key, token, took_over=True, refund_id=refund_id)


def _after_lost_race(gw: Gateway, client_id: str, key: str) -> Claim:
    with gw.sessions.begin() as session:
        row = session.scalar(_row(client_id, key))
        if row is not None and row.state == DONE and row.response_status is not None:
            return Claim(client_id, key, answer=_answer(row))
    raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed")


def attach_refund(session: Session, held: Claim, refund_id: str) -> None:
    """Record, in the refund's own transaction, that this claim opened `refund_id`.

    Raises IdempotencyInFlight when the claim is no longer this request's, which rolls
    the refund back with it: a takeover may be refunding already.
    """
    result = session.execute(
        update(IdempotencyKey)
        .where(*_held(held), IdempotencyKey.refund_id.is_(None))
        .values(refund_id=refund_id)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise IdempotencyInFlight(
            "the lease on this Idempotency-Key ran out and another request took it over; "
            "retry with the same key for its answer"
        )


def complete(
    gw: Gateway,
    held: Claim,
    status: int,
    body: dict[str, Any],
    payment_id: str | None = None,
    session: Session | None = None,
    content_type: str | None = None,
) -> bool:
    """Store the answer; pass `session` to store it in the same transaction as the work.

    Only the request that holds the claim stores it. With `session`, a lost claim raises
    IdempotencyInFlight so that the caller's work rolls back instead of committing beside
    the new holder's; without, it returns False and stores nothing.
    """
    statement = (
        update(IdempotencyKey)
        .where(*_held(held))
        .values(
            state=DONE,
            response_status=status,
            response_body=body,
            response_content_type=content_type or default_content_type(status),
            payment_id=payment_id,
            locked_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    if session is not None:
        if _rowcount(session.execute(statement)) != 1:
            raise IdempotencyInFlight(
                "the lease on this Idempotency-Key ran out and another request took it "
                "over; retry with the same key for its answer"
            )
        return True
    with gw.sessions.begin() as s:
        stored = _rowcount(s.execute(statement)) == 1
    if not stored:
        logger.warning("answer of client %s not stored: its Idempotency-Key lease was lost",
                       held.client_id)
    return stored


def release(gw: Gateway, held: Claim) -> None:
    """Give up a claim whose request failed unexpectedly, so the portal may retry at once.

    A claim that already opened a refund is kept, its lease ended now: the retry takes it
    over and answers that refund. Any other claim is forgotten.
    """
    with gw.sessions.begin() as session:
        row = session.scalar(_row(held.client_id, held.key).where(*_held(held)))
        if row is None:
            return
        if row.refund_id is not None:
            row.locked_until = gw.now()
        else:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))


REFUSED_BEFORE_WORK = frozenset({400, 401, 403, 404, 422})
"""Answers given before anything was done: the key is freed for the corrected request."""


def settle(gw: Gateway, held: Claim, status: int, body: dict[str, Any]) -> None:
    """After an error: free the key when the request was refused as invalid, else store it.

    As with other payment APIs, a request that failed validation did nothing, so the
    portal may fix it and send it again under the same key; a conflict with the payment's
    state (409) or a provider's refusal is an answer to keep and replay, as the problem
    it was (application/problem+json).
    """
    if status in REFUSED_BEFORE_WORK:
        release(gw, held)
    else:
        complete(gw, held, status, body, content_type=PROBLEM)


def _row(client_id: str, key: str) -> Any:
    return select(IdempotencyKey).where(
        IdempotencyKey.client_id == client_id, IdempotencyKey.key == key
    )


def _held(held: Claim) -> tuple[Any, ...]:
    """WHERE the claim is still in flight and held by this request."""
    if held.token is None:
        raise ValueError("an answered claim holds no lease")
    return (
        IdempotencyKey.client_id == held.client_id,
        IdempotencyKey.key == held.key,
        IdempotencyKey.state == IN_FLIGHT,
        IdempotencyKey.lock_token == held.token,
    )


def _answer(row: IdempotencyKey) -> StoredAnswer:
    assert row.response_status is not None
    return StoredAnswer(
        row.response_status,
        dict(row.response_body or {}),
        row.response_content_type or default_content_type(row.response_status),
    )


def _noted(note: str | None, line: str) -> str:
    return f"{note}\n{line}" if note else line


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
