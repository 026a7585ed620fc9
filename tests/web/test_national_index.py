"""The national index (Decision 766) per unit of the agency tree, every figure by hand.

The worked example of docs/reports.md ("The national index: a worked example"), made
through the real API (payments, counter payments, cancellation), the provider write path
(online payments) and the expiry job; November 2026, Vietnam dates.

The tree (catalog import):

  P  000.00.00.H32  UBND tỉnh Khánh Hòa          level 1
  D  000.00.01.H32  Sở Tư pháp          (P)      level 2
  W  H32.12         UBND phường Nha Trang (D)    level 3
  E  000.00.02.H32  Sở Y tế             (P)      level 2
  OTHER 000.00.00.H33 another province (not the client's)

Fee-bearing procedures in November (a non-zero fee on any day of the month):
  P: 1.000001
  D: 2.000488; 2.000815 (20 000 to 14/11, 30 000 from 15/11); 2.000999 (abolished after
     10/11: still counts); 1.000555 (no dossier); not 1.009999 (ended 31/10), not 1.000777
     (fee 0)
  W: 1.001234; 2.000488 (the same code as D's: counted once at D and P)
  E: 1.004444 (no dossier)

Dossiers (ref: payments) — fee dossier of November? online-paid?
  D-1   488 200 000 received 03/11, VNPAY 03/11                    yes, online
  D-2   488 200 000 created 05/11, unpaid                          yes
  D-3   488 200 000 created 06/11, expired                         yes
  D-4   815 0 (exempt, every fee line 0)                           no (exempt)
  D-5   488 two payments of 100 000 (split): MoMo 07/11, counter 08/11   yes, online, once
  D-6   815 20 000 VNPAY 10/11, refunded in full                    yes, online
  D-7   488 two payments of 200 000, both paid (VNPAY, ZaloPay) 12/11   yes, online, once
  D-8   488 200 000 counter 13/11, then MoMo on the same payment (double payment)  yes, online
  D-9   488 200 000 received 28/11, VNPAY 02/12 (paid next month)   yes, online
  D-10  488 200 000 received 31/10, VNPAY 03/11                    no (October)
  D-11  815 30 000 created 30/11 23:30 (VN), unpaid                 yes
  D-12  488 200 000 created 01/12 00:30 (VN)                        no (December)
  D-13  488 received 31/10 (expired), again created 02/11 and paid VNPAY   no (earliest: October)
  D-14  488 200 000 created 20/11, cancelled                       yes
  D-15  815 30 000 counter 20/11                                    yes
  D-16  999 10 000 counter 08/11                                    yes
  W-1   1.001234 50 000 counter 05/11                               yes
  W-2   1.001234 50 000 ZaloPay 06/11                               yes, online
  W-3   2.000488 200 000 VNPAY 09/11                                yes, online
  E-1   9.999999 (not catalogued) 100 000 VNPAY 14/11               yes, online (no procedure)
  P-1   1.000001 100 000 counter 15/11                              yes
  O-1   1.001234 50 000 VNPAY 05/11                                 other province: never

Rows (P's tree, depth first in code order):
  unit  dossiers online  3.6     procs with online  3.5     3.5b    points
  P     17       9       52.94   7     5    3       71.43   60.00   6.46
  D     15       8       53.33   5     4    3       80.00   75.00   7.08 (7.075)
  W     3        2       66.67   2     2    2       100.00  100.00  8.00
  E     1        1       100.00  1     0    0       0.00    null    6.00
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from payments import catalog, exports
from payments.demo_history import pay_online
from payments.models import Payment
from payments.national_index import NationalIndexReport, points
from payments.services.gateway import Gateway
from payments.services.jobs import expire_due
from tests.factories import ApiClient, Clock, make_api_client
from tests.payments.reporting import set_refunded, vn

P, D, W, E = "000.00.00.H32", "000.00.01.H32", "H32.12", "000.00.02.H32"
OTHER = "000.00.00.H33"
NOV = "from=2026-11-01&to=2026-11-30"
URL = "/api/v1/reports/national-index"

CATALOG_HEADER = ("agency_code,agency_name,parent_code,agency_level,procedure_code,"
                  "procedure_name,online_payment,fee_name,fee_kind,fee_amount,effective_from,"
                  "effective_to")
CATALOG_ROWS = [  # agency, name, parent, level, procedure, its name, fee, kind, amount, from, to
    (P, "UBND tỉnh Khánh Hòa", "", "province", "1.000001", "Thủ tục cấp tỉnh",
     "Phí A", "fee", 100000, "", ""),
    (D, "Sở Tư pháp", P, "department", "2.000488", "Cấp Phiếu lý lịch tư pháp",
     "Phí cung cấp thông tin", "fee", 200000, "", ""),
    (D, "Sở Tư pháp", P, "department", "2.000815", "Chứng thực bản sao",
     "Phí chứng thực", "fee", 20000, "", "2026-11-14"),
    (D, "Sở Tư pháp", P, "department", "2.000815", "Chứng thực bản sao",
     "Phí chứng thực", "fee", 30000, "2026-11-15", ""),
    (D, "Sở Tư pháp", P, "department", "2.000999", "Thủ tục bãi bỏ phí",
     "Phí cũ", "fee", 10000, "", "2026-11-10"),
    (D, "Sở Tư pháp", P, "department", "1.000555", "Thủ tục chưa có hồ sơ",
     "Phí B", "fee", 30000, "", ""),
    (D, "Sở Tư pháp", P, "department", "1.009999", "Phí hết hiệu lực",
     "Phí C", "fee", 50000, "", "2026-10-31"),
    (D, "Sở Tư pháp", P, "department", "1.000777", "Miễn phí", "Phí D", "fee", 0, "", ""),
    (W, "UBND phường Nha Trang", D, "commune", "1.001234", "Đăng ký khai sinh",
     "Lệ phí", "charge", 50000, "", ""),
    (W, "UBND phường Nha Trang", D, "commune", "2.000488", "Cấp Phiếu lý lịch tư pháp",
     "Phí cung cấp thông tin", "fee", 200000, "", ""),
    (E, "Sở Y tế", P, "department", "1.004444", "Thủ tục y tế", "Phí E", "fee", 100000, "", ""),
    (OTHER, "Tỉnh khác", "", "province", "1.001234", "Đăng ký khai sinh",
     "Lệ phí", "charge", 50000, "", ""),
]
CATALOG = "\n".join([CATALOG_HEADER, *(
    ",".join([a, name, parent, level, proc, pname, "yes", fee, kind, str(amount), start, end])
    for a, name, parent, level, proc, pname, fee, kind, amount, start, end in CATALOG_ROWS)])


EXPECTED: list[dict[str, Any]] = [
    {"agency_code": P, "label": "UBND tỉnh Khánh Hòa", "parent_code": None, "level": 1,
     "fee_dossiers": 17, "online_paid_dossiers": 9, "indicator_3_6_percent": 52.94,
     "fee_procedures": 7, "procedures_with_fee_dossiers": 5, "indicator_3_5_percent": 71.43,
     "procedures_paid_online": 3, "indicator_3_5b_percent": 60.0, "points": 6.46},
    {"agency_code": D, "label": "Sở Tư pháp", "parent_code": P, "level": 2,
     "fee_dossiers": 15, "online_paid_dossiers": 8, "indicator_3_6_percent": 53.33,
     "fee_procedures": 5, "procedures_with_fee_dossiers": 4, "indicator_3_5_percent": 80.0,
     "procedures_paid_online": 3, "indicator_3_5b_percent": 75.0, "points": 7.08},
    {"agency_code": W, "label": "UBND phường Nha Trang", "parent_code": D, "level": 3,
     "fee_dossiers": 3, "online_paid_dossiers": 2, "indicator_3_6_percent": 66.67,
     "fee_procedures": 2, "procedures_with_fee_dossiers": 2, "indicator_3_5_percent": 100.0,
     "procedures_paid_online": 2, "indicator_3_5b_percent": 100.0, "points": 8.0},
    {"agency_code": E, "label": "Sở Y tế", "parent_code": P, "level": 2,
     "fee_dossiers": 1, "online_paid_dossiers": 1, "indicator_3_6_percent": 100.0,
     "fee_procedures": 1, "procedures_with_fee_dossiers": 0, "indicator_3_5_percent": 0.0,
     "procedures_paid_online": 0, "indicator_3_5b_percent": None, "points": 6.0},
]
COLUMNS = list(EXPECTED[0])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The fixture records ~40 API calls at machine speed: above the default 50/second
    a fast machine could hit the portal's rate limit, which is not what is tested here."""
    return {"rate_limit_api": "100000/second"}


