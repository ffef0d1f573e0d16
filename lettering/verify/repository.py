"""This package's SQL: the citizens' "this wasn't us" reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import rows_touched, seoul_day_text
from lettering.verify.models import VerifySpoofReport


async def add_report(
    session: AsyncSession,
    *,
    shown_number: str,
    agency_id: int | None,
    seen_at: datetime | None,
    note: str | None,
    ip_hash: str | None,
) -> int:
    """Store one report; its id."""
    report = VerifySpoofReport.model_validate(
        {
            "shown_number": shown_number,
            "agency_id": agency_id,
            "seen_at": seen_at,
            "note": note,
            "ip_hash": ip_hash,
        }
    )
    session.add(report)
    await session.flush()
    assert report.id is not None
    return report.id


async def report_counts(session: AsyncSession, since: datetime | None) -> dict[int, int]:
    """Reports per agency (agency id -> count); reports matching no agency are left out."""
    query = (
        select(col(VerifySpoofReport.agency_id), func.count())
        .where(col(VerifySpoofReport.agency_id).is_not(None))
        .group_by(col(VerifySpoofReport.agency_id))
    )
    if since is not None:
        query = query.where(col(VerifySpoofReport.created_at) >= since)
    rows = (await session.execute(query)).all()
    return {int(agency_id): int(count) for agency_id, count in rows if agency_id is not None}


async def numbers_reported(
    session: AsyncSession, agency_id: int, since: datetime | None
) -> list[tuple[str, int]]:
    """An agency's reported numbers with their report counts, most reported first."""
    query = (
        select(col(VerifySpoofReport.shown_number), func.count())
        .where(col(VerifySpoofReport.agency_id) == agency_id)
        .group_by(col(VerifySpoofReport.shown_number))
        .order_by(func.count().desc(), col(VerifySpoofReport.shown_number))
    )
    if since is not None:
        query = query.where(col(VerifySpoofReport.created_at) >= since)
    return [(str(number), int(count)) for number, count in (await session.execute(query)).all()]


async def forget_report_ips(session: AsyncSession, older_than: datetime) -> int:
    """Drop the hashed IP of reports older than `older_than`; how many reports lost theirs."""
    result = await session.execute(
        update(VerifySpoofReport)
        .where(col(VerifySpoofReport.created_at) < older_than, col(VerifySpoofReport.ip_hash).is_not(None))
        .values(ip_hash=None)
    )
    return rows_touched(result)


@dataclass(frozen=True, slots=True)
class SpoofReportView:
    """One report as the staff console shows it (the number is a public one, or masked)."""

    id: int
    shown_number: str
    agency_id: int | None
    seen_at: datetime | None
    note: str | None
    created_at: datetime


_REPORT_COLUMNS = (
    col(VerifySpoofReport.id),
    col(VerifySpoofReport.shown_number),
    col(VerifySpoofReport.agency_id),
    col(VerifySpoofReport.seen_at),
    col(VerifySpoofReport.note),
    col(VerifySpoofReport.created_at),
)


def _report(row: Any) -> SpoofReportView:
    report_id, shown_number, agency_id, seen_at, note, created_at = row
    return SpoofReportView(int(report_id), shown_number, agency_id, seen_at, note, created_at)


async def list_reports(
    session: AsyncSession, agency_id: int | None, before_id: int | None, limit: int
) -> list[SpoofReportView]:
    """Reports of one agency (None: every agency), newest first, below `before_id`."""
    query = select(*_REPORT_COLUMNS).order_by(col(VerifySpoofReport.id).desc()).limit(limit)
    if agency_id is not None:
        query = query.where(col(VerifySpoofReport.agency_id) == agency_id)
    if before_id is not None:
        query = query.where(col(VerifySpoofReport.id) < before_id)
    return [_report(row) for row in (await session.execute(query)).all()]


async def get_report(session: AsyncSession, report_id: int) -> SpoofReportView | None:
    query = select(*_REPORT_COLUMNS).where(col(VerifySpoofReport.id) == report_id)
    row = (await session.execute(query)).first()
    return _report(row) if row is not None else None


async def reports_per_day(
    session: AsyncSession, agency_id: int, since: datetime | None, until: datetime | None
) -> list[tuple[str, int]]:
    """(Seoul day 'YYYY-MM-DD', reports) of an agency's reports received in [since, until)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    day = seoul_day_text(dialect, col(VerifySpoofReport.created_at)).label("day")
    query = select(day, func.count()).where(col(VerifySpoofReport.agency_id) == agency_id)
    if since is not None:
        query = query.where(col(VerifySpoofReport.created_at) >= since)
    if until is not None:
        query = query.where(col(VerifySpoofReport.created_at) < until)
    rows = (await session.execute(query.group_by(day).order_by(day))).all()
    return [(str(d), int(n)) for d, n in rows]
