"""Alembic environment: SQLModel metadata, async engines (aiosqlite, asyncpg), batch mode.

The URL comes from `-x url=...`, else from `config.attributes["url"]` (set by
`lettering.core.migrate`), else from the settings (LETTERING_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from lettering.core.db import UTCDateTime, import_all_models

config = context.config

# `lettering.core.migrate` turns this off so a migration run from the CLI or tests leaves the
# process's logging as it was.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

import_all_models()
target_metadata = SQLModel.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
    if url:
        return str(url)
    from lettering.core.settings import get_settings

    return get_settings().database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render project types as plain SQLAlchemy so revisions do not import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": True,
        "compare_type": True,
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) instead of running it."""
    context.configure(
        url=database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **configure_options())
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(engine: AsyncEngine | None = None) -> None:
    # A plain engine without the app's SQLite pragmas: batch mode rebuilds tables, which must
    # run with foreign keys off (SQLite's default), and NullPool leaves nothing open behind.
    # A caller's engine (pytest-alembic's runner) is used as given and left to its owner.
    owned = engine is None
    if engine is None:
        engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        if owned:
            await engine.dispose()


def run_migrations_online() -> None:
    # `connection` in the config's attributes: a caller's sync connection, or the async engine
    # pytest-alembic's runner passes (tests/integration/test_migrations.py).
    connection = config.attributes.get("connection")
    if isinstance(connection, AsyncEngine):
        asyncio.run(run_async_migrations(connection))
    elif connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
