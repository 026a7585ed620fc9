"""Matching a provider's statement against our records, as a finance officer meets it.

Every payment here is made for real: the sandbox's hosted page over HTTP, VNPay's IPN signed
as VNPay signs it, or the VNPay simulator's page (for a refund VNPay will actually accept).
The statement files are written byte for byte in the tests (CSV with a BOM, Vietnamese
text, ',' or ';') or built with openpyxl, then read by `read_statement` / `feegate reconcile`.
The figures asserted are worked out by hand next to each statement.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import select

from adapters.base import VIETNAM_TZ
from adapters.vnpay import format_vnpay_date
from payments.errors import Conflict, NotFound, ValidationFailed
from payments.models import Reconciliation, ReconciliationItem
from payments.services.gateway import Gateway
from payments.services.reconciliation import Period, reconcile, resolve
from payments.statements import StatementFileError, read_statement
from tests.factories import ApiClient, Clock, create_payment, make_api_client, start_attempt
from tests.flow import count, events, pay_through_sandbox
from tests.webhooks.test_vnpay_flow import choose_vnpay
from tests.webhooks.test_vnpay_ipn import (
    Started,
    rsp_code,
    send_ipn,
    start_vnpay,
    vnpay_params,
    vnpay_settings,
)
from tests.webhooks.test_vnpay_return import open_pay_page, press, shown_status

BOM = "\ufeff"
NOTE = "Lệ phí cấp phiếu lý lịch tư pháp - hồ sơ số 0001"
OFFICER = "ketoan@sotuphap.khanhhoa.gov.vn"


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    """The sandbox (always on in tests) and VNPay through its simulator."""
    return {"simulators": True, "vnpay": vnpay_settings(port)}



@pytest.fixture
def client(gw: Gateway, app: Flask) -> ApiClient:
    return make_api_client(gw)


# -- helpers ----------------------------------------------------------------------------------


def shown(http: FlaskClient, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/payments/{payment_id}", headers=client.headers)
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def paid_on_sandbox(
    http: FlaskClient, client: ApiClient, base_url: str, reference: str, amount: int
) -> dict[str, Any]:
    """A payment the citizen paid on the sandbox's page; as the API shows it afterwards."""
    payment = create_payment(http, client, reference=reference, amount=amount)
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    assert 'data-status="succeeded"' in walk.result.text
    seen = shown(http, client, payment["id"])
    assert seen["status"] == "succeeded"
    return seen


def ref_of(payment: dict[str, Any]) -> str:
    """The reference the provider knows the (last) attempt by."""
    return str(payment["attempts"][-1]["provider_reference"])


def vietnam_day(payment: dict[str, Any]) -> date:
    return datetime.fromisoformat(payment["paid_at"]).astimezone(VIETNAM_TZ).date()


def csv_bytes(*lines: str) -> bytes:
    """A statement as Excel saves "CSV UTF-8": a BOM, CRLF line ends."""
    return (BOM + "\r\n".join(lines) + "\r\n").encode("utf-8")


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run(gw: Gateway, provider: str, filename: str, data: bytes,
        period: Period | None = None) -> str:
    """What the staff page and the CLI do: read the file, match it."""
    rows = read_statement(filename, data)
    return reconcile(gw, provider, filename, rows, uploaded_by=OFFICER, period=period)


def items(gw: Gateway, run_id: str) -> list[ReconciliationItem]:
    with gw.sessions() as session:
        return list(session.scalars(
            select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == run_id)
            .order_by(ReconciliationItem.id)))


def reconciliation(gw: Gateway, run_id: str) -> Reconciliation:
    with gw.sessions() as session:
        found = session.get(Reconciliation, run_id)
        assert found is not None
        return found


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def results(gw: Gateway, run_id: str) -> list[tuple[int | None, str, str | None]]:
    return [(i.line_no, i.result, i.provider_reference) for i in items(gw, run_id)]


def money_state(http: FlaskClient, client: ApiClient, payment_id: str) -> dict[str, Any]:
    seen = shown(http, client, payment_id)
    return {
        "status": seen["status"],
        "paid_at": seen["paid_at"],
        "refunded_amount": seen.get("refunded_amount"),
        "attempts": [(a["provider_reference"], a["status"]) for a in seen["attempts"]],
    }


