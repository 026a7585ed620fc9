"""Strict request bodies: one reading of each body, the same as any other JSON parser's.

Every JSON POST of the API reads its body through one function (payments.web.api.raw_json):
- 415 for a body that is not `application/json` (or `application/*+json`, charset utf-8);
- 400 for bytes that are not one JSON object: invalid UTF-8, malformed JSON, a key twice,
  an unpaired surrogate, a top level that is not an object, nothing sent;
- 422 for a body that breaks the schema: `paid_at` an RFC 3339 string with an offset
  (not a number) between 2000 and now, amounts integers of đồng (not floats, booleans or
  strings), dates `YYYY-MM-DD` strings;
and query dates that cannot be converted (year 1, year 9999) are a 422 naming the field.
All answers are problem+json with a `detail` that says what to fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.models import Attempt, Payment
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client, payment_body
from tests.flow import count

PAID_AT = "2026-11-26T09:30:00+07:00"  # the tests' clock: 2026-11-26 10:00 in Vietnam


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """The answer is an RFC 9457 problem of `status` whose detail mentions each word."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"]
    for word in words:
        assert word.lower() in body["detail"].lower(), body
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"} and error["message"]
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


def send(http: FlaskClient, client: ApiClient, raw: bytes | str, path: str = "/api/v1/payments",
         content_type: str | None = "application/json", **headers: str) -> Any:
    if isinstance(raw, str):
        raw = raw.encode()
    all_headers = {**client.headers, **headers}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return http.post(path, data=raw, headers=all_headers)


def body_text(**overrides: Any) -> str:
    return json.dumps(payment_body(**overrides), ensure_ascii=False)


