"""Payments taken at the one-stop counter (cash, POS card, transfer at the counter).

A counter payment is an attempt with channel `counter`, so one query counts online and
offline alike; it goes through the same write path as a provider's success.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Outcome, ProviderResult
from payments.errors import Conflict, FieldError, InvalidState, ValidationFailed
from payments.ids import provider_reference, public_id
from payments.models import Attempt, Payment
from payments.schemas import CounterIn
from payments.services.attempts import apply_result
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import AttemptStatus, PaymentStatus

COUNTER = "counter"


def record_counter(
    session: Session, gw: Gateway, payment: Payment, data: CounterIn, *, actor: str
) -> Attempt:
    """Record money taken at the counter; refused when the payment is already paid."""
    payment = lock_payment(session, payment.id)
    if payment.status == PaymentStatus.SUCCEEDED.value:
        raise InvalidState("this payment is already paid; a counter payment would be a double payment")
    if payment.status in (PaymentStatus.CANCELLED.value,):
        raise InvalidState("this payment was cancelled")
    duplicate = session.scalar(
        select(Attempt.id).where(
            Attempt.provider == COUNTER,
            Attempt.receipt_no == data.receipt_no,
            Attempt.payment_id != payment.id,
        )
    )
    if duplicate:
        raise Conflict(
            "this receipt number is already recorded for another payment",
            [FieldError("receipt_no", "already used")],
        )
    now = gw.now()
    paid_at = data.paid_at or now
    if paid_at.tzinfo is None:
        raise ValidationFailed("paid_at needs a time-zone offset",
                               [FieldError("paid_at", "RFC 3339 with offset, e.g. +07:00")])
    if paid_at > now:
        raise ValidationFailed("paid_at is in the future", [FieldError("paid_at", "is in the future")])
    reference = provider_reference("CT")
    attempt = Attempt(
        id=public_id("att"),
        payment_id=payment.id,
        provider=COUNTER,
        channel=COUNTER,
        reference=reference,
        request_id=reference,
        provider_reference=reference,
        status=AttemptStatus.PENDING.value,
        amount=payment.amount,
        counter_method=data.method,
        receipt_no=data.receipt_no,
        officer=data.officer or actor,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    apply_result(
        session,
        gw,
        COUNTER,
        ProviderResult(provider_reference=reference, outcome=Outcome.SUCCEEDED,
                       amount=payment.amount, result_code=data.method,
                       message=f"receipt {data.receipt_no}", paid_at=paid_at),
        source="counter",
        actor=data.officer or actor,
    )
    return attempt
