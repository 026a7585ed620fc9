"""The outbox's database side: claiming due notifications, recording tries, redelivery.

HTTP lives in `webhooks.outbound`; this module only reads and writes rows, each call in
its own short transaction, so no transaction is ever open while a portal is called.

Claiming is safe with any number of workers: on PostgreSQL the due rows are selected
`FOR UPDATE SKIP LOCKED`, on SQLite `BEGIN IMMEDIATE` serialises the claim. A claimed row
stays `pending` but its `next_attempt_at` moves a lease into the future and its `tries`
goes up by one, both committed before the first byte is sent: another worker cannot see
it as due until the lease runs out (a worker that died mid-send), and the result of a
try is written only by the worker whose `tries` number still matches.

Statuses: `pending` (due at `next_attempt_at`), `delivered` (a 2xx came back), `dead`
(the whole retry schedule failed), `skipped` (the client has no usable notify URL; the
message was never sent, and `redeliver` sends it once a URL is configured).
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from payments.db import lock_for_update
from payments.errors import FieldError, NotFound, ValidationFailed
from payments.ids import webhook_secret
from payments.models import Client, Outbox, OutboxDelivery
from payments.serialize import rfc3339
from payments.services.clients import validate_notify_url
from payments.services.gateway import Gateway

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_SCHEDULE: tuple[int, ...] = (60, 300, 1800, 7200, 21600, 43200, 86400)
"""Seconds to wait after the n-th failed try (1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h)."""

MAX_TRIES = len(RETRY_SCHEDULE) + 1
"""The first try plus one per step of the schedule; a message failing them all is dead."""

JITTER = 0.1
"""Each delay is stretched or shrunk by up to 10 %, so retries of many messages spread out."""


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ClaimedMessage:
    """A notification claimed by one worker: everything needed to send it, no ORM state."""

    id: str
    tries: int  # this try's number (1 for the first)
    url: str
    secrets: tuple[str, ...]  # current webhook secret first, then the previous one if rotating
    payload: dict[str, Any]
    type: str


@dataclass(frozen=True)
class TryResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(tries: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after `tries` failed tries (1-based), jittered."""
    base = RETRY_SCHEDULE[min(max(tries, 1), len(RETRY_SCHEDULE)) - 1]
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=base * factor)


def _lock(stmt: Select[T], session: Session, *, skip_locked: bool = False) -> Select[T]:
    if lock_for_update(session):
        return stmt.with_for_update(skip_locked=skip_locked)
    return stmt


