"""Bounded statement uploads: caps refused with a clear message, large files matched by the
worker while the staff page shows progress (issue 10, items 6 and 9).

Through the staff page, `feegate reconcile import` and `feegate worker --once`, as a finance
officer and an operator meet them; never a 500.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.models import Payment, Reconciliation, ReconciliationItem
from payments.models.reconciliation import ReconciliationUpload
from payments.services.gateway import Gateway
from payments.statements import Limits, StatementFileError, StatementReader, read_statement
from tests.factories import Clock
from tests.flow import forms_of
from tests.web.test_staff_reconcile import FINANCE, paid, signed_in, upload  # noqa: F401

HEADER = "reference,amount,transaction_id,ghi_chu\n"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Small caps, so the limits are reached with small files; uploads over 2 KB queued."""
    return {"statement_max_rows": 1_000, "statement_max_bytes": 20 * 1024 * 1024,
            "statement_inline_bytes": 2_048, "upload_max_cell_chars": 128 * 1024}


def count(gw: Gateway, model: Any) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def text_of(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


# -- refused cleanly, on the page ----------------------------------------------------------


def test_a_nul_byte_is_refused_with_a_clear_message(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "finance")
    answer = upload(staff, (HEADER + "FG1,1000,T1,ab\x00cd\n").encode())
    assert answer.status_code == 422
    assert "ký tự NUL" in text_of(answer) and "Không có gì được ghi" in text_of(answer)
    assert count(gw, Reconciliation) == 0


def test_a_field_over_128_kib_is_refused_not_a_500(http: FlaskClient, gw: Gateway) -> None:
    staff = signed_in(http, gw, "finance")
    big = "x" * (128 * 1024 + 1)
    answer = upload(staff, (HEADER + f"FG1,1000,T1,{big}\n").encode())
    assert answer.status_code == 303  # over the inline size: queued, refused by the worker
    detail = answer.headers["Location"]
    from webhooks.worker import run_once

    assert run_once(gw).statements == 1
    page = staff.get(detail)
    assert page.status_code == 200
    html = text_of(page)
    assert 'data-testid="run-error"' in html and "dài hơn 128 KiB" in html
    assert count(gw, ReconciliationItem) == 0 and count(gw, ReconciliationUpload) == 0


def test_the_row_cap_is_a_clear_error_and_nothing_is_kept(tmp_path: Path, app: Flask,
                                                        gw: Gateway) -> None:
    rows = "".join(f"FGX{n:07d},1000,T{n},x\n" for n in range(1_001))
    path = tmp_path / "qua-nhieu.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    result = app.test_cli_runner().invoke(
        args=["reconcile", "import", "--provider", "sandbox", str(path)])
    assert result.exit_code == 1
    assert "tệp có hơn 1000 dòng; hãy chia nhỏ theo ngày" in result.output
    assert count(gw, Reconciliation) == 0 and count(gw, ReconciliationItem) == 0


def test_twenty_megabytes_of_empty_lines_are_refused_quickly_without_storing_rows(
        tmp_path: Path, app: Flask, gw: Gateway) -> None:
    path = tmp_path / "dong-trong.csv"
    path.write_bytes(HEADER.encode() + b"\n" * (20 * 1024 * 1024 - 100))
    started = time.monotonic()
    result = app.test_cli_runner().invoke(
        args=["reconcile", "import", "--provider", "sandbox", str(path)])
    assert result.exit_code == 1
    assert "dòng trống" in result.output
    assert time.monotonic() - started < 30  # the cap stops reading long before the end
    assert count(gw, ReconciliationItem) == 0


def test_the_reader_streams_and_refuses_each_limit() -> None:
    limits = Limits(max_bytes=1024 * 1024, max_rows=3, max_cell=64)
    good = (HEADER + "A,1,T,x\nB,2,T,y\n\n").encode()
    assert [r["reference"] for r in read_statement("a.csv", good, limits)] == ["A", "B"]
    with pytest.raises(StatementFileError, match="hơn 3 dòng"):
        read_statement("a.csv", (HEADER + "A,1,T,x\n" * 4).encode(), limits)
    with pytest.raises(StatementFileError, match="dài hơn"):
        read_statement("a.csv", (HEADER + "A,1,T," + "x" * 65 + "\n").encode(), limits)
    with pytest.raises(StatementFileError, match="NUL"):
        read_statement("a.csv", "reference,amount\x00\n".encode("utf-16"), limits)
    with pytest.raises(StatementFileError, match="lớn hơn"):
        read_statement("a.csv", b"reference\n" + b"A\n" * 600_000, limits)
    one_line = io.BytesIO(b"reference," + b"," * (4 * 1024 * 1024))
    with pytest.raises(StatementFileError):
        list(StatementReader("a.csv", one_line, Limits(max_cell=64)))


