"""Idempotency-Key after a crash: an in-flight claim holds a lease, then a retry takes over.

A crashed request is simulated as it happens in production: its claim is written through
the same service function the API calls (`idempotency.claim`), and, for a refund, the
pending refund is opened through the refund service with the claim attached, and then
nothing more happens. The test clock is moved past the lease; nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from adapters.sandbox import SandboxAdapter
from payments.config import ConfigError, load_settings
from payments.errors import IdempotencyInFlight
from payments.models import IdempotencyKey, Payment, Refund, SandboxTransaction
from payments.schemas import RefundCreate
from payments.services import idempotency
from payments.services.gateway import Gateway
from payments.services.refunds import create_refund
from tests.conftest import free_port
from tests.factories import ApiClient, Clock, create_payment, make_api_client, payment_body
from tests.flow import count, pay_through_sandbox, post_at_once

ROOT = Path(__file__).resolve().parents[2]
THREADS = 12
PAID_AT = "2026-11-26T09:30:00+07:00"


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def lease(gw: Gateway) -> int:
    return gw.settings.idempotency_lease_seconds


def post(http: FlaskClient, client: ApiClient, key: str, body: dict[str, Any]) -> Any:
    return http.post("/api/v1/payments", json=body,
                     headers={**client.headers, "Idempotency-Key": key})


def crashed_create(gw: Gateway, client: ApiClient, key: str, body: dict[str, Any]) -> None:
    """What a worker SIGKILLed right after claiming the key leaves behind."""
    held = idempotency.claim(gw, client.id, key, idempotency.request_hash(body))
    assert held.token is not None and held.answer is None


def key_row(gw: Gateway, client: ApiClient, key: str) -> IdempotencyKey:
    with gw.sessions() as session:
        row = session.query(IdempotencyKey).filter_by(client_id=client.id, key=key).one()
        session.expunge(row)
        return row


def in_flight(response: Any) -> None:
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/idempotency-in-flight")


# -- creates ---------------------------------------------------------------------------------


def test_a_key_left_in_flight_by_a_crash_is_409_while_leased_then_a_retry_creates_once(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    body = payment_body()
    crashed_create(gw, client, "crash-0001", body)

    in_flight(post(http, client, "crash-0001", body))
    clock.advance(seconds=lease(gw) - 1)
    in_flight(post(http, client, "crash-0001", body))  # the holder may still be working
    assert count(gw, Payment) == 0

    clock.advance(seconds=2)  # the lease has run out: the crashed request is gone
    taken = post(http, client, "crash-0001", body)

    assert taken.status_code == 201, taken.get_json()
    assert count(gw, Payment) == 1
    row = key_row(gw, client, "crash-0001")
    assert (row.state, row.response_status, row.payment_id) == ("done", 201, taken.get_json()["id"])
    assert row.note and "lease taken over" in row.note
    again = post(http, client, "crash-0001", body)
    assert (again.status_code, again.get_json()) == (201, taken.get_json())
    assert again.mimetype == "application/json"
    assert count(gw, Payment) == 1


def test_after_a_takeover_the_same_key_with_another_body_is_still_409(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    body = payment_body()
    crashed_create(gw, client, "crash-0002", body)
    clock.advance(seconds=lease(gw) + 1)

    other = post(http, client, "crash-0002", payment_body(amount=200_000))
    assert other.status_code == 409
    assert other.get_json()["type"].endswith("/idempotency-conflict")
    assert count(gw, Payment) == 0  # another body never takes the claim over

    assert post(http, client, "crash-0002", body).status_code == 201
    other = post(http, client, "crash-0002", payment_body(amount=200_000))
    assert other.status_code == 409
    assert other.mimetype == "application/problem+json"
    assert other.get_json()["type"].endswith("/idempotency-conflict")
    assert count(gw, Payment) == 1


def test_concurrent_retries_after_the_lease_ran_out_take_over_once(
    gw: Gateway, base_url: str, client: ApiClient, clock: Clock
) -> None:
    body = payment_body()
    crashed_create(gw, client, "crash-0003", body)
    clock.advance(seconds=lease(gw) + 1)
    headers = {**client.headers, "Idempotency-Key": "crash-0003"}

    answers, errors = post_at_once(f"{base_url}/api/v1/payments", THREADS, json=body,
                                   headers=headers)

    assert errors == []
    assert {status for status, _ in answers} <= {201, 409}
    created = {answer["id"] for status, answer in answers if status == 201}
    assert len(created) == 1
    assert all(answer["type"].endswith("/idempotency-in-flight")
               for status, answer in answers if status == 409)
    assert count(gw, Payment) == 1


def test_a_holder_that_lost_its_lease_cannot_store_its_answer_nor_commit_its_payment(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    body = payment_body()
    stale = idempotency.claim(gw, client.id, "slow-0001", idempotency.request_hash(body))
    clock.advance(seconds=lease(gw) + 1)
    taken = post(http, client, "slow-0001", body)  # a retry took over and answered
    assert taken.status_code == 201

    assert idempotency.complete(gw, stale, 201, {"id": "pay_stale"}) is False
    with gw.sessions() as session, pytest.raises(IdempotencyInFlight):
        idempotency.complete(gw, stale, 201, {"id": "pay_stale"}, session=session)
    idempotency.settle(gw, stale, 503, {"status": 503})
    idempotency.release(gw, stale)

    replay = post(http, client, "slow-0001", body)
    assert (replay.status_code, replay.get_json()) == (201, taken.get_json())
    assert count(gw, Payment) == 1


def test_a_claim_from_before_the_lease_existed_is_leased_from_its_creation(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    """Keys left in flight by the old code (no lock_token, no locked_until) recover too."""
    body = payment_body()
    with gw.sessions.begin() as session:
        session.add(IdempotencyKey(client_id=client.id, key="old-0001", state="in_flight",
                                   request_hash=idempotency.request_hash(body),
                                   created_at=gw.now()))

    in_flight(post(http, client, "old-0001", body))
    clock.advance(seconds=lease(gw) + 1)

    assert post(http, client, "old-0001", body).status_code == 201
    assert count(gw, Payment) == 1


# -- replays keep their media type ---------------------------------------------------------


def test_a_replayed_409_is_a_problem_json_like_the_original(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    counter = {"method": "cash", "receipt_no": "BL-0409", "paid_at": PAID_AT}
    first = http.post("/api/v1/payments", headers=client.headers,
                      json=payment_body(reference="H32-0409-A", counter=counter))
    assert first.status_code == 201, first.get_json()
    body = payment_body(reference="H32-0409-B", counter=counter)  # the same receipt number

    refused = post(http, client, "receipt-0409", body)
    replay = post(http, client, "receipt-0409", body)

    assert refused.status_code == replay.status_code == 409
    assert refused.mimetype == replay.mimetype == "application/problem+json"
    assert replay.get_json() == refused.get_json()
    assert key_row(gw, client, "receipt-0409").response_content_type == "application/problem+json"


def test_a_stored_answer_from_before_0007_replays_with_the_type_its_status_implies(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    body = payment_body()
    problem = {"type": "https://feegate.dev/problems/conflict", "title": "Conflict",
               "status": 409, "detail": "receipt already recorded"}
    with gw.sessions.begin() as session:
        session.add(IdempotencyKey(client_id=client.id, key="old-0409", state="done",
                                   request_hash=idempotency.request_hash(body),
                                   response_status=409, response_body=problem,
                                   created_at=gw.now()))

    replay = post(http, client, "old-0409", body)

    assert (replay.status_code, replay.mimetype) == (409, "application/problem+json")
    assert replay.get_json() == problem


# -- refunds ---------------------------------------------------------------------------------


@pytest.fixture
def paid(http: FlaskClient, client: ApiClient, base_url: str) -> dict[str, Any]:
    payment = create_payment(http, client)
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    assert 'data-status="succeeded"' in walk.result.text
    return payment


def refund_url(payment: dict[str, Any]) -> str:
    return f"/api/v1/payments/{payment['id']}/refunds"


def refund(http: FlaskClient, client: ApiClient, payment: dict[str, Any], key: str,
           body: dict[str, Any]) -> Any:
    return http.post(refund_url(payment), json=body,
                     headers={**client.headers, "Idempotency-Key": key})


def refund_claim(gw: Gateway, client: ApiClient, payment: dict[str, Any], key: str,
                 body: dict[str, Any]) -> idempotency.Claim:
    fingerprint = idempotency.request_hash({"path": refund_url(payment), "body": body})
    return idempotency.claim(gw, client.id, key, fingerprint)


def refunds_of(gw: Gateway, payment: dict[str, Any]) -> list[tuple[str, int, str]]:
    with gw.sessions() as session:
        rows = session.query(Refund).filter_by(payment_id=payment["id"]).all()
        return [(r.id, r.amount, r.status) for r in rows]


def refunded_at_the_provider(gw: Gateway, payment: dict[str, Any]) -> int:
    with gw.sessions() as session:
        rows = session.query(SandboxTransaction).all()
        return sum(row.refunded_amount for row in rows)


def test_a_refund_whose_request_crashed_after_the_provider_paid_is_answered_not_repeated(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Clock
) -> None:
    body = {"amount": 50_000, "reason": "Nộp thừa"}
    held = refund_claim(gw, client, paid, "refund-crash-1", body)
    refund_id = create_refund(gw, client.id, paid["id"], RefundCreate(**body), actor=client.id,
                              on_open=held.on_refund_opened)  # then the worker was killed
    assert refunded_at_the_provider(gw, paid) == 50_000
    assert key_row(gw, client, "refund-crash-1").refund_id == refund_id

    in_flight(refund(http, client, paid, "refund-crash-1", body))
    clock.advance(seconds=lease(gw) + 1)
    taken = refund(http, client, paid, "refund-crash-1", body)

    assert taken.status_code == 201, taken.get_json()
    assert (taken.get_json()["id"], taken.get_json()["status"]) == (refund_id, "succeeded")
    assert refunds_of(gw, paid) == [(refund_id, 50_000, "succeeded")]
    assert refunded_at_the_provider(gw, paid) == 50_000  # the provider was not asked again
    again = refund(http, client, paid, "refund-crash-1", body)
    assert (again.status_code, again.get_json()) == (201, taken.get_json())
    other = refund(http, client, paid, "refund-crash-1", {**body, "amount": 1_000})
    assert other.status_code == 409 and other.mimetype == "application/problem+json"
    assert len(refunds_of(gw, paid)) == 1


def test_a_refund_whose_request_crashed_before_opening_it_is_made_once_by_the_retry(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Clock
) -> None:
    body = {"amount": 150_000, "reason": "Hồ sơ bị từ chối"}
    refund_claim(gw, client, paid, "refund-crash-2", body)
    clock.advance(seconds=lease(gw) + 1)

    taken = refund(http, client, paid, "refund-crash-2", body)

    assert taken.status_code == 201, taken.get_json()
    assert [(amount, status) for _, amount, status in refunds_of(gw, paid)] == [
        (150_000, "succeeded")]
    assert refunded_at_the_provider(gw, paid) == 150_000


def test_a_holder_that_lost_its_lease_cannot_open_a_refund(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Clock
) -> None:
    body = {"amount": 50_000, "reason": "Nộp thừa"}
    stale = refund_claim(gw, client, paid, "refund-slow-1", body)
    clock.advance(seconds=lease(gw) + 1)
    assert refund(http, client, paid, "refund-slow-1", body).status_code == 201

    with pytest.raises(IdempotencyInFlight):
        create_refund(gw, client.id, paid["id"], RefundCreate(**body), actor=client.id,
                      on_open=stale.on_refund_opened)

    assert len(refunds_of(gw, paid)) == 1
    assert refunded_at_the_provider(gw, paid) == 50_000


def test_a_refund_claim_released_after_an_error_is_answered_at_once_by_the_retry(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    """An unexpected error after the refund opened keeps the claim, its lease ended."""
    body = {"amount": 20_000, "reason": "Nộp thừa"}
    held = refund_claim(gw, client, paid, "refund-error-1", body)
    refund_id = create_refund(gw, client.id, paid["id"], RefundCreate(**body), actor=client.id,
                              on_open=held.on_refund_opened)
    idempotency.release(gw, held)

    retry = refund(http, client, paid, "refund-error-1", body)

    assert retry.status_code == 201 and retry.get_json()["id"] == refund_id
    assert len(refunds_of(gw, paid)) == 1


def test_replayed_refund_problems_keep_problem_json(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    working = gw.adapters["sandbox"]
    assert isinstance(working, SandboxAdapter)
    with socket.socket() as sock:  # the provider's refund API is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw.adapters["sandbox"] = SandboxAdapter(
        replace(working.config, api_url=f"http://127.0.0.1:{port}/sandbox/api", timeout=2))
    body = {"amount": 100_000, "reason": "Nộp thừa"}

    down = refund(http, client, paid, "refund-503", body)  # pending: 100 000 are held
    held = refund(http, client, paid, "refund-409", body)  # only 50 000 may be refunded now
    gw.adapters["sandbox"] = working

    for key, first in (("refund-503", down), ("refund-409", held)):
        replay = refund(http, client, paid, key, body)
        assert first.status_code == replay.status_code
        assert first.mimetype == replay.mimetype == "application/problem+json"
        assert replay.get_json() == first.get_json()
    assert (down.status_code, held.status_code) == (503, 409)
    assert len(refunds_of(gw, paid)) == 1


# -- the setting -----------------------------------------------------------------------------


def test_the_lease_is_a_setting_with_a_floor() -> None:
    assert load_settings({}).idempotency_lease_seconds == 60
    assert load_settings({"FEEGATE_IDEMPOTENCY_LEASE_SECONDS": "120"}
                         ).idempotency_lease_seconds == 120
    assert load_settings({"FEEGATE_IDEMPOTENCY_LEASE_SECONDS": "1"}
                         ).idempotency_lease_seconds == 10
    with pytest.raises(ConfigError, match="FEEGATE_IDEMPOTENCY_LEASE_SECONDS"):
        load_settings({"FEEGATE_IDEMPOTENCY_LEASE_SECONDS": "soon"})


# -- a real crash ----------------------------------------------------------------------------


def test_a_gunicorn_worker_killed_mid_refund_leaves_a_key_that_a_retry_answers_once(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Clock
) -> None:
    """SIGKILL of the worker while the provider is being asked: the lease, then one refund.

    gunicorn serves the same database with the real clock; the sandbox provider it calls
    is a socket that accepts and never answers, so the worker is surely mid-request (the
    pending refund committed, the provider call open) when it is killed.
    """
    body = {"amount": 50_000, "reason": "Nộp thừa"}
    port = free_port()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEGATE_")}
        env.update({
            "FEEGATE_ENV": "test", "FEEGATE_DATABASE_URL": gw.settings.database_url,
            "FEEGATE_PUBLIC_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "FEEGATE_SANDBOX": "1", "FEEGATE_SANDBOX_SECRET": gw.settings.sandbox_secret,
            "FEEGATE_LOG_LEVEL": "WARNING",
        })
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "wsgi:app", "--bind",
             f"127.0.0.1:{port}", "--workers", "1", "--timeout", "120"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            wait_until(lambda: healthy(port) and len(workers(server.pid)) == 1,
                       "gunicorn did not start", seconds=60)
            outcome: list[Any] = []

            def send() -> None:
                try:
                    outcome.append(requests.post(
                        f"http://127.0.0.1:{port}{refund_url(paid)}", json=body, timeout=60,
                        headers={**client.headers, "Idempotency-Key": "refund-killed"}))
                except requests.RequestException as exc:
                    outcome.append(exc)

            sender = threading.Thread(target=send)
            sender.start()
            wait_until(lambda: opened_refund(gw, client, "refund-killed"),
                       "the worker never opened the refund")
            (worker,) = workers(server.pid)
            os.kill(worker, signal.SIGKILL)  # the arbiter's only worker, mid-request
            sender.join(timeout=60)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    assert outcome and isinstance(outcome[0], requests.RequestException)  # no answer at all

    row = key_row(gw, client, "refund-killed")
    assert row.state == "in_flight" and row.locked_until is not None
    (refund_id, amount, status) = refunds_of(gw, paid)[0]
    assert (row.refund_id, amount, status) == (refund_id, 50_000, "pending")

    clock.current = row.locked_until - timedelta(seconds=1)
    in_flight(refund(http, client, paid, "refund-killed", body))
    clock.current = row.locked_until + timedelta(seconds=1)
    taken = refund(http, client, paid, "refund-killed", body)

    assert taken.status_code == 201, taken.get_json()
    assert (taken.get_json()["id"], taken.get_json()["status"]) == (refund_id, "pending")
    assert len(refunds_of(gw, paid)) == 1  # the worker's sync settles it with the provider


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
    except requests.RequestException:  # not listening yet, or still booting its worker
        return False


def workers(arbiter: int) -> list[int]:
    return [int(pid) for pid in
            Path(f"/proc/{arbiter}/task/{arbiter}/children").read_text().split()]


def opened_refund(gw: Gateway, client: ApiClient, key: str) -> bool:
    with gw.sessions() as session:
        row = session.query(IdempotencyKey).filter_by(client_id=client.id, key=key).first()
        return row is not None and row.refund_id is not None


def wait_until(condition: Any, message: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)  # waiting on another process, not on business time
