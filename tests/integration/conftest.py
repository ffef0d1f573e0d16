"""Databases for the integration tests: every test runs on SQLite and on PostgreSQL.

Each test gets a database of its own, built by `lettering.core.migrate.upgrade_head` (the alembic
revisions, never `create_all`): a fresh file on SQLite, a fresh `CREATE DATABASE t_<uuid>` on
the PostgreSQL server at LETTERING_TEST_PG_URL (`scripts/pg-test start` prints one), dropped
afterwards. Without that variable the PostgreSQL runs are skipped, except on CI (CI=true),
where they fail: CI must never pass on SQLite alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lettering.core import migrate
from lettering.core.db import make_engine, make_sessionmaker

PG_URL_ENV = "LETTERING_TEST_PG_URL"


def _asyncpg_dsn(url: str) -> str:
    """The libpq form asyncpg takes: 'postgresql+asyncpg://…' -> 'postgresql://…'."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_pg_url() -> str:
    url = os.environ.get(PG_URL_ENV, "").strip()
    if url:
        return url
    reason = f"{PG_URL_ENV} is not set (start a server with: scripts/pg-test start)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; on CI the PostgreSQL runs are required", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgresql"])
async def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database of its own for this test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'lettering.core.db'}"
        return
    admin_url = _admin_pg_url()
    name = f"t_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def database_url(blank_database_url: str) -> str:
    """A database of its own for this test, at the newest alembic revision."""
    migrate.upgrade_head(blank_database_url)
    return blank_database_url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)
