"""Payments taken at the one-stop counter (cash, POS card, transfer at the counter).

A counter payment is an attempt with channel `counter`, so one query counts online and
offline alike; it goes through the same write path as a provider's success.

The money rules are those of a provider's success, and stricter, because here a person
types the data in:
- a paid payment takes no counter payment (it would be a double payment): 409, nothing
  written; a cancelled payment neither (the portal cancelled it: create a new one);
- a receipt number is recorded once per collecting agency (receipt numbers are unique per
  issuer; another agency may use the same number): 409;
- `paid_at` must carry an offset, may not be in the future (a few minutes of clock
  skew between the counter's machine and feegate are tolerated) nor before 2000 (no
  report reaches further back; year 1 or 9999 would not even convert to UTC): 422.
Every check runs before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ, Outcome, ProviderResult
from payments.db import lock_for_update
from payments.errors import Conflict, FieldError, InvalidState, ValidationFailed
from payments.ids import provider_reference, public_id
from payments.models import Attempt, Payment
from payments.schemas import CounterIn
from payments.services.attempts import apply_result
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import AttemptStatus, PaymentStatus

COUNTER = "counter"
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a counter's `paid_at` may be (its clock may run ahead of ours)."""
EARLIEST_PAID_AT = datetime(2000, 1, 1, tzinfo=VIETNAM_TZ)
"""No counter payment before 2000 (Vietnam time): no report reaches further back."""


def check_paid_at(data: CounterIn, now: datetime) -> datetime:
    """The moment the money was taken, in UTC: given with an offset, 2000 to now (+skew).

    `now` is the gateway's clock (`gw.now()`), never the machine's.
    """
    paid_at = data.paid_at or now
    if paid_at.tzinfo is None or paid_at.utcoffset() is None:
        raise ValidationFailed(
            "paid_at needs a time-zone offset",
            [FieldError("paid_at", "RFC 3339 with an offset, e.g. 2026-11-26T09:30:00+07:00")],
        )
    try:
        moment = paid_at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+07:00, 9999-12-31T23:59-07:00: no such UTC time
        moment = None
    if moment is None or moment < EARLIEST_PAID_AT:
        raise ValidationFailed(
            "paid_at nằm ngoài khoảng cho phép (paid_at is out of range)",
            [FieldError("paid_at", "must be on or after 2000-01-01T00:00:00+07:00 and not in "
                        "the future")],
        )
    if moment > now + CLOCK_SKEW:
        raise ValidationFailed(
            "paid_at ở thời điểm tương lai (paid_at is in the future)",
            [FieldError("paid_at", "is in the future; give the time the money was taken "
                        f"(at most {int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead of "
                        "feegate's clock)")],
        )
    return moment


def _lock_receipt(session: Session, agency_code: str, receipt_no: str) -> None:
    """Serialize two counters recording one receipt number for two payments at once.

    PostgreSQL: a transaction-scoped advisory lock on (agency, receipt), taken before the
    look-up; SQLite already serializes writers (BEGIN IMMEDIATE).
    """
    if lock_for_update(session):
        key = zlib.crc32(f"counter-receipt|{agency_code}|{receipt_no}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def receipt_taken(session: Session, agency_code: str, receipt_no: str) -> str | None:
    """The payment that already holds this receipt number at this agency, if any."""
    return session.scalar(
        select(Attempt.payment_id)
        .join(Payment, Payment.id == Attempt.payment_id)
        .where(
            Attempt.provider == COUNTER,
            Attempt.receipt_no == receipt_no,
            Attempt.status == AttemptStatus.SUCCEEDED.value,
            Payment.agency_code == agency_code,
        )
        .limit(1)
    )


def record_counter(
    session: Session, gw: Gateway, payment: Payment, data: CounterIn, *, actor: str
) -> Attempt:
    """Record money taken at the counter; refused when the payment is already paid."""
    now = gw.now()
    paid_at = check_paid_at(data, now)
    payment = lock_payment(session, payment.id)
    status = PaymentStatus(payment.status)
    if status is PaymentStatus.SUCCEEDED:
        how = ("at the counter" if payment.paid_channel == COUNTER
               else f"through {payment.paid_provider}")
        raise InvalidState(
            f"this payment is already paid ({how}); a counter payment would be a double payment"
        )
    if status is PaymentStatus.CANCELLED:
        raise InvalidState("this payment was cancelled; create a new payment for the dossier")
    _lock_receipt(session, payment.agency_code, data.receipt_no)
    holder = receipt_taken(session, payment.agency_code, data.receipt_no)
    if holder is not None:
        raise Conflict(
            f"receipt {data.receipt_no} is already recorded for payment {holder} of this agency",
            [FieldError("receipt_no", "already recorded for another payment")],
        )
    reference = provider_reference("CT")
    officer = data.officer or actor
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
        officer=officer,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    apply_result(
        session,
        gw,
        COUNTER,
        ProviderResult(
            provider_reference=reference,
            outcome=Outcome.SUCCEEDED,
            amount=payment.amount,
            result_code=data.method,
            message=f"receipt {data.receipt_no}",
            paid_at=paid_at,
        ),
        source="counter",
        actor=officer,
    )
    return attempt
