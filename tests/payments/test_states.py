"""The transition tables, move by move: every allowed move and every refused one.

The expected tables are written out here by hand from DESIGN.md, not read from
payments.states, so a change to the code's table fails a test until it is meant.
"""

from __future__ import annotations

import itertools

import pytest

from payments.states import (
    ATTEMPT_FINAL,
    NOTIFY_TYPES,
    PAYABLE,
    PAYMENT_FINAL,
    AttemptStatus,
    Flag,
    PaymentStatus,
    RefundStatus,
    TransitionRefused,
    check_attempt_move,
    check_payment_move,
)

P = PaymentStatus
A = AttemptStatus

PAYMENT_MOVES: dict[tuple[PaymentStatus, PaymentStatus], Flag | None] = {
    # the ordinary life of a payment
    (P.CREATED, P.PENDING): None,  # an attempt was started
    (P.CREATED, P.SUCCEEDED): None,  # created already paid at the counter
    (P.CREATED, P.CANCELLED): None,
    (P.CREATED, P.EXPIRED): None,
    (P.PENDING, P.SUCCEEDED): None,
    (P.PENDING, P.FAILED): None,  # declined or cancelled at the provider, nothing else pending
    (P.PENDING, P.CANCELLED): None,
    (P.PENDING, P.EXPIRED): None,
    (P.FAILED, P.PENDING): None,  # the citizen tries again
    (P.FAILED, P.SUCCEEDED): None,  # an attempt still open at the provider was paid
    (P.FAILED, P.CANCELLED): None,
    (P.FAILED, P.EXPIRED): None,
    # a success always wins, flagged for staff
    (P.EXPIRED, P.SUCCEEDED): Flag.LATE_SUCCESS,
    (P.CANCELLED, P.SUCCEEDED): Flag.LATE_SUCCESS,
}

ATTEMPT_MOVES: dict[tuple[AttemptStatus, AttemptStatus], Flag | None] = {
    (A.PENDING, A.SUCCEEDED): None,
    (A.PENDING, A.FAILED): None,
    (A.PENDING, A.CANCELLED): None,
    (A.PENDING, A.EXPIRED): None,
    (A.FAILED, A.SUCCEEDED): Flag.SUCCESS_AFTER_FAILURE,
    (A.CANCELLED, A.SUCCEEDED): Flag.SUCCESS_AFTER_FAILURE,
    (A.EXPIRED, A.SUCCEEDED): Flag.LATE_SUCCESS,
}

REFUSED_PAYMENT_MOVES = [
    pair for pair in itertools.product(PaymentStatus, repeat=2) if pair not in PAYMENT_MOVES
]
REFUSED_ATTEMPT_MOVES = [
    pair for pair in itertools.product(AttemptStatus, repeat=2) if pair not in ATTEMPT_MOVES
]


def name(pair: tuple[object, object]) -> str:
    return f"{pair[0]}->{pair[1]}"


@pytest.mark.parametrize("move", list(PAYMENT_MOVES), ids=name)
def test_an_allowed_payment_move_passes_with_its_flag(
    move: tuple[PaymentStatus, PaymentStatus],
) -> None:
    assert check_payment_move(*move) == PAYMENT_MOVES[move]


@pytest.mark.parametrize("move", REFUSED_PAYMENT_MOVES, ids=name)
def test_a_payment_move_not_in_the_table_is_refused(
    move: tuple[PaymentStatus, PaymentStatus],
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_payment_move(*move)
    assert (refused.value.kind, refused.value.current, refused.value.target) == ("payment", *move)
    assert f"from {move[0]} to {move[1]}" in str(refused.value)


@pytest.mark.parametrize("move", list(ATTEMPT_MOVES), ids=name)
def test_an_allowed_attempt_move_passes_with_its_flag(
    move: tuple[AttemptStatus, AttemptStatus],
) -> None:
    assert check_attempt_move(*move) == ATTEMPT_MOVES[move]


@pytest.mark.parametrize("move", REFUSED_ATTEMPT_MOVES, ids=name)
def test_an_attempt_move_not_in_the_table_is_refused(
    move: tuple[AttemptStatus, AttemptStatus],
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_attempt_move(*move)
    assert refused.value.kind == "attempt"


def test_every_pair_of_statuses_is_either_allowed_or_refused() -> None:
    assert len(PAYMENT_MOVES) + len(REFUSED_PAYMENT_MOVES) == len(PaymentStatus) ** 2
    assert len(ATTEMPT_MOVES) + len(REFUSED_ATTEMPT_MOVES) == len(AttemptStatus) ** 2


@pytest.mark.parametrize("status", [s for s in PaymentStatus if s is not P.SUCCEEDED])
def test_a_success_wins_from_every_payment_status(status: PaymentStatus) -> None:
    check_payment_move(status, P.SUCCEEDED)  # never refused: money taken is never rejected


@pytest.mark.parametrize("status", [s for s in AttemptStatus if s is not A.SUCCEEDED])
def test_a_success_wins_from_every_attempt_status(status: AttemptStatus) -> None:
    check_attempt_move(status, A.SUCCEEDED)


def test_a_paid_payment_never_moves_again() -> None:
    for target in PaymentStatus:
        with pytest.raises(TransitionRefused):
            check_payment_move(P.SUCCEEDED, target)


@pytest.mark.parametrize("final", sorted(PAYMENT_FINAL))
def test_a_final_payment_leaves_only_for_a_flagged_success(final: PaymentStatus) -> None:
    exits = {target: flag for (current, target), flag in PAYMENT_MOVES.items() if current == final}
    assert set(exits) <= {P.SUCCEEDED}
    assert all(flag is Flag.LATE_SUCCESS for flag in exits.values())


def test_statuses_are_spelled_as_the_contract_says() -> None:
    assert [s.value for s in PaymentStatus] == [
        "created",
        "pending",
        "succeeded",
        "failed",
        "cancelled",
        "expired",
    ]
    assert [s.value for s in AttemptStatus] == [
        "pending",
        "succeeded",
        "failed",
        "cancelled",
        "expired",
    ]
    assert [s.value for s in RefundStatus] == ["pending", "succeeded", "failed"]


def test_the_portal_hears_of_exactly_the_contracts_payment_events() -> None:
    assert NOTIFY_TYPES == {
        P.SUCCEEDED: "payment.succeeded",
        P.FAILED: "payment.failed",
        P.EXPIRED: "payment.expired",
        P.CANCELLED: "payment.cancelled",
    }


def test_a_citizen_may_pay_only_while_nothing_is_settled() -> None:
    assert PAYABLE == {P.CREATED, P.PENDING, P.FAILED}
    assert PAYMENT_FINAL == {P.SUCCEEDED, P.CANCELLED, P.EXPIRED}
    assert ATTEMPT_FINAL == set(AttemptStatus) - {A.PENDING}
