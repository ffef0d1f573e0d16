"""The sweep of ended rate-limit windows as a scheduled job."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.scheduler import Job
from lettering.ratelimit import service

JOB_ID = "ratelimit.purge"
JOB_INTERVAL_S = 600.0


def scheduled(sessions: async_sessionmaker[AsyncSession]) -> list[Job]:
    """Delete counters whose window has ended, every ten minutes."""

    async def run() -> int:
        return await service.purge_expired(sessions)

    return [Job(JOB_ID, run, JOB_INTERVAL_S)]
