"""The MoMo simulator, driven by the real adapter: create → pay page → IPN → query → refund.

The adapter's HTTP calls are routed by `responses` into the Flask test client, and the IPN
the simulator POSTs to feegate is caught by `responses`, so each test sees the exact bytes
on both sides of the wire.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient

from adapters.base import InboundRequest, Outcome, QueryRequest, RefundOutcome, RefundRequest
from adapters.errors import ProviderRejected
from adapters.momo import MomoAdapter, MomoConfig, create_signature_raw, sign
from simulators.momo import create_blueprint, format_vnd
from tests.adapters.contract import NOW, make_start_request

SIM_ENDPOINT = "http://localhost/_sim/momo"
CONFIG = MomoConfig(
    partner_code="MOMOTEST0001",
    access_key="TESTACCESSKEY001",
    secret_key="TESTSECRETMOMOKEY000000000000001",
    endpoint=SIM_ENDPOINT,
)
ADAPTER = MomoAdapter(CONFIG)
RETURN_URL = "https://feegate.example.gov.vn/pay/return/momo?lang=vi"
NOTIFY_URL = "https://feegate.example.gov.vn/webhooks/momo"


@dataclass
class Wire:
    mock: responses.RequestsMock
    ipns: list[bytes] = field(default_factory=list)


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(create_blueprint(CONFIG, clock=lambda: NOW), url_prefix="/_sim/momo")
    return app.test_client()


@pytest.fixture
def wire(client: FlaskClient) -> Iterator[Wire]:
    captured = Wire(mock=responses.RequestsMock(assert_all_requests_are_fired=False))

    def to_simulator(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        answer = client.post(
            urlsplit(request.url or "").path, data=request.body, content_type="application/json"
        )
        return answer.status_code, {"Content-Type": "application/json"}, answer.get_data()

    def catch_ipn(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body
        captured.ipns.append(body if isinstance(body, bytes) else str(body).encode())
        return 204, {}, b""

    with captured.mock as mock:
        mock.add_callback(
            responses.POST,
            re.compile(re.escape(SIM_ENDPOINT) + r"/v2/gateway/api/\w+"),
            callback=to_simulator,
        )
        mock.add_callback(responses.POST, NOTIFY_URL, callback=catch_ipn)
        yield captured


def start(adapter: MomoAdapter = ADAPTER, **overrides: object) -> Any:
    values: dict[str, object] = {"return_url": RETURN_URL, "notify_url": NOTIFY_URL}
    values.update(overrides)
    return adapter.start(make_start_request(**values))


def press(client: FlaskClient, pay_url: str, action: str, *, no_ipn: bool = False) -> str:
    """Press a button on the pay page; return where the browser is sent."""
    form = {"action": action}
    if no_ipn:
        form["no_ipn"] = "1"
    answer = client.post(urlsplit(pay_url).path, data=form)
    assert answer.status_code == 302
    return answer.headers["Location"]


def returned(location: str) -> InboundRequest:
    return InboundRequest(method="GET", query=dict(parse_qsl(urlsplit(location).query)))


def query(reference: str = "FG7ABCDEFGH2JKLMN", request_id: str = "RQQ1") -> Any:
    return ADAPTER.query(
        QueryRequest(
            provider_reference=reference,
            reference=reference,
            amount=150_000,
            created_at=NOW,
            now=NOW,
            request_id=request_id,
        )
    )


def refund(txn: str, amount: int, reference: str = "RF1", request_id: str = "RQR1") -> Any:
    return ADAPTER.refund(
        RefundRequest(
            refund_reference=reference,
            request_id=request_id,
            provider_reference="FG7ABCDEFGH2JKLMN",
            provider_txn_id=txn,
            amount=amount,
            original_amount=150_000,
            reason="Hoàn lệ phí nộp trùng",
            attempt_created_at=NOW,
            now=NOW,
        )
    )


def test_a_paid_order_sends_an_ipn_the_adapter_verifies_as_success(
    client: FlaskClient, wire: Wire
) -> None:
    started = start()
    assert started.redirect_url.startswith(SIM_ENDPOINT + "/pay/")
    assert started.deeplink.startswith("momo://app?action=payWithApp")
    assert started.qr_code_url.startswith("momo://app?action=payWithApp")

    location = press(client, started.redirect_url, "pay")

    assert len(wire.ipns) == 1
    result = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0]))
    assert result.outcome is Outcome.SUCCEEDED
    assert result.provider_reference == "FG7ABCDEFGH2JKLMN"
    assert result.amount == 150_000
    assert result.paid_at is not None
    assert "Thành công.".encode() in wire.ipns[0]  # raw UTF-8 JSON, as MoMo sends
    assert location.startswith("https://feegate.example.gov.vn/pay/return/momo?lang=vi&")
    back = ADAPTER.parse_return(returned(location))
    assert back.outcome is Outcome.SUCCEEDED
    assert back.provider_txn_id == result.provider_txn_id
    assert ADAPTER.return_reference(returned(location)) == "FG7ABCDEFGH2JKLMN"


def test_the_pay_page_is_vietnamese_and_shows_the_amount_in_dong(
    client: FlaskClient, wire: Wire
) -> None:
    started = start()
    page = client.get(urlsplit(started.redirect_url).path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'lang="vi"' in html and 'name="viewport"' in html
    assert "150.000 ₫" in html
    assert "Lệ phí cấp phiếu lý lịch tư pháp" in html
    assert 'value="pay"' in html and 'value="fail"' in html and 'value="cancel"' in html
    assert 'name="no_ipn"' in html
    assert "<script" not in html and "<link" not in html  # no CDN: works offline


def test_amounts_are_written_with_dots_and_the_dong_sign() -> None:
    assert format_vnd(150_000) == "150.000 ₫"
    assert format_vnd(1_250_000) == "1.250.000 ₫"
    assert format_vnd(1_000) == "1.000 ₫"


def test_an_unknown_pay_page_is_not_found(client: FlaskClient) -> None:
    assert client.get("/_sim/momo/pay/nope").status_code == 404


def test_fail_sends_a_1001_ipn_that_reads_as_failed(client: FlaskClient, wire: Wire) -> None:
    location = press(client, start().redirect_url, "fail")
    result = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0]))
    assert result.outcome is Outcome.FAILED
    assert result.result_code == "1001"
    assert "không đủ tiền" in result.message
    assert ADAPTER.parse_return(returned(location)).outcome is Outcome.FAILED
    assert query().outcome is Outcome.FAILED


def test_cancel_sends_a_1006_ipn_that_reads_as_cancelled(client: FlaskClient, wire: Wire) -> None:
    location = press(client, start().redirect_url, "cancel")
    result = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0]))
    assert result.outcome is Outcome.CANCELLED
    assert result.result_code == "1006"
    assert ADAPTER.parse_return(returned(location)).outcome is Outcome.CANCELLED


def test_query_reports_pending_before_and_paid_after_the_citizen_pays(
    client: FlaskClient, wire: Wire
) -> None:
    started = start()
    before = query(request_id="RQQ1")
    assert before.outcome is Outcome.PENDING
    assert before.provider_txn_id is None
    press(client, started.redirect_url, "pay")
    after = query(request_id="RQQ2")
    assert after.outcome is Outcome.SUCCEEDED
    assert after.amount == 150_000
    ipn = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0]))
    assert after.provider_txn_id == ipn.provider_txn_id


def test_a_lost_ipn_is_rescued_by_the_query(client: FlaskClient, wire: Wire) -> None:
    location = press(client, start().redirect_url, "pay", no_ipn=True)
    assert wire.ipns == []
    assert location.startswith("https://feegate.example.gov.vn/pay/return/momo")
    assert query().outcome is Outcome.SUCCEEDED


def test_an_unreachable_ipn_url_still_sends_the_citizen_back(
    client: FlaskClient, wire: Wire
) -> None:
    wire.mock.replace(responses.POST, NOTIFY_URL, body=requests.ConnectionError("down"))
    location = press(client, start().redirect_url, "pay")
    assert ADAPTER.parse_return(returned(location)).outcome is Outcome.SUCCEEDED


def test_a_second_press_changes_nothing_and_sends_no_second_ipn(
    client: FlaskClient, wire: Wire
) -> None:
    started = start()
    first = press(client, started.redirect_url, "pay")
    second = press(client, started.redirect_url, "cancel")
    assert len(wire.ipns) == 1
    assert ADAPTER.parse_return(returned(second)).outcome is Outcome.SUCCEEDED
    assert returned(second).query == returned(first).query
    page = client.get(urlsplit(started.redirect_url).path).get_data(as_text=True)
    assert "đã được xử lý" in page


def test_a_query_for_an_unknown_order_is_unknown(wire: Wire) -> None:
    assert query("FGNEVERCREATED").outcome is Outcome.UNKNOWN


def test_create_with_the_wrong_secret_is_refused_as_merchant_authentication_failed(
    wire: Wire,
) -> None:
    impostor = MomoAdapter(
        MomoConfig(CONFIG.partner_code, CONFIG.access_key, "WRONGSECRET", SIM_ENDPOINT)
    )
    with pytest.raises(ProviderRejected) as caught:
        start(impostor)
    assert caught.value.code == "13"
    assert caught.value.message == "Xác thực doanh nghiệp thất bại."


def test_create_for_another_partner_code_is_access_denied(wire: Wire) -> None:
    other = MomoAdapter(
        MomoConfig("MOMOOTHER0001", CONFIG.access_key, CONFIG.secret_key, SIM_ENDPOINT)
    )
    with pytest.raises(ProviderRejected) as caught:
        start(other)
    assert caught.value.code == "11"


def test_a_create_body_changed_after_signing_is_refused(client: FlaskClient) -> None:
    body: dict[str, Any] = {
        "partnerCode": CONFIG.partner_code,
        "requestId": "RQ1",
        "amount": 150_000,
        "orderId": "FG1",
        "orderInfo": "Lệ phí",
        "redirectUrl": RETURN_URL,
        "ipnUrl": NOTIFY_URL,
        "requestType": "captureWallet",
        "extraData": "",
        "lang": "vi",
    }
    body["signature"] = sign(CONFIG.secret_key, create_signature_raw(CONFIG.access_key, body))
    body["amount"] = 1_000
    answer = client.post("/_sim/momo/v2/gateway/api/create", json=body)
    assert answer.get_json()["resultCode"] == 13


@pytest.mark.parametrize("body", [None, [], {"partnerCode": "MOMOTEST0001"}])
def test_a_create_without_momo_s_fields_is_a_bad_format(client: FlaskClient, body: Any) -> None:
    answer = client.post(
        "/_sim/momo/v2/gateway/api/create", data=json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.get_json()["resultCode"] == 20


def test_an_amount_outside_momo_s_wallet_limits_is_refused(wire: Wire) -> None:
    with pytest.raises(ProviderRejected) as caught:
        start(amount=500)
    assert caught.value.code == "22"


def test_the_same_request_id_twice_gets_the_same_answer(wire: Wire) -> None:
    assert start().redirect_url == start().redirect_url


def test_a_reused_request_id_for_another_order_or_a_reused_order_id_is_refused(
    wire: Wire,
) -> None:
    start()
    with pytest.raises(ProviderRejected) as caught:
        start(reference="FGANOTHERORDER")
    assert caught.value.code == "40"
    with pytest.raises(ProviderRejected) as caught:
        start(request_id="RQANOTHERREQUEST")
    assert caught.value.code == "41"


def test_a_paid_order_can_be_refunded_up_to_its_amount(client: FlaskClient, wire: Wire) -> None:
    press(client, start().redirect_url, "pay")
    txn = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0])).provider_txn_id
    assert txn is not None

    first = refund(txn, 100_000, "RF1", "RQR1")
    assert first.outcome is RefundOutcome.SUCCEEDED
    assert first.provider_refund_id and first.provider_refund_id != txn
    assert refund(txn, 100_000, "RF1", "RQR1") == first  # same requestId: same answer

    too_much = refund(txn, 60_000, "RF2", "RQR2")
    assert too_much.outcome is RefundOutcome.FAILED
    assert too_much.result_code == "1081"
    assert refund(txn, 50_000, "RF3", "RQR3").outcome is RefundOutcome.SUCCEEDED


def test_an_unpaid_or_unknown_transaction_cannot_be_refunded(
    client: FlaskClient, wire: Wire
) -> None:
    press(client, start().redirect_url, "fail")
    txn = ADAPTER.parse_callback(InboundRequest(method="POST", body=wire.ipns[0])).provider_txn_id
    assert txn is not None
    assert refund(txn, 1_000, "RF1", "RQR1").result_code == "1088"
    assert refund("1234567890", 1_000, "RF2", "RQR2").result_code == "1080"


def test_two_simulators_keep_separate_ledgers() -> None:
    first = create_blueprint(CONFIG, clock=lambda: NOW)
    second = create_blueprint(CONFIG, clock=lambda: NOW)
    assert first.name == second.name == "sim_momo"
    assert first.ledger is not second.ledger  # type: ignore[attr-defined]
