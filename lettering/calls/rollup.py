"""The dashboard's rollup: call records counted per Seoul day, agency, department, carrier,
outcome and holdout arm (`call_day`), per day and hour (`call_hour`) and per day and campaign
(`call_campaign_day`).

Kept by the `calls.rollup` job (lettering/calls/jobs.py), never by the call path: each run
rebuilds today and yesterday, and every day of the last LATE_DAYS whose records changed since the
previous run (a call.ended, a push result or a settled setup fills a record in after its setup),
each day in one transaction (delete and insert), so a double or interrupted run is harmless. Then
it moves the mark (`call_rollup_mark`) to the moment it started. The first run, with no mark,
builds every day since the first record (the backfill; `lettering dashboard rollup` does the same
by hand).

What the dashboard reads (lettering.calls.figures): the rollup for the whole Seoul days before the
mark's day, the raw records for the rest (today, and yesterday until the first run after midnight),
so its figures are those of the raw records up to the job's interval for late call ends.

Retention (lettering/retention) purges call records after its period; their rollup rows stay, so
the dashboard shows a year while the records themselves are kept 90 days.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.calls import repository
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope

log = logging.getLogger(__name__)

LATE_DAYS = 8  # how far back a run looks for records changed after it last ran
# A record's `updated_at` is taken before its transaction commits: a run looks this much before
# the previous run's start, so a change committed while that run read is not missed.
CLOCK_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class RollupReport:
    days: tuple[date, ...]  # the days rebuilt
    backfill: bool


def day_start(day: date) -> datetime:
    """The start of a Seoul day (an aware datetime; the columns compare it in UTC)."""
    return datetime.combine(day, time(0), SEOUL)


def seoul_day(at: datetime) -> date:
    return at.astimezone(SEOUL).date()


async def rebuild_day(sessions: async_sessionmaker[AsyncSession], day: date, now: datetime) -> None:
    """Replace one day's rollup rows by the counts of its records, in one transaction."""
    async with session_scope(sessions) as session:
        await repository.rebuild_rollup(
            session, day, day, day_start(day), day_start(day + timedelta(days=1)), now
        )


async def backfill(
    sessions: async_sessionmaker[AsyncSession], now: datetime, first: date | None = None
) -> RollupReport:
    """Build every day from `first` (default: the first record's) to today, then set the mark.

    Days whose records retention purged are never rebuilt (that would empty them)."""
    today = seoul_day(now)
    async with session_scope(sessions) as session:
        oldest, _ = await repository.call_time_span(session)
        start = first if first is not None else (seoul_day(oldest) if oldest is not None else today)
        if oldest is not None:
            # Retention purged the records before `oldest`: the days before it keep their rollup
            # rows, and so does the oldest day itself (maybe purged in part) once it has some.
            kept = seoul_day(oldest)
            if await repository.rollup_has_day(session, kept):
                kept += timedelta(days=1)
            start = max(start, min(kept, today))
    days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
    for day in days:
        await rebuild_day(sessions, day, now)
    async with session_scope(sessions) as session:
        await repository.set_rollup_mark(session, now)
    log.info("rollup backfilled %d days from %s", len(days), start)
    return RollupReport(tuple(days), backfill=True)


async def refresh(sessions: async_sessionmaker[AsyncSession], now: datetime) -> RollupReport:
    """One run of the job: today, yesterday and the days changed since the last run (a backfill
    when the rollup was never built)."""
    async with session_scope(sessions) as session:
        mark = await repository.rollup_mark(session)
        if mark is None:
            touched: list[date] = []
        else:
            since = day_start(seoul_day(now) - timedelta(days=LATE_DAYS))
            touched = await repository.days_touched(session, since, mark - CLOCK_MARGIN)
    if mark is None:
        return await backfill(sessions, now)
    today = seoul_day(now)
    days = sorted({today, today - timedelta(days=1), *touched})
    for day in days:
        await rebuild_day(sessions, day, now)
    async with session_scope(sessions) as session:
        await repository.set_rollup_mark(session, now)
    return RollupReport(tuple(days), backfill=False)
