"""Databases for the integration tests: every test runs on SQLite and on PostgreSQL.

Each test gets a database of its own at the newest revision: a fresh file on SQLite, a fresh
`CREATE DATABASE t_<uuid>` on the PostgreSQL server at LETTERING_TEST_PG_URL (`scripts/pg-test
start` prints one), dropped afterwards. Without that variable the PostgreSQL runs are skipped,
except on CI (CI=true), where they fail: CI must never pass on SQLite alone.

The schema is built by `lettering.core.migrate.upgrade_head` (the alembic revisions, never
`create_all`) once per test session and backend, into a template: each test's database is a
copy of it (a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL). Running the
revisions took about a second per test, a third of the suite; test_migrations runs them for real
on a blank database (`blank_database_url`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
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


async def _pg_admin(admin_url: str, statement: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


class Templates:
    """The migrated schema, built once per test session and backend (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._pg: dict[str, str] = {}  # admin URL -> template database name

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self._folder / "template.db"
            migrate.upgrade_head(f"sqlite+aiosqlite:///{path}")
            # The engine is gone: everything is in the main file (no -wal or -journal to copy).
            leftovers = [p.name for p in self._folder.iterdir() if p.name != path.name]
            assert not leftovers, f"the SQLite template left {leftovers} beside it"
            self._sqlite = path
        return self._sqlite

    async def postgresql(self, admin_url: str) -> str:
        if admin_url not in self._pg:
            name = f"tpl_{uuid.uuid4().hex}"
            await _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
            migrate.upgrade_head(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
            self._pg[admin_url] = name
        return self._pg[admin_url]

    async def drop(self) -> None:
        for admin_url, name in self._pg.items():
            await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    held = Templates(tmp_path_factory.mktemp("schema-template"))
    yield held
    asyncio.run(held.drop())


async def _new_database(backend: str, tmp_path: Path, templates: Templates | None) -> AsyncIterator[str]:
    """A database of its own: blank, or (with `templates`) a copy of the migrated schema."""
    if backend == "sqlite":
        path = tmp_path / "lettering.core.db"
        if templates is not None:
            shutil.copyfile(templates.sqlite(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin_url = _admin_pg_url()
    name = f"t_{uuid.uuid4().hex}"
    template = "" if templates is None else f' TEMPLATE "{await templates.postgresql(admin_url)}"'
    await _pg_admin(admin_url, f'CREATE DATABASE "{name}"{template}')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database of its own for this test."""
    async for url in _new_database(request.param, tmp_path, None):
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> AsyncIterator[str]:
    """A database of its own for this test, at the newest alembic revision."""
    async for url in _new_database(request.param, tmp_path, templates):
        yield url


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
