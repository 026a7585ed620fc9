"""The browser return `/pay/return/vnpay`: verified for display, money decided by VNPay.

The citizen's browser goes through the VNPay simulator mounted by the app (real HTTP both
ways). When the IPN has not arrived (the simulator's "do not send IPN" box), the return page
asks querydr before it shows a final answer; a forged return changes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from adapters.base import Outcome, QueryRequest
from adapters.vnpay import VnpayAdapter
from payments.services.gateway import Gateway
from simulators.vnpay import Ledger
from tests.webhooks.test_vnpay_ipn import (
    Started,
    callbacks,
    resign,
    rsp_code,
    send_ipn,
    start_vnpay,
    state,
    transitions,
    vnpay_params,
    vnpay_settings,
    wire_query,
)


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "vnpay": vnpay_settings(port)}



# --- a citizen's browser on the simulator (also used by test_vnpay_flow.py) ----------------


class _FormFields(HTMLParser):
    """The fields a browser posts from the simulator's pay form (buttons excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input":
            return
        attr = {key: value or "" for key, value in attrs}
        kind = attr.get("type", "text")
        if kind == "hidden" or (kind == "radio" and "checked" in attr):
            self.fields[attr["name"]] = attr.get("value", "")


def open_pay_page(browser: requests.Session, pay_url: str) -> dict[str, str]:
    """GET VNPay's page as the citizen does; the form's fields."""
    page = browser.get(pay_url, timeout=30)
    assert page.status_code == 200, page.text
    assert "VN<b>PAY</b>" in page.text
    parser = _FormFields()
    parser.feed(page.text)
    assert parser.fields.get("vnp_SecureHash"), "the pay page has no form"
    return parser.fields


def press(browser: requests.Session, pay_url: str, fields: dict[str, str], action: str, *,
          send_ipn: bool = True) -> requests.Response:
    """Press Pay / Fail / Cancel; the simulator calls the IPN (unless told not to) and sends
    the browser back to feegate's return page, which this follows."""
    form = {**fields, "action": action}
    if not send_ipn:
        form["no_ipn"] = "1"
    response = browser.post(pay_url, data=form, timeout=60)
    assert [hop.status_code for hop in response.history] == [302]
    assert "/pay/return/vnpay?" in response.url
    return response


def shown_status(page: requests.Response) -> str:
    """What the result page tells the citizen: a payment status, or "confirming"."""
    assert page.status_code == 200, page.text
    match = re.search(r'data-status="([a-z]+)"', page.text)
    if match:
        return match.group(1)
    assert 'class="status pending" data-testid="status"' in page.text
    return "confirming"


def ledger_of(app: Flask) -> Ledger:
    ledger: Ledger = app.blueprints["sim_vnpay"].ledger  # type: ignore[attr-defined]
    return ledger


def querydr_calls(app: Flask) -> int:
    """How many querydr/refund requests the simulator has answered (by vnp_RequestId)."""
    with ledger_of(app).lock:
        return len(ledger_of(app).request_ids)


def return_url(gw: Gateway, params: dict[str, str]) -> str:
    return gw.settings.url("/pay/return/vnpay") + "?" + wire_query(params)


# --- the IPN came first ---------------------------------------------------------------------


