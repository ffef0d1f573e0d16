"""The dashboard's figures: outcomes per carrier, calls per day and hour, the holdout arms'
counts, impressions per campaign and the per-agency table.

Each figure is read from the rollup (lettering/calls/rollup.py) for the whole Seoul days before
the rollup's mark, and from the raw call records (their `created_at` index bounds the range) for
the rest: the part of a range before its first whole day, and everything from the mark's day on.
The two give the same counts (tests/integration/test_dashboard_rollup.py compares them). Days
and hours are Asia/Seoul's (UTC+9 all year, no daylight saving).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.calls import repository
from lettering.calls.rollup import day_start, seoul_day


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    carrier: str | None  # None: no carrier was involved (suppressed, skipped, held out)
    lettering: str  # what the PBX was told
    final_outcome: str | None  # how the push ended (after `pending`)
    calls: int


@dataclass(frozen=True, slots=True)
class PeriodCount:
    key: str  # "2026-12-03" for a day, "09" for an hour
    calls: int
    answered: int
    talk_seconds: int


@dataclass(frozen=True, slots=True)
class CampaignCount:
    campaign_id: int
    calls: int  # calls that carried the campaign
    shown: int  # of which a carrier showed the lettering (final outcome `accepted`)


@dataclass(frozen=True, slots=True)
class AgencyCount:
    agency_id: int
    calls: int
    answered: int
    fallbacks: int  # the push ended in the AlimTalk fallback


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a range's figures come from: the rollup's days [first_day, last_day] (None: none of
    it), the raw records in each of `raw` ([since, until) in UTC; None: unbounded)."""

    first_day: date | None
    last_day: date | None
    rollup: bool
    raw: tuple[tuple[datetime | None, datetime | None], ...]
    mark: datetime | None  # when the rollup was last brought up to date


async def plan(session: AsyncSession, since: datetime | None, until: datetime | None) -> Plan:
    """Split [since, until) into the rollup's whole days before the mark's day and raw pieces."""
    mark = await repository.rollup_mark(session)
    if mark is None:
        return Plan(None, None, False, ((since, until),), None)
    first = None if since is None else seoul_day(since)
    if first is not None and since is not None and day_start(first) < since:
        first += timedelta(days=1)  # since is inside a day: that day's part is raw
    last = seoul_day(mark) - timedelta(days=1)
    if until is not None:
        last = min(last, seoul_day(until) - timedelta(days=1))  # the day `until` falls in is raw
    if first is not None and first > last:
        return Plan(None, None, False, ((since, until),), mark)
    raw: list[tuple[datetime | None, datetime | None]] = []
    if first is not None:
        start = day_start(first)
        if since is not None and since < start:
            raw.append((since, start))
    end = day_start(last + timedelta(days=1))
    if until is None or end < until:
        raw.append((end, until))
    return Plan(first, last, True, tuple(raw), mark)


async def outcome_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
    *,
    where: Plan | None = None,
) -> list[OutcomeCount]:
    p = where or await plan(session, since, until)
    totals: dict[tuple[str | None, str | None, str | None], int] = defaultdict(int)
    parts = [await repository.outcome_counts(session, agency_id, a, b, department_id) for a, b in p.raw]
    if p.rollup:
        parts.append(
            await repository.rollup_outcome_counts(session, agency_id, p.first_day, p.last_day, department_id)
        )
    for rows in parts:
        for carrier, lettering, final, n in rows:
            totals[carrier, lettering, final] += n
    return sorted(
        (
            OutcomeCount(carrier, lettering or "unknown", final, n)
            for (carrier, lettering, final), n in totals.items()
        ),
        key=lambda c: (c.carrier or "~", c.lettering, c.final_outcome or ""),
    )


async def period_counts(
    session: AsyncSession,
    agency_id: int,
    part: str,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
    *,
    where: Plan | None = None,
) -> list[PeriodCount]:
    """Calls per Seoul day (`part="day"`) or hour of day (`"hour"`), with answered and talk time."""
    p = where or await plan(session, since, until)
    parts = [await repository.period_counts(session, agency_id, part, a, b, department_id) for a, b in p.raw]
    if p.rollup:
        parts.append(
            await repository.rollup_period_counts(
                session, agency_id, part, p.first_day, p.last_day, department_id
            )
        )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rows in parts:
        for key, n, answered, talk in rows:
            t = totals[key]
            t[0] += n
            t[1] += answered
            t[2] += talk
    return [PeriodCount(key, *totals[key]) for key in sorted(totals)]


async def arm_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
    *,
    where: Plan | None = None,
) -> dict[str, tuple[int, int, int]]:
    """Arm -> (ended calls, answered, talk seconds): repository.arm_counts over the range."""
    p = where or await plan(session, since, until)
    parts = [await repository.arm_counts(session, agency_id, a, b, department_id) for a, b in p.raw]
    if p.rollup:
        parts.append(
            await repository.rollup_arm_counts(session, agency_id, p.first_day, p.last_day, department_id)
        )
    totals: dict[str, tuple[int, int, int]] = {}
    for counts in parts:
        for arm, (n, answered, talk) in counts.items():
            was = totals.get(arm, (0, 0, 0))
            totals[arm] = (was[0] + n, was[1] + answered, was[2] + talk)
    return totals


async def campaign_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
    *,
    where: Plan | None = None,
) -> list[CampaignCount]:
    """Per campaign: the calls that carried it and how many a carrier showed (its impressions)."""
    p = where or await plan(session, since, until)
    parts = [await repository.campaign_counts(session, agency_id, a, b, department_id) for a, b in p.raw]
    if p.rollup:
        parts.append(
            await repository.rollup_campaign_counts(
                session, agency_id, p.first_day, p.last_day, department_id
            )
        )
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for rows in parts:
        for campaign_id, n, shown in rows:
            totals[campaign_id][0] += n
            totals[campaign_id][1] += shown
    return sorted(
        (CampaignCount(c, n, s) for c, (n, s) in totals.items()),
        key=lambda c: (-c.shown, -c.calls, c.campaign_id),
    )


async def agency_counts(
    session: AsyncSession, since: datetime | None, until: datetime | None, *, where: Plan | None = None
) -> list[AgencyCount]:
    """Per agency (every agency: the platform admins' table): calls, answered and fallbacks."""
    p = where or await plan(session, since, until)
    parts = [await repository.agency_counts(session, a, b) for a, b in p.raw]
    if p.rollup:
        parts.append(await repository.rollup_agency_counts(session, p.first_day, p.last_day))
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rows in parts:
        for agency_id, n, answered, fallbacks in rows:
            t = totals[agency_id]
            t[0] += n
            t[1] += answered
            t[2] += fallbacks
    return [AgencyCount(a, *totals[a]) for a in sorted(totals)]


def days_between(first: date, last: date) -> list[str]:
    """Every day of the range as 'YYYY-MM-DD' (a chart shows the days without calls too)."""
    out, day = [], first
    while day <= last:
        out.append(day.isoformat())
        day = date.fromordinal(day.toordinal() + 1)
    return out
