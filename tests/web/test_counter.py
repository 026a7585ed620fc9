"""Counter payments: POST /api/v1/payments/{id}/counter and create-with-counter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.models import Attempt, Payment, PaymentEvent
from payments.services.gateway import Gateway
from tests.factories import ApiClient, Clock, create_payment, make_api_client, make_procedure

# the clock of the tests: 2026-11-26 03:00 UTC = 10:00 in Vietnam
PAID_AT = "2026-11-26T09:30:00+07:00"


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


def counter(http: FlaskClient, client: ApiClient, payment_id: str, **body: Any) -> Any:
    payload = {"method": "cash", "receipt_no": "BL-0001", "paid_at": PAID_AT, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    return http.post(f"/api/v1/payments/{payment_id}/counter", json=payload,
                     headers=client.headers)


def snapshot(gw: Gateway, payment_id: str) -> tuple[Any, ...]:
    with gw.sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        attempts = session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.payment_id == payment_id))
        events = session.scalar(
            select(func.count()).select_from(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id))
        return (payment.status, payment.paid_at, payment.paid_channel, payment.flags,
                attempts, events)


def test_counter_payment_is_recorded(http: FlaskClient, gw: Gateway, client: ApiClient) -> None:
    payment = create_payment(http, client)
    response = counter(http, client, payment["id"], method="pos", receipt_no="0001234",
                       officer="Nguyễn Thị Thu")
    assert response.status_code == 201, response.get_json()
    attempt = response.get_json()
    assert attempt["provider"] == "counter" and attempt["channel"] == "counter"
    assert attempt["status"] == "succeeded" and attempt["amount"] == 150_000
    assert attempt["paid_at"] == "2026-11-26T02:30:00Z"
    shown = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert shown["status"] == "succeeded" and shown["paid_provider"] == "counter"
    assert shown["paid_at"] == "2026-11-26T02:30:00Z"
    with gw.sessions() as session:
        row = session.get(Attempt, attempt["id"])
        assert row is not None
        assert (row.counter_method, row.receipt_no, row.officer) == ("pos", "0001234",
                                                                     "Nguyễn Thị Thu")
        assert session.get(Payment, payment["id"]).paid_channel == "counter"  # type: ignore[union-attr]


def test_paid_at_defaults_to_now(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)
    response = counter(http, client, payment["id"], paid_at=None)
    assert response.status_code == 201
    assert response.get_json()["paid_at"] == "2026-11-26T03:00:00Z"


def test_counter_on_a_paid_payment_is_refused(http: FlaskClient, gw: Gateway,
                                              client: ApiClient) -> None:
    payment = create_payment(http, client)
    assert counter(http, client, payment["id"]).status_code == 201
    before = snapshot(gw, payment["id"])
    again = counter(http, client, payment["id"], receipt_no="BL-0002")
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    problem = again.get_json()
    assert problem["status"] == 409 and "already paid" in problem["detail"]
    assert snapshot(gw, payment["id"]) == before


def test_counter_after_an_online_payment_is_refused(http: FlaskClient, gw: Gateway,
                                                    clock: Clock, client: ApiClient) -> None:
    from tests.payments.reporting import pay_again_online, vn

    payment = create_payment(http, client)
    pay_again_online(gw, clock, payment["id"], "vnpay", vn(2026, 11, 26, 9, 0))
    clock.current = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    before = snapshot(gw, payment["id"])
    response = counter(http, client, payment["id"])
    assert response.status_code == 409
    assert "vnpay" in response.get_json()["detail"]
    assert snapshot(gw, payment["id"]) == before


def test_counter_on_a_cancelled_payment_is_refused(http: FlaskClient, gw: Gateway,
                                                   client: ApiClient) -> None:
    payment = create_payment(http, client)
    assert http.post(f"/api/v1/payments/{payment['id']}/cancel",
                     headers=client.headers).status_code == 200
    before = snapshot(gw, payment["id"])
    response = counter(http, client, payment["id"])
    assert response.status_code == 409
    assert snapshot(gw, payment["id"]) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "cheque"}, "method"),
        ({"receipt_no": None}, "receipt_no"),
        ({"receipt_no": "   "}, "receipt_no"),
        ({"paid_at": "2026-11-26T09:30:00"}, "paid_at"),  # no offset
        ({"paid_at": "2026-11-26T11:00:00+07:00"}, "paid_at"),  # an hour in the future
        ({"paid_at": "yesterday"}, "paid_at"),
        ({"amount": 150_000}, "amount"),  # the counter takes the payment's amount
    ],
)
def test_bad_counter_input_is_422_and_changes_nothing(
    http: FlaskClient, gw: Gateway, client: ApiClient, body: dict[str, Any], field: str
) -> None:
    payment = create_payment(http, client)
    before = snapshot(gw, payment["id"])
    response = counter(http, client, payment["id"], **body)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    assert snapshot(gw, payment["id"]) == before
    assert before[0] == "created"


def test_a_few_minutes_of_clock_skew_are_tolerated(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)
    response = counter(http, client, payment["id"], paid_at="2026-11-26T10:03:00+07:00")
    assert response.status_code == 201


def test_receipt_number_is_recorded_once_per_agency(http: FlaskClient, gw: Gateway) -> None:
    both = make_api_client(gw, agencies=("000.00.01.H32", "000.00.02.H32"))
    first = create_payment(http, both, reference="R-1")
    second = create_payment(http, both, reference="R-2")
    elsewhere = create_payment(http, both, reference="R-3", agency_code="000.00.02.H32")
    assert counter(http, both, first["id"], receipt_no="0000777").status_code == 201
    before = snapshot(gw, second["id"])
    duplicate = counter(http, both, second["id"], receipt_no="0000777")
    assert duplicate.status_code == 409
    assert duplicate.get_json()["errors"] == [
        {"field": "receipt_no", "message": "already recorded for another payment"}]
    assert first["id"] in duplicate.get_json()["detail"]
    assert snapshot(gw, second["id"]) == before
    # another agency (another issuer of receipts) may use the same number
    assert counter(http, both, elsewhere["id"], receipt_no="0000777").status_code == 201


def test_unknown_or_foreign_payment_is_404(http: FlaskClient, gw: Gateway,
                                           client: ApiClient) -> None:
    assert counter(http, client, "pay_unknown").status_code == 404
    other = make_api_client(gw, name="Another portal")
    payment = create_payment(http, other)
    assert counter(http, client, payment["id"]).status_code == 404
    assert counter(http, other, payment["id"]).status_code == 201


def test_without_a_key_is_401(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)
    response = http.post(f"/api/v1/payments/{payment['id']}/counter",
                         json={"method": "cash", "receipt_no": "1"})
    assert response.status_code == 401


# -- create already paid at the counter ---------------------------------------------------


def test_create_with_counter(http: FlaskClient, client: ApiClient) -> None:
    response = http.post("/api/v1/payments", headers=client.headers, json={
        **_body(), "counter": {"method": "transfer", "receipt_no": "CK-01", "paid_at": PAID_AT},
    })
    assert response.status_code == 201, response.get_json()
    payment = response.get_json()
    assert payment["status"] == "succeeded" and payment["paid_provider"] == "counter"
    assert [(a["channel"], a["status"]) for a in payment["attempts"]] == [("counter", "succeeded")]


def test_create_with_counter_for_a_procedure_without_online_payment(http: FlaskClient,
                                                                    gw: Gateway,
                                                                    client: ApiClient) -> None:
    make_procedure(gw, code="1.000894", fees=(("Lệ phí", "charge", 1_500_000),), online=False)
    online = http.post("/api/v1/payments", headers=client.headers,
                       json=_body(procedure_code="1.000894", amount=1_500_000))
    assert online.status_code == 422
    at_counter = http.post("/api/v1/payments", headers=client.headers, json={
        **_body(procedure_code="1.000894", amount=1_500_000),
        "counter": {"method": "cash", "receipt_no": "TM-01", "paid_at": PAID_AT},
    })
    assert at_counter.status_code == 201, at_counter.get_json()
    assert at_counter.get_json()["status"] == "succeeded"


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "cash", "receipt_no": "X", "paid_at": "2026-11-26T09:30:00"},
        {"method": "cash", "receipt_no": "X", "paid_at": "2027-01-01T00:00:00+07:00"},
        {"method": "card", "receipt_no": "X"},
        {"method": "cash"},
    ],
)
def test_create_with_bad_counter_creates_nothing(http: FlaskClient, gw: Gateway,
                                                 client: ApiClient, bad: dict[str, Any]) -> None:
    response = http.post("/api/v1/payments", headers=client.headers,
                         json={**_body(), "counter": bad})
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert any(e["field"].startswith("counter") or e["field"] == "paid_at"
               for e in response.get_json()["errors"])
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(Attempt)) == 0


def test_create_with_a_used_receipt_is_409_and_creates_nothing(http: FlaskClient, gw: Gateway,
                                                               client: ApiClient) -> None:
    first = http.post("/api/v1/payments", headers=client.headers, json={
        **_body(reference="R-1"), "counter": {"method": "cash", "receipt_no": "BL-9"}})
    assert first.status_code == 201
    second = http.post("/api/v1/payments", headers=client.headers, json={
        **_body(reference="R-2"), "counter": {"method": "cash", "receipt_no": "BL-9"}})
    assert second.status_code == 409
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1


def _body(**overrides: Any) -> dict[str, Any]:
    from tests.factories import payment_body

    return payment_body(**overrides)


def test_one_receipt_number_at_two_counters_at_once(http: FlaskClient, gw: Gateway,
                                                    base_url: str, client: ApiClient) -> None:
    """Eight counters record receipt 42 for eight payments of one agency at the same time:
    exactly one is recorded (advisory lock on PostgreSQL; SQLite serialises writers)."""
    import threading

    import requests

    payments = [create_payment(http, client, reference=f"R-{i}")["id"] for i in range(8)]
    barrier = threading.Barrier(len(payments))
    statuses: list[int] = []

    def record(payment_id: str) -> None:
        barrier.wait()
        response = requests.post(f"{base_url}/api/v1/payments/{payment_id}/counter",
                                 json={"method": "cash", "receipt_no": "42"},
                                 headers=client.headers, timeout=60)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=record, args=(p,)) for p in payments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)
                              .where(Attempt.receipt_no == "42")) == 1
