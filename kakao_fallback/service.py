"""What the call path asks of the AlimTalk fallback: queue a notice in the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from kakao_fallback.models import KakaoMessage
from lettering.db_upsert import insert_for
from lettering.phone import format_national

SEOUL = ZoneInfo("Asia/Seoul")


def call_notice_variables(
    *,
    agency: str,
    department: str,
    guidance: str,
    caller_e164: str | None,
    occurred_at: datetime,
    public_id: str,
) -> dict[str, str]:
    """What a call notice says, stored with the outbox row (the relay fills the template from it)."""
    return {
        "agency": agency,
        "department": department,
        "guidance": guidance,
        "callback": format_national(caller_e164) if caller_e164 else "",
        "call_time": occurred_at.astimezone(SEOUL).strftime("%m월 %d일 %H:%M").lstrip("0"),
        "verify_code": verify_code(public_id),
    }


def verify_code(public_id: str) -> str:
    """The short code a citizen can check a call by (from the call's public id)."""
    return public_id[:6].upper()


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
