"""VNPay adapter: the shared contract, VNPay's own vectors bit for bit, and the code tables.

The vectors (tests/adapters/vectors/vnpay.json, a copy of shared/providers/vectors/vnpay.json)
were produced by running VNPay's PHP/Node/JSP demos and npm `vnpay`; matching them proves
the encoding, the field order and the GMT+7 dates, which are all part of the signature.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from adapters._crypto import hmac_sha512_hex
from adapters.base import (
    VIETNAM_TZ,
    Ack,
    InboundRequest,
    Outcome,
    QueryRequest,
    RefundOutcome,
    RefundRequest,
    StartRequest,
)
from adapters.errors import InvalidSignature, MalformedMessage, ProviderUnavailable
from adapters.vnpay import (
    VnpayAdapter,
    VnpayConfig,
    build_pay_url,
    fold_order_info,
    hash_data,
    php_urlencode,
    querydr_checksum_data,
    querydr_response_checksum_data,
    refund_checksum_data,
    refund_response_checksum_data,
    sign_params,
    verify_params,
    vnpay_request_id,
)
from tests.adapters.contract import NOW, AdapterContract, make_start_request

VECTORS_FILE = Path(__file__).resolve().parent / "vectors" / "vnpay.json"
VECTORS: dict[str, dict[str, Any]] = {
    v["id"]: v for v in json.loads(VECTORS_FILE.read_text("utf-8"))["vectors"]
}

SECRET = "TESTSECRETVNPAYHASHKEY0000000001"
TMN = "TESTTMN1"
PAY_URL = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"
API_URL = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction"
DEMO_RETURN_URL = "https://dvc.example.gov.vn/payment/vnpay/return"
CONFIG = VnpayConfig(tmn_code=TMN, hash_secret=SECRET, pay_url=PAY_URL, api_url=API_URL)
REF = "FG7ABCDEFGH2JKLMN"


def make_adapter() -> VnpayAdapter:
    return VnpayAdapter(CONFIG)


def ipn_params(
    ref: str = REF,
    amount: int = 150_000,
    code: str = "00",
    status: str = "00",
    **overrides: str,
) -> dict[str, str]:
    """IPN/return params as VNPay sends them (decoded), signed with the test secret."""
    params = {
        "vnp_Amount": str(amount * 100),
        "vnp_BankCode": "NCB",
        "vnp_BankTranNo": "VNP14422574",
        "vnp_CardType": "ATM",
        "vnp_OrderInfo": "Le phi ho so 000.00.01.H32-240501-0001",
        "vnp_PayDate": "20240501101745",
        "vnp_ResponseCode": code,
        "vnp_TmnCode": TMN,
        "vnp_TransactionNo": "14422574",
        "vnp_TransactionStatus": status,
        "vnp_TxnRef": ref,
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    params["vnp_SecureHash"] = sign_params(params, SECRET)
    return params


def get(params: dict[str, str]) -> InboundRequest:
    return InboundRequest(method="GET", query=params)


@contextmanager
def process_tz(name: str) -> Iterator[None]:
    """Run with the process time zone set to `name` (os TZ + tzset), restored after."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def query_string(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


# --- the shared contract --------------------------------------------------------------


class TestVnpayAdapter(AdapterContract):
    adapter = make_adapter()

    def signed_callback(
        self, provider_reference: str, amount: int, outcome: Outcome
    ) -> InboundRequest:
        codes = {
            Outcome.SUCCEEDED: ("00", "00"),
            Outcome.FAILED: ("51", "02"),
            Outcome.CANCELLED: ("24", "02"),
        }
        if outcome not in codes:
            raise ValueError(f"a VNPay IPN cannot say {outcome}")
        code, status = codes[outcome]
        return get(ipn_params(provider_reference, amount, code, status))

    def tamper(self, request: InboundRequest) -> InboundRequest:
        params = dict(request.query)
        params["vnp_Amount"] = str(int(params["vnp_Amount"]) + 100)
        return get(params)

    def test_a_signed_failed_and_cancelled_callback_parse_to_their_outcomes(self) -> None:
        failed = self.adapter.parse_callback(self.signed_callback(REF, 150_000, Outcome.FAILED))
        cancelled = self.adapter.parse_callback(
            self.signed_callback(REF, 150_000, Outcome.CANCELLED)
        )
        assert failed.outcome is Outcome.FAILED
        assert cancelled.outcome is Outcome.CANCELLED


# --- VNPay's own vectors --------------------------------------------------------------

NOT_APPLICABLE = {
    # The official PHP demo cannot run on PHP 8 as shipped: there is no output to match.
    # What it teaches (send a real text as vnp_OrderInfo) is covered by the start tests.
    "vnpay.pay_url.php_demo.unpatched_php8",
}
COVERED = {
    "vnpay.pay_url.php_demo.run1",
    "vnpay.pay_url.php_demo.run2_bankcode",
    "vnpay.pay_url.npm_vnpay_lib",
    "vnpay.pay_url.node_demo",
    "vnpay.pay_url.jsp_demo.server_tz_utc",
    "vnpay.pay_url.jsp_demo.server_tz_hcm",
    "vnpay.ipn.valid_checksum",
    "vnpay.ipn.encoding_stress",
    "vnpay.querydr.php_demo",
    "vnpay.refund.php_demo",
    "vnpay.querydr.node_demo",
    "vnpay.refund.node_demo",
}


