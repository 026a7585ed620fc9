"""Concurrent callbacks for one attempt change its state once (PostgreSQL: FOR UPDATE).

Twenty threads deliver the same signed sandbox callback to the live server at the same
moment; exactly one of them moves the attempt and the payment, and the portal is told once.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import select

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from payments.models import Attempt, Outbox, PaymentEvent
from payments.services.gateway import Gateway
from tests.factories import create_payment, make_api_client, start_attempt
from tests.flow import callbacks

THREADS = 20


@pytest.fixture(autouse=True)
def only_on_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "row locks (SELECT … FOR UPDATE) under real concurrency need PostgreSQL; "
            "set FEEGATE_TEST_DATABASE_URL to run this test"
        )


def signed_callback(
    gw: Gateway, attempt: dict[str, Any], status: str = "paid"
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "reference": attempt["provider_reference"],
            "amount": str(attempt["amount"]),
            "status": status,
            "code": "00" if status == "paid" else "51",
            "message": "",
            "transaction_id": "SBX0000012345",
            "paid_at": "",
        }
    ).encode()
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: adapter.sign_body(body)}


def deliver_at_once(url: str, body: bytes, headers: dict[str, str]) -> list[int]:
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        try:
            barrier.wait(timeout=30)
            answer = requests.post(url, data=body, headers=headers, timeout=60)
            with lock:
                statuses.append(answer.status_code)
        except BaseException as exc:  # reported below, never lost in the thread
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return statuses


def test_twenty_simultaneous_success_callbacks_make_exactly_one_transition(
    gw: Gateway, http: Any, base_url: str
) -> None:
    client = make_api_client(gw)
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    body, headers = signed_callback(gw, attempt)

    statuses = deliver_at_once(f"{base_url}/webhooks/sandbox", body, headers)

    assert statuses == [200] * THREADS
    outcomes = sorted(c.outcome or "" for c in callbacks(gw, kind="ipn"))
    assert outcomes == ["already_confirmed"] * (THREADS - 1) + ["recorded"]
    with gw.sessions() as session:
        attempt_moves = session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.kind == "attempt.status", PaymentEvent.attempt_id == attempt["id"]
            )
        ).all()
        paid_moves = session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.kind == "payment.status", PaymentEvent.to_status == "succeeded"
            )
        ).all()
        notes = session.scalars(select(Outbox).where(Outbox.payment_id == payment["id"])).all()
        row = session.get(Attempt, attempt["id"])
        assert row is not None
        assert row.status == "succeeded"
    assert [(e.from_status, e.to_status) for e in attempt_moves] == [("pending", "succeeded")]
    assert len(paid_moves) == 1
    assert [n.type for n in notes] == ["payment.succeeded"]
    shown = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert shown["status"] == "succeeded"
    assert notes[0].payload["data"]["payment"] == shown


def test_twenty_simultaneous_decline_callbacks_fail_the_payment_once(
    gw: Gateway, http: Any, base_url: str
) -> None:
    client = make_api_client(gw)
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    body, headers = signed_callback(gw, attempt, status="failed")

    statuses = deliver_at_once(f"{base_url}/webhooks/sandbox", body, headers)

    assert statuses == [200] * THREADS
    with gw.sessions() as session:
        failed_moves = session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.kind == "payment.status", PaymentEvent.to_status == "failed"
            )
        ).all()
        notes = session.scalars(select(Outbox.type)).all()
    assert len(failed_moves) == 1
    assert notes == ["payment.failed"]
