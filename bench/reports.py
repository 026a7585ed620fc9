"""The online-share report (payments.reports) over 10k and 100k payments: time and memory.

Payments are inserted in bulk with SQLAlchemy Core, spread like a province's year: 24
agencies of very different sizes (Zipf), 8–30 procedures each with their own fee, counter
payments in office hours on working days, online ones at any hour with an evening peak,
an online share that differs by agency (15–55 %) and grows through the year, providers
VNPay 38 %, VietQR 28 %, MoMo 22 %, ZaloPay 12 %; 88 % paid, the rest expired, failed,
cancelled or unpaid; 1.5 % exempt (0 ₫); dossier receipt dates on 80 % of them. The data
spans 2025-12-01 .. 2027-01-15; the report covers 2026, so period edges filter rows.

For each size: `reports.online_share` for every group_by × basis (median of R runs),
`reports.online_share_by_agency` (the XLSX sheets) and `reports.coverage`; then the peak
Python memory (tracemalloc) of the biggest reports, next to what merely fetching the
counted rows would take: the report must stay flat as the table grows.

    python -m bench.reports [--sizes 10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ
from bench import (
    backend_name,
    dispose,
    fresh_database,
    full_size,
    header,
    make_client,
    make_gateway,
    mb,
    ms,
    quiet,
)
from payments import reports
from payments.models import Agency, FeeItem, Payment, Procedure
from payments.reports import Period, ShareQuery
from payments.services.gateway import Gateway

SEED = 2026
PERIOD = Period(date(2026, 1, 1), date(2026, 12, 31))
FIRST_DAY = date(2025, 12, 1)
LAST_DAY = date(2027, 1, 15)
AGENCIES = 24
CHUNK = 10_000
FEES = (0, 10_000, 20_000, 30_000, 50_000, 100_000, 150_000, 200_000, 300_000, 500_000,
        1_000_000)
FEE_WEIGHTS = (1, 10, 12, 10, 14, 14, 10, 10, 6, 3, 1)
PROVIDERS = ("vnpay", "vietqr", "momo", "zalopay")
PROVIDER_WEIGHTS = (38, 28, 22, 12)
UNPAID = ("expired", "failed", "cancelled", "created")
UNPAID_WEIGHTS = (6, 3, 2, 1)
NAMES = ("Sở Tư pháp", "Sở Kế hoạch và Đầu tư", "Sở Xây dựng", "Sở Giao thông vận tải",
         "Sở Tài nguyên và Môi trường", "Sở Y tế", "Sở Công Thương", "Sở Giáo dục và Đào tạo",
         "Sở Lao động - Thương binh và Xã hội", "Sở Văn hóa, Thể thao và Du lịch",
         "Sở Nông nghiệp và Phát triển nông thôn", "Sở Thông tin và Truyền thông")


DAYS = [FIRST_DAY + timedelta(days=d) for d in range((LAST_DAY - FIRST_DAY).days + 1)]
DAY_CUM_WEIGHTS = list(itertools.accumulate(
    {5: 0.3, 6: 0.0}.get(day.weekday(), 1.0) for day in DAYS))  # working days; some Saturdays


class Catalog:
    """Agencies and procedures with their weights, fees and online propensity."""

    def __init__(self, rng: random.Random) -> None:
        self.codes: list[str] = []
        self.weights: list[float] = []
        self.online: list[float] = []
        self.procedures: list[list[tuple[int, str, int]]] = []  # (id, code, amount)
        self.procedure_weights: list[list[float]] = []
        self.rng = rng

    def seed(self, gw: Gateway) -> None:
        rng = self.rng
        with gw.sessions.begin() as session:
            for i in range(AGENCIES):
                if i < len(NAMES):
                    code, name = f"000.00.{i + 1:02d}.H32", f"{NAMES[i]} tỉnh Khánh Hòa"
                else:
                    code, name = f"000.{i:02d}.31.H32", f"UBND xã số {i}"
                agency = Agency(code=code, name=name, catalogued=True)
                session.add(agency)
                session.flush()
                rows = []
                numbers = rng.sample(range(1, 13_000), rng.randint(8, 30))
                for n in numbers:
                    amount = rng.choices(FEES, FEE_WEIGHTS)[0]
                    procedure = Procedure(agency_id=agency.id, code=f"1.{n:06d}",
                                          name=f"Thủ tục {n} của {name}", catalogued=True,
                                          online_payment_enabled=rng.random() > 0.1)
                    procedure.fee_items = [FeeItem(name="Phí, lệ phí", kind="fee",
                                                   amount=amount)]
                    session.add(procedure)
                    session.flush()
                    rows.append((procedure.id, procedure.code, amount))
                self.codes.append(code)
                self.weights.append(1 / (i + 1) ** 0.8)
                self.online.append(rng.uniform(0.15, 0.55))
                self.procedures.append(rows)
                self.procedure_weights.append([1 / (j + 1) for j in range(len(rows))])


def vn_moment(day: date, minutes: float) -> datetime:
    return (datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TZ)
            + timedelta(minutes=minutes)).astimezone(UTC)


def payment_rows(catalog: Catalog, client_id: str, start: int, count: int,
                 rng: random.Random) -> list[dict[str, Any]]:
    span = (LAST_DAY - FIRST_DAY).days + 1
    picks = rng.choices(range(AGENCIES), catalog.weights, k=count)
    days = rng.choices(DAYS, cum_weights=DAY_CUM_WEIGHTS, k=count)
    rows = []
    for offset, (a, day) in enumerate(zip(picks, days, strict=True)):
        n = start + offset
        year_share = (day - FIRST_DAY).days / span
        online = rng.random() < catalog.online[a] + 0.10 * year_share
        if online:  # any hour, evening peak
            minute = rng.choice((rng.uniform(420, 1020), rng.uniform(1140, 1380),
                                 rng.uniform(0, 1440)))
        else:  # office hours
            minute = rng.uniform(450, 1020)
        created = vn_moment(day, minute)
        procedure_id, procedure_code, amount = rng.choices(
            catalog.procedures[a], catalog.procedure_weights[a])[0]
        if rng.random() < 0.015:
            amount = 0
        paid = rng.random() < 0.88
        status = "succeeded" if paid else rng.choices(UNPAID, UNPAID_WEIGHTS)[0]
        paid_at = provider = channel = None
        if paid:
            if online:
                late = rng.random() < 0.03
                paid_at = created + timedelta(minutes=rng.uniform(2, 30) + (1440 if late else 0))
                provider = rng.choices(PROVIDERS, PROVIDER_WEIGHTS)[0]
                channel = "online"
            else:
                paid_at = created + timedelta(minutes=rng.uniform(0, 10))
                provider = channel = "counter"
        received = None
        if rng.random() < 0.8:
            received = created.astimezone(VIETNAM_TZ).date() - timedelta(days=rng.randint(0, 3))
        agency = catalog.codes[a]
        rows.append({
            "id": f"pay_bench{n:015d}", "client_id": client_id, "agency_code": agency,
            "procedure_code": procedure_code, "procedure_id": procedure_id,
            "reference": f"{agency}-{created:%y%m%d}-{n:07d}", "amount": amount,
            "currency": "VND", "description": "Phí, lệ phí",
            "return_url": "https://portal.example.gov.vn/ho-so", "payer": {}, "meta": {},
            "dossier_received_at": received, "status": status, "refunded_amount": 0,
            "paid_at": paid_at, "paid_provider": provider, "paid_channel": channel,
            "flags": [], "needs_review": False, "expires_at": created + timedelta(hours=1),
            "created_at": created, "updated_at": paid_at or created,
        })
    return rows


def grow(gw: Gateway, catalog: Catalog, client_id: str, have: int, want: int,
         rng: random.Random) -> float:
    """Insert payments `have`..`want` in chunks; seconds taken."""
    started = time.perf_counter()
    for start in range(have, want, CHUNK):
        rows = payment_rows(catalog, client_id, start, min(CHUNK, want - start), rng)
        with gw.sessions.begin() as session:
            session.execute(insert(Payment), rows)
    if backend_name(gw.settings.database_url) == "postgresql":
        with gw.sessions.begin() as session:
            session.execute(text("ANALYZE payments"))  # as autovacuum soon would
    return time.perf_counter() - started


def timed(gw: Gateway, call: Callable[[Session], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        with gw.sessions() as session:
            started = time.perf_counter()
            call(session)
            times.append(time.perf_counter() - started)
            session.rollback()
    return times


def peak(gw: Gateway, call: Callable[[Session], Any]) -> int:
    """Peak Python allocations (bytes) while `call` runs, above what was allocated before."""
    with gw.sessions() as session:
        session.execute(select(1))  # connection checked out before measuring
        tracemalloc.start()
        try:
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            call(session)
            _, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        session.rollback()
    return top - base


NOVEMBER = ShareQuery(Period(date(2026, 11, 1), date(2026, 11, 30)), "agency", "paid_at")
YEAR = ShareQuery(PERIOD, "agency", "paid_at")


def one_month(codes: set[str], target: int) -> Callable[[Session], Any]:
    def call(session: Session) -> None:
        reports.online_share(session, codes, NOVEMBER, target)
    return call


def sqlite_plans(gw: Gateway, codes: set[str], repeat: int) -> None:
    """SQLite without statistics, then after ANALYZE (nothing in feegate runs it today)."""
    target = gw.settings.online_share_target

    def plan(session: Session) -> str:
        stmt = select(Payment.id).where(*reports.counted(codes, NOVEMBER.period, "paid_at"))
        sql = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
        return "; ".join(str(row[-1]) for row in rows)

    def year(session: Session) -> None:
        reports.online_share(session, codes, YEAR, target)

    for label in ("no statistics (as deployed)", "after ANALYZE"):
        if label == "after ANALYZE":
            with gw.sessions.begin() as session:
                session.execute(text("ANALYZE"))
        with gw.sessions() as session:
            used = plan(session)
        month_time = statistics.median(timed(gw, one_month(codes, target), repeat))
        year_time = statistics.median(timed(gw, year, repeat))
        print(f"    SQLite {label}: every agency, November {ms(month_time)}, whole year "
              f"{ms(year_time)}; plan: {used}", flush=True)


def measure(gw: Gateway, codes: set[str], size: int, repeat: int) -> None:
    target = gw.settings.online_share_target
    with gw.sessions() as session:
        counted = session.scalar(select(func.count()).select_from(Payment)
                                 .where(*reports.counted(codes, PERIOD, "paid_at")))
    print(f"  {size:,} payments ({counted:,} paid, fee-bearing, in 2026 by paid_at); "
          f"median of {repeat} runs:", flush=True)
    print(f"    {'group_by':<10}{'basis':<13}{'online_share':>13}{'rows':>6}"
          f"{'by_agency (xlsx)':>19}", flush=True)
    for group_by in reports.GROUPS:
        for basis in reports.BASES:
            query = ShareQuery(PERIOD, group_by, basis)
            result: dict[str, Any] = {}

            def share(session: Session, q: ShareQuery = query,
                      out: dict[str, Any] = result) -> None:
                out.update(reports.online_share(session, codes, q, target))

            def sheets(session: Session, q: ShareQuery = query) -> None:
                reports.online_share_by_agency(session, codes, q, target)

            one = statistics.median(timed(gw, share, repeat))
            many = statistics.median(timed(gw, sheets, repeat))
            print(f"    {group_by:<10}{basis:<13}{ms(one):>13}{len(result['rows']):>6}"
                  f"{ms(many):>19}", flush=True)

    def cover(session: Session) -> None:
        reports.coverage(session, codes, PERIOD, date(2026, 12, 31))

    print(f"    coverage (whole year): {ms(statistics.median(timed(gw, cover, repeat)))}",
          flush=True)

    # What a portal usually asks: its own agency (the index on (agency_code, paid_at)), or
    # one month of the whole province.
    with gw.sessions() as session:
        by_size = list(session.execute(
            select(Payment.agency_code, func.count()).group_by(Payment.agency_code)
            .order_by(func.count().desc(), Payment.agency_code)).all())
    for label, (code, rows) in (("largest agency", by_size[0]), ("smallest agency", by_size[-1])):
        one_agency = ShareQuery(PERIOD, "month", "paid_at")

        def own(session: Session, c: str = code, q: ShareQuery = one_agency) -> None:
            reports.online_share(session, {c}, q, target)

        print(f"    {label} only ({code}, {rows:,} payments), by month: "
              f"{ms(statistics.median(timed(gw, own, repeat)))}", flush=True)
    print(f"    every agency, November 2026 only, by agency: "
          f"{ms(statistics.median(timed(gw, one_month(codes, target), repeat)))}", flush=True)

    biggest = ShareQuery(PERIOD, "procedure", "received_at")
    report_peak = peak(gw, lambda s: reports.online_share(s, codes, biggest, target))
    sheets_peak = peak(gw, lambda s: reports.online_share_by_agency(s, codes, biggest, target))
    fetch_peak = peak(gw, lambda s: s.execute(
        select(Payment.agency_code, Payment.procedure_code, Payment.paid_channel,
               Payment.amount, Payment.paid_at)
        .where(*reports.counted(codes, PERIOD, "paid_at"))).all())
    print(f"    peak Python memory: online_share by procedure {mb(report_peak)}, "
          f"by_agency sheets {mb(sheets_peak)}; for scale, fetching the {counted:,} counted "
          f"rows (5 columns) would take {mb(fetch_peak)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    big = full_size()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000,1000000" if big else "10000,100000",
                        help="comma-separated table sizes, grown in turn")
    parser.add_argument("--repeat", type=int, default=5 if big else 3)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    quiet()
    with fresh_database("reports") as url:
        gw = make_gateway(url)
        rng = random.Random(SEED)
        catalog = Catalog(rng)
        catalog.seed(gw)
        client = make_client(gw, agencies=catalog.codes)
        header("reports: payments.reports over a year of a province's payments", url,
               sizes=args.sizes, agencies=AGENCIES,
               procedures=sum(len(p) for p in catalog.procedures))
        have = 0
        for size in sizes:
            took = grow(gw, catalog, client.id, have, size, rng)
            print(f"  seeded {size - have:,} payments in {took:.1f} s "
                  f"({(size - have) / took:,.0f} rows/s, generation included)", flush=True)
            have = size
            measure(gw, set(catalog.codes), size, args.repeat)
        if backend_name(url) == "sqlite":
            sqlite_plans(gw, set(catalog.codes), args.repeat)
        dispose(gw)


if __name__ == "__main__":
    main()
