"""POST /api/v1/payments over real HTTP: throughput and latency.

Each request is what a portal sends: Bearer key, a fresh Idempotency-Key, a catalogued
procedure (the amount is checked against its fee lines), a payer. Two servers:

- `werkzeug`: the app on werkzeug's threaded server in a thread of this process (as the
  tests run it); client and server share one interpreter, so it understates throughput;
- `gunicorn`: `gunicorn wsgi:app --workers 2 --threads 4` in its own processes, as
  docs/operations.md runs production (with fewer workers, for a 2-core machine).

For each: N requests one after another on one keep-alive connection, then N requests from
4 client threads at once. Every answer must be 201, and the table must hold them all.

    python -m bench.api_create [--n 500] [--threads 4] [--server werkzeug|gunicorn|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench import (
    Timing,
    dispose,
    free_port,
    fresh_database,
    full_size,
    header,
    live_server,
    make_client,
    make_gateway,
    make_procedure,
    payment_body,
    peak_rss_mb,
    quiet,
    wait_for_port,
)
from payments.models import Payment

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 20
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4


def post_all(base: str, headers: dict[str, str], numbers: range, tag: str,
             latencies: list[float], errors: list[str]) -> None:
    with requests.Session() as http:
        for n in numbers:
            started = time.perf_counter()
            answer = http.post(
                f"{base}/api/v1/payments", json=payment_body(n, tag),
                headers={**headers, "Idempotency-Key": f"bench-{tag}-{n}"}, timeout=60,
            )
            latencies.append(time.perf_counter() - started)
            if answer.status_code != 201:
                errors.append(f"{answer.status_code} {answer.text[:200]}")


def sequential(base: str, headers: dict[str, str], n: int, tag: str) -> Timing:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    post_all(base, headers, range(n), tag, latencies, errors)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return Timing(n, elapsed, tuple(latencies))


def concurrent(base: str, headers: dict[str, str], n: int, threads: int, tag: str) -> Timing:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        barrier.wait(timeout=30)
        post_all(base, headers, range(k, n, threads), tag, latencies[k], errors)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for worker in workers:
        worker.join(timeout=600)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    merged = tuple(x for own in latencies for x in own)
    return Timing(len(merged), elapsed, merged)


@contextmanager
def gunicorn(url: str, port: int, pids: list[int]) -> Iterator[str]:
    """`gunicorn wsgi:app` on 127.0.0.1, configured by FEEGATE_* like production."""
    env = {
        **os.environ,
        "FEEGATE_ENV": "test",
        "FEEGATE_DATABASE_URL": url,
        "FEEGATE_SANDBOX": "1",
        "FEEGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FEEGATE_LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
             "--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        pids.append(proc.pid)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}"
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def children_peak_rss_mb(parent: int) -> float:
    """Sum of the gunicorn workers' peak RSS (VmHWM), read from /proc."""
    total = 0.0
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        for child in children:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    except OSError:
        return float("nan")
    return total


def run_one(server: str, n: int, threads: int) -> None:
    with fresh_database("api") as url:
        port = free_port()
        gw = make_gateway(url, port)
        make_procedure(gw)
        client = make_client(gw)
        pids: list[int] = []
        serve: AbstractContextManager[str]
        if server == "werkzeug":
            serve = live_server(gw, port)
            label = "werkzeug threaded server in this process"
        else:
            serve = gunicorn(url, port, pids)
            label = f"gunicorn --workers {GUNICORN_WORKERS} --threads {GUNICORN_THREADS}"
        header(f"api_create: POST /api/v1/payments, {label}", url, n=n, threads=threads)
        with serve as base:
            sequential(base, client.headers, WARMUP, "warm")
            seq = sequential(base, client.headers, n, "seq")
            print(f"  {'sequential, 1 connection':<26}{seq.line()}", flush=True)
            par = concurrent(base, client.headers, n, threads, "par")
            print(f"  {f'{threads} client threads':<26}{par.line()}", flush=True)
            if pids:
                print(f"  peak RSS of the gunicorn workers (sum): "
                      f"{children_peak_rss_mb(pids[0]):.0f} MiB", flush=True)
        with gw.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Payment))
        expected = WARMUP + 2 * n
        if stored != expected:
            raise RuntimeError(f"{stored} payments stored, {expected} expected")
        print(f"  check: {stored} payments stored, every answer 201", flush=True)
        dispose(gw)


def main(argv: list[str] | None = None) -> None:
    big = full_size()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2000 if big else 500,
                        help="requests per phase (default 500, 2000 with FEEGATE_BENCH_FULL=1)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--server", choices=("werkzeug", "gunicorn", "both"), default="both")
    args = parser.parse_args(argv)
    quiet()
    servers = ("werkzeug", "gunicorn") if args.server == "both" else (args.server,)
    for server in servers:
        run_one(server, args.n, args.threads)
    print(f"  peak RSS of this process (client threads + werkzeug server): "
          f"{peak_rss_mb():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
