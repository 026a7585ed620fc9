"""`apply_result`, the one write path for money state, against a real database.

Payments and attempts are made through the API; then what a provider says is applied as
the webhook would apply it. Each transition writes one PaymentEvent, and where the portal
must hear of it one Outbox row whose `data.payment` is what GET answers at that moment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from adapters.base import Outcome, ProviderResult
from payments.services.attempts import Applied, ApplyReport, apply_result
from payments.services.gateway import Gateway
from payments.services.jobs import expire_due
from tests.factories import ApiClient, Clock, create_payment, make_api_client, start_attempt
from tests.flow import events, moves, outbox, outbox_types


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def say(
    gw: Gateway,
    attempt: dict[str, Any],
    outcome: Outcome,
    *,
    amount: int | None = None,
    code: str = "00",
) -> ApplyReport:
    """The provider says `outcome` about `attempt` (as a verified callback would)."""
    result = ProviderResult(
        provider_reference=attempt["provider_reference"],
        outcome=outcome,
        amount=attempt["amount"] if amount is None else amount,
        result_code=code,
        message=f"sandbox says {outcome}",
        provider_txn_id="SBX0000000042",
        paid_at=datetime(2026, 11, 26, 3, 1, tzinfo=UTC) if outcome is Outcome.SUCCEEDED else None,
    )
    with gw.sessions.begin() as session:
        return apply_result(session, gw, "sandbox", result, source="ipn")


def shown(http: FlaskClient, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/payments/{payment_id}", headers=client.headers)
    assert response.status_code == 200
    data: dict[str, Any] = response.get_json()
    return data


def attempt_status(http: FlaskClient, client: ApiClient, payment_id: str, attempt_id: str) -> str:
    found = [a for a in shown(http, client, payment_id)["attempts"] if a["id"] == attempt_id]
    return str(found[0]["status"])


def expire(gw: Gateway, clock: Clock) -> None:
    """Past expiry, the worker's expiry job asks the sandbox (nothing paid) and expires."""
    clock.advance(minutes=61)
    stats = expire_due(gw)
    assert stats.expired == 1


def the_notification_is_what_get_answers(
    gw: Gateway, http: FlaskClient, client: ApiClient, payment_id: str, type_: str
) -> None:
    notes = [n for n in outbox(gw, payment_id) if n.type == type_]
    assert len(notes) == 1
    payload = notes[0].payload
    assert payload["id"] == notes[0].id
    assert payload["type"] == type_
    assert payload["data"]["payment"] == shown(http, client, payment_id)


# -- success ----------------------------------------------------------------------------------


def test_a_success_pays_the_payment_with_one_event_each_and_one_notification(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])

    report = say(gw, attempt, Outcome.SUCCEEDED)

    assert report == ApplyReport(Applied.APPLIED, attempt["id"], payment["id"])
    assert moves(gw, payment["id"], "attempt.status") == [("pending", "succeeded")]
    assert moves(gw, payment["id"], "payment.status") == [
        ("created", "pending"),
        ("pending", "succeeded"),
    ]
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]
    the_notification_is_what_get_answers(gw, http, client, payment["id"], "payment.succeeded")
    seen = shown(http, client, payment["id"])
    assert (seen["status"], seen["paid_provider"], seen["paid_at"]) == (
        "succeeded",
        "sandbox",
        "2026-11-26T03:01:00Z",
    )
    assert seen["flags"] == []
    assert seen["attempts"][0]["provider_transaction_id"] == "SBX0000000042"


