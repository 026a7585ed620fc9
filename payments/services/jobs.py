"""Background jobs on money state: status sync with providers, and expiry.

Both follow the same three steps, so no transaction is ever open during a provider call:

1. claim (one short transaction): select the due rows (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL; `BEGIN IMMEDIATE` serialises this on SQLite), push each attempt's
   `next_query_at` a lease into the future and count the query, commit;
2. ask the providers, outside any transaction;
3. apply (one transaction per payment): every answer goes through `apply_result`, the
   one write path, with source `sync`; attempts left undecided get their next query time.

Status sync: an online attempt still `pending` at `next_query_at` (set when it starts, to
created_at + FEEGATE_SYNC_DELAY_SECONDS) is queried. A final answer is applied; an unknown
or "processing" answer, a provider that is down, or an unusable answer keeps the attempt
pending and schedules another query, `sync_delay × 2^n` after the n-th query (10, 20, 40
min … with the default delay), at most FEEGATE_SYNC_MAX_INTERVAL_SECONDS apart, and never
later than the payment's expiry (expiry needs an answer given after it). A provider being
down never fails an attempt. Attempts of a payment already past its expiry are left to the
expiry job, which asks about them itself.

Expiry: a payment `created`, `pending` or `failed` past `expires_at` becomes `expired`
once every pending attempt is confirmed unpaid (the provider says failed, cancelled or
does not know the order). A provider that reports success makes the payment paid instead.
A provider that is down, or still "processing" (until expires_at +
FEEGATE_PENDING_GRACE_MINUTES), leaves the payment as it is until the next query: money
that may have been taken is never expired. A success that arrives after expiry is still
applied by `apply_result`, and flagged `late_success`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.orm import Session

from adapters.base import Outcome, ProviderResult, QueryRequest
from adapters.errors import AdapterError
from payments.db import Base, lock_for_update
from payments.models import Attempt, Payment, Refund
from payments.services.attempts import Applied, apply_result, close_attempt, move_payment
from payments.services.callbacks import query_request
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.services.refunds import sync_refund
from payments.states import AttemptStatus, PaymentStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE = "sync"
"""The source recorded on every change these jobs make (PaymentEvent.source)."""

EXPIRABLE = (PaymentStatus.CREATED.value, PaymentStatus.PENDING.value, PaymentStatus.FAILED.value)
UNPAID = (Outcome.UNKNOWN, Outcome.FAILED, Outcome.CANCELLED)


@dataclass(frozen=True)
class ClaimedQuery:
    attempt_id: str
    payment_id: str
    provider: str
    query_count: int
    request: QueryRequest
    merchant_account_id: int | None = None  # the account the attempt used (None: default)


@dataclass(frozen=True)
class Answer:
    """What one query gave: a result, or why there is none."""

    claim: ClaimedQuery
    result: ProviderResult | None
    error: str | None = None


@dataclass
class JobStats:
    queried: int = 0
    applied: int = 0  # an attempt moved (paid, failed, cancelled)
    undecided: int = 0  # pending / unknown answer: queried again later
    unavailable: int = 0  # provider down or answer unusable: queried again later
    expired: int = 0  # payments expired
    released: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


def next_query_delay(gw: Gateway, query_count: int) -> timedelta:
    """The wait before the next query after `query_count` queries: doubling, capped."""
    settings = gw.settings
    exponent = min(max(query_count, 1), 20)
    seconds = min(settings.sync_delay_seconds * (2**exponent), settings.sync_max_interval_seconds)
    return timedelta(seconds=max(seconds, 1))


def _with_lock(stmt: Select[T], session: Session, of: type[Base]) -> Select[T]:
    if lock_for_update(session):
        return stmt.with_for_update(skip_locked=True, of=of)
    return stmt


def _lease(gw: Gateway, session: Session, attempt: Attempt, payment: Payment, now: datetime,
           lease: timedelta) -> ClaimedQuery:
    attempt.query_count = (attempt.query_count or 0) + 1
    attempt.next_query_at = now + lease
    return ClaimedQuery(attempt_id=attempt.id, payment_id=payment.id, provider=attempt.provider,
                        query_count=attempt.query_count,
                        request=query_request(gw, attempt, payment),
                        merchant_account_id=attempt.merchant_account_id)


def ask(gw: Gateway, claim: ClaimedQuery) -> Answer:
    """Query the provider about one attempt. Call with no transaction open."""
    adapter = gw.account_adapter(claim.provider, claim.merchant_account_id)
    if adapter is None:
        return Answer(claim, None, f"provider {claim.provider} is not configured")
    try:
        return Answer(claim, adapter.query(claim.request))
    except AdapterError as exc:  # ProviderUnavailable, a bad signature, a malformed answer
        logger.warning("%s query for attempt %s failed: %s", claim.provider, claim.attempt_id, exc)
        return Answer(claim, None, f"{type(exc).__name__}: {exc}")


def _reschedule(session: Session, gw: Gateway, claim: ClaimedQuery, note: str | None) -> None:
    attempt = session.get(Attempt, claim.attempt_id)
    if attempt is None or attempt.status != AttemptStatus.PENDING.value:
        return
    if attempt.query_count != claim.query_count:
        return  # queried again by someone else since: their schedule wins
    now = gw.now()
    due = now + next_query_delay(gw, claim.query_count)
    expires_at = attempt.payment.expires_at
    if now < expires_at < due:
        due = expires_at  # always ask again right at expiry: expiry needs a fresh answer
    attempt.next_query_at = due
    if note:
        attempt.result_message = note[:500]


def release(gw: Gateway, claims: Sequence[ClaimedQuery]) -> None:
    """Give back claimed attempts that were not queried (the worker is stopping)."""
    if not claims:
        return
    now = gw.now()
    with gw.sessions.begin() as session:
        for claim in claims:
            session.execute(
                update(Attempt)
                .where(Attempt.id == claim.attempt_id, Attempt.query_count == claim.query_count,
                       Attempt.status == AttemptStatus.PENDING.value)
                .values(query_count=Attempt.query_count - 1, next_query_at=now, updated_at=now)
            )


def _budget(gw: Gateway) -> float:
    """Seconds of a lease in which a new provider call may still be started."""
    return max(gw.settings.worker_lease_seconds * 0.5, 10.0)


# -- status sync -------------------------------------------------------------------------


def claim_sync(gw: Gateway, *, limit: int) -> list[ClaimedQuery]:
    now = gw.now()
    lease = timedelta(seconds=gw.settings.worker_lease_seconds)
    with gw.sessions.begin() as session:
        past_expiry = and_(Payment.status.in_(EXPIRABLE), Payment.expires_at <= now)
        stmt = (
            select(Attempt)
            .join(Payment, Payment.id == Attempt.payment_id)
            .where(Attempt.status == AttemptStatus.PENDING.value, Attempt.channel == "online",
                   Attempt.next_query_at.is_not(None), Attempt.next_query_at <= now,
                   ~past_expiry)  # those are the expiry job's: it asks them itself
            .order_by(Attempt.next_query_at, Attempt.id)
            .limit(limit)
        )
        attempts = list(session.scalars(_with_lock(stmt, session, Attempt)))
        claims = []
        for attempt in attempts:
            claims.append(_lease(gw, session, attempt, attempt.payment, now, lease))
    return claims


def apply_sync(gw: Gateway, answer: Answer, stats: JobStats) -> None:
    claim = answer.claim
    with gw.sessions.begin() as session:
        if answer.result is None:
            stats.unavailable += 1
            stats.count("unavailable")
            _reschedule(session, gw, claim, f"status query failed: {answer.error}")
            return
        report = apply_result(session, gw, claim.provider, answer.result, source=SOURCE)
        stats.count(f"{answer.result.outcome.value}:{report.applied.value}")
        if report.applied is Applied.APPLIED:
            stats.applied += 1
        elif report.applied is not Applied.DUPLICATE:
            stats.undecided += 1
            _reschedule(session, gw, claim, None)


def sync_due(gw: Gateway, *, stop: threading.Event | None = None) -> JobStats:
    """Query every due pending attempt once (batch after batch until none is due)."""
    stats = JobStats()
    while not (stop and stop.is_set()):
        claims = claim_sync(gw, limit=gw.settings.worker_batch_size)
        if not claims:
            break
        started = time.monotonic()
        for index, claim in enumerate(claims):
            if (stop and stop.is_set()) or time.monotonic() - started > _budget(gw):
                release(gw, claims[index:])
                stats.released += len(claims) - index
                break
            stats.queried += 1
            apply_sync(gw, ask(gw, claim), stats)
    return stats


# -- expiry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryClaim:
    payment_id: str
    queries: tuple[ClaimedQuery, ...]


def claim_expiry(gw: Gateway, *, limit: int) -> tuple[list[ExpiryClaim], int]:
    """Claim payments past expiry; expire at once those with no pending attempt.

    Returns the claims that need provider queries, and how many payments were expired
    directly. A payment whose pending attempt is not due for a query yet (recently asked,
    provider down) is left alone until it is.
    """
    now = gw.now()
    lease = timedelta(seconds=gw.settings.worker_lease_seconds)
    waiting = exists().where(and_(
        Attempt.payment_id == Payment.id,
        Attempt.status == AttemptStatus.PENDING.value,
        Attempt.next_query_at.is_not(None),
        Attempt.next_query_at > now,
    ))
    claims: list[ExpiryClaim] = []
    expired = 0
    with gw.sessions.begin() as session:
        stmt = (
            select(Payment)
            .where(Payment.status.in_(EXPIRABLE), Payment.expires_at <= now, ~waiting)
            .order_by(Payment.expires_at, Payment.id)
            .limit(limit)
        )
        payments = list(session.scalars(_with_lock(stmt, session, Payment)))
        for payment in payments:
            pending = _lock_pending_attempts(session, payment.id, now)
            if pending is None:
                continue  # a sync is asking about one of its attempts right now
            if not pending:
                _expire(session, gw, payment, [])
                expired += 1
                continue
            queries = tuple(_lease(gw, session, a, payment, now, lease) for a in pending)
            claims.append(ExpiryClaim(payment.id, queries))
    return claims, expired


def _lock_pending_attempts(session: Session, payment_id: str,
                           now: datetime) -> list[Attempt] | None:
    """The payment's pending attempts, locked and re-read; None when one is taken or not due."""
    pending = (Attempt.payment_id == payment_id) & (Attempt.status == AttemptStatus.PENDING.value)
    stmt = select(Attempt).where(pending).execution_options(populate_existing=True)
    locked = list(session.scalars(_with_lock(stmt, session, Attempt)))
    total = session.scalar(select(func.count()).select_from(Attempt).where(pending)) or 0
    if len(locked) != total:
        return None  # skipped: locked by a concurrent claim
    if any(a.next_query_at is not None and a.next_query_at > now for a in locked):
        return None  # claimed by a sync that committed first
    return locked


