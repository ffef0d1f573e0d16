"""Retention's sweep (lettering/retention/service.py) as a scheduled job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import utcnow
from lettering.core.scheduler import Job
from lettering.core.settings import Settings
from lettering.retention.service import PurgeReport, purge

JOB_ID = "retention.purge"
JOB_INTERVAL_S = 3600.0


def purge_job(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> Callable[[], Awaitable[PurgeReport]]:
    """The sweep as a scheduler job (id `retention.purge`), with the service's settings."""

    async def run() -> PurgeReport:
        return await purge(
            sessions,
            utcnow(),
            settings.retention_days,
            ring_window_s=settings.carriers.ring_window_ms / 1000,
            access_log_days=settings.access_log_retention_days,
            link_max_age_days=settings.optout_link_max_age_days,
        )

    return run


def scheduled(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> list[Job]:
    """The retention sweep and how often it runs."""
    return [Job(JOB_ID, purge_job(sessions, settings), JOB_INTERVAL_S)]
