"""The VNPay simulator behaves like the sandbox for the adapter: every hop is verified."""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient

from adapters._crypto import hmac_sha512_hex
from adapters.base import InboundRequest, Outcome, QueryRequest, RefundOutcome, RefundRequest
from adapters.errors import InvalidSignature, ProviderUnavailable
from adapters.vnpay import VnpayAdapter, VnpayConfig, querydr_response_checksum_data
from simulators.vnpay import create_blueprint, format_vnd
from tests.adapters.contract import NOW, make_start_request

SECRET = "TESTSECRETVNPAYHASHKEY0000000001"
TMN = "TESTTMN1"
BASE = "http://localhost/_sim/vnpay"
PAY_PATH = "/_sim/vnpay/paymentv2/vpcpay.html"
API_PATH = "/_sim/vnpay/merchant_webapi/api/transaction"
CONFIG = VnpayConfig(
    tmn_code=TMN,
    hash_secret=SECRET,
    pay_url=BASE + "/paymentv2/vpcpay.html",
    api_url=BASE + "/merchant_webapi/api/transaction",
)
IPN_URL = "http://feegate.test/webhooks/vnpay"
RETURN_URL = "https://feegate.test/pay/return/vnpay"
REF = "FG7ABCDEFGH2JKLMN"
SIM_NOW = NOW + timedelta(minutes=5)


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    app = Flask(__name__)
    blueprint = create_blueprint(CONFIG, ipn_url=IPN_URL, clock=lambda: SIM_NOW)
    app.register_blueprint(blueprint, url_prefix="/_sim/vnpay")
    with app.test_client() as test_client:
        yield test_client


adapter = VnpayAdapter(CONFIG)


def pay_url(**overrides: Any) -> str:
    request = make_start_request(return_url=RETURN_URL, **overrides)
    url = adapter.start(request).redirect_url
    assert url is not None
    return url


def local(url: str) -> str:
    """The path and query of a simulator URL, for the Flask test client."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def form_of(url: str, action: str, **more: str) -> dict[str, str]:
    """What the page's form posts: the signed params (hidden inputs) and the buttons."""
    fields = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    return {**fields, "action": action, "bank": "NCB", **more}


def params_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def finish(client: FlaskClient, action: str, **more: str) -> tuple[Any, list[Any], str]:
    """Open the pay page, press a button; the simulator's answer, IPN calls and pay URL."""
    url = pay_url()
    assert client.get(local(url)).status_code == 200
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, IPN_URL, json={"RspCode": "00", "Message": "Confirm Success"})
        answer = client.post(PAY_PATH, data=form_of(url, action, **more))
        calls = list(rsps.calls)
    return answer, calls, url


def forward_to(client: FlaskClient) -> Any:
    """A `responses` callback that hands the adapter's HTTP call to the simulator."""

    def forward(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        answer = client.post(API_PATH, data=request.body, content_type="application/json")
        return answer.status_code, {"Content-Type": "application/json"}, answer.get_data()

    return forward


_request_numbers = itertools.count(1000)


def query(client: FlaskClient, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "provider_reference": REF,
        "reference": REF,
        "amount": 150_000,
        "created_at": NOW,
        "now": SIM_NOW,
        "request_id": f"Q{next(_request_numbers)}",
        "extra": {"vnp_CreateDate": "20240501101530"},
    }
    values.update(overrides)
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, CONFIG.api_url, callback=forward_to(client))
        return adapter.query(QueryRequest(**values))


def refund(client: FlaskClient, amount: int, request_id: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "refund_reference": "RF" + request_id,
        "request_id": request_id,
        "provider_reference": REF,
        "provider_txn_id": None,
        "amount": amount,
        "original_amount": 150_000,
        "reason": "Hoàn tiền lệ phí",
        "attempt_created_at": NOW,
        "now": SIM_NOW,
        "extra": {"vnp_CreateDate": "20240501101530"},
    }
    values.update(overrides)
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, CONFIG.api_url, callback=forward_to(client))
        return adapter.refund(RefundRequest(**values))


# --- the pay page ---------------------------------------------------------------------


def test_a_pay_url_built_by_the_adapter_opens_the_page_with_amount_and_banks(
    client: FlaskClient,
) -> None:
    page = client.get(local(pay_url()))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "150.000 ₫" in html
    assert "Le phi cap phieu ly lich tu phap ho so 000.00.01.H32-240501-0001" in html
    assert 'value="NCB"' in html and "Vietcombank" in html
    assert 'name="vnp_SecureHash"' in html
    assert "<script" not in html and "http://" not in html.split("<body>")[0]


def test_money_is_written_the_vietnamese_way() -> None:
    assert format_vnd(150_000) == "150.000 ₫"
    assert format_vnd(1_250_000) == "1.250.000 ₫"


