"""Satisfaction: one answer per paid payment (Rất hài lòng … Không hài lòng), optional comment.

Only after the payment succeeded (409 before), one per payment (409 for a second). Two
answers at once: the unique `ratings.payment_id` lets one insert through and the other
fails inside a savepoint, which becomes the 409 (no check-then-insert race).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payments.errors import Conflict, FieldError, ValidationFailed
from payments.models import Rating
from payments.models.rating import COMMENT_MAX, RATINGS
from payments.services.receipts import paid_payment

SATISFIED: Final = (3, 4)


class AlreadyRated(Conflict):
    code = "already-rated"
    title = "This payment was already rated"


def parse_rating(data: dict[str, Any]) -> tuple[int, str | None]:
    """`rating` 1–4 (a JSON integer, or its digit as a form sends it), `comment` optional
    text of at most COMMENT_MAX characters (trimmed; empty is none)."""
    errors: list[FieldError] = []
    raw = data.get("rating")
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip() in {"1", "2", "3", "4"}:
        value = int(raw.strip())
    if value not in RATINGS:
        errors.append(FieldError("rating", "must be 4, 3, 2 or 1"))
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        errors.append(FieldError("comment", "must be text"))
        comment = None
    if isinstance(comment, str):
        comment = comment.strip() or None
        if comment is not None and (len(comment) > COMMENT_MAX or "\x00" in comment):
            errors.append(FieldError("comment", f"at most {COMMENT_MAX} characters"))
    if errors or value is None:
        raise ValidationFailed("the rating is not valid", errors)
    return value, comment


def rating_of(session: Session, payment_id: str) -> Rating | None:
    return session.scalar(select(Rating).where(Rating.payment_id == payment_id))


def record_rating(session: Session, payment_id: str, rating: int, comment: str | None) -> Rating:
    """Store the answer; NotFound, InvalidState (not paid) or AlreadyRated. The caller commits."""
    payment = paid_payment(session, payment_id)
    if rating_of(session, payment.id) is not None:
        raise AlreadyRated("this payment was already rated; one answer per payment")
    row = Rating(payment_id=payment.id, rating=rating, comment=comment)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise AlreadyRated("this payment was already rated; one answer per payment") from exc
    return row
