"""Liveness and readiness, for load balancers and service managers.

`GET /livez` says the process is up and its event loop answers. It touches nothing else (no
database), so a database outage never makes a supervisor restart every worker.

`GET /readyz` says this worker can take calls now: the database answers a cheap query within
`DB_TIMEOUT_S`, and the snapshots `decide()` reads have refreshed successfully within
`ready_snapshot_max_age_s` (a worker whose poller cannot read `snapshot_version` would letter calls
from an old directory and old opt-outs). Otherwise it answers 503 with a JSON body naming what is
wrong, so the load balancer sends calls to the other workers. The answer never waits longer than
the timeout, even when the database stalls.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import asdict, dataclass

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.deps import SessionsDep, SettingsDep
from lettering.observability import repository
from lettering.snapshots.callpath import CallPathStore
from lettering.snapshots.deps import SnapshotsDep
from lettering.webhook.deps import WebhooksDep

# Short: a probe that waits longer than the load balancer's own timeout tells it nothing.
DB_TIMEOUT_S = 1.0

router = APIRouter(tags=["ops"])


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class SnapshotCheck(Check):
    age_s: float | None
    max_age_s: float


class DatabaseProbe:
    """Runs the readiness query, one at a time, and never waits for it past the timeout.

    A probe that timed out is cancelled and left to finish in the background (cancelling a query
    on a stalled connection can itself stall); while it is still running the next check reports
    the database as not ready instead of piling up another waiting query.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], timeout_s: float) -> None:
        self._sessions = sessions
        self._timeout_s = timeout_s
        self._running: asyncio.Task[None] | None = None

    async def check(self) -> Check:
        if self._running is not None and not self._running.done():
            return Check(False, "an earlier check is still waiting for the database")
        task = asyncio.create_task(self._query(), name="readiness-database")
        task.add_done_callback(_consume_outcome)
        self._running = task
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        if not done:
            task.cancel()
            return Check(False, f"no answer within {self._timeout_s:g} s")
        error = task.exception()
        if error is not None:
            cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
            return Check(False, f"query failed ({type(cause).__name__})")
        return Check(True, "ok")

    async def _query(self) -> None:
        # Its own session, never the request's: a probe left running must not hold the response.
        async with self._sessions() as session:
            await repository.ping(session)


def _consume_outcome(task: asyncio.Task[None]) -> None:
    """Mark a background probe's error as seen (it was reported, or its caller stopped waiting)."""
    if not task.cancelled():
        task.exception()


def check_snapshots(store: CallPathStore, max_age_s: float, now: float) -> SnapshotCheck:
    """Fresh when the store's last successful refresh is at most `max_age_s` old (monotonic clock)."""
    if store.refreshed_at is None:
        return SnapshotCheck(False, "never refreshed", None, max_age_s)
    age = round(now - store.refreshed_at, 3)
    if age > max_age_s:
        return SnapshotCheck(
            False, f"last successful refresh {age:g} s ago (more than {max_age_s:g} s)", age, max_age_s
        )
    return SnapshotCheck(True, "ok", age, max_age_s)


# One probe per session factory (one per app): the next check sees whether the last one still runs.
_PROBES: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], DatabaseProbe] = (
    weakref.WeakKeyDictionary()
)


def _probe(sessions: async_sessionmaker[AsyncSession]) -> DatabaseProbe:
    probe = _PROBES.get(sessions)
    if probe is None:
        probe = _PROBES[sessions] = DatabaseProbe(sessions, DB_TIMEOUT_S)
    return probe


class Health(BaseModel):
    status: str
    snapshots: dict[str, int]  # snapshot -> source version in force
    deliveries_in_flight: int
    setups_in_progress: int
    admission_limit: float
    setups_shed: int


class Live(BaseModel):
    status: str


class CheckOut(BaseModel):
    ok: bool
    detail: str
    age_s: float | None = None
    max_age_s: float | None = None


class Readiness(BaseModel):
    status: str  # ready | not_ready
    problems: list[str]
    checks: dict[str, CheckOut]


@router.get("/healthz", response_model=Health)
async def healthz(webhooks: WebhooksDep, snapshots: SnapshotsDep) -> Health:
    """This worker's state: snapshot versions, deliveries and setups under way, admission."""
    return Health(
        status="ok",
        snapshots=dict(snapshots.versions),
        deliveries_in_flight=webhooks.in_flight,
        setups_in_progress=webhooks.unanswered,
        admission_limit=round(webhooks.admission_limit, 1),
        setups_shed=webhooks.shed,
    )


@router.get("/livez", response_model=Live)
async def livez() -> Live:
    """The process is up (no database, no snapshots: restarting would not fix those)."""
    return Live(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_unset=True,  # a check without an age says none (not "age_s": null)
    responses={503: {"model": Readiness, "description": "a check failed: this worker must not take calls"}},
)
async def readyz(
    response: Response, settings: SettingsDep, sessions: SessionsDep, store: SnapshotsDep
) -> Readiness:
    """200 when this worker can take calls; 503 naming each check that failed."""
    checks: dict[str, Check] = {
        "database": await _probe(sessions).check(),
        "snapshots": check_snapshots(store, settings.ready_snapshot_max_age_s, time.monotonic()),
    }
    problems = [f"{name}: {check.detail}" for name, check in checks.items() if not check.ok]
    response.status_code = 503 if problems else 200
    return Readiness(
        status="not_ready" if problems else "ready",
        problems=problems,
        checks={name: CheckOut.model_validate(asdict(check)) for name, check in checks.items()},
    )
