"""Bad input gets an RFC 9457 problem (type, title, status, detail, errors[]), never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.models import Payment
from payments.services.gateway import Gateway
from tests.factories import (
    ApiClient,
    Clock,
    create_payment,
    make_api_client,
    make_procedure,
    payment_body,
)
from tests.flow import count

MISSING = object()


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert isinstance(body["type"], str) and body["type"].startswith("https://")
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"}
        assert error["message"]
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


def post(http: FlaskClient, client: ApiClient, body: Any) -> Any:
    return http.post("/api/v1/payments", json=body, headers=client.headers)


# -- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        MISSING,
        None,
        0,
        -1,
        -150_000,
        1.5,
        150_000.0,
        "150000",
        "150.000",
        True,
        False,
        [150_000],
        {"value": 150_000},
        100_000_000_001,
    ],
    ids=lambda v: "missing" if v is MISSING else repr(v),
)
def test_an_amount_that_is_not_a_positive_integer_of_dong_is_refused(
    gw: Gateway, http: FlaskClient, client: ApiClient, amount: Any
) -> None:
    body = payment_body()
    if amount is MISSING:
        del body["amount"]
    else:
        body["amount"] = amount

    answer = problem(post(http, client, body), 422)

    assert fields(answer) == ["amount"]
    assert answer["type"].endswith("/validation-error")
    assert count(gw, Payment) == 0


def test_a_fractional_amount_is_explained_in_dong(http: FlaskClient, client: ApiClient) -> None:
    answer = problem(post(http, client, payment_body(amount=150_000.0)), 422)

    assert answer["errors"] == [{"field": "amount", "message": "must be an integer number of đồng"}]


def test_a_missing_amount_says_it_is_required(http: FlaskClient, client: ApiClient) -> None:
    body = payment_body()
    del body["amount"]

    answer = problem(post(http, client, body), 422)

    assert answer["errors"] == [{"field": "amount", "message": "is required"}]


@pytest.mark.parametrize("field", ["reference", "procedure_code", "return_url"])
def test_each_required_field_is_named_when_missing(
    http: FlaskClient, client: ApiClient, field: str
) -> None:
    body = payment_body()
    del body[field]

    assert fields(problem(post(http, client, body), 422)) == [field]


def test_every_problem_of_a_body_is_listed_at_once(http: FlaskClient, client: ApiClient) -> None:
    answer = problem(post(http, client, {"amount": -1, "payer": {"email": "not an email"}}), 422)

    assert {
        "reference",
        "procedure_code",
        "return_url",
        "amount",
        "payer.name",
        "payer.email",
    } <= set(fields(answer))


def test_an_unknown_field_is_refused(http: FlaskClient, client: ApiClient) -> None:
    answer = problem(post(http, client, payment_body(amount_vnd=150_000)), 422)

    assert answer["errors"] == [{"field": "amount_vnd", "message": "is not a known field"}]


# -- fee items --------------------------------------------------------------------------------


def test_fee_items_that_do_not_add_up_to_the_amount_are_refused(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    items = [
        {"name": "Phí", "kind": "fee", "amount": 100_000},
        {"name": "Lệ phí", "kind": "charge", "amount": 40_000},
    ]

    answer = problem(post(http, client, payment_body(fee_items=items)), 422)

    assert fields(answer) == ["fee_items"]
    assert "140000" in answer["errors"][0]["message"]
    assert count(gw, Payment) == 0


@pytest.mark.parametrize(
    "item",
    [
        {"name": "Phí", "kind": "tax", "amount": 150_000},
        {"name": "Phí", "kind": "fee", "amount": -1},
        {"name": "Phí", "kind": "fee", "amount": 150_000.5},
        {"name": "", "kind": "fee", "amount": 150_000},
        {"kind": "fee", "amount": 150_000},
    ],
)
def test_a_malformed_fee_item_is_refused(
    http: FlaskClient, client: ApiClient, item: dict[str, Any]
) -> None:
    answer = problem(post(http, client, payment_body(fee_items=[item])), 422)

    assert all(f.startswith("fee_items.0") for f in fields(answer))


def test_an_amount_other_than_the_catalog_fees_is_refused(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    make_procedure(gw, code="2.000488", fees=(("Phí cung cấp thông tin", "fee", 200_000),))

    answer = problem(
        post(http, client, payment_body(procedure_code="2.000488", amount=150_000)), 422
    )

    assert fields(answer) == ["amount"]
    assert "200000" in answer["errors"][0]["message"]


def test_a_procedure_without_online_payment_is_refused(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    make_procedure(gw, code="2.000489", fees=(("Phí", "fee", 150_000),), online=False)

    answer = problem(post(http, client, payment_body(procedure_code="2.000489")), 422)

    assert fields(answer) == ["procedure_code"]


# -- agency -----------------------------------------------------------------------------------


@pytest.mark.parametrize("agency", ["000.00.02.H32", "G01.999.H32", "UNKNOWN"])
def test_an_agency_the_client_may_not_act_for_is_403(
    gw: Gateway, http: FlaskClient, client: ApiClient, agency: str
) -> None:
    make_api_client(gw, agencies=("000.00.02.H32",), name="a portal of another agency")

    answer = problem(post(http, client, payment_body(agency_code=agency)), 403)

    assert answer["type"].endswith("/forbidden")
    assert agency in answer["detail"]
    assert count(gw, Payment) == 0


def test_a_client_of_several_agencies_must_say_which(gw: Gateway, http: FlaskClient) -> None:
    client = make_api_client(gw, agencies=("000.00.01.H32", "000.00.02.H32"))
    body = payment_body()
    del body["agency_code"]

    assert fields(problem(post(http, client, body), 422)) == ["agency_code"]


# -- return_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/ho-so/1",
        "https://portal.example.gov.vn.evil.example/x",
        "https://portal.example.gov.vn@evil.example/x",
        "https://evil.example/?next=https://portal.example.gov.vn/",
        "ftp://portal.example.gov.vn/ho-so",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "//portal.example.gov.vn/ho-so",
        "/ho-so/1",
        "portal.example.gov.vn/ho-so",
        "https://",
    ],
)
def test_a_return_url_off_the_clients_hosts_or_not_http_is_422(
    gw: Gateway, http: FlaskClient, client: ApiClient, url: str
) -> None:
    answer = problem(post(http, client, payment_body(return_url=url)), 422)

    assert fields(answer) == ["return_url"]
    assert count(gw, Payment) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.example.gov.vn/ho-so/1?tab=2",
        "http://PORTAL.example.gov.vn:8443/x",
        "http://127.0.0.1:5000/back",
    ],
)
def test_a_return_url_on_a_registered_host_is_accepted(
    http: FlaskClient, client: ApiClient, url: str
) -> None:
    assert create_payment(http, client, return_url=url)["return_url"] == url


# -- the body itself --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"reference": "HS-1", "amount": ',
        b"{'reference': 'HS-1'}",
        b"not json",
        b"\xff\xfe\x00",
        b'{"amount": 150000,}',
        b"",
        b"[" * 100_000,
        b'{"metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
    ids=lambda raw: repr(raw[:24]) + (f"...({len(raw)} bytes)" if len(raw) > 24 else ""),
)
def test_a_body_that_is_not_json_is_a_400_problem(
    http: FlaskClient, client: ApiClient, raw: bytes
) -> None:
    response = http.post(
        "/api/v1/payments", data=raw, content_type="application/json", headers=client.headers
    )

    answer = problem(response, 400)
    assert fields(answer) == ["body"]
    assert answer["type"].endswith("/malformed-body")


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        (b"NaN", 400, "body"),  # Python's json reads these; JSON (RFC 8259) has no such value
        (b"Infinity", 400, "body"),
        (b"-Infinity", 400, "body"),
        (b"0x249F0", 400, "body"),
        (b"150_000", 400, "body"),
        (b"1e5", 422, "amount"),  # JSON numbers, but not integers of đồng
        (b"150000.00", 422, "amount"),
    ],
)
def test_an_amount_in_another_json_spelling_is_not_an_integer(
    http: FlaskClient, client: ApiClient, raw: bytes, status: int, field: str
) -> None:
    body = json.dumps(payment_body(amount=0)).encode().replace(b'"amount": 0', b'"amount": ' + raw)

    response = http.post(
        "/api/v1/payments", data=body, content_type="application/json", headers=client.headers
    )

    assert fields(problem(response, status)) == [field]


def test_a_body_over_the_size_limit_is_a_413_problem(http: FlaskClient, client: ApiClient) -> None:
    huge = json.dumps(payment_body(description="x" * 2_000_000))

    response = http.post(
        "/api/v1/payments", data=huge, content_type="application/json", headers=client.headers
    )

    problem(response, 413)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reference": "HS\x00-1"}, "reference"),
        ({"description": "\x00"}, "description"),
        ({"payer": {"name": "Nguyễn\x00"}}, "payer.name"),
        ({"metadata": {"k": "v\x00"}}, "metadata.k"),
        ({"metadata": {"k\x00": "v"}}, "metadata.k\\u0000"),
        (
            {"fee_items": [{"name": "Phí\x00", "kind": "fee", "amount": 150_000}]},
            "fee_items.0.name",
        ),
    ],
    ids=["reference", "description", "payer", "metadata-value", "metadata-key", "fee-item"],
)
def test_a_nul_character_in_a_body_is_a_422_problem_naming_the_field(
    gw: Gateway, http: FlaskClient, client: ApiClient, overrides: dict[str, Any], field: str
) -> None:
    """PostgreSQL text cannot hold NUL: refused at the edge rather than a database error."""
    answer = problem(post(http, client, payment_body(**overrides)), 422)

    assert fields(answer) == [field]
    assert count(gw, Payment) == 0


def test_a_nul_character_in_a_payment_id_or_a_query_is_refused(
    http: FlaskClient, client: ApiClient
) -> None:
    problem(http.get("/api/v1/payments/pay_%00x", headers=client.headers), 404)
    problem(http.post("/api/v1/payments/pay_%00x/cancel", headers=client.headers), 404)
    answer = problem(http.get("/api/v1/payments?reference=HS%001", headers=client.headers), 422)
    assert fields(answer) == ["reference"]


def test_a_nul_character_still_needs_a_key_first(http: FlaskClient, client: ApiClient) -> None:
    problem(http.get("/api/v1/payments/pay_%00x"), 401)


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"payment"', b"150000", b"null", b"true"])
def test_json_that_is_not_an_object_is_a_400_problem(
    http: FlaskClient, client: ApiClient, raw: bytes
) -> None:
    response = http.post(
        "/api/v1/payments", data=raw, content_type="application/json", headers=client.headers
    )

    assert problem(response, 400)["errors"] == [{"field": "body", "message": "must be an object"}]


def test_a_form_encoded_body_is_a_415_problem(http: FlaskClient, client: ApiClient) -> None:
    response = http.post("/api/v1/payments", data={"amount": "150000"}, headers=client.headers)

    assert fields(problem(response, 415)) == ["Content-Type"]


def test_an_unknown_route_under_the_api_is_a_404_problem(
    http: FlaskClient, client: ApiClient
) -> None:
    problem(http.get("/api/v1/nothing-here", headers=client.headers), 404)


def test_a_wrong_method_is_a_405_problem(http: FlaskClient, client: ApiClient) -> None:
    problem(http.delete("/api/v1/payments", headers=client.headers), 405)


# -- attempts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"provider": "paypal"}, {"provider": ""}, {"provider": 1}, {}])
def test_an_unknown_provider_is_a_422_problem(
    http: FlaskClient, client: ApiClient, body: dict[str, Any]
) -> None:
    payment = create_payment(http, client)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts", json=body, headers=client.headers
    )

    assert fields(problem(response, 422)) == ["provider"]


def test_a_provider_that_is_not_configured_is_a_422_problem(
    http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts",
        json={"provider": "vnpay"},
        headers=client.headers,
    )

    answer = problem(response, 422)
    assert answer["type"].endswith("/provider-not-available")
    assert (
        http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()["attempts"]
        == []
    )


def test_an_attempt_on_an_expired_payment_is_409(
    http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    payment = create_payment(http, client)
    clock.advance(minutes=60)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts",
        json={"provider": "sandbox"},
        headers=client.headers,
    )

    answer = problem(response, 409)
    assert answer["type"].endswith("/invalid-state")
    assert "expired" in answer["detail"]
    seen = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert (seen["status"], seen["attempts"]) == ("created", [])


def test_an_attempt_a_minute_before_expiry_is_still_accepted(
    http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    payment = create_payment(http, client)
    clock.advance(minutes=59)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/attempts",
        json={"provider": "sandbox"},
        headers=client.headers,
    )

    assert response.status_code == 201


def test_a_malformed_cancel_body_is_a_422_problem(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)

    response = http.post(
        f"/api/v1/payments/{payment['id']}/cancel", json={"reason": 42}, headers=client.headers
    )

    assert fields(problem(response, 422)) == ["reason"]
