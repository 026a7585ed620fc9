"""MoMo adapter: MoMo's own vectors, the exact wire format, and the result mapping.

Expected signatures here are computed with hmac directly from literal raw strings (or
come from MoMo's sample code via the vectors file), never with the adapter's helpers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from adapters.base import (
    Ack,
    InboundRequest,
    Outcome,
    QueryRequest,
    RefundOutcome,
    RefundRequest,
)
from adapters.errors import (
    InvalidSignature,
    MalformedMessage,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.momo import (
    MomoAdapter,
    MomoConfig,
    create_signature_raw,
    ipn_signature_raw,
    query_signature_raw,
    refund_signature_raw,
    sign,
)
from tests.adapters.contract import NOW, AdapterContract, make_start_request

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "momo.json").read_text(encoding="utf-8")
)
CONVENTIONS = VECTORS["conventions"]
PARTNER = CONVENTIONS["partnerCode"]
ACCESS_KEY = CONVENTIONS["accessKey"]
SECRET = CONVENTIONS["secretKey"]
ENDPOINT = "https://test-payment.momo.vn"
CREATE_URL = ENDPOINT + "/v2/gateway/api/create"
QUERY_URL = ENDPOINT + "/v2/gateway/api/query"
REFUND_URL = ENDPOINT + "/v2/gateway/api/refund"
CONFIG = MomoConfig(
    partner_code=PARTNER, access_key=ACCESS_KEY, secret_key=SECRET, endpoint=ENDPOINT
)
RETURN_URL = "https://feegate.example.gov.vn/pay/return/momo"
NOTIFY_URL = "https://feegate.example.gov.vn/webhooks/momo"

IPN_KEYS = (
    "accessKey",
    "amount",
    "extraData",
    "message",
    "orderId",
    "orderInfo",
    "orderType",
    "partnerCode",
    "payType",
    "requestId",
    "responseTime",
    "resultCode",
    "transId",
)


def vector(vector_id: str) -> dict[str, Any]:
    return next(v for v in VECTORS["vectors"] if v["id"] == vector_id)


def hmac_hex(raw: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_ipn(
    order_id: str = "FG7ABCDEFGH2JKLMN",
    amount: int = 150_000,
    result_code: int = 0,
    *,
    secret: str = SECRET,
    **overrides: Any,
) -> dict[str, Any]:
    """An IPN body shaped like MoMo's, signed in MoMo's IPN key order."""
    body: dict[str, Any] = {
        "partnerCode": PARTNER,
        "orderId": order_id,
        "requestId": "RQ7ABCDEFGH2JKLMN",
        "amount": amount,
        "orderInfo": "Lệ phí cấp phiếu lý lịch tư pháp",
        "orderType": "momo_wallet",
        "transId": 4088878653,
        "resultCode": result_code,
        "message": "Thành công." if result_code == 0 else "Giao dịch thất bại.",
        "payType": "qr",
        "responseTime": 1714533450123,
        "extraData": "eyJwYXltZW50X2lkIjoicGF5X3Rlc3QxMjMifQ==",
    }
    body.update(overrides)
    values = {**body, "accessKey": ACCESS_KEY}
    raw = "&".join(f"{key}={values[key]}" for key in IPN_KEYS)
    body["signature"] = hmac_hex(raw, secret)
    return body


def ipn_request(body: Mapping[str, Any], *, ascii_only: bool = False) -> InboundRequest:
    data = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8")
    return InboundRequest(
        method="POST", body=data, headers={"Content-Type": "application/json; charset=UTF-8"}
    )


def create_answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
    """What MoMo's create answers for a good request: echoes the order, adds links."""
    sent = json.loads(request.body or b"{}")
    answer = {
        "partnerCode": sent["partnerCode"],
        "orderId": sent["orderId"],
        "requestId": sent["requestId"],
        "amount": sent["amount"],
        "responseTime": 1714533331000,
        "message": "Thành công.",
        "resultCode": 0,
        "payUrl": "https://test-payment.momo.vn/v2/gateway/pay?t=TU9NTw",
        "deeplink": "momo://app?action=payWithApp&isScanQR=false&serviceType=app&sid=TU9NTw&v=3.0",
        "qrCodeUrl": "momo://app?action=payWithApp&isScanQR=true&serviceType=qr&sid=TU9NTw&v=3.0",
    }
    return 200, {}, json.dumps(answer, ensure_ascii=False)


