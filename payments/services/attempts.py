"""Attempts, and THE write path for money state: `apply_result`.

Every change to a payment's or an attempt's status made because of what a provider said
goes through `apply_result`: it locks the payment, re-reads it, checks the move against
`payments.states`, returns early when the change was already made, and writes the
PaymentEvent and the Outbox row in the caller's transaction.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Adapter, Outcome, ProviderResult, StartRequest
from adapters.errors import ProviderRejected, ProviderUnavailable
from payments.errors import (
    FieldError,
    InvalidState,
    NotFound,
    ProviderDown,
    ProviderNotAvailable,
    ProviderRefused,
    ValidationFailed,
)
from payments.ids import provider_reference, public_id
from payments.models import Attempt, Payment
from payments.money import format_vnd
from payments.providers import limits_text
from payments.services.events import enqueue_notification, record_event
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import (
    ATTEMPT_FINAL,
    NOTIFY_TYPES,
    PAYABLE,
    AttemptStatus,
    Flag,
    PaymentStatus,
    check_attempt_move,
    check_payment_move,
)

logger = logging.getLogger(__name__)

OUTCOME_TO_STATUS: dict[Outcome, AttemptStatus] = {
    Outcome.SUCCEEDED: AttemptStatus.SUCCEEDED,
    Outcome.FAILED: AttemptStatus.FAILED,
    Outcome.CANCELLED: AttemptStatus.CANCELLED,
}


class Applied(enum.StrEnum):
    APPLIED = "applied"  # the attempt moved (and maybe the payment)
    DUPLICATE = "duplicate"  # the attempt was already in a final state
    UNCHANGED = "unchanged"  # the provider says still pending / unknown
    UNKNOWN_ATTEMPT = "unknown_attempt"
    AMOUNT_MISMATCH = "amount_mismatch"


@dataclass(frozen=True)
class ApplyReport:
    applied: Applied
    attempt_id: str | None = None
    payment_id: str | None = None


def find_attempt_id(session: Session, provider: str, reference: str) -> str | None:
    return session.scalar(
        select(Attempt.id).where(
            Attempt.provider == provider, Attempt.provider_reference == reference
        )
    )


def apply_result(
    session: Session,
    gw: Gateway,
    provider: str,
    result: ProviderResult,
    *,
    source: str,
    actor: str | None = None,
) -> ApplyReport:
    """Apply what a provider said about one attempt. Idempotent; the caller commits."""
    attempt_id = find_attempt_id(session, provider, result.provider_reference)
    if attempt_id is None:
        logger.warning("%s result for unknown order %s", provider, result.provider_reference)
        return ApplyReport(Applied.UNKNOWN_ATTEMPT)
    payment_id = session.scalar(select(Attempt.payment_id).where(Attempt.id == attempt_id))
    assert payment_id is not None
    payment = lock_payment(session, payment_id)
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    report = _apply_locked(session, gw, payment, attempt, result, source=source, actor=actor)
    logger.info(
        "%s attempt %s (%s) <- %s via %s: %s",
        provider,
        attempt.reference,
        payment.id,
        result.outcome,
        source,
        report.applied,
    )
    return report


def _apply_locked(
    session: Session,
    gw: Gateway,
    payment: Payment,
    attempt: Attempt,
    result: ProviderResult,
    *,
    source: str,
    actor: str | None,
) -> ApplyReport:
    ids = {"attempt_id": attempt.id, "payment_id": payment.id}
    if result.amount is not None and result.amount != attempt.amount:
        record_event(
            session,
            gw,
            payment,
            "attempt.amount_mismatch",
            source=source,
            attempt=attempt,
            actor=actor,
            detail={"expected": attempt.amount, "reported": result.amount,
                    "outcome": result.outcome.value, "code": result.result_code},
        )
        if result.outcome is Outcome.SUCCEEDED:
            payment.add_flag(Flag.AMOUNT_MISMATCH)
        return ApplyReport(Applied.AMOUNT_MISMATCH, **ids)

    target = OUTCOME_TO_STATUS.get(result.outcome)
    if target is None:
        # Still processing (or unknown): the raw callback, linked to the attempt, keeps the code.
        if result.provider_txn_id and not attempt.provider_txn_id:
            attempt.provider_txn_id = result.provider_txn_id
        return ApplyReport(Applied.UNCHANGED, **ids)

    current = AttemptStatus(attempt.status)
    if current == target or (current in ATTEMPT_FINAL and target is not AttemptStatus.SUCCEEDED):
        return ApplyReport(Applied.DUPLICATE, **ids)
    if current is AttemptStatus.SUCCEEDED:
        return ApplyReport(Applied.DUPLICATE, **ids)

    attempt_flag = check_attempt_move(current, target)
    now = gw.now()
    attempt.status = target.value
    attempt.result_code = result.result_code
    attempt.result_message = result.message[:500] if result.message else None
    attempt.provider_txn_id = result.provider_txn_id or attempt.provider_txn_id
    attempt.completed_at = now
    attempt.next_query_at = None
    if target is AttemptStatus.SUCCEEDED:
        attempt.paid_at = result.paid_at or now
    record_event(
        session,
        gw,
        payment,
        "attempt.status",
        source=source,
        attempt=attempt,
        from_status=current.value,
        to_status=target.value,
        actor=actor,
        detail={"code": result.result_code, "message": result.message,
                "provider_transaction_id": result.provider_txn_id},
    )
    if attempt_flag:
        payment.add_flag(attempt_flag)

    if target is AttemptStatus.SUCCEEDED:
        _payment_paid(session, gw, payment, attempt, source=source, actor=actor)
    else:
        _payment_maybe_failed(session, gw, payment, attempt, source=source, actor=actor)
    return ApplyReport(Applied.APPLIED, **ids)


def _payment_paid(
    session: Session, gw: Gateway, payment: Payment, attempt: Attempt, *, source: str,
    actor: str | None,
) -> None:
    current = PaymentStatus(payment.status)
    if current is PaymentStatus.SUCCEEDED:
        payment.add_flag(Flag.DOUBLE_PAYMENT)
        record_event(
            session, gw, payment, "payment.double_payment", source=source, attempt=attempt,
            actor=actor, detail={"first_provider": payment.paid_provider,
                                 "second_provider": attempt.provider, "amount": attempt.amount},
        )
        logger.warning("double payment on %s by attempt %s", payment.id, attempt.id)
        return
    flag = check_payment_move(current, PaymentStatus.SUCCEEDED)
    if flag:
        payment.add_flag(flag)
    payment.status = PaymentStatus.SUCCEEDED.value
    payment.paid_at = attempt.paid_at
    payment.paid_provider = attempt.provider
    payment.paid_channel = attempt.channel
    record_event(
        session, gw, payment, "payment.status", source=source, attempt=attempt,
        from_status=current.value, to_status=PaymentStatus.SUCCEEDED.value, actor=actor,
        detail={"flag": flag.value} if flag else {},
    )
    enqueue_notification(session, gw, payment, NOTIFY_TYPES[PaymentStatus.SUCCEEDED])


def _payment_maybe_failed(
    session: Session, gw: Gateway, payment: Payment, attempt: Attempt, *, source: str,
    actor: str | None,
) -> None:
    """While nothing is paid and no other attempt is pending, the payment is failed."""
    current = PaymentStatus(payment.status)
    if current not in (PaymentStatus.CREATED, PaymentStatus.PENDING):
        return
    # An attempt whose start never reached the citizen (no redirect) cannot be paid by
    # them now; it does not hold the payment in `pending` (the status sync still asks).
    others_pending = any(
        a.id != attempt.id
        and a.status == AttemptStatus.PENDING.value
        and (a.redirect_url or a.qr_payload)
        for a in payment.attempts
    )
    if others_pending:
        return
    check_payment_move(current, PaymentStatus.FAILED)
    payment.status = PaymentStatus.FAILED.value
    record_event(
        session, gw, payment, "payment.status", source=source, attempt=attempt,
        from_status=current.value, to_status=PaymentStatus.FAILED.value, actor=actor,
    )
    enqueue_notification(session, gw, payment, NOTIFY_TYPES[PaymentStatus.FAILED])


def move_payment(
    session: Session,
    gw: Gateway,
    payment: Payment,
    target: PaymentStatus,
    *,
    source: str,
    actor: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """A non-provider move (cancel, expire, a new attempt) on a locked payment."""
    current = PaymentStatus(payment.status)
    if current == target:
        return
    flag = check_payment_move(current, target)
    if flag:
        payment.add_flag(flag)
    payment.status = target.value
    record_event(
        session, gw, payment, "payment.status", source=source, from_status=current.value,
        to_status=target.value, actor=actor, detail=dict(detail or {}),
    )
    if target in NOTIFY_TYPES:
        enqueue_notification(session, gw, payment, NOTIFY_TYPES[target])


def close_attempt(
    session: Session,
    gw: Gateway,
    payment: Payment,
    attempt: Attempt,
    target: AttemptStatus,
    *,
    source: str,
    reason: str,
) -> None:
    """Close a pending attempt for a reason of ours (cancel, expiry), on a locked payment."""
    current = AttemptStatus(attempt.status)
    if current == target:
        return
    check_attempt_move(current, target)
    attempt.status = target.value
    attempt.completed_at = gw.now()
    attempt.next_query_at = None
    attempt.result_message = reason
    record_event(
        session, gw, payment, "attempt.status", source=source, attempt=attempt,
        from_status=current.value, to_status=target.value, detail={"reason": reason},
    )


# -- starting an attempt ------------------------------------------------------------------


def start_attempt(
    gw: Gateway,
    payment_id: str,
    provider: str,
    *,
    client_ip: str,
    locale: str = "vi",
    client_id: str | None = None,
    source: str = "api",
) -> str:
    """Open an attempt and send it to the provider; return the attempt id.

    Two transactions, none open during the provider call: the pending attempt is
    committed first, the provider is called, then its answer is recorded.
    """
    with gw.sessions.begin() as session:
        payment = lock_payment(session, payment_id)
        if client_id is not None and payment.client_id != client_id:
            raise NotFound(f"payment {payment_id} not found")
        _ensure_payable(gw, payment)
        # the agency's own account, else its nearest ancestor's, else the default one
        chosen = gw.adapters_for(session, payment.agency_code).get(provider)
        if chosen is None:
            raise ProviderNotAvailable(
                f"provider '{provider}' is not configured for agency {payment.agency_code}",
                [FieldError("provider", "no merchant account for this agency")])
        adapter, account_id = chosen
        _ensure_within_limits(provider, adapter, payment.amount)  # before any attempt exists
        reference = provider_reference()
        attempt = Attempt(
            id=public_id("att"),
            payment_id=payment.id,
            provider=provider,
            channel="online",
            reference=reference,
            request_id=provider_reference("RQ", 20),
            provider_reference=reference,
            status=AttemptStatus.PENDING.value,
            amount=payment.amount,
            client_ip=client_ip,
            locale=locale,
            merchant_account_id=account_id,
            created_at=gw.now(),
            next_query_at=gw.now() + timedelta(seconds=gw.settings.sync_delay_seconds),
        )
        session.add(attempt)
        session.flush()
        record_event(session, gw, payment, "attempt.started", source=source, attempt=attempt,
                     to_status=AttemptStatus.PENDING.value, detail={"provider": provider})
        if payment.status != PaymentStatus.PENDING.value:
            move_payment(session, gw, payment, PaymentStatus.PENDING, source=source)
        request = StartRequest(
            reference=attempt.reference,
            request_id=attempt.request_id,
            amount=payment.amount,
            description=_description(payment),
            return_url=gw.return_url(provider),
            notify_url=gw.notify_url(provider),
            client_ip=client_ip,
            now=gw.now(),
            expires_at=payment.expires_at,
            payment_id=payment.id,
            locale=locale,
            items=tuple((item.name, item.amount) for item in payment.fee_items),
        )
        attempt_id = attempt.id

    try:
        started = adapter.start(request)
    except ProviderUnavailable as exc:
        # The order may or may not exist at the provider: keep the attempt pending so
        # the status sync asks, and let the citizen try again. Never charge twice.
        with gw.sessions.begin() as session:
            unanswered = session.get(Attempt, attempt_id)
            assert unanswered is not None
            unanswered.result_message = f"provider unavailable at start: {exc}"[:500]
        raise ProviderDown(
            f"{provider} could not be reached; nothing was charged, please try again"
        ) from exc
    except ProviderRejected as exc:
        with gw.sessions.begin() as session:
            apply_result(
                session, gw, provider,
                ProviderResult(provider_reference=request.reference, outcome=Outcome.FAILED,
                               amount=None, result_code=exc.code, message=exc.message),
                source=source,
            )
        raise ProviderRefused(f"{provider} refused the payment: {exc.message}") from exc

    with gw.sessions.begin() as session:
        opened = session.get(Attempt, attempt_id)
        assert opened is not None
        opened.provider_reference = started.provider_reference
        opened.redirect_url = started.redirect_url
        opened.qr_payload = started.qr_payload
        opened.deeplink = started.deeplink
        opened.qr_code_url = started.qr_code_url
        opened.provider_txn_id = started.provider_txn_id
        opened.provider_data = dict(started.extra)
    logger.info("%s attempt %s started for %s", provider, request.reference, payment_id)
    return attempt_id


class AmountOutsideLimits(ValidationFailed):
    """422: the provider cannot take this amount; no attempt is made, the payment is unchanged."""

    code = "amount-outside-provider-limits"
    title = "The provider cannot take this amount"


def _ensure_within_limits(provider: str, adapter: Adapter, amount: int) -> None:
    if adapter.accepts(amount):
        return
    limits = limits_text(adapter)
    high = adapter.max_amount
    english = (f"{adapter.min_amount:,} to {high:,} đồng" if high is not None
               else f"at least {adapter.min_amount:,} đồng")
    message = (f"{provider} không nhận khoản thanh toán {format_vnd(amount)}: hạn mức mỗi giao "
               f"dịch là {limits}; hãy chọn nhà cung cấp khác ({provider} takes {english} per "
               f"payment; choose another provider)")
    raise AmountOutsideLimits(message, [FieldError("provider", message)])


def _ensure_payable(gw: Gateway, payment: Payment) -> None:
    status = PaymentStatus(payment.status)
    if status not in PAYABLE:
        raise InvalidState(f"the payment is {status.value}; no new attempt can be made")
    if _is_past(gw.now(), payment.expires_at):
        raise InvalidState("the payment has expired; ask the portal for a new one")


def _is_past(now: datetime, moment: datetime) -> bool:
    return now >= moment


def _description(payment: Payment) -> str:
    text = payment.description or f"Thanh toan ho so {payment.reference}"
    return text[:200]
