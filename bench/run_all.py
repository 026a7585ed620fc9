"""`make bench`: every benchmark, each in its own process, small sizes by default.

    python -m bench.run_all                 # SQLite; ~1–2 min on 2 cores
    FEEGATE_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/feegate_bench \\
        python -m bench.run_all             # PostgreSQL (its schema `public` is dropped!)
    python -m bench.run_all --full          # bigger sizes (or FEEGATE_BENCH_FULL=1)
    python -m bench.run_all --only reports,outbox

Each script also runs alone (`python -m bench.callbacks --help`). A script that fails is
reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import DATABASE_ENV, FULL_ENV, full_size, machine

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("api_create", "callbacks", "outbox", "reports", "national_index", "reconcile")
TIMEOUT = 1800  # seconds per script, whatever happens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every feegate benchmark.")
    parser.add_argument("--full", action="store_true", help=f"bigger sizes (sets {FULL_ENV}=1)")
    parser.add_argument("--only", default=",".join(SCRIPTS),
                        help="comma-separated scripts: " + ", ".join(SCRIPTS))
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCRIPTS]
    if unknown:
        parser.error(f"unknown script(s): {', '.join(unknown)}")
    env = dict(os.environ)
    if args.full:
        env[FULL_ENV] = "1"
    database = env.get(DATABASE_ENV) or "SQLite (a temporary file per script)"
    print("feegate benchmarks", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print("machine:", machine())
    print("database:", database.split("@")[-1] if "@" in database else database)
    print("sizes:", "full" if args.full or full_size() else "default (small)", flush=True)
    failed = []
    started = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        try:
            code = subprocess.run([sys.executable, "-m", f"bench.{name}"], env=env, cwd=ROOT,
                                  timeout=TIMEOUT, check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
        print(f"  ({name}: {time.perf_counter() - began:.0f} s"
              + ("" if code == 0 else f", FAILED with status {code}") + ")", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\nall done in {time.perf_counter() - started:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