def sent_json(mock: responses.RequestsMock) -> dict[str, Any]:
    body = mock.calls[-1].request.body
    assert body is not None
    return json.loads(body)


def momo_start_request(**overrides: object) -> Any:
    return make_start_request(return_url=RETURN_URL, notify_url=NOTIFY_URL, **overrides)


OUTCOME_CODES = {
    Outcome.SUCCEEDED: 0,
    Outcome.FAILED: 1001,
    Outcome.CANCELLED: 1006,
    Outcome.PENDING: 7000,
}


class TestMomoAdapter(AdapterContract):
    adapter = MomoAdapter(CONFIG)

    @pytest.fixture(autouse=True)
    def momo_api(self) -> Iterator[responses.RequestsMock]:
        """Every test talks to a fake MoMo: nothing leaves the machine."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_callback(responses.POST, CREATE_URL, callback=create_answer)
            yield mock

    def signed_callback(
        self, provider_reference: str, amount: int, outcome: Outcome
    ) -> InboundRequest:
        return ipn_request(signed_ipn(provider_reference, amount, OUTCOME_CODES[outcome]))

    def tamper(self, request: InboundRequest) -> InboundRequest:
        body = json.loads(request.body)
        body["amount"] = 1_000
        return ipn_request(body)

    # -- MoMo's own vectors -------------------------------------------------------------

    @pytest.mark.parametrize(
        "vector_id",
        [
            "momo.create.captureWallet.java_sdk",
            "momo.create.payWithATM.java_sdk",
            "momo.create.payWithMethod.java_sdk",
        ],
    )
    def test_create_signatures_match_momo_s_java_sdk_including_vietnamese_order_info(
        self, vector_id: str
    ) -> None:
        expected = vector(vector_id)["expected"]
        body = expected["request_body_as_serialized_by_sdk"]
        raw = create_signature_raw(ACCESS_KEY, body)
        assert raw == expected["rawSignature"]
        assert sign(SECRET, raw) == expected["signature"] == body["signature"]

    def test_create_signature_matches_momo_s_node_sample_where_amount_is_a_string(self) -> None:
        expected = vector("momo.create.captureWallet.node_sample")["expected"]
        body = expected["request"]["body"]
        raw = create_signature_raw(ACCESS_KEY, body)
        assert raw == expected["rawSignature"]
        assert sign(SECRET, raw) == expected["signature"] == body["signature"]

    def test_query_signature_matches_momo_s_java_sdk(self) -> None:
        expected = vector("momo.query.java_sdk")["expected"]
        body = expected["request_body_as_serialized_by_sdk"]
        raw = query_signature_raw(ACCESS_KEY, body)
        assert raw == expected["rawSignature"]
        assert sign(SECRET, raw) == expected["signature"] == body["signature"]

    def test_refund_signature_matches_momo_s_java_sdk(self) -> None:
        expected = vector("momo.refund.java_sdk")["expected"]
        body = expected["request_body_as_serialized_by_sdk"]
        raw = refund_signature_raw(ACCESS_KEY, body)
        assert raw == expected["rawSignature"]
        assert sign(SECRET, raw) == expected["signature"] == body["signature"]

    def test_momo_s_php_ipn_sample_verifies_and_reads_as_a_paid_order(self) -> None:
        case = vector("momo.ipn.php_sample")
        body = case["inputs"]["ipn_body (as MoMo would POST, application/json)"]
        assert ipn_signature_raw(ACCESS_KEY, body) == case["expected"]["rawSignature"]
        adapter = MomoAdapter(CONFIG)
        result = adapter.parse_callback(ipn_request(body))
        assert result.outcome is Outcome.SUCCEEDED
        assert result.provider_reference == "HS240501-0001-captureWallet"
        assert result.amount == 150_000
        assert result.provider_txn_id == "4088878653"
        assert result.result_code == "0"
        assert result.message == "Thành công."
        assert result.paid_at == datetime(2024, 5, 1, 3, 17, 30, 123_000, tzinfo=UTC)

    @pytest.mark.parametrize("ascii_only", [False, True])
    def test_the_vietnamese_ipn_verifies_whether_its_json_is_raw_utf8_or_escaped(
        self, ascii_only: bool
    ) -> None:
        body = vector("momo.ipn.php_sample")["inputs"][
            "ipn_body (as MoMo would POST, application/json)"
        ]
        request = ipn_request(body, ascii_only=ascii_only)
        assert (b"\\u" in request.body) is ascii_only
        assert self.adapter.parse_callback(request).outcome is Outcome.SUCCEEDED

    def test_the_ipn_sample_with_signature_x_is_refused_like_the_php_sample_does(self) -> None:
        body = dict(
            vector("momo.ipn.php_sample")["inputs"][
                "ipn_body (as MoMo would POST, application/json)"
            ]
        )
        body["signature"] = "x"
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    def test_the_docs_ipn_example_has_momo_s_shape_but_no_published_secret_to_verify(self) -> None:
        example = VECTORS["doc_example_unverifiable"]["ipn_example"]
        adapter = MomoAdapter(MomoConfig(example["partnerCode"], "unknown", "unknown", ENDPOINT))
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(ipn_request(example))

    # -- create -------------------------------------------------------------------------

    def test_start_sends_momo_the_exact_signed_create_body(
        self, momo_api: responses.RequestsMock
    ) -> None:
        self.adapter.start(momo_start_request())
        extra = base64.b64encode(b'{"payment_id":"pay_test123"}').decode()
        description = "Lệ phí cấp phiếu lý lịch tư pháp hồ sơ 000.00.01.H32-240501-0001"
        raw = (
            f"accessKey={ACCESS_KEY}&amount=150000&extraData={extra}&ipnUrl={NOTIFY_URL}"
            f"&orderId=FG7ABCDEFGH2JKLMN&orderInfo={description}&partnerCode={PARTNER}"
            f"&redirectUrl={RETURN_URL}&requestId=RQ7ABCDEFGH2JKLMN&requestType=captureWallet"
        )
        assert momo_api.calls[-1].request.url == CREATE_URL
        assert sent_json(momo_api) == {
            "partnerCode": PARTNER,
            "partnerName": "feegate",
            "storeId": "feegate",
            "requestType": "captureWallet",
            "ipnUrl": NOTIFY_URL,
            "redirectUrl": RETURN_URL,
            "orderId": "FG7ABCDEFGH2JKLMN",
            "amount": 150_000,
            "lang": "vi",
            "orderInfo": description,
            "requestId": "RQ7ABCDEFGH2JKLMN",
            "extraData": extra,
            "signature": hmac_hex(raw),
        }

    def test_the_amount_goes_to_momo_as_a_json_integer_of_dong(
        self, momo_api: responses.RequestsMock
    ) -> None:
        self.adapter.start(momo_start_request(amount=1_250_000))
        assert b'"amount": 1250000' in (momo_api.calls[-1].request.body or b"")

    def test_start_hands_back_pay_url_deeplink_qr_and_the_request_id_it_used(self) -> None:
        result = self.adapter.start(momo_start_request())
        assert result.provider_reference == "FG7ABCDEFGH2JKLMN"
        assert result.redirect_url == "https://test-payment.momo.vn/v2/gateway/pay?t=TU9NTw"
        assert result.deeplink and result.deeplink.startswith("momo://app?action=payWithApp")
        assert result.qr_code_url and "serviceType=qr" in result.qr_code_url
        assert dict(result.extra) == {"requestId": "RQ7ABCDEFGH2JKLMN"}

    def test_retrying_the_same_attempt_sends_the_same_request_id_and_signature(
        self, momo_api: responses.RequestsMock
    ) -> None:
        self.adapter.start(momo_start_request())
        first = sent_json(momo_api)
        self.adapter.start(momo_start_request())
        assert sent_json(momo_api) == first

    @pytest.mark.parametrize(("locale", "lang"), [("en", "en"), ("vi", "vi"), ("fr", "vi")])
    def test_momo_pages_speak_the_citizen_s_language_or_vietnamese(
        self, momo_api: responses.RequestsMock, locale: str, lang: str
    ) -> None:
        self.adapter.start(momo_start_request(locale=locale))
        assert sent_json(momo_api)["lang"] == lang

    def test_the_configured_request_type_is_sent_and_signed(
        self, momo_api: responses.RequestsMock
    ) -> None:
        config = MomoConfig(PARTNER, ACCESS_KEY, SECRET, ENDPOINT + "/", request_type="payWithATM")
        MomoAdapter(config).start(momo_start_request())
        body = sent_json(momo_api)
        assert body["requestType"] == "payWithATM"
        assert body["signature"] == hmac_hex(create_signature_raw(ACCESS_KEY, body))

    def test_every_call_to_momo_has_a_timeout_that_waits_the_30_s_momo_asks_for(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(0))
        momo_api.add(responses.POST, REFUND_URL, json=self.refund_answer(0))
        self.adapter.start(momo_start_request())
        self.adapter.query(self.query_request())
        self.adapter.refund(self.refund_request())
        for call in momo_api.calls:
            connect, read = call.request.req_kwargs["timeout"]  # type: ignore[attr-defined]
            assert 0 < connect <= read
            assert read >= 30

    def test_a_create_refusal_is_provider_rejected_with_momo_s_code_and_message(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.replace(
            responses.POST,
            CREATE_URL,
            status=400,
            json={
                "orderId": "FG7ABCDEFGH2JKLMN",
                "resultCode": 22,
                "message": "Số tiền giao dịch vượt quá hạn mức.",
            },
        )
        with pytest.raises(ProviderRejected) as caught:
            self.adapter.start(momo_start_request())
        assert caught.value.code == "22"
        assert caught.value.message == "Số tiền giao dịch vượt quá hạn mức."

    def test_a_create_timeout_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.replace(responses.POST, CREATE_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(momo_start_request())

    def test_a_create_5xx_is_provider_unavailable(self, momo_api: responses.RequestsMock) -> None:
        momo_api.replace(responses.POST, CREATE_URL, status=502, body="Bad Gateway")
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(momo_start_request())

    @pytest.mark.parametrize(
        "answer",
        [
            "<html>maintenance</html>",
            json.dumps({"message": "no result code"}),
            json.dumps(
                {
                    "resultCode": 0,
                    "orderId": "SOMEONE-ELSE",
                    "amount": 150000,
                    "payUrl": "https://x",
                }
            ),
            json.dumps(
                {
                    "resultCode": 0,
                    "orderId": "FG7ABCDEFGH2JKLMN",
                    "amount": 1000,
                    "payUrl": "https://x",
                }
            ),
            json.dumps(
                {
                    "resultCode": 0,
                    "orderId": "FG7ABCDEFGH2JKLMN",
                    "amount": 150000,
                    "requestId": "OTHER",
                    "payUrl": "https://x",
                }
            ),
            json.dumps({"resultCode": 0, "orderId": "FG7ABCDEFGH2JKLMN", "amount": 150000}),
        ],
        ids=[
            "not-json",
            "no-result-code",
            "other-order",
            "other-amount",
            "other-request",
            "no-pay-url",
        ],
    )
    def test_a_create_answer_we_cannot_trust_is_provider_unavailable(
        self, momo_api: responses.RequestsMock, answer: str
    ) -> None:
        momo_api.replace(responses.POST, CREATE_URL, body=answer)
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(momo_start_request())

    # -- IPN ----------------------------------------------------------------------------

    def test_a_paid_ipn_is_a_success_with_momo_s_trans_id_code_message_and_time(self) -> None:
        result = self.adapter.parse_callback(ipn_request(signed_ipn()))
        assert result.outcome is Outcome.SUCCEEDED
        assert result.provider_reference == "FG7ABCDEFGH2JKLMN"
        assert result.amount == 150_000 and isinstance(result.amount, int)
        assert result.provider_txn_id == "4088878653"
        assert result.result_code == "0"
        assert result.message == "Thành công."
        assert result.paid_at == datetime(2024, 5, 1, 3, 17, 30, 123_000, tzinfo=UTC)

    def test_an_insufficient_funds_ipn_is_a_failure_with_momo_s_code_and_message(self) -> None:
        body = signed_ipn(result_code=1001, message="Giao dịch thất bại do không đủ tiền.")
        result = self.adapter.parse_callback(ipn_request(body))
        assert result.outcome is Outcome.FAILED
        assert result.result_code == "1001"
        assert result.message == "Giao dịch thất bại do không đủ tiền."
        assert result.paid_at is None

    @pytest.mark.parametrize("code", [1000, 7000, 7002, 8000, 9000])
    def test_each_processing_code_stays_pending(self, code: int) -> None:
        result = self.adapter.parse_callback(ipn_request(signed_ipn(result_code=code)))
        assert result.outcome is Outcome.PENDING
        assert result.paid_at is None

    @pytest.mark.parametrize("code", [1006, 1017])
    def test_a_declined_or_withdrawn_order_is_cancelled(self, code: int) -> None:
        result = self.adapter.parse_callback(ipn_request(signed_ipn(result_code=code)))
        assert result.outcome is Outcome.CANCELLED

    @pytest.mark.parametrize("code", [1001, 1002, 1003, 1004, 1005, 1007, 1026, 4001, 4100, 99])
    def test_every_other_code_is_a_failure(self, code: int) -> None:
        result = self.adapter.parse_callback(ipn_request(signed_ipn(result_code=code)))
        assert result.outcome is Outcome.FAILED
        assert result.result_code == str(code)

    def test_an_ipn_with_one_wrong_signature_digit_is_refused(self) -> None:
        body = signed_ipn()
        last = body["signature"][-1]
        body["signature"] = body["signature"][:-1] + ("0" if last != "0" else "1")
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("amount", 15_000),
            ("orderId", "FG7ABCDEFGH2JKLMX"),
            ("resultCode", 0),
            ("transId", 1),
            ("message", "Thành công"),
        ],
    )
    def test_an_ipn_with_a_changed_signed_field_is_refused(self, field: str, value: Any) -> None:
        body = signed_ipn(result_code=1001)
        body[field] = value
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    def test_an_ipn_signed_with_another_secret_is_refused(self) -> None:
        body = signed_ipn(secret="TESTSECRETMOMOKEY000000000000002")
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    def test_an_uppercase_hex_signature_is_still_accepted(self) -> None:
        body = signed_ipn()
        body["signature"] = body["signature"].upper()
        assert self.adapter.parse_callback(ipn_request(body)).outcome is Outcome.SUCCEEDED

    def test_an_ipn_for_another_partner_code_is_refused_even_when_signed_with_our_key(
        self,
    ) -> None:
        body = signed_ipn(partnerCode="MOMOOTHER0001")
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    def test_an_ipn_without_a_signature_is_refused(self) -> None:
        body = signed_ipn()
        del body["signature"]
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(ipn_request(body))

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"not json",
            b"[]",
            b'"text"',
            b"\xff\xfe{}",
            b"{}",
            json.dumps({k: v for k, v in signed_ipn().items() if k != "amount"}).encode(),
            json.dumps({**signed_ipn(), "amount": 150000.0}).encode(),
            json.dumps({**signed_ipn(), "amount": "150.000"}).encode(),
            json.dumps({**signed_ipn(), "amount": True}).encode(),
            json.dumps({**signed_ipn(), "orderId": "FG1&amount=1"}).encode(),
            json.dumps({**signed_ipn(), "message": {"vi": "x"}}).encode(),
            b'{"orderId": "A", "orderId": "B"}',
            b"{" + b" " * 70_000 + b"}",
        ],
        ids=[
            "empty",
            "not-json",
            "array",
            "string",
            "not-utf8",
            "empty-object",
            "missing-amount",
            "float-amount",
            "dotted-amount",
            "bool-amount",
            "order-id-with-ampersand",
            "nested-message",
            "duplicate-key",
            "huge",
        ],
    )
    def test_a_malformed_ipn_body_is_malformed(self, raw: bytes) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(InboundRequest(method="POST", body=raw))

    def test_an_ipn_must_be_posted(self) -> None:
        request = ipn_request(signed_ipn())
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(
                InboundRequest(method="GET", body=request.body, headers=request.headers)
            )

    # -- browser return -----------------------------------------------------------------

    def return_request(self, body: Mapping[str, Any]) -> InboundRequest:
        """MoMo appends the same fields to redirectUrl; Flask hands them over as text."""
        return InboundRequest(method="GET", query={k: str(v) for k, v in body.items()})

    def test_the_browser_return_verifies_like_the_ipn(self) -> None:
        result = self.adapter.parse_return(self.return_request(signed_ipn(result_code=1006)))
        assert result.outcome is Outcome.CANCELLED
        assert result.provider_reference == "FG7ABCDEFGH2JKLMN"
        assert result.amount == 150_000

    def test_a_browser_return_with_a_changed_result_is_refused(self) -> None:
        query = dict(self.return_request(signed_ipn(result_code=1006)).query)
        query["resultCode"] = "0"
        with pytest.raises(InvalidSignature):
            self.adapter.parse_return(InboundRequest(method="GET", query=query))

    def test_the_return_reference_is_the_claimed_order_id_unverified(self) -> None:
        request = InboundRequest(method="GET", query={"orderId": "FG7ABCDEFGH2JKLMN"})
        assert self.adapter.return_reference(request) == "FG7ABCDEFGH2JKLMN"
        assert self.adapter.return_reference(InboundRequest(method="GET")) is None

    # -- acknowledgements ---------------------------------------------------------------

    @pytest.mark.parametrize(
        "ack", [Ack.RECORDED, Ack.ALREADY_CONFIRMED, Ack.UNKNOWN_ORDER, Ack.AMOUNT_MISMATCH]
    )
    def test_every_authentic_ipn_is_answered_204_with_no_body(self, ack: Ack) -> None:
        response = self.adapter.acknowledge(ack)
        assert response.status == 204
        assert response.body == b""

    @pytest.mark.parametrize("ack", [Ack.INVALID_SIGNATURE, Ack.MALFORMED])
    def test_a_refused_ipn_is_answered_400_with_a_json_message(self, ack: Ack) -> None:
        response = self.adapter.acknowledge(ack)
        assert response.status == 400
        assert response.content_type == "application/json"
        assert json.loads(response.body)["message"]

    def test_a_fault_of_ours_is_answered_500_so_momo_sends_again(self) -> None:
        assert self.adapter.acknowledge(Ack.RETRY).status == 500

    # -- query --------------------------------------------------------------------------

    def query_request(self, request_id: str = "RQQUERY0000000000001") -> QueryRequest:
        return QueryRequest(
            provider_reference="FG7ABCDEFGH2JKLMN",
            reference="FG7ABCDEFGH2JKLMN",
            amount=150_000,
            created_at=NOW,
            now=NOW,
            request_id=request_id,
        )

    def query_answer(self, result_code: int, **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "partnerCode": PARTNER,
            "orderId": "FG7ABCDEFGH2JKLMN",
            "requestId": "RQQUERY0000000000001",
            "extraData": "",
            "amount": 150_000,
            "transId": 4088878653 if result_code == 0 else 0,
            "payType": "qr" if result_code == 0 else "",
            "resultCode": result_code,
            "refundTrans": [],
            "message": "Thành công." if result_code == 0 else "Đang chờ.",
            "responseTime": 1714540000000,
            "lastUpdated": 1714533450000,
            "signature": None,
        }
        answer.update(fields)
        return answer

    def test_query_sends_the_exact_signed_body(self, momo_api: responses.RequestsMock) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(0))
        self.adapter.query(self.query_request())
        raw = (
            f"accessKey={ACCESS_KEY}&orderId=FG7ABCDEFGH2JKLMN&partnerCode={PARTNER}"
            "&requestId=RQQUERY0000000000001"
        )
        assert sent_json(momo_api) == {
            "partnerCode": PARTNER,
            "requestId": "RQQUERY0000000000001",
            "orderId": "FG7ABCDEFGH2JKLMN",
            "lang": "vi",
            "signature": hmac_hex(raw),
        }

    def test_a_paid_order_queries_as_a_success_with_amount_and_trans_id(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(0))
        result = self.adapter.query(self.query_request())
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_txn_id == "4088878653"
        assert result.paid_at == datetime(2024, 5, 1, 3, 17, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("code", "outcome"),
        [
            (1000, Outcome.PENDING),
            (7000, Outcome.PENDING),
            (1006, Outcome.CANCELLED),
            (1005, Outcome.FAILED),
            (1001, Outcome.FAILED),
            (42, Outcome.UNKNOWN),
        ],
    )
    def test_query_codes_map_like_the_ipn_and_not_found_is_unknown(
        self, momo_api: responses.RequestsMock, code: int, outcome: Outcome
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(code))
        result = self.adapter.query(self.query_request())
        assert result.outcome is outcome
        assert result.result_code == str(code)
        assert result.provider_txn_id is None
        assert result.paid_at is None

    @pytest.mark.parametrize("code", [11, 12, 13, 20, 40])
    def test_a_query_refused_for_our_request_is_rejected_never_a_failed_payment(
        self, momo_api: responses.RequestsMock, code: int
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json={"resultCode": code, "message": "Sai."})
        with pytest.raises(ProviderRejected) as caught:
            self.adapter.query(self.query_request())
        assert caught.value.code == str(code)

    @pytest.mark.parametrize("code", [10, 43, 99])
    def test_a_query_momo_cannot_answer_now_is_provider_unavailable(
        self, momo_api: responses.RequestsMock, code: int
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json={"resultCode": code, "message": "Bảo trì."})
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(self.query_request())

    def test_a_query_answer_about_another_order_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(0, orderId="FGOTHER"))
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(self.query_request())

    def test_a_signed_query_answer_is_verified(self, momo_api: responses.RequestsMock) -> None:
        answer = self.query_answer(0)
        del answer["signature"]
        keys = [k for k in IPN_KEYS if k == "accessKey" or k in answer]
        values = {**answer, "accessKey": ACCESS_KEY}
        answer["signature"] = hmac_hex("&".join(f"{k}={values[k]}" for k in keys))
        momo_api.add(responses.POST, QUERY_URL, json=answer)
        assert self.adapter.query(self.query_request()).outcome is Outcome.SUCCEEDED

    def test_a_query_answer_with_a_bad_signature_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, json=self.query_answer(0, signature="ab" * 32))
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(self.query_request())

    def test_a_query_timeout_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, QUERY_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(self.query_request())

    def test_a_query_5xx_is_provider_unavailable(self, momo_api: responses.RequestsMock) -> None:
        momo_api.add(responses.POST, QUERY_URL, status=503, json={"resultCode": 0})
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(self.query_request())

    # -- refund -------------------------------------------------------------------------

    def refund_request(self, **overrides: Any) -> RefundRequest:
        values: dict[str, Any] = {
            "refund_reference": "RF7ABCDEFGH2JKLMN",
            "request_id": "RQREFUND000000000001",
            "provider_reference": "FG7ABCDEFGH2JKLMN",
            "provider_txn_id": "4088878653",
            "amount": 50_000,
            "original_amount": 150_000,
            "reason": "Hoàn lệ phí hồ sơ trùng",
            "attempt_created_at": NOW,
            "now": NOW,
        }
        values.update(overrides)
        return RefundRequest(**values)

    def refund_answer(self, result_code: int, **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "partnerCode": PARTNER,
            "orderId": "RF7ABCDEFGH2JKLMN",
            "requestId": "RQREFUND000000000001",
            "amount": 50_000,
            "transId": 4088999001,
            "resultCode": result_code,
            "message": "Thành công." if result_code == 0 else "Từ chối hoàn tiền.",
            "responseTime": 1714540000000,
        }
        answer.update(fields)
        return answer

    def test_refund_sends_the_exact_signed_body(self, momo_api: responses.RequestsMock) -> None:
        momo_api.add(responses.POST, REFUND_URL, json=self.refund_answer(0))
        self.adapter.refund(self.refund_request())
        raw = (
            f"accessKey={ACCESS_KEY}&amount=50000&description=Hoàn lệ phí hồ sơ trùng"
            f"&orderId=RF7ABCDEFGH2JKLMN&partnerCode={PARTNER}&requestId=RQREFUND000000000001"
            "&transId=4088878653"
        )
        assert sent_json(momo_api) == {
            "partnerCode": PARTNER,
            "orderId": "RF7ABCDEFGH2JKLMN",
            "requestId": "RQREFUND000000000001",
            "amount": 50_000,
            "transId": 4088878653,
            "lang": "vi",
            "description": "Hoàn lệ phí hồ sơ trùng",
            "signature": hmac_hex(raw),
        }

    def test_an_accepted_refund_succeeds_with_the_refund_s_own_trans_id(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, REFUND_URL, json=self.refund_answer(0))
        result = self.adapter.refund(self.refund_request())
        assert result.outcome is RefundOutcome.SUCCEEDED
        assert result.provider_refund_id == "4088999001"

    @pytest.mark.parametrize("code", [7000, 7002, 40, 41, 99])
    def test_a_refund_still_processing_or_unresolved_stays_pending(
        self, momo_api: responses.RequestsMock, code: int
    ) -> None:
        momo_api.add(responses.POST, REFUND_URL, json=self.refund_answer(code))
        result = self.adapter.refund(self.refund_request())
        assert result.outcome is RefundOutcome.PENDING
        assert result.result_code == str(code)

    def test_a_refused_refund_fails_with_momo_s_message(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(
            responses.POST,
            REFUND_URL,
            json=self.refund_answer(1081, message="Giao dịch đã được hoàn tiền."),
        )
        result = self.adapter.refund(self.refund_request())
        assert result.outcome is RefundOutcome.FAILED
        assert result.result_code == "1081"
        assert result.message == "Giao dịch đã được hoàn tiền."

    def test_a_refund_timeout_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, REFUND_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.refund(self.refund_request())

    def test_a_refund_5xx_is_provider_unavailable(self, momo_api: responses.RequestsMock) -> None:
        momo_api.add(responses.POST, REFUND_URL, status=500, body="oops")
        with pytest.raises(ProviderUnavailable):
            self.adapter.refund(self.refund_request())

    def test_a_success_answer_for_another_refund_is_provider_unavailable(
        self, momo_api: responses.RequestsMock
    ) -> None:
        momo_api.add(responses.POST, REFUND_URL, json=self.refund_answer(0, orderId="RFOTHER"))
        with pytest.raises(ProviderUnavailable):
            self.adapter.refund(self.refund_request())

    @pytest.mark.parametrize("txn", [None, "", "abc", "0"])
    def test_a_refund_without_momo_s_trans_id_is_not_sent(
        self, momo_api: responses.RequestsMock, txn: str | None
    ) -> None:
        with pytest.raises(ValueError):
            self.adapter.refund(self.refund_request(provider_txn_id=txn))
        assert not momo_api.calls

    # -- statements ---------------------------------------------------------------------

    def test_a_statement_row_maps_order_trans_amount_and_time(self) -> None:
        line = self.adapter.parse_statement_line(
            {
                "orderId": "FG7ABCDEFGH2JKLMN",
                "transId": "4088878653",
                "amount": "150000",
                "responseTime": 1714533450123,
            }
        )
        assert line.provider_reference == "FG7ABCDEFGH2JKLMN"
        assert line.amount == 150_000
        assert line.provider_txn_id == "4088878653"
        assert line.occurred_at == datetime(2024, 5, 1, 3, 17, 30, 123_000, tzinfo=UTC)
        assert line.kind == "payment"

    @pytest.mark.parametrize(
        "row",
        [
            {"transId": "1", "amount": 1},
            {"orderId": "A", "amount": 1.5},
            {"orderId": "A", "amount": "1.000"},
            {"orderId": "A", "amount": 0},
        ],
    )
    def test_a_statement_row_we_cannot_read_is_malformed(self, row: dict[str, Any]) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_statement_line(row)

    def test_the_config_repr_never_shows_the_secret(self) -> None:
        assert SECRET not in repr(CONFIG)
        assert ACCESS_KEY not in repr(CONFIG)
