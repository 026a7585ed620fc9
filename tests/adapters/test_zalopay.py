"""ZaloPay gateway v2 adapter: the shared contract, ZaloPay's own vectors, and the wire.

Vectors come from ZaloPay's Node SDK and Next.js quickstart, run unchanged, plus the callback
sample ZaloPay publishes in its docs (tests/adapters/vectors/zalopay.json).
"""

from __future__ import annotations

import ast
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    RefundResult,
)
from adapters.errors import (
    InvalidSignature,
    MalformedMessage,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.zalopay import (
    ZalopayAdapter,
    ZalopayConfig,
    app_trans_id,
    callback_mac,
    create_mac_data,
    embed_data_json,
    epoch_ms,
    expire_duration_seconds,
    from_epoch_ms,
    item_json,
    m_refund_id,
    query_mac_data,
    query_refund_mac_data,
    redirect_checksum_data,
    refund_mac_data,
    sign,
)
from tests.adapters.contract import NOW, AdapterContract, make_start_request

VECTORS_FILE = Path(__file__).parent / "vectors" / "zalopay.json"
VECTORS: dict[str, dict[str, Any]] = {
    v["id"]: v for v in json.loads(VECTORS_FILE.read_text("utf-8"))["vectors"]
}

KEY1 = "TESTKEY1ZALOPAY0000000000000001"
KEY2 = "TESTKEY2ZALOPAY0000000000000002"
ENDPOINT = "https://sb-openapi.zalopay.vn"
CREATE_URL = ENDPOINT + "/v2/create"
QUERY_URL = ENDPOINT + "/v2/query"
REFUND_URL = ENDPOINT + "/v2/refund"
QUERY_REFUND_URL = ENDPOINT + "/v2/query_refund"
CONFIG = ZalopayConfig(app_id="2553", key1=KEY1, key2=KEY2, endpoint=ENDPOINT)

CREATE_OK = {
    "return_code": 1,
    "return_message": "Giao dịch thành công",
    "sub_return_code": 1,
    "sub_return_message": "Giao dịch thành công",
    "zp_trans_token": "ACdrmzS_TGxHZyafUiHs3OjQ",
    "order_url": "https://qcgateway.zalopay.vn/openinapp?order=eyJ6cHRyYW5zdG9rZW4iOiJB",
    "order_token": "ACdrmzS_TGxHZyafUiHs3OjQ",
    "qr_code": "00020101021226520010vn.zalopay0203001010627000503173307089089161731",
}


def ms(value: int) -> datetime:
    return from_epoch_ms(value)


def sent_form(call: Any) -> dict[str, str]:
    """The x-www-form-urlencoded fields of a recorded request, one value each."""
    body = call.request.body
    text = body.decode("utf-8") if isinstance(body, bytes) else (body or "")
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def timeout_of(call: Any) -> Any:
    """The timeout the adapter passed to requests (recorded by `responses`)."""
    return call.request.req_kwargs["timeout"]


def as_wire(body: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in body.items()}


def zalopay_data(app_trans_id_: str, amount: int, **overrides: Any) -> str:
    """A callback `data` string laid out exactly like ZaloPay's published sample."""
    fields: dict[str, Any] = {
        "app_id": 2553,
        "app_trans_id": app_trans_id_,
        "app_time": 1714533330000,
        "app_user": "feegate",
        "amount": amount,
        "embed_data": '{"redirecturl":"https://feegate.example.gov.vn/pay/return/zalopay"}',
        "item": "[]",
        "zp_trans_id": 240501000000123,
        "server_time": 1714533450123,
        "channel": 38,
        "merchant_user_id": "rUrh6vkWVXYzrcA9Xlf7pUXYDtyFMDCq0Rcl7TiqxdQ",
        "user_fee_amount": 0,
        "discount_amount": 0,
    }
    fields.update(overrides)
    return json.dumps(fields, separators=(",", ":"))


def callback_request(data: str, mac: str, kind: Any = 1) -> InboundRequest:
    body = json.dumps({"data": data, "mac": mac, "type": kind}).encode("utf-8")
    return InboundRequest(method="POST", body=body, headers={"Content-Type": "application/json"})


def query_request(**overrides: Any) -> QueryRequest:
    values: dict[str, Any] = {
        "provider_reference": "240501_HS2405010001",
        "reference": "HS2405010001",
        "amount": 150_000,
        "created_at": NOW,
        "now": NOW + timedelta(minutes=5),
        "request_id": "RQQUERY0001",
    }
    values.update(overrides)
    return QueryRequest(**values)


def refund_request(**overrides: Any) -> RefundRequest:
    vector = VECTORS["zalopay.refund.sdk"]["inputs"]
    values: dict[str, Any] = {
        "refund_reference": "RF0001",
        "request_id": "RQREFUND0001",
        "provider_reference": "240501_HS2405010001",
        "provider_txn_id": vector["zp_trans_id"],
        "amount": vector["amount"],
        "original_amount": 150_000,
        "reason": vector["description"],
        "attempt_created_at": NOW,
        "now": ms(vector["timestamp"]),
    }
    values.update(overrides)
    return RefundRequest(**values)


def return_query(status: str = "1", amount: str = "150000", **overrides: str) -> dict[str, str]:
    params = {
        "appid": "2553",
        "apptransid": "240501_FG7ABCDEFGH2JKLMN",
        "pmcid": "38",
        "bankcode": "",
        "amount": amount,
        "discountamount": "0",
        "status": status,
    }
    params.update(overrides)
    params["checksum"] = sign(KEY2, redirect_checksum_data(*list(params.values())[:7]))
    return params


@contextmanager
def process_timezone(name: str) -> Iterator[None]:
    """Run with the process's local zone set to `name`, then restore it."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


class TestZalopayAdapter(AdapterContract):
    adapter = ZalopayAdapter(CONFIG)

    @pytest.fixture(autouse=True)
    def http(self) -> Iterator[responses.RequestsMock]:
        """No test reaches the network; create answers success unless a test says otherwise."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.post(CREATE_URL, json=CREATE_OK)
            yield mock

    def signed_callback(
        self, provider_reference: str, amount: int, outcome: Outcome
    ) -> InboundRequest:
        # ZaloPay calls back only for successful payments: every callback is a success.
        assert outcome is Outcome.SUCCEEDED
        data = zalopay_data(provider_reference, amount)
        return callback_request(data, sign(KEY2, data))

    def tamper(self, request: InboundRequest) -> InboundRequest:
        envelope = json.loads(request.body)
        fields = json.loads(envelope["data"])
        fields["amount"] = 1_000
        envelope["data"] = json.dumps(fields, separators=(",", ":"))
        return replace(request, body=json.dumps(envelope).encode("utf-8"))

    # -- ZaloPay's own vectors ----------------------------------------------------------------

    def test_create_mac_matches_the_sdk_vector(self) -> None:
        vector = VECTORS["zalopay.create.sdk"]
        i = vector["inputs"]
        data = create_mac_data(
            i["app_id"],
            i["app_trans_id"],
            i["app_user"],
            i["amount"],
            i["app_time"],
            i["embed_data"],
            i["item"],
        )
        assert data == vector["expected"]["hmac_input"]
        assert sign(vector["secret_key1"], data) == vector["expected"]["mac"]

    def test_start_sends_the_sdk_vector_fields_and_mac(self, http: responses.RequestsMock) -> None:
        vector = VECTORS["zalopay.create.sdk"]
        i = vector["inputs"]
        adapter = ZalopayAdapter(replace(CONFIG, app_user=i["app_user"]))
        now = ms(i["app_time"])
        request = make_start_request(
            reference="HS2405010001",
            amount=i["amount"],
            description=i["description"],
            return_url="https://dvc.example.gov.vn/payment/zalopay/return",
            notify_url=i["callback_url"],
            now=now,
            expires_at=now + timedelta(minutes=15),
            payment_id="",
        )
        result = adapter.start(request)
        sent = sent_form(http.calls[-1])
        expected = as_wire(vector["expected"]["request"]["body"])
        expected["expire_duration_seconds"] = "900"
        assert sent == expected
        assert result.provider_reference == i["app_trans_id"]

    def test_create_mac_matches_the_quickstart_vector_as_it_was_sent(self) -> None:
        vector = VECTORS["zalopay.create.quickstart"]
        sent = {
            k: v[0]
            for k, v in parse_qs(
                urlsplit(vector["expected"]["request_uri_as_sent"]).query, keep_blank_values=True
            ).items()
        }
        data = create_mac_data(
            sent["app_id"],
            sent["app_trans_id"],
            sent["app_user"],
            int(sent["amount"]),
            int(sent["app_time"]),
            sent["embed_data"],
            sent["item"],
        )
        assert data == vector["expected"]["hmac_input"]
        assert sign(KEY1, data) == vector["expected"]["mac"] == sent["mac"]

    def test_app_trans_id_and_app_time_match_the_quickstart_vector(self) -> None:
        vector = VECTORS["zalopay.create.quickstart"]
        now = datetime.fromisoformat(vector["inputs"]["now"])
        assert app_trans_id(now, "123456") == vector["expected"]["app_trans_id"]
        assert epoch_ms(now) == 1714533330000

    def test_query_mac_matches_the_sdk_vector(self) -> None:
        vector = VECTORS["zalopay.query.sdk"]
        data = query_mac_data(
            vector["inputs"]["app_id"], vector["inputs"]["app_trans_id"], vector["secret_key1"]
        )
        assert data == vector["expected"]["hmac_input"]
        assert sign(vector["secret_key1"], data) == vector["expected"]["mac"]

    def test_query_sends_the_sdk_vector_fields(self, http: responses.RequestsMock) -> None:
        vector = VECTORS["zalopay.query.sdk"]
        http.post(QUERY_URL, json={"return_code": 3, "is_processing": False})
        self.adapter.query(query_request(provider_reference=vector["inputs"]["app_trans_id"]))
        assert sent_form(http.calls[-1]) == as_wire(vector["expected"]["request"]["body"])

    def test_query_body_is_byte_for_byte_the_quickstart_vector(
        self, http: responses.RequestsMock
    ) -> None:
        vector = VECTORS["zalopay.query.quickstart"]
        http.post(QUERY_URL, json={"return_code": 3})
        self.adapter.query(query_request(provider_reference=vector["inputs"]["app_trans_id"]))
        call = http.calls[-1]
        assert call.request.body == vector["expected"]["body_as_sent"]
        assert call.request.headers["Content-Type"] == vector["expected"]["content_type"]
        assert query_mac_data("2553", "240501_123456", KEY1) == vector["expected"]["hmac_input"]

    def test_refund_mac_matches_the_sdk_vector(self) -> None:
        vector = VECTORS["zalopay.refund.sdk"]
        i = vector["inputs"]
        data = refund_mac_data(
            i["app_id"], i["zp_trans_id"], i["amount"], i["description"], i["timestamp"]
        )
        assert data == vector["expected"]["hmac_input"]
        assert sign(vector["secret_key1"], data) == vector["expected"]["mac"]

    def test_refund_sends_the_sdk_vector_fields(self, http: responses.RequestsMock) -> None:
        vector = VECTORS["zalopay.refund.sdk"]
        http.post(REFUND_URL, json={"return_code": 3, "refund_id": 987654321})
        result = self.adapter.refund(refund_request())
        assert sent_form(http.calls[-1]) == as_wire(vector["expected"]["request"]["body"])
        assert result.extra["m_refund_id"] == vector["inputs"]["m_refund_id"]

    def test_query_refund_mac_matches_the_sdk_vector(self) -> None:
        vector = VECTORS["zalopay.query_refund.sdk"]
        i = vector["inputs"]
        data = query_refund_mac_data(i["app_id"], i["m_refund_id"], i["timestamp"])
        assert data == vector["expected"]["hmac_input"]
        assert sign(vector["secret_key1"], data) == vector["expected"]["mac"]

    def test_query_refund_sends_the_sdk_vector_fields(self, http: responses.RequestsMock) -> None:
        vector = VECTORS["zalopay.query_refund.sdk"]
        http.post(QUERY_REFUND_URL, json={"return_code": 1})
        previous = RefundResult(
            outcome=RefundOutcome.PENDING,
            result_code="3",
            extra={"m_refund_id": vector["inputs"]["m_refund_id"]},
        )
        self.adapter.query_refund(refund_request(now=ms(vector["inputs"]["timestamp"])), previous)
        assert sent_form(http.calls[-1]) == as_wire(vector["expected"]["request"]["body"])

    def test_callback_from_the_sdk_vector_verifies_and_parses(self) -> None:
        vector = VECTORS["zalopay.callback.sdk_securityprovider"]
        body = vector["expected"]["callback_body_ZaloPay_would_POST"]
        assert callback_mac(vector["secret_key2"], vector["inputs"]["data"]) == body["mac"]
        result = self.adapter.parse_callback(
            InboundRequest(method="POST", body=json.dumps(body).encode("utf-8"))
        )
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_reference == "240501_HS2405010001"
        assert result.provider_txn_id == "240501000000123"
        assert result.paid_at == datetime(2024, 5, 1, 3, 17, 30, 123000, tzinfo=UTC)

    def test_callback_answers_match_the_quickstart_handler(self) -> None:
        expected = VECTORS["zalopay.callback.sdk_securityprovider"]["expected"]
        ok = self.adapter.acknowledge(Ack.RECORDED)
        bad = self.adapter.acknowledge(Ack.INVALID_SIGNATURE)
        assert json.loads(ok.body) == expected["quickstart_callback_handler_response_valid"]
        assert (
            json.loads(bad.body) == expected["quickstart_callback_handler_response_amount_tampered"]
        )

    def test_callback_from_the_sdk_vector_with_a_changed_amount_is_refused(self) -> None:
        body = dict(
            VECTORS["zalopay.callback.sdk_securityprovider"]["expected"][
                "callback_body_ZaloPay_would_POST"
            ]
        )
        body["data"] = body["data"].replace('"amount":150000', '"amount":1500')
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(
                InboundRequest(method="POST", body=json.dumps(body).encode("utf-8"))
            )

    def test_zalopays_published_callback_sample_verifies_with_its_sandbox_key2(self) -> None:
        vector = VECTORS["zalopay.callback.docs_sample_verified_by_quickstart"]
        adapter = ZalopayAdapter(replace(CONFIG, key2=vector["inputs"]["key2"]))
        body = json.dumps(vector["inputs"]["callback_body"]).encode("utf-8")
        result = adapter.parse_callback(InboundRequest(method="POST", body=body))
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 10_000
        assert result.provider_reference == "200904_2553_1598435687208"
        assert result.provider_txn_id == "200904000000389"
        assert result.paid_at == ms(1599189413498)
        answer = json.loads(adapter.acknowledge(Ack.RECORDED).body)
        assert answer == vector["expected"]["handler_response"]

    def test_zalopays_published_callback_sample_is_refused_with_another_key2(self) -> None:
        vector = VECTORS["zalopay.callback.docs_sample_verified_by_quickstart"]
        body = json.dumps(vector["inputs"]["callback_body"]).encode("utf-8")
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(InboundRequest(method="POST", body=body))
        answer = json.loads(self.adapter.acknowledge(Ack.INVALID_SIGNATURE).body)
        assert answer == vector["expected"]["handler_response_with_TESTKEY2"]

    # -- callback -----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "reserialise",
        [
            pytest.param(lambda d: json.dumps(json.loads(d)), id="spaces"),
            pytest.param(lambda d: json.dumps(json.loads(d), sort_keys=True), id="sorted"),
            pytest.param(
                lambda d: json.dumps(json.loads(d), separators=(",", ":"), sort_keys=True),
                id="compact-sorted",
            ),
        ],
    )
    def test_a_callback_whose_data_was_reserialised_fails_verification(
        self, reserialise: Any
    ) -> None:
        vector = VECTORS["zalopay.callback.docs_sample_verified_by_quickstart"]
        adapter = ZalopayAdapter(replace(CONFIG, key2=vector["inputs"]["key2"]))
        original = vector["inputs"]["callback_body"]
        changed = reserialise(original["data"])
        assert changed != original["data"] and json.loads(changed) == json.loads(original["data"])
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback_request(changed, original["mac"]))

    def test_a_callback_mac_in_upper_case_still_verifies(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000)
        result = self.adapter.parse_callback(callback_request(data, sign(KEY2, data).upper()))
        assert result.amount == 150_000

    def test_a_callback_signed_with_key1_is_refused(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000)
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(callback_request(data, sign(KEY1, data)))

    def test_a_callback_sent_as_form_fields_is_accepted(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000)
        request = InboundRequest(
            method="POST", form={"data": data, "mac": sign(KEY2, data), "type": "1"}
        )
        assert self.adapter.parse_callback(request).outcome is Outcome.SUCCEEDED

    def test_a_callback_body_that_is_not_json_is_malformed(self) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(InboundRequest(method="POST", body=b"data=x&mac=y"))

    def test_a_callback_without_a_mac_is_malformed(self) -> None:
        body = json.dumps({"data": zalopay_data("240501_X", 1), "type": 1}).encode()
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(InboundRequest(method="POST", body=body))

    def test_a_signed_callback_whose_data_is_not_json_is_malformed(self) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(callback_request("not json", sign(KEY2, "not json")))

    def test_a_signed_callback_for_another_app_is_malformed(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000, app_id=9999)
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(callback_request(data, sign(KEY2, data)))

    def test_a_signed_callback_of_another_type_is_malformed(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000)
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(callback_request(data, sign(KEY2, data), kind=2))

    def test_a_signed_callback_with_a_fractional_amount_is_malformed(self) -> None:
        data = zalopay_data("240501_FG7ABCDEFGH2JKLMN", 150_000).replace(
            '"amount":150000', '"amount":150000.5'
        )
        with pytest.raises(MalformedMessage):
            self.adapter.parse_callback(callback_request(data, sign(KEY2, data)))

    # -- acknowledgements ---------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("ack", "code"),
        [
            (Ack.RECORDED, 1),
            (Ack.ALREADY_CONFIRMED, 1),
            (Ack.UNKNOWN_ORDER, 1),
            (Ack.AMOUNT_MISMATCH, 1),
            (Ack.INVALID_SIGNATURE, -1),
            (Ack.MALFORMED, -1),
            (Ack.RETRY, 0),
        ],
    )
    def test_each_ack_answers_zalopay_in_json_with_its_return_code(
        self, ack: Ack, code: int
    ) -> None:
        response = self.adapter.acknowledge(ack)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert json.loads(response.body)["return_code"] == code

    # -- app_trans_id and the Vietnam date ----------------------------------------------------

    @pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Ho_Chi_Minh", "EST+5"])
    def test_app_trans_id_at_2330_utc_is_already_the_next_day_in_vietnam(self, zone: str) -> None:
        late = datetime(2024, 4, 30, 23, 30, tzinfo=UTC)
        with process_timezone(zone):
            assert app_trans_id(late, "FG7ABCDEFGH2JKLMN") == "240501_FG7ABCDEFGH2JKLMN"
            assert m_refund_id(late, "2553", "RF0001") == "240501_2553_RF0001"

    @pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
    def test_start_dates_app_trans_id_in_vietnam_whatever_the_process_zone(
        self, zone: str, http: responses.RequestsMock
    ) -> None:
        late = datetime(2024, 4, 30, 23, 30, tzinfo=UTC)
        with process_timezone(zone):
            result = self.adapter.start(
                make_start_request(now=late, expires_at=late + timedelta(hours=1))
            )
        sent = sent_form(http.calls[-1])
        assert result.provider_reference == "240501_FG7ABCDEFGH2JKLMN"
        assert sent["app_trans_id"] == "240501_FG7ABCDEFGH2JKLMN"
        assert sent["app_time"] == str(epoch_ms(late)) == "1714519800000"

    def test_app_trans_id_of_a_moment_given_in_another_zone_uses_the_vietnam_date(self) -> None:
        new_york_evening = datetime(2024, 4, 30, 19, 30, tzinfo=timezone(timedelta(hours=-4)))
        assert app_trans_id(new_york_evening, "X1") == "240501_X1"

    def test_app_trans_id_just_before_vietnam_midnight_keeps_the_day(self) -> None:
        assert app_trans_id(datetime(2024, 4, 30, 16, 59, 59, tzinfo=UTC), "X1") == "240430_X1"
        assert app_trans_id(datetime(2024, 4, 30, 17, 0, 0, tzinfo=UTC), "X1") == "240501_X1"

    def test_a_naive_datetime_is_refused_for_app_trans_id(self) -> None:
        with pytest.raises(ValueError):
            app_trans_id(datetime(2024, 5, 1, 10, 0), "X1")

    def test_app_trans_id_longer_than_40_characters_is_refused(self) -> None:
        with pytest.raises(ValueError):
            app_trans_id(NOW, "A" * 34)

    # -- start --------------------------------------------------------------------------------

    def test_start_sends_a_signed_form_with_every_field(self, http: responses.RequestsMock) -> None:
        request = make_start_request(items=(("Lệ phí cấp phiếu", 100_000), ("Phí", 50_000)))
        self.adapter.start(request)
        call = http.calls[-1]
        assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        sent = sent_form(call)
        assert sent["app_id"] == "2553"
        assert sent["app_user"] == "feegate"
        assert sent["app_trans_id"] == "240501_FG7ABCDEFGH2JKLMN"
        assert sent["app_time"] == "1714533330000"
        assert sent["amount"] == "150000"
        assert sent["bank_code"] == ""
        assert sent["callback_url"] == request.notify_url
        assert sent["description"] == request.description
        assert sent["expire_duration_seconds"] == "3600"
        assert json.loads(sent["embed_data"]) == {
            "redirecturl": request.return_url,
            "payment_id": "pay_test123",
        }
        assert json.loads(sent["item"]) == [
            {"itemname": "Lệ phí cấp phiếu", "itemprice": 100_000},
            {"itemname": "Phí", "itemprice": 50_000},
        ]
        assert sent["item"].isascii() and sent["embed_data"].isascii()
        expected_mac = sign(
            KEY1,
            create_mac_data(
                "2553",
                sent["app_trans_id"],
                "feegate",
                150_000,
                1714533330000,
                sent["embed_data"],
                sent["item"],
            ),
        )
        assert sent["mac"] == expected_mac

    def test_start_without_fee_lines_sends_an_empty_item_array(
        self, http: responses.RequestsMock
    ) -> None:
        self.adapter.start(make_start_request())
        assert sent_form(http.calls[-1])["item"] == "[]"

    def test_start_sets_a_connect_and_read_timeout(self, http: responses.RequestsMock) -> None:
        self.adapter.start(make_start_request())
        assert timeout_of(http.calls[-1]) == (5.0, 30.0)

    def test_start_returns_the_order_url_qr_and_token(self) -> None:
        result = self.adapter.start(make_start_request())
        assert result.provider_reference == "240501_FG7ABCDEFGH2JKLMN"
        assert result.redirect_url == CREATE_OK["order_url"]
        assert result.qr_payload == CREATE_OK["qr_code"]
        assert result.extra == {
            "app_trans_id": "240501_FG7ABCDEFGH2JKLMN",
            "zp_trans_token": CREATE_OK["zp_trans_token"],
        }

    def test_start_without_a_qr_code_has_no_qr_payload(self, http: responses.RequestsMock) -> None:
        http.replace(responses.POST, CREATE_URL, json={**CREATE_OK, "qr_code": ""})
        assert self.adapter.start(make_start_request()).qr_payload is None

    @pytest.mark.parametrize(
        ("now_to_expiry", "sent"),
        [
            (timedelta(minutes=1), 300),
            (timedelta(minutes=-5), 300),
            (timedelta(minutes=15), 900),
            (timedelta(days=60), 2_592_000),
        ],
    )
    def test_expiry_is_clamped_to_what_zalopay_accepts(
        self, now_to_expiry: timedelta, sent: int
    ) -> None:
        assert expire_duration_seconds(NOW, NOW + now_to_expiry) == sent

    @pytest.mark.parametrize(
        ("answer", "code"),
        [
            ({"return_code": 2, "sub_return_code": -402, "sub_return_message": "sai mac"}, "-402"),
            ({"return_code": 2, "sub_return_code": -401, "return_message": "bad"}, "-401"),
            ({"return_code": 2, "sub_return_code": -68, "return_message": "duplicate"}, "-68"),
            ({"return_code": 2, "return_message": "Giao dịch thất bại"}, "2"),
        ],
    )
    def test_start_refused_by_zalopay_is_a_final_rejection(
        self, http: responses.RequestsMock, answer: dict[str, Any], code: str
    ) -> None:
        http.replace(responses.POST, CREATE_URL, json=answer)
        with pytest.raises(ProviderRejected) as raised:
            self.adapter.start(make_start_request())
        assert raised.value.code == code

    def test_the_rejection_carries_zalopays_sub_message(self, http: responses.RequestsMock) -> None:
        http.replace(
            responses.POST,
            CREATE_URL,
            json={
                "return_code": 2,
                "return_message": "Giao dịch thất bại",
                "sub_return_code": -402,
                "sub_return_message": "Chữ ký không hợp lệ",
            },
        )
        with pytest.raises(ProviderRejected) as raised:
            self.adapter.start(make_start_request())
        assert "Chữ ký không hợp lệ" in raised.value.message

    @pytest.mark.parametrize("sub", [-429, -500, -999])
    def test_start_refused_for_rate_limit_or_maintenance_is_retryable(
        self, http: responses.RequestsMock, sub: int
    ) -> None:
        http.replace(responses.POST, CREATE_URL, json={"return_code": 2, "sub_return_code": sub})
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(make_start_request())

    def test_start_that_times_out_is_retryable(self, http: responses.RequestsMock) -> None:
        http.replace(responses.POST, CREATE_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(make_start_request())

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_start_answered_with_5xx_is_retryable(
        self, http: responses.RequestsMock, status: int
    ) -> None:
        http.replace(responses.POST, CREATE_URL, json={"error": "x"}, status=status)
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(make_start_request())

    def test_start_answered_with_html_is_retryable(self, http: responses.RequestsMock) -> None:
        http.replace(responses.POST, CREATE_URL, body="<html>maintenance</html>")
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(make_start_request())

    def test_start_answered_success_without_order_url_is_retryable(
        self, http: responses.RequestsMock
    ) -> None:
        http.replace(responses.POST, CREATE_URL, json={"return_code": 1})
        with pytest.raises(ProviderUnavailable):
            self.adapter.start(make_start_request())

    # -- query --------------------------------------------------------------------------------

    def test_query_sends_app_id_app_trans_id_and_a_mac_ending_with_key1(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(QUERY_URL, json={"return_code": 3})
        self.adapter.query(query_request(provider_reference="240501_FG7ABCDEFGH2JKLMN"))
        sent = sent_form(http.calls[-1])
        assert sent == {
            "app_id": "2553",
            "app_trans_id": "240501_FG7ABCDEFGH2JKLMN",
            "mac": sign(KEY1, f"2553|240501_FG7ABCDEFGH2JKLMN|{KEY1}"),
        }
        assert timeout_of(http.calls[-1]) == (5.0, 30.0)

    def test_query_of_a_paid_order_succeeds_with_amount_and_zp_trans_id(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(
            QUERY_URL,
            json={
                "return_code": 1,
                "return_message": "",
                "sub_return_code": 1,
                "sub_return_message": "",
                "amount": 150_000,
                "is_processing": False,
                "zp_trans_id": 240501000000123,
            },
        )
        result = self.adapter.query(query_request())
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_txn_id == "240501000000123"
        assert result.provider_reference == "240501_HS2405010001"
        assert result.result_code == "1/1"

    @pytest.mark.parametrize(
        ("answer", "outcome"),
        [
            ({"return_code": 3, "is_processing": False}, Outcome.PENDING),
            ({"return_code": 3, "is_processing": True}, Outcome.PENDING),
            ({"return_code": 2, "is_processing": True}, Outcome.PENDING),
            ({"return_code": 2, "sub_return_code": -54}, Outcome.FAILED),
            ({"return_code": 2, "sub_return_code": -1}, Outcome.FAILED),
            ({"return_code": 2}, Outcome.FAILED),
            ({"return_code": 2, "sub_return_code": -329}, Outcome.CANCELLED),
            ({"return_code": 2, "sub_return_code": -101}, Outcome.UNKNOWN),
        ],
    )
    def test_query_maps_zalopays_codes(
        self, http: responses.RequestsMock, answer: dict[str, Any], outcome: Outcome
    ) -> None:
        http.post(QUERY_URL, json=answer)
        assert self.adapter.query(query_request()).outcome is outcome

    @pytest.mark.parametrize(
        "answer",
        [
            {"return_code": 2, "sub_return_code": -402, "sub_return_message": "sai mac"},
            {"return_code": 2, "sub_return_code": -401},
            {"return_code": 2, "sub_return_code": -429},
            {"return_code": 2, "sub_return_code": -500},
            {"return_code": -402, "return_message": "ILLEGAL_APP_REQUEST"},
            {"return_message": "no code at all"},
        ],
    )
    def test_query_refused_as_a_request_never_fails_the_payment(
        self, http: responses.RequestsMock, answer: dict[str, Any]
    ) -> None:
        http.post(QUERY_URL, json=answer)
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(query_request())

    def test_query_that_times_out_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(QUERY_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(query_request())

    def test_query_answered_with_5xx_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(QUERY_URL, json={"return_code": 1}, status=502)
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(query_request())

    def test_query_refused_connection_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(QUERY_URL, body=requests.ConnectionError())
        with pytest.raises(ProviderUnavailable):
            self.adapter.query(query_request())

    # -- refund -------------------------------------------------------------------------------

    def test_refund_signs_app_id_zp_trans_id_amount_description_timestamp(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(REFUND_URL, json={"return_code": 3})
        request = refund_request(amount=50_000, reason="Hoàn một phần lệ phí")
        self.adapter.refund(request)
        sent = sent_form(http.calls[-1])
        timestamp = epoch_ms(request.now)
        assert sent == {
            "app_id": "2553",
            "m_refund_id": "240502_2553_RF0001",
            "zp_trans_id": "240501000000123",
            "amount": "50000",
            "timestamp": str(timestamp),
            "description": "Hoàn một phần lệ phí",
            "mac": sign(KEY1, f"2553|240501000000123|50000|Hoàn một phần lệ phí|{timestamp}"),
        }
        assert timeout_of(http.calls[-1]) == (5.0, 30.0)

    @pytest.mark.parametrize(
        ("answer", "outcome"),
        [
            ({"return_code": 1, "refund_id": 123456789}, RefundOutcome.SUCCEEDED),
            ({"return_code": 3, "refund_id": 123456789}, RefundOutcome.PENDING),
            ({"return_code": 2, "sub_return_code": -13}, RefundOutcome.FAILED),
            ({"return_code": 2, "sub_return_code": -401}, RefundOutcome.FAILED),
            ({"return_code": 2, "sub_return_code": -402}, RefundOutcome.FAILED),
            ({"return_code": 2, "sub_return_code": -500}, RefundOutcome.PENDING),
            ({"return_code": 2, "sub_return_code": -429}, RefundOutcome.PENDING),
        ],
    )
    def test_refund_maps_zalopays_codes_and_keeps_the_m_refund_id(
        self, http: responses.RequestsMock, answer: dict[str, Any], outcome: RefundOutcome
    ) -> None:
        http.post(REFUND_URL, json=answer)
        result = self.adapter.refund(refund_request())
        assert result.outcome is outcome
        assert result.extra == {"m_refund_id": "240502_2553_RF0001"}

    def test_refund_reports_zalopays_refund_id(self, http: responses.RequestsMock) -> None:
        http.post(REFUND_URL, json={"return_code": 1, "refund_id": 123456789})
        assert self.adapter.refund(refund_request()).provider_refund_id == "123456789"

    def test_a_retried_refund_reuses_its_first_m_refund_id_on_another_day(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(REFUND_URL, json={"return_code": 3})
        next_day = refund_request(
            now=datetime(2024, 5, 3, 2, 0, tzinfo=UTC), extra={"m_refund_id": "240502_2553_RF0001"}
        )
        self.adapter.refund(next_day)
        assert sent_form(http.calls[-1])["m_refund_id"] == "240502_2553_RF0001"

    def test_refund_without_zp_trans_id_is_refused_before_calling_zalopay(
        self, http: responses.RequestsMock
    ) -> None:
        with pytest.raises(ProviderRejected):
            self.adapter.refund(refund_request(provider_txn_id=None))
        assert not [c for c in http.calls if c.request.url == REFUND_URL]

    def test_refund_that_times_out_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(REFUND_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.refund(refund_request())

    def test_refund_answered_with_5xx_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(REFUND_URL, body="bad gateway", status=502)
        with pytest.raises(ProviderUnavailable):
            self.adapter.refund(refund_request())

    # -- query_refund -------------------------------------------------------------------------

    def pending_refund(self) -> RefundResult:
        return RefundResult(
            outcome=RefundOutcome.PENDING,
            result_code="3",
            provider_refund_id="123456789",
            extra={"m_refund_id": "240502_2553_RF0001"},
        )

    def test_query_refund_signs_app_id_m_refund_id_timestamp(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(QUERY_REFUND_URL, json={"return_code": 3})
        now = datetime(2024, 5, 2, 3, 0, tzinfo=UTC)
        self.adapter.query_refund(refund_request(now=now), self.pending_refund())
        timestamp = epoch_ms(now)
        assert sent_form(http.calls[-1]) == {
            "app_id": "2553",
            "m_refund_id": "240502_2553_RF0001",
            "timestamp": str(timestamp),
            "mac": sign(KEY1, f"2553|240502_2553_RF0001|{timestamp}"),
        }

    @pytest.mark.parametrize(
        ("code", "outcome"),
        [(1, RefundOutcome.SUCCEEDED), (2, RefundOutcome.FAILED), (3, RefundOutcome.PENDING)],
    )
    def test_query_refund_maps_1_2_3(
        self, http: responses.RequestsMock, code: int, outcome: RefundOutcome
    ) -> None:
        http.post(QUERY_REFUND_URL, json={"return_code": code})
        result = self.adapter.query_refund(refund_request(), self.pending_refund())
        assert result.outcome is outcome
        assert result.extra == {"m_refund_id": "240502_2553_RF0001"}
        assert result.provider_refund_id == "123456789"

    @pytest.mark.parametrize("sub", [-402, -401, -429, -500])
    def test_query_refund_refused_as_a_request_never_fails_the_refund(
        self, http: responses.RequestsMock, sub: int
    ) -> None:
        http.post(QUERY_REFUND_URL, json={"return_code": 2, "sub_return_code": sub})
        with pytest.raises(ProviderUnavailable):
            self.adapter.query_refund(refund_request(), self.pending_refund())

    def test_query_refund_without_an_m_refund_id_is_refused(self) -> None:
        previous = RefundResult(outcome=RefundOutcome.PENDING, result_code="3")
        with pytest.raises(MalformedMessage):
            self.adapter.query_refund(refund_request(), previous)

    def test_query_refund_that_times_out_is_retryable(self, http: responses.RequestsMock) -> None:
        http.post(QUERY_REFUND_URL, body=requests.Timeout())
        with pytest.raises(ProviderUnavailable):
            self.adapter.query_refund(refund_request(), self.pending_refund())

    def test_query_refund_answered_with_5xx_is_retryable(
        self, http: responses.RequestsMock
    ) -> None:
        http.post(QUERY_REFUND_URL, json={}, status=503)
        with pytest.raises(ProviderUnavailable):
            self.adapter.query_refund(refund_request(), self.pending_refund())

    # -- browser return -----------------------------------------------------------------------

    def test_a_signed_return_with_status_1_shows_success(self) -> None:
        result = self.adapter.parse_return(InboundRequest(method="GET", query=return_query()))
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000
        assert result.provider_reference == "240501_FG7ABCDEFGH2JKLMN"

    @pytest.mark.parametrize("status", ["-49", "2", "0", "-217"])
    def test_a_signed_return_with_any_other_status_shows_failure(self, status: str) -> None:
        request = InboundRequest(method="GET", query=return_query(status=status))
        assert self.adapter.parse_return(request).outcome is Outcome.FAILED

    def test_a_return_with_a_changed_status_is_refused(self) -> None:
        query = return_query(status="-49")
        query["status"] = "1"
        with pytest.raises(InvalidSignature):
            self.adapter.parse_return(InboundRequest(method="GET", query=query))

    def test_a_return_signed_with_key1_is_refused(self) -> None:
        query = return_query()
        values = [query[k] for k in list(query)[:7]]
        query["checksum"] = sign(KEY1, redirect_checksum_data(*values))
        with pytest.raises(InvalidSignature):
            self.adapter.parse_return(InboundRequest(method="GET", query=query))

    def test_a_return_without_a_checksum_is_malformed(self) -> None:
        query = return_query()
        del query["checksum"]
        with pytest.raises(MalformedMessage):
            self.adapter.parse_return(InboundRequest(method="GET", query=query))

    def test_return_reference_is_the_claimed_apptransid(self) -> None:
        forged = {"apptransid": "240501_SOMEONE_ELSE", "status": "1", "checksum": "00"}
        assert (
            self.adapter.return_reference(InboundRequest(method="GET", query=forged))
            == "240501_SOMEONE_ELSE"
        )
        assert self.adapter.return_reference(InboundRequest(method="GET")) is None

    # -- statements ---------------------------------------------------------------------------

    def test_a_statement_row_maps_to_a_neutral_line(self) -> None:
        line = self.adapter.parse_statement_line(
            {
                "app_trans_id": "240501_FG7ABCDEFGH2JKLMN",
                "zp_trans_id": 240501000000123,
                "amount": 150_000,
                "server_time": 1714533450123,
            }
        )
        assert line.provider_reference == "240501_FG7ABCDEFGH2JKLMN"
        assert line.amount == 150_000
        assert line.provider_txn_id == "240501000000123"
        assert line.occurred_at == ms(1714533450123)
        assert line.kind == "payment"

    @pytest.mark.parametrize("amount", ["150.000", "150,000", 150000.0, "150000"])
    def test_statement_amounts_from_spreadsheets_are_whole_dong(self, amount: Any) -> None:
        line = self.adapter.parse_statement_line({"app_trans_id": "X", "amount": amount})
        assert line.amount == 150_000

    def test_a_negative_statement_amount_is_a_refund(self) -> None:
        line = self.adapter.parse_statement_line(
            {"app_trans_id": "X", "amount": -50_000, "server_time": "2024-05-02T09:05:00+07:00"}
        )
        assert (line.kind, line.amount) == ("refund", 50_000)
        assert line.occurred_at == datetime(2024, 5, 2, 2, 5, tzinfo=UTC)

    @pytest.mark.parametrize(
        "row",
        [
            {"app_trans_id": "X", "amount": 150000.5},
            {"app_trans_id": "X", "amount": "1.5"},
            {"amount": 1},
            {"app_trans_id": "X", "amount": 1, "server_time": "2024-05-02 09:05"},
        ],
    )
    def test_a_statement_row_that_cannot_be_trusted_is_malformed(self, row: dict[str, Any]) -> None:
        with pytest.raises(MalformedMessage):
            self.adapter.parse_statement_line(row)

    # -- configuration and boundaries ---------------------------------------------------------

    def test_a_config_with_an_empty_key_is_refused(self) -> None:
        with pytest.raises(ValueError):
            replace(CONFIG, key2="")

    def test_the_adapter_imports_only_stdlib_requests_cryptography_and_adapters(self) -> None:
        source = Path(__file__).parents[2] / "adapters" / "zalopay.py"
        tree = ast.parse(source.read_text("utf-8"))
        roots = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots.add(node.module.split(".")[0])
        allowed = {"__future__", "json", "logging", "re", "collections", "dataclasses"}
        allowed |= {"datetime", "typing", "requests", "cryptography", "adapters"}
        assert roots <= allowed

    def test_item_and_embed_data_are_compact_json(self) -> None:
        assert item_json(()) == "[]"
        assert item_json((("Phí", 1),)) == '[{"itemname":"Ph\\u00ed","itemprice":1}]'
        assert embed_data_json("https://x/r") == '{"redirecturl":"https://x/r"}'
