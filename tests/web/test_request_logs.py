"""Structured logs: `Feegate-Request-Id` on every answer and log line; redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from payments.config import ConfigError, logging_options
from payments.logs import Formatter, Redact, redact
from payments.web.request_id import init_request_id
from tests.factories import ApiClient, make_api_client


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The production handler (JSON formatter and redaction) on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(Formatter())
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_every_answer_names_its_request_and_the_logs_carry_it(
    http: FlaskClient, json_log: io.StringIO, gw: Any
) -> None:
    first, second = http.get("/healthz"), http.get("/healthz")
    assert first.headers["Feegate-Request-Id"].startswith("req_")
    assert first.headers["Feegate-Request-Id"] != second.headers["Feegate-Request-Id"]
    client: ApiClient = make_api_client(gw)
    answer = http.get("/api/v1/payments/pay_missing", headers=client.headers)
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.headers["Feegate-Request-Id"].startswith("req_")

    # a caller's own id is kept when it is a plain token, replaced otherwise
    kept = http.get("/healthz", headers={"Feegate-Request-Id": "portal-7f3a.1"})
    assert kept.headers["Feegate-Request-Id"] == "portal-7f3a.1"
    proxied = http.get("/healthz", headers={"X-Request-Id": "lb-1234"})
    assert proxied.headers["Feegate-Request-Id"] == "lb-1234"
    for bad in ("a" * 65, "id with spaces", "<script>", "-starts-with-dash"):
        replaced = http.get("/healthz", headers={"Feegate-Request-Id": bad})
        assert replaced.headers["Feegate-Request-Id"].startswith("req_"), bad

    # a line written while a request runs carries its id
    app = Flask("request-id-test")
    init_request_id(app)

    @app.get("/log")
    def write_a_line() -> str:
        logging.getLogger("payments.test").info("payment %s paid", "pay_1")
        return "ok"

    app.test_client().get("/log", headers={"Feegate-Request-Id": "trace-me-43"})
    records = [r for r in lines(json_log) if r["logger"] == "payments.test"]
    assert records == [{"time": records[0]["time"], "level": "INFO", "logger": "payments.test",
                        "message": "payment pay_1 paid", "request_id": "trace-me-43"}]
    logging.getLogger("payments.test").info("outside any request")
    assert "request_id" not in lines(json_log)[-1]


def test_redaction_of_secrets_signatures_phones_and_emails(json_log: io.StringIO) -> None:
    log = logging.getLogger("payments.test")
    hmac_hex = "5b7a0f6c2d1e" * 10
    log.info("callback vnp_SecureHash=%s from %s", hmac_hex, "portal")
    log.info("payer %s, phone %s / %s", "nguyen.van.a@example.vn", "0912 345 678", "+84912345678")
    log.info("api key fgk_U4VGBx-nKzjVIxICwHU5it6bz7UT62Q9oHfW0HkPsA4 and whsec_V54VBIECZ-tgCf")
    log.warning("headers", extra={"authorization": "Bearer fgk_secret_value_1234567890"})
    try:
        raise ValueError("signature=deadbeefdeadbeefdeadbeefdeadbeefdeadbeef")
    except ValueError:
        log.exception("failed")
    text = json_log.getvalue()
    for secret in (hmac_hex, "nguyen.van.a", "0912 345 678", "912345678", "fgk_U4VG",
                   "whsec_V54V", "fgk_secret", "deadbeefdeadbeef"):
        assert secret not in text, secret
    messages = [r["message"] for r in lines(json_log)]
    assert messages[0] == "callback vnp_SecureHash=[redacted] from portal"
    assert messages[1] == "payer n***@example.vn, phone *******678 / ********678"
    # what an operator needs stays: ids, amounts, dates, provider names
    plain = "payment pay_8x7s6d attempt att_12 amount 150000 at 20261126103000 via vnpay"
    assert redact(plain) == plain


def test_log_options() -> None:
    assert logging_options({}) == ("INFO", "json")
    assert logging_options({"FEEGATE_ENV": "dev"}) == ("INFO", "text")
    assert logging_options({"FEEGATE_LOG_FORMAT": "text", "FEEGATE_LOG_LEVEL": "warning"}) == (
        "WARNING", "text")
    with pytest.raises(ConfigError, match="FEEGATE_LOG_FORMAT"):
        logging_options({"FEEGATE_LOG_FORMAT": "xml"})