def test_pay_sends_an_ipn_the_adapter_accepts_as_success_and_redirects_with_verified_params(
    client: FlaskClient,
) -> None:
    answer, calls, _ = finish(client, "pay")

    assert len(calls) == 1
    ipn = calls[0].request
    assert ipn.method == "GET"
    assert ipn.url.startswith(IPN_URL + "?")
    result = adapter.parse_callback(InboundRequest(method="GET", query=params_of(ipn.url)))
    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == 150_000
    assert result.provider_reference == REF
    assert result.provider_txn_id
    assert result.paid_at == SIM_NOW

    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(RETURN_URL + "?")
    returned = params_of(location)
    assert adapter.return_reference(InboundRequest(method="GET", query=returned)) == REF
    back = adapter.parse_return(InboundRequest(method="GET", query=returned))
    assert back.outcome is Outcome.SUCCEEDED
    assert back.amount == 150_000
    assert set(returned) == {
        "vnp_Amount",
        "vnp_BankCode",
        "vnp_BankTranNo",
        "vnp_CardType",
        "vnp_OrderInfo",
        "vnp_PayDate",
        "vnp_ResponseCode",
        "vnp_TmnCode",
        "vnp_TransactionNo",
        "vnp_TransactionStatus",
        "vnp_TxnRef",
        "vnp_SecureHash",
    }
    assert returned["vnp_PayDate"] == "20240501102030"


def test_fail_sends_code_51_which_the_adapter_reads_as_failed(client: FlaskClient) -> None:
    answer, calls, _ = finish(client, "fail")
    result = adapter.parse_callback(
        InboundRequest(method="GET", query=params_of(calls[0].request.url))
    )
    assert (result.outcome, result.result_code) == (Outcome.FAILED, "51")
    back = adapter.parse_return(InboundRequest(method="GET", query=params_of(answer.location)))
    assert back.outcome is Outcome.FAILED


def test_cancel_sends_code_24_which_the_adapter_reads_as_cancelled(client: FlaskClient) -> None:
    answer, calls, _ = finish(client, "cancel")
    result = adapter.parse_callback(
        InboundRequest(method="GET", query=params_of(calls[0].request.url))
    )
    assert (result.outcome, result.result_code) == (Outcome.CANCELLED, "24")
    assert result.provider_txn_id is None
    assert answer.status_code == 302


def test_do_not_send_ipn_still_redirects_and_sends_nothing(client: FlaskClient) -> None:
    answer, calls, _ = finish(client, "pay", no_ipn="1")
    assert calls == []
    assert answer.status_code == 302


def test_an_unreachable_ipn_is_tolerated(client: FlaskClient) -> None:
    url = pay_url()
    client.get(local(url))
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, IPN_URL, body=requests.ConnectionError("down"))
        answer = client.post(PAY_PATH, data=form_of(url, "pay"))
    assert answer.status_code == 302


def test_a_transaction_is_finished_only_once(client: FlaskClient) -> None:
    _, first_calls, url = finish(client, "pay")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, IPN_URL, json={"RspCode": "02"})
        again = client.post(PAY_PATH, data=form_of(url, "cancel"))
        assert len(rsps.calls) == 0
    assert len(first_calls) == 1
    assert again.status_code == 409
    assert "Giao dịch đã được xử lý" in client.get(local(url)).get_data(as_text=True)


def test_a_tampered_pay_url_shows_the_signature_error(client: FlaskClient) -> None:
    url = pay_url().replace("vnp_Amount=15000000", "vnp_Amount=100")
    page = client.get(local(url))
    assert page.status_code == 400
    assert "Sai chữ ký" in page.get_data(as_text=True)


def test_a_tampered_form_post_is_refused_without_an_ipn(client: FlaskClient) -> None:
    url = pay_url()
    client.get(local(url))
    form = form_of(url, "pay")
    form["vnp_Amount"] = "100"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.GET, IPN_URL, json={})
        answer = client.post(PAY_PATH, data=form)
        assert len(rsps.calls) == 0
    assert answer.status_code == 400
    assert "Sai chữ ký" in answer.get_data(as_text=True)


def test_a_pay_url_signed_with_another_secret_shows_the_signature_error(
    client: FlaskClient,
) -> None:
    other = VnpayAdapter(VnpayConfig(TMN, "WRONGSECRET", CONFIG.pay_url, CONFIG.api_url))
    url = other.start(make_start_request(return_url=RETURN_URL)).redirect_url
    assert url is not None
    assert "Sai chữ ký" in client.get(local(url)).get_data(as_text=True)


def test_an_expired_pay_url_is_refused(client: FlaskClient) -> None:
    url = pay_url(expires_at=NOW + timedelta(minutes=1))
    page = client.get(local(url))
    assert page.status_code == 400
    assert "quá thời gian chờ thanh toán" in page.get_data(as_text=True)


