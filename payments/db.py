"""Base, engine and sessions.

SQLite needs two fixes to behave like a transactional database under concurrency:
foreign keys on, and `BEGIN IMMEDIATE` so that the write lock is taken when the
transaction starts (pysqlite otherwise defers BEGIN and lets two writers read the
same row before either writes). PostgreSQL uses `SELECT … FOR UPDATE` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapper, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC; always read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's clock, read here and nowhere else; the Gateway wraps it (or a test's)."""
    return datetime.now(UTC)


def stamp_column(*, on: str = "insert", **kwargs: Any) -> Any:
    """A UTC time column that the session fills from the Gateway's clock at flush.

    `on="insert"` stamps a new row once (created_at, received_at); `on="write"` also
    re-stamps an updated row (updated_at). Python `default=`/`onupdate=` callables would
    read the machine's clock behind the Gateway's back, so tests with a frozen clock and
    reports of "this month" would disagree with what was written.
    """
    if on not in {"insert", "write"}:
        raise ValueError(f"unknown stamp {on!r}")
    return mapped_column(UTCDateTime, info={"stamp": on}, **kwargs)


_STAMPED: dict[tuple[type, str], tuple[str, ...]] = {}


def _stamped_attributes(cls: type, kind: str) -> tuple[str, ...]:
    """The attributes of `cls` stamped on insert (`kind="insert"`: every stamp column) or
    on every write (`kind="write"`), computed once per class."""
    key = (cls, kind)
    if key not in _STAMPED:
        kinds = {"insert", "write"} if kind == "insert" else {"write"}
        mapper: Mapper[Any] = inspect(cls)
        _STAMPED[key] = tuple(
            attr.key
            for attr in mapper.column_attrs
            if any(col.info.get("stamp") in kinds for col in attr.columns)
        )
    return _STAMPED[key]


@event.listens_for(Session, "before_flush")
def _stamp_rows(session: Session, _context: Any, _instances: Any) -> None:
    clock: Clock | None = session.info.get("clock")
    if clock is None:
        raise RuntimeError("a session without the Gateway's clock cannot write rows")
    now = clock()
    for obj in session.new:
        for key in _stamped_attributes(type(obj), "insert"):
            if getattr(obj, key) is None:
                setattr(obj, key, now)
    for obj in session.dirty:
        if not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        for key in _stamped_attributes(type(obj), "write"):
            if not state.attrs[key].history.has_changes():
                setattr(obj, key, now)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _fix_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _fix_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for one Gateway, which gives them its clock (`info["clock"]`)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_for_update(session: Session) -> bool:
    """Whether `SELECT … FOR UPDATE` means anything on this connection."""
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"
