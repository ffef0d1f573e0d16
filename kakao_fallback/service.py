"""What the call path asks of the AlimTalk fallback: queue a notice in the caller's transaction."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlmodel import col

from kakao_fallback.models import KakaoMessage
from lettering.core.clock import SEOUL
from lettering.core.db import rows_touched, table_of
from lettering.core.db_upsert import insert_for, insert_of
from lettering.core.phone import format_national


def call_notice_variables(
    *,
    agency: str,
    department: str,
    guidance: str,
    caller_e164: str | None,
    occurred_at: datetime,
    verify_code: str,
) -> dict[str, str]:
    """What a call notice says, stored with the outbox row (the relay fills the template from it)."""
    return {
        "agency": agency,
        "department": department,
        "guidance": guidance,
        "callback": format_national(caller_e164) if caller_e164 else "",
        "call_time": occurred_at.astimezone(SEOUL).strftime("%m월 %d일 %H:%M").lstrip("0"),
        "verify_code": verify_code,
    }


# An identity notice is only useful shortly after the call.
NOTICE_EXPIRY = timedelta(hours=24)


@functools.cache
def _queue_notice(dialect: str) -> Executable:
    table = table_of(KakaoMessage)
    return insert_of(dialect, table).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[table.c.call_record_id]
    )


def queue_call_notice(
    conn: Connection,
    *,
    call_record_id: int | None,
    agency_id: int,
    kind: str,
    reason: str,
    recipient_hash: str,
    recipient_ciphertext: bytes | None,
    key_version: int,
    variables: dict[str, Any],
    now: datetime,
    idempotency_key: str | None = None,
    expires_in: timedelta = NOTICE_EXPIRY,
) -> bool:
    """Write the outbox row for this call (at most one per call); False when one already exists.

    Runs in the caller's transaction (a unit of the call path's group commit): it commits together
    with the call record it belongs to.
    """
    result = conn.execute(
        _queue_notice(conn.dialect.name),
        {
            "call_record_id": call_record_id,
            "agency_id": agency_id,
            "kind": kind,
            "reason": reason,
            "recipient_hash": recipient_hash,
            "recipient_ciphertext": recipient_ciphertext,
            "key_version": key_version,
            "variables": json.dumps(variables, ensure_ascii=False),
            "status": "queued",
            "attempts": 0,
            "idempotency_key": idempotency_key or f"call-{call_record_id}",
            "next_attempt_at": now,
            "expires_at": now + expires_in,
            "created_at": now,
            "updated_at": now,
        },
    )
    return bool(result.rowcount)


async def enqueue_call_notice(session: AsyncSession, **notice: Any) -> bool:
    """`queue_call_notice` in an async session's transaction (only flushes: the caller commits)."""
    return await session.run_sync(lambda s: queue_call_notice(s.connection(), **notice))


# -- operators ----------------------------------------------------------------------------------

STATUSES = ("queued", "sending", "accepted", "sent_unknown", "delivered", "failed", "dead", "dropped")


async def list_messages(
    session: AsyncSession, *, status: str | None = None, agency_id: int | None = None, limit: int = 50
) -> list[KakaoMessage]:
    """Outbox rows, newest first (dead letters carry their last error)."""
    query = select(KakaoMessage).order_by(col(KakaoMessage.id).desc()).limit(limit)
    if status:
        query = query.where(col(KakaoMessage.status) == status)
    if agency_id is not None:
        query = query.where(col(KakaoMessage.agency_id) == agency_id)
    return list((await session.execute(query)).scalars())


async def retry_messages(
    session: AsyncSession,
    ids: list[int],
    now: datetime,
    number_of: Callable[[str], Awaitable[tuple[bytes, int] | None]] | None = None,
) -> int:
    """Send dead or failed messages again (a new batch and key); how many could be.

    A finished message no longer keeps its number: `number_of(recipient hash)` finds a copy still
    kept elsewhere (the call, the citizen register) as (ciphertext, key version). Messages with
    no number to be found stay as they are.
    """
    m = KakaoMessage
    rows = await session.execute(
        select(m.id, m.recipient_hash, m.recipient_ciphertext, m.key_version).where(  # type: ignore[call-overload]
            col(m.id).in_(ids),
            # A dead message once posted may have reached the dealer: never sent again from here.
            or_(col(m.status) == "failed", and_(col(m.status) == "dead", col(m.first_sent_at).is_(None))),
        )
    )
    queued = 0
    for row_id, recipient_hash, ciphertext, key_version in rows.all():
        found = (bytes(ciphertext), int(key_version)) if ciphertext is not None else None
        if found is None and number_of is not None:
            found = await number_of(recipient_hash)
        if found is None:
            continue
        await session.execute(
            update(KakaoMessage)
            .where(col(KakaoMessage.id) == row_id)
            .values(
                status="queued",
                recipient_ciphertext=found[0],
                key_version=found[1],
                batch_key=None,
                first_sent_at=None,
                lease_until=None,
                next_attempt_at=now,
                expires_at=now + NOTICE_EXPIRY,
                finished_at=None,
                updated_at=now,
            )
        )
        queued += 1
    return queued


