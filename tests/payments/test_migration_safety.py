"""Migrations that production can run: concurrent indexes, and one upgrade at a time.

- Revisions after 0006 build indexes on PostgreSQL with CREATE INDEX CONCURRENTLY outside
  the migration's transaction (migrations/ops.py); a static check refuses any other
  `create_index` in them (DEVELOPERS.md, "Rules of the house").
- Two upgrades (`feegate db upgrade`) at once on a fresh database both succeed: the second waits
  for the first (advisory lock on PostgreSQL, a file lock on SQLite) and finds nothing left.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import op
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

import payments.models  # noqa: F401  (registers every table)
from migrations.ops import create_index_concurrently, drop_index_concurrently
from payments.db import Base, make_engine
from payments.migrate import MIGRATIONS, alembic_config

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = MIGRATIONS / "versions"
LAST_UNCHECKED = "0006"  # 0002 built its indexes in the transaction; it already ran
# what `feegate db upgrade` runs, without the web app around it
UPGRADE = [sys.executable, "-c",
           "import os; from payments.migrate import upgrade; "
           "upgrade(os.environ['FEEGATE_DATABASE_URL'])"]
PG_URL = os.environ.get("FEEGATE_TEST_DATABASE_URL")


# -- the rule, as a static check ----------------------------------------------------------


def revision_of(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "revision" for t in node.targets
        ) and isinstance(node.value, ast.Constant):
            return str(node.value.value)
    return None


def offences(source: str) -> list[str]:
    """Index builds in a revision that would hold a write lock on PostgreSQL.

    Allowed: `create_index_concurrently(...)` (migrations/ops.py), a `create_index` with
    `postgresql_concurrently=True` inside `with ...autocommit_block():`, and any
    `create_index` in a branch that only SQLite takes (`if dialect.name == "sqlite"`, the
    `else` of `== "postgresql"`, or what follows an `if … == "postgresql": … return`).
    Raw SQL `CREATE [UNIQUE] INDEX` must say CONCURRENTLY.
    """
    found: list[str] = []

    def dialect_test(test: ast.expr) -> bool | None:
        """True: only PostgreSQL enters the branch; False: PostgreSQL never does."""
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return None
        names = {c.value for c in (test.left, *test.comparators)
                 if isinstance(c, ast.Constant) and isinstance(c.value, str)}
        equal = {ast.Eq: True, ast.NotEq: False}.get(type(test.ops[0]))
        if equal is None:
            return None
        if "postgresql" in names:
            return equal
        if "sqlite" in names:
            return not equal
        return None

    def block(statements: list[ast.stmt], autocommit: bool, sqlite_only: bool) -> None:
        for statement in statements:
            if isinstance(statement, ast.If) and (pg := dialect_test(statement.test)) is not None:
                block(statement.body, autocommit, sqlite_only or not pg)
                block(statement.orelse, autocommit, sqlite_only or pg)
                ends = statement.body and isinstance(statement.body[-1], ast.Return | ast.Raise)
                if pg and ends:
                    sqlite_only = True  # PostgreSQL left the function in the branch
                continue
            node(statement, autocommit, sqlite_only)

    def node(item: ast.AST, autocommit: bool, sqlite_only: bool) -> None:
        if isinstance(item, ast.With | ast.AsyncWith):
            autocommit = autocommit or any(
                "autocommit_block" in ast.unparse(entry.context_expr) for entry in item.items
            )
        if isinstance(item, ast.Call) and not sqlite_only:
            func = item.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "create_index":
                concurrent = any(
                    k.arg == "postgresql_concurrently"
                    and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in item.keywords
                )
                if not (concurrent and autocommit):
                    found.append(f"line {item.lineno}: {ast.unparse(item)[:80]}")
        if isinstance(item, ast.Constant) and isinstance(item.value, str) and not sqlite_only:
            sql = " ".join(item.value.upper().split())
            for start in ("CREATE INDEX", "CREATE UNIQUE INDEX"):
                if start in sql and f"{start} CONCURRENTLY" not in sql:
                    found.append(f"line {item.lineno}: raw {start} without CONCURRENTLY")
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(item, field, None)
            if isinstance(statements, list) and all(isinstance(s, ast.stmt) for s in statements):
                block(statements, autocommit, sqlite_only)
        for child in ast.iter_child_nodes(item):
            if not isinstance(child, ast.stmt):
                node(child, autocommit, sqlite_only)
        for handler in getattr(item, "handlers", []):
            block(handler.body, autocommit, sqlite_only)

    block(ast.parse(source).body, False, False)
    return found


def test_revisions_after_0006_build_indexes_concurrently_on_postgresql() -> None:
    checked = []
    bad: dict[str, list[str]] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        revision = revision_of(ast.parse(source))
        assert revision is not None, f"{path.name} names no revision"
        if revision <= LAST_UNCHECKED:
            continue
        checked.append(revision)
        if problems := offences(source):
            bad[path.name] = problems
    assert "0007" in checked
    assert bad == {}, (
        "use migrations.ops.create_index_concurrently for indexes in new revisions "
        f"(DEVELOPERS.md): {bad}"
    )


def test_the_static_check_tells_a_blocking_index_from_a_concurrent_one() -> None:
    assert offences("op.create_index('ix_a', 'payments', ['a'])")
    assert offences("with op.batch_alter_table('payments') as b:\n"
                    "    b.create_index('ix_a', ['a'])")
    assert offences("op.create_index('ix_a', 'payments', ['a'], postgresql_concurrently=True)")
    assert offences("op.execute('create unique index ix_a on payments (a)')")
    assert offences(LAST_REVISION_THAT_BLOCKED)
    assert not offences("create_index_concurrently('ix_a', 'payments', ['a'])")
    assert not offences(
        "with op.get_context().autocommit_block():\n"
        "    op.create_index('ix_a', 'payments', ['a'], postgresql_concurrently=True)"
    )
    assert not offences("op.execute('CREATE INDEX CONCURRENTLY ix_a ON payments (a)')")
    only_sqlite = (
        "def upgrade():\n"
        "    if op.get_bind().dialect.name == 'postgresql':\n"
        "        with op.get_context().autocommit_block():\n"
        "            op.execute('CREATE INDEX CONCURRENTLY ix_a ON payments (a)')\n"
        "        return\n"
        "    op.create_index('ix_a', 'payments', ['a'])\n"
    )
    assert not offences(only_sqlite)
    assert offences(only_sqlite.replace("        return\n", ""))
    assert not offences("if dialect.name == 'sqlite':\n    op.create_index('ix', 't', ['a'])")
    assert offences("if dialect.name != 'sqlite':\n    op.create_index('ix', 't', ['a'])")


LAST_REVISION_THAT_BLOCKED = (VERSIONS / "0002_reports.py").read_text(encoding="utf-8")


# -- the helper, on both databases ---------------------------------------------------------


def test_the_helper_builds_the_index_concurrently_on_postgresql_and_plainly_on_sqlite(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    table = "scratch_index_helper"
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            with Operations.context(context), context.begin_transaction():
                op.create_table(table, sa.Column("id", sa.Integer, primary_key=True),
                                sa.Column("value", sa.Integer))
                create_index_concurrently("ix_scratch_index_helper_value", table, ["value"])
            indexes = {ix["name"] for ix in sa.inspect(connection).get_indexes(table)}
            assert "ix_scratch_index_helper_value" in indexes
            with Operations.context(context), context.begin_transaction():
                drop_index_concurrently("ix_scratch_index_helper_value", table)
            assert sa.inspect(connection).get_indexes(table) == []
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
    built = [s for s in statements if "CREATE INDEX" in s.upper()]
    if database_url.startswith("postgresql"):
        assert built and all("CREATE INDEX CONCURRENTLY" in s.upper() for s in built)
        assert any("DROP INDEX CONCURRENTLY" in s.upper() for s in statements)
    else:
        assert built and not any("CONCURRENTLY" in s.upper() for s in built)


# -- two upgrades at once --------------------------------------------------------------------


def head() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    (only,) = script.get_heads()
    return only


def upgrade_twice_at_once(database_url: str) -> list[subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEGATE_")}
    env.update({"FEEGATE_ENV": "test", "FEEGATE_DATABASE_URL": database_url,
                "FEEGATE_LOG_LEVEL": "WARNING"})
    processes = [
        subprocess.Popen(UPGRADE, cwd=ROOT, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    done = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return done


def assert_at_head_and_like_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v for (v,) in versions] == [head()]
            tables = set(sa.inspect(connection).get_table_names())
            assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty database of this test's own, dropped afterwards."""
    if not PG_URL:
        pytest.skip("FEEGATE_TEST_DATABASE_URL is not set")
    name = f"feegate_mig_{uuid.uuid4().hex[:12]}"
    server = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_two_upgrades_of_a_fresh_postgresql_database_at_once_both_succeed(
    fresh_postgres: str,
) -> None:
    results = upgrade_twice_at_once(fresh_postgres)

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert_at_head_and_like_the_models(fresh_postgres)


def test_two_upgrades_of_a_fresh_sqlite_database_at_once_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'feegate.db'}"

    results = upgrade_twice_at_once(url)

    assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
    assert_at_head_and_like_the_models(url)


def test_the_migration_lock_is_held_by_one_session_at_a_time(fresh_postgres: str) -> None:
    """While one upgrade holds the lock, another cannot take it (it would wait)."""
    from payments.migrate import MIGRATION_LOCK_KEY, advisory_lock

    engine = make_engine(fresh_postgres)
    try:
        with engine.connect() as holder, advisory_lock(holder):
            with engine.connect() as other:
                taken: Any = other.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                ).scalar()
                assert taken is False
        with engine.connect() as other:
            assert other.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                 {"key": MIGRATION_LOCK_KEY}).scalar() is True
    finally:
        engine.dispose()