def paid_by_vnpay_ipn(http: FlaskClient, gw: Gateway, client: ApiClient,
                      reference: str) -> tuple[Started, dict[str, Any]]:
    """A VNPay attempt paid (150 000 đồng) by a signed IPN dated the gateway's now."""
    started = start_vnpay(http, gw, client=client, reference=reference)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, pay_date=gw.now()))) == "00"
    seen = shown(http, client, started.payment_id)
    assert seen["status"] == "succeeded"
    return started, seen


# -- 1. a sandbox statement with every kind of difference --------------------------------------


def test_a_sandbox_statement_lists_every_difference_and_flags_only_those_payments(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)  # listed right: matched
    b = paid_on_sandbox(http, client, base_url, "HS-B", 200_000)  # listed at 180 000
    c = paid_on_sandbox(http, client, base_url, "HS-C", 120_000)  # listed twice
    e = paid_on_sandbox(http, client, base_url, "HS-E", 90_000)  # not listed: missing
    d = create_payment(http, client, reference="HS-D", amount=100_000)
    d_attempt = start_attempt(http, client, d["id"])  # pending with us, "paid" on the statement
    assert d_attempt["status"] == "pending"
    everyone = [a["id"], b["id"], c["id"], d["id"], e["id"]]
    before = {pid: money_state(http, client, pid) for pid in everyone}
    today = vietnam_day(e)
    assert {vietnam_day(p) for p in (a, b, c)} == {today}

    statement = csv_bytes(
        "reference,amount,transaction_id,ghi_chu",
        f"{ref_of(a)},150000,SBX0000000001,{NOTE}",          # line 2: matched
        f"{ref_of(b)},180000,SBX0000000002,Thiếu 20.000 đồng",  # line 3: amount_differs
        "FGKHONGCOTRONGHETHONG,50000,SBX0000000003,Lạ",    # line 4: unknown
        f"{ref_of(c)},120000,SBX0000000004,Lần một",         # line 5: matched
        f"{ref_of(c)},120000,SBX0000000004,Lần hai",         # line 6: duplicate
        "FGDONGHONG,abc,SBX0000000005,Số tiền hỏng",        # line 7: unreadable
        f"{d_attempt['provider_reference']},100000,SBX0000000006,Chưa về",  # 8: not_paid_here
    )
    run_id = run(gw, "sandbox", "sao-ke-sandbox.csv", statement, Period(today, today))

    recon = reconciliation(gw, run_id)
    assert (recon.provider, recon.filename, recon.line_count) == (
        "sandbox", "sao-ke-sandbox.csv", 7)
    assert (recon.period_from, recon.period_to, recon.uploaded_by) == (today, today, OFFICER)
    # 7 lines + 1 paid attempt of ours the statement lacks:
    assert nonzero(recon.counts) == {
        "matched": 2, "amount_differs": 1, "unknown": 1, "duplicate": 1,
        "unreadable": 1, "not_paid_here": 1, "missing": 1,
    }
    assert sum(recon.counts.values()) == 8
    assert results(gw, run_id) == [
        (2, "matched", ref_of(a)),
        (3, "amount_differs", ref_of(b)),
        (4, "unknown", "FGKHONGCOTRONGHETHONG"),
        (5, "matched", ref_of(c)),
        (6, "duplicate", ref_of(c)),
        (7, "unreadable", None),
        (8, "not_paid_here", d_attempt["provider_reference"]),
        (None, "missing", ref_of(e)),
    ]
    by_line = {i.line_no: i for i in items(gw, run_id)}
    differs = by_line[3]
    assert (differs.statement_amount, differs.our_amount, differs.payment_id) == (
        180_000, 200_000, b["id"])
    assert differs.message == "statement 180000 đồng, ours 200000 đồng"
    assert by_line[2].raw["ghi_chu"] == NOTE  # the BOM and the Vietnamese text read right
    assert by_line[2].provider_txn_id == "SBX0000000001"
    assert by_line[4].payment_id is None
    assert "abc" in by_line[7].message
    assert by_line[7].raw == {"reference": "FGDONGHONG", "amount": "abc",
                              "transaction_id": "SBX0000000005", "ghi_chu": "Số tiền hỏng"}
    assert by_line[8].message == "the provider says paid; our attempt is pending"
    (missing,) = [i for i in items(gw, run_id) if i.result == "missing"]
    assert (missing.payment_id, missing.our_amount, missing.statement_amount) == (
        e["id"], 90_000, None)

    flagged = {pid for pid in everyone
               if "statement_difference" in shown(http, client, pid)["flags"]}
    assert flagged == {b["id"], c["id"], d["id"], e["id"]}
    assert "statement_difference" not in shown(http, client, a["id"])["flags"]
    assert events(gw, a["id"], "reconciliation.difference") == []
    expected = {b["id"]: ["amount_differs"], c["id"]: ["duplicate"],
                d["id"]: ["not_paid_here"], e["id"]: ["missing"]}
    for payment_id, said in expected.items():
        (event,) = events(gw, payment_id, "reconciliation.difference")
        assert event.detail["reconciliation_id"] == run_id
        assert event.detail["results"] == said
        assert (event.source, event.actor) == ("reconcile", OFFICER)
    # matching never moves money: statuses, paid times and attempts are as they were
    assert {pid: money_state(http, client, pid) for pid in everyone} == before


