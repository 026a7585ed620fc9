"""The whole citizen flow with the sandbox provider, through real HTTP end to end.

API create -> checkout page -> POST /pay/{id}/start -> the sandbox's hosted page -> pay,
fail or cancel -> the sandbox calls /webhooks/sandbox over HTTP -> 303 to
/pay/return/sandbox -> the result page. Magic amounts reach the odd branches.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from payments.models import Attempt, PaymentEvent, ProviderCallback, SandboxTransaction
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client, payment_body
from tests.flow import (
    TIMEOUT,
    api,
    callbacks,
    choose,
    count,
    events,
    moves,
    outbox,
    outbox_types,
    pay_through_sandbox,
    start_sandbox,
)

PAID_VI = "Đã thanh toán"
CONFIRMING_VI = "Đang xác nhận giao dịch"


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def create(base_url: str, client: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = api(
        base_url, "POST", "/api/v1/payments", client.api_key, json=payment_body(**overrides)
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def get(base_url: str, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = api(base_url, "GET", f"/api/v1/payments/{payment_id}", client.api_key)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def sandbox(gw: Gateway) -> SandboxAdapter:
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    return adapter


def status_shown(html: str) -> str | None:
    """The data-status of the result page (absent while it is being confirmed)."""
    marker = 'data-status="'
    if marker not in html:
        return None
    return html.split(marker, 1)[1].split('"', 1)[0]


# -- pay, fail, cancel ---------------------------------------------------------------------


def test_paying_on_the_sandbox_page_marks_the_payment_succeeded_and_tells_the_portal_once(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)

    walk = pay_through_sandbox(base_url, payment["id"], "pay")

    assert walk.back.headers["Location"].startswith(f"{base_url}/pay/return/sandbox?")
    assert walk.result.status_code == 200
    assert PAID_VI in walk.result.text
    assert status_shown(walk.result.text) == "succeeded"
    assert payment["return_url"] in walk.result.text  # the link back to the portal
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert seen["paid_provider"] == "sandbox"
    assert seen["paid_at"] is not None
    (attempt,) = seen["attempts"]
    assert attempt["status"] == "succeeded"
    assert attempt["provider_transaction_id"].startswith("SBX")
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]
    (note,) = outbox(gw, payment["id"])
    assert note.payload["data"]["payment"] == seen
    assert moves(gw, payment["id"], "payment.status") == [
        ("created", "pending"),
        ("pending", "succeeded"),
    ]
    assert moves(gw, payment["id"], "attempt.status") == [("pending", "succeeded")]


def test_a_declined_card_fails_the_attempt_and_the_payment_and_tells_the_portal(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)

    walk = pay_through_sandbox(base_url, payment["id"], "fail")

    assert status_shown(walk.result.text) == "failed"
    assert "Không có khoản tiền nào bị trừ" in walk.result.text
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "failed"
    assert [(a["status"], a["result_code"]) for a in seen["attempts"]] == [("failed", "51")]
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]
    assert outbox(gw, payment["id"])[0].payload["data"]["payment"] == seen


def test_cancelling_at_the_sandbox_cancels_the_attempt_and_fails_the_payment(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)

    walk = pay_through_sandbox(base_url, payment["id"], "cancel")

    assert status_shown(walk.result.text) == "failed"
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "failed"
    assert [a["status"] for a in seen["attempts"]] == ["cancelled"]
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


@pytest.mark.parametrize("first", ["fail", "cancel"])
def test_after_a_failed_or_cancelled_attempt_the_citizen_can_still_pay_with_a_new_one(
    gw: Gateway, base_url: str, client: ApiClient, first: str
) -> None:
    payment = create(base_url, client)
    pay_through_sandbox(base_url, payment["id"], first)

    walk = pay_through_sandbox(base_url, payment["id"], "pay")

    assert status_shown(walk.result.text) == "succeeded"
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert [a["status"] for a in seen["attempts"]] == [
        "failed" if first == "fail" else "cancelled",
        "succeeded",
    ]
    assert moves(gw, payment["id"], "payment.status") == [
        ("created", "pending"),
        ("pending", "failed"),
        ("failed", "pending"),
        ("pending", "succeeded"),
    ]
    assert outbox_types(gw, payment["id"]) == ["payment.failed", "payment.succeeded"]


def test_the_result_page_speaks_english_when_the_citizen_chose_english(
    base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    started = start_sandbox(base_url, payment["id"], lang="en")
    back = choose(started.headers["Location"], "pay")

    page = requests.get(back.headers["Location"] + "&lang=en", timeout=TIMEOUT)

    assert "Paid" in page.text
    assert '<html lang="en">' in page.text


def test_paying_after_the_portal_cancelled_still_wins_and_is_flagged(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    """The citizen is on the sandbox page when the portal cancels: the money still counts."""
    payment = create(base_url, client)
    sandbox_url = start_sandbox(base_url, payment["id"]).headers["Location"]
    cancelled = api(base_url, "POST", f"/api/v1/payments/{payment['id']}/cancel", client.api_key)
    assert cancelled.json()["status"] == "cancelled"

    back = choose(sandbox_url, "pay")
    page = requests.get(back.headers["Location"], timeout=TIMEOUT)

    assert status_shown(page.text) == "succeeded"
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert {"late_success", "success_after_failure"} <= set(seen["flags"])
    assert outbox_types(gw, payment["id"]) == ["payment.cancelled", "payment.succeeded"]


def test_paying_in_two_tabs_is_recorded_as_a_double_payment_and_told_once(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    first_tab = start_sandbox(base_url, payment["id"]).headers["Location"]
    second_tab = start_sandbox(base_url, payment["id"]).headers["Location"]

    choose(first_tab, "pay")
    choose(second_tab, "pay")

    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert [a["status"] for a in seen["attempts"]] == ["succeeded", "succeeded"]
    assert "double_payment" in seen["flags"]
    assert len(events(gw, payment["id"], "payment.double_payment")) == 1
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_pressing_pay_after_fail_on_the_same_page_still_pays(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    """The citizen goes back and presses pay after a decline: a success always wins."""
    payment = create(base_url, client)
    sandbox_url = start_sandbox(base_url, payment["id"]).headers["Location"]
    choose(sandbox_url, "fail")

    back = choose(sandbox_url, "pay")
    page = requests.get(back.headers["Location"], timeout=TIMEOUT)

    assert status_shown(page.text) == "succeeded"
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "succeeded"
    assert "success_after_failure" in seen["flags"]
    assert outbox_types(gw, payment["id"]) == ["payment.failed", "payment.succeeded"]


# -- every callback stored raw --------------------------------------------------------------


def test_every_inbound_callback_is_stored_raw_with_its_verification_result(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    paid = create(base_url, client, reference="HS-1")
    failed = create(base_url, client, reference="HS-2")
    pay_through_sandbox(base_url, paid["id"], "pay")
    pay_through_sandbox(base_url, failed["id"], "fail")
    forged = requests.post(
        f"{base_url}/webhooks/sandbox",
        data=b'{"reference": "X", "status": "paid"}',
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: "00" * 32},
        timeout=TIMEOUT,
    )
    assert forged.status_code == 401

    ipns = callbacks(gw, kind="ipn")

    assert len(ipns) == 3
    assert [c.verified for c in ipns] == [True, True, False]
    assert [c.outcome for c in ipns] == ["recorded", "recorded", "invalid_signature"]
    assert json.loads(ipns[0].body)["status"] == "paid"
    assert json.loads(ipns[1].body)["status"] == "failed"
    assert ipns[2].body == '{"reference": "X", "status": "paid"}'
    assert all(c.method == "POST" and c.headers.get(SIGNATURE_HEADER) for c in ipns)
    attempt_ids = {
        a["id"] for p in (paid, failed) for a in get(base_url, client, p["id"])["attempts"]
    }
    assert {c.attempt_id for c in ipns[:2]} == attempt_ids
    returns = callbacks(gw, kind="return")
    assert len(returns) == 2  # the browser returns are stored too
    assert all(c.verified for c in returns)


def test_a_callback_with_an_invalid_signature_is_refused_and_only_stored(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    started = start_sandbox(base_url, payment["id"])
    reference = dict(parse_qsl(urlsplit(started.headers["Location"]).query))["reference"]
    body = json.dumps(
        {
            "reference": reference,
            "amount": str(payment["amount"]),
            "status": "paid",
            "code": "00",
            "transaction_id": "SBX1",
        }
    ).encode()
    events_before = len(events(gw, payment["id"]))
    tampered_signature = sandbox(gw).sign_body(body + b" ")

    answer = requests.post(
        f"{base_url}/webhooks/sandbox",
        data=body,
        timeout=TIMEOUT,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: tampered_signature},
    )
    unsigned = requests.post(
        f"{base_url}/webhooks/sandbox",
        data=body,
        timeout=TIMEOUT,
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 401
    assert unsigned.status_code == 401
    assert answer.json() == {"ok": False, "result": "invalid_signature"}
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "pending"
    assert [a["status"] for a in seen["attempts"]] == ["pending"]
    assert len(events(gw, payment["id"])) == events_before
    assert outbox(gw, payment["id"]) == []
    stored = callbacks(gw, kind="ipn")
    assert [(c.verified, c.outcome, c.body) for c in stored] == [
        (False, "invalid_signature", body.decode()),
        (False, "invalid_signature", body.decode()),
    ]


def test_a_signed_callback_for_an_order_feegate_never_made_is_acknowledged_as_unknown(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    body = json.dumps({"reference": "FGNOSUCHORDER", "amount": "1000", "status": "paid"}).encode()

    answer = requests.post(
        f"{base_url}/webhooks/sandbox",
        data=body,
        timeout=TIMEOUT,
        headers={SIGNATURE_HEADER: sandbox(gw).sign_body(body)},
    )

    assert answer.status_code == 200
    assert answer.json()["result"] == "unknown_order"
    assert count(gw, PaymentEvent) == 0
    (stored,) = callbacks(gw, kind="ipn")
    assert stored.verified is True


# -- the return never decides money --------------------------------------------------------


def test_a_return_with_a_tampered_signature_changes_nothing_and_says_it_is_being_confirmed(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    started = start_sandbox(base_url, payment["id"])
    fields = dict(parse_qsl(urlsplit(started.headers["Location"]).query))
    claim = {
        "reference": fields["reference"],
        "amount": fields["amount"],
        "status": "paid",
        "code": "00",
        "message": "",
        "transaction_id": "SBX0000000001",
        "paid_at": "",
    }
    claim["signature"] = "f" * 64

    page = requests.get(f"{base_url}/pay/return/sandbox?{urlencode(claim)}", timeout=TIMEOUT)

    assert page.status_code == 200
    assert CONFIRMING_VI in page.text
    assert "data-poll-url=" in page.text and 'http-equiv="refresh"' not in page.text
    assert get(base_url, client, payment["id"])["status"] == "pending"
    (stored,) = callbacks(gw, kind="return")
    assert stored.verified is False
    assert outbox(gw, payment["id"]) == []


def test_a_correctly_signed_return_claiming_paid_is_not_believed_without_the_provider(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    started = start_sandbox(base_url, payment["id"])
    fields = dict(parse_qsl(urlsplit(started.headers["Location"]).query))
    claim = {
        "reference": fields["reference"],
        "amount": fields["amount"],
        "status": "paid",
        "code": "00",
        "message": "",
        "transaction_id": "SBX0000000001",
        "paid_at": "",
    }
    claim["signature"] = sandbox(gw).sign(claim)

    page = requests.get(f"{base_url}/pay/return/sandbox?{urlencode(claim)}", timeout=TIMEOUT)

    assert CONFIRMING_VI in page.text
    assert PAID_VI not in page.text
    assert get(base_url, client, payment["id"])["status"] == "pending"
    assert outbox(gw, payment["id"]) == []


def test_a_failed_return_edited_to_say_paid_shows_the_true_status(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    walk = pay_through_sandbox(base_url, payment["id"], "fail")
    fields = dict(parse_qsl(urlsplit(walk.back.headers["Location"]).query))
    fields.update(status="paid", code="00")

    page = requests.get(f"{base_url}/pay/return/sandbox?{urlencode(fields)}", timeout=TIMEOUT)

    assert status_shown(page.text) == "failed"
    assert PAID_VI not in page.text
    assert get(base_url, client, payment["id"])["status"] == "failed"
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


def test_a_return_for_an_unknown_order_is_a_not_found_page(
    base_url: str, client: ApiClient
) -> None:
    page = requests.get(
        f"{base_url}/pay/return/sandbox?reference=FGNOPE&status=paid", timeout=TIMEOUT
    )

    assert page.status_code == 404


def test_a_return_claiming_a_reference_with_a_nul_is_a_not_found_page(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    page = requests.get(
        f"{base_url}/pay/return/sandbox?reference=FG%00X&status=paid", timeout=TIMEOUT
    )

    assert page.status_code == 404
    (stored,) = callbacks(gw, kind="return")
    assert stored.query_string == "reference=FG%00X&status=paid"


def test_a_lost_callback_is_rescued_by_the_query_on_return(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    """Magic 02: paid at the sandbox, no callback; the return asks the provider."""
    payment = create(base_url, client, amount=150_002)

    walk = pay_through_sandbox(base_url, payment["id"], "pay")

    assert callbacks(gw, kind="ipn") == []
    assert status_shown(walk.result.text) == "succeeded"
    assert get(base_url, client, payment["id"])["status"] == "succeeded"
    assert [e.source for e in events(gw, payment["id"], "payment.status")][-1] == "return"
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


# -- magic amounts -------------------------------------------------------------------------


def test_magic_01_declines_even_when_the_citizen_presses_pay(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client, amount=150_001)

    walk = pay_through_sandbox(base_url, payment["id"], "pay")

    assert status_shown(walk.result.text) == "failed"
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "failed"
    assert [(a["status"], a["result_code"]) for a in seen["attempts"]] == [("failed", "51")]
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


def test_magic_03_sends_the_callback_twice_and_it_moves_the_payment_once(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client, amount=150_003)

    pay_through_sandbox(base_url, payment["id"], "pay")

    ipns = callbacks(gw, kind="ipn")
    assert [c.outcome for c in ipns] == ["recorded", "already_confirmed"]
    assert ipns[0].body == ipns[1].body
    assert moves(gw, payment["id"], "attempt.status") == [("pending", "succeeded")]
    assert moves(gw, payment["id"], "payment.status")[-1] == ("pending", "succeeded")
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_magic_05_the_provider_refuses_to_start_and_the_api_answers_a_problem(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client, amount=150_005)

    answer = api(
        base_url,
        "POST",
        f"/api/v1/payments/{payment['id']}/attempts",
        client.api_key,
        json={"provider": "sandbox"},
    )

    assert answer.status_code == 502
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 502
    assert problem["type"].endswith("/provider-refused")
    assert "sandbox" in problem["detail"]
    seen = get(base_url, client, payment["id"])
    assert [(a["status"], a["result_code"]) for a in seen["attempts"]] == [("failed", "05")]
    assert seen["status"] == "failed"


def test_magic_05_on_the_checkout_page_shows_the_refusal_instead_of_a_redirect(
    base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client, amount=150_005)

    answer = start_sandbox(base_url, payment["id"])

    assert answer.status_code == 502
    assert "Sandbox từ chối" in answer.text
    assert "Location" not in answer.headers


def test_magic_06_an_amount_mismatch_is_flagged_and_never_paid(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client, amount=150_006)

    walk = pay_through_sandbox(base_url, payment["id"], "pay")

    assert PAID_VI not in walk.result.text
    seen = get(base_url, client, payment["id"])
    assert seen["status"] == "pending"
    assert [a["status"] for a in seen["attempts"]] == ["pending"]
    assert "amount_mismatch" in seen["flags"]
    assert [c.outcome for c in callbacks(gw, kind="ipn")] == ["amount_mismatch"]
    mismatch = events(gw, payment["id"], "attempt.amount_mismatch")[0]
    assert mismatch.detail["expected"] == 150_006
    assert mismatch.detail["reported"] == 151_006
    assert outbox(gw, payment["id"]) == []


# -- the sandbox itself ----------------------------------------------------------------------


def test_the_sandbox_page_shows_the_amount_and_refuses_a_tampered_link(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)
    sandbox_url = start_sandbox(base_url, payment["id"]).headers["Location"]

    page = requests.get(sandbox_url, timeout=TIMEOUT)
    tampered = requests.get(sandbox_url.replace("amount=150000", "amount=1000"), timeout=TIMEOUT)

    assert "150.000 ₫" in page.text
    assert tampered.status_code == 400
    with gw.sessions() as session:
        assert (
            session.get(
                SandboxTransaction, dict(parse_qsl(urlsplit(sandbox_url).query))["reference"]
            )
            is None
        )


def test_the_sandbox_ledger_and_the_attempt_agree_after_a_payment(
    gw: Gateway, base_url: str, client: ApiClient
) -> None:
    payment = create(base_url, client)

    pay_through_sandbox(base_url, payment["id"], "pay")

    with gw.sessions() as session:
        (attempt,) = session.query(Attempt).all()
        txn = session.get(SandboxTransaction, attempt.provider_reference)
        assert txn is not None
        assert (txn.status, txn.amount, txn.transaction_id) == (
            "paid",
            attempt.amount,
            attempt.provider_txn_id,
        )
        assert session.query(ProviderCallback).filter_by(kind="ipn").count() == 1
