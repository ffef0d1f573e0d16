"""The scheduler's advisory lock on PostgreSQL, when its session is lost (issue 15, database faults).

A database restart, a failover or a dropped connection ends the session that holds the lock, and
the lock with it: another process then takes it. The process that held it must notice and stop
running the jobs (else both run them), and take the lock again once the other one lets it go.
Two schedulers on one database stand for two processes; the holder's session is ended with
pg_terminate_backend, as a restart would end it.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import text

from lettering.core.db import make_engine
from lettering.core.scheduler import ADVISORY_LOCK_KEY, Job, Scheduler

pytestmark = [pytest.mark.integration]

TICK_S = 0.05
CHECK_S = 0.2


async def test_a_scheduler_whose_lock_session_ends_stops_its_jobs_and_takes_the_lock_again(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("on SQLite the one process always runs the jobs: there is no lock to lose")
    runs: Counter[str] = Counter()
    engines = {name: make_engine(database_url) for name in ("a", "b")}

    def scheduler(name: str) -> Scheduler:
        async def sweep() -> None:
            runs[name] += 1

        job = Job("test.sweep", sweep, TICK_S)
        return Scheduler(engines[name], [job], retry_lock_s=CHECK_S, check_lock_s=CHECK_S)

    async def until(check: object, timeout_s: float = 5.0) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not check():  # type: ignore[operator]
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(TICK_S)
        return True

    async def ran_only(name: str, during_s: float) -> bool:
        """Whether, over `during_s`, only `name` ran the job (one run under way may finish)."""
        before = dict(runs)
        await asyncio.sleep(during_s)
        others = [n for n in engines if n != name]
        return runs[name] > before.get(name, 0) and all(runs[n] - before.get(n, 0) <= 1 for n in others)

    a, b = scheduler("a"), scheduler("b")
    try:
        await a.start()
        assert await until(lambda: runs["a"] > 0), "the first scheduler never ran its job"
        await b.start()
        assert await ran_only("a", CHECK_S * 5), dict(runs)

        # The holder's session ends (as in a database restart): the other one takes the lock, and
        # the first stops running the jobs instead of running them beside it.
        async with engines["b"].connect() as admin:
            ended = await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    " AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo"
                ),
                {"hi": ADVISORY_LOCK_KEY >> 32, "lo": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
            )
            assert ended.scalars().all() == [True]
        assert await until(lambda: not a.running), "the first scheduler kept running after its lock went"
        assert await until(lambda: b.running), "the second scheduler never took the lock"
        assert await ran_only("b", CHECK_S * 5), dict(runs)

        # The second one stops (its process ends): the first takes the lock again and runs the jobs.
        await b.stop()
        assert await until(lambda: a.running), "the first scheduler never took the lock again"
        assert await ran_only("a", CHECK_S * 5), dict(runs)
    finally:
        await a.stop()
        await b.stop()
        for engine in engines.values():
            await engine.dispose()
