"""Staff users see their agencies and every agency below them, nothing else (CONTRACT.md
"Staff"): another agency's payment, report or export is 404, by URL guessing included.

The tree: PROVINCE > DEPARTMENT > COMMUNE, and OTHER beside it. Users are made with
`feegate users create … --agency`, as operators make them.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from payments.models import Agency, Attempt, StaffUser
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client
from tests.flow import forms_of, pay_through_sandbox
from tests.web.test_staff import PASSWORD, sign_in

PROVINCE, DEPARTMENT, COMMUNE, OTHER = "H32", "H32.STP", "H32.STP.XA1", "H40"
TREE = {PROVINCE: None, DEPARTMENT: PROVINCE, COMMUNE: DEPARTMENT, OTHER: None}


def create_user(app: Flask, email: str, role: str, *agencies: str) -> Any:
    args = ["users", "create", "--email", email, "--role", role, "--password-stdin"]
    for code in agencies:
        args += ["--agency", code]
    return app.test_cli_runner().invoke(args=args, input=PASSWORD + "\n")


def as_user(app: Flask, http: FlaskClient, role: str, *agencies: str,
            email: str | None = None) -> FlaskClient:
    email = email or f"{role}.{'-'.join(agencies) or 'none'}@stp.khanhhoa.gov.vn".lower()
    made = create_user(app, email, role, *agencies)
    assert made.exit_code == 0, made.output
    assert sign_in(http, email=email).status_code == 303
    return http


@pytest.fixture
def tree(gw: Gateway) -> None:
    with gw.sessions.begin() as session:
        for code, parent in TREE.items():
            session.add(Agency(code=code, name=f"Đơn vị {code}", parent_code=parent))


@pytest.fixture
def client(gw: Gateway, tree: None) -> ApiClient:
    return make_api_client(gw, agencies=tuple(TREE))


@pytest.fixture
def payments(http: FlaskClient, client: ApiClient) -> dict[str, str]:
    """One payment per agency: agency code -> payment id."""
    return {code: create_payment(http, client, agency_code=code,
                                 reference=f"HS-{code}-1")["id"] for code in TREE}


def listed(http: FlaskClient, query: str = "") -> str:
    page = http.get("/staff/" + query)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_users_create_records_the_agencies(app: Flask, gw: Gateway, tree: None) -> None:
    made = create_user(app, "Ke.Toan@STP.vn", "finance", DEPARTMENT, OTHER, DEPARTMENT)
    assert made.exit_code == 0, made.output
    assert json.loads(made.output.strip().splitlines()[-1]) == {
        "email": "ke.toan@stp.vn", "role": "finance", "agencies": [DEPARTMENT, OTHER]}
    with gw.sessions() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.agency_codes == {DEPARTMENT, OTHER}
    assert create_user(app, "x@stp.vn", "viewer", "").exit_code != 0  # not a code


def test_a_user_sees_its_agency_and_the_units_below_it(
    app: Flask, http: FlaskClient, payments: dict[str, str]
) -> None:
    staff = as_user(app, http, "viewer", DEPARTMENT)

    html = listed(staff)
    assert "2 giao dịch" in html
    for code in (DEPARTMENT, COMMUNE):
        assert f"/staff/payments/{payments[code]}" in html  # each payment listed is a link
    for code in (PROVINCE, OTHER):
        assert payments[code] not in html
    assert "0 giao dịch" in listed(staff, f"?agency={OTHER}")
    assert "0 giao dịch" in listed(staff, f"?reference={payments[OTHER]}")  # by id, too
    # the agency filter offers only the user's agencies
    options = html[html.index('id="f-agency"'):]
    options = options[:options.index("</select>")]
    assert COMMUNE in options and OTHER not in options and f'"{PROVINCE}"' not in options

    assert staff.get(f"/staff/payments/{payments[COMMUNE]}").status_code == 200
    for code in (PROVINCE, OTHER):
        assert staff.get(f"/staff/payments/{payments[code]}").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_without_an_agency_a_viewer_or_finance_user_sees_nothing(
    app: Flask, http: FlaskClient, payments: dict[str, str], role: str
) -> None:
    staff = as_user(app, http, role)

    html = listed(staff)
    assert "0 giao dịch" in html and "chưa được giao cơ quan" in html
    for payment_id in payments.values():
        assert staff.get(f"/staff/payments/{payment_id}").status_code == 404
    every = staff.get("/staff/reports?from=2026-11-01&to=2026-11-30&download=online-share.csv")
    assert every.status_code == 200
    rows = list(csv.DictReader(io.StringIO(every.data.decode("utf-8-sig"))))
    assert all(row["paid_count"] in ("0", "") for row in rows)
    assert staff.get(f"/staff/reports?agency={OTHER}&from=2026-11-01&to=2026-11-30"
                     "&download=online-share.csv").status_code == 404


def test_an_admin_without_an_agency_sees_all_and_with_one_only_that(
    app: Flask, http: FlaskClient, payments: dict[str, str]
) -> None:
    admin = as_user(app, http, "admin")
    assert "4 giao dịch" in listed(admin)
    assert admin.get(f"/staff/payments/{payments[OTHER]}").status_code == 200
    admin.post("/staff/logout", data={"csrf_token": _token(admin)})

    scoped = as_user(app, http, "admin", OTHER)
    assert "1 giao dịch" in listed(scoped)
    assert scoped.get(f"/staff/payments/{payments[PROVINCE]}").status_code == 404


def _token(http: FlaskClient) -> str:
    (form,) = [f for f in forms_of(http.get("/staff/").get_data(as_text=True))
               if f.action.endswith("/staff/logout")]
    return form.fields["csrf_token"]


def test_reports_and_exports_of_another_agency_are_404(
    app: Flask, http: FlaskClient, payments: dict[str, str], base_url: str
) -> None:
    for code in TREE:
        pay_through_sandbox(base_url, payments[code], "pay")
    staff = as_user(app, http, "finance", DEPARTMENT)
    period = "from=2026-11-01&to=2026-11-30"

    for other in (OTHER, PROVINCE):
        for download in ("online-share.csv", "online-share.xlsx", "coverage.csv",
                         "coverage.xlsx"):
            answer = staff.get(f"/staff/reports?{period}&agency={other}&download={download}")
            assert answer.status_code == 404, (other, download)
        assert staff.get(f"/staff/reports?agency={other}").status_code == 404
        mixed = staff.get(f"/staff/reports?{period}&agency={DEPARTMENT}&agency={other}"
                          "&download=online-share.csv")
        assert mixed.status_code == 404

    mine = staff.get(f"/staff/reports?{period}&agency={DEPARTMENT}&group_by=agency"
                     "&download=online-share.csv")
    assert mine.status_code == 200
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(mine.data.decode("utf-8-sig")))}
    assert rows[DEPARTMENT]["paid_count"] == "1" and rows[COMMUNE]["paid_count"] == "1"
    assert OTHER not in rows and PROVINCE not in rows  # the unit rolls its subtree up

    every = staff.get(f"/staff/reports?{period}&group_by=agency&download=online-share.csv")
    keys = {r["key"] for r in csv.DictReader(io.StringIO(every.data.decode("utf-8-sig")))}
    assert OTHER not in keys and PROVINCE not in keys and DEPARTMENT in keys


def test_the_reports_page_offers_downloads_per_agency(
    app: Flask, http: FlaskClient, payments: dict[str, str]
) -> None:
    staff = as_user(app, http, "viewer", DEPARTMENT)
    html = staff.get("/staff/reports").get_data(as_text=True)
    table = html[html.index('id="per-agency"'):]
    for code in (DEPARTMENT, COMMUNE):
        assert f"agency={code}&amp;download=online-share.xlsx" in table
    assert f"agency={OTHER}" not in table
    link = table[table.index('href="') + 6:]
    link = link[:link.index('"')].replace("&amp;", "&")
    answer = staff.get(link)
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]


def _statement(gw: Gateway, payment_ids: list[str]) -> bytes:
    with gw.sessions() as session:
        attempts = session.scalars(select(Attempt).where(Attempt.payment_id.in_(payment_ids)))
        lines = [f"{a.provider_reference},{a.amount}" for a in attempts]
    return ("reference,amount\n" + "\n".join(lines) + "\nFG-NOT-OURS,1000\n").encode()


def test_reconciliation_pages_show_only_the_users_lines(
    app: Flask, http: FlaskClient, gw: Gateway, payments: dict[str, str], base_url: str
) -> None:
    for code in (COMMUNE, OTHER):
        pay_through_sandbox(base_url, payments[code], "pay")
    admin = as_user(app, http, "admin", email="admin@stp.vn")
    page = admin.get("/staff/reconciliations/")
    (form,) = [f for f in forms_of(page.get_data(as_text=True)) if f.method == "post"
               and f.action.endswith("/staff/reconciliations/")]
    body = _statement(gw, [payments[COMMUNE], payments[OTHER]])
    uploaded = admin.post("/staff/reconciliations/", content_type="multipart/form-data", data={
        **form.fields, "provider": "sandbox", "statement": (io.BytesIO(body), "sao-ke.csv")})
    assert uploaded.status_code == 303, uploaded.get_data(as_text=True)
    run_url = uploaded.headers["Location"]
    admin.post("/staff/logout", data={"csrf_token": _token(admin)})

    department = as_user(app, http, "finance", DEPARTMENT)
    assert run_url in department.get("/staff/reconciliations/").get_data(as_text=True)
    detail = department.get(run_url + "?all=1").get_data(as_text=True)
    assert payments[COMMUNE] in detail and payments[OTHER] not in detail
    assert "FG-NOT-OURS" not in detail  # a line of nobody's payment: the uploader's to read
    department.post("/staff/logout", data={"csrf_token": _token(department)})

    province_less = as_user(app, http, "viewer", PROVINCE + ".NOTHING-HERE")
    assert run_url not in province_less.get("/staff/reconciliations/").get_data(as_text=True)
    assert province_less.get(run_url).status_code == 404
    assert province_less.get(run_url + "/progress").status_code == 404