def test_after_the_ipn_the_return_page_shows_paid_without_asking_again(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        page = press(browser, started.attempt["redirect_url"], fields, "pay")

    assert shown_status(page) == "succeeded"
    assert "Đã thanh toán" in page.text
    assert querydr_calls(app) == 0  # the IPN had already recorded it
    after = state(gw, started.payment_id)
    assert transitions(after) == [("attempt.status", "pending", "succeeded", "ipn")]
    [ipn] = callbacks(gw, "ipn")
    [back] = callbacks(gw, "return")
    assert (ipn.verified, ipn.outcome) == (True, "recorded")
    assert (back.verified, back.attempt_id) == (True, started.attempt["id"])


def test_after_a_declined_ipn_the_return_page_says_not_paid(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        page = press(browser, started.attempt["redirect_url"], fields, "fail")

    assert shown_status(page) == "failed"
    assert "Thanh toán chưa thành công" in page.text
    assert "không đủ số dư" in page.text  # VNPay's reason, in Vietnamese
    assert querydr_calls(app) == 0


# --- the IPN did not come: querydr before a final answer --------------------------------------


def test_without_the_ipn_the_return_page_asks_querydr_and_the_payment_succeeds(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        page = press(browser, started.attempt["redirect_url"], fields, "pay", send_ipn=False)

    assert callbacks(gw, "ipn") == []  # the IPN never arrived
    assert querydr_calls(app) == 1
    assert shown_status(page) == "succeeded"
    after = state(gw, started.payment_id)
    assert after["status"] == "succeeded"
    assert after["attempts"][0]["status"] == "succeeded"
    assert after["attempts"][0]["provider_txn_id"]  # from querydr's vnp_TransactionNo
    assert transitions(after) == [("attempt.status", "pending", "succeeded", "return")]
    assert after["outbox"] == ["payment.succeeded"]
    api = http.get(f"/api/v1/payments/{started.payment_id}", headers=started.client.headers)
    assert api.get_json()["status"] == "succeeded"

    # VNPay retries the lost IPN later: it is a duplicate, answered 02, nothing moves.
    late = vnpay_params(gw, started)
    late["vnp_TransactionNo"] = after["attempts"][0]["provider_txn_id"]
    assert rsp_code(send_ipn(gw, resign(late))) == "02"
    assert state(gw, started.payment_id) == after


def test_without_the_ipn_a_declined_payment_is_shown_failed_after_querydr(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        page = press(browser, started.attempt["redirect_url"], fields, "fail", send_ipn=False)

    assert querydr_calls(app) == 1
    assert shown_status(page) == "failed"
    after = state(gw, started.payment_id)
    assert after["attempts"][0]["status"] == "failed"
    assert after["outbox"] == ["payment.failed"]


def test_when_vnpay_cannot_be_reached_the_page_says_confirming_not_failed(
    http: FlaskClient, gw: Gateway, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        adapter = gw.adapters["vnpay"]
        assert isinstance(adapter, VnpayAdapter)
        unreachable = dataclasses.replace(adapter.config, api_url="http://127.0.0.1:9/x")
        monkeypatch.setattr(adapter, "config", unreachable)
        page = press(browser, started.attempt["redirect_url"], fields, "pay", send_ipn=False)

    assert shown_status(page) == "confirming"
    assert state(gw, started.payment_id)["attempts"][0]["status"] == "pending"


# --- forged returns change nothing ----------------------------------------------------------


def _forged(gw: Gateway, started: Started, how: str) -> dict[str, str]:
    if how == "response_code":  # a genuine decline, turned into a success
        params = vnpay_params(gw, started, code="51", status="02")
        params["vnp_ResponseCode"] = "00"
        params["vnp_TransactionStatus"] = "00"
        return params
    params = vnpay_params(gw, started)
    if how == "amount":
        params["vnp_Amount"] = "100"
    elif how == "hash":
        params["vnp_SecureHash"] = "0" * 128
    elif how == "no_hash":
        del params["vnp_SecureHash"]
    return params


@pytest.mark.parametrize("how", ["response_code", "amount", "hash", "no_hash"])
def test_a_forged_return_changes_nothing(
    http: FlaskClient, gw: Gateway, app: Flask, how: str
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        open_pay_page(browser, started.attempt["redirect_url"])  # opened, not paid
        before = state(gw, started.payment_id)
        page = browser.get(return_url(gw, _forged(gw, started, how)), timeout=60)

    assert shown_status(page) == "confirming"  # never "paid" on the browser's word
    assert "Đã thanh toán" not in page.text
    assert state(gw, started.payment_id) == before
    [back] = callbacks(gw, "return")
    assert back.verified is False
    assert back.attempt_id == started.attempt["id"]  # stored, for staff to see
    assert querydr_calls(app) == 1  # VNPay was asked, and said "not completed"


def test_even_a_correctly_signed_success_return_is_only_shown_not_applied(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    """Money is decided by the IPN or querydr; the return is display only."""
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        open_pay_page(browser, started.attempt["redirect_url"])
        before = state(gw, started.payment_id)
        page = browser.get(return_url(gw, vnpay_params(gw, started)), timeout=60)

    assert shown_status(page) == "confirming"
    assert state(gw, started.payment_id) == before
    [back] = callbacks(gw, "return")
    assert back.verified is True


def test_a_forged_return_for_an_order_vnpay_never_saw_changes_nothing(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)  # the citizen never reached VNPay: querydr answers 91
    before = state(gw, started.payment_id)
    with requests.Session() as browser:
        page = browser.get(return_url(gw, _forged(gw, started, "response_code")), timeout=60)
    assert shown_status(page) == "confirming"
    assert state(gw, started.payment_id) == before


def test_a_return_for_an_unknown_order_is_not_found(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    params = vnpay_params(gw, started, txn_ref="FGNOSUCHORDER0001")
    page = requests.get(return_url(gw, params), timeout=30)
    assert page.status_code == 404
    assert "Không tìm thấy giao dịch" in page.text


def test_after_a_forged_return_the_citizen_can_still_pay(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        fields = open_pay_page(browser, started.attempt["redirect_url"])
        browser.get(return_url(gw, _forged(gw, started, "response_code")), timeout=60)
        page = press(browser, started.attempt["redirect_url"], fields, "pay")
    assert shown_status(page) == "succeeded"


# --- 07 through querydr --------------------------------------------------------------------


def test_querydr_status_07_keeps_the_attempt_open_until_vnpay_decides(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        open_pay_page(browser, started.attempt["redirect_url"])
        with ledger_of(app).lock:  # VNPay debited the citizen and holds it as suspected fraud
            txn = ledger_of(app).transactions[started.txn_ref]
            txn.status, txn.response_code, txn.transaction_no = "07", "07", "14422999"
            txn.bank_code, txn.pay_date = "NCB", started.pay_params["vnp_CreateDate"]
        held = vnpay_params(gw, started, code="07", status="07")

        page = browser.get(return_url(gw, held), timeout=60)

        assert shown_status(page) == "confirming"  # "please do not pay again"
        after = state(gw, started.payment_id)
        assert after["status"] == "pending"
        assert after["attempts"][0]["status"] == "pending"
        assert after["outbox"] == []
        assert querydr_calls(app) == 1

        with ledger_of(app).lock:  # the merchant approves in VNPay's merchant admin
            txn.status = "00"
        page = browser.get(return_url(gw, held), timeout=60)

    assert shown_status(page) == "succeeded"
    assert state(gw, started.payment_id)["outbox"] == ["payment.succeeded"]


def test_the_adapter_reads_querydr_status_07_as_pending(
    http: FlaskClient, gw: Gateway, app: Flask
) -> None:
    started = start_vnpay(http, gw)
    with requests.Session() as browser:
        open_pay_page(browser, started.attempt["redirect_url"])
    with ledger_of(app).lock:
        ledger_of(app).transactions[started.txn_ref].status = "07"
    adapter = gw.adapters["vnpay"]
    result = adapter.query(QueryRequest(
        provider_reference=started.txn_ref, reference=started.txn_ref, amount=150_000,
        created_at=gw.now(), now=gw.now(), request_id="RQ07TEST0001",
        extra={"vnp_CreateDate": started.pay_params["vnp_CreateDate"]},
    ))
    assert result.outcome is Outcome.PENDING
    assert result.result_code == "07"
    assert result.message == "Giao dịch bị nghi ngờ gian lận"
