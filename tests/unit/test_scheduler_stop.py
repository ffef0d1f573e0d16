"""Stopping the service lets a job run or a background pass under way finish instead of cutting a
query off mid-flight (a cut-off query leaves its connection to the garbage collector after the
engine is disposed: on SQLite an aiosqlite ResourceWarning, on CI a failed test)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from lettering.core.scheduler import Job, Scheduler, stopped_within


async def test_stop_waits_for_a_job_run_under_way() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    started = asyncio.Event()
    finished: list[str] = []

    async def sweep() -> None:
        started.set()
        await asyncio.sleep(0.2)  # a sweep's transaction
        finished.append("sweep")

    scheduler = Scheduler(engine, [Job("test.sweep", sweep, 0.05)])
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert finished == ["sweep"]
    await engine.dispose()


async def test_stop_cancels_a_run_past_its_grace() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def stuck() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    scheduler = Scheduler(engine, [Job("test.stuck", stuck, 0.05)])
    await scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(scheduler.stop(grace_s=0.1), 5)
    assert cancelled == [True]
    await engine.dispose()


async def test_stopped_within_returns_as_soon_as_stop_is_set() -> None:
    stop = asyncio.Event()
    assert await stopped_within(stop, 0.01) is False
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await asyncio.wait_for(stopped_within(stop, 60), 5) is True
