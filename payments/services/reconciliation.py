"""Matching a provider's statement against what feegate recorded (DESIGN.md, flow 6).

A statement is evidence a person uploaded, not a signed message: matching never moves
money state. It lists what agrees and what differs, flags the payments concerned for
staff (the same `needs_review` the search filters on), writes an event on each such
payment's trail, and waits for a person to resolve every difference with a note.

Results, per statement line:
- `matched`: our attempt was paid, for the same amount;
- `amount_differs`: our attempt was paid, for another amount;
- `not_paid_here`: the provider says paid, our attempt is not (a lost callback the
  status sync has not caught yet, or a late success): money was taken, look at it;
- `unknown`: no attempt of ours carries this reference;
- `duplicate`: the reference appears again in the same statement;
- `refund_matched` / `refund_unknown`: a refund line, with or without a succeeded refund of
  that amount on the attempt;
- `unreadable`: the adapter could not read the row (the reason is kept);
and, per paid online attempt of ours inside the statement's period that no line names:
- `missing`: we recorded money the provider's statement does not show.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ, Adapter, StatementLine
from adapters.errors import MalformedMessage, NotSupported
from payments.errors import Conflict, FieldError, NotFound, ValidationFailed
from payments.ids import public_id
from payments.models import Attempt, Reconciliation, ReconciliationItem, Refund
from payments.services.events import record_event
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import AttemptStatus, Flag, RefundStatus

logger = logging.getLogger(__name__)

MATCHED = "matched"
REFUND_MATCHED = "refund_matched"
AGREEING = frozenset({MATCHED, REFUND_MATCHED})
RESULTS = (MATCHED, "amount_differs", "not_paid_here", "unknown", "duplicate",
           REFUND_MATCHED, "refund_unknown", "unreadable", "missing")
SOURCE = "reconcile"
CHUNK = 500


def differences(counts: Mapping[str, int]) -> int:
    """How many lines of a run disagree with our records (from its stored counts)."""
    return sum(n for result, n in counts.items() if result not in AGREEING)


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    def utc_bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time.min, tzinfo=VIETNAM_TZ)
        end = datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=VIETNAM_TZ)
        return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class _Parsed:
    line_no: int
    raw: dict[str, Any]
    line: StatementLine | None
    error: str = ""


def reconcile(
    gw: Gateway,
    provider: str,
    filename: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    uploaded_by: str,
    period: Period | None = None,
) -> str:
    """Match the rows of one statement file; return the reconciliation's id.

    `period` bounds the `missing` check; without it, the Vietnam dates of the lines'
    times are used, and a statement whose lines carry no time is not checked for missing
    payments (the reconciliation says so: no period).
    """
    adapter = gw.adapter(provider)
    if not reads_statements(adapter):
        raise ValidationFailed(
            f"{provider} statements cannot be read yet",
            [FieldError("provider", f"{provider} has no statement format in feegate")],
        )
    parsed = [_parse(adapter, n, row) for n, row in enumerate(rows, 2)]
    if not parsed:
        raise ValidationFailed("the statement has no lines",
                               [FieldError("file", "no line under the header row")])
    period = period or _period_of(parsed)
    with gw.sessions.begin() as session:
        run = Reconciliation(
            id=public_id("rec"), provider=provider, filename=filename[:255],
            period_from=period.first if period else None,
            period_to=period.last if period else None,
            uploaded_by=uploaded_by, line_count=len(parsed), counts={}, created_at=gw.now(),
        )
        session.add(run)
        session.flush()
        items = _match_lines(session, provider, run.id, parsed)
        if period is not None:
            named = {i.attempt_id for i in items if i.kind == "payment" and i.attempt_id}
            items += _missing(session, provider, run.id, period, named)
        session.add_all(items)
        counts = dict.fromkeys(RESULTS, 0)
        for item in items:
            counts[item.result] += 1
        run.counts = counts
        session.flush()
        _flag_differences(session, gw, run, items, uploaded_by)
        logger.info("reconciliation %s of %s (%s lines): %s", run.id, provider, len(parsed),
                    {k: v for k, v in counts.items() if v})
        return run.id


def resolve(gw: Gateway, item_id: int, note: str, *, by: str) -> ReconciliationItem:
    """Close a difference with a person's note; a note is never overwritten."""
    note = note.strip()
    if not note:
        raise ValidationFailed("a note is required", [FieldError("note", "say what was done")])
    with gw.sessions.begin() as session:
        item = session.get(ReconciliationItem, item_id, with_for_update=True)
        if item is None:
            raise NotFound(f"reconciliation line {item_id} not found")
        if item.result in AGREEING:
            raise Conflict("this line agrees with our records; there is nothing to resolve")
        if item.resolved_at is not None:
            raise Conflict(f"already resolved by {item.resolved_by}: {item.note}")
        item.note = note[:1000]
        item.resolved_by = by
        item.resolved_at = gw.now()
        if item.payment_id:
            payment = lock_payment(session, item.payment_id)
            record_event(session, gw, payment, "reconciliation.resolved", source=SOURCE,
                         actor=by, detail={"reconciliation_id": item.reconciliation_id,
                                           "item": item.id, "result": item.result,
                                           "note": item.note})
        session.flush()
        session.expunge(item)
        return item


# -- matching --------------------------------------------------------------------------------


def reads_statements(adapter: Adapter) -> bool:
    return type(adapter).parse_statement_line is not Adapter.parse_statement_line


def statement_providers(gw: Gateway) -> list[str]:
    """The configured providers whose statements feegate can read."""
    return [name for name, adapter in gw.adapters.items() if reads_statements(adapter)]


