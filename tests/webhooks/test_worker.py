"""Status sync and expiry through the sandbox provider, over real HTTP.

The sandbox's hosted page and query API run in the test's app server; the worker asks
them like it would ask VNPay. Time is the injected clock, moved past the sync delay or the
expiry; every pass is `feegate worker --once`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.sandbox import SandboxAdapter
from payments.models import Attempt, Outbox, Payment, PaymentEvent, SandboxTransaction
from payments.services.gateway import Gateway
from tests.factories import ApiClient, Clock, create_payment, make_api_client, start_attempt
from tests.webhooks.receiver import Receiver, closed_port

SYNC_DELAY = timedelta(seconds=300)


def worker_once(app: Flask) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def sandbox_link(attempt: dict[str, Any]) -> dict[str, str]:
    """The signed fields of the attempt's pay link, as the citizen's browser carries them."""
    return dict(parse_qsl(urlsplit(attempt["redirect_url"]).query))


def pay(http: FlaskClient, fields: dict[str, str], choice: str = "pay") -> None:
    """The citizen presses a button on the sandbox's hosted page."""
    response = http.post("/sandbox/pay", data={**fields, "choice": choice})
    assert response.status_code == 303, response.get_data(as_text=True)


def pay_but_lose_the_callback(http: FlaskClient, gw: Gateway, attempt: dict[str, Any]) -> None:
    """The provider takes the money but its callback never reaches feegate (network)."""
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    fields = sandbox_link(attempt)
    fields.pop("signature")
    fields["notify_url"] = f"http://127.0.0.1:{closed_port()}/webhooks/sandbox"
    pay(http, {**fields, "signature": adapter.sign(fields)})


def load(gw: Gateway, payment_id: str) -> tuple[Payment, list[Attempt]]:
    with gw.sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        attempts = list(session.scalars(select(Attempt).where(Attempt.payment_id == payment_id)
                                        .order_by(Attempt.created_at)))
        return payment, attempts


def outbox_types(gw: Gateway, payment_id: str) -> list[str]:
    with gw.sessions() as session:
        return list(session.scalars(select(Outbox.type).where(Outbox.payment_id == payment_id)
                                    .order_by(Outbox.created_at, Outbox.id)))


def sources(gw: Gateway, payment_id: str) -> list[tuple[str, str | None, str]]:
    with gw.sessions() as session:
        stmt = select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
        return [(e.kind, e.to_status, e.source)
                for e in session.scalars(stmt.order_by(PaymentEvent.id))]


@pytest.fixture
def portal() -> Any:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def client(gw: Gateway, app: Flask, portal: Receiver) -> ApiClient:
    return make_api_client(gw, notify_url=portal.url)


# -- status sync ---------------------------------------------------------------------------


def test_a_dropped_callback_ends_succeeded_after_one_pass_past_the_sync_delay(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient,
        portal: Receiver) -> None:
    payment = create_payment(http, client, amount=150_002)  # 02: the callback is never sent
    attempt = start_attempt(http, client, payment["id"])
    pay(http, sandbox_link(attempt))
    _, (row,) = load(gw, payment["id"])
    assert row.status == "pending"
    assert row.next_query_at == clock() + SYNC_DELAY

    clock.advance(seconds=299)
    assert worker_once(app)["queried"] == 0  # not due before the sync delay
    assert load(gw, payment["id"])[1][0].status == "pending"

    clock.advance(seconds=1)
    summary = worker_once(app)
    assert (summary["queried"], summary["resolved"], summary["delivered"]) == (1, 1, 1)
    paid, (row,) = load(gw, payment["id"])
    assert (paid.status, row.status, paid.paid_provider) == ("succeeded", "succeeded", "sandbox")
    assert row.provider_txn_id and row.provider_txn_id.startswith("SBX")
    assert row.next_query_at is None
    assert ("payment.status", "succeeded", "sync") in sources(gw, payment["id"])
    assert ("attempt.status", "succeeded", "sync") in sources(gw, payment["id"])
    assert [r.json["type"] for r in portal.received] == ["payment.succeeded"]
    assert worker_once(app)["queried"] == 0  # settled: never asked again


