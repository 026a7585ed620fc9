"""The online-share report, with figures worked out by hand.

The world (November 2026, Vietnam time; A = Sở Tư pháp 000.00.01.H32, B = ward H32.12):

  id   agency proc      amount  paid (VN)              via      notes
  a1   A      2.000488  200000  03/11 10:00            vnpay    received 02/11
  a2   A      2.000488  200000  10/11 09:00            momo
  a3   A      2.000488  200000  12/11 14:00            counter  received 28/10 (October!)
  a4   A      2.000815   20000  15/11 08:00            counter
  a5   A      2.000815   20000  20/11 10:00            vnpay    recorded by ANOTHER client
  a6   A      2.000488  200000  31/10 23:30            vnpay    last day of October, 23:30
  a7   A      2.000815   20000  01/11 00:30            momo     = 31/10 17:30 UTC: November
  a8   A      2.000488  200000  04/11 10:00 + 10:20    vnpay, then momo: a double payment
  a9   A      2.000488  200000  18/11 10:00            counter  refunded in full later
  a10  A      2.000488  200000  unpaid
  a11  A      2.000815       0  16/11 10:00            counter  exempt dossier (every line 0)
  b1   B      1.001234   50000  05/11                  counter
  b2   B      1.001234   50000  06/11                  counter
  b3   B      1.001234   50000  07/11                  zalopay
  x1   X      1.001234  100000  08/11                  vnpay    agency the client may not see

November, basis paid_at:
  A: paid a1 a2 a3 a4 a5 a7 a8 a9 = 8, online a1 a2 a5 a7 a8 = 5, counter a3 a4 a9 = 3
     amounts 1 060 000 / 640 000 / 420 000; share 62.5
  B: 3 / 1 / 2, 150 000 / 50 000 / 100 000; share 33.33… -> 33.3
  total: 11 / 6 / 5, 1 210 000 / 690 000 / 520 000; share 54.54… -> 54.5
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from payments import reports
from payments.models import Agency
from payments.reports import Period, ShareQuery
from payments.services.gateway import Gateway
from tests.factories import Clock, make_api_client, make_procedure
from tests.payments.reporting import pay_again_online, record, set_refunded, vn

A, B, X = "000.00.01.H32", "H32.12", "000.00.02.H32"
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


@dataclass
class World:
    client_id: str
    ids: dict[str, str]


@pytest.fixture
def world(gw: Gateway, clock: Clock) -> World:
    client = make_api_client(gw, agencies=(A, B))
    other = make_api_client(gw, agencies=(A, X), name="Another portal")
    make_procedure(gw, agency=A, code="2.000488", name="Cấp Phiếu lý lịch tư pháp",
                   fees=(("Phí cung cấp thông tin", "fee", 200_000),))
    make_procedure(gw, agency=A, code="2.000815", name="Chứng thực bản sao",
                   fees=(("Phí chứng thực", "fee", 20_000),))
    make_procedure(gw, agency=B, code="1.001234", name="Đăng ký khai sinh (lệ phí)",
                   fees=(("Lệ phí", "charge", 50_000),))
    with gw.sessions.begin() as session:
        session.execute(update(Agency).where(Agency.code == B).values(name="UBND phường Nha Trang"))
    c = client.id

    def a(proc: str, amount: int, paid: datetime | None, via: str = "counter", **kw: object) -> str:
        return record(gw, clock, kw.pop("by", c), agency=A, procedure=proc,  # type: ignore[arg-type]
                      amount=amount, paid_at=paid, via=via, **kw)  # type: ignore[arg-type]

    ids = {
        "a1": a("2.000488", 200_000, vn(2026, 11, 3), "vnpay", received=date(2026, 11, 2)),
        "a2": a("2.000488", 200_000, vn(2026, 11, 10, 9), "momo"),
        "a3": a("2.000488", 200_000, vn(2026, 11, 12, 14), received=date(2026, 10, 28)),
        "a4": a("2.000815", 20_000, vn(2026, 11, 15, 8)),
        "a5": a("2.000815", 20_000, vn(2026, 11, 20), "vnpay", by=other.id),
        "a6": a("2.000488", 200_000, vn(2026, 10, 31, 23, 30), "vnpay",
                created_at=vn(2026, 10, 31, 23, 0)),
        "a7": a("2.000815", 20_000, vn(2026, 11, 1, 0, 30), "momo",
                created_at=vn(2026, 11, 1, 0, 20)),
        "a8": a("2.000488", 200_000, vn(2026, 11, 4), "vnpay"),
        "a9": a("2.000488", 200_000, vn(2026, 11, 18)),
        "a10": a("2.000488", 200_000, None, created_at=vn(2026, 11, 19)),
        "a11": a("2.000815", 0, vn(2026, 11, 16),
                 fee_items=[("Phí chứng thực (miễn)", "fee", 0)]),
    }
    pay_again_online(gw, clock, ids["a8"], "momo", vn(2026, 11, 4, 10, 20))
    set_refunded(gw, ids["a9"], 200_000)
    for key, day, via in (("b1", 5, "counter"), ("b2", 6, "counter"), ("b3", 7, "zalopay")):
        ids[key] = record(gw, clock, c, agency=B, procedure="1.001234", amount=50_000,
                          paid_at=vn(2026, 11, day), via=via)
    ids["x1"] = record(gw, clock, other.id, agency=X, procedure="1.001234", amount=100_000,
                       paid_at=vn(2026, 11, 8), via="vnpay")
    clock.current = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    return World(c, ids)


def report(gw: Gateway, query: ShareQuery, codes: set[str] = frozenset({A, B}),  # type: ignore[assignment]
           target: int = 30) -> dict[str, object]:
    with gw.sessions() as session:
        return reports.online_share(session, set(codes), query, target)


def figures(row: dict[str, object]) -> tuple[object, ...]:
    return (row["key"], row["paid_count"], row["online_count"], row["counter_count"],
            row["paid_amount"], row["online_amount"], row["counter_amount"],
            row["online_share_percent"], row["meets_target"])


def test_by_agency(gw: Gateway, world: World) -> None:
    result = report(gw, ShareQuery(NOVEMBER, "agency"))
    assert result["from"] == "2026-11-01" and result["to"] == "2026-11-30"
    assert result["group_by"] == "agency" and result["target_percent"] == 30
    rows = result["rows"]
    assert [figures(r) for r in rows] == [  # type: ignore[union-attr]
        (A, 8, 5, 3, 1_060_000, 640_000, 420_000, 62.5, True),
        (B, 3, 1, 2, 150_000, 50_000, 100_000, 33.3, True),
    ]
    assert [r["label"] for r in rows] == ["Sở Tư pháp tỉnh Khánh Hòa", "UBND phường Nha Trang"]  # type: ignore[union-attr,index]
    assert figures(result["totals"]) == (  # type: ignore[arg-type]
        "total", 11, 6, 5, 1_210_000, 690_000, 520_000, 54.5, True)
    assert result["totals"]["label"] == "Tổng cộng"  # type: ignore[index]


def test_by_procedure(gw: Gateway, world: World) -> None:
    rows = report(gw, ShareQuery(NOVEMBER, "procedure"))["rows"]
    assert [figures(r) for r in rows] == [  # type: ignore[union-attr]
        ("1.001234", 3, 1, 2, 150_000, 50_000, 100_000, 33.3, True),
        ("2.000488", 5, 3, 2, 1_000_000, 600_000, 400_000, 60.0, True),
        ("2.000815", 3, 2, 1, 60_000, 40_000, 20_000, 66.7, True),
    ]
    assert [r["label"] for r in rows] == [  # type: ignore[union-attr,index]
        "Đăng ký khai sinh (lệ phí)", "Cấp Phiếu lý lịch tư pháp", "Chứng thực bản sao"]


def test_by_provider_counter_last_and_double_payment_counted_once(gw: Gateway,
                                                                  world: World) -> None:
    rows = report(gw, ShareQuery(NOVEMBER, "provider"))["rows"]
    # a8 was paid by VNPay first, then again by MoMo: it counts once, as VNPay
    assert [figures(r) for r in rows] == [  # type: ignore[union-attr]
        ("vnpay", 3, 3, 0, 420_000, 420_000, 0, 100.0, True),
        ("momo", 2, 2, 0, 220_000, 220_000, 0, 100.0, True),
        ("zalopay", 1, 1, 0, 50_000, 50_000, 0, 100.0, True),
        ("counter", 5, 0, 5, 520_000, 0, 520_000, 0.0, False),
    ]
    assert rows[-1]["label"].startswith("Tại quầy")  # type: ignore[index]
    assert rows[0]["label"] == "VNPAY"  # type: ignore[index]


def test_by_month_vietnam_time_boundaries(gw: Gateway, world: World) -> None:
    """a6 paid 31/10 23:30 (UTC+7) is October; a7 paid 01/11 00:30 (31/10 in UTC) is November."""
    result = report(gw, ShareQuery(Period(date(2026, 10, 1), date(2026, 11, 30)), "month"))
    assert [figures(r) for r in result["rows"]] == [  # type: ignore[union-attr]
        ("2026-10", 1, 1, 0, 200_000, 200_000, 0, 100.0, True),
        ("2026-11", 11, 6, 5, 1_210_000, 690_000, 520_000, 54.5, True),
    ]
    assert [r["label"] for r in result["rows"]] == ["Tháng 10/2026", "Tháng 11/2026"]  # type: ignore[union-attr,index]
    assert figures(result["totals"]) == (  # type: ignore[arg-type]
        "total", 12, 7, 5, 1_410_000, 890_000, 520_000, 58.3, True)


def test_single_days_at_the_boundary(gw: Gateway, world: World) -> None:
    last_of_october = report(gw, ShareQuery(Period(date(2026, 10, 31), date(2026, 10, 31))))
    assert last_of_october["totals"]["paid_count"] == 1  # type: ignore[index]  # a6 only
    first_of_november = report(gw, ShareQuery(Period(date(2026, 11, 1), date(2026, 11, 1))))
    assert first_of_november["totals"]["paid_count"] == 1  # type: ignore[index]  # a7 only


def test_future_to_lists_empty_months(gw: Gateway, world: World) -> None:
    result = report(gw, ShareQuery(Period(date(2026, 11, 1), date(2026, 12, 31)), "month"))
    december = result["rows"][-1]  # type: ignore[index]
    assert figures(december) == ("2026-12", 0, 0, 0, 0, 0, 0, None, False)
    assert december["label"] == "Tháng 12/2026"


def test_basis_received_at(gw: Gateway, world: World) -> None:
    """a3 was paid in November for a dossier received 28/10: October by receipt date.
    a6 and a7 sent no receipt date: their creation date in Vietnam decides (31/10, 01/11)."""
    result = report(gw, ShareQuery(Period(date(2026, 10, 1), date(2026, 11, 30)), "month",
                                   "received_at"))
    assert result["basis"] == "received_at"
    assert [figures(r) for r in result["rows"]] == [  # type: ignore[union-attr]
        ("2026-10", 2, 1, 1, 400_000, 200_000, 200_000, 50.0, True),
        ("2026-11", 10, 6, 4, 1_010_000, 690_000, 320_000, 60.0, True),
    ]
    november = report(gw, ShareQuery(NOVEMBER, "agency", "received_at"))["rows"]
    assert [figures(r) for r in november] == [  # type: ignore[union-attr]
        (A, 7, 5, 2, 860_000, 640_000, 220_000, 71.4, True),
        (B, 3, 1, 2, 150_000, 50_000, 100_000, 33.3, True),
    ]


def test_exempt_unpaid_and_foreign_agency_are_not_counted(gw: Gateway, world: World) -> None:
    everything = report(gw, ShareQuery(NOVEMBER, "agency"), codes={A, B, X})
    by_key = {r["key"]: r for r in everything["rows"]}  # type: ignore[union-attr,index]
    assert by_key[X]["paid_count"] == 1  # the other client's agency, when allowed
    assert by_key[A]["paid_count"] == 8  # not a10 (unpaid) nor a11 (every fee line is 0)
    only_b = report(gw, ShareQuery(NOVEMBER, "agency"), codes={B})
    assert [r["key"] for r in only_b["rows"]] == [B]  # type: ignore[union-attr,index]
    assert report(gw, ShareQuery(NOVEMBER), codes=set())["rows"] == []


def test_target_flag_uses_the_configured_target(gw: Gateway, world: World) -> None:
    rows = report(gw, ShareQuery(NOVEMBER, "agency"), target=60)["rows"]
    # A: 62.5 >= 60; B: 33.3 < 60
    assert [(r["key"], r["meets_target"]) for r in rows] == [(A, True), (B, False)]  # type: ignore[union-attr,index]


def test_share_rounding_and_target_are_exact() -> None:
    assert reports.round_share(reports.exact_share(3, 10)) == 30.0
    assert reports.meets(reports.exact_share(3, 10), 30) is True
    share = reports.exact_share(749, 2500)  # 29.96 %
    assert reports.round_share(share) == 30.0
    assert reports.meets(share, 30) is False
    assert reports.round_share(reports.exact_share(601, 2000)) == 30.1  # 30.05: halves go up
    assert reports.round_share(reports.exact_share(1, 3)) == 33.3
    assert reports.round_share(reports.exact_share(2, 3)) == 66.7
    assert reports.exact_share(0, 0) is None and reports.meets(None, 0) is False