def test_a_second_statement_does_not_flag_or_tell_a_payment_twice_per_run(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    b = paid_on_sandbox(http, client, base_url, "HS-B", 200_000)
    # two differences on one payment in one statement: one event naming both
    statement = csv_bytes("reference,amount", f"{ref_of(b)},180000", f"{ref_of(b)},200000")
    run_id = run(gw, "sandbox", "s.csv", statement)
    assert nonzero(reconciliation(gw, run_id).counts) == {"amount_differs": 1, "duplicate": 1}
    (event,) = events(gw, b["id"], "reconciliation.difference")
    assert event.detail["results"] == ["amount_differs", "duplicate"]
    run(gw, "sandbox", "s-lan-2.csv", statement)
    assert shown(http, client, b["id"])["flags"] == ["statement_difference"]
    assert len(events(gw, b["id"], "reconciliation.difference")) == 2  # one per run


# -- 2. the period that bounds "missing" -----------------------------------------------------


def test_without_a_period_or_times_on_the_lines_nothing_is_reported_missing(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    listed = paid_on_sandbox(http, client, base_url, "HS-1", 150_000)
    absent = paid_on_sandbox(http, client, base_url, "HS-2", 150_000)

    run_id = run(gw, "sandbox", "s.csv", csv_bytes("reference,amount", f"{ref_of(listed)},150000"))

    recon = reconciliation(gw, run_id)
    assert (recon.period_from, recon.period_to) == (None, None)
    assert nonzero(recon.counts) == {"matched": 1}
    assert shown(http, client, absent["id"])["flags"] == []
    # the same file with the day both were paid: the absent one is missing
    day = vietnam_day(absent)
    with_period = run(gw, "sandbox", "s.csv",
                      csv_bytes("reference,amount", f"{ref_of(listed)},150000"), Period(day, day))
    assert nonzero(reconciliation(gw, with_period).counts) == {"matched": 1, "missing": 1}
    assert shown(http, client, absent["id"])["flags"] == ["statement_difference"]


def test_a_vnpay_payment_paid_outside_the_period_is_not_missing(
    gw: Gateway, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    early, early_seen = paid_by_vnpay_ipn(http, gw, client, "HS-SOM")
    clock.advance(days=3)
    late, late_seen = paid_by_vnpay_ipn(http, gw, client, "HS-MUON")
    first_day, last_day = vietnam_day(early_seen), vietnam_day(late_seen)
    assert last_day == first_day + timedelta(days=3)

    # VNPay's own column names, amounts ×100, no PayDate: only the late payment is listed
    no_times = csv_bytes("vnp_TxnRef,vnp_Amount,vnp_TransactionNo",
                         f"{late.txn_ref},15000000,14422601")
    undated = run(gw, "vnpay", "vnpay.csv", no_times)
    assert nonzero(reconciliation(gw, undated).counts) == {"matched": 1}

    only_last_day = run(gw, "vnpay", "vnpay.csv", no_times, Period(last_day, last_day))
    assert nonzero(reconciliation(gw, only_last_day).counts) == {"matched": 1}

    both_days = run(gw, "vnpay", "vnpay.csv", no_times, Period(first_day, last_day))
    assert nonzero(reconciliation(gw, both_days).counts) == {"matched": 1, "missing": 1}
    (missing,) = [i for i in items(gw, both_days) if i.result == "missing"]
    assert (missing.payment_id, missing.provider_reference, missing.our_amount) == (
        early.payment_id, early.txn_ref, 150_000)

    # PayDate on the lines sets the period when none is given: the late day only
    dated = csv_bytes("vnp_TxnRef,Amount,TransactionNo,PayDate",
                      f"{late.txn_ref},150000,14422601,{format_vnpay_date(gw.now())}")
    from_lines = run(gw, "vnpay", "vnpay.csv", dated)
    recon = reconciliation(gw, from_lines)
    assert (recon.period_from, recon.period_to) == (last_day, last_day)
    assert nonzero(recon.counts) == {"matched": 1}
    assert shown(http, client, late.payment_id)["flags"] == []
    assert shown(http, client, early.payment_id)["flags"] == ["statement_difference"]


def test_the_period_is_whole_vietnam_days_not_utc_days(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    day = (gw.now().astimezone(VIETNAM_TZ) - timedelta(days=2)).date()
    first_second = datetime(day.year, day.month, day.day, 0, 0, 0, tzinfo=VIETNAM_TZ)
    last_second = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=VIETNAM_TZ)
    paid = []
    for reference, when in (("HS-DAU-NGAY", first_second), ("HS-CUOI-NGAY", last_second)):
        started = start_vnpay(http, gw, client=client, reference=reference)
        assert rsp_code(send_ipn(gw, vnpay_params(gw, started, pay_date=when))) == "00"
        paid.append(started.txn_ref)
    # 00:00:00 on `day` in Vietnam is 17:00 UTC the day before; 23:59:59 is 16:59:59 UTC
    statement = csv_bytes("vnp_TxnRef,Amount", "FGCUAAI,150000")

    def missing(first: date, last: date) -> list[str | None]:
        run_id = run(gw, "vnpay", "vnpay.csv", statement, Period(first, last))
        return [i.provider_reference for i in items(gw, run_id) if i.result == "missing"]

    one_day = timedelta(days=1)
    assert missing(day, day) == paid
    assert missing(day - one_day, day - one_day) == []
    assert missing(day + one_day, day + one_day) == []
    assert missing(day - one_day, day) == paid


# -- 3. XLSX reads like CSV ------------------------------------------------------------------


def test_an_xlsx_statement_reads_the_same_as_the_csv(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)
    b = paid_on_sandbox(http, client, base_url, "HS-B", 200_000)
    when = datetime(2026, 11, 26, 23, 30)  # naive, as Excel keeps it: Vietnam time
    as_csv = csv_bytes(
        "reference,amount,transaction_id,ghi_chu",
        f"{ref_of(a)},150000,SBX1,{NOTE}",
        f"{ref_of(b)},180000,SBX2,Thiếu tiền",
        "FGLA,50000,SBX3,Lạ",
    )
    as_xlsx = xlsx_bytes([
        ["reference", "amount", "transaction_id", "ghi_chu", "thoi_gian"],
        [ref_of(a), 150000.0, "SBX1", NOTE, when],
        [ref_of(b), 180000.0, "SBX2", "Thiếu tiền", when],
        ["FGLA", 50000.0, "SBX3", "Lạ", when],
        [None, None, None, None, None],  # an empty row Excel leaves at the end
    ])

    rows = read_statement("sao-ke.xlsx", as_xlsx)
    assert len(rows) == 3
    assert rows[0]["amount"] == 150_000 and isinstance(rows[0]["amount"], int)
    assert rows[0]["thoi_gian"] == when.replace(tzinfo=VIETNAM_TZ)
    assert rows[0]["thoi_gian"].astimezone(UTC) == datetime(2026, 11, 26, 16, 30, tzinfo=UTC)

    from_csv = run(gw, "sandbox", "sao-ke.csv", as_csv)
    from_xlsx = run(gw, "sandbox", "sao-ke.xlsx", as_xlsx)

    def summary(run_id: str) -> list[tuple[Any, ...]]:
        return [(i.line_no, i.result, i.provider_reference, i.statement_amount, i.our_amount,
                 i.payment_id, i.raw["ghi_chu"]) for i in items(gw, run_id)]

    assert summary(from_xlsx) == summary(from_csv) == [
        (2, "matched", ref_of(a), 150_000, 150_000, a["id"], NOTE),
        (3, "amount_differs", ref_of(b), 180_000, 200_000, b["id"], "Thiếu tiền"),
        (4, "unknown", "FGLA", 50_000, None, None, "Lạ"),
    ]
    assert reconciliation(gw, from_xlsx).counts == reconciliation(gw, from_csv).counts
    assert items(gw, from_xlsx)[0].raw["thoi_gian"] == "2026-11-26T23:30:00+07:00"


def test_an_xlsx_amount_with_a_fraction_of_a_dong_is_refused_not_rounded(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)
    data = xlsx_bytes([["reference", "amount"], [ref_of(a), 150000.5]])
    assert read_statement("x.xlsx", data) == [{"reference": ref_of(a), "amount": "150000.5"}]
    run_id = run(gw, "sandbox", "x.xlsx", data)
    assert nonzero(reconciliation(gw, run_id).counts) == {"unreadable": 1}


def test_a_vnpay_xlsx_with_naive_pay_dates_is_read_as_vietnam_time(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    started, seen = paid_by_vnpay_ipn(http, gw, client, "HS-XLSX")
    paid_vn = datetime.fromisoformat(seen["paid_at"]).astimezone(VIETNAM_TZ)
    data = xlsx_bytes([
        ["vnp_TxnRef", "Amount", "TransactionNo", "PayDate", "TransactionType"],
        [started.txn_ref, 150000.0, 14422601.0, paid_vn.replace(tzinfo=None), "01"],
    ])
    run_id = run(gw, "vnpay", "vnpay.xlsx", data)
    recon = reconciliation(gw, run_id)
    assert nonzero(recon.counts) == {"matched": 1}
    assert (recon.period_from, recon.period_to) == (paid_vn.date(), paid_vn.date())
    (item,) = items(gw, run_id)
    assert item.occurred_at == paid_vn
    assert item.provider_txn_id == "14422601"


# -- 4. resolving a difference ---------------------------------------------------------------


def test_a_difference_is_resolved_once_with_a_note_and_the_payment_trail_says_so(
    gw: Gateway, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)
    b = paid_on_sandbox(http, client, base_url, "HS-B", 200_000)
    run_id = run(gw, "sandbox", "s.csv", csv_bytes(
        "reference,amount", f"{ref_of(a)},150000", f"{ref_of(b)},180000", "FGLA,1000"))
    matched, differs, unknown = items(gw, run_id)
    assert (matched.result, differs.result, unknown.result) == (
        "matched", "amount_differs", "unknown")

    with pytest.raises(ValidationFailed) as no_note:
        resolve(gw, differs.id, "   ", by=OFFICER)
    assert [e.field for e in no_note.value.errors] == ["note"]
    with pytest.raises(Conflict):
        resolve(gw, matched.id, "nothing to do", by=OFFICER)
    with pytest.raises(NotFound):
        resolve(gw, 999_999, "no such line", by=OFFICER)
    assert items(gw, run_id)[1].resolved_at is None  # the refusals wrote nothing

    note = "VNPay xác nhận thu thiếu 20.000 đồng, đã đối chiếu với ngân hàng"
    done = resolve(gw, differs.id, f"  {note}  ", by=OFFICER)
    assert (done.note, done.resolved_by, done.resolved_at) == (note, OFFICER, gw.now())

    with pytest.raises(Conflict) as again:
        resolve(gw, differs.id, "another note", by="other@example.vn")
    assert OFFICER in str(again.value) and note in str(again.value)
    stored = items(gw, run_id)[1]
    assert (stored.note, stored.resolved_by) == (note, OFFICER)  # never overwritten

    (event,) = events(gw, b["id"], "reconciliation.resolved")
    assert (event.source, event.actor) == ("reconcile", OFFICER)
    assert event.detail == {"reconciliation_id": run_id, "item": differs.id,
                            "result": "amount_differs", "note": note}
    assert events(gw, a["id"], "reconciliation.resolved") == []
    # a line with no payment of ours is resolved too, with no trail to write on
    assert resolve(gw, unknown.id, "Giao dịch của đơn vị khác", by=OFFICER).payment_id is None
    assert shown(http, client, b["id"])["status"] == "succeeded"


# -- 5. the command line ---------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_cli_import_show_and_resolve(
    gw: Gateway, app: Flask, http: FlaskClient, client: ApiClient, base_url: str,
    tmp_path: Path
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)
    b = paid_on_sandbox(http, client, base_url, "HS-B", 200_000)
    day = vietnam_day(b).isoformat()
    runner = app.test_cli_runner()

    agreeing = write(tmp_path, "dung.csv", csv_bytes(
        "reference;amount;ghi_chu", f"{ref_of(a)};150000;Khớp"))
    ok = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", str(agreeing)])
    assert ok.exit_code == 0, ok.output
    ok_summary = json.loads(ok.stdout)
    assert ok_summary == {"id": ok_summary["id"], "provider": "sandbox", "file": "dung.csv",
                          "from": None, "to": None, "lines": 1, "counts": {"matched": 1},
                          "differences": 0}

    differing = write(tmp_path, "lech.csv", csv_bytes(
        "reference,amount", f"{ref_of(a)},150000", f"{ref_of(b)},180000", "FGLA,50000"))
    bad = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", "--from", day,
                              "--to", day, "--by", OFFICER, str(differing)])
    assert bad.exit_code == 1, bad.output
    summary = json.loads(bad.stdout)
    run_id = summary["id"]
    assert summary == {"id": run_id, "provider": "sandbox", "file": "lech.csv", "from": day,
                       "to": day, "lines": 3,
                       "counts": {"matched": 1, "amount_differs": 1, "unknown": 1},
                       "differences": 2}
    assert reconciliation(gw, run_id).uploaded_by == OFFICER

    listed = runner.invoke(args=["reconcile", "show", run_id])
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(x["line"], x["result"], x["statement_amount"], x["our_amount"]) for x in lines] == [
        (3, "amount_differs", 180_000, 200_000), (4, "unknown", 50_000, None)]
    everything = runner.invoke(args=["reconcile", "show", run_id, "--all"])
    assert [json.loads(line)["result"] for line in everything.stdout.splitlines()] == [
        "matched", "amount_differs", "unknown"]
    nowhere = runner.invoke(args=["reconcile", "show", "rec_khongco"])
    assert nowhere.exit_code == 1 and "rec_khongco not found" in nowhere.output

    item_id = lines[0]["id"]
    resolved = runner.invoke(args=["reconcile", "resolve", str(item_id), "--note",
                                   "Đã đối chiếu, VNPay thu thiếu", "--by", OFFICER])
    assert resolved.exit_code == 0, resolved.output
    line = json.loads(resolved.stdout)
    assert (line["id"], line["result"], line["payment_id"]) == (item_id, "amount_differs", b["id"])
    assert (line["note"], line["resolved_by"]) == ("Đã đối chiếu, VNPay thu thiếu", OFFICER)
    assert line["resolved_at"] == gw.now().isoformat()
    twice = runner.invoke(args=["reconcile", "resolve", str(item_id), "--note", "x",
                                "--by", "other@example.vn"])
    assert twice.exit_code == 1 and f"already resolved by {OFFICER}" in twice.output
    matched_id = json.loads(everything.stdout.splitlines()[0])["id"]
    refused = runner.invoke(args=["reconcile", "resolve", str(matched_id), "--note", "x",
                                  "--by", OFFICER])
    assert refused.exit_code == 1 and "nothing to resolve" in refused.output