def test_the_vectors_copy_matches_the_shared_file_when_it_is_beside_the_repo() -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared/providers/vectors/vnpay.json"
    if not shared.exists():
        pytest.skip("shared/ is not checked out beside the repository")
    assert json.loads(shared.read_text("utf-8")) == json.loads(VECTORS_FILE.read_text("utf-8"))


def test_every_vector_in_the_file_is_reproduced_or_explained() -> None:
    assert set(VECTORS) == COVERED | NOT_APPLICABLE


@pytest.mark.parametrize(
    "vector_id", ["vnpay.pay_url.php_demo.run1", "vnpay.pay_url.php_demo.run2_bankcode"]
)
def test_php_demo_pay_urls_are_reproduced_bit_for_bit(vector_id: str) -> None:
    vector = VECTORS[vector_id]
    params = {k: str(v) for k, v in vector["inputs"]["params_as_built_by_demo"].items()}
    expected = vector["expected"]
    assert hash_data(params) == expected["hash_input (hashdata)"]
    assert sign_params(params, SECRET) == expected["vnp_SecureHash"]
    assert build_pay_url(PAY_URL, params, SECRET) == expected["payment_url"]


def test_npm_vnpay_library_pay_url_is_reproduced_bit_for_bit() -> None:
    vector = VECTORS["vnpay.pay_url.npm_vnpay_lib"]
    given = vector["inputs"]
    params = {
        "vnp_Version": "2.1.0",
        "vnp_Command": "pay",
        "vnp_TmnCode": given["tmnCode"],
        "vnp_Amount": str(given["vnp_Amount (library multiplies by 100)"] * 100),
        "vnp_CurrCode": "VND",
        "vnp_IpAddr": given["vnp_IpAddr"],
        "vnp_TxnRef": given["vnp_TxnRef"],
        "vnp_OrderInfo": given["vnp_OrderInfo"],
        "vnp_OrderType": given["vnp_OrderType"],
        "vnp_ReturnUrl": given["vnp_ReturnUrl"],
        "vnp_Locale": given["vnp_Locale"],
        "vnp_CreateDate": str(given["vnp_CreateDate"]),
        "vnp_ExpireDate": str(given["vnp_ExpireDate"]),
    }
    assert build_pay_url(PAY_URL, params, given["secret"]) == vector["expected"]["payment_url"]


def test_node_demo_pay_url_is_reproduced_bit_for_bit() -> None:
    vector = VECTORS["vnpay.pay_url.node_demo"]
    params = dict(vector["inputs"]["params_in_url"])
    received_hash = params.pop("vnp_SecureHash")
    assert sign_params(params, SECRET) == received_hash == vector["expected"]["vnp_SecureHash"]
    assert build_pay_url(PAY_URL, params, SECRET) == vector["expected"]["payment_url"]


@pytest.mark.parametrize(
    "vector_id", ["vnpay.pay_url.jsp_demo.server_tz_utc", "vnpay.pay_url.jsp_demo.server_tz_hcm"]
)
def test_jsp_demo_pay_urls_verify_and_rebuild_bit_for_bit(vector_id: str) -> None:
    expected = VECTORS[vector_id]["expected"]
    params = query_string(expected["payment_url"])
    assert verify_params(params, SECRET)
    assert sign_params(params, SECRET) == expected["vnp_SecureHash"]
    params.pop("vnp_SecureHash")
    assert build_pay_url(PAY_URL, params, SECRET) == expected["payment_url"]


def _demo_start_request(reference: str, description: str) -> StartRequest:
    return make_start_request(
        reference=reference,
        description=description,
        return_url=DEMO_RETURN_URL,
        client_ip="127.0.0.1",
        now=datetime(2024, 5, 1, 3, 15, 30, tzinfo=UTC),
        expires_at=datetime(2024, 5, 1, 3, 30, 30, tzinfo=UTC),
        locale="vi",
    )


def test_start_reproduces_the_php_demo_pay_url_exactly() -> None:
    request = _demo_start_request("7543", "Thanh toan GD:7543")
    result = make_adapter().start(request)
    assert result.redirect_url == VECTORS["vnpay.pay_url.php_demo.run1"]["expected"]["payment_url"]
    assert result.provider_reference == "7543"
    assert result.extra == {"vnp_CreateDate": "20240501101530"}


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Ho_Chi_Minh", "Etc/GMT+7"])
def test_start_writes_gmt7_dates_whatever_the_process_time_zone(zone: str) -> None:
    request = _demo_start_request("56733704", "Thanh toan le phi ho so HS240501-0001")
    with process_tz(zone):
        result = make_adapter().start(request)
    expected = VECTORS["vnpay.pay_url.jsp_demo.server_tz_hcm"]["expected"]["payment_url"]
    bug = VECTORS["vnpay.pay_url.jsp_demo.server_tz_utc"]["expected"]["payment_url"]
    assert result.redirect_url == expected
    assert result.redirect_url != bug
    assert result.extra["vnp_CreateDate"] == "20240501101530"


def test_the_time_zone_helper_really_changes_the_process_zone() -> None:
    moment = 1714533330  # 2024-05-01T03:15:30Z
    with process_tz("UTC"):
        utc_hour = time.localtime(moment).tm_hour
    with process_tz("America/New_York"):
        new_york_hour = time.localtime(moment).tm_hour
    assert (utc_hour, new_york_hour) == (3, 23)


