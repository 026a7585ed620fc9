"""VietQR adapter: the reference libraries' payloads, the CRC, and payOS-style webhooks.

Expected payloads come from npm `vietnam-qr-pay` via the vectors file; expected
signatures come from payOS (its docs sample, verified by its SDK, and the SDK's own test
cases) or are computed here with hmac over literal strings, never with the adapter's
helpers. The CRC is cross-checked with a bitwise CRC-16/CCITT-FALSE written here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.base import (
    Ack,
    InboundRequest,
    Outcome,
    QueryRequest,
    RefundRequest,
)
from adapters.errors import InvalidSignature, MalformedMessage, NotSupported
from adapters.vietqr import (
    NO_REFERENCE,
    VietqrAdapter,
    VietqrConfig,
    build_payload,
    crc_is_valid,
    find_reference,
    parse_tlv,
    sign,
    signature_raw,
    tlv,
)
from tests.adapters.contract import NOW, AdapterContract, make_start_request

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "vietqr.json").read_text(encoding="utf-8")
)
GMT7 = timezone(timedelta(hours=7))

BANK_BIN = "970436"
ACCOUNT_NO = "0011001234567"
ACCOUNT_NAME = "SO TU PHAP TINH KHANH HOA"
CHECKSUM_KEY = "TESTKEYVIETQR0000000000000000000000000000000000000000000000000001"
CONFIG = VietqrConfig(
    bank_bin=BANK_BIN, account_no=ACCOUNT_NO, account_name=ACCOUNT_NAME, checksum_key=CHECKSUM_KEY
)
REFERENCE = "FG7ABCDEFGH2JKLMN"  # the contract's reference
REAL_REFERENCE = "FGABCDEFGHJKLMN234"  # payments.ids: FG + 16

# payOS docs sample (https://payos.vn/docs/tich-hop-webhook/kiem-tra-du-lieu-voi-signature/),
# verified by PyPI payos==1.1.0 PayOS.webhooks.verify per vectors/vietqr.json
PAYOS_DOCS_KEY = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
PAYOS_DOCS_SAMPLE: dict[str, Any] = {
    "code": "00",
    "desc": "success",
    "success": True,
    "data": {
        "orderCode": 123,
        "amount": 3000,
        "description": "VQRIO123",
        "accountNumber": "12345678",
        "reference": "TF230204212323",
        "transactionDateTime": "2023-02-04 18:25:00",
        "currency": "VND",
        "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18",
        "code": "00",
        "desc": "Thành công",
        "counterAccountBankId": "",
        "counterAccountBankName": "",
        "counterAccountName": "",
        "counterAccountNumber": "",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    },
    "signature": "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03",
}

# payOS SDK test cases (payOSHQ/payos-lib-python tests/_crypto/testCases.json, type "body",
# key "test_checksum_key"): create_signature_from_object must give `expect`
SDK_KEY = "test_checksum_key"
SDK_BODY_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "webhook",
        {
            "accountNumber": "0123456789",
            "amount": 20000,
            "description": "thanh toan",
            "reference": "FT-REFERENCE",
            "transactionDateTime": "2025-12-12 09:00:00",
            "virtualAccountNumber": "",
            "counterAccountBankId": "01202001",
            "counterAccountBankName": "",
            "counterAccountName": "NGUYEN VAN A",
            "counterAccountNumber": "9876543210",
            "virtualAccountName": "",
            "currency": "VND",
            "orderCode": 0,
            "paymentLinkId": "payment-link-id",
            "code": "00",
            "desc": "success",
        },
        "302b3becca1672dff99daafae2965f40e48ea3ca39453e4bf37fbcc26807a0e8",
    ),
    (
        "pending payment link (empty list, nulls)",
        {
            "id": "payment-link-id",
            "orderCode": 0,
            "amount": 2000,
            "amountPaid": 0,
            "amountRemaining": 2000,
            "status": "PENDING",
            "createdAt": "2025-12-12T09:00:00+07:00",
            "transactions": [],
            "canceledAt": None,
            "cancellationReason": None,
        },
        "33093364158b143baa9ecd2e705d9a2a5a5d391a3cab7cb0a371588b3731368f",
    ),
    (
        "paid payment link (list of objects with nulls)",
        {
            "id": "payment-link-id",
            "orderCode": 0,
            "amount": 2000,
            "amountPaid": 2000,
            "amountRemaining": 0,
            "status": "PAID",
            "createdAt": "2025-12-12T09:00:00+07:00",
            "transactions": [
                {
                    "accountNumber": "0123456789",
                    "amount": 2000,
                    "counterAccountBankId": "01202001",
                    "counterAccountBankName": None,
                    "counterAccountName": "NGUYEN VAN A",
                    "counterAccountNumber": "9876543210",
                    "description": "TRANSACTION DESCRIPTION",
                    "reference": "FT-REFERENCE",
                    "transactionDateTime": "2025-12-12T09:00:00+07:00",
                    "virtualAccountName": None,
                    "virtualAccountNumber": None,
                }
            ],
            "canceledAt": None,
            "cancellationReason": None,
        },
        "6af5e2c9a28256c140169ed624114b43295915d7b6e2fa6278b17a7c43aadefd",
    ),
]


def vector(vector_id: str) -> dict[str, Any]:
    return next(v for v in VECTORS["vectors"] if v["id"] == vector_id)


PAYLOAD_VECTORS = [v["id"] for v in VECTORS["vectors"] if "payload" in v.get("expected", {})]


def bitwise_crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def payos_sign(data: dict[str, Any], key: str = CHECKSUM_KEY) -> str:
    """payOS's rule for flat webhook data, written out: sorted k=v joined by &, HMAC-SHA256."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    raw = "&".join(f"{k}={text(data[k])}" for k in sorted(data))
    return hmac.new(key.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def webhook(
    description: str = f"MBVCB.3278614213.{REFERENCE}.CT tu 0123456789 NGUYEN VAN A",
    amount: int = 150_000,
    *,
    success: bool = True,
    code: str = "00",
    key: str = CHECKSUM_KEY,
    **data_overrides: Any,
) -> dict[str, Any]:
    """A bank-credit notification as payOS shapes it, signed over its data object."""
    data: dict[str, Any] = {
        "orderCode": 0,
        "amount": amount,
        "description": description,
        "accountNumber": ACCOUNT_NO,
        "reference": "FT24122312345678",
        "transactionDateTime": "2026-11-26 10:05:30",
        "currency": "VND",
        "paymentLinkId": "",
        "code": code,
        "desc": "Thành công" if code == "00" else "Lỗi",
        "counterAccountBankId": "970415",
        "counterAccountBankName": "VietinBank",
        "counterAccountName": "NGUYEN VAN A",
        "counterAccountNumber": "0123456789",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    }
    data.update(data_overrides)
    return {
        "code": code,
        "desc": "success" if success else "failed",
        "success": success,
        "data": data,
        "signature": payos_sign(data, key),
    }


def request_of(body: dict[str, Any] | bytes, *, ascii_only: bool = False) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=ascii_only).encode()
    return InboundRequest(method="POST", body=raw, headers={"Content-Type": "application/json"})


