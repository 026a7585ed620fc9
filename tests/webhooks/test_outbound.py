"""Outbox delivery to a real local receiver: signature, retries, dead letters, redelivery.

Time is the injected clock: a pass happens at `clock()`, and tests move the clock past the
next retry instead of sleeping. Each pass is `feegate worker --once` through the CLI.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from payments.models import Client, Outbox, OutboxDelivery
from payments.services import outbox as outbox_service
from payments.services.gateway import Gateway
from tests.factories import ApiClient, Clock, create_payment, make_api_client, start_attempt
from tests.flow import pay_through_sandbox
from tests.webhooks.receiver import Receiver, closed_port, load_docs_verifier

verify_feegate_signature = load_docs_verifier()


def worker_once(app: Flask) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def cancelled_event(http: FlaskClient, client: ApiClient,
                    reference: str = "H32-0001") -> tuple[str, str]:
    """A payment cancelled by the portal: one payment.cancelled in the outbox."""
    payment = create_payment(http, client, reference=reference)
    response = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)
    assert response.status_code == 200, response.get_json()
    return payment["id"], event_ids(http, client, payment["id"])[0]


def event_ids(http: FlaskClient, client: ApiClient, payment_id: str) -> list[str]:
    response = http.get(f"/api/v1/events?payment_id={payment_id}", headers=client.headers)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def row(gw: Gateway, event_id: str) -> Outbox:
    with gw.sessions() as session:
        found = session.get(Outbox, event_id)
        assert found is not None
        return found


def tries_of(gw: Gateway, event_id: str) -> list[OutboxDelivery]:
    with gw.sessions() as session:
        stmt = select(OutboxDelivery).where(OutboxDelivery.outbox_id == event_id)
        return list(session.scalars(stmt.order_by(OutboxDelivery.id)))


def assert_genuine(received: Any, secret: str, clock: Clock) -> None:
    assert verify_feegate_signature(secret, received.body, received.signature,
                                    now=clock().timestamp()), received.signature


def test_delivered_once_with_a_valid_signature(app: Flask, http: FlaskClient, gw: Gateway,
                                               clock: Clock, base_url: str) -> None:
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        payment = create_payment(http, client, amount=150_000)
        walk = pay_through_sandbox(base_url, payment["id"])
        assert walk.result.status_code == 200

        summary = worker_once(app)
        assert summary["delivered"] == 1
        assert worker_once(app)["delivered"] == 0  # nothing is sent twice

    (got,) = portal.received
    assert got.path == "/feegate/events"
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert_genuine(got, client.webhook_secret, clock)
    assert not verify_feegate_signature("whsec_someone_else", got.body, got.signature,
                                        now=clock().timestamp())
    event = got.json
    assert event["type"] == "payment.succeeded"
    assert got.headers["Feegate-Event-Id"] == event["id"]
    assert set(event) == {"id", "type", "created_at", "data"}
    shown = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert event["data"]["payment"] == shown  # the same object as GET /api/v1/payments/{id}
    assert event["data"]["payment"]["status"] == "succeeded"
    assert got.signature.startswith(f"t={int(clock().timestamp())},v1=")

    stored = row(gw, event["id"])
    assert (stored.status, stored.tries, stored.last_status_code) == ("delivered", 1, 200)
    assert stored.delivered_at == clock()
    (attempt,) = tries_of(gw, event["id"])
    assert (attempt.status_code, attempt.error, attempt.url) == (200, None, portal.url)


def test_500_three_times_then_200_arrives_on_the_fourth_try(app: Flask, http: FlaskClient,
                                                           gw: Gateway, clock: Clock) -> None:
    with Receiver(statuses=[500, 500, 500]) as portal:
        client = make_api_client(gw, notify_url=portal.url)
        _, event_id = cancelled_event(http, client)

        assert worker_once(app)["delivery_failed"] == 1
        first_retry = row(gw, event_id).next_attempt_at
        assert 54 <= (first_retry - clock()).total_seconds() <= 66  # 1 min ± 10 %
        clock.advance(seconds=30)
        assert worker_once(app)["delivery_failed"] == 0  # not due yet: nothing sent
        assert len(portal.received) == 1

        clock.advance(seconds=40)  # past 1 min (+ jitter)
        assert worker_once(app)["delivery_failed"] == 1
        assert 270 <= (row(gw, event_id).next_attempt_at - clock()).total_seconds() <= 330
        clock.advance(minutes=6)
        assert worker_once(app)["delivery_failed"] == 1
        assert 1620 <= (row(gw, event_id).next_attempt_at - clock()).total_seconds() <= 1980
        clock.advance(minutes=34)
        assert worker_once(app)["delivered"] == 1

    assert [r.json["id"] for r in portal.received] == [event_id] * 4
    bodies = {r.body for r in portal.received}
    assert len(bodies) == 1  # the same bytes every time, signed afresh each try
    assert_genuine(portal.received[-1], client.webhook_secret, clock)
    assert [t.status_code for t in tries_of(gw, event_id)] == [500, 500, 500, 200]
    assert [t.error for t in tries_of(gw, event_id)] == ["HTTP 500"] * 3 + [None]
    stored = row(gw, event_id)
    assert (stored.status, stored.tries) == ("delivered", 4)


def test_a_portal_down_for_the_whole_schedule_leaves_a_dead_message_that_redeliver_sends(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock) -> None:
    port = closed_port()
    client = make_api_client(gw, notify_url=f"http://127.0.0.1:{port}/feegate/events")
    _, event_id = cancelled_event(http, client)
    start = clock()

    for n in range(1, outbox_service.MAX_TRIES + 1):
        summary = worker_once(app)
        assert summary["delivery_failed"] + summary["dead"] == 1, (n, summary)
        clock.advance(hours=27)  # past the longest delay (24 h + 10 %)
    stored = row(gw, event_id)
    assert (stored.status, stored.tries) == ("dead", 8)
    tries = tries_of(gw, event_id)
    assert len(tries) == 8
    assert all(t.status_code is None and "Connection refused" in (t.error or "") for t in tries)
    assert tries[-1].attempted_at - start >= timedelta(hours=24)
    assert worker_once(app)["delivery_failed"] == 0  # dead stays dead

    with Receiver(port=port) as portal:
        result = cli(app, "outbox", "redeliver", event_id)
        assert json.loads(result.stdout)["delivery"]["status"] == "pending"
        assert worker_once(app)["delivered"] == 1
    (got,) = portal.received
    assert got.json["id"] == event_id
    assert_genuine(got, client.webhook_secret, clock)
    assert row(gw, event_id).status == "delivered"
    assert len(tries_of(gw, event_id)) == 9


def test_the_full_schedule_spans_more_than_24_hours() -> None:
    assert outbox_service.RETRY_SCHEDULE == (60, 300, 1800, 7200, 21600, 43200, 86400)
    low = sum(s * (1 - outbox_service.JITTER) for s in outbox_service.RETRY_SCHEDULE)
    assert low > 24 * 3600
    for tries in range(1, 12):
        delay = outbox_service.retry_delay(tries).total_seconds()
        base = outbox_service.RETRY_SCHEDULE[min(tries, 7) - 1]
        assert base * 0.9 <= delay <= base * 1.1


def test_redeliver_a_delivered_event_via_the_api(app: Flask, http: FlaskClient, gw: Gateway,
                                                 clock: Clock) -> None:
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        other = make_api_client(gw, notify_url=portal.url, name="Another portal")
        payment_id, event_id = cancelled_event(http, client)
        worker_once(app)

        listed = http.get(f"/api/v1/events?payment_id={payment_id}",
                          headers=client.headers).get_json()
        (item,) = listed["items"]
        assert item["type"] == "payment.cancelled"
        assert item["delivery"]["status"] == "delivered"
        assert item["delivery"]["last_status_code"] == 200
        assert listed["next_cursor"] is None
        detail = http.get(f"/api/v1/events/{event_id}", headers=client.headers).get_json()
        assert detail["payload"]["id"] == event_id
        assert [d["status_code"] for d in detail["deliveries"]] == [200]

        redeliver = f"/api/v1/events/{event_id}/redeliver"
        assert http.post(redeliver, headers=other.headers).status_code == 404
        assert http.get(f"/api/v1/events/{event_id}", headers=other.headers).status_code == 404
        assert http.get("/api/v1/events", headers=other.headers).get_json()["items"] == []
        missing = http.post("/api/v1/events/evt_nope/redeliver", headers=client.headers)
        assert missing.status_code == 404
        assert http.post(f"/api/v1/events/{event_id}/redeliver").status_code == 401

        response = http.post(f"/api/v1/events/{event_id}/redeliver", headers=client.headers)
        assert response.status_code == 202
        assert response.get_json()["delivery"]["status"] == "pending"
        assert worker_once(app)["delivered"] == 1

    assert [r.json["id"] for r in portal.received] == [event_id, event_id]
    assert portal.received[0].body == portal.received[1].body


def test_events_list_paginates_and_filters(app: Flask, http: FlaskClient, gw: Gateway) -> None:
    client = make_api_client(gw, notify_url=None)
    for n in range(3):
        cancelled_event(http, client, reference=f"H32-{n}")
    first = http.get("/api/v1/events?limit=2", headers=client.headers).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = http.get(f"/api/v1/events?limit=2&cursor={first['next_cursor']}",
                    headers=client.headers).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert len(set(ids)) == 3
    assert http.get("/api/v1/events?status=dead", headers=client.headers).get_json()["items"] == []
    bad = http.get("/api/v1/events?status=lost&limit=0", headers=client.headers)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"status", "limit"}
    assert http.get("/api/v1/events?cursor=%%%", headers=client.headers).status_code == 422


def test_a_client_without_notify_url_is_skipped_until_one_is_set(app: Flask, http: FlaskClient,
                                                                 gw: Gateway, clock: Clock) -> None:
    client = make_api_client(gw, notify_url=None)
    _, event_id = cancelled_event(http, client)
    summary = worker_once(app)
    assert summary["delivered"] == summary["delivery_failed"] == 0
    stored = row(gw, event_id)
    assert stored.status == "skipped"
    assert stored.last_error == "the client has no notify URL"
    assert stored.tries == 0
    assert tries_of(gw, event_id) == []

    with Receiver() as portal:
        with gw.sessions.begin() as session:
            found = session.get(Client, client.id)
            assert found is not None
            found.notify_url = portal.url
        cli(app, "outbox", "redeliver", event_id)
        assert worker_once(app)["delivered"] == 1
    assert [r.json["id"] for r in portal.received] == [event_id]


def test_only_the_configured_url_is_called_redirects_are_not_followed(
        app: Flask, http: FlaskClient, gw: Gateway, clock: Clock) -> None:
    with Receiver() as elsewhere, Receiver(default=302, redirect_to="") as portal:
        portal.redirect_to = elsewhere.url
        client = make_api_client(gw, notify_url=portal.url)
        _, event_id = cancelled_event(http, client)
        assert worker_once(app)["delivery_failed"] == 1
    assert len(portal.received) == 1
    assert elsewhere.received == []
    (attempt,) = tries_of(gw, event_id)
    assert attempt.status_code == 302
    assert "redirects are not followed" in (attempt.error or "")
    assert row(gw, event_id).status == "pending"


def test_a_notify_url_that_is_not_allowed_is_never_called(app: Flask, http: FlaskClient,
                                                          gw: Gateway) -> None:
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        with gw.sessions.begin() as session:  # e.g. edited by hand to plain http on a public host
            found = session.get(Client, client.id)
            assert found is not None
            found.notify_url = "http://portal.example.gov.vn/events"
        _, event_id = cancelled_event(http, client)
        worker_once(app)
    assert portal.received == []
    stored = row(gw, event_id)
    assert stored.status == "skipped"
    assert "not allowed" in (stored.last_error or "")


class TestSlowPortal:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"notify_timeout_seconds": 0.3}

    def test_a_slow_portal_times_out_and_is_retried(self, app: Flask, http: FlaskClient,
                                                    gw: Gateway, clock: Clock) -> None:
        with Receiver(delay=1.5) as portal:
            client = make_api_client(gw, notify_url=portal.url)
            _, event_id = cancelled_event(http, client)
            assert worker_once(app)["delivery_failed"] == 1
        (attempt,) = tries_of(gw, event_id)
        assert attempt.status_code is None
        assert attempt.error == "timeout after 0.3 s"
        assert attempt.duration_ms < 1400
        stored = row(gw, event_id)
        assert (stored.status, stored.tries) == ("pending", 1)
        assert stored.next_attempt_at > clock()


def test_secret_rotation_signs_with_both_until_retired(app: Flask, http: FlaskClient, gw: Gateway,
                                                       clock: Clock) -> None:
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        rotated = cli(app, "webhook-secret", "rotate", client.id)
        new_secret = json.loads(rotated.stdout)["webhook_secret"]
        assert new_secret.startswith("whsec_") and new_secret != client.webhook_secret
        cancelled_event(http, client, reference="H32-A")
        worker_once(app)
        cli(app, "webhook-secret", "retire", client.id)
        cancelled_event(http, client, reference="H32-B")
        worker_once(app)

    during, after = portal.received
    assert during.signature.count("v1=") == 2
    assert_genuine(during, new_secret, clock)
    assert_genuine(during, client.webhook_secret, clock)  # a portal still on the old secret
    assert after.signature.count("v1=") == 1
    assert_genuine(after, new_secret, clock)
    assert not verify_feegate_signature(client.webhook_secret, after.body, after.signature,
                                        now=clock().timestamp())


def test_cli_lists_and_shows_events(app: Flask, http: FlaskClient, gw: Gateway) -> None:
    client = make_api_client(gw, notify_url=None)
    _, event_id = cancelled_event(http, client)
    worker_once(app)
    lines = cli(app, "outbox", "list", "--status", "skipped").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [event_id]
    shown = json.loads(cli(app, "outbox", "show", event_id).stdout)
    assert shown["payload"]["type"] == "payment.cancelled" and shown["deliveries"] == []
    missing = app.test_cli_runner().invoke(args=["outbox", "redeliver", "evt_missing"])
    assert missing.exit_code != 0 and "not found" in missing.output
    helptext = app.test_cli_runner().invoke(args=["--help"]).output
    assert "worker" in helptext and "outbox" in helptext


def test_an_event_is_sent_as_it_was_written(app: Flask, http: FlaskClient, gw: Gateway) -> None:
    """An event for a payment that then moves on is still delivered as it was written."""
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        payment = create_payment(http, client, reference="H32-9")
        start_attempt(http, client, payment["id"])
        http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)
        worker_once(app)
    (got,) = portal.received
    assert got.json["type"] == "payment.cancelled"
    assert got.json["data"]["payment"]["attempts"][0]["status"] == "cancelled"
