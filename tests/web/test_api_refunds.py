"""POST /api/v1/payments/{id}/refunds, end to end with the sandbox provider.

The payment is paid on the sandbox's hosted page and refunded through the sandbox's refund
API (/sandbox/api/refund), both real HTTP on the live server. On SQLite a transaction held
open across the provider call would lock the sandbox out: these tests would hang and fail.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from payments.config import ZalopaySettings
from payments.models import Refund, SandboxTransaction
from payments.services.gateway import Gateway
from payments.services.refunds import pending_refund_ids, sync_refund
from tests.factories import ApiClient, create_payment, make_api_client, start_attempt
from tests.flow import TIMEOUT, events, outbox, outbox_types, pay_through_sandbox, post_at_once


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def paid(http: FlaskClient, client: ApiClient, base_url: str) -> dict[str, Any]:
    payment = create_payment(http, client)
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    assert 'data-status="succeeded"' in walk.result.text
    return payment


def refund(
    http: FlaskClient,
    client: ApiClient,
    payment_id: str,
    amount: Any,
    reason: Any = "Hồ sơ không đủ điều kiện",
) -> Any:
    return http.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "reason": reason},
        headers=client.headers,
    )


def shown(http: FlaskClient, client: ApiClient, payment_id: str) -> dict[str, Any]:
    data: dict[str, Any] = http.get(
        f"/api/v1/payments/{payment_id}", headers=client.headers
    ).get_json()
    return data


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    return body


def sandbox_ledger(gw: Gateway, payment: dict[str, Any]) -> SandboxTransaction:
    with gw.sessions() as session:
        reference = payment["attempts"][0]["provider_reference"]
        txn = session.get(SandboxTransaction, reference)
        assert txn is not None
        return txn


def unreachable_sandbox(gw: Gateway) -> None:
    """The provider's refund API is down: point the adapter at a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    gw.adapters["sandbox"] = SandboxAdapter(
        replace(adapter.config, api_url=f"http://127.0.0.1:{port}/sandbox/api", timeout=2)
    )


# -- a full refund ----------------------------------------------------------------------------


