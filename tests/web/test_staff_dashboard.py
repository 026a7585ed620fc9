"""The dashboard at /staff/ (CONTRACT.md "Staff"): for the user's agencies, the online share
of the current Vietnam month and of the year so far, written as on the reports (`66,7 %`),
against the target in force, with a server-drawn chart by month; the same figures as the
reports API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments import targets
from payments.services.gateway import Gateway
from tests.factories import AGENCY, ApiClient, Clock, create_payment, make_api_client
from tests.flow import pay_through_sandbox
from tests.web.test_staff import make_user, sign_in

OTHER = "000.00.99.H40"


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw, agencies=(AGENCY, OTHER))


def at_counter(http: FlaskClient, client: ApiClient, paid_at: datetime, n: int,
               agency: str = AGENCY) -> None:
    payment = create_payment(http, client, reference=f"HS-QUAY-{n}", agency_code=agency)
    answer = http.post(f"/api/v1/payments/{payment['id']}/counter", headers=client.headers,
                       json={"method": "cash", "receipt_no": f"BL-{n}",
                             "paid_at": paid_at.isoformat()})
    assert answer.status_code == 201, answer.get_json()


def online(http: FlaskClient, client: ApiClient, base_url: str, n: int,
           agency: str = AGENCY) -> None:
    payment = create_payment(http, client, reference=f"HS-MANG-{n}", agency_code=agency)
    pay_through_sandbox(base_url, payment["id"], "pay")


def board(http: FlaskClient) -> str:
    page = http.get("/staff/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    return html[html.index('id="dashboard"'):html.index("</section>")]


def figure(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1)


@pytest.fixture
def history(http: FlaskClient, gw: Gateway, client: ApiClient, clock: Clock,
            base_url: str) -> None:
    """October: 2 at the counter. November (today, 26/11): 2 online, 1 at the counter.
    Another agency: 3 online in November (not the user's)."""
    clock.current = datetime(2026, 10, 10, 3, 0, tzinfo=UTC)
    at_counter(http, client, clock(), 1)
    at_counter(http, client, clock(), 2)
    clock.current = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    online(http, client, base_url, 1)
    online(http, client, base_url, 2)
    at_counter(http, client, clock(), 3)
    for n in range(3, 6):
        online(http, client, base_url, n, agency=OTHER)


def test_the_dashboard_shows_the_month_and_the_year_so_far(
    http: FlaskClient, gw: Gateway, client: ApiClient, history: None
) -> None:
    make_user(gw, agencies=(AGENCY,))
    assert sign_in(http).status_code == 303
    html = board(http)

    assert "Tháng 11/2026" in html and "Từ đầu năm 2026" in html
    assert figure(html, "month-share") == "66,7 %"  # 2 of 3
    assert figure(html, "ytd-share") == "40,0 %"  # 2 of 5; the other agency left out
    assert figure(html, "target") == "30 %"
    month = html[html.index('data-testid="month"'):html.index('data-testid="ytd"')]
    assert "Đạt mục tiêu" in month and "Chưa đạt" not in month
    ytd = html[html.index('data-testid="ytd"'):]
    assert "Đạt mục tiêu" in ytd.split("</div>")[0]

    chart = html[html.index("<svg"):html.index("</svg>")]
    assert chart.count("<rect") == 2  # October and November had payments
    assert 'data-testid="target-line"' in chart and "style=" not in chart
    for month_label in ("T1", "T10", "T11"):
        assert f">{month_label}<" in chart
    assert "T12" not in chart  # the year so far only


def test_the_dashboard_equals_the_reports_api(
    http: FlaskClient, gw: Gateway, client: ApiClient, history: None
) -> None:
    make_user(gw, agencies=(AGENCY,))
    assert sign_in(http).status_code == 303
    html = board(http)
    mine = make_api_client(gw, agencies=(AGENCY,), name="Cổng của Sở")

    def api_share(first: str, last: str) -> Any:
        report = http.get(f"/api/v1/reports/online-share?from={first}&to={last}&group_by=month",
                          headers=mine.headers).get_json()
        return f"{report['totals']['online_share_percent']:.1f}".replace(".", ",") + " %"

    assert figure(html, "month-share") == api_share("2026-11-01", "2026-11-26")
    assert figure(html, "ytd-share") == api_share("2026-01-01", "2026-11-26")


def test_a_dated_target_is_the_one_in_force(
    http: FlaskClient, gw: Gateway, client: ApiClient, history: None
) -> None:
    with gw.sessions.begin() as session:
        targets.set_target(session, "online_share", date(2026, 11, 1), Decimal("70.5"))
    make_user(gw, agencies=(AGENCY,))
    assert sign_in(http).status_code == 303
    html = board(http)
    assert figure(html, "target") == "70,5 %"
    month = html[html.index('data-testid="month"'):html.index('data-testid="ytd"')]
    assert "Chưa đạt mục tiêu 70,5 %" in month
    table = html[html.index("<details>"):]
    assert re.search(r"<td>T10</td><td class=\"num\">0,0 %</td><td class=\"num\">30 %</td>",
                     table)  # each month judged by its own month's target
    assert "<td>T11</td><td class=\"num\">66,7 %</td><td class=\"num\">70,5 %</td>" in table


def test_the_units_furthest_below_target_link_their_reports(
    http: FlaskClient, gw: Gateway, client: ApiClient, history: None
) -> None:
    make_user(gw, role="admin", agencies=())
    assert sign_in(http).status_code == 303
    html = board(http)
    assert figure(html, "ytd-share") == "62,5 %"  # 5 of 8, every agency
    lowest = html[html.index("tỷ lệ thấp nhất"):]
    assert lowest.index(AGENCY) < lowest.index(OTHER)  # 40,0 % before 100,0 %
    found = re.search(rf'href="(/staff/reports\?agency={re.escape(AGENCY)}&amp;'
                      r'download=online-share.xlsx[^"]*)"', lowest)
    assert found
    answer = http.get(found.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]


@pytest.mark.parametrize(("moment", "month", "bars"), [
    (datetime(2027, 12, 31, 16, 45, tzinfo=UTC), "Tháng 12/2027", "T12"),  # 23:45 on 31/12
    (datetime(2027, 12, 31, 17, 30, tzinfo=UTC), "Tháng 1/2028", "T1"),  # 00:30 on 1/1
])
def test_the_month_and_year_are_vietnams_at_the_year_end(
    http: FlaskClient, gw: Gateway, client: ApiClient, clock: Clock, moment: datetime,
    month: str, bars: str
) -> None:
    clock.current = moment
    make_user(gw, agencies=(AGENCY,))
    assert sign_in(http).status_code == 303
    html = board(http)
    assert month in html and figure(html, "month-share") == "—"
    chart = html[html.index("<svg"):]
    assert f">{bars}<" in chart
    if bars == "T1":
        assert ">T2<" not in chart


def test_a_user_without_agencies_gets_no_figures(http: FlaskClient, gw: Gateway) -> None:
    make_user(gw, role="viewer", agencies=())
    assert sign_in(http).status_code == 303
    html = http.get("/staff/").get_data(as_text=True)
    assert 'id="dashboard"' not in html and "chưa được giao cơ quan" in html
