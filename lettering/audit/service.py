"""The access log (who saw a citizen's number, when and why) and pseudonymous client identifiers.

The access log is append-only: rows are only ever added, and the retention job deletes a row
only once it is older than the period the log is kept (two years by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.audit.models import AuditAccessLog
from lettering.core.db import rows_touched

AccessLogView = AuditAccessLog


async def log_access(
    session: AsyncSession, user_id: int, action: str, record_kind: str, record_id: int, reason: str
) -> AuditAccessLog:
    """Append one access-log row in the caller's transaction (it commits with what it records)."""
    row = AuditAccessLog.model_validate(
        {
            "user_id": user_id,
            "action": action[:32],
            "record_kind": record_kind[:32],
            "record_id": record_id,
            "reason": reason.strip()[:300],
        }
    )
    session.add(row)
    await session.flush()
    return row


async def access_log(
    session: AsyncSession, *, record_kind: str | None = None, record_id: int | None = None, limit: int = 100
) -> list[AuditAccessLog]:
    """Access-log rows, newest first, optionally for one record."""
    query = select(AuditAccessLog).order_by(col(AuditAccessLog.id).desc()).limit(limit)
    if record_kind is not None:
        query = query.where(col(AuditAccessLog.record_kind) == record_kind)
    if record_id is not None:
        query = query.where(col(AuditAccessLog.record_id) == record_id)
    return list((await session.execute(query)).scalars())


async def purge_access_log(session: AsyncSession, older_than: datetime) -> int:
    """Delete access-log rows written before `older_than` (only the retention job calls this)."""
    result = await session.execute(delete(AuditAccessLog).where(col(AuditAccessLog.created_at) < older_than))
    return rows_touched(result)


def hash_client(key_b64: str, kind: str, value: str) -> str:
    """A keyed pseudonym of a client detail (IP address, user agent) for records and limits.

    HMAC-SHA256 under the phone hash key, with the kind as a domain prefix so it never equals a
    number's hash: without the key the small IPv4 space cannot be searched for a match.
    """
    key = base64.b64decode(key_b64)
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
