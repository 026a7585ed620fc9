"""Alembic, driven from code so `feegate db upgrade` works from an installed package.

Two upgrades may start at once (two hosts' `ExecStartPre`, a release phase racing a
deploy script): on a fresh database both would create the same tables and one fails.
Upgrades are serialised instead: on PostgreSQL by a session advisory lock on a fixed key,
taken in migrations/env.py on the migration's own connection (so `alembic upgrade` is
covered too); on SQLite by an exclusive lock on a file next to the database. The second
upgrade waits, then reads the version table and finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from payments.db import make_engine

MIGRATION_LOCK_KEY = 0x66656567617465
"""The advisory lock key of `feegate db upgrade` on PostgreSQL ("feegate" in ASCII)."""
LOCK_POLL_SECONDS = 0.2
LOCK_WAIT_SECONDS = 3600.0  # a concurrent index build on a big table may take long

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.with_name(path.name + ".migrate-lock")):
            command.upgrade(alembic_config(database_url), revision)
        return
    command.upgrade(alembic_config(database_url), revision)


@contextlib.contextmanager
def advisory_lock(connection: Any, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock for migrations around the block.

    Session-level, so it survives the commits of `autocommit_block()` (CREATE INDEX
    CONCURRENTLY) inside the migrations; it is released at the end, and by PostgreSQL
    when the connection closes (a failed or killed upgrade). Other databases: nothing.

    The waiter polls `pg_try_advisory_lock` with no transaction open between tries
    rather than blocking in `pg_advisory_lock`: CREATE INDEX CONCURRENTLY in the holder
    waits for every open transaction, the blocked waiter's included, which PostgreSQL
    reports as a deadlock and the waiting upgrade fails.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    if connection.in_transaction():
        connection.commit()
    deadline = time.monotonic() + wait_seconds
    while True:
        taken = connection.exec_driver_sql(
            f"SELECT pg_try_advisory_lock({MIGRATION_LOCK_KEY})"
        ).scalar()
        connection.commit()  # leave no transaction (no snapshot) open while waiting
        if taken:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"another `feegate db upgrade` held the migration lock for {wait_seconds:.0f} s "
                f"(pg_advisory_lock {MIGRATION_LOCK_KEY}); see pg_stat_activity"
            )
        logger.info("another upgrade is running; waiting for it to finish")
        time.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    except BaseException:
        connection.rollback()  # the lock ends with the session, closed right after
        raise
    connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
    connection.commit()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing), released when the block ends."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: upgrades are not serialised
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def analyze(database_url: str) -> None:
    """Refresh the planner's statistics.

    Without them SQLite picks `ix_payments_status_expires` for multi-agency reports and
    reads every paid payment (bench/reports.py: 1.5 s instead of 0.11 s at 1M rows).
    PostgreSQL's autovacuum keeps its own statistics; ANALYZE there is only a head start.
    """
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    finally:
        engine.dispose()