def test_an_unknown_answer_keeps_the_attempt_pending_and_asks_again_later(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient) -> None:
    payment = create_payment(http, client)
    start_attempt(http, client, payment["id"])  # the citizen never pays: sandbox says not_found
    clock.advance(seconds=300)
    summary = worker_once(app)
    assert (summary["queried"], summary["still_pending"], summary["expired"]) == (1, 1, 0)
    _, (row,) = load(gw, payment["id"])
    assert (row.status, row.query_count) == ("pending", 1)
    assert row.next_query_at == clock() + 2 * SYNC_DELAY  # growing: 5, 10, 20 … min

    clock.advance(seconds=599)
    assert worker_once(app)["queried"] == 0
    clock.advance(seconds=1)
    assert worker_once(app)["queried"] == 1
    _, (row,) = load(gw, payment["id"])
    assert row.query_count == 2
    assert row.next_query_at == clock() + 4 * SYNC_DELAY
    assert load(gw, payment["id"])[0].status == "pending"


def test_a_provider_that_is_down_leaves_the_attempt_pending_and_schedules_another_query(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient,
        portal: Receiver) -> None:
    payment = create_payment(http, client, amount=150_004)  # 04: the query API answers 503
    attempt = start_attempt(http, client, payment["id"])
    pay_but_lose_the_callback(http, gw, attempt)
    with gw.sessions() as session:
        ledger = session.get(SandboxTransaction, attempt["reference"])
        assert ledger is not None and ledger.status == "paid"  # the money was taken

    clock.advance(seconds=300)
    summary = worker_once(app)
    assert (summary["queried"], summary["provider_unavailable"], summary["resolved"]) == (1, 1, 0)
    _, (row,) = load(gw, payment["id"])
    assert (row.status, row.query_count) == ("pending", 1)
    assert row.next_query_at == clock() + 2 * SYNC_DELAY
    assert "ProviderUnavailable" in (row.result_message or "")

    clock.advance(seconds=600)
    assert worker_once(app)["provider_unavailable"] == 1
    _, (row,) = load(gw, payment["id"])
    assert (row.status, row.query_count) == ("pending", 2)
    assert row.next_query_at == clock() + 4 * SYNC_DELAY

    # Past the payment's expiry, with the provider still down: nothing is expired.
    clock.advance(minutes=60)
    summary = worker_once(app)
    assert summary["expired"] == 0 and summary["provider_unavailable"] == 1
    paid, (row,) = load(gw, payment["id"])
    assert (paid.status, row.status, row.query_count) == ("pending", "pending", 3)
    assert "payment.expired" not in outbox_types(gw, payment["id"])
    assert "payment.failed" not in outbox_types(gw, payment["id"])
    assert portal.received == []


def test_sync_backoff_is_capped(app: Flask, http: FlaskClient, gw: Gateway, clock: Clock,
                                client: ApiClient) -> None:
    from payments.services.jobs import next_query_delay

    assert [next_query_delay(gw, n).total_seconds() for n in (1, 2, 3, 4, 5, 50)] == [
        600, 1200, 2400, 3600, 3600, 3600]


# -- expiry --------------------------------------------------------------------------------


def test_an_attempt_the_provider_reports_unpaid_ends_expired_after_the_expiry(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient,
        portal: Receiver) -> None:
    payment = create_payment(http, client)
    start_attempt(http, client, payment["id"])  # started, never paid
    clock.advance(minutes=59)
    worker_once(app)
    assert load(gw, payment["id"])[0].status == "pending"

    clock.advance(minutes=2)  # past expires_at (60 min)
    summary = worker_once(app)
    assert summary["expired"] == 1
    expired, (row,) = load(gw, payment["id"])
    assert (expired.status, row.status) == ("expired", "expired")
    assert row.next_query_at is None
    assert outbox_types(gw, payment["id"]) == ["payment.expired"]
    assert ("payment.status", "expired", "sync") in sources(gw, payment["id"])
    (got,) = portal.received
    assert got.json["type"] == "payment.expired"
    assert got.json["data"]["payment"]["status"] == "expired"
    assert got.json["data"]["payment"]["attempts"][0]["status"] == "expired"
    assert worker_once(app) == {**worker_once(app), "expired": 0}


