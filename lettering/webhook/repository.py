"""The webhook package's SQL: claiming a delivery and keeping the answer it got."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.db import utcnow
from lettering.db_upsert import insert_for
from lettering.webhook.models import WebhookDelivery

DELIVERY = WebhookDelivery.__table__  # type: ignore[attr-defined]


async def claim(session: AsyncSession, pbx_id: str, key: str, event_type: str, call_id: str) -> int | None:
    """Insert the delivery's row; its id, or None when the delivery was claimed before.

    One `INSERT … ON CONFLICT DO NOTHING RETURNING id`, in the transaction that records the call,
    so a claim never exists without the call record it stands for.
    """
    result = await session.execute(
        insert_for(session, DELIVERY)
        .values(pbx_id=pbx_id, dedupe_key=key, event_type=event_type, call_id=call_id, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=[DELIVERY.c.pbx_id, DELIVERY.c.dedupe_key])
        .returning(DELIVERY.c.id)
    )
    claimed = result.scalar_one_or_none()
    return None if claimed is None else int(claimed)


async def claim_answered(
    session: AsyncSession, deliveries: list[tuple[str, str, str, str, int, dict[str, Any]]]
) -> None:
    """Claims of deliveries answered already (pbx_id, key, type, call_id, status, body), in one
    executemany; a delivery claimed before is left as it is."""
    if not deliveries:
        return
    now = utcnow()
    await session.execute(
        insert_for(session, DELIVERY).on_conflict_do_nothing(
            index_elements=[DELIVERY.c.pbx_id, DELIVERY.c.dedupe_key]
        ),
        [
            {
                "pbx_id": pbx_id,
                "dedupe_key": key,
                "event_type": event_type,
                "call_id": call_id,
                "response_status": status,
                "response_body": json.dumps(body, ensure_ascii=False),
                "received_at": now,
                "completed_at": now,
            }
            for pbx_id, key, event_type, call_id, status, body in deliveries
        ],
    )


async def release(session: AsyncSession, claim_id: int) -> None:
    """Forget a claim whose processing failed, so the PBX's retry is processed afresh."""
    await session.execute(delete(DELIVERY).where(DELIVERY.c.id == claim_id))


async def store_reply(session: AsyncSession, claim_id: int, status: int, body: dict[str, Any]) -> None:
    await session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id == claim_id)
        .values(
            response_status=status,
            response_body=json.dumps(body, ensure_ascii=False),
            completed_at=utcnow(),
        )
    )


async def find(session: AsyncSession, pbx_id: str, key: str) -> Any | None:
    """(id, response_status, response_body, received_at) of a delivery, or None."""
    return (
        await session.execute(
            select(
                DELIVERY.c.id, DELIVERY.c.response_status, DELIVERY.c.response_body, DELIVERY.c.received_at
            ).where(DELIVERY.c.pbx_id == pbx_id, DELIVERY.c.dedupe_key == key)
        )
    ).first()


async def take_over(session: AsyncSession, claim_id: int, stale_before: Any) -> bool:
    """Take a claim whose owner died (no answer stored, received before `stale_before`)."""
    result = await session.execute(
        update(DELIVERY)
        .where(
            DELIVERY.c.id == claim_id,
            DELIVERY.c.response_status.is_(None),
            DELIVERY.c.received_at < stale_before,
        )
        .values(received_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
