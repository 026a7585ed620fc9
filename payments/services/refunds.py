"""Refunds: all or part of a paid payment, through the provider that took the money.

May this move money? Yes, so it follows the write-path habits:

1. lock the payment, check what may still be refunded, and commit a pending Refund;
2. call the provider with no transaction open (`adapter.refund`);
3. lock again and record the answer: succeeded (payment.refunded_amount grows), failed,
   or still pending. Each final answer writes a PaymentEvent and an Outbox row
   (`refund.succeeded` / `refund.failed`) in the same transaction.

A refund whose answer was lost (timeout, 5xx, unreadable) stays pending, never failed:
the provider may have paid it out. The worker asks again with `sync_refund`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Adapter, RefundOutcome, RefundRequest, RefundResult
from adapters.errors import AdapterError, NotSupported, ProviderRejected, ProviderUnavailable
from payments.errors import (
    Conflict,
    FieldError,
    InvalidState,
    NotFound,
    ProviderDown,
    ProviderNotAvailable,
    ValidationFailed,
)
from payments.ids import provider_reference, public_id
from payments.models import Attempt, Payment, Refund
from payments.schemas import RefundCreate
from payments.services.events import enqueue_notification, record_event
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import AttemptStatus, PaymentStatus, RefundStatus

logger = logging.getLogger(__name__)

COUNTER = "counter"

NOTIFY_TYPES: dict[RefundStatus, str] = {
    RefundStatus.SUCCEEDED: "refund.succeeded",
    RefundStatus.FAILED: "refund.failed",
}
"""Which refund outcomes the portal hears of, with the CONTRACT.md event type."""

OUTCOME_TO_STATUS: dict[RefundOutcome, RefundStatus] = {
    RefundOutcome.SUCCEEDED: RefundStatus.SUCCEEDED,
    RefundOutcome.FAILED: RefundStatus.FAILED,
    RefundOutcome.PENDING: RefundStatus.PENDING,
}


@dataclass(frozen=True)
class _Opened:
    refund_id: str
    provider: str
    request: RefundRequest
    merchant_account_id: int | None = None  # the paid attempt's account (None: default)


def create_refund(
    gw: Gateway,
    client_id: str,
    payment_id: str,
    data: RefundCreate,
    *,
    actor: str,
    source: str = "api",
    on_open: Callable[[Session, str], None] | None = None,
) -> str:
    """Refund `data.amount` of a paid payment; return the refund id.

    `on_open(session, refund_id)` runs in the transaction that commits the pending refund
    (the API links its Idempotency-Key claim to it there); if it raises, no refund opens.

    Raises NotFound (not this client's), InvalidState (not paid), ValidationFailed
    (too much, counter payment, provider without refunds), Conflict (another refund in
    flight leaves too little) and ProviderDown (no answer: the refund stays pending).
    """
    opened = _open_refund(gw, client_id, payment_id, data, actor=actor, source=source,
                          on_open=on_open)
    adapter = gw.account_adapter(opened.provider, opened.merchant_account_id)
    if adapter is None:  # the account went away since the refund was opened
        _note_no_answer(gw, opened.refund_id, ProviderUnavailable("merchant account is gone"))
        raise ProviderDown(f"{opened.provider} is not configured; the refund stays pending")
    try:
        result = adapter.refund(opened.request)
    except ProviderUnavailable as exc:
        _note_no_answer(gw, opened.refund_id, exc)
        raise ProviderDown(
            f"{opened.provider} did not answer the refund; it is recorded as pending and "
            "will be confirmed with the provider"
        ) from exc
    except ProviderRejected as exc:
        result = RefundResult(RefundOutcome.FAILED, exc.code, exc.message)
    except NotSupported as exc:
        result = RefundResult(RefundOutcome.FAILED, "not_supported", str(exc))
    except AdapterError as exc:  # an answer we cannot trust: it may or may not have happened
        _note_no_answer(gw, opened.refund_id, exc)
        raise ProviderDown(
            f"{opened.provider} answered the refund unreadably; it is recorded as pending and "
            "will be confirmed with the provider"
        ) from exc
    with gw.sessions.begin() as session:
        refund = record_refund_result(
            session, gw, opened.refund_id, result, source=source, actor=actor
        )
    logger.info(
        "%s refund %s of %s -> %s",
        opened.provider,
        opened.request.refund_reference,
        payment_id,
        refund.status,
    )
    return opened.refund_id


def _open_refund(
    gw: Gateway, client_id: str, payment_id: str, data: RefundCreate, *, actor: str, source: str,
    on_open: Callable[[Session, str], None] | None = None,
) -> _Opened:
    """Transaction 1: check under the payment's lock and commit the pending refund."""
    with gw.sessions.begin() as session:
        payment = lock_payment(session, payment_id)
        if payment.client_id != client_id:
            raise NotFound(f"payment {payment_id} not found")
        status = PaymentStatus(payment.status)
        if status is not PaymentStatus.SUCCEEDED:
            raise InvalidState(f"only a paid payment can be refunded; this one is {status.value}")
        attempt = paid_attempt(payment)
        if attempt is None:  # pragma: no cover - a succeeded payment has a succeeded attempt
            raise InvalidState("no paid attempt was found for this payment")
        if attempt.channel == COUNTER or attempt.provider == COUNTER:
            raise ValidationFailed(
                "this payment was taken at the counter: refund it at the counter, "
                "not through a provider",
                [FieldError("payment", "paid at the counter; no provider can refund it")],
            )
        adapter = gw.attempt_adapter(session, attempt)  # the account the payment used
        if adapter is None:
            raise ProviderNotAvailable(f"provider '{attempt.provider}' is not configured")
        if not supports_refunds(adapter):
            raise ValidationFailed(
                f"{attempt.provider} does not support refunds through feegate",
                [FieldError("payment", f"paid with {attempt.provider}, which has no refund API")],
            )
        left = attempt.amount - payment.refunded_amount
        in_flight = sum(r.amount for r in payment.refunds if r.status == RefundStatus.PENDING.value)
        if data.amount > left:
            raise ValidationFailed(
                "the refund is larger than what is left to refund",
                [FieldError("amount", f"at most {left} đồng of this payment can be refunded")],
            )
        if data.amount > left - in_flight:
            raise Conflict(
                "another refund of this payment is still pending at the provider",
                [
                    FieldError(
                        "amount",
                        f"{in_flight} đồng are being refunded; at most "
                        f"{left - in_flight} đồng can be refunded until that is settled",
                    )
                ],
            )
        now = gw.now()
        refund = Refund(
            id=public_id("rfd"),
            payment_id=payment.id,
            attempt_id=attempt.id,
            reference=provider_reference("RF"),
            amount=data.amount,
            reason=data.reason,
            status=RefundStatus.PENDING.value,
            provider_data={},
            created_by=actor,
            created_at=now,
            updated_at=now,
            next_query_at=now + timedelta(seconds=gw.settings.sync_delay_seconds),
        )
        session.add(refund)
        session.flush()
        record_event(
            session,
            gw,
            payment,
            "refund.requested",
            source=source,
            attempt=attempt,
            to_status=RefundStatus.PENDING.value,
            actor=actor,
            detail={"refund_id": refund.id, "amount": refund.amount, "reason": refund.reason},
        )
        if on_open is not None:
            on_open(session, refund.id)
        return _Opened(refund.id, attempt.provider, refund_request(gw, refund, attempt),
                       attempt.merchant_account_id)


def paid_attempt(payment: Payment) -> Attempt | None:
    """The attempt whose money made the payment paid (the first success, by paid_at)."""
    paid = [a for a in payment.attempts if a.status == AttemptStatus.SUCCEEDED.value]
    for attempt in paid:
        if attempt.provider == payment.paid_provider and attempt.paid_at == payment.paid_at:
            return attempt
    return paid[0] if paid else None


def supports_refunds(adapter: Adapter) -> bool:
    return adapter.supports_refund and type(adapter).refund is not Adapter.refund


def refund_request(gw: Gateway, refund: Refund, attempt: Attempt) -> RefundRequest:
    return RefundRequest(
        refund_reference=refund.reference,
        request_id=provider_reference("RQ", 20),
        provider_reference=attempt.provider_reference,
        provider_txn_id=attempt.provider_txn_id,
        amount=refund.amount,
        original_amount=attempt.amount,
        reason=refund.reason,
        attempt_created_at=attempt.created_at,
        now=gw.now(),
        requested_at=refund.created_at,  # stable across retries (e.g. ZaloPay's m_refund_id)
        actor=refund.created_by or "feegate",
        extra={**(attempt.provider_data or {}), **(refund.provider_data or {})},
    )


def _note_no_answer(gw: Gateway, refund_id: str, exc: Exception) -> None:
    """The provider did not answer: the refund stays pending, with the reason noted."""
    logger.warning("refund %s: no usable answer from the provider (%s)", refund_id, exc)
    with gw.sessions.begin() as session:
        refund = session.get(Refund, refund_id)
        if refund is not None and refund.status == RefundStatus.PENDING.value:
            refund.result_message = f"no answer from the provider: {exc}"[:500]
            refund.updated_at = gw.now()


def record_refund_result(
    session: Session,
    gw: Gateway,
    refund_id: str,
    result: RefundResult,
    *,
    source: str,
    actor: str | None = None,
) -> Refund:
    """Transaction 3: apply the provider's answer to a pending refund. Idempotent.

    Locks the payment, re-reads the refund, returns early when it is already final.
    """
    payment_id = session.scalar(select(Refund.payment_id).where(Refund.id == refund_id))
    if payment_id is None:
        raise NotFound(f"refund {refund_id} not found")
    payment = lock_payment(session, payment_id)
    refund = session.scalars(
        select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    ).one()
    if refund.status != RefundStatus.PENDING.value:
        return refund  # already settled: a late or repeated answer changes nothing
    target = OUTCOME_TO_STATUS[result.outcome]
    refund.result_code = result.result_code or refund.result_code
    refund.result_message = (result.message or refund.result_message or "")[:500] or None
    refund.provider_refund_id = result.provider_refund_id or refund.provider_refund_id
    refund.provider_data = {**(refund.provider_data or {}), **dict(result.extra)}
    refund.updated_at = gw.now()
    if target is RefundStatus.PENDING:
        return refund
    refund.status = target.value
    if target is RefundStatus.SUCCEEDED:
        payment.refunded_amount = payment.refunded_amount + refund.amount
    record_event(
        session,
        gw,
        payment,
        "refund.status",
        source=source,
        attempt=session.get(Attempt, refund.attempt_id),
        from_status=RefundStatus.PENDING.value,
        to_status=target.value,
        actor=actor,
        detail={
            "refund_id": refund.id,
            "amount": refund.amount,
            "code": result.result_code,
            "message": result.message,
            "provider_refund_id": result.provider_refund_id,
        },
    )
    enqueue_notification(session, gw, payment, NOTIFY_TYPES[target])
    return refund


def sync_refund(gw: Gateway, refund_id: str) -> str:
    """Ask the provider about a pending refund and record the answer; return its status.

    For the worker: a refund left pending (asynchronous at the provider, or its answer
    lost) is settled here. No answer leaves it pending for the next run.
    """
    with gw.sessions() as session:
        refund = session.get(Refund, refund_id)
        if refund is None:
            raise NotFound(f"refund {refund_id} not found")
        if refund.status != RefundStatus.PENDING.value:
            return refund.status
        attempt = session.get(Attempt, refund.attempt_id)
        assert attempt is not None
        provider = attempt.provider
        account_id = attempt.merchant_account_id
        request = refund_request(gw, refund, attempt)
        previous = RefundResult(
            outcome=RefundOutcome.PENDING,
            result_code=refund.result_code or "",
            message=refund.result_message or "",
            provider_refund_id=refund.provider_refund_id,
            extra=dict(refund.provider_data or {}),
        )
    adapter = gw.account_adapter(provider, account_id)
    if adapter is None:
        logger.warning("refund %s: provider %s is not configured", refund_id, provider)
        return RefundStatus.PENDING.value
    try:
        result = adapter.query_refund(request, previous)
    except AdapterError as exc:
        logger.warning("%s query_refund %s failed: %s", provider, request.refund_reference, exc)
        return RefundStatus.PENDING.value
    with gw.sessions.begin() as session:
        return record_refund_result(session, gw, refund_id, result, source="sync").status


def pending_refund_ids(session: Session, *, limit: int = 100) -> list[str]:
    """Refunds still pending, oldest first (what the worker's sync job walks)."""
    return list(
        session.scalars(
            select(Refund.id)
            .where(Refund.status == RefundStatus.PENDING.value)
            .order_by(Refund.created_at)
            .limit(limit)
        )
    )
