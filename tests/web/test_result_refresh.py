"""A confirming result page polls a status URL that asks the provider again (no meta
refresh), without storing the browser's return over and over."""

from __future__ import annotations

import json
import re

import requests
from flask import Flask

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from payments.services.gateway import Gateway
from tests.factories import create_payment, make_api_client, start_attempt
from tests.flow import callbacks


def test_the_confirming_page_polls_the_status_url_until_the_callback_lands(
    app: Flask, gw: Gateway, base_url: str
) -> None:
    http = app.test_client()
    client = make_api_client(gw)
    payment = create_payment(http, client)
    attempt = start_attempt(http, client, payment["id"])
    result_url = f"{base_url}/pay/{payment['id']}/result/{attempt['id']}"

    confirming = requests.get(result_url, timeout=10)  # the sandbox knows of no payment yet
    assert "Đang xác nhận" in confirming.text
    assert 'http-equiv="refresh"' not in confirming.text
    poll = re.search(r'data-poll-url="([^"]+)"', confirming.text)
    assert poll is not None
    status_url = base_url + poll.group(1).replace("&amp;", "&")
    assert f"/pay/{payment['id']}/status.json?attempt={attempt['id']}" in status_url
    again = re.search(r'<a href="([^"]+)" data-poll-again[^>]*>Kiểm tra lại</a>', confirming.text)
    assert again is not None and again.group(1).startswith(f"/pay/{payment['id']}/result/")
    waiting = requests.get(status_url, timeout=10)
    assert waiting.json()["final"] is False and waiting.json()["status"] == "pending"

    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    body = json.dumps({"reference": attempt["provider_reference"], "amount": "150000",
                       "status": "paid", "code": "00", "transaction_id": "SBX1"}).encode()
    ack = requests.post(f"{base_url}/webhooks/sandbox", data=body, timeout=10,
                        headers={"Content-Type": "application/json",
                                 SIGNATURE_HEADER: adapter.sign_body(body)})
    assert ack.status_code == 200

    settled = requests.get(status_url, timeout=10).json()
    assert settled["final"] is True and settled["status"] == "succeeded"
    assert settled["attempt"] == {"id": attempt["id"], "status": "succeeded"}
    paid = requests.get(result_url, timeout=10)
    assert 'data-status="succeeded"' in paid.text
    assert "data-poll-url" not in paid.text
    assert callbacks(gw, kind="return") == []  # polling stores no browser return


def test_a_status_url_for_another_payment_is_404(app: Flask, gw: Gateway, base_url: str) -> None:
    http = app.test_client()
    client = make_api_client(gw)
    one = create_payment(http, client)
    other = create_payment(http, client, reference="000.00.01.H32-261126-0002")
    attempt = start_attempt(http, client, other["id"])
    answer = requests.get(f"{base_url}/pay/{one['id']}/result/{attempt['id']}", timeout=10)
    assert answer.status_code == 404
