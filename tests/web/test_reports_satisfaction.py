"""GET /api/v1/reports/satisfaction: figures worked out by hand from answers given through
the real routes (payments paid at the counter through the API, rated at /pay/{id}/rating)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from payments.config import ConfigError, load_settings
from payments.models import Agency
from payments.reports_satisfaction import row, satisfied_percent
from payments.services.gateway import Gateway
from payments.targets import set_target
from tests.factories import AGENCY, ApiClient, Clock, create_payment, make_api_client

CHILD = "000.00.02.H32"  # below AGENCY in the catalog's tree
OTHER = "000.00.09.H40"  # nobody's business here
URL = "/api/v1/reports/satisfaction"


@pytest.fixture
def agencies(gw: Gateway, app: Any) -> None:
    with gw.sessions.begin() as session:
        session.add(Agency(code=AGENCY, name="Sở Tư pháp tỉnh Khánh Hòa"))
        session.add(Agency(code=CHILD, name="=Phòng Tư pháp (huyện)", parent_code=AGENCY))
        session.add(Agency(code=OTHER, name="Sở khác"))


@pytest.fixture
def client(gw: Gateway, agencies: None) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def child_client(gw: Gateway, agencies: None) -> ApiClient:
    return make_api_client(gw, agencies=(CHILD,), name="Cổng huyện")


@pytest.fixture
def other_client(gw: Gateway, agencies: None) -> ApiClient:
    return make_api_client(gw, agencies=(OTHER,), name="Cổng khác")


_seq = iter(range(1, 10**6))


def rate(http: FlaskClient, portal: ApiClient, agency: str, value: int) -> str:
    """A payment of `agency` paid at the counter, then rated `value` by its citizen."""
    n = next(_seq)
    payment = create_payment(
        http, portal, agency_code=agency, reference=f"HS-{agency}-{n}",
        counter={"method": "cash", "receipt_no": f"BL{n:07d}"},
    )
    assert payment["status"] == "succeeded"
    response = http.post(f"/pay/{payment['id']}/rating", json={"rating": value})
    assert response.status_code == 201, response.get_json()
    return str(payment["id"])


def report(http: FlaskClient, portal: ApiClient, **query: str) -> Any:
    params = {"from": "2026-11-01", "to": "2026-12-31", **query}
    response = http.get(URL, query_string=params, headers=portal.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


# -- the arithmetic ----------------------------------------------------------------------------


def test_the_percent_has_one_decimal_rounded_half_up() -> None:
    assert satisfied_percent(1, 80) == 1.3  # 1.25: half up, not to even
    assert satisfied_percent(3, 80) == 3.8  # 3.75
    assert satisfied_percent(5, 7) == 71.4  # 71.428…
    assert satisfied_percent(2, 3) == 66.7  # 66.666…
    assert satisfied_percent(0, 3) == 0.0
    assert satisfied_percent(0, 0) is None


def test_meets_target_compares_the_unrounded_share() -> None:
    shown_84 = row("k", "l", 2000, 1679, Decimal(84))  # 83.95 % shows as 84.0
    assert shown_84["satisfied_percent"] == 84.0 and shown_84["meets_target"] is False
    exactly = row("k", "l", 25, 21, Decimal(84))  # 84 % exactly
    assert exactly["satisfied_percent"] == 84.0 and exactly["meets_target"] is True
    assert row("k", "l", 0, 0, Decimal(84))["meets_target"] is False


def test_the_target_comes_from_the_environment_default_84() -> None:
    assert load_settings({}).satisfaction_target == Decimal(84)
    assert load_settings({"FEEGATE_SATISFACTION_TARGET": "87.5"}).satisfaction_target == \
        Decimal("87.5")
    with pytest.raises(ConfigError, match="FEEGATE_SATISFACTION_TARGET"):
        load_settings({"FEEGATE_SATISFACTION_TARGET": "eighty"})


# -- the report, by hand --------------------------------------------------------------------------


def test_by_agency_counts_answers_3_and_4_as_satisfied_over_the_subtree(
    http: FlaskClient, client: ApiClient, child_client: ApiClient, other_client: ApiClient
) -> None:
    for value in (4, 4, 3, 2, 1):  # 3 of 5 satisfied: 60.0 %
        rate(http, client, AGENCY, value)
    for value in (4, 3, 3, 3, 3, 3, 2):  # 6 of 7: 85.714… % -> 85.7, meets 84
        rate(http, child_client, CHILD, value)
    rate(http, other_client, OTHER, 1)  # not this client's subtree

    body = report(http, client).get_json()

    assert body["from"] == "2026-11-01" and body["to"] == "2026-12-31"
    assert body["group_by"] == "agency" and body["target_percent"] == 84
    assert body["rows"] == [
        {"key": AGENCY, "label": "Sở Tư pháp tỉnh Khánh Hòa", "answers": 5, "satisfied": 3,
         "satisfied_percent": 60.0, "meets_target": False},
        {"key": CHILD, "label": "=Phòng Tư pháp (huyện)", "answers": 7, "satisfied": 6,
         "satisfied_percent": 85.7, "meets_target": True},
    ]
    # 9 of 12: 75.0 %
    assert body["totals"] == {"key": "total", "label": "Tổng cộng", "answers": 12,
                              "satisfied": 9, "satisfied_percent": 75.0,
                              "meets_target": False}
    child_only = report(http, child_client).get_json()
    assert [r["key"] for r in child_only["rows"]] == [CHILD]


def test_by_month_in_vietnam_time_with_dated_targets(
    http: FlaskClient, client: ApiClient, gw: Gateway, clock: Clock
) -> None:
    clock.current = datetime(2026, 11, 30, 16, 59, tzinfo=UTC)  # 23:59 on 30/11 in Vietnam
    for value in (4, 3, 2):  # November: 2 of 3 = 66.666… %
        rate(http, client, AGENCY, value)
    clock.current = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 00:00 on 1/12 in Vietnam
    for value in (4, 4, 4, 1):  # December: 3 of 4 = 75 %
        rate(http, client, AGENCY, value)
    clock.current = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)  # after the period
    rate(http, client, AGENCY, 1)
    with gw.sessions.begin() as session:  # from December on, the province asks for 70 %
        set_target(session, "satisfaction", date(2026, 12, 1), Decimal(70))

    body = report(http, client, group_by="month").get_json()

    assert body["target_percent"] == 70  # in force on 31/12
    assert body["rows"] == [
        {"key": "2026-11", "label": "Tháng 11/2026", "answers": 3, "satisfied": 2,
         "satisfied_percent": 66.7, "meets_target": False},  # judged by 84
        {"key": "2026-12", "label": "Tháng 12/2026", "answers": 4, "satisfied": 3,
         "satisfied_percent": 75.0, "meets_target": True},  # judged by 70
    ]
    assert body["totals"]["answers"] == 7 and body["totals"]["satisfied"] == 5
    assert body["totals"]["satisfied_percent"] == 71.4 and body["totals"]["meets_target"]

    november = report(http, client, group_by="month", to="2026-11-30").get_json()
    assert november["target_percent"] == 84 and len(november["rows"]) == 1


def test_an_empty_period_has_empty_months_and_null_percents(
    http: FlaskClient, client: ApiClient
) -> None:
    body = report(http, client, group_by="month").get_json()
    assert [r["key"] for r in body["rows"]] == ["2026-11", "2026-12"]
    assert all(r["answers"] == 0 and r["satisfied_percent"] is None for r in body["rows"])
    assert body["totals"]["satisfied_percent"] is None
    assert report(http, client).get_json()["rows"] == []


class TestTheSetting:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"satisfaction_target": Decimal("60")}

    def test_the_setting_is_the_target_without_a_dated_one(
        self, http: FlaskClient, client: ApiClient
    ) -> None:
        for value in (4, 3, 2, 1, 3):  # 3 of 5 = 60 %: meets 60 exactly
            rate(http, client, AGENCY, value)
        body = report(http, client).get_json()
        assert body["target_percent"] == 60
        assert body["totals"]["meets_target"] is True


# -- files -------------------------------------------------------------------------------------


def test_csv_has_the_row_keys_and_neutralises_formulas(
    http: FlaskClient, client: ApiClient, child_client: ApiClient
) -> None:
    rate(http, client, AGENCY, 4)
    rate(http, child_client, CHILD, 2)
    response = report(http, client, format="csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert lines[0] == ["key", "label", "answers", "satisfied", "satisfied_percent",
                        "meets_target"]
    assert lines[1] == [AGENCY, "Sở Tư pháp tỉnh Khánh Hòa", "1", "1", "100.0", "true"]
    assert lines[2] == [CHILD, "'=Phòng Tư pháp (huyện)", "1", "0", "0.0", "false"]
    assert lines[3] == ["total", "Tổng cộng", "2", "1", "50.0", "false"]


def test_xlsx_has_the_same_figures_as_numbers_and_no_formula(
    http: FlaskClient, client: ApiClient, child_client: ApiClient
) -> None:
    rate(http, client, AGENCY, 4)
    rate(http, child_client, CHILD, 2)
    response = report(http, client, format="xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book["Tổng hợp"]
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[1] == [AGENCY, "Sở Tư pháp tỉnh Khánh Hòa", 1, 1, 100.0, "Đạt"]
    assert values[2] == [CHILD, "=Phòng Tư pháp (huyện)", 1, 0, 0.0, "Chưa đạt"]
    assert sheet.cell(row=3, column=2).data_type == "s"  # a string, never a formula
    assert values[3] == ["total", "Tổng cộng", 2, 1, 50.0, "Chưa đạt"]
    assert "Thông tin" in book.sheetnames


# -- what is refused -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [{"group_by": "procedure"}, {"format": "pdf"}, {"from": ""}, {"from": "2026-12-02",
                                                                   "to": "2026-12-01"}],
)
def test_a_bad_query_is_422(http: FlaskClient, client: ApiClient, query: dict[str, str]) -> None:
    params = {"from": "2026-11-01", "to": "2026-12-31", **query}
    response = http.get(URL, query_string=params, headers=client.headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_without_a_key_401(http: FlaskClient, client: ApiClient) -> None:
    response = http.get(URL, query_string={"from": "2026-11-01", "to": "2026-11-30"})
    assert response.status_code == 401


def test_the_report_is_documented(http: FlaskClient) -> None:
    document = http.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/reports/satisfaction"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {"from", "to", "group_by", "format"}
    assert {"200", "401", "422"} <= set(operation["responses"])
