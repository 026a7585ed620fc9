"""Benchmarks: scripts that print figures (`make bench`), never timed unit tests.

Every script migrates a fresh database of its own and prints what it measured:

- SQLite (default): a new file in a temporary directory, removed afterwards;
- PostgreSQL when FEEGATE_BENCH_DATABASE_URL is set, e.g.
  `postgresql+psycopg://postgres@127.0.0.1:5432/feegate_bench`. The schema `public` of that
  database is DROPPED and recreated by each script: point it at a database used for nothing
  else, never at a real one.

All traffic stays on 127.0.0.1; every loop is bounded by a count or a deadline.
Shared helpers live here: the fresh database, a gateway, a live server, figures.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from payments.config import Settings
from payments.db import make_engine
from payments.migrate import upgrade
from payments.services.gateway import Gateway

DATABASE_ENV = "FEEGATE_BENCH_DATABASE_URL"
FULL_ENV = "FEEGATE_BENCH_FULL"
AGENCY = "000.00.01.H32"
SANDBOX_SECRET = "bench-sandbox-secret"


def full_size() -> bool:
    """FEEGATE_BENCH_FULL=1 (or `run_all --full`): the bigger sizes of every script."""
    return os.environ.get(FULL_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def quiet() -> None:
    """Warnings only: per-request INFO lines would cost more than what is measured."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("werkzeug", "payments", "webhooks", "adapters", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- the database -----------------------------------------------------------------------------


def backend_name(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """A migrated, empty database URL for one script."""
    pg_url = os.environ.get(DATABASE_ENV, "").strip()
    if pg_url:
        engine = make_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(pg_url)
        quiet()  # alembic may have configured logging
        yield pg_url
        return
    with tempfile.TemporaryDirectory(prefix=f"feegate-bench-{label}-") as tmp:
        url = f"sqlite:///{tmp}/feegate.db"
        upgrade(url)
        quiet()
        yield url


def make_gateway(url: str, port: int = 8000, **overrides: Any) -> Gateway:
    """A gateway on the real clock, with the sandbox provider on."""
    values: dict[str, Any] = {
        "database_url": url,
        "secret_key": "bench-secret",
        "public_url": f"http://127.0.0.1:{port}",
        "env": "test",
        "sandbox": True,
        "sandbox_secret": SANDBOX_SECRET,
    }
    values.update(overrides)
    return Gateway.from_settings(Settings(**values))


def dispose(gw: Gateway) -> None:
    gw.sessions.kw["bind"].dispose()


def server_version(url: str) -> str:
    if backend_name(url) == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()
    return f"PostgreSQL {version}"


# -- a live server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(gw: Gateway, port: int) -> Iterator[str]:
    """The real app on a werkzeug threaded server in a thread, as tests/conftest.py runs it."""
    from werkzeug.serving import make_server

    from wsgi import create_app

    app = create_app(gateway=gw)
    quiet()  # importing wsgi configures logging at INFO
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


# -- figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Timing:
    """Latencies (seconds) of `count` operations that took `elapsed` wall-clock seconds."""

    count: int
    elapsed: float
    latencies: tuple[float, ...] = ()

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else float("inf")

    def line(self, unit: str = "req/s") -> str:
        parts = [f"{self.count:>6} in {self.elapsed:6.2f} s = {self.rate:8.1f} {unit}"]
        if self.latencies:
            lat = [x * 1000 for x in self.latencies]
            parts.append(
                f"median {statistics.median(lat):6.1f} ms  p95 {percentile(lat, 95):6.1f} ms"
                f"  p99 {percentile(lat, 99):6.1f} ms  max {max(lat):7.1f} ms"
            )
        return "  ".join(parts)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mb(size: float) -> str:
    return f"{size / (1024 * 1024):.2f} MiB"


def header(title: str, url: str, **params: Any) -> None:
    given = "  ".join(f"{k}={v}" for k, v in params.items())
    print(f"\n== {title} — {server_version(url)}" + (f"  ({given})" if given else ""), flush=True)


def machine() -> str:
    """nproc, RAM and CPU model, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"nproc {nproc} ({cpu}), RAM {ram}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


# -- rows the scripts need ----------------------------------------------------------------------


@dataclass(frozen=True)
class BenchClient:
    id: str
    api_key: str
    webhook_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_client(gw: Gateway, *, agencies: Sequence[str] = (AGENCY,),
                notify_url: str | None = None) -> BenchClient:
    from payments.services.clients import create_client

    with gw.sessions.begin() as session:
        new = create_client(session, name="Cổng DVC (bench)", agencies=list(agencies),
                            return_hosts=["portal.example.gov.vn"], notify_url=notify_url)
    return BenchClient(new.id, new.api_key, new.webhook_secret)


PROCEDURE = "2.000488"
FEES = (("Phí cung cấp thông tin lý lịch tư pháp", "fee", 200_000),)
AMOUNT = sum(amount for _n, _k, amount in FEES)


def make_procedure(gw: Gateway, *, agency: str = AGENCY, code: str = PROCEDURE) -> None:
    """A catalogued procedure with its fee lines, so creation checks the amount against them."""
    from sqlalchemy import select

    from payments.models import Agency, FeeItem, Procedure

    with gw.sessions.begin() as session:
        row = session.scalar(select(Agency).where(Agency.code == agency))
        if row is None:
            row = Agency(code=agency, name="Sở Tư pháp tỉnh Khánh Hòa")
            session.add(row)
            session.flush()
        row.catalogued = True
        row.name = row.name or "Sở Tư pháp tỉnh Khánh Hòa"
        procedure = Procedure(agency_id=row.id, code=code, name="Cấp Phiếu lý lịch tư pháp",
                              online_payment_enabled=True, catalogued=True)
        procedure.fee_items = [FeeItem(name=n, kind=k, amount=a) for n, k, a in FEES]
        session.add(procedure)


def payment_body(n: int, tag: str) -> dict[str, Any]:
    """A portal's create request, as docs/api.md shows it; `n` makes the dossier unique."""
    return {
        "reference": f"{AGENCY}-{tag}-{n:06d}",
        "procedure_code": PROCEDURE,
        "agency_code": AGENCY,
        "amount": AMOUNT,
        "description": "Phí cung cấp thông tin lý lịch tư pháp",
        "return_url": f"https://portal.example.gov.vn/ho-so/{tag}-{n}",
        "payer": {"name": "Nguyễn Văn A", "email": "a@example.vn", "phone": "0901234567"},
    }
