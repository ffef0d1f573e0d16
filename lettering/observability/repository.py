"""All of the observability package's SQL: the readiness probe's query."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_PING = text("SELECT 1")


async def ping(session: AsyncSession) -> None:
    """The cheapest round trip to the database (raises when it does not answer)."""
    await session.execute(_PING)
