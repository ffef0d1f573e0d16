"""All of the snapshot versions' SQL: the one upsert writers run and the poll every worker runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.db import table_of, utcnow
from lettering.core.db_upsert import insert_for
from lettering.snapshots.models import SnapshotVersion

VERSION = table_of(SnapshotVersion)
_READ = select(VERSION.c.name, VERSION.c.version)


async def bump(session: AsyncSession, name: str) -> None:
    """Add one to the version of `name` (created at 1), in the caller's transaction."""
    now = utcnow()
    stmt = insert_for(session, VERSION).values(name=name, version=1, changed_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[VERSION.c.name],
        set_={"version": VERSION.c.version + 1, "changed_at": now},
    )
    await session.execute(stmt)


async def read_versions(session: AsyncSession) -> dict[str, int]:
    """Every snapshot source's version, by name."""
    return {str(name): int(version) for name, version in (await session.execute(_READ)).all()}