def test_ipn_vector_from_the_php_demo_verifies_and_parses_to_success() -> None:
    vector = VECTORS["vnpay.ipn.valid_checksum"]
    params = dict(vector["inputs"]["params"])
    assert hash_data(params) == vector["expected"]["hash_input"]
    assert sign_params(params, SECRET) == vector["expected"]["vnp_SecureHash"]

    adapter = VnpayAdapter(VnpayConfig(TMN, SECRET, PAY_URL, API_URL))
    wire = dict(urllib.parse.parse_qsl(vector["expected"]["ipn_query"]))
    result = adapter.parse_callback(get(wire))
    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == 150_000
    assert result.provider_reference == "7543"
    assert result.provider_txn_id == "14422574"
    assert result.result_code == "00"
    assert result.paid_at == datetime(2024, 5, 1, 10, 17, 45, tzinfo=VIETNAM_TZ)
    assert result.paid_at == datetime(2024, 5, 1, 3, 17, 45, tzinfo=UTC)


def test_ipn_vector_with_the_amount_tampered_is_refused_like_the_php_demo() -> None:
    vector = VECTORS["vnpay.ipn.valid_checksum"]
    wire = dict(urllib.parse.parse_qsl(vector["expected"]["ipn_query"]))
    wire["vnp_Amount"] = "15000100"
    adapter = make_adapter()
    with pytest.raises(InvalidSignature):
        adapter.parse_callback(get(wire))
    demo = vector["expected"]["demo_response_amount_tampered_to_15000100"].lstrip("\ufeff")
    assert json.loads(adapter.acknowledge(Ack.INVALID_SIGNATURE).body) == json.loads(demo)


def test_ack_for_an_unknown_order_matches_the_php_demo_answer_without_its_bom() -> None:
    demo = VECTORS["vnpay.ipn.valid_checksum"]["expected"]["demo_response_valid"]
    demo_json = demo.lstrip("\ufeff").split("  (")[0]
    body = make_adapter().acknowledge(Ack.UNKNOWN_ORDER).body
    assert json.loads(body) == json.loads(demo_json)
    assert not body.startswith(b"\xef\xbb\xbf")


def test_encoding_stress_ipn_is_accepted_exactly_like_the_php_demo() -> None:
    vector = VECTORS["vnpay.ipn.encoding_stress"]
    params = dict(vector["inputs"]["params"])
    assert hash_data(params) == vector["expected"]["hash_input"]
    assert sign_params(params, SECRET) == vector["expected"]["vnp_SecureHash"]

    adapter = make_adapter()
    encoded = vector["expected"]["ipn_query"]
    raw_specials = encoded.replace("%28", "(").replace("%29", ")").replace("%7E", "~")
    raw_specials = raw_specials.replace("%2A", "*").replace("%21", "!")
    for query in (encoded, raw_specials):
        result = adapter.parse_callback(get(dict(urllib.parse.parse_qsl(query))))
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 25_000
        assert result.provider_reference == "HS240501-0001"


def test_php_urlencode_encodes_the_characters_python_and_js_leave_alone() -> None:
    assert php_urlencode("~*!'()") == "%7E%2A%21%27%28%29"
    assert php_urlencode("a b-_.:/") == "a+b-_.%3A%2F"
    assert php_urlencode("Lệ phí") == "L%E1%BB%87+ph%C3%AD"


@pytest.mark.parametrize("vector_id", ["vnpay.querydr.php_demo", "vnpay.querydr.node_demo"])
def test_querydr_vectors_checksum_is_reproduced(vector_id: str) -> None:
    expected = VECTORS[vector_id]["expected"]
    body = json.loads(expected["body_as_sent"])
    data = querydr_checksum_data(
        request_id=str(body["vnp_RequestId"]),
        tmn_code=body["vnp_TmnCode"],
        txn_ref=body["vnp_TxnRef"],
        transaction_date=body["vnp_TransactionDate"],
        create_date=body["vnp_CreateDate"],
        ip_addr=body["vnp_IpAddr"],
        order_info=body["vnp_OrderInfo"],
    )
    assert data == expected["hash_input"]
    assert hmac_sha512_hex(SECRET, data) == expected["vnp_SecureHash"]


@pytest.mark.parametrize("vector_id", ["vnpay.refund.php_demo", "vnpay.refund.node_demo"])
def test_refund_vectors_checksum_is_reproduced(vector_id: str) -> None:
    expected = VECTORS[vector_id]["expected"]
    body = json.loads(expected["body_as_sent"])
    data = refund_checksum_data(
        request_id=str(body["vnp_RequestId"]),
        tmn_code=body["vnp_TmnCode"],
        transaction_type=body["vnp_TransactionType"],
        txn_ref=body["vnp_TxnRef"],
        amount=str(body["vnp_Amount"]),
        transaction_no=body["vnp_TransactionNo"],
        transaction_date=body["vnp_TransactionDate"],
        create_by=body["vnp_CreateBy"],
        create_date=body["vnp_CreateDate"],
        ip_addr=body["vnp_IpAddr"],
        order_info=body["vnp_OrderInfo"],
    )
    assert data == expected["hash_input"]
    assert hmac_sha512_hex(SECRET, data) == expected["vnp_SecureHash"]