def test_the_same_success_said_again_returns_early_and_writes_nothing(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    say(gw, attempt, Outcome.SUCCEEDED)
    written = len(events(gw, payment["id"]))

    again = say(gw, attempt, Outcome.SUCCEEDED)

    assert again.applied is Applied.DUPLICATE
    assert len(events(gw, payment["id"])) == written
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


@pytest.mark.parametrize("late", [Outcome.FAILED, Outcome.CANCELLED])
def test_a_failure_after_a_success_is_a_duplicate_and_the_payment_stays_paid(
    gw: Gateway, http: FlaskClient, client: ApiClient, late: Outcome
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    say(gw, attempt, Outcome.SUCCEEDED)

    report = say(gw, attempt, late, code="51")

    assert report.applied is Applied.DUPLICATE
    assert shown(http, client, payment["id"])["status"] == "succeeded"
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_a_success_after_the_expiry_job_expired_the_payment_wins_and_is_flagged_late_success(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    expire(gw, clock)
    assert shown(http, client, payment["id"])["status"] == "expired"
    the_notification_is_what_get_answers(gw, http, client, payment["id"], "payment.expired")
    assert attempt_status(http, client, payment["id"], attempt["id"]) == "expired"

    report = say(gw, attempt, Outcome.SUCCEEDED)

    assert report.applied is Applied.APPLIED
    seen = shown(http, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert "late_success" in seen["flags"]
    assert attempt_status(http, client, payment["id"], attempt["id"]) == "succeeded"
    assert moves(gw, payment["id"], "payment.status")[-1] == ("expired", "succeeded")
    assert outbox_types(gw, payment["id"]) == ["payment.expired", "payment.succeeded"]
    the_notification_is_what_get_answers(gw, http, client, payment["id"], "payment.succeeded")


def test_a_success_after_the_portal_cancelled_wins_and_is_flagged_late_success(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    cancelled = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)
    assert cancelled.status_code == 200
    assert attempt_status(http, client, payment["id"], attempt["id"]) == "cancelled"

    report = say(gw, attempt, Outcome.SUCCEEDED)

    assert report.applied is Applied.APPLIED
    seen = shown(http, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert {"late_success", "success_after_failure"} <= set(seen["flags"])
    assert moves(gw, payment["id"], "attempt.status") == [
        ("pending", "cancelled"),
        ("cancelled", "succeeded"),
    ]
    assert outbox_types(gw, payment["id"]) == ["payment.cancelled", "payment.succeeded"]


def test_a_second_success_on_a_paid_payment_is_recorded_and_flagged_as_a_double_payment(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    first = start_attempt(http, client, payment["id"])
    second = start_attempt(http, client, payment["id"])
    say(gw, first, Outcome.SUCCEEDED)
    paid = shown(http, client, payment["id"])

    report = say(gw, second, Outcome.SUCCEEDED)

    assert report.applied is Applied.APPLIED
    seen = shown(http, client, payment["id"])
    assert [a["status"] for a in seen["attempts"]] == ["succeeded", "succeeded"]
    assert seen["status"] == "succeeded"
    assert "double_payment" in seen["flags"]
    assert (seen["paid_at"], seen["paid_provider"]) == (paid["paid_at"], paid["paid_provider"])
    (double,) = events(gw, payment["id"], "payment.double_payment")
    assert double.attempt_id == second["id"]
    assert moves(gw, payment["id"], "payment.status")[-1] == ("pending", "succeeded")
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]  # no second one


def test_a_late_success_on_an_attempt_already_failed_still_wins(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    say(gw, attempt, Outcome.FAILED, code="51")

    report = say(gw, attempt, Outcome.SUCCEEDED)

    assert report.applied is Applied.APPLIED
    seen = shown(http, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert "success_after_failure" in seen["flags"]
    assert outbox_types(gw, payment["id"]) == ["payment.failed", "payment.succeeded"]


# -- amount mismatch --------------------------------------------------------------------------


@pytest.mark.parametrize("reported", [149_000, 151_000, 1])
def test_an_amount_mismatch_never_marks_the_payment_paid(
    gw: Gateway, http: FlaskClient, client: ApiClient, reported: int
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])

    report = say(gw, attempt, Outcome.SUCCEEDED, amount=reported)

    assert report.applied is Applied.AMOUNT_MISMATCH
    seen = shown(http, client, payment["id"])
    assert seen["status"] == "pending"
    assert seen["paid_at"] is None
    assert seen["flags"] == ["amount_mismatch"]
    assert attempt_status(http, client, payment["id"], attempt["id"]) == "pending"
    (mismatch,) = events(gw, payment["id"], "attempt.amount_mismatch")
    assert (mismatch.detail["expected"], mismatch.detail["reported"]) == (150_000, reported)
    assert moves(gw, payment["id"], "attempt.status") == []
    assert outbox(gw, payment["id"]) == []


def test_a_provider_that_states_no_amount_is_not_a_mismatch(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    result = ProviderResult(
        provider_reference=attempt["provider_reference"],
        outcome=Outcome.SUCCEEDED,
        amount=None,
        result_code="00",
    )

    with gw.sessions.begin() as session:
        report = apply_result(session, gw, "sandbox", result, source="sync")

    assert report.applied is Applied.APPLIED
    assert shown(http, client, payment["id"])["status"] == "succeeded"


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "attempt_after"),
    [
        (Outcome.FAILED, "failed"),
        (Outcome.CANCELLED, "cancelled"),
    ],
)
def test_a_declined_or_cancelled_attempt_fails_the_payment_and_tells_the_portal(
    gw: Gateway, http: FlaskClient, client: ApiClient, outcome: Outcome, attempt_after: str
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])

    report = say(gw, attempt, outcome, code="24")

    assert report.applied is Applied.APPLIED
    assert attempt_status(http, client, payment["id"], attempt["id"]) == attempt_after
    assert moves(gw, payment["id"], "attempt.status") == [("pending", attempt_after)]
    assert moves(gw, payment["id"], "payment.status")[-1] == ("pending", "failed")
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]
    the_notification_is_what_get_answers(gw, http, client, payment["id"], "payment.failed")


def test_a_failed_attempt_leaves_the_payment_pending_while_another_attempt_is_pending(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    first = start_attempt(http, client, payment["id"])
    second = start_attempt(http, client, payment["id"])

    say(gw, first, Outcome.FAILED, code="51")

    assert shown(http, client, payment["id"])["status"] == "pending"
    assert outbox(gw, payment["id"]) == []

    say(gw, second, Outcome.CANCELLED, code="24")

    assert shown(http, client, payment["id"])["status"] == "failed"
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]
    the_notification_is_what_get_answers(gw, http, client, payment["id"], "payment.failed")


def test_a_failed_payment_is_pending_again_when_the_citizen_tries_again(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    say(gw, start_attempt(http, client, payment["id"]), Outcome.FAILED, code="51")

    retry = start_attempt(http, client, payment["id"])

    assert shown(http, client, payment["id"])["status"] == "pending"
    assert moves(gw, payment["id"], "payment.status")[-1] == ("failed", "pending")
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]  # the portal hears no "pending"

    say(gw, retry, Outcome.SUCCEEDED)

    assert shown(http, client, payment["id"])["status"] == "succeeded"
    assert outbox_types(gw, payment["id"]) == ["payment.failed", "payment.succeeded"]


def test_a_failure_said_twice_fails_the_payment_once(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    say(gw, attempt, Outcome.FAILED, code="51")

    again = say(gw, attempt, Outcome.CANCELLED, code="24")

    assert again.applied is Applied.DUPLICATE
    assert moves(gw, payment["id"], "attempt.status") == [("pending", "failed")]
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


# -- no news ----------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [Outcome.PENDING, Outcome.UNKNOWN])
def test_still_pending_or_unknown_at_the_provider_changes_nothing(
    gw: Gateway, http: FlaskClient, client: ApiClient, outcome: Outcome
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    written = len(events(gw, payment["id"]))

    report = say(gw, attempt, outcome, amount=None)

    assert report.applied is Applied.UNCHANGED
    assert len(events(gw, payment["id"])) == written
    assert shown(http, client, payment["id"])["status"] == "pending"


def test_a_result_for_an_order_feegate_never_made_is_reported_and_not_applied(
    gw: Gateway, app: Any
) -> None:
    result = ProviderResult(
        provider_reference="FGNOSUCHORDER",
        outcome=Outcome.SUCCEEDED,
        amount=150_000,
        result_code="00",
    )

    with gw.sessions.begin() as session:
        report = apply_result(session, gw, "sandbox", result, source="ipn")

    assert report == ApplyReport(Applied.UNKNOWN_ATTEMPT)


def test_a_result_is_matched_within_its_provider_only(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    result = ProviderResult(
        provider_reference=attempt["provider_reference"],
        outcome=Outcome.SUCCEEDED,
        amount=150_000,
        result_code="00",
    )

    with gw.sessions.begin() as session:
        report = apply_result(session, gw, "momo", result, source="ipn")

    assert report.applied is Applied.UNKNOWN_ATTEMPT
    assert shown(http, client, payment["id"])["status"] == "pending"


def test_every_event_names_its_source_and_attempt(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])

    say(gw, attempt, Outcome.SUCCEEDED)

    trail = [(e.kind, e.source, e.attempt_id) for e in events(gw, payment["id"])]
    assert trail == [
        ("payment.created", "api", None),
        ("attempt.started", "api", attempt["id"]),
        ("payment.status", "api", None),
        ("attempt.status", "ipn", attempt["id"]),
        ("payment.status", "ipn", attempt["id"]),
    ]