def test_cli_refuses_an_unconfigured_provider_or_a_file_it_cannot_read_and_writes_nothing(
    gw: Gateway, app: Flask, http: FlaskClient, client: ApiClient, base_url: str,
    tmp_path: Path
) -> None:
    a = paid_on_sandbox(http, client, base_url, "HS-A", 150_000)
    good = write(tmp_path, "sao-ke.csv", csv_bytes("reference,amount", f"{ref_of(a)},1"))
    runner = app.test_cli_runner()

    momo = runner.invoke(args=["reconcile", "import", "--provider", "momo", str(good)])
    assert momo.exit_code == 1
    assert "provider 'momo' is not configured" in momo.output

    pdf = write(tmp_path, "sao-ke.pdf", b"%PDF-1.4")
    not_csv = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", str(pdf)])
    assert not_csv.exit_code == 1
    assert "chỉ nhận tệp .csv hoặc .xlsx" in not_csv.output

    fake = write(tmp_path, "sao-ke.xlsx", b"reference,amount\n")
    not_xlsx = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", str(fake)])
    assert not_xlsx.exit_code == 1
    assert "không đọc được tệp Excel" in not_xlsx.output

    latin1 = write(tmp_path, "latin.csv", "reference,amount,ghi_chu\nX,1,Phí\n".encode("cp1258"))
    not_utf8 = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", str(latin1)])
    assert not_utf8.exit_code == 1 and "UTF-8" in not_utf8.output

    header_only = write(tmp_path, "rong.csv", csv_bytes("reference,amount"))
    empty = runner.invoke(args=["reconcile", "import", "--provider", "sandbox", str(header_only)])
    assert empty.exit_code == 1 and "the statement has no lines" in empty.output

    half = runner.invoke(args=["reconcile", "import", "--provider", "sandbox",
                               "--from", "2026-11-01", str(good)])
    assert half.exit_code == 2 and "give both --from and --to" in half.output
    backwards = runner.invoke(args=["reconcile", "import", "--provider", "sandbox",
                                    "--from", "2026-11-30", "--to", "2026-11-01", str(good)])
    assert backwards.exit_code == 2 and "--from is after --to" in backwards.output

    assert count(gw, Reconciliation) == 0
    assert count(gw, ReconciliationItem) == 0
    assert shown(http, client, a["id"])["flags"] == []
    assert events(gw, a["id"], "reconciliation.difference") == []


