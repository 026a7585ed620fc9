"""Feegate-Signature, checked with the portal snippet exactly as docs/api.md shows it."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.webhooks.receiver import load_docs_verifier
from webhooks.signing import compute, signature_header

BODY = '{"id":"evt_1","type":"payment.succeeded","data":{"payment":{"payer":"Nguyễn Văn A"}}}'
BODY = BODY.encode()
T = 1_795_000_000


@pytest.fixture(scope="module")
def verify():  # type: ignore[no-untyped-def]
    return load_docs_verifier()


def test_header_format_and_hmac() -> None:
    header = signature_header(BODY, ["whsec_a"], T)
    expected = hmac.new(b"whsec_a", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert compute("whsec_a", T, BODY) == expected


def test_docs_snippet_accepts_a_genuine_signature(verify) -> None:  # type: ignore[no-untyped-def]
    header = signature_header(BODY, ["whsec_a"], T)
    assert verify("whsec_a", BODY, header, now=T) is True
    assert verify("whsec_a", BODY, header, now=T + 299) is True


@pytest.mark.parametrize("case", ["wrong_secret", "tampered_body", "stale", "future", "no_v1",
                                  "no_t", "garbage", "empty", "non_ascii"])
def test_docs_snippet_refuses(verify, case: str) -> None:  # type: ignore[no-untyped-def]
    header = signature_header(BODY, ["whsec_a"], T)
    secret, body, now = "whsec_a", BODY, T
    if case == "wrong_secret":
        secret = "whsec_b"
    elif case == "tampered_body":
        body = BODY.replace(b"evt_1", b"evt_2")
    elif case == "stale":
        now = T + 301
    elif case == "future":
        now = T - 301
    elif case == "no_v1":
        header = f"t={T}"
    elif case == "no_t":
        header = header.split(",", 1)[1]
    elif case == "garbage":
        header = "t=abc,v1=zz,,=,v1"
    elif case == "empty":
        header = ""
    elif case == "non_ascii":
        header = f"t={T},v1=ả"
    assert verify(secret, body, header, now=now) is False


def test_rotation_carries_both_signatures(verify) -> None:  # type: ignore[no-untyped-def]
    header = signature_header(BODY, ["whsec_new", "whsec_old"], T)
    assert header.count("v1=") == 2
    assert header.split(",")[1] == f"v1={compute('whsec_new', T, BODY)}"  # new secret first
    assert verify("whsec_new", BODY, header, now=T)
    assert verify("whsec_old", BODY, header, now=T)
    assert not verify("whsec_other", BODY, header, now=T)


def test_same_secret_twice_signs_once() -> None:
    assert signature_header(BODY, ["s", "s"], T).count("v1=") == 1


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signature_header(BODY, [], T)
