"""The reconciliation staff pages: a finance officer uploads a statement, reads, resolves."""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.models import Attempt, Payment, Reconciliation
from payments.services.gateway import Gateway
from tests.factories import create_payment, make_api_client
from tests.flow import forms_of, pay_through_sandbox
from tests.web.test_staff import PASSWORD, make_user, sign_in

FINANCE = "tai.chinh@stp.khanhhoa.gov.vn"


@pytest.fixture
def paid(gw: Gateway, http: FlaskClient, base_url: str) -> dict[str, Any]:
    """A payment paid through the sandbox: its attempt reference and amount."""
    client = make_api_client(gw)
    payment = create_payment(http, client, reference="HS-DOI-SOAT-1", amount=150_000)
    pay_through_sandbox(base_url, payment["id"])
    with gw.sessions() as session:
        attempt = session.scalars(select(Attempt).where(
            Attempt.payment_id == payment["id"])).one()
        assert attempt.status == "succeeded"
        return {"id": payment["id"], "reference": attempt.provider_reference, "client": client}


def signed_in(http: FlaskClient, gw: Gateway, role: str) -> FlaskClient:
    make_user(gw, email=FINANCE, role=role)
    assert sign_in(http, email=FINANCE).status_code == 303
    return http


def upload(http: FlaskClient, body: bytes, filename: str = "sao-ke.csv",
           **fields: str) -> Any:
    page = http.get("/staff/reconciliations/")
    (form,) = upload_forms(page.get_data(as_text=True))
    data = {**form.fields, "provider": "sandbox", **fields,
            "statement": (io.BytesIO(body), filename)}
    return http.post("/staff/reconciliations/", data=data, content_type="multipart/form-data")


def upload_forms(html: str) -> list[Any]:
    return [f for f in forms_of(html) if f.method == "post"
            and f.action.endswith("/staff/reconciliations/")]


def runs(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Reconciliation)) or 0)


def test_finance_uploads_a_statement_and_resolves_a_difference(
        http: FlaskClient, gw: Gateway, paid: dict[str, Any]) -> None:
    staff = signed_in(http, gw, "finance")
    statement = ("reference,amount,transaction_id,ghi_chu\n"
                 f"{paid['reference']},140000,T1,Lệ phí lý lịch tư pháp\n"
                 "FGKHONGCO0001,50000,T2,không rõ\n").encode("utf-8-sig")

    answer = upload(staff, statement)

    assert answer.status_code == 303
    detail_url = answer.headers["Location"]
    page = staff.get(detail_url).get_data(as_text=True)
    assert "Lệch số tiền" in page and "Không tìm thấy giao dịch" in page
    assert "140.000 ₫" in page and "150.000 ₫" in page
    assert 'data-testid="open">2<' in page
    with gw.sessions() as session:
        payment = session.get(Payment, paid["id"])
        assert payment is not None
        assert (payment.status, payment.flags) == ("succeeded", ["statement_difference"])

    resolve, _unknown = [f for f in forms_of(page) if f.action.endswith("/resolve")]  # line order
    done = staff.post(resolve.action, data={**resolve.fields,
                                            "note": "VNPAY xác nhận 150.000 ₫, sao kê sai"})
    assert done.status_code == 303
    page = staff.get(detail_url).get_data(as_text=True)
    assert "VNPAY xác nhận 150.000 ₫, sao kê sai" in page and FINANCE in page
    assert 'data-testid="open">1<' in page
    trail = staff.get(f"/staff/payments/{paid['id']}").get_data(as_text=True)
    assert "reconciliation.resolved" in trail


def test_a_statement_larger_than_the_api_limit_is_accepted(app: Flask, gw: Gateway,
                                                           base_url: str) -> None:
    """The app caps bodies at 1 MiB; a month of statement lines is more, on this page only.

    Over real HTTP: the test client would spool this body to a temporary file it never closes.
    """
    make_user(gw, email=FINANCE, role="finance")
    browser = requests.Session()
    login = browser.get(f"{base_url}/staff/login", timeout=30)
    (login_form,) = [f for f in forms_of(login.text) if "password" in f.fields]
    signed = browser.post(f"{base_url}/staff/login", timeout=30, allow_redirects=False, data={
        **login_form.fields, "email": FINANCE, "password": PASSWORD})
    assert signed.status_code == 303
    page = browser.get(f"{base_url}/staff/reconciliations/", timeout=30)
    (form,) = upload_forms(page.text)
    lines = "".join(f"FGKHONGCO{n:07d},150000,T{n},{'x' * 60}\n" for n in range(20_000))
    body = ("reference,amount,transaction_id,ghi_chu\n" + lines).encode()
    assert len(body) > 1024 * 1024

    answer = browser.post(f"{base_url}/staff/reconciliations/", timeout=120,
                          allow_redirects=False, data={**form.fields, "provider": "sandbox"},
                          files={"statement": ("sao-ke.csv", body, "text/csv")})
    browser.close()

    assert answer.status_code == 303, answer.text[:500]
    with gw.sessions() as session:
        run = session.scalars(select(Reconciliation)).one()
        assert (run.line_count, run.counts["unknown"]) == (20_000, 20_000)


def test_a_viewer_reads_but_cannot_upload_or_resolve(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "viewer")

    page = staff.get("/staff/reconciliations/")
    refused = staff.post("/staff/reconciliations/", data={})
    refused_resolve = staff.post("/staff/reconciliations/rec_x/items/1/resolve", data={})

    assert page.status_code == 200
    assert "chỉ xem" in page.get_data(as_text=True)
    assert upload_forms(page.get_data(as_text=True)) == []
    assert (refused.status_code, refused_resolve.status_code) == (403, 403)


def test_a_bad_file_is_explained_and_nothing_is_written(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "finance")

    wrong_kind = upload(staff, b"%PDF-1.7", filename="sao-ke.pdf")
    not_utf8 = upload(staff, "reference,amount\nFG1,1000\nghi chú".encode("cp1258"))
    half_period = upload(staff, b"reference,amount\nFG1,1000\n", first="2026-11-01")

    for answer in (wrong_kind, not_utf8, half_period):
        assert answer.status_code == 422
    assert "chỉ nhận tệp .csv hoặc .xlsx" in wrong_kind.get_data(as_text=True)
    assert "UTF-8" in not_utf8.get_data(as_text=True)
    assert "cả hai ngày" in half_period.get_data(as_text=True)
    assert runs(gw) == 0


def test_an_upload_without_the_csrf_token_is_refused(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "finance")

    answer = staff.post("/staff/reconciliations/", content_type="multipart/form-data", data={
        "provider": "sandbox", "statement": (io.BytesIO(b"reference,amount\nFG1,1\n"), "a.csv")})

    assert answer.status_code == 422
    assert runs(gw) == 0


def test_the_pages_need_a_login(http: FlaskClient) -> None:
    answer = http.get("/staff/reconciliations/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/staff/login")


def test_an_unknown_reconciliation_is_404(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "admin")
    assert staff.get("/staff/reconciliations/rec_nope").status_code == 404