class Portal:
    """Records the dossiers through the API, with the gateway's clock moved to each moment."""

    def __init__(self, http: FlaskClient, gw: Gateway, clock: Clock, client: ApiClient) -> None:
        self.http, self.gw, self.clock, self.client = http, gw, clock, client

    def create(self, ref: str, agency: str, procedure: str, amount: int, at: datetime, *,
               received: date | None = None, client: ApiClient | None = None,
               fee_items: list[dict[str, Any]] | None = None) -> str:
        self.clock.current = at.astimezone(UTC)
        body: dict[str, Any] = {
            "reference": ref, "procedure_code": procedure, "agency_code": agency,
            "amount": amount, "description": "hồ sơ thử", "return_url":
            "https://portal.example.gov.vn/ho-so",
        }
        if received is not None:
            body["dossier_received_at"] = received.isoformat()
        if fee_items is not None:
            body["fee_items"] = fee_items
        response = self.http.post("/api/v1/payments", json=body,
                                  headers=(client or self.client).headers)
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])

    def counter(self, payment_id: str, at: datetime) -> None:
        self.clock.current = at.astimezone(UTC)
        response = self.http.post(
            f"/api/v1/payments/{payment_id}/counter",
            json={"method": "cash", "receipt_no": f"BL-{payment_id[-10:]}",
                  "paid_at": at.isoformat()},
            headers=self.client.headers)
        assert response.status_code == 201, response.get_json()

    def online(self, payment_id: str, provider: str, at: datetime) -> None:
        """The provider confirms (the callback's write path, apply_result)."""
        self.clock.current = at.astimezone(UTC)
        with self.gw.sessions.begin() as session:
            payment = session.get(Payment, payment_id)
            assert payment is not None
            pay_online(session, self.gw, payment, provider, at, source="test")

    def cancel(self, payment_id: str, at: datetime) -> None:
        self.clock.current = at.astimezone(UTC)
        response = self.http.post(f"/api/v1/payments/{payment_id}/cancel", json={},
                                  headers=self.client.headers)
        assert response.status_code == 200, response.get_json()