def with_second(text: str, key: str, value: Any) -> str:
    """`text` (a JSON object) with `key` given once more at its end."""
    return text[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"


# -- duplicated keys: 400 -------------------------------------------------------------------


def test_an_amount_given_twice_is_a_400_and_creates_nothing(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    raw = with_second(body_text(amount=150_000), "amount", 1_000)

    answer = problem(send(http, client, raw), 400, "appears twice")

    assert answer["type"].endswith("/malformed-body")
    assert '"amount"' in answer["detail"]
    assert count(gw, Payment) == 0


def test_a_return_url_good_then_evil_is_a_400(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    raw = with_second(body_text(), "return_url", "https://evil.example/steal")

    answer = problem(send(http, client, raw), 400, "return_url", "twice")

    assert fields(answer) == ["body"]
    assert count(gw, Payment) == 0


def test_a_key_twice_in_a_nested_object_is_a_400(http: FlaskClient, client: ApiClient) -> None:
    raw = body_text().replace('"payer": {"name": "Nguyễn Văn A"',
                              '"payer": {"name": "Nguyễn Văn A", "name": "Trần Thị B"')
    assert raw.count('"name"') == 2

    problem(send(http, client, raw), 400, '"name" appears twice')


def test_the_same_key_in_two_objects_is_not_a_duplicate(
    http: FlaskClient, client: ApiClient
) -> None:
    items = [{"name": "Phí", "kind": "fee", "amount": 100_000},
             {"name": "Lệ phí", "kind": "charge", "amount": 50_000}]

    response = send(http, client, body_text(fee_items=items))

    assert response.status_code == 201, response.get_json()


def test_a_refused_body_does_not_use_up_the_idempotency_key(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    """400/415 are answered before the key is claimed: the corrected body may use it."""
    key = {"Idempotency-Key": "strict-1"}
    problem(send(http, client, with_second(body_text(), "amount", 1), **key), 400)
    problem(send(http, client, body_text(), content_type="text/plain", **key), 415)

    response = send(http, client, body_text(), **key)

    assert response.status_code == 201, response.get_json()
    assert count(gw, Payment) == 1


# -- encoding and syntax: 400 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"reference": "HS-\xff1"}',  # not UTF-8 at all
        b'{"reference": "\xc3("}',  # a broken two-byte sequence
        b'{"reference": "\xed\xa0\x80"}',  # an encoded surrogate (CESU-8), not UTF-8
        '{"reference": "Nguyễn"}'.encode("utf-16"),
        '{"reference": "Nguyên"}'.encode("latin-1"),
    ],
    ids=["xff", "broken-sequence", "encoded-surrogate", "utf-16", "latin-1"],
)
def test_a_body_that_is_not_utf8_is_a_400(
    gw: Gateway, http: FlaskClient, client: ApiClient, raw: bytes
) -> None:
    answer = problem(send(http, client, raw), 400, "UTF-8")

    assert fields(answer) == ["body"]
    assert count(gw, Payment) == 0


def test_an_unpaired_surrogate_escape_is_a_400_naming_the_field(
    http: FlaskClient, client: ApiClient
) -> None:
    raw = body_text(description="PLACEHOLDER").replace("PLACEHOLDER", "Lệ phí \\ud800")

    answer = problem(send(http, client, raw), 400, "Unicode")

    assert fields(answer) == ["description"]


def test_a_surrogate_pair_escape_is_one_character_and_accepted(
    http: FlaskClient, client: ApiClient
) -> None:
    raw = body_text(description="PLACEHOLDER").replace("PLACEHOLDER", "Hồ sơ \\ud83d\\udcc4")

    response = send(http, client, raw)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["description"] == "Hồ sơ \U0001f4c4"


@pytest.mark.parametrize(
    ("raw", "word"),
    [
        (b"", "none was sent"),
        (b'{"amount": 150000,}', "not valid JSON"),
        (b'{"amount": NaN}', "NaN"),
        (b'{"amount": Infinity}', "Infinity"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark
        (b'{"amount": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
    ],
    ids=["empty", "trailing-comma", "nan", "infinity", "bom", "5000-digits", "deep"],
)
def test_malformed_json_is_a_400(
    http: FlaskClient, client: ApiClient, raw: bytes, word: str
) -> None:
    assert fields(problem(send(http, client, raw), 400, word)) == ["body"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[]", "an array"), (b'"payment"', "a string"), (b"150000", "a number"),
     (b"null", "null"), (b"true", "true or false")],
)
def test_a_top_level_that_is_not_an_object_is_a_400(
    http: FlaskClient, client: ApiClient, raw: bytes, kind: str
) -> None:
    answer = problem(send(http, client, raw), 400, "must be a JSON object", kind)

    assert answer["errors"] == [{"field": "body", "message": "must be an object"}]


# -- media types: 415 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "text/json",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        None,
    ],
    ids=lambda v: v or "no-content-type",
)
def test_a_json_body_under_another_media_type_is_a_415(
    gw: Gateway, http: FlaskClient, client: ApiClient, content_type: str | None
) -> None:
    answer = problem(send(http, client, body_text(), content_type=content_type), 415,
                     "application/json")

    assert fields(answer) == ["Content-Type"]
    assert answer["type"].endswith("/unsupported-media-type")
    assert count(gw, Payment) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/vnd.feegate.payment+json",
        "application/merge-patch+json; charset=utf-8",
    ],
)
def test_json_media_types_are_accepted(
    http: FlaskClient, client: ApiClient, content_type: str
) -> None:
    response = send(http, client, body_text(), content_type=content_type)

    assert response.status_code == 201, response.get_json()


# -- every JSON POST reads its body the same way ----------------------------------------------