def _vector_query_request(vector_id: str) -> QueryRequest:
    body = json.loads(VECTORS[vector_id]["expected"]["body_as_sent"])
    return QueryRequest(
        provider_reference=body["vnp_TxnRef"],
        reference=body["vnp_TxnRef"],
        amount=150_000,
        created_at=datetime(2024, 5, 1, 3, 15, 30, tzinfo=UTC),
        now=datetime(2024, 5, 2, 2, 0, 0, tzinfo=UTC),
        request_id=str(body["vnp_RequestId"]),
        description=body["vnp_OrderInfo"],
        server_ip="127.0.0.1",
        extra={"vnp_CreateDate": body["vnp_TransactionDate"]},
    )


def _vector_refund_request(vector_id: str) -> RefundRequest:
    body = json.loads(VECTORS[vector_id]["expected"]["body_as_sent"])
    return RefundRequest(
        refund_reference="RF1",
        request_id=str(body["vnp_RequestId"]),
        provider_reference=body["vnp_TxnRef"],
        provider_txn_id=None,
        amount=150_000,
        original_amount=150_000,
        reason=body["vnp_OrderInfo"],
        attempt_created_at=datetime(2024, 5, 1, 3, 15, 30, tzinfo=UTC),
        now=datetime(2024, 5, 2, 2, 5, 0, tzinfo=UTC),
        actor=body["vnp_CreateBy"],
        server_ip="127.0.0.1",
        extra={"vnp_CreateDate": body["vnp_TransactionDate"]},
    )


@pytest.mark.parametrize("vector_id", ["vnpay.querydr.php_demo", "vnpay.querydr.node_demo"])
def test_query_sends_the_demo_body_exactly(vector_id: str) -> None:
    expected = json.loads(VECTORS[vector_id]["expected"]["body_as_sent"])
    expected["vnp_RequestId"] = str(expected["vnp_RequestId"])  # PHP sends a number
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, API_URL, json=querydr_answer(ref="7543"))
        make_adapter().query(_vector_query_request(vector_id))
        sent = rsps.calls[0].request
    assert json.loads(sent.body) == expected
    assert sent.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("vector_id", ["vnpay.refund.php_demo", "vnpay.refund.node_demo"])
def test_refund_sends_the_demo_body_exactly(vector_id: str) -> None:
    expected = json.loads(VECTORS[vector_id]["expected"]["body_as_sent"])
    expected["vnp_RequestId"] = str(expected["vnp_RequestId"])
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, API_URL, json=refund_answer(ref="7543"))
        make_adapter().refund(_vector_refund_request(vector_id))
        sent = rsps.calls[0].request
    assert json.loads(sent.body) == expected


# --- pay URL --------------------------------------------------------------------------


class TestPayUrl:
    def test_pay_url_carries_every_mandatory_param_and_verifies(self) -> None:
        result = make_adapter().start(make_start_request(return_url="https://fg.test/r?x=1"))
        assert result.redirect_url is not None
        assert result.redirect_url.startswith(PAY_URL + "?")
        params = query_string(result.redirect_url)
        assert verify_params(params, SECRET)
        assert params["vnp_Amount"] == "15000000"
        assert params["vnp_CreateDate"] == "20240501101530"
        assert params["vnp_ExpireDate"] == "20240501111530"
        assert params["vnp_TxnRef"] == REF == result.provider_reference
        assert params["vnp_ReturnUrl"] == "https://fg.test/r?x=1"
        assert params["vnp_IpAddr"] == "203.0.113.7"
        assert params["vnp_Locale"] == "vn"
        assert params["vnp_CurrCode"] == "VND"
        assert params["vnp_OrderType"] == "other"
        assert params["vnp_Command"] == "pay"
        assert params["vnp_Version"] == "2.1.0"
        assert params["vnp_TmnCode"] == TMN

    def test_pay_url_never_sends_secure_hash_type_nor_a_bank_code(self) -> None:
        url = make_adapter().start(make_start_request()).redirect_url
        assert url is not None
        assert "vnp_SecureHashType" not in url
        assert "vnp_BankCode" not in url

    def test_english_locale_becomes_en_and_anything_else_vn(self) -> None:
        adapter = make_adapter()
        en = adapter.start(make_start_request(locale="en")).redirect_url
        xx = adapter.start(make_start_request(locale="fr")).redirect_url
        assert en is not None and xx is not None
        assert query_string(en)["vnp_Locale"] == "en"
        assert query_string(xx)["vnp_Locale"] == "vn"

    def test_order_info_is_the_description_folded_to_ascii(self) -> None:
        url = make_adapter().start(make_start_request()).redirect_url
        assert url is not None
        assert query_string(url)["vnp_OrderInfo"] == (
            "Le phi cap phieu ly lich tu phap ho so 000.00.01.H32-240501-0001"
        )

    def test_an_empty_description_still_sends_an_order_info(self) -> None:
        url = make_adapter().start(make_start_request(description="!!!")).redirect_url
        assert url is not None
        assert query_string(url)["vnp_OrderInfo"] == f"Thanh toan {REF}"

    def test_a_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError):
            make_adapter().start(make_start_request(now=datetime(2024, 5, 1, 10, 15, 30)))

    @pytest.mark.parametrize("amount", [0, -1, True, 1.5, 10_000_000_000])
    def test_an_amount_vnpay_cannot_carry_is_refused(self, amount: object) -> None:
        with pytest.raises((TypeError, ValueError)):
            make_adapter().start(make_start_request(amount=amount))


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đăng ký (lần 2) — phí: 50.000đ!", "Dang ky lan 2 phi: 50.000d"),
        ("Nguyễn Thị Hương, Ơn Ưng Ắ ẫ ỹ", "Nguyen Thi Huong On Ung A a y"),
        ("  a\t\nb  ~*  c  ", "a b c"),
        ("HS/2024_01:ok", "HS 2024_01:ok"),
        ("ＦＵＬＬ２", "FULL2"),
    ],
)
def test_order_info_folding_keeps_only_characters_every_encoder_agrees_on(
    text: str, folded: str
) -> None:
    assert fold_order_info(text) == folded


