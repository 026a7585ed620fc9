"""The portal API of CONTRACT.md: create, get, list, attempts, cancel; keys and ownership."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.services.gateway import Gateway
from tests.factories import (
    AGENCY,
    ApiClient,
    Clock,
    create_payment,
    make_api_client,
    payment_body,
    start_attempt,
)
from tests.flow import outbox, outbox_types, pay_through_sandbox

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def moment(text: str) -> datetime:
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


# -- create -----------------------------------------------------------------------------------


def test_create_answers_201_with_the_payment(
    http: FlaskClient, client: ApiClient, base_url: str, clock: Clock
) -> None:
    response = http.post("/api/v1/payments", json=payment_body(), headers=client.headers)

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["id"].startswith("pay_")
    assert body["object"] == "payment"
    assert body["status"] == "created"
    assert body["amount"] == 150_000
    assert isinstance(body["amount"], int)
    assert body["currency"] == "VND"
    assert body["checkout_url"] == f"{base_url}/pay/{body['id']}"
    assert moment(body["expires_at"]) == clock.current + timedelta(minutes=60)
    assert moment(body["created_at"]) == clock.current
    assert body["reference"] == "000.00.01.H32-261126-0001"
    assert body["agency_code"] == AGENCY
    assert body["refunded_amount"] == 0
    assert body["attempts"] == []
    assert body["refunds"] == []
    assert body["payer"] == {"name": "Nguyễn Văn A", "email": "a@example.vn"}
    assert body["fee_items"] == [
        {"name": "Lệ phí cấp phiếu lý lịch tư pháp", "kind": "fee", "amount": 150_000}
    ]


def test_create_keeps_fee_items_that_add_up_and_the_metadata(
    http: FlaskClient, client: ApiClient
) -> None:
    items = [
        {"name": "Phí thẩm định", "kind": "fee", "amount": 100_000},
        {"name": "Lệ phí cấp giấy", "kind": "charge", "amount": 50_000},
    ]

    body = create_payment(
        http,
        client,
        fee_items=items,
        metadata={"dossier": "HS-1"},
        dossier_received_at="2026-11-20",
    )

    assert body["fee_items"] == items
    assert body["metadata"] == {"dossier": "HS-1"}
    assert body["dossier_received_at"] == "2026-11-20"


def test_create_without_agency_code_uses_the_clients_only_agency(
    http: FlaskClient, client: ApiClient
) -> None:
    body = payment_body()
    del body["agency_code"]

    response = http.post("/api/v1/payments", json=body, headers=client.headers)

    assert response.status_code == 201
    assert response.get_json()["agency_code"] == AGENCY


def test_the_payment_ttl_of_the_client_sets_expires_at(
    gw: Gateway, http: FlaskClient, clock: Clock
) -> None:
    client = make_api_client(gw, payment_ttl_minutes=15)

    body = create_payment(http, client)

    assert moment(body["expires_at"]) == clock.current + timedelta(minutes=15)


# -- get ----------------------------------------------------------------------------------------


def test_get_answers_the_payment_with_its_attempts_and_refunds(
    http: FlaskClient, client: ApiClient
) -> None:
    created = create_payment(http, client)
    attempt = start_attempt(http, client, created["id"])

    response = http.get(f"/api/v1/payments/{created['id']}", headers=client.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == created["id"]
    assert body["status"] == "pending"
    assert body["refunds"] == []
    assert [a["id"] for a in body["attempts"]] == [attempt["id"]]
    assert body["attempts"][0]["status"] == "pending"
    assert {k: v for k, v in body.items() if k not in ("status", "attempts", "updated_at")} == {
        k: v for k, v in created.items() if k not in ("status", "attempts", "updated_at")
    }


def test_an_unknown_payment_is_404(http: FlaskClient, client: ApiClient) -> None:
    for method, path in [
        ("get", "/api/v1/payments/pay_nosuchpayment"),
        ("post", "/api/v1/payments/pay_nosuchpayment/cancel"),
        ("post", "/api/v1/payments/pay_nosuchpayment/attempts"),
    ]:
        kwargs = {"json": {"provider": "sandbox"}} if path.endswith("attempts") else {}
        body = is_problem(getattr(http, method)(path, headers=client.headers, **kwargs), 404)
        assert body["type"].endswith("/not-found")


def test_another_clients_payment_is_404_and_untouched(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    other = make_api_client(gw, name="Cổng khác")
    theirs = create_payment(http, other)

    assert http.get(f"/api/v1/payments/{theirs['id']}", headers=client.headers).status_code == 404
    is_problem(
        http.post(
            f"/api/v1/payments/{theirs['id']}/attempts",
            json={"provider": "sandbox"},
            headers=client.headers,
        ),
        404,
    )
    is_problem(http.post(f"/api/v1/payments/{theirs['id']}/cancel", headers=client.headers), 404)
    seen = http.get(f"/api/v1/payments/{theirs['id']}", headers=other.headers).get_json()
    assert (seen["status"], seen["attempts"]) == ("created", [])


# -- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer fgk_not-a-real-key",
        "Basic dXNlcjpwYXNz",
        "fgk_no_scheme",
    ],
)
def test_a_missing_or_bad_api_key_is_401(
    http: FlaskClient, client: ApiClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    for response in (
        http.post("/api/v1/payments", json=payment_body(), headers=headers),
        http.get("/api/v1/payments", headers=headers),
        http.get("/api/v1/payments/pay_x", headers=headers),
    ):
        body = is_problem(response, 401)
        assert body["type"].endswith("/unauthorized")


def test_a_bad_key_creates_nothing(gw: Gateway, http: FlaskClient, client: ApiClient) -> None:
    http.post("/api/v1/payments", json=payment_body(), headers={"Authorization": "Bearer nope"})

    listed = http.get("/api/v1/payments", headers=client.headers).get_json()

    assert listed == {"items": [], "next_cursor": None}


# -- list -----------------------------------------------------------------------------------------


def listing(http: FlaskClient, client: ApiClient, query: str = "") -> dict[str, Any]:
    response = http.get(f"/api/v1/payments{query}", headers=client.headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"items", "next_cursor"}
    return body


def test_list_answers_the_clients_payments_newest_first(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    first = create_payment(http, client, reference="HS-1")
    clock.advance(minutes=1)
    second = create_payment(http, client, reference="HS-2")
    create_payment(http, make_api_client(gw, name="other"), reference="HS-3")

    body = listing(http, client)

    assert [p["id"] for p in body["items"]] == [second["id"], first["id"]]
    assert body["next_cursor"] is None
    assert (
        body["items"][0]
        == http.get(f"/api/v1/payments/{second['id']}", headers=client.headers).get_json()
    )


def test_list_filters_by_reference_status_and_provider(
    http: FlaskClient, client: ApiClient
) -> None:
    plain = create_payment(http, client, reference="HS-PLAIN")
    tried = create_payment(http, client, reference="HS-TRIED")
    start_attempt(http, client, tried["id"])
    dropped = create_payment(http, client, reference="HS-DROPPED")
    assert (
        http.post(f"/api/v1/payments/{dropped['id']}/cancel", headers=client.headers).status_code
        == 200
    )

    def ids(query: str) -> list[str]:
        return [p["id"] for p in listing(http, client, query)["items"]]

    assert ids("?reference=HS-TRIED") == [tried["id"]]
    assert ids("?reference=HS-NONE") == []
    assert ids("?status=created") == [plain["id"]]
    assert ids("?status=pending") == [tried["id"]]
    assert ids("?status=cancelled") == [dropped["id"]]
    assert ids("?provider=sandbox") == [tried["id"]]
    assert ids("?provider=vnpay") == []
    assert ids("?provider=sandbox&status=created") == []


def test_list_filters_by_vietnam_dates_from_and_to_inclusive(
    http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    clock.current = datetime.fromisoformat(
        "2026-11-24T16:59:00+00:00"
    )  # 23:59 on the 24th in Hà Nội
    on_24 = create_payment(http, client, reference="HS-24")
    clock.advance(minutes=2)  # 00:01 on the 25th in Hà Nội, still the 24th in UTC
    on_25 = create_payment(http, client, reference="HS-25")
    clock.advance(days=1)
    on_26 = create_payment(http, client, reference="HS-26")

    def refs(query: str) -> list[str]:
        return [p["reference"] for p in listing(http, client, query)["items"]]

    assert refs("?from=2026-11-25") == ["HS-26", "HS-25"]
    assert refs("?to=2026-11-24") == ["HS-24"]
    assert refs("?from=2026-11-25&to=2026-11-25") == ["HS-25"]
    assert refs("?from=2026-11-24&to=2026-11-26") == ["HS-26", "HS-25", "HS-24"]
    assert refs("?from=2026-11-27") == []
    assert {on_24["id"], on_25["id"], on_26["id"]}


def test_list_pages_with_a_cursor_without_gaps_or_repeats(
    http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    made = []
    for n in range(5):
        made.append(create_payment(http, client, reference=f"HS-{n}")["id"])
        if n != 2:
            clock.advance(seconds=1)  # two payments share one created_at: the id breaks the tie
    seen: list[str] = []
    query = "?limit=2"
    pages = 0
    while True:
        body = listing(http, client, query)
        pages += 1
        seen += [p["id"] for p in body["items"]]
        if body["next_cursor"] is None:
            break
        assert len(body["items"]) == 2
        query = f"?limit=2&cursor={body['next_cursor']}"

    assert pages == 3
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


def test_list_filters_keep_applying_across_pages(
    http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    for n in range(4):
        create_payment(http, client, reference="HS-SAME" if n % 2 else f"HS-{n}")
        clock.advance(seconds=1)

    first = listing(http, client, "?reference=HS-SAME&limit=1")
    second = listing(http, client, f"?reference=HS-SAME&limit=1&cursor={first['next_cursor']}")

    assert [p["reference"] for p in first["items"] + second["items"]] == ["HS-SAME", "HS-SAME"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=bogus", "status"),
        ("?from=26-11-2026", "from"),
        ("?to=yesterday", "to"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
    ],
)
def test_a_bad_list_query_is_a_422_problem_naming_the_field(
    http: FlaskClient, client: ApiClient, query: str, field: str
) -> None:
    body = is_problem(http.get(f"/api/v1/payments{query}", headers=client.headers), 422)

    assert field in [e["field"] for e in body["errors"]]


# -- attempts ------------------------------------------------------------------------------------


def test_an_attempt_answers_201_with_a_redirect_to_the_provider(
    http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts",
        json={"provider": "sandbox"},
        headers=client.headers,
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("att_")
    assert body["provider"] == "sandbox"
    assert body["status"] == "pending"
    assert body["amount"] == 150_000
    assert body["redirect_url"].startswith(f"{base_url}/sandbox/pay?")
    assert f"reference={body['provider_reference']}" in body["redirect_url"]
    payment_now = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert payment_now["status"] == "pending"
    assert payment_now["attempts"] == [body]


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_answers_200_with_the_cancelled_payment_and_tells_the_portal(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    start_attempt(http, client, payment["id"])

    response = http.post(
        f"/api/v1/payments/{payment['id']}/cancel",
        json={"reason": "hồ sơ rút"},
        headers=client.headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "cancelled"
    assert [a["status"] for a in body["attempts"]] == ["cancelled"]
    assert outbox_types(gw, payment["id"]) == ["payment.cancelled"]
    (note,) = outbox(gw, payment["id"])
    assert note.payload["data"]["payment"] == body  # what GET answers, as CONTRACT.md says
    assert body == http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()


def test_cancelling_twice_answers_the_cancelled_payment_and_tells_the_portal_once(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)
    http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    again = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    assert again.status_code == 200
    assert again.get_json()["status"] == "cancelled"
    assert outbox_types(gw, payment["id"]) == ["payment.cancelled"]


def test_a_cancelled_payment_takes_no_new_attempt(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)
    http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts",
        json={"provider": "sandbox"},
        headers=client.headers,
    )

    assert is_problem(response, 409)["type"].endswith("/invalid-state")


def test_a_paid_payment_cannot_be_cancelled(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client)
    pay_through_sandbox(base_url, payment["id"], "pay")

    response = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    body = is_problem(response, 409)
    assert "succeeded" in body["detail"]
    assert (
        http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()["status"]
        == "succeeded"
    )
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_a_failed_payment_can_still_be_cancelled(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client)
    pay_through_sandbox(base_url, payment["id"], "fail")

    response = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert outbox_types(gw, payment["id"]) == ["payment.cancelled", "payment.failed"]