def claim_due(gw: Gateway, *, limit: int, lease_seconds: int) -> list[ClaimedMessage]:
    """Claim up to `limit` due messages and commit the claim before returning."""
    now = gw.now()
    claimed: list[ClaimedMessage] = []
    with gw.sessions.begin() as session:
        stmt = (
            select(Outbox)
            .where(Outbox.status == OutboxStatus.PENDING.value, Outbox.next_attempt_at <= now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
        rows = list(session.scalars(_lock(stmt, session, skip_locked=True)))
        if not rows:
            return []
        client_ids = {row.client_id for row in rows}
        found = session.scalars(select(Client).where(Client.id.in_(client_ids)))
        clients = {c.id: c for c in found}
        for row in rows:
            client = clients[row.client_id]
            problem = _unusable_url(client.notify_url, gw.settings.env)
            if problem is not None:
                row.status = OutboxStatus.SKIPPED.value
                row.last_error = problem
                logger.info("outbox %s skipped: %s", row.id, problem)
                continue
            assert client.notify_url is not None
            row.tries += 1
            row.next_attempt_at = now + timedelta(seconds=lease_seconds)
            secrets = tuple(s for s in (client.webhook_secret, client.previous_webhook_secret) if s)
            claimed.append(ClaimedMessage(id=row.id, tries=row.tries, url=client.notify_url,
                                          secrets=secrets, payload=dict(row.payload),
                                          type=row.type))
    return claimed


def _unusable_url(url: str | None, env: str) -> str | None:
    """Checked again at delivery: rules may have tightened since the URL was stored."""
    if not url:
        return "the client has no notify URL"
    try:
        validate_notify_url(url, env=env)
    except ValidationFailed as exc:
        return f"the client's notify URL is not allowed: {exc.detail}"
    return None


def record_try(gw: Gateway, message: ClaimedMessage, result: TryResult) -> str:
    """Log one try and move the message on; return its status afterwards."""
    now = gw.now()
    with gw.sessions.begin() as session:
        session.add(OutboxDelivery(
            outbox_id=message.id, url=message.url[:1000], status_code=result.status_code,
            error=result.error[:2000] if result.error else None, duration_ms=result.duration_ms,
            attempted_at=now,
        ))
        row = session.scalars(_lock(select(Outbox).where(Outbox.id == message.id), session)).one()
        if row.status != OutboxStatus.PENDING.value:
            return row.status  # delivered by another try meanwhile, or a staff action
        if result.ok:
            row.status = OutboxStatus.DELIVERED.value
            row.delivered_at = now
            row.last_status_code = result.status_code
            row.last_error = None
            return row.status
        if row.tries != message.tries:
            return row.status  # re-claimed after our lease ran out, or redelivered: theirs now
        row.last_status_code = result.status_code
        row.last_error = result.error
        if row.tries >= MAX_TRIES:
            row.status = OutboxStatus.DEAD.value
            logger.warning("outbox %s dead after %d tries: %s", row.id, row.tries, result.error)
        else:
            row.next_attempt_at = now + retry_delay(row.tries)
        return row.status


def release(gw: Gateway, messages: Sequence[ClaimedMessage]) -> None:
    """Give back claimed messages that were not sent (the worker is stopping)."""
    if not messages:
        return
    now = gw.now()
    with gw.sessions.begin() as session:
        for message in messages:
            session.execute(
                update(Outbox)
                .where(Outbox.id == message.id, Outbox.tries == message.tries,
                       Outbox.status == OutboxStatus.PENDING.value)
                .values(tries=Outbox.tries - 1, next_attempt_at=now)
            )


# -- operators and portals -------------------------------------------------------------


def redeliver(session: Session, gw: Gateway, event_id: str, *,
              client_id: str | None = None) -> Outbox:
    """Queue a message again, whatever its status; the retry schedule starts over.

    `client_id` restricts to one client's events (the API); another client's is not found.
    The payload is sent unchanged: an event is a fact about the moment it happened.
    """
    row = session.scalars(_lock(select(Outbox).where(Outbox.id == event_id), session)).one_or_none()
    if row is None or (client_id is not None and row.client_id != client_id):
        raise NotFound(f"event {event_id} not found")
    previous = row.status
    row.status = OutboxStatus.PENDING.value
    row.tries = 0
    row.next_attempt_at = gw.now()
    logger.info("outbox %s (%s) queued again for delivery", row.id, previous)
    return row


def get_event(session: Session, event_id: str, *, client_id: str | None = None) -> Outbox:
    row = session.get(Outbox, event_id)
    if row is None or (client_id is not None and row.client_id != client_id):
        raise NotFound(f"event {event_id} not found")
    return row


def deliveries_of(session: Session, event_id: str) -> list[OutboxDelivery]:
    return list(session.scalars(
        select(OutboxDelivery)
        .where(OutboxDelivery.outbox_id == event_id)
        .order_by(OutboxDelivery.id)
    ))


def list_events(
    session: Session,
    *,
    client_id: str | None,
    payment_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Outbox], str | None]:
    """Newest first, keyset pagination on (created_at, id)."""
    stmt = select(Outbox)
    if client_id is not None:
        stmt = stmt.where(Outbox.client_id == client_id)
    if payment_id:
        stmt = stmt.where(Outbox.payment_id == payment_id)
    if status:
        stmt = stmt.where(Outbox.status == status)
    if cursor:
        moment, last_id = _decode_cursor(cursor)
        stmt = stmt.where(or_(Outbox.created_at < moment,
                              (Outbox.created_at == moment) & (Outbox.id < last_id)))
    stmt = stmt.order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        raw = f"{last.created_at.isoformat()}|{last.id}"
        next_cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return rows, next_cursor


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, event_id = raw.split("|", 1)
        moment = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not valid",
                               [FieldError("cursor", "not a cursor this API issued")]) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), event_id


def event_to_dict(row: Outbox,
                  deliveries: Sequence[OutboxDelivery] | None = None) -> dict[str, Any]:
    """An event as the portal API shows it: what was sent, and how delivery went."""
    data: dict[str, Any] = {
        "id": row.id,
        "object": "event",
        "type": row.type,
        "payment_id": row.payment_id,
        "created_at": rfc3339(row.created_at),
        "delivery": {
            "status": row.status,
            "tries": row.tries,
            "next_attempt_at": (rfc3339(row.next_attempt_at)
                                if row.status == OutboxStatus.PENDING.value else None),
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "delivered_at": rfc3339(row.delivered_at),
        },
    }
    if deliveries is not None:
        data["payload"] = row.payload
        data["deliveries"] = [
            {"attempted_at": rfc3339(d.attempted_at), "url": d.url, "status_code": d.status_code,
             "error": d.error, "duration_ms": d.duration_ms}
            for d in deliveries
        ]
    return data


# -- webhook secret rotation -------------------------------------------------------------


def rotate_webhook_secret(session: Session, client_id: str) -> str:
    """A new secret; the current one becomes the previous one and is still signed with."""
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    client.previous_webhook_secret = client.webhook_secret
    client.webhook_secret = webhook_secret()
    return client.webhook_secret


def retire_previous_secret(session: Session, client_id: str) -> bool:
    """Stop signing with the previous secret; False when there was none."""
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    had = client.previous_webhook_secret is not None
    client.previous_webhook_secret = None
    return had