def lines(amount: int, n: int = 1) -> list[dict[str, Any]]:
    return [{"name": f"Phí (phần {i + 1})", "kind": "fee", "amount": amount} for i in range(n)]


@pytest.fixture
def tree(http: FlaskClient, gw: Gateway, clock: Clock) -> dict[str, ApiClient]:
    with gw.sessions.begin() as session:
        report = catalog.import_rows(session, catalog.read_csv(CATALOG))
        assert report.ok, report.lines()
    portal = make_api_client(gw, agencies=(P, D, W, E, OTHER), name="Cổng DVC tỉnh",
                             payment_ttl_minutes=60 * 24 * 30)
    short = make_api_client(gw, agencies=(D,), name="Cổng thử (hết hạn nhanh)",
                            payment_ttl_minutes=15)
    viewer = make_api_client(gw, agencies=(P,), name="Tài chính tỉnh")
    department = make_api_client(gw, agencies=(D,), name="Tài chính Sở Tư pháp")
    other = make_api_client(gw, agencies=(OTHER,), name="Tỉnh khác")
    at = Portal(http, gw, clock, portal)
    G, F, R = "2.000488", "2.000815", "1.001234"

    d1 = at.create("D-1", D, G, 200_000, vn(2026, 11, 3, 9), received=date(2026, 11, 3))
    at.online(d1, "vnpay", vn(2026, 11, 3, 10))
    at.create("D-2", D, G, 200_000, vn(2026, 11, 5))
    at.create("D-3", D, G, 200_000, vn(2026, 11, 6), client=short)
    at.create("D-4", D, F, 0, vn(2026, 11, 6, 11),
              fee_items=[{"name": "Phí chứng thực (miễn)", "kind": "fee", "amount": 0}])
    d5a = at.create("D-5", D, G, 100_000, vn(2026, 11, 7), fee_items=lines(100_000))
    at.online(d5a, "momo", vn(2026, 11, 7, 10, 5))
    d5b = at.create("D-5", D, G, 100_000, vn(2026, 11, 8), fee_items=lines(100_000))
    at.counter(d5b, vn(2026, 11, 8, 10, 5))
    d6 = at.create("D-6", D, F, 20_000, vn(2026, 11, 10))
    at.online(d6, "vnpay", vn(2026, 11, 10, 10, 5))
    set_refunded(gw, d6, 20_000)
    d7a = at.create("D-7", D, G, 200_000, vn(2026, 11, 12))
    at.online(d7a, "vnpay", vn(2026, 11, 12, 10, 5))
    d7b = at.create("D-7", D, G, 200_000, vn(2026, 11, 12, 11))
    at.online(d7b, "zalopay", vn(2026, 11, 12, 11, 5))
    d8 = at.create("D-8", D, G, 200_000, vn(2026, 11, 13))
    at.counter(d8, vn(2026, 11, 13, 10, 5))
    at.online(d8, "momo", vn(2026, 11, 13, 10, 20))
    d9 = at.create("D-9", D, G, 200_000, vn(2026, 11, 28), received=date(2026, 11, 28))
    d10 = at.create("D-10", D, G, 200_000, vn(2026, 11, 3), received=date(2026, 10, 31))
    at.online(d10, "vnpay", vn(2026, 11, 3, 10, 5))
    at.create("D-11", D, F, 30_000, vn(2026, 11, 30, 23, 30))
    at.create("D-12", D, G, 200_000, vn(2026, 12, 1, 0, 30))
    at.create("D-13", D, G, 200_000, vn(2026, 10, 31, 15), received=date(2026, 10, 31),
              client=short)
    d13 = at.create("D-13", D, G, 200_000, vn(2026, 11, 2))
    at.online(d13, "vnpay", vn(2026, 11, 2, 10, 5))
    d14 = at.create("D-14", D, G, 200_000, vn(2026, 11, 20))
    at.cancel(d14, vn(2026, 11, 20, 10, 5))
    d15 = at.create("D-15", D, F, 30_000, vn(2026, 11, 20, 11))
    at.counter(d15, vn(2026, 11, 20, 11, 5))
    d16 = at.create("D-16", D, "2.000999", 10_000, vn(2026, 11, 8, 14))
    at.counter(d16, vn(2026, 11, 8, 14, 5))
    w1 = at.create("W-1", W, R, 50_000, vn(2026, 11, 5))
    at.counter(w1, vn(2026, 11, 5, 10, 5))
    w2 = at.create("W-2", W, R, 50_000, vn(2026, 11, 6))
    at.online(w2, "zalopay", vn(2026, 11, 6, 10, 5))
    w3 = at.create("W-3", W, G, 200_000, vn(2026, 11, 9))
    at.online(w3, "vnpay", vn(2026, 11, 9, 10, 5))
    e1 = at.create("E-1", E, "9.999999", 100_000, vn(2026, 11, 14))
    at.online(e1, "vnpay", vn(2026, 11, 14, 10, 5))
    p1 = at.create("P-1", P, "1.000001", 100_000, vn(2026, 11, 15))
    at.counter(p1, vn(2026, 11, 15, 10, 5))
    o1 = at.create("O-1", OTHER, R, 50_000, vn(2026, 11, 5))
    at.online(o1, "vnpay", vn(2026, 11, 5, 10, 5))
    at.online(d9, "vnpay", vn(2026, 12, 2, 10))  # received 28/11, paid in December
    at.clock.current = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    assert expire_due(gw).expired == 2  # D-3, and D-13's first payment
    with gw.sessions() as session:
        statuses = {p.reference: p.status for p in session.query(Payment).filter(
            Payment.reference.in_(["D-2", "D-3", "D-11", "D-14"]))}
    assert statuses == {"D-2": "created", "D-3": "expired", "D-11": "created",
                        "D-14": "cancelled"}
    return {"viewer": viewer, "department": department, "other": other, "portal": portal}


