"""The dashboard rollup's refresh (lettering/calls/rollup.py) as a scheduled job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.calls.rollup import RollupReport, refresh
from lettering.core.db import utcnow
from lettering.core.scheduler import Job

JOB_ID = "calls.rollup"
JOB_INTERVAL_S = 300.0  # how fresh the dashboard's past days are after a late call end


def rollup_job(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[RollupReport]]:
    """The refresh as a scheduler job (id `calls.rollup`)."""

    async def run() -> RollupReport:
        return await refresh(sessions, utcnow())

    return run


def scheduled(sessions: async_sessionmaker[AsyncSession]) -> list[Job]:
    """The rollup's refresh and how often it runs."""
    return [Job(JOB_ID, rollup_job(sessions), JOB_INTERVAL_S)]