def _parse(adapter: Adapter, line_no: int, row: Mapping[str, Any]) -> _Parsed:
    raw = {str(k): _jsonable(v) for k, v in row.items()}
    try:
        return _Parsed(line_no, raw, adapter.parse_statement_line(row))
    except (MalformedMessage, NotSupported, TypeError, ValueError, KeyError) as exc:
        return _Parsed(line_no, raw, None, str(exc)[:500] or type(exc).__name__)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _period_of(parsed: Sequence[_Parsed]) -> Period | None:
    days = [p.line.occurred_at.astimezone(VIETNAM_TZ).date()
            for p in parsed if p.line is not None and p.line.occurred_at is not None]
    return Period(min(days), max(days)) if days else None


def _attempts_by_reference(session: Session, provider: str,
                           references: set[str]) -> dict[str, Attempt]:
    found: dict[str, Attempt] = {}
    ordered = sorted(references)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        for attempt in session.scalars(select(Attempt).where(
                Attempt.provider == provider,
                or_(Attempt.provider_reference.in_(chunk), Attempt.reference.in_(chunk)))):
            found[attempt.provider_reference] = attempt
            found.setdefault(attempt.reference, attempt)
    return found


def _match_lines(session: Session, provider: str, run_id: str,
                 parsed: Sequence[_Parsed]) -> list[ReconciliationItem]:
    references = {p.line.provider_reference for p in parsed if p.line is not None}
    attempts = _attempts_by_reference(session, provider, references)
    seen: set[str] = set()
    used_refunds: set[str] = set()
    items = []
    for entry in parsed:
        line = entry.line
        item = ReconciliationItem(reconciliation_id=run_id, line_no=entry.line_no,
                                  raw=entry.raw, kind="payment", message="")
        if line is None:
            item.result, item.message = "unreadable", entry.error
            items.append(item)
            continue
        item.kind = line.kind
        item.provider_reference = line.provider_reference[:128]
        item.provider_txn_id = (line.provider_txn_id or "")[:64] or None
        item.statement_amount = line.amount
        item.occurred_at = line.occurred_at
        attempt = attempts.get(line.provider_reference)
        if attempt is not None:
            item.attempt_id, item.payment_id = attempt.id, attempt.payment_id
            item.our_amount = attempt.amount
        if line.kind == "refund":
            _match_refund(session, item, attempt, line, used_refunds)
        elif attempt is None:
            item.result, item.message = "unknown", "no payment of ours has this reference"
        elif line.provider_reference in seen:
            item.result, item.message = "duplicate", "the statement lists this reference again"
        elif attempt.status != AttemptStatus.SUCCEEDED.value:
            item.result = "not_paid_here"
            item.message = f"the provider says paid; our attempt is {attempt.status}"
        elif attempt.amount != line.amount:
            item.result = "amount_differs"
            item.message = f"statement {line.amount} đồng, ours {attempt.amount} đồng"
        else:
            item.result = MATCHED
        if line.kind == "payment":
            seen.add(line.provider_reference)
        items.append(item)
    return items


def _match_refund(session: Session, item: ReconciliationItem, attempt: Attempt | None,
                  line: StatementLine, used: set[str]) -> None:
    refund = None
    if attempt is not None:
        refund = session.scalar(select(Refund).where(
            Refund.attempt_id == attempt.id, Refund.amount == line.amount,
            Refund.status == RefundStatus.SUCCEEDED.value,
            Refund.id.not_in(used or {""})).order_by(Refund.created_at).limit(1))
    if refund is None:
        item.our_amount = None  # no refund of ours to compare; the payment's amount would mislead
        item.result = "refund_unknown"
        item.message = "no succeeded refund of this amount on this payment"
        return
    used.add(refund.id)
    item.our_amount = refund.amount
    item.result = REFUND_MATCHED


def _missing(session: Session, provider: str, run_id: str, period: Period,
             named: set[str]) -> list[ReconciliationItem]:
    start, end = period.utc_bounds()
    paid = session.scalars(select(Attempt).where(
        Attempt.provider == provider, Attempt.status == AttemptStatus.SUCCEEDED.value,
        Attempt.paid_at >= start, Attempt.paid_at < end).order_by(Attempt.paid_at))
    return [
        ReconciliationItem(
            reconciliation_id=run_id, line_no=None, kind="payment", result="missing",
            provider_reference=attempt.provider_reference, provider_txn_id=attempt.provider_txn_id,
            our_amount=attempt.amount, occurred_at=attempt.paid_at, attempt_id=attempt.id,
            payment_id=attempt.payment_id, raw={},
            message="paid in our records, absent from the statement",
        )
        for attempt in paid if attempt.id not in named
    ]


def _flag_differences(session: Session, gw: Gateway, run: Reconciliation,
                      items: Sequence[ReconciliationItem], actor: str) -> None:
    """Each payment a difference names is flagged for staff and told on its trail, once."""
    by_payment: dict[str, list[ReconciliationItem]] = {}
    for item in items:
        if item.result not in AGREEING and item.payment_id:
            by_payment.setdefault(item.payment_id, []).append(item)
    for payment_id in sorted(by_payment):
        payment = lock_payment(session, payment_id)
        payment.add_flag(Flag.STATEMENT_DIFFERENCE)
        record_event(session, gw, payment, "reconciliation.difference", source=SOURCE,
                     actor=actor, detail={
                         "reconciliation_id": run.id, "provider": run.provider,
                         "results": [i.result for i in by_payment[payment_id]],
                         "items": [i.id for i in by_payment[payment_id]]})
