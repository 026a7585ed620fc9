"""Recording paid payments for the report tests, through the real services.

`record` creates a payment with `create_payment` at a chosen moment (the gateway's clock
is moved there), then pays it online (`apply_result` on an online attempt) or at the
counter (`record_counter`) at another moment.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapters.base import VIETNAM_TZ
from payments.demo_history import pay_online
from payments.models import Client, Payment
from payments.schemas import CounterIn, FeeItemIn, PaymentCreate
from payments.services.counter import record_counter
from payments.services.gateway import Gateway
from payments.services.payments import create_payment
from tests.factories import Clock

_seq = itertools.count(1)


def vn(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A wall-clock time in Vietnam, as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=VIETNAM_TZ)


def record(
    gw: Gateway,
    clock: Clock,
    client_id: str,
    *,
    agency: str,
    procedure: str,
    amount: int,
    paid_at: datetime | None,
    via: str = "counter",
    created_at: datetime | None = None,
    received: date | None = None,
    fee_items: list[tuple[str, str, int]] | None = None,
    receipt_no: str | None = None,
) -> str:
    """One payment; `via` is `counter` or an online provider; `paid_at=None`: left unpaid."""
    created = created_at or (paid_at - timedelta(minutes=10) if paid_at else clock.current)
    n = next(_seq)
    items = [FeeItemIn(name=name, kind=kind, amount=a) for name, kind, a in fee_items] \
        if fee_items is not None else None  # type: ignore[arg-type]
    fields: dict[str, Any] = {
        "reference": f"{agency}-{created:%y%m%d}-{n:04d}",
        "procedure_code": procedure,
        "agency_code": agency,
        "amount": amount,
        "description": "test",
        "return_url": "https://portal.example.gov.vn/ho-so",
        "fee_items": items,
        "dossier_received_at": received,
        "counter": CounterIn(method="cash", receipt_no=receipt_no or f"BL-{n:06d}",
                             paid_at=paid_at) if via == "counter" and paid_at else None,
    }
    # amount 0 (an exempt dossier) is below the API's minimum: build it unvalidated
    data = PaymentCreate.model_construct(**fields) if amount == 0 else PaymentCreate(**fields)
    with gw.sessions.begin() as session:
        client = session.get(Client, client_id)
        assert client is not None
        clock.current = created.astimezone(UTC)
        payment = create_payment(session, gw, client, data)
        payment_id = payment.id
        if paid_at is not None:
            clock.current = paid_at.astimezone(UTC)
            if data.counter is not None:  # as the API does for create-with-counter
                record_counter(session, gw, payment, data.counter, actor="test")
            else:
                pay_online(session, gw, payment, via, paid_at, source="test")
    return payment_id


def pay_again_online(gw: Gateway, clock: Clock, payment_id: str, provider: str,
                     paid_at: datetime) -> None:
    """A second provider success on a paid payment: a double payment."""
    with gw.sessions.begin() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        clock.current = paid_at.astimezone(UTC)
        pay_online(session, gw, payment, provider, paid_at, source="test")


def set_refunded(gw: Gateway, payment_id: str, amount: int) -> None:
    """What the refund service records once a refund succeeds (refunded_amount)."""
    with gw.sessions.begin() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        payment.refunded_amount = amount