def test_order_info_folding_stops_at_255_characters() -> None:
    folded = fold_order_info("ệ" * 300)
    assert folded == "e" * 255


# --- IPN, return, acknowledgement -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("00", "00", Outcome.SUCCEEDED),
        ("24", "02", Outcome.CANCELLED),
        ("51", "02", Outcome.FAILED),
        ("11", "02", Outcome.FAILED),
        ("07", "00", Outcome.SUCCEEDED),  # money debited, VNPay says paid (issue 3 review)
        ("07", "07", Outcome.PENDING),  # debited, suspected fraud: never FAILED
        ("00", "02", Outcome.FAILED),
        ("00", "01", Outcome.FAILED),
        ("42", "00", Outcome.FAILED),
        ("AB", "99", Outcome.FAILED),
    ],
)
def test_ipn_codes_map_to_outcomes_and_only_00_00_is_success(
    code: str, status: str, outcome: Outcome
) -> None:
    result = make_adapter().parse_callback(get(ipn_params(code=code, status=status)))
    assert result.outcome is outcome
    assert result.result_code == code
    assert result.message


def test_ipn_messages_are_readable_vietnamese() -> None:
    adapter = make_adapter()
    assert adapter.parse_callback(get(ipn_params(code="51", status="02"))).message == (
        "Giao dịch không thành công: tài khoản không đủ số dư"
    )
    assert "42" in adapter.parse_callback(get(ipn_params(code="42", status="02"))).message


def test_a_failed_ipn_has_no_paid_time_and_no_transaction_number_zero() -> None:
    params = ipn_params(code="24", status="02", vnp_TransactionNo="0", vnp_BankTranNo="")
    result = make_adapter().parse_callback(get(params))
    assert result.paid_at is None
    assert result.provider_txn_id is None


def test_ipn_00_without_a_transaction_status_is_malformed_not_guessed() -> None:
    params = ipn_params()
    del params["vnp_TransactionStatus"]
    params["vnp_SecureHash"] = sign_params(params, SECRET)
    with pytest.raises(MalformedMessage):
        make_adapter().parse_callback(get(params))


@pytest.mark.parametrize("amount", ["15000050", "1.5e7", "-15000000", "", "１５０００００"])
def test_a_signed_ipn_with_an_unreadable_amount_is_malformed(amount: str) -> None:
    params = ipn_params(vnp_Amount=amount)
    with pytest.raises(MalformedMessage):
        make_adapter().parse_callback(get(params))


@pytest.mark.parametrize("field", ["vnp_TxnRef", "vnp_ResponseCode", "vnp_TmnCode"])
def test_a_signed_ipn_missing_a_field_is_malformed(field: str) -> None:
    params = ipn_params()
    del params[field]
    params["vnp_SecureHash"] = sign_params(params, SECRET)
    with pytest.raises(MalformedMessage):
        make_adapter().parse_callback(get(params))


def test_an_ipn_for_another_terminal_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        make_adapter().parse_callback(get(ipn_params(vnp_TmnCode="OTHERTMN")))


def test_an_ipn_signed_with_another_secret_is_refused() -> None:
    params = ipn_params()
    del params["vnp_SecureHash"]
    params["vnp_SecureHash"] = sign_params(params, "ANOTHERSECRET")
    with pytest.raises(InvalidSignature):
        make_adapter().parse_callback(get(params))


def test_an_ipn_without_secure_hash_is_an_invalid_signature() -> None:
    params = ipn_params()
    del params["vnp_SecureHash"]
    with pytest.raises(InvalidSignature):
        make_adapter().parse_callback(get(params))


def test_secure_hash_type_and_empty_values_are_left_out_of_the_checksum() -> None:
    params = ipn_params(vnp_BankTranNo="")
    params["vnp_SecureHashType"] = "HmacSHA512"
    result = make_adapter().parse_callback(get(params))
    assert result.outcome is Outcome.SUCCEEDED


def test_an_uppercase_secure_hash_is_accepted() -> None:
    params = ipn_params()
    params["vnp_SecureHash"] = params["vnp_SecureHash"].upper()
    assert make_adapter().parse_callback(get(params)).outcome is Outcome.SUCCEEDED


def test_a_non_vnp_param_added_to_the_query_does_not_change_the_checksum() -> None:
    params = ipn_params()
    params["utm_source"] = "x"
    assert make_adapter().parse_callback(get(params)).outcome is Outcome.SUCCEEDED


def test_the_browser_return_is_verified_like_the_ipn() -> None:
    adapter = make_adapter()
    result = adapter.parse_return(get(ipn_params()))
    assert result.outcome is Outcome.SUCCEEDED
    tampered = ipn_params()
    tampered["vnp_ResponseCode"] = "24"
    with pytest.raises(InvalidSignature):
        adapter.parse_return(get(tampered))


def test_return_reference_is_the_claimed_txn_ref_without_verification() -> None:
    adapter = make_adapter()
    assert adapter.return_reference(get({"vnp_TxnRef": "ABC", "vnp_SecureHash": "bad"})) == "ABC"
    assert adapter.return_reference(get({})) is None


