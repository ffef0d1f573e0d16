"""The call path's group commit: concurrent units share one transaction, a caller hears back only
once its rows are committed, and a failing unit fails alone (its batch is written again without it)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lettering.core.db import GroupCommitter, make_sessionmaker, utcnow
from lettering.core.db_upsert import insert_for
from lettering.snapshots.models import SnapshotVersion

pytestmark = pytest.mark.integration


def bump(conn: Connection, name: str) -> None:
    table = SnapshotVersion.__table__  # type: ignore[attr-defined]
    stmt = insert_for(conn, table).values(name=name, version=1, changed_at=utcnow())
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[table.c.name], set_={"version": table.c.version + 1})
    )


async def _versions(engine: AsyncEngine, name: str) -> int:
    # A separate session (its own connection): sees only what is committed.
    async with make_sessionmaker(engine)() as session:
        return int(
            (
                await session.execute(
                    select(func.coalesce(func.max(SnapshotVersion.version), 0)).where(
                        SnapshotVersion.name == name  # type: ignore[arg-type]
                    )
                )
            ).scalar_one()
        )


async def test_concurrent_units_share_batches_and_are_committed_when_answered(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    committer = GroupCommitter(sessions)
    seen_after_answer: list[int] = []

    async def caller(i: int) -> None:
        await committer.run(lambda conn: bump(conn, f"probe-{i}"))
        seen_after_answer.append(await _versions(engine, f"probe-{i}"))

    await asyncio.gather(*(caller(i) for i in range(40)))
    assert seen_after_answer == [1] * 40  # every caller's row was durable when it was answered
    assert committer.units == 40
    assert committer.batches < 40  # they were grouped


async def test_a_failing_unit_fails_alone_and_its_batch_is_still_written(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    committer = GroupCommitter(sessions)

    def bad(conn: Connection) -> None:
        bump(conn, "probe-bad")
        raise RuntimeError("this unit is broken")

    results = await asyncio.gather(
        *(committer.run(lambda conn, i=i: bump(conn, f"probe-ok-{i}")) for i in range(5)),
        committer.run(bad),
        *(committer.run(lambda conn, i=i: bump(conn, f"probe-ok-{i + 5}")) for i in range(5)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert str(errors[0]) == "this unit is broken"
    for i in range(10):
        assert await _versions(engine, f"probe-ok-{i}") == 1
    assert await _versions(engine, "probe-bad") == 0  # rolled back, also in the batch it spoiled
