"""The access log (who saw a citizen's number, when and why) and pseudonymous client identifiers.

The access log is append-only: rows are only ever added, and the retention job deletes a row
only once it is older than the period the log is kept (two years by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.audit import repository
from lettering.audit.repository import AccessLogView


async def log_access(
    session: AsyncSession, user_id: int, action: str, record_kind: str, record_id: int, reason: str
) -> AccessLogView:
    """Append one access-log row in the caller's transaction (it commits with what it records)."""
    return await repository.add_access(
        session, user_id, action[:32], record_kind[:32], record_id, reason.strip()[:300]
    )


async def access_log(
    session: AsyncSession, *, record_kind: str | None = None, record_id: int | None = None, limit: int = 100
) -> list[AccessLogView]:
    """Access-log rows, newest first, optionally for one record."""
    return await repository.access_log(session, record_kind=record_kind, record_id=record_id, limit=limit)


async def purge_access_log(session: AsyncSession, older_than: datetime) -> int:
    """Delete access-log rows written before `older_than` (only the retention job calls this)."""
    return await repository.purge_access_log(session, older_than)


def hash_client(key_b64: str, kind: str, value: str) -> str:
    """A keyed pseudonym of a client detail (IP address, user agent) for records and limits.

    HMAC-SHA256 under the phone hash key, with the kind as a domain prefix so it never equals a
    number's hash: without the key the small IPv4 space cannot be searched for a match.
    """
    key = base64.b64decode(key_b64)
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