def test_a_full_refund_succeeds_at_the_provider_and_answers_201_with_the_refund(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    response = refund(http, client, paid["id"], 150_000)

    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("rfd_")
    assert body["object"] == "refund"
    assert (body["amount"], body["status"], body["result_code"]) == (150_000, "succeeded", "00")
    assert body["reason"] == "Hồ sơ không đủ điều kiện"
    seen = shown(http, client, paid["id"])
    assert seen["refunds"] == [body]
    assert seen["refunded_amount"] == 150_000
    assert seen["status"] == "succeeded"  # a refunded payment was still paid
    ledger = sandbox_ledger(gw, seen)
    assert ledger.refunded_amount == 150_000


def test_a_refund_writes_its_events_and_tells_the_portal(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    body = refund(http, client, paid["id"], 150_000).get_json()

    requested = events(gw, paid["id"], "refund.requested")
    settled = events(gw, paid["id"], "refund.status")
    assert [(e.to_status, e.detail["refund_id"]) for e in requested] == [("pending", body["id"])]
    assert [(e.from_status, e.to_status) for e in settled] == [("pending", "succeeded")]
    assert settled[0].actor == client.id
    assert outbox_types(gw, paid["id"]) == ["payment.succeeded", "refund.succeeded"]
    (note,) = [n for n in outbox(gw, paid["id"]) if n.type == "refund.succeeded"]
    assert note.payload["data"]["payment"] == shown(http, client, paid["id"])


def test_partial_refunds_add_up_to_the_paid_amount_and_no_further(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    first = refund(http, client, paid["id"], 50_000)
    second = refund(http, client, paid["id"], 100_000)
    third = refund(http, client, paid["id"], 1)

    assert (first.status_code, second.status_code) == (201, 201)
    answer = problem(third, 422)
    assert answer["errors"][0]["field"] == "amount"
    assert "0 đồng" in answer["errors"][0]["message"]
    seen = shown(http, client, paid["id"])
    assert seen["refunded_amount"] == 150_000
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [
        (50_000, "succeeded"),
        (100_000, "succeeded"),
    ]
    assert sandbox_ledger(gw, seen).refunded_amount == 150_000


def test_a_refund_larger_than_the_payment_is_422(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    answer = problem(refund(http, client, paid["id"], 150_001), 422)

    assert answer["errors"][0]["field"] == "amount"
    assert "150000 đồng" in answer["errors"][0]["message"]
    assert shown(http, client, paid["id"])["refunds"] == []


# -- refused refunds ---------------------------------------------------------------------------


def test_an_unpaid_payment_cannot_be_refunded(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)
    start_attempt(http, client, payment["id"])

    answer = problem(refund(http, client, payment["id"], 150_000), 409)

    assert answer["type"].endswith("/invalid-state")
    assert "pending" in answer["detail"]


def test_a_failed_payment_cannot_be_refunded(
    http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client)
    pay_through_sandbox(base_url, payment["id"], "fail")

    problem(refund(http, client, payment["id"], 150_000), 409)


def test_a_payment_taken_at_the_counter_is_not_refunded_through_a_provider(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client, counter={"method": "cash", "receipt_no": "BL-0001"})
    assert shown(http, client, payment["id"])["status"] == "succeeded"

    answer = problem(refund(http, client, payment["id"], 150_000), 422)

    assert "counter" in answer["detail"]
    assert shown(http, client, payment["id"])["refunds"] == []


def test_another_clients_or_an_unknown_payment_is_404(
    gw: Gateway, http: FlaskClient, paid: dict[str, Any]
) -> None:
    other = make_api_client(gw, name="another portal")

    problem(refund(http, other, paid["id"], 1_000), 404)
    problem(refund(http, other, "pay_nosuchpayment", 1_000), 404)


def test_a_refund_without_a_key_is_401(http: FlaskClient, paid: dict[str, Any]) -> None:
    response = http.post(
        f"/api/v1/payments/{paid['id']}/refunds", json={"amount": 1, "reason": "x"}
    )

    problem(response, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": -1, "reason": "x"}, "amount"),
        ({"amount": 1.5, "reason": "x"}, "amount"),
        ({"amount": "1000", "reason": "x"}, "amount"),
        ({"reason": "x"}, "amount"),
        ({"amount": 1_000}, "reason"),
        ({"amount": 1_000, "reason": ""}, "reason"),
        ({"amount": 1_000, "reason": "x", "to": "elsewhere"}, "to"),
    ],
)
def test_a_malformed_refund_is_a_422_problem(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = http.post(
        f"/api/v1/payments/{paid['id']}/refunds", json=body, headers=client.headers
    )

    assert [e["field"] for e in problem(response, 422)["errors"]] == [field]


# -- the provider's answers --------------------------------------------------------------------


def test_a_refund_the_provider_refuses_is_failed_and_the_portal_hears_refund_failed(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    """Paid by a genuine callback, but the sandbox's ledger never saw it: it refuses (91)."""
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    body = json.dumps(
        {
            "reference": attempt["provider_reference"],
            "amount": "150000",
            "status": "paid",
            "code": "00",
            "transaction_id": "SBX0000000077",
        }
    ).encode()
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    ack = requests.post(
        f"{base_url}/webhooks/sandbox",
        data=body,
        timeout=TIMEOUT,
        headers={SIGNATURE_HEADER: adapter.sign_body(body)},
    )
    assert ack.status_code == 200

    response = refund(http, client, payment["id"], 150_000)

    assert response.status_code == 201
    answer = response.get_json()
    assert (answer["status"], answer["result_code"]) == ("failed", "91")
    seen = shown(http, client, payment["id"])
    assert seen["refunded_amount"] == 0
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded", "refund.failed"]
    (note,) = [n for n in outbox(gw, payment["id"]) if n.type == "refund.failed"]
    assert note.payload["data"]["payment"] == seen


def test_when_the_provider_cannot_be_reached_the_refund_stays_pending_and_the_api_answers_503(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    unreachable_sandbox(gw)

    response = refund(http, client, paid["id"], 150_000)

    answer = problem(response, 503)
    assert "pending" in answer["detail"]
    seen = shown(http, client, paid["id"])
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(150_000, "pending")]
    assert seen["refunded_amount"] == 0
    assert outbox_types(gw, paid["id"]) == ["payment.succeeded"]  # nothing final to tell yet
    assert sandbox_ledger(gw, seen).refunded_amount == 0


def test_a_pending_refund_holds_its_amount_so_a_retry_cannot_refund_twice(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    unreachable_sandbox(gw)
    refund(http, client, paid["id"], 100_000)

    again = refund(http, client, paid["id"], 100_000)

    answer = problem(again, 409)
    assert answer["errors"][0]["field"] == "amount"
    assert "50000 đồng" in answer["errors"][0]["message"]
    assert len(shown(http, client, paid["id"])["refunds"]) == 1


def test_sync_refund_leaves_a_refund_pending_while_the_provider_cannot_tell(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    unreachable_sandbox(gw)
    refund(http, client, paid["id"], 150_000)
    with gw.sessions() as session:
        (refund_id,) = pending_refund_ids(session)

    assert sync_refund(gw, refund_id) == "pending"
    assert shown(http, client, paid["id"])["refunds"][0]["status"] == "pending"


def test_sync_refund_of_a_settled_refund_changes_nothing(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    body = refund(http, client, paid["id"], 150_000).get_json()
    before = len(events(gw, paid["id"]))

    assert sync_refund(gw, body["id"]) == "succeeded"
    assert len(events(gw, paid["id"])) == before
    with gw.sessions() as session:
        assert pending_refund_ids(session) == []
        row = session.get(Refund, body["id"])
        assert row is not None and row.status == "succeeded"


def test_simultaneous_refunds_never_refund_more_than_was_paid(
    gw: Gateway, client: ApiClient, paid: dict[str, Any], base_url: str
) -> None:
    """Ten portals' retries at once, 50.000 ₫ each, of a 150.000 ₫ payment."""
    threads = 10
    answers, errors = post_at_once(
        f"{base_url}/api/v1/payments/{paid['id']}/refunds", threads,
        json={"amount": 50_000, "reason": "hoàn một phần"}, headers=client.headers,
    )

    assert errors == []
    assert len(answers) == threads
    refunded = [body for status, body in answers if status == 201]
    assert [body["status"] for body in refunded] == ["succeeded"] * 3
    refused = [body for status, body in answers if status != 201]
    assert {body["status"] for body in refused} <= {409, 422}  # in flight, or nothing left
    with gw.sessions() as session:
        rows = session.query(Refund).all()
        assert sorted((r.amount, r.status) for r in rows) == [(50_000, "succeeded")] * 3
    seen = get_payment_over_http(base_url, client, paid["id"])
    assert seen["refunded_amount"] == 150_000
    assert sandbox_ledger(gw, seen).refunded_amount == 150_000


def get_payment_over_http(base_url: str, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{base_url}/api/v1/payments/{payment_id}", headers=client.headers, timeout=TIMEOUT
    )
    data: dict[str, Any] = response.json()
    return data


# -- an asynchronous refund, settled by sync_refund ----------------------------------------------


class TestAnAsynchronousRefundAtZaloPay:
    """ZaloPay answers a refund "processing" (3); the worker's sync_refund settles it.

    The ZaloPay simulator is mounted on the live server, so every hop is real HTTP.
    """

    @pytest.fixture
    def settings_overrides(self, port: int) -> dict[str, Any]:
        return {
            "simulators": True,
            "zalopay": ZalopaySettings(
                app_id="2553",
                key1="TESTKEY1zalopay00000000000000001",
                key2="TESTKEY2zalopay00000000000000002",
                endpoint=f"http://127.0.0.1:{port}/_sim/zalopay",
            ),
        }

    @pytest.fixture
    def paid_with_zalopay(self, http: FlaskClient, client: ApiClient) -> dict[str, Any]:
        payment = create_payment(http, client)
        attempt = start_attempt(http, client, payment["id"], provider="zalopay")
        done = requests.post(
            attempt["redirect_url"], data={"action": "pay"}, allow_redirects=False, timeout=TIMEOUT
        )
        assert done.status_code == 302, done.text
        seen = shown(http, client, payment["id"])
        assert seen["status"] == "succeeded", seen
        return seen

    def test_the_refund_is_pending_until_the_provider_settles_it(
        self, gw: Gateway, http: FlaskClient, client: ApiClient, paid_with_zalopay: dict[str, Any]
    ) -> None:
        payment_id = paid_with_zalopay["id"]

        response = refund(http, client, payment_id, 60_000)

        assert response.status_code == 201
        pending = response.get_json()
        assert pending["status"] == "pending"
        assert shown(http, client, payment_id)["refunded_amount"] == 0
        assert outbox_types(gw, payment_id) == ["payment.succeeded"]

        assert sync_refund(gw, pending["id"]) == "succeeded"

        seen = shown(http, client, payment_id)
        assert [(r["id"], r["status"]) for r in seen["refunds"]] == [(pending["id"], "succeeded")]
        assert seen["refunded_amount"] == 60_000
        assert outbox_types(gw, payment_id) == ["payment.succeeded", "refund.succeeded"]
        assert [e.source for e in events(gw, payment_id, "refund.status")] == ["sync"]
        assert sync_refund(gw, pending["id"]) == "succeeded"  # settled once
        assert outbox_types(gw, payment_id) == ["payment.succeeded", "refund.succeeded"]


def test_a_retried_refund_with_the_same_idempotency_key_refunds_once(
    http: FlaskClient, client: ApiClient, paid: dict[str, Any]
) -> None:
    headers = {**client.headers, "Idempotency-Key": "refund-0001"}
    body = {"amount": 50_000, "reason": "Nộp thừa"}
    url = f"/api/v1/payments/{paid['id']}/refunds"
    first = http.post(url, json=body, headers=headers)
    again = http.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    other = http.post(url, json={**body, "amount": 1_000}, headers=headers)
    assert other.status_code == 409
    got = shown(http, client, paid["id"])
    assert len(got["refunds"]) == 1
    assert got["refunded_amount"] == 50_000


def test_a_refund_whose_answer_was_lost_is_settled_by_the_worker_without_refunding_twice(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.errors import ProviderUnavailable
    from webhooks.worker import run_once

    adapter = gw.adapters["sandbox"]
    real_refund = adapter.refund

    def answer_lost(request: Any) -> Any:
        real_refund(request)  # the sandbox pays out; its answer never reaches us
        raise ProviderUnavailable("read timed out")

    monkeypatch.setattr(adapter, "refund", answer_lost)
    problem(refund(http, client, paid["id"], 60_000), 503)
    seen = shown(http, client, paid["id"])
    assert sandbox_ledger(gw, seen).refunded_amount == 60_000
    monkeypatch.undo()

    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    run_once(gw)

    seen = shown(http, client, paid["id"])
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(60_000, "succeeded")]
    assert seen["refunded_amount"] == 60_000
    assert sandbox_ledger(gw, seen).refunded_amount == 60_000  # asked, not paid out again
    assert outbox_types(gw, paid["id"]).count("refund.succeeded") == 1


def test_a_refund_that_never_reached_the_provider_ends_failed_after_the_worker_asks(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid: dict[str, Any], clock: Any
) -> None:
    from webhooks.worker import run_once

    working = gw.adapters["sandbox"]
    unreachable_sandbox(gw)
    problem(refund(http, client, paid["id"], 60_000), 503)
    gw.adapters["sandbox"] = working

    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    run_once(gw)

    seen = shown(http, client, paid["id"])
    assert [(r["amount"], r["status"]) for r in seen["refunds"]] == [(60_000, "failed")]
    assert seen["refunded_amount"] == 0
    assert outbox_types(gw, paid["id"]).count("refund.failed") == 1
