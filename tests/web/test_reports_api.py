"""GET /api/v1/reports/online-share and /coverage over HTTP: shape, scope, formats, errors.

The figures are those of tests/payments/test_reports_share.py (its `world` fixture).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from payments.models import Payment
from payments.schemas import CoverageReport, OnlineShareReport
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client
from tests.payments.test_reports_share import A, B, World, world  # noqa: F401  (fixture)

ROW_KEYS = ["key", "label", "paid_count", "online_count", "counter_count", "paid_amount",
            "online_amount", "counter_amount", "online_share_percent", "meets_target"]
NOV = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def viewer(gw: Gateway, world: World) -> ApiClient:  # noqa: F811
    """A third portal acting for A and B: it recorded none of the payments."""
    return make_api_client(gw, agencies=(A, B), name="Finance portal")


def get(http: FlaskClient, client: ApiClient, path: str) -> Any:
    return http.get(path, headers=client.headers)


def test_json_shape_and_figures(http: FlaskClient, viewer: ApiClient) -> None:
    response = get(http, viewer, f"/api/v1/reports/online-share?{NOV}&group_by=agency")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"from", "to", "group_by", "basis", "target_percent", "rows", "totals"}
    assert (body["from"], body["to"], body["group_by"], body["basis"], body["target_percent"]) \
        == ("2026-11-01", "2026-11-30", "agency", "paid_at", 30)
    for row in [*body["rows"], body["totals"]]:
        assert sorted(row) == sorted(ROW_KEYS)
    assert [(r["key"], r["paid_count"], r["online_count"], r["online_share_percent"])
            for r in body["rows"]] == [(A, 8, 5, 62.5), (B, 3, 1, 33.3)]
    assert body["totals"]["paid_amount"] == 1_210_000
    OnlineShareReport.model_validate(body)  # the documented schema


def test_defaults_and_every_grouping(http: FlaskClient, viewer: ApiClient) -> None:
    body = get(http, viewer, f"/api/v1/reports/online-share?{NOV}").get_json()
    assert (body["group_by"], body["basis"]) == ("agency", "paid_at")
    keys = {
        "procedure": ["1.001234", "2.000488", "2.000815"],
        "provider": ["vnpay", "momo", "zalopay", "counter"],
        "month": ["2026-11"],
    }
    for group_by, expected in keys.items():
        rows = get(http, viewer, f"/api/v1/reports/online-share?{NOV}&group_by={group_by}"
                   ).get_json()["rows"]
        assert [r["key"] for r in rows] == expected


def test_received_at_basis(http: FlaskClient, viewer: ApiClient) -> None:
    body = get(http, viewer, "/api/v1/reports/online-share?from=2026-10-01&to=2026-11-30"
               "&group_by=month&basis=received_at").get_json()
    assert [(r["key"], r["paid_count"], r["online_count"]) for r in body["rows"]] == [
        ("2026-10", 2, 1), ("2026-11", 10, 6)]


def test_reports_cover_the_clients_agencies_only(http: FlaskClient, gw: Gateway,
                                                 world: World) -> None:  # noqa: F811
    only_b = make_api_client(gw, agencies=(B,), name="Ward portal")
    rows = get(http, only_b, f"/api/v1/reports/online-share?{NOV}").get_json()["rows"]
    assert [r["key"] for r in rows] == [B]
    nothing = make_api_client(gw, agencies=("000.00.09.H32",), name="Empty")
    body = get(http, nothing, f"/api/v1/reports/online-share?{NOV}").get_json()
    assert body["rows"] == [] and body["totals"]["paid_count"] == 0
    assert body["totals"]["online_share_percent"] is None
    assert body["totals"]["meets_target"] is False


def test_target_comes_from_the_settings(http: FlaskClient, gw: Gateway,
                                        viewer: ApiClient) -> None:
    gw.settings = gw.settings.with_overrides(online_share_target=40)
    body = get(http, viewer, f"/api/v1/reports/online-share?{NOV}").get_json()
    assert body["target_percent"] == 40
    assert [(r["key"], r["meets_target"]) for r in body["rows"]] == [(A, True), (B, False)]


@pytest.mark.parametrize(("raw", "shown", "b_meets"), [("33.3", 33.3, True), ("33.4", 33.4, False),
                                                     ("100", 100, False), ("0", 0, True)])
def test_a_target_with_a_decimal_is_compared_exactly(http: FlaskClient, gw: Gateway,
                                                     viewer: ApiClient, raw: str, shown: float,
                                                     b_meets: bool) -> None:
    """B's share is 1/3 = 33.33…%: it meets 33.3 and misses 33.4, as a finance officer expects."""
    from payments.config import load_settings

    target = load_settings({"FEEGATE_ONLINE_SHARE_TARGET": raw, "FEEGATE_ENV": "test"}
                           ).online_share_target
    gw.settings = gw.settings.with_overrides(online_share_target=target)
    body = get(http, viewer, f"/api/v1/reports/online-share?{NOV}").get_json()
    assert body["target_percent"] == shown
    assert {r["key"]: r["meets_target"] for r in body["rows"]}[B] is b_meets
    sheet = load_workbook(io.BytesIO(get(http, viewer, f"/api/v1/reports/online-share?{NOV}"
                                              "&format=xlsx").data)).worksheets[0]
    headers = [c.value for row in sheet.iter_rows(max_row=12) for c in row if c.value]
    assert f"Đạt chỉ tiêu {raw.replace('.', ',')}%" in headers