def get(http: FlaskClient, client: ApiClient, query: str) -> Any:
    return http.get(f"{URL}?{query}", headers=client.headers)


def test_every_figure_of_the_worked_example(http: FlaskClient,
                                            tree: dict[str, ApiClient]) -> None:
    response = get(http, tree["viewer"], NOV)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"from", "to", "rows"}
    assert (body["from"], body["to"]) == ("2026-11-01", "2026-11-30")
    for row in body["rows"]:
        assert sorted(row) == sorted(COLUMNS)
    assert body["rows"] == EXPECTED
    NationalIndexReport.model_validate(body)  # the documented schema
    # the other province's dossier is nowhere; no unit twice
    assert [r["agency_code"] for r in body["rows"]] == [P, D, W, E]


def test_the_same_with_agency_and_for_a_client_scoped_to_a_unit(
        http: FlaskClient, tree: dict[str, ApiClient]) -> None:
    assert get(http, tree["viewer"], f"{NOV}&agency={D}").get_json()["rows"] == EXPECTED[1:3]
    assert get(http, tree["viewer"], f"{NOV}&agency={W}").get_json()["rows"] == [EXPECTED[2]]
    # a department's finance portal sees its subtree, and its level stays the catalog's
    assert get(http, tree["department"], NOV).get_json()["rows"] == EXPECTED[1:3]
    assert get(http, tree["department"], f"{NOV}&agency={W}").get_json()["rows"] \
        == [EXPECTED[2]]


