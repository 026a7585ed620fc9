"""An exempt dossier (every fee line 0): recorded, settled, never payable, never counted.

Decision 766's indicator 3.6 leaves dossiers whose every fee line is zero out of both
sides of the online share; the portal may still report them (issue 7), so the create
route takes `amount` 0 when, and only when, every fee line it names or the catalog holds
is 0.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from payments.models import Attempt, Outbox, Payment, PaymentEvent
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client, make_procedure

EXEMPT_LINES = [
    {"name": "Phí thẩm định (miễn cho hộ nghèo)", "kind": "fee", "amount": 0},
    {"name": "Lệ phí cấp giấy", "kind": "charge", "amount": 0},
]


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


def post(http: FlaskClient, client: ApiClient, **body: Any) -> Any:
    from tests.factories import payment_body

    return http.post("/api/v1/payments", json=payment_body(**body), headers=client.headers)


def test_an_exempt_dossier_is_recorded_settled(http: FlaskClient, gw: Gateway,
                                               client: ApiClient) -> None:
    payment = create_payment(http, client, amount=0, fee_items=EXEMPT_LINES)

    assert (payment["status"], payment["amount"]) == ("succeeded", 0)
    assert [item["amount"] for item in payment["fee_items"]] == [0, 0]
    assert http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers
                    ).get_json()["status"] == "succeeded"
    with gw.sessions() as session:
        events = session.scalars(select(PaymentEvent).where(
            PaymentEvent.payment_id == payment["id"]).order_by(PaymentEvent.id)).all()
        outbox = session.scalars(select(Outbox.type).where(
            Outbox.payment_id == payment["id"])).all()
    assert [(e.kind, e.to_status) for e in events] == [
        ("payment.created", "created"), ("payment.status", "succeeded")]
    assert events[1].detail == {"exempt": True}
    assert outbox == ["payment.succeeded"]  # the portal hears it like any settled dossier


def test_nothing_can_be_paid_or_refunded_on_it(http: FlaskClient, gw: Gateway,
                                               client: ApiClient) -> None:
    payment = create_payment(http, client, amount=0, fee_items=EXEMPT_LINES)

    attempt = http.post(f"/api/v1/payments/{payment['id']}/attempts",
                        json={"provider": "sandbox"}, headers=client.headers)
    refund = http.post(f"/api/v1/payments/{payment['id']}/refunds",
                       json={"amount": 1, "reason": "x"}, headers=client.headers)

    assert attempt.status_code == 409
    assert refund.status_code in (409, 422)
    with gw.sessions() as session:
        assert session.scalars(select(Attempt)).all() == []


def test_the_checkout_page_says_there_is_nothing_to_pay(http: FlaskClient,
                                                        client: ApiClient) -> None:
    payment = create_payment(http, client, amount=0, fee_items=EXEMPT_LINES)

    page = http.get(f"/pay/{payment['id']}").get_data(as_text=True)

    assert "miễn phí, lệ phí — không phải thanh toán" in page
    assert "0 ₫" in page
    assert "Thanh toán qua" not in page  # no provider button


def test_catalog_fees_of_zero_make_a_dossier_exempt(http: FlaskClient, gw: Gateway,
                                                    client: ApiClient) -> None:
    make_procedure(gw, code="1.004227", fees=(("Lệ phí", "charge", 0),), online=False)

    payment = create_payment(http, client, procedure_code="1.004227", amount=0)

    assert payment["status"] == "succeeded"
    assert [(i["name"], i["amount"]) for i in payment["fee_items"]] == [("Lệ phí", 0)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),  # no fee line says it is exempt
        ({"amount": 0, "fee_items": []}, "amount"),
        ({"amount": 0, "fee_items": [{"name": "Phí", "kind": "fee", "amount": 50_000}]},
         "fee_items"),
    ],
    ids=["no-lines", "empty-lines", "lines-not-zero"],
)
def test_a_zero_amount_without_zero_lines_is_refused(http: FlaskClient, gw: Gateway,
                                                     client: ApiClient, body: dict[str, Any],
                                                     field: str) -> None:
    answer = post(http, client, **body)

    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert [e["field"] for e in answer.get_json()["errors"]] == [field]
    with gw.sessions() as session:
        assert session.scalars(select(Payment)).all() == []


def test_a_catalogued_fee_above_zero_is_not_exempt(http: FlaskClient, gw: Gateway,
                                                   client: ApiClient) -> None:
    make_procedure(gw, code="2.000488")  # 200 000 đồng in force

    answer = post(http, client, procedure_code="2.000488", amount=0)

    assert answer.status_code == 422
    assert [e["field"] for e in answer.get_json()["errors"]] == ["amount"]


def test_the_online_share_leaves_exempt_dossiers_out(http: FlaskClient, gw: Gateway,
                                                     client: ApiClient) -> None:
    counter = {"method": "cash", "receipt_no": "BL-0001", "paid_at": "2026-11-20T09:00:00+07:00"}
    create_payment(http, client, reference="HS-1", counter=counter)
    create_payment(http, client, reference="HS-2", amount=0, fee_items=EXEMPT_LINES)
    create_payment(http, client, reference="HS-3", amount=0, fee_items=EXEMPT_LINES,
                   counter={**counter, "receipt_no": "BL-0002"})

    for basis in ("paid_at", "received_at"):
        body = http.get(f"/api/v1/reports/online-share?from=2026-01-01&to=2026-12-31"
                        f"&basis={basis}", headers=client.headers).get_json()
        totals = body["totals"]
        assert (totals["paid_count"], totals["counter_count"], totals["paid_amount"]) \
            == (1, 1, 150_000), basis