@pytest.mark.parametrize("raw", ["30%", "-1", "100.5", "abc", "30.123", "1e2"])
def test_a_target_that_is_not_a_percent_is_refused_at_start(raw: str) -> None:
    from payments.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="FEEGATE_ONLINE_SHARE_TARGET"):
        load_settings({"FEEGATE_ONLINE_SHARE_TARGET": raw, "FEEGATE_ENV": "test"})


def test_csv_has_a_bom_and_round_trips(http: FlaskClient, viewer: ApiClient) -> None:
    path = f"/api/v1/reports/online-share?{NOV}&group_by=procedure"
    response = get(http, viewer, path + "&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(ROW_KEYS)  # the contract's ROW keys, for programs reading by name
    body = get(http, viewer, path).get_json()
    expected = [*body["rows"], body["totals"]]
    assert len(rows) == 1 + len(expected)
    for line, row in zip(rows[1:], expected, strict=True):
        assert line[0] == row["key"] and line[1] == row["label"]
        assert [int(v) for v in line[2:8]] == [row[k] for k in ROW_KEYS[2:8]]
        assert float(line[8]) == row["online_share_percent"]
        assert line[9] == ("true" if row["meets_target"] else "false")
    assert rows[2][1] == "Cấp Phiếu lý lịch tư pháp"  # Vietnamese survives the trip


def test_xlsx_sheets_headers_and_number_formats(http: FlaskClient, viewer: ApiClient) -> None:
    response = get(http, viewer, f"/api/v1/reports/online-share?{NOV}&format=xlsx")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["Tổng hợp", A, B, "Thông tin"]
    summary = wb["Tổng hợp"]
    header = [c.value for c in summary[1]]
    assert header[:2] == ["Mã cơ quan", "Tên cơ quan"] and len(header) == len(ROW_KEYS)
    assert header[5] == "Số tiền đã thanh toán (đồng)"
    assert [c.value for c in summary[2]][:9] == [
        A, "Sở Tư pháp tỉnh Khánh Hòa", 8, 5, 3, 1_060_000, 640_000, 420_000, 62.5]
    assert summary["F2"].number_format == "#,##0"
    assert summary["C2"].number_format == "#,##0"
    assert summary["I2"].number_format == "0.0"
    assert isinstance(summary["F2"].value, int)
    assert [c.value for c in summary[4]][:3] == ["total", "Tổng cộng", 11]  # totals last
    assert summary["A4"].font.bold
    # each agency's sheet breaks the agency down by procedure
    sheet_a = wb[A]
    assert [c.value for c in sheet_a[1]][:2] == ["Mã thủ tục", "Tên thủ tục"]
    assert [(r[0].value, r[2].value) for r in sheet_a.iter_rows(min_row=2)] == [
        ("2.000488", 5), ("2.000815", 3), ("total", 8)]
    info = wb["Thông tin"]
    values = {row[0].value: row[1].value for row in info.iter_rows() if row[0].value}
    assert values["Từ ngày"] == datetime(2026, 11, 1)
    assert values["Lập lúc (giờ Việt Nam)"] == datetime(2026, 11, 26, 10, 0)  # 03:00 UTC
    number_formats = {row[0].value: row[1].number_format for row in info.iter_rows()
                      if row[0].value}
    assert number_formats["Từ ngày"] == "DD/MM/YYYY"


def test_xlsx_by_month_keeps_every_agency_sheet_by_month(http: FlaskClient,
                                                         viewer: ApiClient) -> None:
    response = get(http, viewer, "/api/v1/reports/online-share?from=2026-10-01&to=2026-12-31"
                   "&group_by=month&format=xlsx")
    wb = load_workbook(io.BytesIO(response.data))
    assert [r[0].value for r in wb[B].iter_rows(min_row=2)] == [
        "2026-10", "2026-11", "2026-12", "total"]
    assert wb["Tổng hợp"]["I4"].value is None  # December: nothing paid, no share


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", ["from", "to"]),
        ("from=2026-11-01", ["to"]),
        ("from=2026-11-01&to=30/11/2026", ["to"]),
        ("from=2026-02-30&to=2026-03-01", ["from"]),
        ("from=2026-11-1&to=2026-11-30", ["from"]),
        ("from=2026-12-01&to=2026-11-30", ["to"]),
        ("from=1999-12-31&to=2026-11-30", ["from"]),
        ("from=2000-01-01&to=2200-12-31", ["to"]),  # longer than a hundred years
        (f"{NOV}&group_by=week", ["group_by"]),
        (f"{NOV}&basis=created_at", ["basis"]),
        (f"{NOV}&format=pdf", ["format"]),
        ("from=x&to=y&group_by=a&basis=b&format=c", ["from", "to", "group_by", "basis",
                                                     "format"]),
    ],
)
def test_bad_queries_are_422_problems(http: FlaskClient, gw: Gateway, query: str,
                                      fields: list[str]) -> None:
    client = make_api_client(gw)
    for report in ("online-share", "coverage"):
        response = get(http, client, f"/api/v1/reports/{report}?{query}")
        if report == "coverage" and set(fields) <= {"group_by", "basis"}:
            assert response.status_code == 200  # coverage has no such parameters
            continue
        assert response.status_code == 422, (report, response.get_json())
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem["status"] == 422 and problem["type"].endswith("validation-error")
        expected = [f for f in fields if report == "online-share" or f not in {"group_by",
                                                                               "basis"}]
        assert [e["field"] for e in problem["errors"]] == expected