ROUTES = {
    "create": ("/api/v1/payments", None),
    "attempt": ("/api/v1/payments/{id}/attempts", {"provider": "sandbox"}),
    "cancel": ("/api/v1/payments/{id}/cancel", {"reason": "portal"}),
    "refund": ("/api/v1/payments/{id}/refunds", {"amount": 150_000, "reason": "trả lại"}),
    "counter": ("/api/v1/payments/{id}/counter",
                {"method": "cash", "receipt_no": "BL-1", "paid_at": PAID_AT}),
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(
    ("breakage", "status"),
    [("duplicate-key", 400), ("invalid-utf8", 400), ("text-plain", 415), ("array", 400),
     ("truncated", 400)],
)
def test_every_json_post_refuses_a_malformed_body_alike(
    gw: Gateway, http: FlaskClient, client: ApiClient, route: str, breakage: str, status: int
) -> None:
    payment = create_payment(http, client)
    path, good = ROUTES[route]
    text = json.dumps(good if good is not None else payment_body(reference="HS-2"),
                      ensure_ascii=False)
    first_key = next(iter(json.loads(text)))
    raw, content_type = {
        "duplicate-key": (with_second(text, first_key, json.loads(text)[first_key]),
                          "application/json"),
        "invalid-utf8": (text[:-1].encode() + b', "x": "\xff"}', "application/json"),
        "text-plain": (text.encode(), "text/plain"),
        "array": (f"[{text}]".encode(), "application/json"),
        "truncated": (text[:-1].encode(), "application/json"),
    }[breakage]

    problem(send(http, client, raw, path.format(id=payment["id"]), content_type=content_type),
            status)

    assert count(gw, Payment) == 1
    assert count(gw, Attempt) == 0
    shown = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert shown["status"] == "created"


def test_cancel_without_a_body_still_cancels(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client)

    response = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "cancelled"


# -- schema types: 422 ----------------------------------------------------------------------


def counter(http: FlaskClient, client: ApiClient, payment_id: str, paid_at: Any) -> Any:
    return http.post(f"/api/v1/payments/{payment_id}/counter", headers=client.headers,
                     json={"method": "cash", "receipt_no": "BL-0001", "paid_at": paid_at})


@pytest.mark.parametrize(
    "paid_at",
    [
        1764127800,  # Unix seconds: pydantic alone would have read it as a time
        1764127800.5,
        "1764127800",
        "2026-11-26",
        "2026-11-26 09:30:00+07:00",  # a space is not RFC 3339's `T`
        "2026-11-26T09:30:00",  # no offset
        "26/11/2026 09:30",
        True,
        ["2026-11-26T09:30:00+07:00"],
    ],
    ids=repr,
)
def test_a_paid_at_that_is_not_an_rfc3339_string_is_a_422(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid_at: Any
) -> None:
    payment = create_payment(http, client)

    answer = problem(counter(http, client, payment["id"], paid_at), 422)

    assert fields(answer) == ["paid_at"]
    assert "RFC 3339" in answer["errors"][0]["message"]
    assert count(gw, Attempt) == 0


@pytest.mark.parametrize(
    "paid_at",
    [
        "0001-01-01T00:00:00+07:00",  # before UTC's year 1: no such time
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-07:00",  # after UTC's year 9999
        "9999-12-31T23:59:59Z",
        "1999-12-31T23:59:59+07:00",  # before 2000: no report reaches there
        "2026-11-26T10:05:01+07:00",  # more than 5 minutes ahead of the clock
        "2026-11-27T03:00:00Z",
    ],
)
def test_a_paid_at_out_of_range_is_a_422_not_a_500(
    gw: Gateway, http: FlaskClient, client: ApiClient, paid_at: str
) -> None:
    payment = create_payment(http, client)

    answer = problem(counter(http, client, payment["id"], paid_at), 422, "paid_at")

    assert fields(answer) == ["paid_at"]
    assert count(gw, Attempt) == 0


@pytest.mark.parametrize(
    ("paid_at", "stored"),
    [
        ("2026-11-26T10:05:00+07:00", "2026-11-26T03:05:00Z"),  # 5 minutes of skew: tolerated
        ("2000-01-01T00:00:00+07:00", "1999-12-31T17:00:00Z"),
        ("2026-11-26t02:30:00.123z", "2026-11-26T02:30:00Z"),
    ],
)
def test_a_paid_at_in_range_is_accepted_and_stored_in_utc(
    http: FlaskClient, client: ApiClient, paid_at: str, stored: str
) -> None:
    payment = create_payment(http, client)

    response = counter(http, client, payment["id"], paid_at)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["paid_at"].replace(".123000", "") == stored


def test_an_extreme_paid_at_inside_create_names_the_counter_field(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    body = payment_body(counter={"method": "cash", "receipt_no": "BL-1",
                                 "paid_at": "0001-01-01T00:00:00+07:00"})

    answer = problem(http.post("/api/v1/payments", json=body, headers=client.headers), 422)

    assert fields(answer) == ["counter.paid_at"]
    assert count(gw, Payment) == 0


def test_a_numeric_paid_at_inside_create_is_a_422(
    http: FlaskClient, client: ApiClient
) -> None:
    body = payment_body(counter={"method": "cash", "receipt_no": "BL-1", "paid_at": 1764127800})

    answer = problem(http.post("/api/v1/payments", json=body, headers=client.headers), 422)

    assert fields(answer) == ["counter.paid_at"]


@pytest.mark.parametrize("received", [20261120, "20261120", "2026-11-20T00:00:00+07:00", True])
def test_a_dossier_received_at_that_is_not_a_date_string_is_a_422(
    http: FlaskClient, client: ApiClient, received: Any
) -> None:
    body = payment_body(dossier_received_at=received)

    answer = problem(http.post("/api/v1/payments", json=body, headers=client.headers), 422)

    assert fields(answer) == ["dossier_received_at"]


@pytest.mark.parametrize("amount", [150_000.0, 1.5, True, "150000", None])
def test_a_refund_amount_must_be_an_integer_of_dong(
    http: FlaskClient, client: ApiClient, amount: Any
) -> None:
    payment = create_payment(http, client)

    answer = problem(http.post(f"/api/v1/payments/{payment['id']}/refunds",
                               json={"amount": amount, "reason": "trả lại"},
                               headers=client.headers), 422)

    assert fields(answer) == ["amount"]


@pytest.mark.parametrize("amount", [150_000.0, True, "150000"])
def test_a_fee_item_amount_must_be_an_integer_of_dong(
    http: FlaskClient, client: ApiClient, amount: Any
) -> None:
    items = [{"name": "Phí", "kind": "fee", "amount": amount}]

    answer = problem(http.post("/api/v1/payments", json=payment_body(fee_items=items),
                               headers=client.headers), 422)

    assert fields(answer) == ["fee_items.0.amount"]


# -- query dates and values: 422, never 500 -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/reports/online-share", "from=0001-01-01&to=0001-01-31", "from"),
        ("/api/v1/reports/online-share", "from=0001-01-01&to=9999-12-31", "from"),
        ("/api/v1/reports/online-share", "from=9999-12-01&to=9999-12-31", "to"),
        ("/api/v1/reports/online-share", "from=9999-12-01&to=9999-12-31&group_by=month", "to"),
        ("/api/v1/reports/online-share", "from=2026-01-01&to=+2026-12-31", "to"),
        ("/api/v1/reports/coverage", "from=0001-01-01&to=2026-01-31", "from"),
        ("/api/v1/reports/coverage", "from=9999-12-01&to=9999-12-31", "to"),
        ("/api/v1/payments", "from=0001-01-01", "from"),
        ("/api/v1/payments", "to=9999-12-31", "to"),
        ("/api/v1/payments", "from=20261126", "from"),
        ("/api/v1/payments", "to=", "to"),
        ("/api/v1/payments", "limit=", "limit"),
        ("/api/v1/payments", "limit=%D9%A5", "limit"),  # an Arabic-Indic 5
        ("/api/v1/payments", "status=", "status"),
        ("/api/v1/events", "limit=", "limit"),
        ("/api/v1/events", "status=", "status"),
    ],
)
def test_a_query_value_that_cannot_be_used_is_a_422_naming_it(
    http: FlaskClient, client: ApiClient, path: str, query: str, field: str
) -> None:
    answer = problem(http.get(f"{path}?{query}", headers=client.headers), 422)

    assert field in fields(answer)


def test_a_far_future_to_within_a_hundred_years_is_still_accepted(
    http: FlaskClient, client: ApiClient
) -> None:
    for path in ("/api/v1/reports/online-share", "/api/v1/reports/coverage"):
        response = http.get(f"{path}?from=2026-01-01&to=2125-12-31", headers=client.headers)
        assert response.status_code == 200, response.get_json()
    latest = http.get("/api/v1/reports/online-share?from=9998-01-01&to=9998-12-31"
                      "&group_by=month", headers=client.headers)
    assert latest.status_code == 200, latest.get_json()
    assert len(latest.get_json()["rows"]) in (0, 12)


def test_a_wrong_method_names_the_allowed_ones(http: FlaskClient, client: ApiClient) -> None:
    response = http.delete("/api/v1/payments", headers=client.headers)

    problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