@pytest.mark.parametrize(
    ("ack", "code", "message"),
    [
        (Ack.RECORDED, "00", "Confirm Success"),
        (Ack.ALREADY_CONFIRMED, "02", "Order already confirmed"),
        (Ack.UNKNOWN_ORDER, "01", "Order not found"),
        (Ack.AMOUNT_MISMATCH, "04", "invalid amount"),
        (Ack.INVALID_SIGNATURE, "97", "Invalid signature"),
        (Ack.MALFORMED, "99", "Unknow error"),
        (Ack.RETRY, "99", "Unknow error"),
    ],
)
def test_acks_answer_vnpay_in_its_own_json(ack: Ack, code: str, message: str) -> None:
    response = make_adapter().acknowledge(ack)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"RspCode": code, "Message": message}


def test_config_repr_hides_the_secret() -> None:
    assert SECRET not in repr(CONFIG)


# --- querydr --------------------------------------------------------------------------


def querydr_answer(
    code: Any = "00",
    status: Any = "00",
    ref: str = REF,
    secret: str = SECRET,
    **overrides: Any,
) -> dict[str, Any]:
    """A querydr answer as VNPay signs it."""
    answer: dict[str, Any] = {
        "vnp_ResponseId": "4f1e3c2b9a8d7e6f",
        "vnp_Command": "querydr",
        "vnp_ResponseCode": code,
        "vnp_Message": "QueryDR Success",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": ref,
        "vnp_Amount": "15000000",
        "vnp_OrderInfo": "Le phi ho so",
        "vnp_BankCode": "NCB",
        "vnp_PayDate": "20240501101745",
        "vnp_TransactionNo": "14422574",
        "vnp_TransactionType": "01",
        "vnp_TransactionStatus": status,
    }
    answer.update(overrides)
    answer = {k: v for k, v in answer.items() if v is not None}
    answer["vnp_SecureHash"] = hmac_sha512_hex(secret, querydr_response_checksum_data(answer, TMN))
    return answer


def refund_answer(code: str = "00", ref: str = REF, **overrides: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "vnp_ResponseId": "9a8b7c6d5e4f",
        "vnp_Command": "refund",
        "vnp_ResponseCode": code,
        "vnp_Message": "Refund success",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": ref,
        "vnp_Amount": "15000000",
        "vnp_OrderInfo": "Hoan tien",
        "vnp_BankCode": "NCB",
        "vnp_PayDate": "20240502090500",
        "vnp_TransactionNo": "14422999",
        "vnp_TransactionType": "02",
        "vnp_TransactionStatus": "05",
    }
    answer.update(overrides)
    answer["vnp_SecureHash"] = hmac_sha512_hex(SECRET, refund_response_checksum_data(answer, TMN))
    return answer


def query_request(**overrides: Any) -> QueryRequest:
    values: dict[str, Any] = {
        "provider_reference": REF,
        "reference": REF,
        "amount": 150_000,
        "created_at": NOW,
        "now": NOW + timedelta(minutes=20),
        "request_id": "RQ7ABCDEFGH2JKLMN",
        "description": "Truy van giao dich",
        "server_ip": "10.0.0.5",
        "extra": {"vnp_CreateDate": "20240501101530"},
    }
    values.update(overrides)
    return QueryRequest(**values)


def run_query(answer: Any = None, **request: Any) -> Any:
    with responses.RequestsMock() as rsps:
        if isinstance(answer, Exception):
            rsps.add(responses.POST, API_URL, body=answer)
        elif isinstance(answer, int):
            rsps.add(responses.POST, API_URL, status=answer, body="oops")
        else:
            rsps.add(responses.POST, API_URL, json=answer)
        return make_adapter().query(query_request(**request))


