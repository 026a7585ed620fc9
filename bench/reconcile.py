"""Reconciliation of a 1,000,000-line provider statement: seconds and peak memory.

A day of N paid sandbox attempts (default N = 1,000,000, bulk-inserted in SQL) and a CSV
statement of N lines written to a temporary file, as a provider exports it: 99.2 % of
lines match, 0.5 % carry another amount, 0.1 % list a reference twice, 0.2 % name no
payment of ours, and 0.2 % of our paid attempts are absent (missing). Then, each in a
fresh child process (so its peak RSS is the matching's own, not the seeding's):

- `inline`: `feegate reconcile import` does — `StatementReader` over the file, then
  `reconciliation.reconcile` (read, load in chunks, match in SQL, missing, flag);
- `worker`: what the staff page and `feegate worker` do — `reconciliation.queue` stores
  the upload, then `run_queued` matches it (timed apart: the web request's share is the
  store only).

Checks every count against what the statement was built to contain; a wrong count fails
the script (a figure is never the figure of a broken run).

    python -m bench.reconcile [--lines 1000000] [--mode inline,worker]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text

from bench import (
    backend_name,
    dispose,
    fresh_database,
    header,
    make_client,
    make_gateway,
    peak_rss_mb,
    quiet,
)

DAY = date(2026, 11, 26)
AMOUNT = 150_000
OFFICER = "bench@stp.khanhhoa.gov.vn"


def kind_of_line(n: int) -> str:
    """What line n of the statement is (deterministic, so the counts are known)."""
    r = n % 1000
    if r < 5:
        return "amount_differs"
    if r < 9:
        return "unknown"  # our attempt n is left out; a reference of no one's takes its place
    if r == 999:
        return "duplicate"  # attempt n-1 (matched) listed again instead of attempt n
    return "matched"


def expected(lines: int) -> dict[str, int]:
    counts = {"matched": 0, "amount_differs": 0, "unknown": 0, "duplicate": 0, "missing": 0}
    for n in range(lines):
        kind = kind_of_line(n)
        if kind in ("missing", "unknown"):  # a reference of no one's in attempt n's place
            counts["missing"] += 1
            counts["unknown"] += 1
        elif kind == "duplicate":  # attempt n-1 again, in attempt n's place
            counts["duplicate"] += 1
            counts["missing"] += 1  # attempt n is then named by no line
        else:
            counts[kind] += 1
    return counts


def ref(n: int) -> str:
    return f"FGB{n:012d}"


def write_statement(path: Path, lines: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffreference,amount,transaction_id,ghi_chu\r\n")
        for n in range(lines):
            kind = kind_of_line(n)
            reference, amount = ref(n), AMOUNT
            if kind == "amount_differs":
                amount = AMOUNT - 20_000
            elif kind in ("missing", "unknown"):
                reference = f"FGLA{n:012d}"
            elif kind == "duplicate":  # attempt n-1 again, in attempt n's place
                reference = ref(n - 1)
            out.write(f"{reference},{amount},SBX{n:010d},Lệ phí hồ sơ số {n}\r\n")
    return path.stat().st_size


PG_SEED = """
INSERT INTO payments (id, client_id, agency_code, procedure_code, reference, amount, currency,
    description, return_url, payer, metadata, status, refunded_amount, paid_at, paid_provider,
    paid_channel, flags, needs_review, expires_at, created_at, updated_at)
SELECT 'pay_b' || lpad(n::text, 12, '0'), :client, '000.00.01.H32', '2.000488',
    'HS-' || n, :amount, 'VND', 'Phí', 'https://portal.example.gov.vn/ho-so', '{}', '{}',
    'succeeded', 0, t, 'sandbox', 'online', '[]', false, t + interval '1 hour', t, t
FROM (SELECT n, timestamptz '2026-11-26 02:00:00+00' + (n % 36000) * interval '1 second' AS t
      FROM generate_series(0, :last) AS n) s;
