"""The contract every adapter honours. Each provider's test module subclasses it.

A subclass sets `adapter` (a configured instance) and implements `signed_callback`
(a callback exactly as the provider would send it, signed with the test secret) and
`start_request`. The shared tests then prove the things every adapter must get right.
"""

from __future__ import annotations

import abc
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from adapters.base import Ack, AckResponse, Adapter, InboundRequest, Outcome, StartRequest
from adapters.errors import InvalidSignature, MalformedMessage

NOW = datetime(2024, 5, 1, 3, 15, 30, tzinfo=UTC)


def make_start_request(**overrides: object) -> StartRequest:
    values: dict[str, object] = {
        "reference": "FG7ABCDEFGH2JKLMN",
        "request_id": "RQ7ABCDEFGH2JKLMN",
        "amount": 150_000,
        "description": "Lệ phí cấp phiếu lý lịch tư pháp hồ sơ 000.00.01.H32-240501-0001",
        "return_url": "https://feegate.example.gov.vn/pay/return/x",
        "notify_url": "https://feegate.example.gov.vn/webhooks/x",
        "client_ip": "203.0.113.7",
        "now": NOW,
        "expires_at": NOW + timedelta(minutes=60),
        "payment_id": "pay_test123",
    }
    values.update(overrides)
    return StartRequest(**values)  # type: ignore[arg-type]


class AdapterContract(abc.ABC):
    adapter: Adapter

    @abc.abstractmethod
    def signed_callback(
        self, provider_reference: str, amount: int, outcome: Outcome
    ) -> InboundRequest:
        """A callback exactly as the provider sends it, signed with the test secret."""

    @abc.abstractmethod
    def tamper(self, request: InboundRequest) -> InboundRequest:
        """Change the amount (or any signed field) without re-signing."""

    def test_adapter_has_a_name(self) -> None:
        assert self.adapter.name and self.adapter.name.isidentifier()

    def test_start_names_the_order_and_where_to_go(self) -> None:
        result = self.adapter.start(make_start_request())
        assert result.provider_reference
        assert result.redirect_url or result.qr_payload

    def test_a_signed_success_callback_parses_to_success_with_its_amount(self) -> None:
        request = self.signed_callback("FG7ABCDEFGH2JKLMN", 150_000, Outcome.SUCCEEDED)
        result = self.adapter.parse_callback(request)
        assert result.outcome is Outcome.SUCCEEDED
        assert result.amount == 150_000

    def test_a_tampered_callback_is_refused(self) -> None:
        request = self.signed_callback("FG7ABCDEFGH2JKLMN", 150_000, Outcome.SUCCEEDED)
        with pytest.raises(InvalidSignature):
            self.adapter.parse_callback(self.tamper(request))

    def test_a_callback_without_a_signature_is_refused(self) -> None:
        request = InboundRequest(method="POST", body=b"{}", query={}, form={})
        with pytest.raises((InvalidSignature, MalformedMessage)):
            self.adapter.parse_callback(request)

    def test_every_ack_has_an_answer(self) -> None:
        for ack in Ack:
            response = self.adapter.acknowledge(ack)
            assert isinstance(response, AckResponse)
            assert 200 <= response.status < 600

    def test_start_request_is_immutable(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            make_start_request().amount = 1  # type: ignore[misc]