def test_the_blueprint_works_as_mounted_by_the_app_with_the_gateway_clock() -> None:
    now = datetime(2027, 12, 31, 16, 45, tzinfo=UTC)  # 23:45 on New Year's Eve in Vietnam
    app = Flask(__name__)
    app.register_blueprint(
        create_blueprint(CONFIG, ipn_url=IPN_URL, clock=lambda: now), url_prefix="/_sim/vnpay"
    )
    url = adapter.start(
        make_start_request(return_url=RETURN_URL, now=now, expires_at=now + timedelta(minutes=15))
    ).redirect_url
    assert url is not None
    assert app.test_client().get(local(url)).status_code == 200


# --- querydr and refund against the simulator -----------------------------------------


def test_querydr_reports_pending_before_and_paid_after_payment(client: FlaskClient) -> None:
    url = pay_url()
    client.get(local(url))
    assert query(client, request_id="Q1").outcome is Outcome.PENDING

    with responses.RequestsMock() as rsps:
        client.post(PAY_PATH, data=form_of(url, "pay", no_ipn="1"))
        assert len(rsps.calls) == 0
    paid = query(client, request_id="Q2")
    assert paid.outcome is Outcome.SUCCEEDED
    assert paid.amount == 150_000
    assert paid.paid_at == SIM_NOW
    assert paid.provider_txn_id


def test_querydr_reports_a_failed_payment_as_failed(client: FlaskClient) -> None:
    finish(client, "fail")
    assert query(client, request_id="Q3").outcome is Outcome.FAILED


def test_querydr_of_an_unknown_order_is_unknown(client: FlaskClient) -> None:
    result = query(client, provider_reference="NOSUCHREF", reference="NOSUCHREF")
    assert result.outcome is Outcome.UNKNOWN


def test_querydr_needs_the_original_create_date(client: FlaskClient) -> None:
    finish(client, "pay")
    result = query(client, request_id="Q4", extra={"vnp_CreateDate": "20240501000000"})
    assert result.outcome is Outcome.UNKNOWN


def test_a_reused_request_id_is_a_duplicate_and_retried_later(client: FlaskClient) -> None:
    finish(client, "pay")
    query(client, request_id="SAME1")
    with pytest.raises(ProviderUnavailable):
        query(client, request_id="SAME1")


def test_a_querydr_with_a_bad_checksum_gets_97(client: FlaskClient) -> None:
    body = adapter.querydr_body(
        QueryRequest(
            provider_reference=REF,
            reference=REF,
            amount=150_000,
            created_at=NOW,
            now=SIM_NOW,
            request_id="Q97",
        )
    )
    body["vnp_SecureHash"] = "0" * 128
    answer = client.post(API_PATH, json=body).get_json()
    assert answer["vnp_ResponseCode"] == "97"
    adapter.verify_querydr_response(answer, REF)  # the simulator signs its answers
    expected = hmac_sha512_hex(SECRET, querydr_response_checksum_data(answer, TMN))
    assert answer["vnp_SecureHash"] == expected


def test_a_full_refund_of_a_paid_transaction_succeeds_once(client: FlaskClient) -> None:
    finish(client, "pay")
    done = refund(client, 150_000, "R1")
    assert done.outcome is RefundOutcome.SUCCEEDED
    assert done.provider_refund_id
    assert refund(client, 150_000, "R2").outcome is RefundOutcome.FAILED


def test_partial_refunds_succeed_up_to_the_paid_amount(client: FlaskClient) -> None:
    finish(client, "pay")
    assert refund(client, 100_000, "R3").outcome is RefundOutcome.SUCCEEDED
    assert refund(client, 50_000, "R4").outcome is RefundOutcome.SUCCEEDED
    assert refund(client, 1, "R5").outcome is RefundOutcome.FAILED


def test_a_refund_of_an_unpaid_transaction_is_refused(client: FlaskClient) -> None:
    finish(client, "cancel")
    result = refund(client, 150_000, "R6")
    assert (result.outcome, result.result_code) == (RefundOutcome.FAILED, "95")


def test_the_api_answers_a_non_json_body_with_03(client: FlaskClient) -> None:
    answer = client.post(API_PATH, data="nope", content_type="text/plain").get_json()
    assert answer["vnp_ResponseCode"] == "03"


def test_an_ipn_tampered_in_transit_is_refused_by_the_adapter(client: FlaskClient) -> None:
    _, calls, _ = finish(client, "fail")
    params = params_of(calls[0].request.url)
    params["vnp_ResponseCode"] = "00"
    params["vnp_TransactionStatus"] = "00"
    with pytest.raises(InvalidSignature):
        adapter.parse_callback(InboundRequest(method="GET", query=params))
