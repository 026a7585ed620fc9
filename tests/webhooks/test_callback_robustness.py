"""Junk that can never verify is refused in the provider's format, never 'please retry'."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from payments.models import ProviderCallback
from payments.services.gateway import Gateway


@pytest.mark.parametrize("body", [b"\x00garbage", b'{"reference": "FG\x00X", "status": "paid"}'])
def test_a_body_with_nul_bytes_is_stored_and_refused_as_unsigned(
    app: Flask, gw: Gateway, body: bytes
) -> None:
    answer = requests.post(f"{gw.settings.public_url}/webhooks/sandbox", data=body, timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert answer.json()["result"] == "invalid_signature"
    with gw.sessions() as session:
        [row] = session.scalars(select(ProviderCallback)).all()
    assert row.verified is False
    assert "garbage" in row.body or "FG" in row.body


def test_an_oversized_body_is_refused_as_malformed_not_retried(app: Flask, gw: Gateway) -> None:
    body: Any = b"x" * (2 * 1024 * 1024)
    answer = requests.post(f"{gw.settings.public_url}/webhooks/sandbox", data=body, timeout=30,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["result"] == "malformed"