def test_an_agency_outside_the_clients_tree_is_refused(
        http: FlaskClient, tree: dict[str, ApiClient]) -> None:
    for client, agency in ((tree["department"], P), (tree["department"], E),
                           (tree["viewer"], OTHER), (tree["other"], P)):
        response = get(http, client, f"{NOV}&agency={agency}")
        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"
    response = get(http, tree["viewer"], f"{NOV}&agency=not-a-code")
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["agency"]


def test_the_other_province_sees_only_its_own(http: FlaskClient,
                                              tree: dict[str, ApiClient]) -> None:
    rows = get(http, tree["other"], NOV).get_json()["rows"]
    assert [(r["agency_code"], r["fee_dossiers"], r["online_paid_dossiers"], r["level"],
             r["fee_procedures"], r["procedures_paid_online"], r["points"]) for r in rows] \
        == [(OTHER, 1, 1, 1, 1, 1, 10.0)]


def test_periods_by_receipt_date(http: FlaskClient, tree: dict[str, ApiClient]) -> None:
    # October: D-10 (online) and D-13 (its earliest payment was received 31/10; it was
    # paid online on 02/11 through its second payment)
    october = get(http, tree["viewer"], "from=2026-10-01&to=2026-10-31").get_json()["rows"]
    assert [(r["agency_code"], r["fee_dossiers"], r["online_paid_dossiers"],
             r["indicator_3_6_percent"]) for r in october] \
        == [(P, 2, 2, 100.0), (D, 2, 2, 100.0), (W, 0, 0, None), (E, 0, 0, None)]
    # a fee abolished on 10/11 and another that ended on 31/10: October has both
    assert [r["fee_procedures"] for r in october] == [8, 6, 2, 1]
    # December: D-12 only (not paid); D-9, received in November, stays in November
    december = get(http, tree["viewer"], "from=2026-12-01&to=2026-12-31").get_json()["rows"]
    assert [(r["fee_dossiers"], r["online_paid_dossiers"], r["indicator_3_6_percent"])
            for r in december[:2]] == [(1, 0, 0.0), (1, 0, 0.0)]
    # one day: 30/11 (D-11 created at 23:30 Vietnam time, 16:30 UTC)
    day = get(http, tree["viewer"], "from=2026-11-30&to=2026-11-30").get_json()["rows"]
    assert day[1]["fee_dossiers"] == 1 and day[1]["online_paid_dossiers"] == 0