def test_reports_need_a_key(http: FlaskClient, gw: Gateway) -> None:
    for report in ("online-share", "coverage"):
        response = http.get(f"/api/v1/reports/{report}?{NOV}")
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"


def test_openapi_documents_the_reports(http: FlaskClient) -> None:
    document = http.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/reports/online-share" in document["paths"]
    assert "/api/v1/reports/coverage" in document["paths"]
    coverage = document["paths"]["/api/v1/reports/coverage"]["get"]["responses"]["200"]
    assert coverage["content"]["application/json"]["schema"]["$ref"].endswith("/CoverageReport")
    assert "CoverageReport" in document["components"]["schemas"]


# -- the target flag, on the unrounded share --------------------------------------------------


def _paid(client_id: str, online: bool, moment: datetime) -> Payment:
    return Payment(
        id=f"pay_{uuid.uuid4().hex[:20]}", client_id=client_id, agency_code=A,
        procedure_code="2.000488", reference=f"R-{uuid.uuid4().hex[:8]}", amount=10_000,
        return_url="https://portal.example.gov.vn/x", status="succeeded", paid_at=moment,
        paid_provider="vnpay" if online else "counter",
        paid_channel="online" if online else "counter", expires_at=moment, created_at=moment,
        updated_at=moment,
    )


@pytest.mark.parametrize(
    ("online", "paid", "shown", "met"),
    [(3, 10, 30.0, True), (62, 207, 30.0, False), (749, 2500, 30.0, False)],
)
def test_share_rounds_to_30_but_only_a_true_30_meets(http: FlaskClient, gw: Gateway,
                                                     online: int, paid: int, shown: float,
                                                     met: bool) -> None:
    """62 / 207 = 29.95 % and 749 / 2500 = 29.96 % show as 30.0 but do not meet 30 %."""
    client = make_api_client(gw)
    start = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    with gw.sessions.begin() as session:
        session.add_all(_paid(client.id, i < online, start + timedelta(minutes=i))
                        for i in range(paid))
    body = get(http, client, f"/api/v1/reports/online-share?{NOV}").get_json()
    (row,) = body["rows"]
    assert (row["paid_count"], row["online_count"]) == (paid, online)
    assert row["online_share_percent"] == shown
    assert row["meets_target"] is met
    assert body["totals"]["meets_target"] is met


# -- coverage over HTTP -----------------------------------------------------------------------


def test_coverage_json_csv_xlsx(http: FlaskClient, viewer: ApiClient) -> None:
    body = get(http, viewer, f"/api/v1/reports/coverage?{NOV}").get_json()
    CoverageReport.model_validate(body)  # the documented schema
    assert [r["key"] for r in body["rows"]] == [A, B]
    a = body["rows"][0]
    # A: 2.000488 (paid online) and 2.000815 (paid online too) -> 2 of 2, 100 %
    assert (a["fee_procedures"], a["online_enabled"], a["with_fee_dossiers"],
            a["paid_online"], a["meets_target"]) == (2, 2, 2, 2, True)
    csv_body = get(http, viewer, f"/api/v1/reports/coverage?{NOV}&format=csv")
    assert csv_body.data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(csv_body.data.decode("utf-8-sig"), newline="")))
    assert lines[0][0] == "key" and lines[1][0] == A and lines[-1][0] == "total"
    assert len(lines[0]) == 12
    xlsx = get(http, viewer, f"/api/v1/reports/coverage?{NOV}&format=xlsx")
    wb = load_workbook(io.BytesIO(xlsx.data))
    assert wb.sheetnames == ["Tổng hợp", A, B, "Thông tin"]
    assert wb["Tổng hợp"]["E2"].number_format == "0.0"
    assert [c.value for c in wb[A][1]][0] == "Mã thủ tục"
    assert [r[0].value for r in wb[A].iter_rows(min_row=2)] == ["2.000488", "2.000815"]
