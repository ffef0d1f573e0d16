"""Dialect-aware INSERT ... ON CONFLICT for the two databases the service runs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(bind: AsyncSession | Connection) -> str:
    if isinstance(bind, Connection):
        return bind.dialect.name
    return bind.bind.dialect.name if bind.bind is not None else "sqlite"


def insert_for(bind: AsyncSession | Connection, table: Any) -> Any:
    """`insert(table)` of the session's (or connection's) dialect, which has `on_conflict_do_*`."""
    return insert_of(dialect_name(bind), table)


def insert_of(dialect: str, table: Any) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