def test_csv_and_xlsx_carry_the_same_columns(http: FlaskClient,
                                             tree: dict[str, ApiClient]) -> None:
    response = get(http, tree["viewer"], f"{NOV}&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == COLUMNS
    assert rows[1] == [P, "UBND tỉnh Khánh Hòa", "", "1", "17", "9", "52.94", "7", "5",
                       "71.43", "3", "60.00", "6.46"]
    assert rows[4][-3:] == ["0", "", "6.00"]  # E: 3.5b has no denominator
    assert len(rows) == 5

    response = get(http, tree["viewer"], f"{NOV}&format=xlsx")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb["Tổng hợp"]
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=1)]
    assert values[0] == list(exports.NATIONAL_HEADERS)
    assert values[2] == [D, "Sở Tư pháp", P, 2, 15, 8, 53.33, 5, 4, 80.0, 3, 75.0, 7.08]
    assert values[4][11] is None
    assert ws.cell(row=2, column=7).number_format == "0.00"
    assert "Thông tin" in wb.sheetnames


def test_bad_queries_are_422(http: FlaskClient, tree: dict[str, ApiClient]) -> None:
    for query, fields in (("from=2026-11-01", ["to"]),
                          ("from=2026-11-30&to=2026-11-01", ["to"]),
                          (f"{NOV}&format=pdf", ["format"])):
        response = get(http, tree["viewer"], query)
        assert response.status_code == 422
        assert [e["field"] for e in response.get_json()["errors"]] == fields


def test_points_and_percents_are_exact() -> None:
    from fractions import Fraction

    from payments.national_index import percent

    assert percent(Fraction(1, 3)) == Decimal("33.33")
    assert percent(Fraction(2, 3)) == Decimal("66.67")
    assert percent(Fraction(33335, 100000)) == Decimal("33.34")  # half up, not to even
    assert percent(Fraction(1, 8)) == Decimal("12.50")
    assert percent(None) is None
    assert points(Fraction(8, 15), Fraction(4, 5), Fraction(3, 4)) == Decimal("7.08")  # 7.075
    assert points(None, None, None) == Decimal("0.00")
    assert points(Fraction(1), Fraction(1), Fraction(1)) == Decimal("10.00")
    assert points(Fraction(0), Fraction(1, 2), None) == Decimal("1.25")


def test_the_openapi_document_names_the_route(http: FlaskClient) -> None:
    doc = http.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "agency", "format"}
    assert {"200", "401", "403", "422", "429"} <= set(operation["responses"])
    row = doc["components"]["schemas"]["NationalIndexRow"]["properties"]
    assert sorted(row) == sorted(COLUMNS)


def test_a_unit_with_nothing(http: FlaskClient, gw: Gateway) -> None:
    client = make_api_client(gw, agencies=("000.00.05.H32",), name="Chưa có gì")
    rows = get(http, client, NOV).get_json()["rows"]
    assert rows == [{
        "agency_code": "000.00.05.H32", "label": rows[0]["label"], "parent_code": None,
        "level": 1, "fee_dossiers": 0, "online_paid_dossiers": 0,
        "indicator_3_6_percent": None, "fee_procedures": 0, "procedures_with_fee_dossiers": 0,
        "indicator_3_5_percent": None, "procedures_paid_online": 0,
        "indicator_3_5b_percent": None, "points": 0.0,
    }]


def test_the_online_share_rolls_the_tree_up(http: FlaskClient,
                                            tree: dict[str, ApiClient]) -> None:
    """The same world, online share by paid date (transactions, not dossiers): D paid 11
    (D-1, both of D-5, D-6, both of D-7, D-8, D-10, D-13's second, D-15, D-16), of which
    online 7 (D-8 counts by its first success, the counter); W 3/2; E 1/1; P 1/0."""
    path = f"/api/v1/reports/online-share?{NOV}&group_by=agency"
    body = http.get(path, headers=tree["viewer"].headers).get_json()
    assert [(r["key"], r["paid_count"], r["online_count"], r["paid_amount"],
             r["online_amount"]) for r in body["rows"]] == [
        (P, 1, 0, 100_000, 0),
        (D, 11, 7, 1_460_000, 1_120_000),
        (E, 1, 1, 100_000, 100_000),
        (W, 3, 2, 300_000, 250_000),
    ]
    assert (body["totals"]["paid_count"], body["totals"]["online_count"],
            body["totals"]["online_share_percent"]) == (16, 10, 62.5)
    body = http.get(path, headers=tree["department"].headers).get_json()
    assert [r["key"] for r in body["rows"]] == [D, W]
    assert (body["totals"]["paid_count"], body["totals"]["online_count"]) == (14, 9)