def tags(payload: str) -> dict[str, str]:
    return dict(parse_tlv(payload))


class TestVietqrAdapter(AdapterContract):
    adapter = VietqrAdapter(CONFIG)

    def signed_callback(
        self, provider_reference: str, amount: int, outcome: Outcome
    ) -> InboundRequest:
        ok = outcome is Outcome.SUCCEEDED
        body = webhook(
            f"MBVCB.3278614213.{provider_reference}.CT tu 0123456789 NGUYEN VAN A",
            amount,
            success=ok,
            code="00" if ok else "01",
        )
        return request_of(body)

    def tamper(self, request: InboundRequest) -> InboundRequest:
        body = json.loads(request.body)
        body["data"]["amount"] = 1_000
        return request_of(body)

    # -- the reference libraries' payloads ------------------------------------------------

    @pytest.mark.parametrize("vector_id", PAYLOAD_VECTORS)
    def test_payload_is_byte_for_byte_the_reference_library_s(self, vector_id: str) -> None:
        case = vector(vector_id)
        given = case["inputs"]
        payload = build_payload(
            bank_bin=given["bankBin"],
            account_no=given["bankNumber"],
            amount=int(given["amount"]) if "amount" in given else None,
            purpose=given.get("purpose"),
            bill_number=given.get("billNumber"),
            service=given.get("service", "QRIBFTTA"),
        )
        assert payload == case["expected"]["payload"]
        assert payload[-4:] == case["expected"]["crc"]

    @pytest.mark.parametrize("vector_id", PAYLOAD_VECTORS)
    def test_crc_agrees_with_a_bitwise_ccitt_false(self, vector_id: str) -> None:
        payload = vector(vector_id)["expected"]["payload"]
        assert payload[-8:-4] == "6304"
        assert f"{bitwise_crc16_ccitt_false(payload[:-4].encode()):04X}" == payload[-4:]
        assert crc_is_valid(payload)

    @pytest.mark.parametrize(
        "vector_id", [v for v in PAYLOAD_VECTORS if "reparse_by_same_library" in vector(v)]
    )
    def test_fields_read_back_as_the_library_reparses_them(self, vector_id: str) -> None:
        case = vector(vector_id)
        expected = case["reparse_by_same_library"]
        fields = tags(case["expected"]["payload"])
        napas = tags(fields["38"])
        beneficiary = tags(napas["01"])
        additional = tags(fields.get("62", ""))
        assert fields["00"] == "01"
        assert fields["01"] == expected["initMethod"]
        assert napas["00"] == expected["guid"]
        assert napas["02"] == expected["service"]
        assert beneficiary == {"00": expected["bankBin"], "01": expected["bankNumber"]}
        assert fields["53"] == expected["currency"]
        assert fields.get("54") == expected.get("amount")
        assert fields["58"] == expected["nation"]
        assert additional.get("08") == expected["additionalData"].get("purpose")
        assert additional.get("01") == expected["additionalData"].get("billNumber")
        assert fields["63"] == expected["crc"]

    def test_a_crc_below_0x1000_is_zero_padded_not_xbfb(self) -> None:
        case = vector("vietqr.crc_leading_zero")
        given = case["inputs"]
        payload = build_payload(
            bank_bin=given["bankBin"],
            account_no=given["bankNumber"],
            amount=int(given["amount"]),
            purpose=given["purpose"],
        )
        assert payload.endswith("63040BFB")
        assert payload == case["expected"]["payload"]
        assert payload != case["divergence"]["PyPI vietqr-generator==0.0.5 same inputs"]
        assert not crc_is_valid(case["divergence"]["PyPI vietqr-generator==0.0.5 same inputs"])

    def test_a_changed_payload_fails_the_crc(self) -> None:
        payload = vector("vietqr.fee_vcb_dynamic_purpose")["expected"]["payload"]
        assert not crc_is_valid(payload.replace("150000", "150001"))
        assert not crc_is_valid(payload[:-8])

    def test_tlv_refuses_what_a_bank_app_could_not_read(self) -> None:
        assert tlv("08", "FG7ABC") == "0806FG7ABC"
        with pytest.raises(ValueError):
            tlv("08", "x" * 100)
        with pytest.raises(ValueError):
            tlv("08", "Lệ phí")
        with pytest.raises(ValueError):
            tlv("8", "x")
        with pytest.raises(ValueError):
            build_payload(bank_bin=BANK_BIN, account_no=ACCOUNT_NO, purpose="x" * 26)
        with pytest.raises(ValueError):
            build_payload(bank_bin=BANK_BIN, account_no=ACCOUNT_NO, amount=0)

    # -- start ------------------------------------------------------------------------------

    def test_start_makes_a_dynamic_qr_for_the_amount_with_the_reference_as_purpose(self) -> None:
        result = self.adapter.start(make_start_request(reference=REAL_REFERENCE))
        payload = result.qr_payload
        assert payload is not None
        assert payload == (
            "00020101021238570010A00000072701270006970436011300110012345670208QRIBFTTA"
            "53037045406150000"
            "5802VN"
            f"62220818{REAL_REFERENCE}"
            "6304" + f"{bitwise_crc16_ccitt_false(payload[:-4].encode()):04X}"
        )
        fields = tags(payload)
        assert fields["01"] == "12"
        assert fields["54"] == "150000"
        assert tags(fields["62"]) == {"08": REAL_REFERENCE}
        assert result.provider_reference == REAL_REFERENCE
        assert result.redirect_url is None
        assert dict(result.extra) == {
            "bank_bin": BANK_BIN,
            "account_no": ACCOUNT_NO,
            "account_name": ACCOUNT_NAME,
            "transfer_description": REAL_REFERENCE,
        }

    def test_start_leaves_vietnamese_text_out_of_the_qr(self) -> None:
        result = self.adapter.start(make_start_request())
        assert result.qr_payload is not None and result.qr_payload.isascii()
        assert "Lệ phí" not in result.qr_payload

    @pytest.mark.parametrize("reference", ["AB7ABCDEFGH2JKLMN", "FG-7ABCDEF", "FG" + "A" * 30])
    def test_start_refuses_a_reference_it_could_not_find_again(self, reference: str) -> None:
        with pytest.raises(ValueError):
            self.adapter.start(make_start_request(reference=reference))

    # -- payOS's webhook signature ----------------------------------------------------------

    def test_payos_docs_sample_verifies_as_the_payos_sdk_verified_it(self) -> None:
        assert PAYOS_DOCS_SAMPLE["signature"].startswith("412e915d")
        assert vector("vietqr.payos_webhook_docs_sample")["expected"]["docs_sample"]["verified"]
        assert sign(PAYOS_DOCS_KEY, PAYOS_DOCS_SAMPLE["data"]) == PAYOS_DOCS_SAMPLE["signature"]
        adapter = VietqrAdapter(VietqrConfig("970436", "12345678", "PAYOS DOCS", PAYOS_DOCS_KEY))
        result = adapter.parse_callback(request_of(PAYOS_DOCS_SAMPLE))
        # an authentic credit whose description names no feegate attempt
        assert result.provider_reference == NO_REFERENCE
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 3000
        assert result.provider_txn_id == "TF230204212323"
        assert result.result_code == "00"
        assert result.message == "Thành công"
        assert result.paid_at == datetime(2023, 2, 4, 18, 25, tzinfo=GMT7)

    @pytest.mark.parametrize("ascii_only", [False, True])
    def test_payos_docs_sample_with_amount_3001_is_refused_like_the_sdk_does(
        self, ascii_only: bool
    ) -> None:
        expected = vector("vietqr.payos_webhook_docs_sample")["expected"]["amount_changed_to_3001"]
        assert expected["verified"] is False
        body = json.loads(json.dumps(PAYOS_DOCS_SAMPLE))
        body["data"]["amount"] = 3001
        adapter = VietqrAdapter(VietqrConfig("970436", "12345678", "PAYOS DOCS", PAYOS_DOCS_KEY))
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(request_of(body, ascii_only=ascii_only))
        # the untouched sample verifies whether its JSON is raw UTF-8 or \\u-escaped
        adapter.parse_callback(request_of(PAYOS_DOCS_SAMPLE, ascii_only=ascii_only))

    @pytest.mark.parametrize(
        ("name", "data", "expected"), SDK_BODY_CASES, ids=[c[0] for c in SDK_BODY_CASES]
    )
    def test_signature_matches_the_payos_sdk_s_own_test_cases(
        self, name: str, data: dict[str, Any], expected: str
    ) -> None:
        assert sign(SDK_KEY, data) == expected, name

    def test_the_signed_string_is_sorted_k_v_with_null_as_empty(self) -> None:
        raw = signature_raw({"b": "x", "a": 1, "z": None, "t": True, "n": "null"})
        assert raw == "a=1&b=x&n=&t=true&z="

    def test_an_uppercase_hex_signature_is_accepted(self) -> None:
        body = webhook()
        body["signature"] = body["signature"].upper()
        assert self.adapter.parse_callback(request_of(body)).outcome is Outcome.SUCCEEDED

    def test_a_signature_with_another_key_is_refused(self) -> None:
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(request_of(webhook(key="another-key")))

    @pytest.mark.parametrize("signature", [None, "", 12, "x"])
    def test_a_missing_or_odd_signature_is_refused(self, signature: object) -> None:
        body = webhook()
        body["signature"] = signature
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(request_of(body))

    def test_the_top_level_fields_are_not_signed_so_they_cannot_make_a_failure_a_success(
        self,
    ) -> None:
        body = webhook(REFERENCE, success=False, code="01")
        body["success"] = True
        body["code"] = "00"
        result = self.adapter.parse_callback(request_of(body))
        assert result.outcome is Outcome.PENDING
        assert result.amount is None

    # -- reading a verified notification ----------------------------------------------------

    def test_a_credit_reads_as_a_success_of_its_attempt(self) -> None:
        result = self.adapter.parse_callback(request_of(webhook()))
        assert result.provider_reference == REFERENCE
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_txn_id == "FT24122312345678"
        assert result.result_code == "00"
        assert result.paid_at == datetime(2026, 11, 26, 10, 5, 30, tzinfo=GMT7)

    @pytest.mark.parametrize(
        "description",
        [
            REAL_REFERENCE,
            REAL_REFERENCE.lower(),
            f"MBVCB.3278614213.{REAL_REFERENCE}.CT tu 0123456789 NGUYEN VAN A toi {ACCOUNT_NO}",
            f"NGUYEN VAN A chuyen tien {REAL_REFERENCE} GD 123456-112626 10:05:30",
            f"{REAL_REFERENCE}CT TU 0123456789",  # a bank glued its suffix on
            f"IBFT 0123456789{REAL_REFERENCE}",  # and a prefix
            f"CHUYEN FGAO {REAL_REFERENCE}",  # an FG word too short to be ours
            f"Lệ phí {REAL_REFERENCE} Nguyễn Văn A",
        ],
    )
    def test_the_reference_is_found_whatever_the_bank_put_around_it(self, description: str) -> None:
        assert find_reference(description) == REAL_REFERENCE
        result = self.adapter.parse_callback(request_of(webhook(description)))
        assert result.provider_reference == REAL_REFERENCE

    def test_a_credit_without_a_reference_names_no_attempt(self) -> None:
        result = self.adapter.parse_callback(request_of(webhook("NGUYEN VAN A chuyen tien")))
        assert result.provider_reference == NO_REFERENCE
        assert result.outcome is Outcome.SUCCEEDED

    @pytest.mark.parametrize(("success", "code"), [(False, "00"), (True, "01"), (False, "01")])
    def test_a_non_success_notification_changes_nothing_rather_than_failing(
        self, success: bool, code: str
    ) -> None:
        body = webhook(success=success, code="00")
        body["code"] = code
        if code != "00":
            data = dict(body["data"], code=code)
            body = {**body, "data": data, "signature": payos_sign(data)}
        result = self.adapter.parse_callback(request_of(body))
        assert result.outcome is Outcome.PENDING
        assert result.amount is None
        assert result.provider_reference == REFERENCE

    def test_a_credit_to_another_account_is_not_proof_of_payment(self) -> None:
        result = self.adapter.parse_callback(request_of(webhook(accountNumber="999999999")))
        assert result.outcome is Outcome.UNKNOWN
        assert result.amount is None

    def test_a_credit_to_our_account_as_a_virtual_account_counts(self) -> None:
        body = webhook(accountNumber="12345678", virtualAccountNumber=ACCOUNT_NO)
        assert self.adapter.parse_callback(request_of(body)).outcome is Outcome.SUCCEEDED

    def test_an_amount_sent_as_a_string_of_digits_is_read(self) -> None:
        body = webhook(amount="150000")  # type: ignore[arg-type]
        assert self.adapter.parse_callback(request_of(body)).amount == 150_000

    @pytest.mark.parametrize("amount", ["15O000", -1, 1.5, True, None, "١٥٠"])
    def test_an_unreadable_amount_is_malformed(self, amount: object) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(request_of(webhook(amount=amount)))  # type: ignore[arg-type]

    def test_an_iso_time_with_offset_is_read_as_given(self) -> None:
        body = webhook(transactionDateTime="2026-11-26T03:05:30+00:00")
        result = self.adapter.parse_callback(request_of(body))
        assert result.paid_at == datetime(2026, 11, 26, 10, 5, 30, tzinfo=GMT7)

    def test_an_unreadable_time_leaves_paid_at_to_feegate(self) -> None:
        result = self.adapter.parse_callback(request_of(webhook(transactionDateTime="hôm nay")))
        assert result.paid_at is None

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"not json",
            b"[1, 2]",
            b'{"data": "x", "signature": "ab"}',
            b'{"signature": "ab"}',
            b"\xff\xfe",
            b'{"data": {}, "data": {}, "signature": "ab"}',
            b'{"data": {"amount": 1, "amount": 2}, "signature": "ab"}',
            b"{" + b" " * (64 * 1024) + b"}",
        ],
    )
    def test_a_malformed_body_is_refused(self, raw: bytes) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(request_of(raw))

    # -- acknowledgement, return, query, refund ----------------------------------------------

    @pytest.mark.parametrize(
        "ack", [Ack.RECORDED, Ack.ALREADY_CONFIRMED, Ack.UNKNOWN_ORDER, Ack.AMOUNT_MISMATCH]
    )
    def test_every_authentic_notification_gets_success_true(self, ack: Ack) -> None:
        reply = self.adapter.acknowledge(ack)
        assert reply.status == 200
        assert reply.content_type == "application/json"
        assert json.loads(reply.body) == {"success": True}

    @pytest.mark.parametrize(
        ("ack", "status"), [(Ack.INVALID_SIGNATURE, 400), (Ack.MALFORMED, 400), (Ack.RETRY, 500)]
    )
    def test_a_bad_signature_or_body_is_400_and_our_fault_500(self, ack: Ack, status: int) -> None:
        reply = self.adapter.acknowledge(ack)
        assert reply.status == status
        assert json.loads(reply.body)["success"] is False

    def test_there_is_no_browser_return_to_believe(self) -> None:
        request = InboundRequest(method="GET", query={"description": REFERENCE, "amount": "1"})
        with pytest.raises(InvalidSignature):
            self.adapter.parse_return(request)
        assert self.adapter.return_reference(request) is None

    def test_query_never_fails_a_transfer_that_may_still_arrive(self) -> None:
        result = self.adapter.query(
            QueryRequest(
                provider_reference=REFERENCE,
                reference=REFERENCE,
                amount=150_000,
                created_at=NOW,
                now=NOW + timedelta(days=3),
                request_id="QR1",
            )
        )
        assert result.outcome is Outcome.PENDING
        assert result.provider_reference == REFERENCE
        assert result.amount is None

    def test_refunds_are_manual(self) -> None:
        assert VietqrAdapter.supports_refund is False
        with pytest.raises(NotSupported):
            self.adapter.refund(
                RefundRequest(
                    refund_reference="RF1",
                    request_id="RQ1",
                    provider_reference=REFERENCE,
                    provider_txn_id=None,
                    amount=1,
                    original_amount=1,
                    reason="x",
                    attempt_created_at=NOW,
                    now=NOW,
                )
            )

    # -- configuration and statements ------------------------------------------------------

    def test_the_checksum_key_stays_out_of_repr(self) -> None:
        assert CHECKSUM_KEY not in repr(CONFIG)
        assert ACCOUNT_NO in repr(CONFIG)

    @pytest.mark.parametrize(
        ("bank_bin", "account_no", "key"),
        [("97043", ACCOUNT_NO, "k"), (BANK_BIN, "0011 0012", "k"), (BANK_BIN, ACCOUNT_NO, "")],
    )
    def test_a_bad_account_is_refused_at_startup(
        self, bank_bin: str, account_no: str, key: str
    ) -> None:
        with pytest.raises(ValueError):
            VietqrConfig(bank_bin, account_no, ACCOUNT_NAME, key)

    def test_a_statement_line_is_matched_by_reference_and_amount(self) -> None:
        line = self.adapter.parse_statement_line(
            {
                "description": f"MBVCB.1.{REAL_REFERENCE}.CT tu 0123",
                "amount": " 150000 ",
                "reference": "FT1",
                "transactionDateTime": "2026-11-26 10:05:30",
            }
        )
        assert line.provider_reference == REAL_REFERENCE
        assert line.amount == 150_000
        assert line.provider_txn_id == "FT1"
        assert line.occurred_at == datetime(2026, 11, 26, 10, 5, 30, tzinfo=GMT7)

    @pytest.mark.parametrize(
        "row",
        [
            {"description": "no reference", "amount": 1},
            {"description": REAL_REFERENCE, "amount": "x"},
            {"description": REAL_REFERENCE, "amount": 0},
            {"amount": 1},
        ],
    )
    def test_an_unmatchable_statement_line_is_malformed(self, row: dict[str, Any]) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_statement_line(row)
