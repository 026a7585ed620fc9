"""Row locks: the one way services take a payment for writing."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.db import lock_for_update
from payments.errors import NotFound
from payments.models import Attempt, Payment


def lock_payment(session: Session, payment_id: str) -> Payment:
    """Lock the payment row (FOR UPDATE on PostgreSQL; SQLite holds BEGIN IMMEDIATE).

    `populate_existing` re-reads the row, so a value read before the lock is never used.
    """
    stmt = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    if lock_for_update(session):
        stmt = stmt.with_for_update()
    payment = session.scalars(stmt).one_or_none()
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    for attempt in session.scalars(
        select(Attempt)
        .where(Attempt.payment_id == payment_id)
        .execution_options(populate_existing=True)
    ):
        _ = attempt  # refresh attempts under the lock too
    return payment
