"""The database: naming convention, engine and session factory, and the one models import."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MODEL_MODULES = (
    "lettering.directory.models",
    "lettering.webhook.models",
    "lettering.calls.models",
    "lettering.optout.models",
    "lettering.snapshots.models",
    "carriers.models",
    "kakao_fallback.models",
    "lettering.users.models",
    "campaigns.models",
    "lettering.verify.models",
    "lettering.audit.models",
    "lettering.keyring.models",
)


def import_all_models() -> None:
    """Import every models module so SQLModel.metadata knows every table (alembic, tests)."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on SQLite (which drops the offset) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if is_sqlite(url):
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work for jobs and background tasks: commit on success, roll back on error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


_WRITE_LOCKS: dict[tuple[int, int], asyncio.Lock] = {}


def _write_lock(factory: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    """This process's lock for writing through `factory`'s SQLite engine (None on PostgreSQL)."""
    bind = factory.kw.get("bind")
    if bind is None or bind.url.get_backend_name() != "sqlite":
        return None
    key = (id(factory), id(asyncio.get_running_loop()))
    lock = _WRITE_LOCKS.get(key)
    if lock is None:
        lock = _WRITE_LOCKS[key] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """`session_scope` for the call path's short write transactions.

    On SQLite one writer at a time holds the database lock, and a writer that finds it taken waits
    in SQLite's busy handler, which sleeps in steps of up to 100 ms: under a few concurrent calls
    that, not the work, made setups miss their hold budget. Here the process's writers queue on an
    asyncio lock instead and each goes the moment the previous one commits. Only for blocks that
    do database work alone (no network, no nested scope); PostgreSQL needs none of this.
    """
    lock = _write_lock(factory)
    if lock is None:
        async with session_scope(factory) as session:
            yield session
    else:
        async with lock, session_scope(factory) as session:
            yield session


__all__ = [
    "Engine",
    "import_all_models",
    "make_engine",
    "make_sessionmaker",
    "session_scope",
    "utcnow",
    "write_scope",
]
