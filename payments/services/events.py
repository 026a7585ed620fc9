"""Writing the audit trail and the outbox, always inside the caller's transaction."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from payments.ids import public_id
from payments.models import Attempt, Outbox, Payment, PaymentEvent
from payments.serialize import payment_to_dict, rfc3339
from payments.services.gateway import Gateway

logger = logging.getLogger(__name__)


def record_event(
    session: Session,
    gw: Gateway,
    payment: Payment,
    kind: str,
    *,
    source: str,
    attempt: Attempt | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> PaymentEvent:
    event = PaymentEvent(
        payment_id=payment.id,
        attempt_id=attempt.id if attempt else None,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        source=source,
        actor=actor,
        detail=detail or {},
        created_at=gw.now(),
    )
    session.add(event)
    return event


def enqueue_notification(session: Session, gw: Gateway, payment: Payment, type_: str) -> Outbox:
    """Queue `type_` for the payment's client; delivered by the worker, at least once."""
    session.flush()
    session.refresh(payment)
    now = gw.now()
    outbox_id = public_id("evt")
    payload = {
        "id": outbox_id,
        "type": type_,
        "created_at": rfc3339(now),
        "data": {"payment": payment_to_dict(payment, gw.checkout_url(payment.id))},
    }
    row = Outbox(
        id=outbox_id,
        client_id=payment.client_id,
        payment_id=payment.id,
        type=type_,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    logger.info("outbox %s %s for payment %s", outbox_id, type_, payment.id)
    return row
