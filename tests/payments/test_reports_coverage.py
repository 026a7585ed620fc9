"""The coverage report (766's 3.5 / 3.5b, and the 100 % target), figures worked by hand.

Agency A (000.00.01.H32), November 2026, today = 26/11/2026:

  P1 2.000488 fee 200 000, online on    dossier 05/11 paid online            -> fine
  P2 2.000815 fee  20 000, online on    dossier 06/11 paid at the counter;
                                        dossier 20/10 paid online on 03/11   -> no online payment
                                        (that dossier was received in October)
  P4 1.000894 charge 1 500 000, online OFF  dossier 07/11 paid at the counter -> disabled
  P5 1.001233 fee 0 (exempt)            not fee-bearing
  P6 2.001263 fee 3 500 000 until 31/12/2025, 3 800 000 since 01/01/2026; a cancelled
                                        payment only                          -> no dossier
  P7 1.009999 fee 100 000 from 01/01/2027 only: not fee-bearing yet
  1.012345 (not in the catalog)         dossier 08/11 paid at the counter    -> uncatalogued

  fee-bearing 4 (P1 P2 P4 P6); online enabled 3 (75.0 %); with fee dossiers 3 (P1 P2 P4:
  75.0 %); paid online 1 of those 3 (33.3 %); meets 100 %: no.

Agency B (H32.12): P3 1.001234 charge 50 000, online on, dossier paid online -> 1/1/1/1.
Totals: 5, 4 (80.0), 4 (80.0), 2 (50.0).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from payments import reports
from payments.models import Agency, FeeItem, Procedure
from payments.reports import Period
from payments.services.gateway import Gateway
from tests.factories import Clock, make_api_client, make_procedure
from tests.payments.reporting import record, vn

A, B = "000.00.01.H32", "H32.12"
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))
TODAY = date(2026, 11, 26)


@pytest.fixture
def client_id(gw: Gateway, clock: Clock) -> str:
    client = make_api_client(gw, agencies=(A, B))
    make_procedure(gw, agency=A, code="2.000488", fees=(("Phí", "fee", 200_000),))
    make_procedure(gw, agency=A, code="2.000815", name="Chứng thực bản sao",
                   fees=(("Phí", "fee", 20_000),))
    make_procedure(gw, agency=A, code="1.000894", name="Kết hôn có yếu tố nước ngoài",
                   fees=(("Lệ phí", "charge", 1_500_000),), online=False)
    make_procedure(gw, agency=A, code="1.001233", fees=(("Miễn phí", "fee", 0),))
    p6 = make_procedure(gw, agency=A, code="2.001263", name="Thẻ công chứng viên",
                        fees=(("Phí thẩm định", "fee", 3_500_000),))
    make_procedure(gw, agency=A, code="1.009999", fees=(("Phí mới", "fee", 100_000),),
                   effective_from=date(2027, 1, 1))
    make_procedure(gw, agency=B, code="1.001234", fees=(("Lệ phí", "charge", 50_000),))
    with gw.sessions.begin() as session:
        procedure = session.get(Procedure, p6)
        assert procedure is not None
        procedure.fee_items[0].effective_to = date(2025, 12, 31)
        procedure.fee_items.append(FeeItem(name="Phí thẩm định", kind="fee", amount=3_800_000,
                                           effective_from=date(2026, 1, 1)))
    c = client.id
    record(gw, clock, c, agency=A, procedure="2.000488", amount=200_000,
           paid_at=vn(2026, 11, 5), via="vnpay")
    record(gw, clock, c, agency=A, procedure="2.000815", amount=20_000, paid_at=vn(2026, 11, 6))
    record(gw, clock, c, agency=A, procedure="2.000815", amount=20_000, paid_at=vn(2026, 11, 3),
           via="momo", received=date(2026, 10, 20))
    record(gw, clock, c, agency=A, procedure="1.000894", amount=1_500_000,
           paid_at=vn(2026, 11, 7))
    cancelled = record(gw, clock, c, agency=A, procedure="2.001263", amount=3_800_000,
                       paid_at=None, created_at=vn(2026, 11, 9))
    with gw.sessions.begin() as session:
        from payments.models import Payment

        session.get(Payment, cancelled).status = "cancelled"  # type: ignore[union-attr]
    record(gw, clock, c, agency=A, procedure="1.012345", amount=75_000, paid_at=vn(2026, 11, 8))
    record(gw, clock, c, agency=B, procedure="1.001234", amount=50_000,
           paid_at=vn(2026, 11, 10), via="zalopay")
    clock.current = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    return c


def coverage(gw: Gateway, period: Period = NOVEMBER) -> dict[str, object]:
    with gw.sessions() as session:
        return reports.coverage(session, {A, B}, period, TODAY).to_dict()


def counts(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(row[k] for k in (
        "key", "fee_procedures", "online_enabled", "online_enabled_percent",
        "with_fee_dossiers", "with_fee_dossiers_percent", "paid_online", "paid_online_percent",
        "meets_target"))


def test_coverage_per_agency(gw: Gateway, client_id: str) -> None:
    result = coverage(gw)
    assert result["from"] == "2026-11-01" and result["to"] == "2026-11-30"
    assert result["target_percent"] == 100 and result["fees_on"] == "2026-11-26"
    rows = result["rows"]
    assert [counts(r) for r in rows] == [  # type: ignore[union-attr]
        (A, 4, 3, 75.0, 3, 75.0, 1, 33.3, False),
        (B, 1, 1, 100.0, 1, 100.0, 1, 100.0, True),
    ]
    assert counts(result["totals"]) == ("total", 5, 4, 80.0, 4, 80.0, 2, 50.0, False)  # type: ignore[arg-type]


def test_procedures_that_fall_short_and_uncatalogued_codes(gw: Gateway, client_id: str) -> None:
    a = coverage(gw)["rows"][0]  # type: ignore[index]
    assert [(p["code"], p["reasons"]) for p in a["short"]] == [
        ("1.000894", ["online_payment_disabled", "no_online_payment"]),
        ("2.000815", ["no_online_payment"]),
        ("2.001263", ["no_fee_dossiers"]),
    ]
    p2 = a["short"][1]
    assert (p2["name"], p2["online_payment_enabled"], p2["fee_dossiers"],
            p2["online_dossiers"]) == ("Chứng thực bản sao", True, 1, 0)
    assert a["uncatalogued"] == [{"code": "1.012345", "fee_dossiers": 1}]
    assert coverage(gw)["rows"][1]["short"] == []  # type: ignore[index]


def test_fees_in_force_at_the_end_of_a_past_period(gw: Gateway, client_id: str) -> None:
    """In 2025 (fees of 31/12/2025): P7 not yet, P6 in force (its old line); no dossiers."""
    result = coverage(gw, Period(date(2025, 1, 1), date(2025, 12, 31)))
    assert result["fees_on"] == "2025-12-31"
    assert counts(result["rows"][0]) == (A, 4, 3, 75.0, 0, 0.0, 0, None, False)  # type: ignore[index]


def test_october_counts_the_dossier_received_then(gw: Gateway, client_id: str) -> None:
    october = coverage(gw, Period(date(2026, 10, 1), date(2026, 10, 31)))
    # the P2 dossier received 20/10 and paid online on 03/11 counts for October
    assert counts(october["rows"][0]) == (A, 4, 3, 75.0, 1, 25.0, 1, 100.0, False)  # type: ignore[index]


def test_agency_without_catalog_still_listed(gw: Gateway, client_id: str) -> None:
    with gw.sessions() as session:
        result = reports.coverage(session, {"000.00.09.H32"}, NOVEMBER, TODAY).to_dict()
        assert session.query(Agency).filter_by(code="000.00.09.H32").count() == 0
    assert counts(result["rows"][0]) == ("000.00.09.H32", 0, 0, None, 0, None, 0, None, False)  # type: ignore[index]