def _expire(session: Session, gw: Gateway, payment: Payment, attempts: Sequence[Attempt]) -> None:
    for attempt in attempts:
        close_attempt(session, gw, payment, attempt, AttemptStatus.EXPIRED, source=SOURCE,
                      reason="payment expired; the provider confirmed nothing was paid")
    move_payment(session, gw, payment, PaymentStatus.EXPIRED, source=SOURCE,
                 detail={"expires_at": payment.expires_at.isoformat()})
    logger.info("payment %s expired", payment.id)


def apply_expiry(gw: Gateway, claim: ExpiryClaim, answers: Sequence[Answer],
                 stats: JobStats) -> None:
    """Apply the answers about one payment's attempts; expire it when all are unpaid."""
    now = gw.now()
    with gw.sessions.begin() as session:
        payment = lock_payment(session, claim.payment_id)
        grace = timedelta(minutes=gw.settings.pending_grace_minutes)
        grace_over = now >= payment.expires_at + grace
        confirmed_unpaid: set[str] = set()
        undecided: list[Answer] = []
        for answer in answers:
            result = answer.result
            if result is None:
                stats.unavailable += 1
                stats.count("unavailable")
                undecided.append(answer)
                continue
            stats.count(f"expiry:{result.outcome.value}")
            if result.outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELLED):
                report = apply_result(session, gw, answer.claim.provider, result, source=SOURCE)
                declined = result.outcome is not Outcome.SUCCEEDED
                if report.applied is Applied.APPLIED:
                    stats.applied += 1
                elif report.applied is Applied.AMOUNT_MISMATCH and declined:
                    pass  # a decline moves no money, whatever amount it names
                elif report.applied is not Applied.DUPLICATE:
                    undecided.append(answer)  # e.g. a success of another amount: flagged
                    continue
                if declined:
                    confirmed_unpaid.add(answer.claim.attempt_id)
            elif result.outcome is Outcome.UNKNOWN or grace_over:
                confirmed_unpaid.add(answer.claim.attempt_id)
            else:  # still processing at the provider
                undecided.append(answer)
        for answer in undecided:
            stats.undecided += 1
            _reschedule(session, gw, answer.claim,
                        f"not expired yet: {answer.error}" if answer.error else None)
        if undecided or payment.status not in EXPIRABLE:
            return
        pending = [a for a in payment.attempts if a.status == AttemptStatus.PENDING.value]
        if any(a.id not in confirmed_unpaid for a in pending):
            return  # an attempt nobody asked about: wait for its own query
        _expire(session, gw, payment, pending)
        stats.expired += 1