def test_read_statement_refuses_a_file_without_a_header(tmp_path: Path) -> None:
    with pytest.raises(StatementFileError):
        read_statement("rong.csv", b"")
    with pytest.raises(StatementFileError):
        read_statement("rong.csv", csv_bytes(",,"))


# -- 6. refunds on a VNPay statement ---------------------------------------------------------


def test_vnpay_refund_lines_match_our_succeeded_refunds_each_only_once(
    gw: Gateway, http: FlaskClient, client: ApiClient
) -> None:
    payment = create_payment(http, client, reference="HS-HOAN", amount=150_000)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        page = press(browser, pay_url, open_pay_page(browser, pay_url), "pay")
    assert shown_status(page) == "succeeded"
    refunded = http.post(f"/api/v1/payments/{payment['id']}/refunds",
                         json={"amount": 50_000, "reason": "Nộp thừa lệ phí"},
                         headers=client.headers)
    assert refunded.status_code == 201, refunded.get_json()
    assert refunded.get_json()["status"] == "succeeded"
    seen = shown(http, client, payment["id"])
    assert seen["refunded_amount"] == 50_000
    txn_ref = ref_of(seen)
    paid_vn = datetime.fromisoformat(seen["paid_at"]).astimezone(VIETNAM_TZ)
    pay_date = format_vnpay_date(paid_vn)
    before = money_state(http, client, payment["id"])

    # ';' as Excel writes CSV in a Vietnamese locale, amounts with thousands separators
    statement = csv_bytes(
        "vnp_TxnRef;Amount;TransactionNo;PayDate;TransactionType;Diễn giải",
        f"{txn_ref};150.000;14422601;{pay_date};01;Thanh toán lệ phí",  # 2: matched
        f"{txn_ref};50.000;14422602;{pay_date};03;Hoàn một phần",        # 3: refund_matched
        f"{txn_ref};50.000;14422603;{pay_date};03;Hoàn lần nữa?",        # 4: refund_unknown
        f"FGKHONGCO;20.000;14422604;{pay_date};02;Hoàn lạ",              # 5: refund_unknown
    )
    run_id = run(gw, "vnpay", "vnpay-hoan.csv", statement)

    assert nonzero(reconciliation(gw, run_id).counts) == {
        "matched": 1, "refund_matched": 1, "refund_unknown": 2}
    got = [(i.line_no, i.kind, i.result, i.statement_amount, i.payment_id)
           for i in items(gw, run_id)]
    assert got == [
        (2, "payment", "matched", 150_000, payment["id"]),
        (3, "refund", "refund_matched", 50_000, payment["id"]),
        (4, "refund", "refund_unknown", 50_000, payment["id"]),  # our one refund is used
        (5, "refund", "refund_unknown", 20_000, None),
    ]
    assert [i.our_amount for i in items(gw, run_id)][:2] == [150_000, 50_000]
    (event,) = events(gw, payment["id"], "reconciliation.difference")
    assert event.detail["results"] == ["refund_unknown"]
    assert shown(http, client, payment["id"])["flags"] == ["statement_difference"]
    assert money_state(http, client, payment["id"]) == before

    # the statement with only what agrees: no difference, no flag on a fresh look
    clean = run(gw, "vnpay", "vnpay-dung.csv", csv_bytes(
        "vnp_TxnRef;vnp_Amount;vnp_TransactionType",
        f"{txn_ref};15000000;01", f"{txn_ref};5000000;03"))
    assert nonzero(reconciliation(gw, clean).counts) == {"matched": 1, "refund_matched": 1}
    assert len(events(gw, payment["id"], "reconciliation.difference")) == 1
