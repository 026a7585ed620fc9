"""Insert-or-get for catalog rows that concurrent requests may be the first to need.

A portal may name a procedure (or an operator an agency) that the catalog has not seen
yet; it is then recorded bare (uncatalogued), never refused. Twenty requests doing so
at the same moment must all succeed and leave one row: read first (the common case, no
write), else `INSERT … ON CONFLICT DO NOTHING` on the unique key, then read again. On
PostgreSQL (READ COMMITTED) the insert waits for a concurrent transaction that inserted
the same key and then does nothing, and the second read sees the committed row; on
SQLite the transaction already holds the write lock (`BEGIN IMMEDIATE`), and the same
statement keeps the code path one. No IntegrityError, no rolled-back request.

A row found is returned as it is: a catalogued agency is never made bare again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from payments.models import Agency, Procedure


def _insert_or_ignore(
    session: Session, model: type[Any], values: dict[str, Any], keys: list[str]
) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(model).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(model).values(**values)
    else:  # pragma: no cover - feegate runs on PostgreSQL and SQLite only
        raise RuntimeError(f"no insert-or-get for the {dialect} dialect")
    session.execute(stmt.on_conflict_do_nothing(index_elements=keys))


def _stamped(session: Session, values: dict[str, Any], now: datetime | None) -> dict[str, Any]:
    """A Core insert skips the flush-time stamping: give `created_at` the Gateway's time."""
    if now is None:
        clock = session.info.get("clock")
        if clock is None:
            raise RuntimeError("a session without the Gateway's clock cannot write rows")
        now = clock()
    return {**values, "created_at": now}


def record_agency(session: Session, code: str, *, now: datetime | None = None) -> Agency:
    """The agency with this code; recorded bare (uncatalogued, no name) when missing."""
    found = session.scalar(select(Agency).where(Agency.code == code))
    if found is not None:
        return found
    values = {"code": code, "name": "", "catalogued": False}
    _insert_or_ignore(session, Agency, _stamped(session, values, now), ["code"])
    return session.scalars(select(Agency).where(Agency.code == code)).one()


def record_procedure(
    session: Session, agency_code: str, code: str, *, now: datetime | None = None
) -> Procedure:
    """The agency's procedure with this code; recorded uncatalogued when missing."""
    agency = record_agency(session, agency_code, now=now)
    query = select(Procedure).where(Procedure.agency_id == agency.id, Procedure.code == code)
    found = session.scalar(query)
    if found is not None:
        return found
    values = {"agency_id": agency.id, "code": code, "name": "", "catalogued": False,
              "online_payment_enabled": True}
    _insert_or_ignore(session, Procedure, _stamped(session, values, now), ["agency_id", "code"])
    return session.scalars(query).one()
