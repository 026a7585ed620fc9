"""Statuses (values exactly as CONTRACT.md) and the transition tables. Pure: no I/O.

Money a provider took is never refused: a success may land on a payment that is already
expired or cancelled (the move is allowed, and flagged); a second success on a paid
payment is not a transition at all but a double payment, recorded and flagged.
"""

from __future__ import annotations

import enum


class PaymentStatus(enum.StrEnum):
    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class AttemptStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Flag(enum.StrEnum):
    """Reasons a payment needs a person to look at it."""

    LATE_SUCCESS = "late_success"  # paid after it expired or was cancelled
    DOUBLE_PAYMENT = "double_payment"  # a second attempt succeeded: refund one
    AMOUNT_MISMATCH = "amount_mismatch"  # a provider reported another amount
    SUCCESS_AFTER_FAILURE = "success_after_failure"  # an attempt we had failed was paid
    STATEMENT_DIFFERENCE = "statement_difference"  # a provider statement disagrees with us


P = PaymentStatus
A = AttemptStatus

PAYMENT_TRANSITIONS: dict[tuple[PaymentStatus, PaymentStatus], Flag | None] = {
    (P.CREATED, P.PENDING): None,
    (P.CREATED, P.SUCCEEDED): None,  # recorded already paid at the counter
    (P.CREATED, P.CANCELLED): None,
    (P.CREATED, P.EXPIRED): None,
    (P.PENDING, P.SUCCEEDED): None,
    (P.PENDING, P.FAILED): None,
    (P.PENDING, P.CANCELLED): None,
    (P.PENDING, P.EXPIRED): None,
    (P.FAILED, P.PENDING): None,  # the citizen tries again
    (P.FAILED, P.SUCCEEDED): None,  # a late success on an attempt that was still open
    (P.FAILED, P.CANCELLED): None,
    (P.FAILED, P.EXPIRED): None,
    (P.EXPIRED, P.SUCCEEDED): Flag.LATE_SUCCESS,
    (P.CANCELLED, P.SUCCEEDED): Flag.LATE_SUCCESS,
}
"""Every allowed move of a payment, with the flag it raises (None: an ordinary move)."""

ATTEMPT_TRANSITIONS: dict[tuple[AttemptStatus, AttemptStatus], Flag | None] = {
    (A.PENDING, A.SUCCEEDED): None,
    (A.PENDING, A.FAILED): None,
    (A.PENDING, A.CANCELLED): None,
    (A.PENDING, A.EXPIRED): None,
    (A.FAILED, A.SUCCEEDED): Flag.SUCCESS_AFTER_FAILURE,
    (A.CANCELLED, A.SUCCEEDED): Flag.SUCCESS_AFTER_FAILURE,
    (A.EXPIRED, A.SUCCEEDED): Flag.LATE_SUCCESS,
}

PAYMENT_FINAL: frozenset[PaymentStatus] = frozenset({P.SUCCEEDED, P.CANCELLED, P.EXPIRED})
"""No ordinary move leaves these (only a late success, flagged)."""

PAYABLE: frozenset[PaymentStatus] = frozenset({P.CREATED, P.PENDING, P.FAILED})
"""A citizen may start an attempt, and a portal may cancel, only in these."""

ATTEMPT_FINAL: frozenset[AttemptStatus] = frozenset({A.SUCCEEDED, A.FAILED, A.CANCELLED, A.EXPIRED})

NOTIFY_TYPES: dict[PaymentStatus, str] = {
    P.SUCCEEDED: "payment.succeeded",
    P.FAILED: "payment.failed",
    P.EXPIRED: "payment.expired",
    P.CANCELLED: "payment.cancelled",
}
"""Which payment states the portal hears of, with the CONTRACT.md event type."""


class TransitionRefused(Exception):
    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot move from {current} to {target}")
        self.kind = kind
        self.current = current
        self.target = target


def check_payment_move(current: PaymentStatus, target: PaymentStatus) -> Flag | None:
    """Return the flag the move raises, or raise TransitionRefused."""
    try:
        return PAYMENT_TRANSITIONS[(current, target)]
    except KeyError:
        raise TransitionRefused("payment", current, target) from None


def check_attempt_move(current: AttemptStatus, target: AttemptStatus) -> Flag | None:
    try:
        return ATTEMPT_TRANSITIONS[(current, target)]
    except KeyError:
        raise TransitionRefused("attempt", current, target) from None
