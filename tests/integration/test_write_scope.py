"""On SQLite the call path's write transactions queue on one lock per process (not SQLite's
sleeping busy handler); on PostgreSQL they run side by side."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.db import is_sqlite, write_scope
from lettering.snapshots.models import SnapshotVersion
from lettering.snapshots.service import bump

pytestmark = pytest.mark.integration


async def test_writers_queue_on_sqlite_and_run_together_on_postgresql(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    inside = 0
    most = 0

    async def writer() -> None:
        nonlocal inside, most
        async with write_scope(sessions) as session:
            inside += 1
            most = max(most, inside)
            await bump(session, "probe")
            await asyncio.sleep(0.02)  # the transaction stays open across an await
            inside -= 1

    await asyncio.gather(*(writer() for _ in range(8)))
    async with sessions() as session:
        version = (
            await session.execute(
                select(func.max(SnapshotVersion.version)).where(SnapshotVersion.name == "probe")
            )  # type: ignore[arg-type]
        ).scalar_one()
    assert version == 8  # every write committed
    assert most == (1 if is_sqlite(database_url) else most)
    if not is_sqlite(database_url):
        assert most > 1  # no process lock on PostgreSQL (the database takes care of its rows)