def expire_due(gw: Gateway, *, stop: threading.Event | None = None) -> JobStats:
    """Expire every payment past its expiry whose providers confirm nothing was paid."""
    stats = JobStats()
    while not (stop and stop.is_set()):
        claims, expired = claim_expiry(gw, limit=gw.settings.worker_batch_size)
        stats.expired += expired
        if not claims:
            if not expired:
                break
            continue
        started = time.monotonic()
        for index, claim in enumerate(claims):
            if (stop and stop.is_set()) or time.monotonic() - started > _budget(gw):
                rest = [q for c in claims[index:] for q in c.queries]
                release(gw, rest)
                stats.released += len(rest)
                break
            answers = [ask(gw, query) for query in claim.queries]
            stats.queried += len(answers)
            apply_expiry(gw, claim, answers, stats)
    return stats


def sync_refunds(gw: Gateway, *, stop: threading.Event | None = None) -> JobStats:
    """Settle refunds still pending at their provider (asynchronous ones, lost answers).

    A refund is asked about once per sync delay: claiming it moves `next_query_at`, so
    other workers (SKIP LOCKED on PostgreSQL) and the next pass leave it alone meanwhile.
    """
    stats = JobStats()
    now = gw.now()
    due = (
        select(Refund)
        .where(Refund.status == "pending", Refund.next_query_at <= now)
        .order_by(Refund.next_query_at)
        .limit(gw.settings.worker_batch_size)
    )
    with gw.sessions.begin() as session:
        claimed = list(session.scalars(_with_lock(due, session, Refund)))
        for refund in claimed:
            refund.next_query_at = now + timedelta(seconds=gw.settings.sync_delay_seconds)
        ids = [refund.id for refund in claimed]
    for refund_id in ids:
        if stop and stop.is_set():
            break
        status = sync_refund(gw, refund_id)
        stats.queried += 1
        stats.count(f"refund:{status}")
        if status != "pending":
            stats.applied += 1
    return stats


def reconcile_statements(gw: Gateway, *, stop: threading.Event | None = None) -> int:
    """Provider statements queued by the staff page (or left by a worker that died).

    Matching never moves money state (payments/services/reconciliation.py): it reads the
    stored file, matches it in SQL by chunks and flags what differs. One run per pass, so
    the other jobs are not kept waiting by a long statement. Returns the runs finished.
    """
    from payments.services import reconciliation  # noqa: PLC0415 - only the worker needs it

    return reconciliation.run_queued(gw, stop=stop, limit=1)