class TestQuerydr:
    def test_query_signs_the_pipe_joined_fields_in_vnpays_order(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=querydr_answer())
            make_adapter().query(query_request())
            body = json.loads(rsps.calls[0].request.body)
        data = (
            "RQ7ABCDEFGH2JKLMN|2.1.0|querydr|TESTTMN1|FG7ABCDEFGH2JKLMN|20240501101530|"
            "20240501103530|10.0.0.5|Truy van giao dich"
        )
        assert body == {
            "vnp_RequestId": "RQ7ABCDEFGH2JKLMN",
            "vnp_Version": "2.1.0",
            "vnp_Command": "querydr",
            "vnp_TmnCode": TMN,
            "vnp_TxnRef": REF,
            "vnp_OrderInfo": "Truy van giao dich",
            "vnp_TransactionDate": "20240501101530",
            "vnp_CreateDate": "20240501103530",
            "vnp_IpAddr": "10.0.0.5",
            "vnp_SecureHash": hmac_sha512_hex(SECRET, data),
        }

    def test_transaction_date_falls_back_to_the_attempt_creation_in_gmt7(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=querydr_answer())
            make_adapter().query(query_request(extra={}, created_at=NOW + timedelta(seconds=1)))
            body = json.loads(rsps.calls[0].request.body)
        assert body["vnp_TransactionDate"] == "20240501101531"

    def test_a_known_transaction_number_is_sent_too(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=querydr_answer())
            make_adapter().query(query_request(provider_txn_id="14422574"))
            body = json.loads(rsps.calls[0].request.body)
        assert body["vnp_TransactionNo"] == "14422574"

    def test_a_request_id_vnpay_would_refuse_is_mapped_to_a_stable_alphanumeric_one(self) -> None:
        raw = "3f2c6a0e-8c4b-4f7e-9d1a-2b3c4d5e6f70-retry"
        mapped = vnpay_request_id(raw)
        assert mapped == vnpay_request_id(raw)
        assert mapped.isalnum() and len(mapped) == 32
        assert vnpay_request_id("ABC123") == "ABC123"

    def test_a_signed_paid_answer_is_success_with_amount_time_and_transaction_number(
        self,
    ) -> None:
        result = run_query(querydr_answer())
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_txn_id == "14422574"
        assert result.paid_at == datetime(2024, 5, 1, 3, 17, 45, tzinfo=UTC)
        assert result.result_code == "00"

    def test_numbers_in_the_answer_are_signed_as_their_digits(self) -> None:
        result = run_query(querydr_answer(vnp_Amount=15000000))
        assert result.amount == 150_000

    def test_codes_sent_as_json_numbers_are_read_as_two_digit_codes(self) -> None:
        assert run_query(querydr_answer(code=0, status=1)).outcome is Outcome.PENDING

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [("01", Outcome.PENDING), ("02", Outcome.FAILED), ("04", Outcome.FAILED)],
    )
    def test_a_signed_answer_maps_transaction_status(self, status: str, outcome: Outcome) -> None:
        result = run_query(querydr_answer(status=status))
        assert result.outcome is outcome
        assert result.paid_at is None

    def test_not_found_is_unknown(self) -> None:
        answer = querydr_answer(
            code="91",
            status=None,
            vnp_Amount=None,
            vnp_TransactionNo=None,
            vnp_PayDate=None,
            vnp_BankCode=None,
            vnp_TransactionType=None,
        )
        result = run_query(answer)
        assert result.outcome is Outcome.UNKNOWN
        assert result.amount is None

    @pytest.mark.parametrize("code", ["94", "99", "02", "03", "97", "12"])
    def test_errors_and_unknown_codes_are_retried_later(self, code: str) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(querydr_answer(code=code))

    def test_a_timeout_is_provider_unavailable(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(requests.Timeout("slow"))

    def test_a_refused_connection_is_provider_unavailable(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(requests.ConnectionError("refused"))

    def test_a_server_error_is_provider_unavailable(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(500)

    def test_an_answer_with_a_bad_checksum_is_never_trusted(self) -> None:
        with pytest.raises(ProviderUnavailable, match="checksum"):
            run_query(querydr_answer(secret="ANOTHERSECRET"))

    def test_an_answer_changed_after_signing_is_never_trusted(self) -> None:
        answer = querydr_answer(status="02")
        answer["vnp_TransactionStatus"] = "00"
        with pytest.raises(ProviderUnavailable):
            run_query(answer)

    def test_an_unsigned_answer_is_never_trusted(self) -> None:
        answer = querydr_answer()
        del answer["vnp_SecureHash"]
        with pytest.raises(ProviderUnavailable):
            run_query(answer)

    def test_a_signed_answer_about_another_order_is_never_trusted(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(querydr_answer(ref="SOMEONEELSE"))

    def test_a_paid_answer_with_a_fractional_amount_is_retried_not_rounded(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_query(querydr_answer(vnp_Amount="15000050"))

    def test_the_answer_checksum_covers_the_fields_in_vnpays_order(self) -> None:
        answer = querydr_answer(vnp_PromotionCode="KM1", vnp_PromotionAmount="1000")
        assert querydr_response_checksum_data(answer, TMN) == (
            "4f1e3c2b9a8d7e6f|querydr|00|QueryDR Success|TESTTMN1|FG7ABCDEFGH2JKLMN|15000000|"
            "NCB|20240501101745|14422574|01|00|Le phi ho so|KM1|1000"
        )
        assert refund_response_checksum_data(answer, TMN) == (
            "4f1e3c2b9a8d7e6f|querydr|00|QueryDR Success|TESTTMN1|FG7ABCDEFGH2JKLMN|15000000|"
            "NCB|20240501101745|14422574|01|00|Le phi ho so"
        )


# --- refund ---------------------------------------------------------------------------


def refund_request(**overrides: Any) -> RefundRequest:
    values: dict[str, Any] = {
        "refund_reference": "RF7ABCDEFGH",
        "request_id": "RQREFUND1",
        "provider_reference": REF,
        "provider_txn_id": "14422574",
        "amount": 150_000,
        "original_amount": 150_000,
        "reason": "Hoàn tiền do hồ sơ bị từ chối",
        "attempt_created_at": NOW,
        "now": NOW + timedelta(days=1),
        "actor": "ketoan01",
        "server_ip": "10.0.0.5",
        "extra": {"vnp_CreateDate": "20240501101530"},
    }
    values.update(overrides)
    return RefundRequest(**values)


def run_refund(answer: Any, **request: Any) -> Any:
    with responses.RequestsMock() as rsps:
        if isinstance(answer, Exception):
            rsps.add(responses.POST, API_URL, body=answer)
        elif isinstance(answer, int):
            rsps.add(responses.POST, API_URL, status=answer, body="oops")
        else:
            rsps.add(responses.POST, API_URL, json=answer)
        return make_adapter().refund(refund_request(**request))


class TestRefund:
    def test_a_partial_refund_is_type_03_with_its_amount_and_transaction_number(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=refund_answer())
            make_adapter().refund(refund_request(amount=50_000))
            body = json.loads(rsps.calls[0].request.body)
        data = (
            "RQREFUND1|2.1.0|refund|TESTTMN1|03|FG7ABCDEFGH2JKLMN|5000000|14422574|20240501101530|"
            "ketoan01|20240502101530|10.0.0.5|Hoan tien do ho so bi tu choi"
        )
        assert body == {
            "vnp_RequestId": "RQREFUND1",
            "vnp_Version": "2.1.0",
            "vnp_Command": "refund",
            "vnp_TmnCode": TMN,
            "vnp_TransactionType": "03",
            "vnp_TxnRef": REF,
            "vnp_Amount": 5000000,
            "vnp_OrderInfo": "Hoan tien do ho so bi tu choi",
            "vnp_TransactionNo": "14422574",
            "vnp_TransactionDate": "20240501101530",
            "vnp_CreateDate": "20240502101530",
            "vnp_CreateBy": "ketoan01",
            "vnp_IpAddr": "10.0.0.5",
            "vnp_SecureHash": hmac_sha512_hex(SECRET, data),
        }

    def test_a_full_refund_is_type_02(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=refund_answer())
            make_adapter().refund(refund_request())
            body = json.loads(rsps.calls[0].request.body)
        assert body["vnp_TransactionType"] == "02"
        assert body["vnp_Amount"] == 15000000

    def test_a_signed_success_answer_is_a_succeeded_refund(self) -> None:
        result = run_refund(refund_answer())
        assert result.outcome is RefundOutcome.SUCCEEDED
        assert result.result_code == "00"
        assert result.provider_refund_id == "14422999"
        assert result.extra["vnp_RequestId"] == "RQREFUND1"

    def test_already_requested_is_pending(self) -> None:
        assert run_refund(refund_answer(code="94")).outcome is RefundOutcome.PENDING

    @pytest.mark.parametrize("code", ["91", "95", "02", "03", "97"])
    def test_final_refusals_are_failed(self, code: str) -> None:
        result = run_refund(refund_answer(code=code))
        assert result.outcome is RefundOutcome.FAILED
        assert result.message

    @pytest.mark.parametrize("code", ["99", "42"])
    def test_other_errors_are_retried_later(self, code: str) -> None:
        with pytest.raises(ProviderUnavailable):
            run_refund(refund_answer(code=code))

    def test_a_timeout_is_provider_unavailable(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_refund(requests.Timeout("slow"))

    def test_a_server_error_is_provider_unavailable(self) -> None:
        with pytest.raises(ProviderUnavailable):
            run_refund(502)

    def test_an_answer_with_a_bad_checksum_is_never_trusted(self) -> None:
        answer = refund_answer()
        answer["vnp_SecureHash"] = "0" * 128
        with pytest.raises(ProviderUnavailable):
            run_refund(answer)

    def test_a_refund_larger_than_the_payment_is_refused_before_calling_vnpay(self) -> None:
        with responses.RequestsMock() as rsps, pytest.raises(ValueError):
            make_adapter().refund(refund_request(amount=150_001))
        assert len(rsps.calls) == 0

    def test_an_unknown_transaction_number_is_sent_as_0(self) -> None:
        with responses.RequestsMock() as rsps:
            rsps.add(responses.POST, API_URL, json=refund_answer())
            make_adapter().refund(refund_request(provider_txn_id=None))
            body = json.loads(rsps.calls[0].request.body)
        assert body["vnp_TransactionNo"] == "0"


# --- statements -----------------------------------------------------------------------


class TestStatement:
    def test_a_row_with_api_style_columns_becomes_a_payment_line(self) -> None:
        line = make_adapter().parse_statement_line(
            {
                "TxnRef": REF,
                "Amount": "150.000",
                "TransactionNo": 14422574,
                "PayDate": "20240501101745",
            }
        )
        assert line.provider_reference == REF
        assert line.amount == 150_000
        assert line.provider_txn_id == "14422574"
        assert line.occurred_at == datetime(2024, 5, 1, 3, 17, 45, tzinfo=UTC)
        assert line.kind == "payment"

    def test_a_row_with_vnp_columns_and_a_refund_type_becomes_a_refund_line(self) -> None:
        line = make_adapter().parse_statement_line(
            {"vnp_TxnRef": REF, "vnp_Amount": "5000000", "vnp_TransactionType": "03"}
        )
        assert (line.amount, line.kind, line.occurred_at) == (50_000, "refund", None)

    @pytest.mark.parametrize(("cell", "kind"), [(2, "refund"), (3, "refund"), ("2", "refund"),
                                                (1, "payment"), ("01", "payment")])
    def test_a_transaction_type_that_excel_stored_as_a_number_keeps_its_meaning(
            self, cell: object, kind: str) -> None:
        line = make_adapter().parse_statement_line(
            {"TxnRef": REF, "Amount": 50_000, "TransactionType": cell})
        assert line.kind == kind

    @pytest.mark.parametrize(
        "row",
        [
            {"Amount": "150000"},
            {"TxnRef": REF},
            {"TxnRef": REF, "Amount": "150000.5"},
            {"TxnRef": REF, "Amount": 150000.0},
            {"TxnRef": REF, "Amount": "150000", "PayDate": "01/05/2024"},
        ],
    )
    def test_an_unreadable_row_is_malformed(self, row: dict[str, Any]) -> None:
        with pytest.raises(MalformedMessage):
            make_adapter().parse_statement_line(row)
