"""Idempotency-Key on create: a retried request never makes a second payment."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.models import IdempotencyKey, Payment
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client, payment_body
from tests.flow import count, post_at_once

THREADS = 20


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def create(http: FlaskClient, client: ApiClient, key: str, **overrides: Any) -> Any:
    return http.post(
        "/api/v1/payments",
        json=payment_body(**overrides),
        headers={**client.headers, "Idempotency-Key": key},
    )


def test_the_same_key_and_body_answer_the_same_payment_with_the_same_status_and_body(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    first = create(http, client, "order-0001")
    again = create(http, client, "order-0001")

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert count(gw, Payment) == 1


def test_a_replay_answers_the_original_body_even_after_the_payment_moved_on(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    first = create(http, client, "order-0002").get_json()
    http.post(f"/api/v1/payments/{first['id']}/cancel", headers=client.headers)

    again = create(http, client, "order-0002")

    assert again.status_code == 201
    assert again.get_json() == first  # the original answer, as CONTRACT.md says


def test_the_same_key_with_another_body_is_409(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    create(http, client, "order-0003")

    other = create(http, client, "order-0003", amount=200_000)

    assert other.status_code == 409
    assert other.mimetype == "application/problem+json"
    assert other.get_json()["type"].endswith("/idempotency-conflict")
    assert count(gw, Payment) == 1


def test_the_key_ignores_the_order_of_the_bodys_fields(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    body = payment_body()
    reordered = dict(reversed(list(body.items())))
    headers = {**client.headers, "Idempotency-Key": "order-0004"}

    first = http.post("/api/v1/payments", json=body, headers=headers)
    again = http.post("/api/v1/payments", json=reordered, headers=headers)

    assert again.get_json() == first.get_json()
    assert count(gw, Payment) == 1


def test_a_refused_request_is_replayed_with_its_problem(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    first = create(http, client, "order-0005", amount=0)
    again = create(http, client, "order-0005", amount=0)

    assert first.status_code == again.status_code == 422
    assert again.get_json() == first.get_json()
    assert count(gw, Payment) == 0


def test_different_keys_make_different_payments(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    one = create(http, client, "order-0006").get_json()
    two = create(http, client, "order-0007").get_json()

    assert one["id"] != two["id"]
    assert count(gw, Payment) == 2


def test_keys_belong_to_one_client(gw: Gateway, http: FlaskClient, client: ApiClient) -> None:
    other = make_api_client(gw, name="another portal")

    mine = create(http, client, "shared-key").get_json()
    theirs = create(http, other, "shared-key").get_json()

    assert mine["id"] != theirs["id"]


def test_without_a_key_every_request_makes_a_payment(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    for _ in range(2):
        assert (
            http.post("/api/v1/payments", json=payment_body(), headers=client.headers).status_code
            == 201
        )

    assert count(gw, Payment) == 2


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_an_empty_or_overlong_key_is_a_422_problem(
    gw: Gateway, http: FlaskClient, client: ApiClient, key: str
) -> None:
    response = create(http, client, key)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert count(gw, Payment) == 0


def test_twenty_concurrent_creates_with_one_key_make_exactly_one_payment(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    headers = {**client.headers, "Idempotency-Key": "concurrent-0001"}

    answers, errors = post_at_once(f"{base_url}/api/v1/payments", THREADS, json=payment_body(),
                                   headers=headers)

    assert errors == []
    assert len(answers) == THREADS
    assert {status for status, _ in answers} <= {201, 409}
    created = [body for status, body in answers if status == 201]
    assert created, "at least the request that claimed the key answers 201"
    assert len({body["id"] for body in created}) == 1
    conflicts = [body for status, body in answers if status == 409]
    assert all(body["type"].endswith("/idempotency-in-flight") for body in conflicts)
    with gw.sessions() as session:
        (payment,) = session.query(Payment).all()
        (key,) = session.query(IdempotencyKey).all()
        assert (key.state, key.response_status, key.payment_id) == ("done", 201, payment.id)
    assert created[0]["id"] == payment.id


def test_a_request_refused_as_invalid_frees_its_key_for_the_corrected_request(
    http: FlaskClient, gw: Gateway
) -> None:
    client = make_api_client(gw)
    headers = {**client.headers, "Idempotency-Key": "dossier-0042"}
    refused = http.post("/api/v1/payments", json=payment_body(amount=0), headers=headers)
    assert refused.status_code == 422
    fixed = http.post("/api/v1/payments", json=payment_body(), headers=headers)
    assert fixed.status_code == 201
    replay = http.post("/api/v1/payments", json=payment_body(), headers=headers)
    assert replay.status_code == 201 and replay.get_json()["id"] == fixed.get_json()["id"]
