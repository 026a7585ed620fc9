"""The ZaloPay simulator speaks ZaloPay's wire format: the real adapter drives it end to end.

The adapter's HTTP calls are routed by `responses` into a minimal Flask app that mounts the
simulator, and the simulator's callback POST to feegate is captured by `responses` too, so
each test sees both directions exactly as they would travel.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient

from adapters.base import (
    InboundRequest,
    Outcome,
    QueryRequest,
    RefundOutcome,
    RefundRequest,
    StartResult,
)
from adapters.errors import ProviderRejected
from adapters.zalopay import (
    ZalopayAdapter,
    ZalopayConfig,
    app_trans_id,
    create_mac_data,
    embed_data_json,
    epoch_ms,
    sign,
)
from simulators.zalopay import create_blueprint, format_vnd
from tests.adapters.contract import make_start_request

KEY1 = "TESTKEY1ZALOPAY0000000000000001"
KEY2 = "TESTKEY2ZALOPAY0000000000000002"
SIM = "http://localhost/_sim/zalopay"
CALLBACK_URL = "https://feegate.example.gov.vn/webhooks/zalopay"
RETURN_URL = "https://feegate.example.gov.vn/pay/return/zalopay"
CONFIG = ZalopayConfig(app_id="2553", key1=KEY1, key2=KEY2, endpoint=SIM)


@dataclass
class Clock:
    now: datetime = datetime(2027, 12, 31, 16, 45, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sim:
    app: Flask
    client: FlaskClient
    http: responses.RequestsMock
    clock: Clock
    adapter: ZalopayAdapter

    def callbacks(self) -> list[Any]:
        return [c for c in self.http.calls if c.request.url == CALLBACK_URL]

    def start(self, reference: str = "FG7ABCDEFGH2JKLMN", amount: int = 150_000) -> StartResult:
        now = self.clock.now
        return self.adapter.start(
            make_start_request(
                reference=reference,
                amount=amount,
                now=now,
                expires_at=now + timedelta(minutes=30),
                return_url=RETURN_URL,
                notify_url=CALLBACK_URL,
            )
        )

    def page_path(self, started: StartResult) -> str:
        assert started.redirect_url is not None
        return urlsplit(started.redirect_url).path

    def press(self, started: StartResult, action: str, *, no_callback: bool = False) -> Any:
        form = {"action": action}
        if no_callback:
            form["no_callback"] = "1"
        return self.client.post(self.page_path(started), data=form)

    def query(self, started: StartResult) -> Any:
        return self.adapter.query(
            QueryRequest(
                provider_reference=started.provider_reference,
                reference="FG7ABCDEFGH2JKLMN",
                amount=150_000,
                created_at=self.clock.now,
                now=self.clock.now,
                request_id="RQ1",
            )
        )


def route_into(client: FlaskClient) -> Any:
    """A `responses` callback that hands an HTTP request to the Flask app and returns its answer."""

    def handler(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(request.url or "")
        path = url.path + ("?" + url.query if url.query else "")
        answer = client.open(
            path,
            method=request.method or "POST",
            data=request.body,
            headers={"Content-Type": request.headers.get("Content-Type", "")},
        )
        return answer.status_code, {"Content-Type": answer.content_type}, answer.get_data()

    return handler


@pytest.fixture
def sim() -> Iterator[Sim]:
    clock = Clock()
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(CONFIG, clock=clock), url_prefix="/_sim/zalopay")
    client = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.add_callback(responses.POST, re.compile(re.escape(SIM) + "/.*"), route_into(client))
        http.post(CALLBACK_URL, json={"return_code": 1, "return_message": "success"})
        yield Sim(app, client, http, clock, ZalopayAdapter(CONFIG))


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(RETURN_URL + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def test_create_pay_and_the_callback_verifies_with_the_adapter_as_success(sim: Sim) -> None:
    started = sim.start()
    assert started.redirect_url is not None
    assert started.redirect_url.startswith(SIM + "/pay/")
    assert started.qr_payload == started.redirect_url

    response = sim.press(started, "pay")

    [callback] = sim.callbacks()
    assert callback.request.headers["Content-Type"] == "application/json"
    assert json.loads(callback.request.body)["type"] == 1
    result = sim.adapter.parse_callback(InboundRequest(method="POST", body=callback.request.body))
    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == 150_000
    assert result.provider_reference == started.provider_reference
    assert result.provider_txn_id is not None
    assert callback.request.req_kwargs["timeout"] == 10.0

    back = sim.adapter.parse_return(InboundRequest(method="GET", query=redirect_query(response)))
    assert back.outcome is Outcome.SUCCEEDED
    assert back.provider_reference == started.provider_reference
    assert back.amount == 150_000

    queried = sim.query(started)
    assert queried.outcome is Outcome.SUCCEEDED
    assert queried.amount == 150_000
    assert queried.provider_txn_id == result.provider_txn_id


def test_the_callback_data_carries_the_orders_embed_data_and_item_verbatim(sim: Sim) -> None:
    started = sim.start()
    sim.press(started, "pay")
    [callback] = sim.callbacks()
    data = json.loads(json.loads(callback.request.body)["data"])
    assert data["app_id"] == 2553
    assert data["app_trans_id"] == started.provider_reference
    assert json.loads(data["embed_data"])["redirecturl"] == RETURN_URL
    assert data["item"] == "[]"


def test_the_payment_page_is_vietnamese_and_shows_the_amount_in_dong(sim: Sim) -> None:
    started = sim.start(amount=1_250_000)
    page = sim.client.get(sim.page_path(started))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'lang="vi"' in html and 'name="viewport"' in html
    assert "1.250.000 ₫" in html
    assert "Thanh toán" in html and "Huỷ giao dịch" in html and "no_callback" in html
    assert "<link" not in html and "<script" not in html  # nothing fetched from a CDN


def test_format_vnd_groups_thousands_with_dots() -> None:
    assert format_vnd(150_000) == "150.000 ₫"
    assert format_vnd(500) == "500 ₫"


def test_never_call_back_sends_nothing_but_query_reports_paid(sim: Sim) -> None:
    started = sim.start()
    response = sim.press(started, "pay", no_callback=True)
    assert response.status_code == 302
    assert sim.callbacks() == []
    assert sim.query(started).outcome is Outcome.SUCCEEDED


def test_fail_sends_no_callback_and_redirects_with_a_failed_status(sim: Sim) -> None:
    started = sim.start()
    params = redirect_query(sim.press(started, "fail"))
    assert sim.callbacks() == []
    assert params["status"] == "2"
    back = sim.adapter.parse_return(InboundRequest(method="GET", query=params))
    assert back.outcome is Outcome.FAILED
    assert sim.query(started).outcome is Outcome.FAILED


def test_cancel_sends_no_callback_and_redirects_with_status_minus_49(sim: Sim) -> None:
    started = sim.start()
    params = redirect_query(sim.press(started, "cancel"))
    assert sim.callbacks() == []
    assert params["status"] == "-49"
    assert sim.adapter.parse_return(InboundRequest(method="GET", query=params)).outcome is (
        Outcome.FAILED
    )
    assert sim.query(started).outcome is Outcome.CANCELLED


def test_an_unpaid_order_queries_as_pending_then_failed_once_expired(sim: Sim) -> None:
    started = sim.start()
    assert sim.query(started).outcome is Outcome.PENDING
    sim.clock.now += timedelta(minutes=31)
    assert sim.query(started).outcome is Outcome.FAILED
    assert sim.press(started, "pay").status_code == 410
    assert sim.callbacks() == []


def test_an_order_the_simulator_never_saw_queries_as_unknown(sim: Sim) -> None:
    started = StartResult(provider_reference=app_trans_id(sim.clock.now, "NEVERCREATED"))
    assert sim.query(started).outcome is Outcome.UNKNOWN


def test_a_create_with_a_bad_mac_is_refused_and_stores_nothing(sim: Sim) -> None:
    wrong = ZalopayAdapter(replace(CONFIG, key1="NOT-THE-KEY"))
    with pytest.raises(ProviderRejected) as raised:
        wrong.start(make_start_request(now=sim.clock.now, notify_url=CALLBACK_URL))
    assert raised.value.code == "-402"
    never_stored = StartResult(provider_reference=app_trans_id(sim.clock.now, "FG7ABCDEFGH2JKLMN"))
    assert sim.query(never_stored).outcome is Outcome.UNKNOWN


def test_a_create_whose_signed_field_was_changed_is_refused(sim: Sim) -> None:
    fields = sim.adapter.create_fields(make_start_request(now=sim.clock.now))
    fields["amount"] = "1000"
    answer = sim.client.post("/_sim/zalopay/v2/create", data=fields).get_json()
    assert answer["return_code"] == 2
    assert answer["sub_return_code"] == -402


def test_a_query_with_a_bad_mac_is_refused(sim: Sim) -> None:
    started = sim.start()
    answer = sim.client.post(
        "/_sim/zalopay/v2/query",
        data={"app_id": "2553", "app_trans_id": started.provider_reference, "mac": "00" * 32},
    ).get_json()
    assert (answer["return_code"], answer["sub_return_code"]) == (2, -402)


def test_a_reused_app_trans_id_is_refused_as_a_duplicate(sim: Sim) -> None:
    sim.start()
    with pytest.raises(ProviderRejected) as raised:
        sim.start()
    assert raised.value.code == "-68"


def test_create_accepts_a_json_body_like_the_sdk(sim: Sim) -> None:
    now = sim.clock.now
    body: dict[str, Any] = {
        "app_id": 2553,
        "app_user": "citizen_001",
        "app_trans_id": app_trans_id(now, "JSON0001"),
        "app_time": epoch_ms(now),
        "amount": 150_000,
        "description": "DVC - Thanh toan le phi",
        "item": "[]",
        "embed_data": embed_data_json(RETURN_URL),
        "bank_code": "",
        "callback_url": CALLBACK_URL,
    }
    body["mac"] = sign(
        KEY1,
        create_mac_data(
            "2553",
            body["app_trans_id"],
            body["app_user"],
            150_000,
            body["app_time"],
            body["embed_data"],
            body["item"],
        ),
    )
    answer = sim.client.post("/_sim/zalopay/v2/create", json=body).get_json()
    assert answer["return_code"] == 1
    assert answer["order_url"].startswith(SIM + "/pay/")


def test_create_accepts_the_quickstarts_query_string_request(sim: Sim) -> None:
    vectors = json.loads((Path(__file__).parent / "vectors" / "zalopay.json").read_text("utf-8"))
    [quickstart] = [v for v in vectors["vectors"] if v["id"] == "zalopay.create.quickstart"]
    uri = quickstart["expected"]["request_uri_as_sent"]
    answer = sim.client.post(
        "/_sim/zalopay" + uri, content_type="application/x-www-form-urlencoded"
    ).get_json()
    assert answer["return_code"] == 1


def test_a_callback_answered_with_return_code_0_is_sent_again_at_most_three_times(
    sim: Sim,
) -> None:
    sim.http.replace(responses.POST, CALLBACK_URL, json={"return_code": 0})
    sim.press(sim.start(), "pay")
    bodies = {c.request.body for c in sim.callbacks()}
    assert len(sim.callbacks()) == 4
    assert len(bodies) == 1


def test_a_callback_answered_with_minus_1_is_not_sent_again(sim: Sim) -> None:
    sim.http.replace(responses.POST, CALLBACK_URL, json={"return_code": -1})
    sim.press(sim.start(), "pay")
    assert len(sim.callbacks()) == 1


def test_an_unreachable_callback_url_still_sends_the_citizen_back(sim: Sim) -> None:
    sim.http.replace(responses.POST, CALLBACK_URL, body=requests.ConnectionError())
    started = sim.start()
    assert sim.press(started, "pay").status_code == 302
    assert sim.query(started).outcome is Outcome.SUCCEEDED


def test_paying_twice_calls_back_once(sim: Sim) -> None:
    started = sim.start()
    sim.press(started, "pay")
    second = sim.press(started, "pay")
    assert second.status_code == 302
    assert len(sim.callbacks()) == 1


def test_concurrent_presses_of_pay_make_one_payment_and_one_callback(sim: Sim) -> None:
    started = sim.start()
    path = sim.page_path(started)
    statuses: list[int] = []

    def press() -> None:
        client = sim.app.test_client()
        statuses.append(client.post(path, data={"action": "pay"}).status_code)

    threads = [threading.Thread(target=press) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * 8
    assert len(sim.callbacks()) == 1


def test_a_refund_is_processing_then_done_when_queried(sim: Sim) -> None:
    started = sim.start()
    sim.press(started, "pay")
    paid = sim.query(started)
    request = RefundRequest(
        refund_reference="RF0001",
        request_id="RQRF1",
        provider_reference=started.provider_reference,
        provider_txn_id=paid.provider_txn_id,
        amount=50_000,
        original_amount=150_000,
        reason="Hoàn một phần lệ phí",
        attempt_created_at=sim.clock.now,
        now=sim.clock.now,
    )
    first = sim.adapter.refund(request)
    assert first.outcome is RefundOutcome.PENDING
    assert first.extra["m_refund_id"].endswith("_2553_RF0001")
    assert sim.adapter.query_refund(request, first).outcome is RefundOutcome.SUCCEEDED
    again = sim.adapter.refund(request)
    assert again.outcome is RefundOutcome.SUCCEEDED  # same m_refund_id: no second refund

    too_much = replace(request, refund_reference="RF0002", amount=100_001)
    assert sim.adapter.refund(too_much).outcome is RefundOutcome.FAILED


def test_a_refund_of_an_unpaid_order_fails(sim: Sim) -> None:
    request = RefundRequest(
        refund_reference="RF0009",
        request_id="RQRF9",
        provider_reference="x",
        provider_txn_id="240501000000999",
        amount=1_000,
        original_amount=1_000,
        reason="Hoàn tiền",
        attempt_created_at=sim.clock.now,
        now=sim.clock.now,
    )
    assert sim.adapter.refund(request).outcome is RefundOutcome.FAILED
