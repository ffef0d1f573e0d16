"""The webhook package's SQL: claiming a delivery and keeping the answer it got.

Plain functions over a Core `Connection` with statements built once per dialect: they run inside
units of the call path's group commit (lettering.core.db.GroupCommitter), or through `run_sync`.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlmodel import col

from lettering.core.db import rows_touched, table_of, utcnow
from lettering.core.db_upsert import insert_of
from lettering.core.keycolumns import SealedSecrets
from lettering.core.prepared import execute
from lettering.webhook.models import WebhookDelivery, WebhookPbx

DELIVERY = table_of(WebhookDelivery)


class StoredDelivery(NamedTuple):
    id: int
    response_status: int | None
    response_body: str | None
    received_at: datetime


@functools.cache
def _claim(dialect: str) -> Executable:
    insert = insert_of(dialect, DELIVERY).on_conflict_do_nothing(
        index_elements=[DELIVERY.c.pbx_id, DELIVERY.c.dedupe_key]
    )
    return insert.returning(DELIVERY.c.id)  # type: ignore[no-any-return]


@functools.cache
def _claim_answered(dialect: str) -> Executable:
    return insert_of(dialect, DELIVERY).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[DELIVERY.c.pbx_id, DELIVERY.c.dedupe_key]
    )


_STORE_REPLY = (
    update(DELIVERY)
    .where(DELIVERY.c.id == bindparam("claim_id"))
    .values(
        response_status=bindparam("status"),
        response_body=bindparam("body"),
        completed_at=bindparam("at"),
    )
)
_RELEASE = delete(DELIVERY).where(DELIVERY.c.id == bindparam("claim_id"))
_FIND = select(
    DELIVERY.c.id, DELIVERY.c.response_status, DELIVERY.c.response_body, DELIVERY.c.received_at
).where(DELIVERY.c.pbx_id == bindparam("pbx"), DELIVERY.c.dedupe_key == bindparam("key"))
_TAKE_OVER = (
    update(DELIVERY)
    .where(
        DELIVERY.c.id == bindparam("claim_id"),
        DELIVERY.c.response_status.is_(None),
        DELIVERY.c.received_at < bindparam("stale_before"),
    )
    .values(received_at=bindparam("now"))
)


def claim(conn: Connection, pbx_id: str, key: str, event_type: str, call_id: str) -> int | None:
    """Insert the delivery's row; its id, or None when the delivery was claimed before.

    One `INSERT … ON CONFLICT DO NOTHING RETURNING id`, in the transaction that records the call,
    so a claim never exists without the call record it stands for.
    """
    claimed = execute(
        conn,
        _claim(conn.dialect.name),
        {
            "pbx_id": pbx_id,
            "dedupe_key": key,
            "event_type": event_type,
            "call_id": call_id,
            "received_at": utcnow(),
        },
    ).scalar_one_or_none()
    return None if claimed is None else int(claimed)


def claim_answered(
    conn: Connection, deliveries: list[tuple[str, str, str, str, int, dict[str, Any]]]
) -> None:
    """Claims of deliveries answered already (pbx_id, key, type, call_id, status, body), in one
    executemany; a delivery claimed before is left as it is."""
    if not deliveries:
        return
    now = utcnow()
    execute(
        conn,
        _claim_answered(conn.dialect.name),
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


def release(conn: Connection, claim_id: int) -> None:
    """Forget a claim whose processing failed, so the PBX's retry is processed afresh."""
    execute(conn, _RELEASE, {"claim_id": claim_id})


def store_reply(conn: Connection, claim_id: int, status: int, body: dict[str, Any]) -> None:
    execute(
        conn,
        _STORE_REPLY,
        {
            "claim_id": claim_id,
            "status": status,
            "body": json.dumps(body, ensure_ascii=False),
            "at": utcnow(),
        },
    )


def find(conn: Connection, pbx_id: str, key: str) -> StoredDelivery | None:
    row = execute(conn, _FIND, {"pbx": pbx_id, "key": key}).first()
    return None if row is None else StoredDelivery(*row)


