"""The dashboard's figures from the call records: outcomes per carrier, calls per day and hour.

Read straight from `call_record` (its `created_at` index bounds the range). A year of a city is
about three million rows: a rollup table kept by a job is the next step for ranges that long
(issue 14); these queries serve the console until then and define what the rollup must give.
Days and hours are Asia/Seoul's (UTC+9 all year, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.calls import repository


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


async def outcome_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
) -> list[OutcomeCount]:
    rows = await repository.outcome_counts(session, agency_id, since, until, department_id)
    return sorted(
        (OutcomeCount(carrier, lettering or "unknown", final, n) for carrier, lettering, final, n in rows),
        key=lambda c: (c.carrier or "~", c.lettering, c.final_outcome or ""),
    )


async def period_counts(
    session: AsyncSession,
    agency_id: int,
    part: str,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
) -> list[PeriodCount]:
    """Calls per Seoul day (`part="day"`) or hour of day (`"hour"`), with answered and talk time."""
    rows = await repository.period_counts(session, agency_id, part, since, until, department_id)
    return [PeriodCount(*row) for row in rows]


def days_between(first: date, last: date) -> list[str]:
    """Every day of the range as 'YYYY-MM-DD' (a chart shows the days without calls too)."""
    out, day = [], first
    while day <= last:
        out.append(day.isoformat())
        day = date.fromordinal(day.toordinal() + 1)
    return out
