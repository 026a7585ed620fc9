"""The national-index report (payments.national_index) over a province's year: time.

The payments of bench/reports.py (same generator, same seed), with the agencies put in a
three-level tree: a province (000.00.00.H32) above the twelve departments, the twelve
communes spread under the first three departments. Then `national_index` for the whole
province (every unit's row, each counting its subtree) over the year 2026 and over one
month, and for the largest department alone; median of R runs.

    python -m bench.national_index [--sizes 10000,100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
from datetime import date

from sqlalchemy import update
from sqlalchemy.orm import Session

from bench import (
    backend_name,
    dispose,
    fresh_database,
    full_size,
    header,
    make_client,
    make_gateway,
    ms,
    quiet,
)
from bench.reports import PERIOD, SEED, Catalog, grow, timed
from payments.models import Agency
from payments.national_index import national_index
from payments.reports import Period
from payments.services.gateway import Gateway

PROVINCE = "000.00.00.H32"
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


def make_tree(gw: Gateway, catalog: Catalog) -> None:
    departments = [c for c in catalog.codes if c.startswith("000.00.")]
    communes = [c for c in catalog.codes if c not in departments]
    with gw.sessions.begin() as session:
        session.add(Agency(code=PROVINCE, name="UBND tỉnh Khánh Hòa", catalogued=True))
        session.execute(update(Agency).where(Agency.code.in_(departments))
                        .values(parent_code=PROVINCE))
        for i, code in enumerate(communes):
            session.execute(update(Agency).where(Agency.code == code)
                            .values(parent_code=departments[i % 3]))


def main(argv: list[str] | None = None) -> None:
    big = full_size()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000,1000000" if big else "10000,100000")
    parser.add_argument("--repeat", type=int, default=5 if big else 3)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    quiet()
    with fresh_database("national_index") as url:
        gw = make_gateway(url)
        rng = random.Random(SEED)
        catalog = Catalog(rng)
        catalog.seed(gw)
        make_tree(gw, catalog)
        client = make_client(gw, agencies=[PROVINCE])
        header("national index: payments.national_index over a province's tree", url,
               sizes=args.sizes, agencies=len(catalog.codes) + 1,
               procedures=sum(len(p) for p in catalog.procedures))
        have = 0
        for size in sizes:
            took = grow(gw, catalog, client.id, have, size, rng)
            print(f"  seeded {size - have:,} payments in {took:.1f} s", flush=True)
            have = size
            rows: list[int] = []

            def year(session: Session, rows: list[int] = rows) -> None:
                result = national_index(session, {PROVINCE}, PERIOD)
                rows[:] = [len(result.rows), result.rows[0]["fee_dossiers"]]

            def month(session: Session) -> None:
                national_index(session, {PROVINCE}, NOVEMBER)

            def one(session: Session) -> None:
                national_index(session, {catalog.codes[0]}, PERIOD)

            y = statistics.median(timed(gw, year, args.repeat))
            print(f"  {size:,} payments ({backend_name(url)}), median of {args.repeat}: "
                  f"province, year 2026 {ms(y)} ({rows[0]} units, {rows[1]:,} fee dossiers); "
                  f"province, November {ms(statistics.median(timed(gw, month, args.repeat)))}; "
                  f"largest department, year "
                  f"{ms(statistics.median(timed(gw, one, args.repeat)))}", flush=True)
        dispose(gw)


if __name__ == "__main__":
    main()
