"""All of the access log's SQL (append and read; the retention job's purge)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.audit.models import AuditAccessLog
from lettering.core.db import rows_touched, table_of, utcnow

LOG = table_of(AuditAccessLog)


@dataclass(frozen=True, slots=True)
class AccessLogView:
    """One access-log row as other packages see it (a copy: changing it changes nothing)."""

    id: int
    user_id: int
    action: str
    record_kind: str
    record_id: int
    reason: str
    created_at: datetime


_COLUMNS = [LOG.c[name] for name in AccessLogView.__dataclass_fields__]


def _view(row: Row[int, int, str, str, int, str, datetime]) -> AccessLogView:
    return AccessLogView(*row)


async def add_access(
    session: AsyncSession, user_id: int, action: str, record_kind: str, record_id: int, reason: str
) -> AccessLogView:
    """Insert one row; the row as written."""
    values = {
        "user_id": user_id,
        "action": action,
        "record_kind": record_kind,
        "record_id": record_id,
        "reason": reason,
        "created_at": utcnow(),
    }
    row = (await session.execute(insert(LOG).values(values).returning(*_COLUMNS))).one()
    return _view(row)


async def access_log(
    session: AsyncSession,
    *,
    record_kind: str | None,
    record_id: int | None,
    limit: int,
    user_ids: Sequence[int] | None = None,
    before_id: int | None = None,
) -> list[AccessLogView]:
    query = select(*_COLUMNS).order_by(LOG.c.id.desc()).limit(limit)
    if record_kind is not None:
        query = query.where(LOG.c.record_kind == record_kind)
    if record_id is not None:
        query = query.where(LOG.c.record_id == record_id)
    if user_ids is not None:
        query = query.where(LOG.c.user_id.in_(sorted(set(user_ids))))
    if before_id is not None:
        query = query.where(LOG.c.id < before_id)
    return [_view(row) for row in (await session.execute(query)).all()]


async def entries_for(
    session: AsyncSession, action: str, record_kind: str, record_ids: Sequence[int]
) -> list[AccessLogView]:
    """Rows of this action on any of these records, oldest first."""
    if not record_ids:
        return []
    query = (
        select(*_COLUMNS)
        .where(
            LOG.c.action == action,
            LOG.c.record_kind == record_kind,
            LOG.c.record_id.in_(sorted(set(record_ids))),
        )
        .order_by(LOG.c.id)
    )
    return [_view(row) for row in (await session.execute(query)).all()]


async def purge_access_log(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(delete(LOG).where(LOG.c.created_at < older_than))
    return rows_touched(result)