async def purge_messages(session: AsyncSession, older_than: datetime) -> int:
    """Delete finished rows (delivered, failed, dead, dropped) last changed before `older_than`."""
    result = await session.execute(
        delete(KakaoMessage).where(
            col(KakaoMessage.status).in_(["delivered", "sent_unknown", "failed", "dead", "dropped"]),
            col(KakaoMessage.updated_at) < older_than,
        )
    )
    return rows_touched(result)


async def agency_summary(
    session: AsyncSession, agency_id: int, since: datetime | None = None
) -> dict[str, Any]:
    """Counts by status and what reached phones (AlimTalk, or SMS/LMS failover): the dashboard's figures."""
    query = (
        select(KakaoMessage.status, KakaoMessage.channel, func.count())  # type: ignore[call-overload]
        .where(KakaoMessage.agency_id == agency_id)
        .group_by(KakaoMessage.status, KakaoMessage.channel)
    )
    if since is not None:
        query = query.where(col(KakaoMessage.created_at) >= since)
    by_status = dict.fromkeys(STATUSES, 0)
    delivered = {"alimtalk": 0, "sms": 0, "lms": 0}
    for status, channel, count in (await session.execute(query)).all():
        by_status[status] = by_status.get(status, 0) + count
        if status == "delivered":
            delivered[channel if channel in delivered else "lms"] += count
    return {"by_status": by_status, "delivered": delivered, "total": sum(by_status.values())}


async def message_for_call(session: AsyncSession, call_record_id: int) -> KakaoMessage | None:
    """The AlimTalk of one call, if it has one."""
    query = select(KakaoMessage).where(col(KakaoMessage.call_record_id) == call_record_id)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


# -- opt-out notices and retention (lettering.optout, lettering.retention) ----------------------

OPTOUT_NOTICE_KIND = "optout_notice"
# The law (정보통신망법 §50 ⑦) wants the result told within 14 days; a week leaves room to spare.
OPTOUT_NOTICE_EXPIRY = timedelta(days=7)
PENDING = ("queued", "sending", "accepted")


async def enqueue_optout_notice(
    session: AsyncSession,
    *,
    agency_id: int,
    recipient_hash: str,
    recipient_ciphertext: bytes,
    key_version: int,
    variables: dict[str, Any],
    now: datetime,
    idempotency_key: str,
) -> bool:
    """Queue the notice of an opt-out change (no call of its own); False if this key was queued before.

    Only `flush`es: the caller commits it together with the change it reports.
    """
    table = table_of(KakaoMessage)
    stmt = (
        insert_for(session, table)
        .values(
            call_record_id=None,
            agency_id=agency_id,
            kind=OPTOUT_NOTICE_KIND,
            reason="optout_changed",
            recipient_hash=recipient_hash,
            recipient_ciphertext=recipient_ciphertext,
            key_version=key_version,
            variables=json.dumps(variables, ensure_ascii=False),
            status="queued",
            attempts=0,
            idempotency_key=idempotency_key,
            next_attempt_at=now,
            expires_at=now + OPTOUT_NOTICE_EXPIRY,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
    )
    result = await session.execute(stmt)
    return bool(rows_touched(result))


async def latest_recipient_ciphertext(
    session: AsyncSession, recipient_hash: str
) -> tuple[bytes, int, int, datetime] | None:
    """(ciphertext, key version, agency id, when) of the newest message still keeping this number."""
    query = (
        select(  # type: ignore[call-overload]
            KakaoMessage.recipient_ciphertext,
            KakaoMessage.key_version,
            KakaoMessage.agency_id,
            KakaoMessage.created_at,
        )
        .where(
            col(KakaoMessage.recipient_hash) == recipient_hash,
            col(KakaoMessage.recipient_ciphertext).is_not(None),
        )
        .order_by(col(KakaoMessage.created_at).desc(), col(KakaoMessage.id).desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    ciphertext, key_version, agency_id, created_at = row
    return bytes(ciphertext), int(key_version), int(agency_id), created_at


async def calls_with_messages(
    session: AsyncSession, call_record_ids: list[int], *, pending_only: bool = False
) -> set[int]:
    """Which of these calls have an outbox row (with `pending_only`: one not yet finished)."""
    if not call_record_ids:
        return set()
    query = select(KakaoMessage.call_record_id).where(  # type: ignore[call-overload]
        col(KakaoMessage.call_record_id).in_(call_record_ids)
    )
    if pending_only:
        query = query.where(col(KakaoMessage.status).in_(PENDING))
    return {int(i) for (i,) in (await session.execute(query)).all() if i is not None}


async def optout_notices(session: AsyncSession, recipient_hash: str) -> list[KakaoMessage]:
    """The opt-out notices queued for one citizen, oldest first."""
    query = (
        select(KakaoMessage)
        .where(
            col(KakaoMessage.recipient_hash) == recipient_hash,
            col(KakaoMessage.kind) == OPTOUT_NOTICE_KIND,
        )
        .order_by(col(KakaoMessage.id))
    )
    return list((await session.execute(query.execution_options(populate_existing=True))).scalars())
