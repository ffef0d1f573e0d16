"""Scheduled jobs: APScheduler 3.11 in the service process, run by one process only.

On PostgreSQL a session-level advisory lock decides which process runs them (the others keep
trying, so the jobs move when that process stops); embedded on SQLite, the one process always
does. The holder checks every few seconds that its lock's session is still there: a database
restart (or a dropped connection) ends the session and frees the lock for another process to
take, so the holder then stops running the jobs and tries for the lock again like the others.
Each job is an idempotent sweep, so the double run a check interval allows is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# An arbitrary 64-bit key naming "the scheduler of this service" among advisory locks.
ADVISORY_LOCK_KEY = 0x4C455454_45524E47
# Whether this session holds it: pg_locks shows a bigint key as classid (high 32 bits), objid
# (low 32 bits) and objsubid 1.
_HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND granted AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo)"
)


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
    def __init__(
        self, engine: AsyncEngine, jobs: list[Job], *, retry_lock_s: float = 15.0, check_lock_s: float = 5.0
    ) -> None:
        self._engine = engine
        self._jobs = jobs
        self._retry_lock_s = retry_lock_s
        self._check_lock_s = check_lock_s
        self._scheduler: AsyncIOScheduler | None = None
        self._lock_conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[object]] = set()  # job runs under way, awaited by stop()

    @property
    def running(self) -> bool:
        """Whether the jobs run in this process (not while paused for a lost lock)."""
        return self._scheduler is not None and self._scheduler.state == STATE_RUNNING

    async def start(self) -> None:
        self._task = asyncio.create_task(self._acquire_then_run(), name="scheduler")

    async def _acquire_then_run(self) -> None:
        """Take the lock (retrying while another process holds it or the database is away), run
        the jobs while it is held, and when its session is lost stop them and start over."""
        while True:
            try:
                got = await self._acquire()
            except Exception as exc:  # the database is away (restarting): try again later
                log.warning(
                    "scheduler: could not try its lock (%s); again in %.0f s", _cause(exc), self._retry_lock_s
                )
                got = False
            if not got:
                await asyncio.sleep(
                    self._retry_lock_s
                )  # another process runs the jobs; take over if it stops
                continue
            self._run_jobs()
            if self._lock_conn is None:  # SQLite: no lock to lose
                return
            await self._while_held()
            self._stop_jobs()
            log.warning(
                "scheduler: its lock's database session ended; jobs stopped here until it is taken again"
            )

    def _run_jobs(self) -> None:
        if self._scheduler is not None:  # paused when the lock was lost: taken again
            self._scheduler.resume()
            log.info("scheduler running its jobs in this process again")
            return
        scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        )
        for job in self._jobs:
            scheduler.add_job(self._tracked(job), "interval", seconds=job.seconds, id=job.id, name=job.id)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler running %d jobs in this process", len(self._jobs))

    def _stop_jobs(self) -> None:
        """No new runs here; a run under way finishes (each is a sweep of short transactions)."""
        if self._scheduler is not None:
            self._scheduler.pause()

    async def _acquire(self) -> bool:
        if self._engine.dialect.name != "postgresql":
            return True
        conn = await self._engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            ).scalar()
            await conn.commit()  # the lock is the session's: no transaction is left open with it
        except BaseException:
            await _close_quietly(conn)
            raise
        if got:
            self._lock_conn = conn  # held open: the lock lives as long as this connection's session
            return True
        await conn.close()
        return False

    async def _while_held(self) -> None:
        """Return once the lock's session is gone (checked every `check_lock_s`)."""
        conn = self._lock_conn
        assert conn is not None
        key = {"hi": ADVISORY_LOCK_KEY >> 32, "lo": ADVISORY_LOCK_KEY & 0xFFFFFFFF}
        while True:
            await asyncio.sleep(self._check_lock_s)
            try:
                held = bool((await conn.execute(_HOLDS_LOCK, key)).scalar())
                await conn.commit()
            except Exception as exc:
                log.warning("scheduler: checking its lock failed (%s)", _cause(exc))
                held = False
            if not held:
                self._lock_conn = None
                await _close_quietly(conn)
                return

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
            await _close_quietly(self._lock_conn)  # its session may be gone already
            self._lock_conn = None


async def _close_quietly(conn: AsyncConnection) -> None:
    """End the lock's session for good: closed, the connection would go back to the pool with the
    session (and its lock) still open. Its session may be gone already."""
    try:
        await conn.invalidate()
    except Exception as exc:
        log.info("scheduler: its lock's connection was gone already (%s)", _cause(exc))


def _cause(exc: BaseException) -> str:
    """A database error by its class only (its text may carry statement parameters)."""
    orig = getattr(exc, "orig", None)
    return type(orig if orig is not None else exc).__name__
