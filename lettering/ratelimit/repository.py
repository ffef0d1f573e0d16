"""The rate-limit counters' SQL: one upsert-increment per check, one delete per reset or sweep."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.db_upsert import insert_for
from lettering.ratelimit.models import RateLimitBucket

_table = RateLimitBucket.__table__  # type: ignore[attr-defined]


async def increment(session: AsyncSession, key: str, window_start: int, expires_at: int) -> int:
    """Add one use to the key's window (creating it) and answer the window's count, atomically."""
    statement = insert_for(session, _table).values(
        key=key, window_start=window_start, expires_at=expires_at, count=1
    )
    statement = statement.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"count": _table.c.count + 1}
    ).returning(_table.c.count)
    count: int = (await session.execute(statement)).scalar_one()
    return count


async def forget(session: AsyncSession, key: str) -> None:
    await session.execute(delete(_table).where(_table.c.key == key))


async def delete_expired(session: AsyncSession, now: int) -> int:
    result = await session.execute(delete(_table).where(_table.c.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
