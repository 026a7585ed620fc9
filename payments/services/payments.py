"""Creating, reading, listing and cancelling payments for a portal client."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ
from payments import urls
from payments.errors import FieldError, Forbidden, InvalidState, NotFound, ValidationFailed
from payments.ids import public_id
from payments.models import Agency, Attempt, Client, FeeItem, Payment, PaymentFeeItem, Procedure
from payments.records import record_procedure
from payments.schemas import PaymentCreate
from payments.services.attempts import close_attempt, move_payment
from payments.services.events import record_event
from payments.services.gateway import Gateway
from payments.services.locking import lock_payment
from payments.states import AttemptStatus, PaymentStatus


def resolve_agency(session: Session, client: Client, data: PaymentCreate) -> str:
    allowed = client.agency_codes
    if data.agency_code:
        if data.agency_code not in allowed:
            raise Forbidden(f"this client may not act for agency {data.agency_code}")
        return data.agency_code
    candidates = (
        set(
            session.scalars(
                select(Agency.code).join(Procedure).where(Procedure.code == data.procedure_code)
            )
        )
        & allowed
    )
    if len(candidates) == 1:
        return candidates.pop()
    if len(allowed) == 1:
        return next(iter(allowed))
    raise ValidationFailed(
        "agency_code is required",
        [FieldError("agency_code", "required: this client acts for several agencies")],
    )


def check_return_url(client: Client, url: str) -> None:
    """Parsed as a browser parses it (payments.urls): it must land on a registered host."""
    try:
        urls.check_return_url(url, list(client.return_hosts))
    except urls.HostNotRegistered as exc:
        raise ValidationFailed(
            "return_url host is not registered for this client",
            [FieldError("return_url", exc.reason)],
        ) from None
    except urls.UnsafeURL as exc:
        raise ValidationFailed(
            "return_url must be a plain absolute http(s) URL",
            [FieldError("return_url", exc.reason)],
        ) from None


def fees_in_force(procedure: Procedure, on: date) -> list[FeeItem]:
    return [
        item
        for item in procedure.fee_items
        if (item.effective_from is None or item.effective_from <= on)
        and (item.effective_to is None or on <= item.effective_to)
    ]


def find_or_record_procedure(
    session: Session, agency_code: str, code: str, *, now: datetime | None = None
) -> Procedure:
    """A procedure not in the catalog yet is recorded as uncatalogued: never block a portal.

    Insert-or-get (payments.records): concurrent first uses all succeed, one row is kept.
    """
    return record_procedure(session, agency_code, code, now=now)


def create_payment(
    session: Session, gw: Gateway, client: Client, data: PaymentCreate, *, source: str = "api"
) -> Payment:
    agency_code = resolve_agency(session, client, data)
    check_return_url(client, data.return_url)
    procedure = find_or_record_procedure(session, agency_code, data.procedure_code, now=gw.now())
    exempt = data.amount == 0
    if (procedure.catalogued and not procedure.online_payment_enabled and data.counter is None
            and not exempt):
        raise ValidationFailed(
            "online payment is disabled for this procedure",
            [FieldError("procedure_code", "online payment is not enabled for this procedure")],
        )
    now = gw.now()
    items = _fee_lines(procedure, data, now.astimezone(VIETNAM_TZ).date())
    ttl = client.payment_ttl_minutes or gw.settings.payment_ttl_minutes
    payment = Payment(
        id=public_id("pay"),
        client_id=client.id,
        agency_code=agency_code,
        procedure_code=data.procedure_code,
        procedure_id=procedure.id,
        reference=data.reference,
        amount=data.amount,
        currency="VND",
        description=data.description,
        return_url=data.return_url,
        payer=data.payer.model_dump(exclude_none=True) if data.payer else {},
        meta=dict(data.metadata),
        dossier_received_at=data.dossier_received_at,
        status=PaymentStatus.CREATED.value,
        expires_at=now + timedelta(minutes=ttl),
        created_at=now,
        updated_at=now,
    )
    for position, (name, kind, amount) in enumerate(items):
        payment.fee_items.append(
            PaymentFeeItem(position=position, name=name, kind=kind, amount=amount)
        )
    session.add(payment)
    session.flush()
    record_event(
        session,
        gw,
        payment,
        "payment.created",
        source=source,
        actor=client.id,
        to_status=PaymentStatus.CREATED.value,
        detail={"amount": data.amount},
    )
    if exempt and data.counter is None:
        settle_exempt(session, gw, payment, actor=client.id, source=source)
    return payment


def settle_exempt(
    session: Session, gw: Gateway, payment: Payment, *, actor: str, source: str
) -> None:
    """A dossier whose every fee line is 0 owes nothing: it is settled when recorded.

    The portal hears `payment.succeeded` like for any settled dossier, no attempt exists
    (nothing was paid to anyone), and the reports leave it out of both sides of the share
    (Decision 766 counts fee-bearing dossiers only).
    """
    payment.paid_at = payment.created_at
    move_payment(session, gw, payment, PaymentStatus.SUCCEEDED, source=source, actor=actor,
                 detail={"exempt": True})


def _fee_lines(
    procedure: Procedure, data: PaymentCreate, today: date
) -> list[tuple[str, str, int]]:
    lines = _requested_lines(procedure, data, today)
    if data.amount == 0 and not lines:
        raise ValidationFailed(
            "amount must be above 0",
            [FieldError("amount", "must be above 0; an exempt dossier is sent with amount 0 "
                                  "and its fee_items, each of amount 0")],
        )
    return lines


def _requested_lines(
    procedure: Procedure, data: PaymentCreate, today: date
) -> list[tuple[str, str, int]]:
    if data.fee_items is not None:
        if sum(item.amount for item in data.fee_items) != data.amount:
            raise ValidationFailed(
                "fee_items do not add up to amount",
                [
                    FieldError(
                        "fee_items",
                        f"the items add up to "
                        f"{sum(i.amount for i in data.fee_items)}, not {data.amount}",
                    )
                ],
            )
        return [(i.name, i.kind, i.amount) for i in data.fee_items]
    catalog = fees_in_force(procedure, today) if procedure.catalogued else []
    if catalog:
        expected = sum(item.amount for item in catalog)
        if expected != data.amount:
            raise ValidationFailed(
                "amount differs from the procedure's fees in force",
                [
                    FieldError(
                        "amount",
                        f"the catalog fees for {procedure.code} add up to "
                        f"{expected} đồng today; send fee_items when the fee depends on "
                        "the dossier",
                    )
                ],
            )
        return [(i.name, i.kind, i.amount) for i in catalog]
    if data.amount == 0:
        return []
    name = data.description or "Phí, lệ phí"
    return [(name[:255], "fee", data.amount)]


def get_payment(session: Session, client: Client, payment_id: str) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.client_id != client.id:
        raise NotFound(f"payment {payment_id} not found")
    return payment


@dataclass(frozen=True)
class PaymentFilter:
    reference: str | None = None
    status: str | None = None
    provider: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def vietnam_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=VIETNAM_TZ).astimezone(UTC)


def list_payments(
    session: Session, client: Client, filters: PaymentFilter, *, limit: int, cursor: str | None
) -> tuple[list[Payment], str | None]:
    stmt = select(Payment).where(Payment.client_id == client.id)
    if filters.reference:
        stmt = stmt.where(Payment.reference == filters.reference)
    if filters.status:
        stmt = stmt.where(Payment.status == filters.status)
    if filters.provider:
        stmt = stmt.where(
            select(Attempt.id)
            .where(Attempt.payment_id == Payment.id, Attempt.provider == filters.provider)
            .exists()
        )
    if filters.date_from:
        stmt = stmt.where(Payment.created_at >= vietnam_day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(
            Payment.created_at < vietnam_day_start(filters.date_to + timedelta(days=1))
        )
    if cursor:
        created, last_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                Payment.created_at < created,
                and_(Payment.created_at == created, Payment.id < last_id),
            )
        )
    stmt = stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1])
    return rows, next_cursor


def encode_cursor(payment: Payment) -> str:
    raw = f"{payment.created_at.isoformat()}|{payment.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, payment_id = raw.split("|", 1)
        moment = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "cursor is not valid", [FieldError("cursor", "not a cursor this API issued")]
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment, payment_id


def cancel_payment(
    session: Session, gw: Gateway, client: Client, payment_id: str, reason: str | None = None
) -> Payment:
    get_payment(session, client, payment_id)
    payment = lock_payment(session, payment_id)
    status = PaymentStatus(payment.status)
    if status is PaymentStatus.CANCELLED:
        return payment
    if status not in (PaymentStatus.CREATED, PaymentStatus.PENDING, PaymentStatus.FAILED):
        raise InvalidState(f"the payment is {status.value}; it cannot be cancelled")
    if any(a.status == AttemptStatus.SUCCEEDED.value for a in payment.attempts):
        raise InvalidState("something was already paid for this payment")
    for attempt in payment.attempts:
        if attempt.status == AttemptStatus.PENDING.value:
            close_attempt(
                session,
                gw,
                payment,
                attempt,
                AttemptStatus.CANCELLED,
                source="api",
                reason="payment cancelled by the portal",
            )
    move_payment(
        session,
        gw,
        payment,
        PaymentStatus.CANCELLED,
        source="api",
        actor=client.id,
        detail={"reason": reason} if reason else None,
    )
    return payment