INSERT INTO attempts (id, payment_id, provider, channel, reference, request_id,
    provider_reference, provider_txn_id, status, amount, provider_data, paid_at, query_count,
    created_at, updated_at)
SELECT 'att_b' || lpad(n::text, 12, '0'), 'pay_b' || lpad(n::text, 12, '0'), 'sandbox',
    'online', 'FGB' || lpad(n::text, 12, '0'), 'r' || n, 'FGB' || lpad(n::text, 12, '0'),
    'SBX' || lpad(n::text, 10, '0'), 'succeeded', :amount, '{}', t, 0, t, t
FROM (SELECT n, timestamptz '2026-11-26 02:00:00+00' + (n % 36000) * interval '1 second' AS t
      FROM generate_series(0, :last) AS n) s;
"""

SQLITE_SEED = """
WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < :last)
INSERT INTO {table}
SELECT {columns} FROM (
    SELECT n, substr('000000000000' || n, -12) AS p,
        strftime('%Y-%m-%d %H:%M:%S', '2026-11-26 02:00:00', '+' || (n % 36000) || ' seconds')
            || '.000000' AS t
    FROM s)
"""
SQLITE_PAYMENTS = (
    "payments (id, client_id, agency_code, procedure_code, reference, amount, currency,"
    " description, return_url, payer, metadata, status, refunded_amount, paid_at,"
    " paid_provider, paid_channel, flags, needs_review, expires_at, created_at, updated_at)",
    "'pay_b' || p, :client, '000.00.01.H32', '2.000488', 'HS-' || n, :amount, 'VND', 'Phí',"
    " 'https://portal.example.gov.vn/ho-so', '{{}}', '{{}}', 'succeeded', 0, t, 'sandbox',"
    " 'online', '[]', 0, t, t, t")
SQLITE_ATTEMPTS = (
    "attempts (id, payment_id, provider, channel, reference, request_id, provider_reference,"
    " provider_txn_id, status, amount, provider_data, paid_at, query_count, created_at,"
    " updated_at)",
    "'att_b' || p, 'pay_b' || p, 'sandbox', 'online', 'FGB' || p, 'r' || n, 'FGB' || p,"
    " 'SBX' || substr(p, 3), 'succeeded', :amount, '{{}}', t, 0, t, t")


def seed(url: str, lines: int) -> float:
    started = time.perf_counter()
    gw = make_gateway(url)
    client = make_client(gw)
    values = {"client": client.id, "amount": AMOUNT, "last": lines - 1}
    with gw.sessions.begin() as session:
        if backend_name(url) == "postgresql":
            for statement in PG_SEED.strip().split(";\n"):
                if statement.strip():
                    session.execute(text(statement), values)
        else:
            for table, columns in (SQLITE_PAYMENTS, SQLITE_ATTEMPTS):
                session.execute(text(SQLITE_SEED.format(table=table, columns=columns)
                                     .replace("{{}}", "{}")), values)
    with gw.sessions.begin() as session:
        session.execute(text("ANALYZE"))
    dispose(gw)
    return time.perf_counter() - started


# -- the child: one timed run ----------------------------------------------------------------


def child(url: str, mode: str, path: Path, lines: int) -> dict[str, Any]:
    quiet()
    from payments.models import Payment, PaymentEvent, Reconciliation, ReconciliationItem
    from payments.services import reconciliation
    from payments.statements import Limits, StatementReader

    gw = make_gateway(url)
    rss_before = peak_rss_mb()
    figures: dict[str, Any] = {"mode": mode}
    started = time.perf_counter()
    period = reconciliation.Period(DAY, DAY)
    if mode == "inline":
        with path.open("rb") as stream, StatementReader(
                path.name, stream, Limits.of(gw.settings)) as reader:
            run_id = reconciliation.reconcile(gw, "sandbox", path.name, reader,
                                              uploaded_by=OFFICER, period=period)
    else:
        with path.open("rb") as stream:
            run_id = reconciliation.queue(gw, "sandbox", path.name, stream,
                                          uploaded_by=OFFICER, period=period)
        figures["store_s"] = round(time.perf_counter() - started, 2)
        began = time.perf_counter()
        assert reconciliation.run_queued(gw) == 1
        figures["worker_s"] = round(time.perf_counter() - began, 2)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    figures["rss_before_mb"] = round(rss_before, 1)
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    with gw.sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        figures["status"] = run.status
        figures["lines"] = run.line_count
        figures["counts"] = {k: v for k, v in run.counts.items() if v}
        figures["flagged"] = int(session.scalar(
            select(func.count()).select_from(Payment).where(Payment.needs_review)) or 0)
        figures["events"] = int(session.scalar(
            select(func.count()).select_from(PaymentEvent)
            .where(PaymentEvent.kind == "reconciliation.difference")) or 0)
    # leave the database as seeded for the next mode (bench tables only: a fresh database):
    # only the flagged payments are written back, and on PostgreSQL the tables are vacuumed,
    # so the next mode does not run on a million dead rows the cleanup left
    with gw.sessions.begin() as session:
        session.execute(delete(PaymentEvent)
                        .where(PaymentEvent.kind == "reconciliation.difference"))
        session.execute(text("UPDATE payments SET flags = '[]', needs_review = :no"
                             " WHERE needs_review"), {"no": False})
        session.execute(delete(ReconciliationItem))
    if backend_name(url) == "postgresql":
        engine = gw.sessions.kw["bind"]
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE reconciliation_items, payments, payment_events")
    dispose(gw)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mode", default="inline,worker")
    parser.add_argument("--child", nargs=3, metavar=("URL", "MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        url, mode, file = args.child
        print(json.dumps(child(url, mode, Path(file), args.lines)))
        return 0
    quiet()
    lines = args.lines
    want = expected(lines)
    want_diff_payments = want["amount_differs"] + want["duplicate"] + want["missing"]
    failed = False
    with fresh_database("reconcile") as url, tempfile.TemporaryDirectory() as tmp:
        header("reconciliation of a provider statement", url, lines=lines)
        path = Path(tmp) / "sao-ke-sandbox.csv"
        began = time.perf_counter()
        size = write_statement(path, lines)
        print(f"  statement: {lines} lines, {size / 1024 / 1024:.1f} MiB, written in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
        print(f"  seeded {lines} paid payments + attempts in {seed(url, lines):.1f} s", flush=True)
        for mode in [m.strip() for m in args.mode.split(",") if m.strip()]:
            out = subprocess.run(
                [sys.executable, "-m", "bench.reconcile", "--lines", str(lines),
                 "--child", url, mode, str(path)],
                check=False, capture_output=True, text=True, env=dict(os.environ))
            if out.returncode != 0:
                print(f"  {mode}: FAILED\n{out.stderr[-1500:]}", flush=True)
                failed = True
                continue
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            counts = figures["counts"]
            right = (figures["status"] == "done" and figures["lines"] == lines
                     and all(counts.get(k, 0) == v for k, v in want.items())
                     and figures["flagged"] == want_diff_payments
                     and figures["events"] == want_diff_payments)
            extra = (f" (store {figures['store_s']:.2f} s + worker {figures['worker_s']:.2f} s)"
                     if mode == "worker" else "")
            print(f"  {mode:>6}: {figures['seconds']:6.2f} s{extra}, peak RSS "
                  f"{figures['peak_rss_mb']:.0f} MB (after imports {figures['rss_before_mb']:.0f}"
                  f" MB); {figures['flagged']} payments flagged; counts {counts}", flush=True)
            if not right:
                print(f"  {mode}: WRONG RESULT, expected {want} and {want_diff_payments} flagged",
                      flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