def test_a_success_arriving_after_expiry_is_recorded_and_flagged(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient,
        portal: Receiver) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    clock.advance(minutes=61)
    worker_once(app)
    assert load(gw, payment["id"])[0].status == "expired"

    clock.advance(minutes=1)
    pay(http, sandbox_link(attempt))  # the citizen finishes paying after all: a real callback
    paid, (row,) = load(gw, payment["id"])
    assert (paid.status, row.status) == ("succeeded", "succeeded")
    assert "late_success" in paid.flags and paid.needs_review
    assert outbox_types(gw, payment["id"]) == ["payment.expired", "payment.succeeded"]
    worker_once(app)
    assert [r.json["type"] for r in portal.received] == ["payment.expired", "payment.succeeded"]
    assert portal.received[1].json["data"]["payment"]["flags"] == ["late_success"]


def test_a_provider_that_reports_paid_at_expiry_makes_the_payment_paid_not_expired(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient) -> None:
    payment = create_payment(http, client, amount=150_002)
    attempt = start_attempt(http, client, payment["id"])
    pay(http, sandbox_link(attempt))  # callback dropped
    clock.advance(minutes=61)  # the first pass is already past expiry: expiry asks first
    summary = worker_once(app)
    assert (summary["expired"], summary["resolved"]) == (0, 1)
    paid, (row,) = load(gw, payment["id"])
    assert (paid.status, row.status) == ("succeeded", "succeeded")
    assert paid.flags == []
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_a_payment_nobody_started_expires_on_time(app: Flask, http: FlaskClient, gw: Gateway,
                                                  clock: Clock, client: ApiClient) -> None:
    payment = create_payment(http, client)
    clock.advance(minutes=59, seconds=59)
    assert worker_once(app)["expired"] == 0
    clock.advance(seconds=1)
    assert worker_once(app)["expired"] == 1
    assert load(gw, payment["id"])[0].status == "expired"
    assert outbox_types(gw, payment["id"]) == ["payment.expired"]


def test_a_failed_payment_expires_and_a_per_client_ttl_is_honoured(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, portal: Receiver) -> None:
    client = make_api_client(gw, notify_url=portal.url, payment_ttl_minutes=15)
    payment = create_payment(http, client, amount=150_001)  # 01: the card is declined
    attempt = start_attempt(http, client, payment["id"])
    pay(http, sandbox_link(attempt))
    assert load(gw, payment["id"])[0].status == "failed"
    clock.advance(minutes=15)
    assert worker_once(app)["expired"] == 1
    assert load(gw, payment["id"])[0].status == "expired"
    assert outbox_types(gw, payment["id"]) == ["payment.failed", "payment.expired"]


def test_still_processing_at_the_provider_waits_for_the_grace_period(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient) -> None:
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    with gw.sessions.begin() as session:  # the provider's own books say "processing"
        session.add(SandboxTransaction(reference=attempt["reference"], amount=150_000,
                                       status="processing", code="", transaction_id="SBX1"))
    clock.advance(minutes=61)
    summary = worker_once(app)
    assert (summary["expired"], summary["still_pending"]) == (0, 1)
    assert load(gw, payment["id"])[0].status == "pending"

    clock.advance(hours=24)  # past expires_at + FEEGATE_PENDING_GRACE_MINUTES
    assert worker_once(app)["expired"] == 1
    expired, (row,) = load(gw, payment["id"])
    assert (expired.status, row.status) == ("expired", "expired")


def test_two_workers_do_not_expire_or_query_twice(app: Flask, http: FlaskClient, gw: Gateway,
                                                  clock: Clock, client: ApiClient) -> None:
    import threading

    from webhooks.worker import run_once

    ids = []
    for n in range(6):
        payment = create_payment(http, client, reference=f"H32-{n}")
        if n % 2:
            start_attempt(http, client, payment["id"])
        ids.append(payment["id"])
    clock.advance(minutes=61)
    gateways = [Gateway.from_settings(gw.settings) for _ in range(2)]
    reports = []
    for worker_gw in gateways:
        worker_gw.clock = clock

    def work(worker_gw: Gateway) -> None:
        reports.append(run_once(worker_gw))

    threads = [threading.Thread(target=work, args=(g,)) for g in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker_gw in gateways:
        worker_gw.sessions.kw["bind"].dispose()
    assert sum(r.expiry.expired for r in reports) == 6
    for payment_id in ids:
        assert outbox_types(gw, payment_id) == ["payment.expired"]
    with gw.sessions() as session:
        counts = list(session.scalars(select(Attempt.query_count)))
    assert counts == [1, 1, 1]