def test_an_xlsx_declaring_more_rows_than_allowed_is_refused_before_reading_them() -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["reference", "amount"])
    for n in range(50):
        sheet.append([f"FG{n}", 1000])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(StatementFileError, match="dòng"):
        read_statement("a.xlsx", out.getvalue(), Limits(max_rows=10))


# -- queued, matched by the worker, progress on the page ----------------------------------


def test_a_large_upload_is_queued_the_worker_matches_it_and_the_page_shows_progress(
        http: FlaskClient, gw: Gateway, paid: dict[str, Any], app: Flask) -> None:  # noqa: F811
    staff = signed_in(http, gw, "finance")
    lines = [f"{paid['reference']},140000,T0,Lệ phí"]
    lines += [f"FGKHONGCO{n:07d},150000,T{n},không rõ" for n in range(1, 400)]
    body = (HEADER + "\n".join(lines) + "\n").encode("utf-8-sig")
    assert len(body) > 2_048

    answer = upload(staff, body)

    assert answer.status_code == 303
    detail = answer.headers["Location"]
    run_id = detail.rstrip("/").rsplit("/", 1)[-1]
    waiting = text_of(staff.get(detail))
    assert "Đang chờ xử lý" in waiting and 'data-testid="check-again"' in waiting
    assert "http-equiv" not in waiting  # no self-reloading page
    assert f"/staff/reconciliations/{run_id}/progress" in waiting
    assert 'aria-live="polite"' in waiting
    progress = staff.get(f"/staff/reconciliations/{run_id}/progress").get_json()
    assert (progress["status"], progress["final"]) == ("queued", False)
    listing = text_of(staff.get("/staff/reconciliations/"))
    assert 'data-testid="run-status"' in listing
    with gw.sessions() as session:
        payment = session.get(Payment, paid["id"])
        assert payment is not None and payment.flags == []  # nothing flagged before the worker

    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output

    progress = staff.get(f"/staff/reconciliations/{run_id}/progress").get_json()
    assert (progress["status"], progress["final"]) == ("done", True)
    assert (progress["lines_read"], progress["lines_matched"]) == (400, 400)
    page = text_of(staff.get(detail))
    assert "Lệch số tiền" in page and "140.000 ₫" in page
    assert 'data-testid="open">400<' in page
    assert 'data-testid="progress"' not in page
    forms = [f for f in forms_of(page) if f.action.endswith("/resolve")]
    assert len(forms) == 400
    with gw.sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        assert (run.status, run.line_count, run.counts["unknown"]) == ("done", 400, 399)
        payment = session.get(Payment, paid["id"])
        assert payment is not None and payment.flags == ["statement_difference"]
    assert count(gw, ReconciliationUpload) == 0  # the stored file is gone once read


def test_a_run_whose_worker_died_is_taken_over_after_its_lease(
        http: FlaskClient, gw: Gateway, paid: dict[str, Any], clock: Clock) -> None:  # noqa: F811
    from datetime import timedelta

    from payments.services import reconciliation

    body = (HEADER + f"{paid['reference']},150000,T0,x\n").encode()
    run_id = reconciliation.queue(gw, "sandbox", "s.csv", io.BytesIO(body),
                                  uploaded_by=FINANCE)
    assert reconciliation._claim(gw) == (run_id, "queued")  # a worker took it, then died
    assert reconciliation.run_queued(gw) == 0  # its lease holds: nobody else takes it
    clock.advance(seconds=(reconciliation.LEASE + timedelta(seconds=1)).total_seconds())
    assert reconciliation.run_queued(gw) == 1
    with gw.sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        assert (run.status, run.counts["matched"]) == ("done", 1)


# -- the catalog file: read streaming, the same kinds of caps ------------------------------


def test_a_catalog_file_over_the_caps_is_refused_with_a_clear_message(
        tmp_path: Path, app: Flask) -> None:
    from payments import catalog

    path = tmp_path / "danh-muc.csv"
    path.write_text("agency_code,agency_name\n" + "".join(
        f"000.00.{n:02d}.H32,Sở {n}\n" for n in range(1, 8)), encoding="utf-8")
    with pytest.raises(catalog.CatalogFileError, match="hơn 5 dòng"):
        catalog.read_file(path, max_rows=5)
    assert len(catalog.read_file(path)) == 7

    nul = tmp_path / "nul.csv"
    nul.write_text("agency_code,agency_name\n000.00.01.H32,S\x00ở\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(nul)])
    assert result.exit_code == 1 and "ký tự NUL" in result.output
    assert "nothing was imported" in result.output

    huge = tmp_path / "o-lon.csv"
    huge.write_text("agency_code,agency_name\n000.00.01.H32," + "x" * (128 * 1024 + 1) + "\n",
                    encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(huge)])
    assert result.exit_code == 1 and "nothing was imported" in result.output

    blank = tmp_path / "trong.csv"
    blank.write_bytes(b"agency_code,agency_name\n" + b"\n" * 300_000)
    with pytest.raises(catalog.CatalogFileError, match="dòng trống"):
        catalog.read_file(blank)