def test_coverage_rolls_the_tree_up(http: FlaskClient, tree: dict[str, ApiClient]) -> None:
    body = http.get(f"/api/v1/reports/coverage?{NOV}",
                    headers=tree["viewer"].headers).get_json()
    assert [(r["key"], r["fee_procedures"], r["with_fee_dossiers"], r["paid_online"])
            for r in body["rows"]] == [(P, 1, 1, 0), (D, 3, 2, 2), (E, 1, 0, 0), (W, 2, 2, 2)]
    totals = body["totals"]
    assert (totals["fee_procedures"], totals["with_fee_dossiers"], totals["paid_online"]) \
        == (7, 5, 4)
    body = http.get(f"/api/v1/reports/coverage?{NOV}",
                    headers=tree["department"].headers).get_json()
    assert [r["key"] for r in body["rows"]] == [D, W]


def test_exports_never_hold_a_formula(http: FlaskClient, gw: Gateway) -> None:
    with gw.sessions.begin() as session:
        report = catalog.import_rows(session, catalog.read_csv(
            "agency_code,agency_name\n000.00.07.H32,=HYPERLINK(\"http://evil\")\n"))
        assert report.ok, report.lines()
    client = make_api_client(gw, agencies=("000.00.07.H32",))
    text = get(http, client, f"{NOV}&format=csv").data.decode("utf-8")
    assert "'=HYPERLINK" in text
    wb = load_workbook(io.BytesIO(get(http, client, f"{NOV}&format=xlsx").data))
    cell = wb["Tổng hợp"].cell(row=2, column=2)
    assert cell.value == '=HYPERLINK("http://evil")' and cell.data_type == "s"


def test_a_dossier_that_names_two_procedures(http: FlaskClient, gw: Gateway,
                                             clock: Clock) -> None:
    """Z-1 pays two procedures' fees through two payments (one dossier, counted once, both
    procedures with a fee dossier; the second paid online); Z-2 is exempt."""
    with gw.sessions.begin() as session:
        report = catalog.import_rows(session, catalog.read_csv(
            "agency_code,agency_name,procedure_code,procedure_name,fee_name,fee_kind,"
            "fee_amount\n"
            "000.00.08.H32,Sở Z,1.000010,Thủ tục X,Phí X,fee,10000\n"
            "000.00.08.H32,Sở Z,1.000020,Thủ tục Y,Phí Y,fee,20000\n"
            "000.00.08.H32,Sở Z,1.000030,Thủ tục K,Phí K,fee,30000\n"))
        assert report.ok, report.lines()
    client = make_api_client(gw, agencies=("000.00.08.H32",))
    at = Portal(http, gw, clock, client)
    at.create("Z-1", "000.00.08.H32", "1.000010", 10_000, vn(2026, 11, 3))
    second = at.create("Z-1", "000.00.08.H32", "1.000020", 20_000, vn(2026, 11, 4))
    at.online(second, "momo", vn(2026, 11, 4, 10, 5))
    at.create("Z-2", "000.00.08.H32", "1.000030", 0, vn(2026, 11, 5),
              fee_items=[{"name": "Phí K (miễn)", "kind": "fee", "amount": 0}])
    clock.current = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    row = get(http, client, NOV).get_json()["rows"][0]
    assert (row["fee_dossiers"], row["online_paid_dossiers"], row["fee_procedures"],
            row["procedures_with_fee_dossiers"], row["procedures_paid_online"]) \
        == (1, 1, 3, 2, 2)
    # 6 × 1 + 2 × min(1, (2/3) / 0.8) + 2 × 1 = 6 + 1.6667 + 2
    assert (row["indicator_3_5_percent"], row["indicator_3_5b_percent"], row["points"]) \
        == (66.67, 100.0, 9.67)
