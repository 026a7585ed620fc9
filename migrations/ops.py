"""Helpers for revisions after 0006 (DEVELOPERS.md, "Rules of the house").

An index built inside the migration's transaction holds a lock that blocks every write
to its table for as long as the build runs (revision 0002: 1.3 s at 300 k payments). On
PostgreSQL, build indexes on existing tables with `CREATE INDEX CONCURRENTLY`, which
cannot run in a transaction: `op.get_context().autocommit_block()` commits what ran
before and runs the statement outside any transaction. SQLite has one writer anyway and
no CONCURRENTLY: there the index is built plainly. tests/payments/test_migrations.py
refuses a `create_index` in a new revision that bypasses this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic import op


def create_index_concurrently(
    name: str, table: str, columns: Sequence[str], *, unique: bool = False, **kw: Any
) -> None:
    """`CREATE [UNIQUE] INDEX CONCURRENTLY` on PostgreSQL, a plain CREATE INDEX on SQLite.

    A concurrent build that failed (a duplicate for a unique index, a cancelled deploy)
    leaves an INVALID index behind; the revision was not recorded, so the next upgrade
    runs it again: the leftover is dropped first, then built anew.
    """
    context = op.get_context()
    if context.dialect.name == "postgresql":
        with context.autocommit_block():
            op.drop_index(name, table_name=table, if_exists=True,
                          postgresql_concurrently=True)
            op.create_index(name, table, list(columns), unique=unique,
                            postgresql_concurrently=True, **kw)
    else:
        op.create_index(name, table, list(columns), unique=unique, **kw)


def drop_index_concurrently(name: str, table: str) -> None:
    """`DROP INDEX CONCURRENTLY` on PostgreSQL (no write lock held while it waits)."""
    context = op.get_context()
    if context.dialect.name == "postgresql":
        with context.autocommit_block():
            op.drop_index(name, table_name=table, if_exists=True,
                          postgresql_concurrently=True)
    else:
        op.drop_index(name, table_name=table)
