"""Each adapter declares the amounts its provider takes, and `accepts` keeps to them.

The numbers are the providers' documented limits (docs/providers/*.md): VNPay's
`vnp_Amount` is Numeric[1,12] after × 100; MoMo's wallet takes 1,000–50,000,000 đồng
(payWithATM at least 10,000); ZaloPay 50,000,000 per order; VietQR (NAPAS 247) below
500 million per transfer; the sandbox any whole đồng above 0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses
from requests import PreparedRequest

from adapters.base import Adapter, StartRequest
from adapters.momo import CREATE_PATH, MomoAdapter, MomoConfig
from adapters.sandbox import SandboxAdapter, SandboxConfig
from adapters.vietqr import VietqrAdapter, VietqrConfig, parse_tlv
from adapters.vnpay import VnpayAdapter, VnpayConfig, vnpay_amount
from adapters.zalopay import ZalopayAdapter, ZalopayConfig

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
MOMO_ENDPOINT = "https://test-payment.momo.vn"


def vnpay() -> VnpayAdapter:
    return VnpayAdapter(VnpayConfig(tmn_code="TESTTMN1", hash_secret="TESTSECRET",
                                    pay_url="https://sandbox.vnpayment.vn/paymentv2/vpcpay.html",
                                    api_url="https://sandbox.vnpayment.vn/merchant_webapi/api"))


def momo(request_type: str = "captureWallet") -> MomoAdapter:
    return MomoAdapter(MomoConfig(partner_code="MOMOTEST", access_key="TESTKEY",
                                  secret_key="TESTSECRET", endpoint=MOMO_ENDPOINT,
                                  request_type=request_type))


def zalopay() -> ZalopayAdapter:
    return ZalopayAdapter(ZalopayConfig(app_id="2553", key1="TESTKEY1", key2="TESTKEY2",
                                        endpoint="https://sb-openapi.zalopay.vn"))


def vietqr() -> VietqrAdapter:
    return VietqrAdapter(VietqrConfig(bank_bin="970436", account_no="0011001234567",
                                      account_name="SO TU PHAP", checksum_key="TESTKEY"))


def sandbox() -> SandboxAdapter:
    return SandboxAdapter(SandboxConfig(secret="TESTSECRET", pay_url="http://127.0.0.1/pay",
                                        api_url="http://127.0.0.1/api"))


def request(amount: int) -> StartRequest:
    return StartRequest(
        reference="FG0000000000000001", request_id="RQ0000000000000001", amount=amount,
        description="Le phi", return_url="http://127.0.0.1/pay/return/x",
        notify_url="http://127.0.0.1/webhooks/x", client_ip="203.0.113.7", now=NOW,
        expires_at=NOW + timedelta(minutes=30), payment_id="pay_test",
    )


@pytest.mark.parametrize(
    ("adapter", "low", "high"),
    [
        (vnpay(), 1, 9_999_999_999),
        (momo(), 1_000, 50_000_000),
        (momo("payWithMethod"), 1_000, 50_000_000),
        (momo("payWithATM"), 10_000, 50_000_000),
        (zalopay(), 1, 50_000_000),
        (vietqr(), 1, 499_999_999),
    ],
    ids=["vnpay", "momo-wallet", "momo-method", "momo-atm", "zalopay", "vietqr"],
)
def test_accepts_exactly_the_documented_range(adapter: Adapter, low: int, high: int) -> None:
    assert (adapter.min_amount, adapter.max_amount) == (low, high)
    assert adapter.accepts(low) and adapter.accepts(high)
    assert not adapter.accepts(low - 1)
    assert not adapter.accepts(high + 1)
    assert not adapter.accepts(0) and not adapter.accepts(-1)


@pytest.mark.parametrize("adapter", [vnpay(), momo(), zalopay(), vietqr(), sandbox()],
                         ids=lambda a: a.name)
def test_only_whole_dong_are_accepted(adapter: Adapter) -> None:
    assert not adapter.accepts(True)
    assert not adapter.accepts(150_000.0)  # type: ignore[arg-type]
    assert not adapter.accepts("150000")  # type: ignore[arg-type]


def test_the_sandbox_has_no_upper_limit() -> None:
    adapter = sandbox()
    assert (adapter.min_amount, adapter.max_amount) == (1, None)
    assert adapter.accepts(1) and adapter.accepts(100_000_000_000)
    assert not adapter.accepts(0)


def test_momos_limit_per_account_does_not_leak_to_another_account() -> None:
    atm, wallet = momo("payWithATM"), momo()
    assert not atm.accepts(5_000) and wallet.accepts(5_000)
    assert MomoAdapter.min_amount == 1_000  # the class default stays the wallet's


def test_vnpay_at_its_limit_fills_the_twelve_digit_field_and_above_it_cannot_be_built() -> None:
    adapter = vnpay()
    params = adapter.pay_params(request(adapter.max_amount or 0))
    assert params["vnp_Amount"] == "999999999900" and len(params["vnp_Amount"]) == 12
    assert params["vnp_Amount"] == vnpay_amount(9_999_999_999)
    with pytest.raises(ValueError):
        vnpay_amount(10_000_000_000)


@responses.activate
def test_momo_at_its_maximum_sends_the_amount_as_it_is() -> None:
    adapter = momo()
    sent: dict[str, object] = {}

    def answer(call: PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = json.loads(call.body or b"{}")
        sent.update(body)
        reply = {"partnerCode": "MOMOTEST", "orderId": body["orderId"],
                 "requestId": body["requestId"], "amount": body["amount"], "resultCode": 0,
                 "message": "Thành công.", "payUrl": "https://test-payment.momo.vn/pay/x"}
        return 200, {"Content-Type": "application/json"}, json.dumps(reply)

    responses.add_callback(responses.POST, MOMO_ENDPOINT + CREATE_PATH, callback=answer)
    started = adapter.start(request(50_000_000))
    assert sent["amount"] == 50_000_000
    assert started.redirect_url == "https://test-payment.momo.vn/pay/x"


def test_zalopay_at_its_maximum_signs_the_amount() -> None:
    fields = zalopay().create_fields(request(50_000_000))
    assert fields["amount"] == "50000000"


def test_vietqr_at_its_maximum_puts_the_amount_in_tag_54() -> None:
    payload = vietqr().start(request(499_999_999)).qr_payload
    assert payload is not None
    assert dict(parse_tlv(payload))["54"] == "499999999"
