"""Scheduled jobs: APScheduler 3.11 in the service process, run by one process only.

On PostgreSQL a session-level advisory lock decides which process runs them (the others keep
trying, so the jobs move when that process stops); embedded on SQLite, the one process always
does. Each job is an idempotent sweep, so a double run is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# An arbitrary 64-bit key naming "the scheduler of this service" among advisory locks.
ADVISORY_LOCK_KEY = 0x4C455454_45524E47


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; True when it is set. A background loop ticks on this, so
    stopping it waits for the pass under way instead of cancelling a query mid-flight."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


@dataclass(frozen=True, slots=True)
class Job:
    id: str  # "module.action"
    func: Callable[[], Awaitable[object]]
    seconds: float


class Scheduler:
    def __init__(self, engine: AsyncEngine, jobs: list[Job], *, retry_lock_s: float = 15.0) -> None:
        self._engine = engine
        self._jobs = jobs
        self._retry_lock_s = retry_lock_s
        self._scheduler: AsyncIOScheduler | None = None
        self._lock_conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[object]] = set()  # job runs under way, awaited by stop()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    async def start(self) -> None:
        self._task = asyncio.create_task(self._acquire_then_run(), name="scheduler")

    async def _acquire_then_run(self) -> None:
        while True:
            if await self._acquire():
                break
            await asyncio.sleep(self._retry_lock_s)  # another process runs the jobs; take over if it stops
        scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        for job in self._jobs:
            scheduler.add_job(self._tracked(job), "interval", seconds=job.seconds, id=job.id, name=job.id)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler running %d jobs in this process", len(self._jobs))

    async def _acquire(self) -> bool:
        if self._engine.dialect.name != "postgresql":
            return True
        conn = await self._engine.connect()
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})).scalar()
        if got:
            self._lock_conn = conn  # held open: the lock lives as long as this connection
            return True
        await conn.close()
        return False

    def _tracked(self, job: Job) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job.func()
            except Exception:
                log.exception("job %s failed; it runs again at its next time", job.id)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run

    async def stop(self, *, grace_s: float = 10.0) -> None:
        """Stop scheduling, then let the runs under way finish (each is a sweep of short
        transactions) for up to `grace_s` before cancelling them: a run cut off mid-query would
        leave its connection to the garbage collector after the engine is gone."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        scheduler = self._scheduler if self._scheduler is not None and self._scheduler.running else None
        if scheduler is not None:
            scheduler.pause()  # no new runs; shutdown() would cancel the ones under way
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if self._lock_conn is not None:
            await self._lock_conn.close()
