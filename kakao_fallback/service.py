"""What the call path asks of the AlimTalk fallback: queue a notice in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from kakao_fallback import repository
from kakao_fallback.models import KakaoMessage
from lettering.core.clock import SEOUL
from lettering.core.phone import format_national


@dataclass(frozen=True, slots=True)
class MessageView:
    """An outbox message as other packages see it (a copy, never the row; no number in it)."""

    id: int
    call_record_id: int | None
    agency_id: int
    kind: str
    recipient_hash: str
    status: str
    attempts: int
    last_error: str | None
    delivery_status: str | None
    result_code: str | None
    channel: str | None
    next_attempt_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, row: KakaoMessage) -> MessageView:
        assert row.id is not None
        return cls(
            row.id,
            row.call_record_id,
            row.agency_id,
            row.kind,
            row.recipient_hash,
            row.status,
            row.attempts,
            row.last_error,
            row.delivery_status,
            row.result_code,
            row.channel,
            row.next_attempt_at,
            row.created_at,
        )


def call_notice_variables(
    *,
    agency: str,
    department: str,
    guidance: str,
    caller_e164: str | None,
    occurred_at: datetime,
    verify_code: str,
    campaign_id: int | None = None,
    card_news_url: str | None = None,
) -> dict[str, str | int]:
    """What a call notice says, stored with the outbox row (the relay fills the template from it).
    A campaign's card-news page (without the citizen's token: the relay adds it when it sends)
    makes it the notice with the 카드뉴스 보기 button, whose delivery counts as an impression."""
    variables: dict[str, str | int] = {
        "agency": agency,
        "department": department,
        "guidance": guidance,
        "callback": format_national(caller_e164) if caller_e164 else "",
        "call_time": occurred_at.astimezone(SEOUL).strftime("%m월 %d일 %H:%M").lstrip("0"),
        "verify_code": verify_code,
    }
    if campaign_id is not None and card_news_url:
        variables.update(campaign_id=campaign_id, card_news_url=card_news_url)
    return variables


# An identity notice is only useful shortly after the call.
NOTICE_EXPIRY = timedelta(hours=24)


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
    return repository.insert_call_notice(
        conn,
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


async def enqueue_call_notice(session: AsyncSession, **notice: Any) -> bool:
    """`queue_call_notice` in an async session's transaction (only flushes: the caller commits)."""
    return await session.run_sync(lambda s: queue_call_notice(s.connection(), **notice))


# -- operators ----------------------------------------------------------------------------------

STATUSES = ("queued", "sending", "accepted", "sent_unknown", "delivered", "failed", "dead", "dropped")
# The statuses of messages still on their way: what the outbox's depth counts (the others are final).
IN_PROGRESS = ("queued", "sending", "accepted")


async def outbox_depth(session: AsyncSession) -> dict[str, int]:
    """Messages still on their way, by status (every agency): the metrics' outbox gauge."""
    depth = dict.fromkeys(IN_PROGRESS, 0)
    depth.update(await repository.counts_in_progress(session, IN_PROGRESS))
    return depth


async def list_messages(
    session: AsyncSession, *, status: str | None = None, agency_id: int | None = None, limit: int = 50
) -> list[MessageView]:
    """Outbox messages, newest first (dead letters carry their last error)."""
    rows = await repository.list_messages(session, status=status, agency_id=agency_id, limit=limit)
    return [MessageView.of(row) for row in rows]


async def existing_ids(session: AsyncSession, ids: list[int]) -> set[int]:
    """Those of `ids` that name a message (an operator's typo is told apart from a message that
    cannot be sent again)."""
    return await repository.existing_ids(session, ids)


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
    queued = 0
    # A dead message once posted may have reached the dealer: never sent again from here.
    for row_id, recipient_hash, ciphertext, key_version in await repository.retryable(session, ids):
        found = (bytes(ciphertext), key_version) if ciphertext is not None else None
        if found is None and number_of is not None:
            found = await number_of(recipient_hash)
        if found is None:
            continue
        await repository.requeue_for_retry(
            session,
            row_id,
            ciphertext=found[0],
            key_version=found[1],
            now=now,
            expires_at=now + NOTICE_EXPIRY,
        )
        queued += 1
    return queued


async def purge_messages(session: AsyncSession, older_than: datetime) -> int:
    """Delete finished rows (delivered, failed, dead, dropped) last changed before `older_than`."""
    return await repository.purge_finished(session, older_than)


async def agency_summary(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    call_ids: Select[Any] | None = None,
) -> dict[str, Any]:
    """Counts by status and what reached phones (AlimTalk, or SMS/LMS failover): the dashboard's figures.

    Messages queued in [since, until); with `call_ids` (a query of call record ids, e.g. one
    department's calls from `lettering.calls.service.call_ids_of_department`) only the messages of
    those calls, so opt-out notices, which belong to no call, drop out of a department's view.
    """
    by_status = dict.fromkeys(STATUSES, 0)
    delivered = {"alimtalk": 0, "sms": 0, "lms": 0}
    rows = await repository.counts_by_status_and_channel(session, agency_id, since, until, call_ids)
    for status, channel, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        if status == "delivered":
            delivered[channel if channel in delivered else "lms"] += count
    return {"by_status": by_status, "delivered": delivered, "total": sum(by_status.values())}


async def message_for_call(session: AsyncSession, call_record_id: int) -> MessageView | None:
    """The AlimTalk of one call, if it has one."""
    row = await repository.message_for_call(session, call_record_id)
    return MessageView.of(row) if row is not None else None


# -- opt-out notices and retention (lettering.optout, lettering.retention) ----------------------

OPTOUT_NOTICE_KIND = repository.OPTOUT_NOTICE_KIND
# The law (정보통신망법 §50 ⑦) wants the result told within 14 days; a week leaves room to spare.
OPTOUT_NOTICE_EXPIRY = timedelta(days=7)
PENDING = repository.PENDING


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
    return await repository.insert_keyed_notice(
        session,
        {
            "call_record_id": None,
            "agency_id": agency_id,
            "kind": OPTOUT_NOTICE_KIND,
            "reason": "optout_changed",
            "recipient_hash": recipient_hash,
            "recipient_ciphertext": recipient_ciphertext,
            "key_version": key_version,
            "variables": json.dumps(variables, ensure_ascii=False),
            "status": "queued",
            "attempts": 0,
            "idempotency_key": idempotency_key,
            "next_attempt_at": now,
            "expires_at": now + OPTOUT_NOTICE_EXPIRY,
            "created_at": now,
            "updated_at": now,
        },
    )


async def latest_recipient_ciphertext(
    session: AsyncSession, recipient_hash: str
) -> tuple[bytes, int, int, datetime] | None:
    """(ciphertext, key version, agency id, when) of the newest message still keeping this number."""
    return await repository.latest_recipient_ciphertext(session, recipient_hash)


async def calls_with_messages(
    session: AsyncSession, call_record_ids: list[int], *, pending_only: bool = False
) -> set[int]:
    """Which of these calls have an outbox row (with `pending_only`: one not yet finished)."""
    if not call_record_ids:
        return set()
    return await repository.calls_with_messages(session, call_record_ids, pending_only=pending_only)