def take_over(conn: Connection, claim_id: int, stale_before: datetime) -> bool:
    """Take a claim whose owner died (no answer stored, received before `stale_before`)."""
    result = execute(conn, _TAKE_OVER, {"claim_id": claim_id, "stale_before": stale_before, "now": utcnow()})
    return bool(result.rowcount)


# -- registrations (the CLI, the snapshot builder) ---------------------------------------


async def pbx_exists(session: AsyncSession, pbx_id: str) -> bool:
    return await session.get(WebhookPbx, pbx_id) is not None


async def get_pbx(session: AsyncSession, pbx_id: str) -> WebhookPbx | None:
    return await session.get(WebhookPbx, pbx_id)


async def store_rotation(session: AsyncSession, pbx_id: str, **values: Any) -> None:
    """Write a rotation's new credential and the one it keeps in grace (columns of webhook_pbx)."""
    await session.execute(
        update(WebhookPbx).where(col(WebhookPbx.id) == pbx_id).values(**values, updated_at=utcnow())
    )


async def add_pbx_row(session: AsyncSession, row: WebhookPbx) -> None:
    session.add(row)
    await session.flush()


async def first_signed_pbx(session: AsyncSession, pbx_id: str | None) -> WebhookPbx | None:
    """The named signed PBX, else the first registered one."""
    query = (
        select(WebhookPbx).where(col(WebhookPbx.auth_mode) == "signed").order_by(col(WebhookPbx.created_at))
    )
    if pbx_id:
        query = query.where(col(WebhookPbx.id) == pbx_id)
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def all_pbx(session: AsyncSession) -> list[WebhookPbx]:
    """Every registration, by id."""
    return list((await session.execute(select(WebhookPbx).order_by(col(WebhookPbx.id)))).scalars())


async def set_pbx_enabled(session: AsyncSession, pbx_id: str, enabled: bool) -> bool:
    """Enable or disable a registration; False when there is none with this id."""
    result = await session.execute(
        update(WebhookPbx).where(col(WebhookPbx.id) == pbx_id).values(enabled=enabled, updated_at=utcnow())
    )
    return rows_touched(result) > 0


async def delete_pbx(session: AsyncSession, pbx_id: str) -> int | None:
    """Remove a registration and its processed deliveries (the dedupe keys); how many deliveries
    went, or None when there is no PBX with this id. Call records are not touched."""
    result = await session.execute(delete(WebhookPbx).where(col(WebhookPbx.id) == pbx_id))
    if rows_touched(result) == 0:
        return None
    deliveries = await session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.pbx_id) == pbx_id))
    return rows_touched(deliveries)


class PbxActivity(NamedTuple):
    last_event_at: datetime | None
    setups: int
    ends: int


async def pbx_activity(session: AsyncSession, since: datetime) -> dict[str, PbxActivity]:
    """Per PBX: its latest delivery (as far back as deliveries are kept), and its setups and ends
    received since `since`, in one grouped query over the deliveries."""
    recent = DELIVERY.c.received_at >= since

    def counted(event_type: str) -> Any:
        return func.sum(case((recent & (DELIVERY.c.event_type == event_type), 1), else_=0))

    query = select(
        DELIVERY.c.pbx_id,
        func.max(DELIVERY.c.received_at),
        counted("call.setup"),
        counted("call.ended"),
    ).group_by(DELIVERY.c.pbx_id)
    rows = (await session.execute(query)).all()
    return {str(r[0]): PbxActivity(r[1], int(r[2] or 0), int(r[3] or 0)) for r in rows}


async def purge_deliveries(session: AsyncSession, older_than: datetime) -> int:
    """Forget deliveries received before `older_than`."""
    stale = col(WebhookDelivery.received_at) < older_than
    result = await session.execute(delete(WebhookDelivery).where(stale))
    return rows_touched(result)


# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedSecrets(
        table_of(WebhookPbx),
        id="id",
        sealed="secret_sealed",
        version="secret_key_version",
        snapshot="pbx",
    ),
    # The secret a rotation replaced, while its grace runs: re-sealed too, or a key rotation
    # during the grace would leave it sealed under a key that is later retired.
    SealedSecrets(
        table_of(WebhookPbx),
        id="id",
        sealed="previous_secret_sealed",
        version="previous_secret_key_version",
        snapshot="pbx",
    ),
)
