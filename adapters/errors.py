"""Errors an adapter raises, split by what the caller should do next.

Retryable errors (the provider did not give a final answer) must never turn a payment
into a failure; final errors are the provider's own refusal and may.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base class of everything an adapter raises on purpose."""


class InvalidSignature(AdapterError):
    """The message's signature/checksum/mac does not verify: trust nothing in it."""


class MalformedMessage(AdapterError):
    """The message cannot be parsed (missing fields, bad JSON, wrong types)."""


class ProviderUnavailable(AdapterError):
    """Timeout, refused connection, 5xx or an unreadable answer: ask again later."""

    retryable = True


class ProviderRejected(AdapterError):
    """The provider answered and said no (a documented, final error code)."""

    retryable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotSupported(AdapterError):
    """The provider has no such operation (e.g. refunds for a bank-transfer QR)."""
