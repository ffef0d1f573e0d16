"""What the call path asks of the AlimTalk fallback: queue a notice in the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kakao_fallback.models import KakaoMessage
from lettering.db_upsert import insert_for

# An identity notice is only useful shortly after the call.
NOTICE_EXPIRY = timedelta(hours=24)


async def enqueue_call_notice(
    session: AsyncSession,
    *,
    call_record_id: int,
    agency_id: int,
    kind: str,
    reason: str,
    recipient_hash: str,
    recipient_ciphertext: bytes | None,
    key_version: int,
    variables: dict[str, Any],
    now: datetime,
) -> bool:
    """Write the outbox row for this call (at most one per call); False when one already exists.

    Only `flush`es: the caller commits it together with the call record it belongs to.
    """
    table = KakaoMessage.__table__  # type: ignore[attr-defined]
    stmt = (
        insert_for(session, table)
        .values(
            call_record_id=call_record_id,
            agency_id=agency_id,
            kind=kind,
            reason=reason,
            recipient_hash=recipient_hash,
            recipient_ciphertext=recipient_ciphertext,
            key_version=key_version,
            variables=json.dumps(variables, ensure_ascii=False),
            status="queued",
            attempts=0,
            idempotency_key=f"call-{call_record_id}",
            next_attempt_at=now,
            expires_at=now + NOTICE_EXPIRY,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[table.c.call_record_id])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
