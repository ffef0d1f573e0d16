"""The dashboard's rollup (lettering/calls/rollup.py) on each database: its figures equal those
of the raw call records on generated calls, a run twice changes nothing, and a call end that
arrives after its day was rolled up reaches the figures at the next run."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.calls import figures, rollup
from lettering.calls.models import CallCampaignDay, CallDay, CallHour, CallRecord
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope, table_of
from tests.factories import synthetic_calls

pytestmark = pytest.mark.integration

FIRST = datetime(2026, 10, 20, tzinfo=SEOUL)  # a Seoul midnight
DAYS = 20
NOW = FIRST + timedelta(days=DAYS - 1, hours=15, minutes=7)  # the last day, 15:07 in Seoul
AGENCIES = {1: (11, 12, 13, None), 2: (21, 22)}
CAMPAIGNS = (101, 102, 103)


async def load_calls(sessions: async_sessionmaker[AsyncSession], count: int = 2500) -> None:
    rows = list(
        synthetic_calls(
            random.Random(14), count=count, first=FIRST, days=DAYS, agencies=AGENCIES, campaigns=CAMPAIGNS
        )
    )
    # A call.ended without its setup (no setup_received_at): never counted, in neither.
    rows.append({**rows[0], "public_id": "orphan", "call_id": "orphan", "setup_received_at": None})
    async with session_scope(sessions) as session:
        await session.execute(insert(table_of(CallRecord)), rows)


def raw_plan(since: datetime | None, until: datetime | None) -> figures.Plan:
    return figures.Plan(None, None, False, ((since, until),), None)


async def every_figure(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None,
    where: figures.Plan | None,
) -> dict[str, object]:
    return {
        "outcomes": await figures.outcome_counts(
            session, agency_id, since, until, department_id, where=where
        ),
        "days": await figures.period_counts(
            session, agency_id, "day", since, until, department_id, where=where
        ),
        "hours": await figures.period_counts(
            session, agency_id, "hour", since, until, department_id, where=where
        ),
        "arms": await figures.arm_counts(session, agency_id, since, until, department_id, where=where),
        "campaigns": await figures.campaign_counts(
            session, agency_id, since, until, department_id, where=where
        ),
        "agencies": await figures.agency_counts(session, since, until, where=where),
    }


RANGES = [
    (None, None),
    (FIRST, FIRST + timedelta(days=DAYS)),
    (FIRST + timedelta(days=3, hours=10, minutes=30), NOW - timedelta(hours=2)),  # mid-day ends
    (FIRST + timedelta(days=5), FIRST + timedelta(days=9)),  # whole past days only
    (FIRST + timedelta(days=DAYS - 1), None),  # today only: raw
]


async def rollup_rows(session: AsyncSession) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for model in (CallDay, CallHour, CallCampaignDay):
        table = table_of(model)
        columns = [c for c in table.c if c.name not in ("id", "built_at")]
        rows += [tuple(r) for r in (await session.execute(select(*columns))).all()]
    return sorted(rows, key=repr)


async def test_the_rollup_gives_the_raw_records_figures(sessions: async_sessionmaker[AsyncSession]) -> None:
    await load_calls(sessions)
    report = await rollup.refresh(sessions, NOW)  # no mark yet: the backfill
    assert report.backfill
    assert report.days[0] == FIRST.date()
    assert report.days[-1] == NOW.date()
    async with session_scope(sessions) as session:
        whole = await figures.plan(session, None, None)
        assert whole.rollup
        assert whole.last_day == NOW.date() - timedelta(days=1)
        assert whole.raw == ((rollup.day_start(NOW.date()), None),)  # today from the records
        compared = 0
        for since, until in RANGES:
            for agency_id, departments in AGENCIES.items():
                for department_id in (None, *departments[:2]):
                    got = await every_figure(session, agency_id, since, until, department_id, None)
                    want = await every_figure(
                        session, agency_id, since, until, department_id, raw_plan(since, until)
                    )
                    assert got == want, (since, until, agency_id, department_id)
                    assert got["days"], "a range without calls compares nothing"
                    compared += 1
        assert compared == len(RANGES) * 6


async def test_a_second_run_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await load_calls(sessions, 800)
    await rollup.refresh(sessions, NOW)
    async with session_scope(sessions) as session:
        before = await rollup_rows(session)
    again = await rollup.refresh(sessions, NOW + timedelta(minutes=5))
    assert not again.backfill
    assert again.days == (NOW.date() - timedelta(days=1), NOW.date())
    async with session_scope(sessions) as session:
        assert await rollup_rows(session) == before
        assert len(before) > 100
    await rollup.backfill(sessions, NOW + timedelta(minutes=6))  # the CLI's rebuild of every day
    async with session_scope(sessions) as session:
        assert await rollup_rows(session) == before


async def test_a_late_call_end_reaches_its_day_at_the_next_run(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await load_calls(sessions, 800)
    await rollup.refresh(sessions, NOW)
    day = FIRST + timedelta(days=DAYS - 5)  # four days ago: not rebuilt for being recent
    since, until = day, day + timedelta(days=1)
    record = table_of(CallRecord)
    async with session_scope(sessions) as session:
        before = await figures.period_counts(session, 1, "day", since, until)
        pick = (
            await session.execute(
                select(record.c.id)
                .where(record.c.created_at >= since, record.c.created_at < until, record.c.agency_id == 1)
                .where(record.c.answered.is_not(True), record.c.setup_received_at.is_not(None))
                .limit(1)
            )
        ).scalar_one()
        # Its call.ended arrives now (the PBX replayed it): answered, 600 s.
        await session.execute(
            update(record)
            .where(record.c.id == pick)
            .values(answered=True, talk_seconds=600, updated_at=NOW + timedelta(minutes=1))
        )
    async with session_scope(sessions) as session:
        assert await figures.period_counts(session, 1, "day", since, until) == before  # not yet
    report = await rollup.refresh(sessions, NOW + timedelta(minutes=5))
    assert day.date() in report.days
    async with session_scope(sessions) as session:
        after = await figures.period_counts(session, 1, "day", since, until)
        assert after == await figures.period_counts(
            session, 1, "day", since, until, where=raw_plan(since, until)
        )
        assert (after[0].answered, after[0].talk_seconds) == (
            before[0].answered + 1,
            before[0].talk_seconds + 600,
        )


async def test_a_backfill_keeps_the_days_retention_purged(sessions: async_sessionmaker[AsyncSession]) -> None:
    await load_calls(sessions, 800)
    await rollup.refresh(sessions, NOW)
    async with session_scope(sessions) as session:
        before = await figures.period_counts(session, 1, "day", None, None)
    # Retention purges the records of the first days, part of the sixth day's among them.
    record = table_of(CallRecord)
    async with session_scope(sessions) as session:
        await session.execute(delete(record).where(record.c.created_at < FIRST + timedelta(days=5, hours=12)))
    await rollup.backfill(sessions, NOW + timedelta(minutes=5), FIRST.date())  # asked to rebuild all
    async with session_scope(sessions) as session:
        assert await figures.period_counts(session, 1, "day", None, None) == before
