"""`feegate catalog import|export`: upsert, idempotence, rejected rows, CSV and XLSX."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from payments import catalog
from payments.models import Agency, Procedure
from payments.services.gateway import Gateway
from tests.factories import make_api_client

HEADER = ",".join(catalog.COLUMNS)

GOOD = """\
agency_code,agency_name,parent_code,agency_level,procedure_code,procedure_name,online_payment,fee_name,fee_kind,fee_amount,effective_from,effective_to
000.00.00.H32,UBND tỉnh Khánh Hòa,,province,,,,,,,,
000.00.01.H32,Sở Tư pháp tỉnh Khánh Hòa,000.00.00.H32,department,,,,,,,,
H32.12,UBND phường Nha Trang,H32,commune,,,,,,,,
000.00.01.H32,,,,2.000488,Cấp Phiếu lý lịch tư pháp,yes,,,,,
000.00.01.H32,,,,2.000488,,,Phí cung cấp thông tin lý lịch tư pháp,fee,200000,2026-01-01,
000.00.01.H32,,,,2.000488,,,Phí cung cấp thông tin lý lịch tư pháp,phí,100000,2020-01-01,2025-12-31
000.00.01.H32,,,,1.001233,Cấp giấy đăng ký hoạt động VPCC,có,Phí thẩm định,fee,1000000,,
000.00.01.H32,,,,1.001233,,,Lệ phí cấp giấy,lệ phí,250.000,,
H32.12,,,,2.000815.000.00.00.H32,Chứng thực bản sao,no,Phí chứng thực,fee,2000,,
"""


def write(tmp_path: Path, text: str, name: str = "catalog.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(gw: Gateway, path: Path) -> catalog.ImportReport:
    with gw.sessions.begin() as session:
        return catalog.import_file(session, path)


def state(gw: Gateway) -> list[tuple[Any, ...]]:
    """Everything in the catalog, as plain tuples."""
    with gw.sessions() as session:
        out: list[tuple[Any, ...]] = [
            (a.code, a.name, a.parent_code, a.level, a.catalogued)
            for a in session.scalars(select(Agency).order_by(Agency.code))
        ]
        for p in session.scalars(select(Procedure).options(selectinload(Procedure.fee_items))
                                 .order_by(Procedure.code)):
            out.append((p.agency.code, p.code, p.name, p.online_payment_enabled, p.catalogued,
                        sorted((f.name, f.kind, f.amount, f.effective_from, f.effective_to)
                               for f in p.fee_items)))
        return out


def test_import_creates_the_catalog(gw: Gateway, tmp_path: Path) -> None:
    report = run_import(gw, write(tmp_path, GOOD))
    assert report.rejected == [] and report.ok
    assert (report.agencies.created, report.procedures.created, report.fee_items.created) == (
        3, 3, 5)
    assert state(gw) == [
        ("000.00.00.H32", "UBND tỉnh Khánh Hòa", None, "province", True),
        ("000.00.01.H32", "Sở Tư pháp tỉnh Khánh Hòa", "000.00.00.H32", "department", True),
        ("H32.12", "UBND phường Nha Trang", "H32", "commune", True),
        ("000.00.01.H32", "1.001233", "Cấp giấy đăng ký hoạt động VPCC", True,
         True, [("Lệ phí cấp giấy", "charge", 250_000, None, None),
                ("Phí thẩm định", "fee", 1_000_000, None, None)]),
        ("000.00.01.H32", "2.000488", "Cấp Phiếu lý lịch tư pháp", True, True,
         [("Phí cung cấp thông tin lý lịch tư pháp", "fee", 100_000, date(2020, 1, 1),
           date(2025, 12, 31)),
          ("Phí cung cấp thông tin lý lịch tư pháp", "fee", 200_000, date(2026, 1, 1), None)]),
        ("H32.12", "2.000815.000.00.00.H32", "Chứng thực bản sao", False, True,
         [("Phí chứng thực", "fee", 2_000, None, None)]),
    ]
    # the parent H32 is not catalogued: a warning, not a rejection
    assert report.warnings == [(4, "parent agency H32 is not in the catalog yet")]


def test_import_is_idempotent(gw: Gateway, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    run_import(gw, path)
    before = state(gw)
    again = run_import(gw, path)
    assert state(gw) == before
    assert (again.agencies.created, again.agencies.updated, again.agencies.unchanged) == (0, 0, 3)
    assert (again.procedures.created, again.procedures.updated) == (0, 0)
    f = again.fee_items
    assert (f.created, f.updated, f.removed, f.unchanged) == (0, 0, 0, 5)


def test_update_replaces_a_procedures_fee_schedule(gw: Gateway, tmp_path: Path) -> None:
    run_import(gw, write(tmp_path, GOOD))
    update = write(tmp_path, HEADER + "\n"
                   "000.00.01.H32,,,,1.001233,,no,Phí thẩm định,fee,1200000,,\n", "u.csv")
    report = run_import(gw, update)
    assert report.ok
    assert (report.procedures.updated, report.fee_items.updated, report.fee_items.removed) == (
        1, 1, 1)
    proc = [row for row in state(gw) if row[1:2] == ("1.001233",)][0]
    assert proc[3] is False  # online payment switched off
    assert proc[5] == [("Phí thẩm định", "fee", 1_200_000, None, None)]
    # procedures the file does not mention keep their fees
    assert [row for row in state(gw) if row[1:2] == ("2.000488",)][0][5][1][2] == 200_000


BAD_ROWS = """\
agency_code,agency_name,parent_code,agency_level,procedure_code,procedure_name,online_payment,fee_name,fee_kind,fee_amount,effective_from,effective_to
000.00.01.H32,Sở Tư pháp tỉnh Khánh Hòa,,,,,,,,,,
000.00.01.h3,Sai mã,,,,,,,,,,
000.00.01.H32,,,,1.23,Sai mã thủ tục,,,,,,
000.00.01.H32,,,,1.000894,Kết hôn có yếu tố nước ngoài,yes,Lệ phí,charge,12a,,
000.00.01.H32,,,,1.000894,,,Phí khác,fee,5000,,
000.00.01.H32,,,,2.000488,Lý lịch tư pháp,yes,Phí,fee,-5,,
000.00.01.H32,,,,2.000815,Chứng thực,yes,Phí,tax,2000,,
000.00.01.H32,,,,2.001263,Thẻ công chứng viên,yes,Phí,fee,3500000,2026-13-01,
000.00.01.H32,,,,2.001264,Thủ tục X,yes,Phí,fee,100,2026-06-01,2026-01-01
000.00.02.H32,,,,,,,,,,,
000.00.01.H32,,,,1.009999,,,Phí,fee,100,,
000.00.01.H32,,,,,,,Phí không có thủ tục,fee,100,,
000.00.01.H32,Tên khác,,,,,,,,,,
000.00.01.H32,,,,1.000001,Thủ tục Y,yes,Phí Y,fee,1000,2026-01-01,
000.00.01.H32,,,,1.000001,,,Phí Y,fee,1500,2026-06-01,
000.00.01.H32,,,,1.000002,Thủ tục Z,maybe,,,,,
000.00.01.H32,,000.00.01.H32,,,,,,,,,
000.00.01.H32,,,,1.000003,Thủ tục W,yes,Phí W,fee,1000.5,,
"""

EXPECTED_REJECTIONS = {
    3: "agency_code: '000.00.01.H3' is not an agency code",
    4: "procedure_code: '1.23' is not a procedure code",
    5: "fee_amount: '12a' is not a whole number of đồng",
    6: "procedure 1.000894 of 000.00.01.H32 is not in the catalog; give its procedure_name "
       "to create it (line 5, which names it, was rejected)",
    7: "fee_amount: may not be negative",
    8: "fee_kind: 'tax' is not fee (phí) or charge (lệ phí)",
    9: "effective_from: '2026-13-01' is not a date",
    10: "effective_to: is before effective_from",
    11: "agency 000.00.02.H32 is not in the catalog; give its agency_name to create it",
    12: "procedure 1.009999 of 000.00.01.H32 is not in the catalog; give its procedure_name",
    13: "procedure_code: is required for a fee row",
    14: "agency_name differs from line 2",
    16: "fee 'Phí Y' is in force twice: its dates overlap line 15",
    17: "online_payment: 'maybe' is not yes/no",
    18: "parent_code: an agency cannot be its own parent",
    19: "fee_amount: '1000.5' is not a whole number of đồng",
}


def test_bad_rows_are_rejected_with_line_and_reason(gw: Gateway, tmp_path: Path) -> None:
    report = run_import(gw, write(tmp_path, BAD_ROWS))
    rejected = dict(report.rejected)
    assert sorted(rejected) == sorted([*EXPECTED_REJECTIONS, 15])
    for line, reason in EXPECTED_REJECTIONS.items():
        assert rejected[line].startswith(reason), (line, rejected[line])
    # line 15 is fine on its own, but its procedure's schedule failed on line 16
    assert rejected[15] == ("the fee schedule of 1.000001 was left unchanged because line 16 "
                            "was rejected")
    # only line 2 was accepted: the agency; no procedure, no fee from any bad row
    assert state(gw) == [("000.00.01.H32", "Sở Tư pháp tỉnh Khánh Hòa", None, None, True)]
    text = "\n".join(report.lines())
    assert "rejected: 17" in text and "line 5: fee_amount: '12a'" in text


def test_bad_rows_leave_existing_data_unchanged(gw: Gateway, tmp_path: Path) -> None:
    run_import(gw, write(tmp_path, GOOD))
    before = state(gw)
    bad = write(tmp_path, HEADER + "\n"
                "000.00.01.H32,,,,2.000488,Tên mới,no,Phí cung cấp thông tin lý lịch tư pháp,"
                "fee,300000,2026-01-01,\n"
                "000.00.01.H32,,,,2.000488,,,Phí mới,fee,abc,,\n", "bad.csv")
    report = run_import(gw, bad)
    assert [n for n, _ in report.rejected] == [2, 3]
    assert state(gw) == before


def test_semicolons_vietnamese_headers_and_a_bom(gw: Gateway, tmp_path: Path) -> None:
    text = ("\ufeffMã cơ quan;Tên cơ quan;Mã thủ tục;Tên thủ tục;Thanh toán trực tuyến;"
            "Tên khoản thu;Loại;Mức thu;Hiệu lực từ\n"
            "000.00.01.H32;Sở Tư pháp tỉnh Khánh Hòa;2.000488;Lý lịch tư pháp;Có;"
            "Phí;phí;200.000;01/01/2026\n")
    report = run_import(gw, write(tmp_path, text))
    assert report.ok, report.rejected
    assert state(gw)[1][5] == [("Phí", "fee", 200_000, date(2026, 1, 1), None)]


def test_xlsx_import_with_excel_typed_cells(gw: Gateway, tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(catalog.COLUMNS))
    ws.append(["000.00.01.H32", "Sở Tư pháp tỉnh Khánh Hòa", None, "department"])
    # Excel made numbers of the code 1.000110 and of the amount, and a date of the date
    ws.append(["000.00.01.H32", None, None, None, 1.00011, "Thủ tục số", True, "Phí", "fee",
               150000.0, datetime(2026, 1, 1), None])
    ws.append(["000.00.01.H32", None, None, None, "2.000488", "Lý lịch", "x", "Phí", "fee",
               "200000", None, None])
    ws.append([None] * 12)  # blank rows are skipped
    ws.append(["bad code", "X"])
    path = tmp_path / "catalog.xlsx"
    wb.save(path)
    report = run_import(gw, path)
    assert report.rejected == [(6, "agency_code: 'BAD CODE' is not an agency code "
                                   "(000.00.01.H32 or H32.12: digits, capitals and dots)")]
    procedures = {row[1]: row for row in state(gw)[1:]}
    assert procedures["1.000110"][5] == [("Phí", "fee", 150_000, date(2026, 1, 1), None)]
    assert procedures["2.000488"][3] is True


def test_unreadable_files_import_nothing(gw: Gateway, tmp_path: Path) -> None:
    with pytest.raises(catalog.CatalogFileError, match="agency_code"):
        catalog.read_file(write(tmp_path, "code,name\nX,Y\n"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"agency_code,agency_name\n000.00.01.H32,S\xf5\n")  # not UTF-8
    with pytest.raises(catalog.CatalogFileError, match="UTF-8"):
        catalog.read_file(latin)
    with pytest.raises(catalog.CatalogFileError, match=".csv or .xlsx"):
        catalog.read_file(write(tmp_path, GOOD, "catalog.txt"))
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a zip")
    with pytest.raises(catalog.CatalogFileError, match="XLSX"):
        catalog.read_file(fake)
    with pytest.raises(catalog.CatalogFileError, match="empty"):
        catalog.read_file(write(tmp_path, ""))


def test_a_bare_agency_becomes_catalogued(gw: Gateway, tmp_path: Path) -> None:
    make_api_client(gw, agencies=("000.00.05.H32",))  # recorded bare, not catalogued
    rejected = run_import(gw, write(tmp_path, HEADER + "\n000.00.05.H32,,,,,,,,,,,\n"))
    assert rejected.rejected[0][1].startswith("agency 000.00.05.H32 is not in the catalog")
    report = run_import(gw, write(tmp_path, HEADER + "\n000.00.05.H32,Phòng Tư pháp,,,,,,,,,,\n"))
    assert report.agencies.updated == 1
    assert ("000.00.05.H32", "Phòng Tư pháp", None, None, True) in state(gw)


def test_export_round_trips(gw: Gateway, tmp_path: Path) -> None:
    run_import(gw, write(tmp_path, GOOD))
    before = state(gw)
    with gw.sessions() as session:
        rows = catalog.export_rows(session)
    assert [r["agency_code"] for r in rows if not r["procedure_code"]] == [
        "000.00.00.H32", "000.00.01.H32", "H32.12"]  # parents first
    exported = tmp_path / "export.csv"
    exported.write_bytes(catalog.to_csv(rows))
    assert exported.read_bytes().startswith(b"\xef\xbb\xbf")
    report = run_import(gw, exported)
    assert report.ok and report.agencies.updated == 0 and report.procedures.updated == 0
    assert report.fee_items.unchanged == 5 and report.fee_items.created == 0
    book = tmp_path / "export.xlsx"
    book.write_bytes(catalog.to_xlsx(rows))
    ws = load_workbook(io.BytesIO(book.read_bytes())).active
    assert ws is not None and [c.value for c in ws[1]] == list(catalog.COLUMNS)
    report = run_import(gw, book)
    assert report.ok and report.fee_items.unchanged == 5
    assert state(gw) == before


def test_agency_code_formats() -> None:
    assert catalog.agency_scheme("000.00.01.H32") == "qcvn102"
    assert catalog.agency_scheme("H32.12") == "qd20"
    assert catalog.agency_scheme("H32") == "qd20"
    assert catalog.agency_scheme("G01") == "qd20"
    assert catalog.agency_scheme("000.00.01.32") is None
    assert catalog.agency_scheme("h32.12") is None
    assert catalog.agency_scheme("H32." + "1" * 40) is None
    assert catalog.province_of("000.01.01.H32") == "H32"
    assert catalog.province_of("H32.12.3") == "H32"
    for good in ("1.001234", "2.000815.000.00.00.H55", "1.013229.01", "2.000815.000.00.00.H55.02"):
        assert catalog.PROCEDURE_CODE.match(good)
    for bad in ("0.001234", "1.00123", "1.0012345", "1.001234."):
        assert not catalog.PROCEDURE_CODE.match(bad)


def test_imported_fees_price_new_payments(gw: Gateway, tmp_path: Path, app: Flask) -> None:
    run_import(gw, write(tmp_path, GOOD))
    client = make_api_client(gw)
    http = app.test_client()
    body = {"reference": "R-1", "procedure_code": "2.000488", "agency_code": "000.00.01.H32",
            "return_url": "https://portal.example.gov.vn/x"}
    wrong = http.post("/api/v1/payments", json={**body, "amount": 100_000},
                      headers=client.headers)  # the 2020 fee, no longer in force
    assert wrong.status_code == 422
    right = http.post("/api/v1/payments", json={**body, "amount": 200_000},
                      headers=client.headers)
    assert right.status_code == 201


# -- the commands -----------------------------------------------------------------------------


def test_cli_import_export(app: Flask, gw: Gateway, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    path = write(tmp_path, GOOD)
    dry = runner.invoke(args=["catalog", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "3 created" in dry.output
    assert state(gw) == []
    done = runner.invoke(args=["catalog", "import", str(path)])
    assert done.exit_code == 0, done.output
    assert "fee items:  5 created" in done.output
    exported = runner.invoke(args=["catalog", "export"])
    assert exported.exit_code == 0
    assert exported.output.splitlines()[0] == HEADER
    assert "Sở Tư pháp tỉnh Khánh Hòa" in exported.output
    out = tmp_path / "out.xlsx"
    to_file = runner.invoke(args=["catalog", "export", "-o", str(out)])
    assert to_file.exit_code == 0 and out.exists()


def test_cli_reports_rejected_rows_and_exits_1(app: Flask, gw: Gateway, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["catalog", "import", str(write(tmp_path, BAD_ROWS))])
    assert result.exit_code == 1
    assert "line 5: fee_amount: '12a' is not a whole number of đồng" in result.output
    assert "17 row(s) rejected" in result.output
    unreadable = runner.invoke(args=["catalog", "import",
                                     str(write(tmp_path, "x,y\n1,2\n", "bad.csv"))])
    assert unreadable.exit_code == 1 and "nothing was imported" in unreadable.output
