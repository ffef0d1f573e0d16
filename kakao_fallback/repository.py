"""This package's SQL: the AlimTalk outbox (`kakao_message`).

Every function takes the caller's session or connection and only flushes: the caller's unit of
work commits (the call path's group-commit units run on a Connection, the relay and the operators'
commands on an AsyncSession).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable, Select
from sqlmodel import col

from kakao_fallback.models import KakaoMessage
from lettering.core.db import rows_touched, table_of
from lettering.core.db_upsert import insert_for, insert_of
from lettering.core.keycolumns import HashColumn, SealedColumns
from lettering.core.prepared import execute

# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedColumns(
        table_of(KakaoMessage),
        id="id",
        hash="recipient_hash",
        ciphertext="recipient_ciphertext",
        version="key_version",
    ),
    HashColumn(table_of(KakaoMessage), hash="recipient_hash"),
)

# Rows a relay may (re)claim: not finished, whether or not a relay holds them now.
DUE = ("queued", "sending")
# Rows whose sending is not over yet.
PENDING = ("queued", "sending", "accepted")
# Rows done for good (an operator's purge removes them once old enough).
FINISHED = ("delivered", "sent_unknown", "failed", "dead", "dropped")
OPTOUT_NOTICE_KIND = "optout_notice"

M = KakaoMessage


def _free_lease(now: datetime) -> Any:
    return or_(col(M.lease_until).is_(None), col(M.lease_until) < now)


# -- queueing (the call path, opt-outs) ---------------------------------------------------------


@functools.cache
def _queue_notice(dialect: str) -> Executable:
    table = table_of(KakaoMessage)
    return insert_of(dialect, table).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[table.c.call_record_id]
    )


def insert_call_notice(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a call's outbox row unless the call has one; whether it was inserted."""
    result = execute(conn, _queue_notice(conn.dialect.name), values)
    return bool(result.rowcount)


async def insert_keyed_notice(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert an outbox row unless its idempotency key was queued before; whether it was inserted."""
    table = table_of(KakaoMessage)
    stmt = (
        insert_for(session, table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
    )
    return bool(rows_touched(await session.execute(stmt)))


# -- operators ----------------------------------------------------------------------------------


async def list_messages(
    session: AsyncSession, *, status: str | None, agency_id: int | None, limit: int
) -> list[KakaoMessage]:
    query = select(M).order_by(col(M.id).desc()).limit(limit)
    if status:
        query = query.where(col(M.status) == status)
    if agency_id is not None:
        query = query.where(col(M.agency_id) == agency_id)
    return list((await session.execute(query)).scalars())


async def existing_ids(session: AsyncSession, ids: Sequence[int]) -> set[int]:
    """Those of `ids` that name a message."""
    rows = await session.execute(select(col(M.id)).where(col(M.id).in_(list(ids))))
    return {int(i) for i in rows.scalars() if i is not None}


async def retryable(session: AsyncSession, ids: Sequence[int]) -> list[tuple[int, str, bytes | None, int]]:
    """(id, recipient hash, ciphertext, key version) of those of `ids` that may be sent again.

    Failed rows, and dead rows never posted: a dead message once posted may have reached the dealer.
    """
    rows = await session.execute(
        select(M.id, M.recipient_hash, M.recipient_ciphertext, M.key_version).where(  # type: ignore[call-overload]
            col(M.id).in_(list(ids)),
            or_(col(M.status) == "failed", and_(col(M.status) == "dead", col(M.first_sent_at).is_(None))),
        )
    )
    return [(int(i), str(h), c, int(v)) for i, h, c, v in rows.all()]


async def requeue_for_retry(
    session: AsyncSession,
    row_id: int,
    *,
    ciphertext: bytes,
    key_version: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Queue a finished row again as a new batch (a new idempotency key is formed for it)."""
    await session.execute(
        update(M)
        .where(col(M.id) == row_id)
        .values(
            status="queued",
            recipient_ciphertext=ciphertext,
            key_version=key_version,
            batch_key=None,
            first_sent_at=None,
            lease_until=None,
            next_attempt_at=now,
            expires_at=expires_at,
            finished_at=None,
            updated_at=now,
        )
    )


async def purge_finished(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(
        delete(M).where(col(M.status).in_(FINISHED), col(M.updated_at) < older_than)
    )
    return rows_touched(result)


async def counts_by_status_and_channel(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None = None,
    call_ids: Select[Any] | None = None,
) -> list[tuple[str, str | None, int]]:
    query = (
        select(M.status, M.channel, func.count())  # type: ignore[call-overload]
        .where(M.agency_id == agency_id)
        .group_by(M.status, M.channel)
    )
    if since is not None:
        query = query.where(col(M.created_at) >= since)
    if until is not None:
        query = query.where(col(M.created_at) < until)
    if call_ids is not None:
        query = query.where(col(M.call_record_id).in_(call_ids))
    return [(str(s), c, int(n)) for s, c, n in (await session.execute(query)).all()]


async def message_for_call(session: AsyncSession, call_record_id: int) -> KakaoMessage | None:
    query = select(M).where(col(M.call_record_id) == call_record_id)
    return (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()


async def latest_recipient_ciphertext(
    session: AsyncSession, recipient_hash: str
) -> tuple[bytes, int, int, datetime] | None:
    query = (
        select(M.recipient_ciphertext, M.key_version, M.agency_id, M.created_at)  # type: ignore[call-overload]
        .where(col(M.recipient_hash) == recipient_hash, col(M.recipient_ciphertext).is_not(None))
        .order_by(col(M.created_at).desc(), col(M.id).desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    ciphertext, key_version, agency_id, created_at = row
    return bytes(ciphertext), int(key_version), int(agency_id), created_at


async def calls_with_messages(
    session: AsyncSession, call_record_ids: list[int], *, pending_only: bool
) -> set[int]:
    query = select(M.call_record_id).where(col(M.call_record_id).in_(call_record_ids))  # type: ignore[call-overload]
    if pending_only:
        query = query.where(col(M.status).in_(PENDING))
    return {int(i) for (i,) in (await session.execute(query)).all() if i is not None}


# -- the relay: claiming ------------------------------------------------------------------------


async def due_batch_keys(session: AsyncSession, now: datetime, limit: int = 20) -> list[str]:
    """Batches formed earlier whose retry is due or whose relay died holding them."""
    query = (
        select(M.batch_key)  # type: ignore[call-overload]
        .where(
            col(M.batch_key).is_not(None),
            col(M.status).in_(DUE),
            col(M.next_attempt_at) <= now,
            _free_lease(now),
        )
        .distinct()
        .limit(limit)
    )
    return [key for (key,) in (await session.execute(query)).all()]


async def claim_batch(session: AsyncSession, key: str, now: datetime, lease: datetime) -> bool:
    """Lease every row of a formed batch in one statement: a concurrent relay gets all or none."""
    result = await session.execute(
        update(M)
        .where(col(M.batch_key) == key, col(M.status).in_(DUE), _free_lease(now))
        .values(status="sending", lease_until=lease, attempts=M.attempts + 1, updated_at=now)
    )
    return bool(rows_touched(result))


async def fresh_rows(session: AsyncSession, now: datetime, limit: int, *, lock: bool) -> list[KakaoMessage]:
    """Queued rows in no batch yet, due now, oldest first (`lock`: row locks, SKIP LOCKED)."""
    query = (
        select(M)
        .where(col(M.status) == "queued", col(M.batch_key).is_(None), col(M.next_attempt_at) <= now)
        .order_by(col(M.id))
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())


async def form_batch(
    session: AsyncSession, ids: Sequence[int | None], key: str, now: datetime, lease: datetime
) -> bool:
    """Give these fresh rows a batch key and lease them; False if another relay formed them meanwhile.

    Conditional, so a row another relay formed meanwhile is not taken twice (SQLite has no SKIP
    LOCKED; on PostgreSQL the row locks of `fresh_rows` already keep relays apart).
    """
    taken = await session.execute(
        update(M)
        .where(col(M.id).in_(list(ids)), col(M.batch_key).is_(None), col(M.status) == "queued")
        .values(
            batch_key=key,
            first_sent_at=None,  # a new key: the dealer has not seen it yet
            status="sending",
            lease_until=lease,
            attempts=M.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(rows_touched(taken))


async def leased_rows(session: AsyncSession, keys: Sequence[str], lease: datetime) -> list[KakaoMessage]:
    """The rows of these batches held under this lease, freshly loaded, in id order."""
    query = (
        select(M)
        .where(col(M.batch_key).in_(list(keys)), col(M.lease_until) == lease)
        .order_by(col(M.id))
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


# -- the relay: sending -------------------------------------------------------------------------


async def renew_lease(
    session: AsyncSession, ids: Sequence[int | None], held: datetime, renewed: datetime
) -> int:
    """Extend the lease of rows still held under `held`; how many were."""
    result = await session.execute(
        update(M)
        .where(col(M.id).in_(list(ids)), col(M.status) == "sending", col(M.lease_until) == held)
        .values(lease_until=renewed)
        .execution_options(synchronize_session=False)
    )
    return rows_touched(result)


async def mark_first_sent(session: AsyncSession, ids: Sequence[int | None], now: datetime) -> None:
    """Record the batch's first post on the rows that have none yet."""
    await session.execute(
        update(M)
        .where(col(M.id).in_(list(ids)), col(M.first_sent_at).is_(None))
        .values(first_sent_at=now)
        .execution_options(synchronize_session=False)
    )


async def finish(
    session: AsyncSession,
    ids: Sequence[int | None],
    status: str,
    why: str,
    now: datetime,
    *,
    never_accepted: bool = False,
) -> None:
    """Finish rows for good; their number is released (`never_accepted` forgets the first post)."""
    reset = {"first_sent_at": None} if never_accepted else {}
    await session.execute(
        update(M)
        .where(col(M.id).in_(list(ids)))
        .values(
            status=status,
            last_error=why,
            lease_until=None,
            finished_at=now,
            recipient_ciphertext=None,
            updated_at=now,
            **reset,
        )
        .execution_options(synchronize_session=False)
    )


async def requeue(
    session: AsyncSession,
    ids: Sequence[int | None],
    *,
    now: datetime,
    next_attempt_at: datetime,
    error: str,
    unsent: bool,
) -> None:
    """Give a batch back to the queue for a later attempt (`unsent`: the dealer never got it)."""
    await session.execute(
        update(M)
        .where(col(M.id).in_(list(ids)))
        .values(
            status="queued",
            lease_until=None,
            next_attempt_at=next_attempt_at,
            last_error=error,
            updated_at=now,
            **({"first_sent_at": None} if unsent else {}),
        )
    )


async def record_answer(session: AsyncSession, row_id: int | None, values: dict[str, Any]) -> None:
    """Store the dealer's answer for one row of a posted batch."""
    await session.execute(update(M).where(col(M.id) == row_id).values(**values))


# -- the relay: delivery results ----------------------------------------------------------------


async def due_polls(session: AsyncSession, now: datetime, limit: int) -> list[KakaoMessage]:
    """Accepted rows whose delivery result is due to be asked for, soonest first."""
    query = (
        select(M)
        .where(
            col(M.status) == "accepted",
            col(M.request_id).is_not(None),
            col(M.recipient_seq).is_not(None),
            col(M.next_poll_at) <= now,
        )
        .order_by(col(M.next_poll_at))
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def raise_delivery(session: AsyncSession, row_id: int, rank: int, values: dict[str, Any]) -> bool:
    """Apply a delivery result only up the precedence order (a late READY never overwrites COMPLETED)."""
    changed = await session.execute(
        update(M).where(col(M.id) == row_id, col(M.delivery_rank) < rank).values(**values)
    )
    return bool(rows_touched(changed))


async def get_message(session: AsyncSession, row_id: int | None) -> KakaoMessage | None:
    return await session.get(KakaoMessage, row_id)


async def counts_in_progress(session: AsyncSession, statuses: Sequence[str]) -> list[tuple[str, int]]:
    """Rows by status among `statuses` (the outbox's depth): one GROUP BY on the status index."""
    query = select(M.status, func.count()).where(col(M.status).in_(statuses)).group_by(M.status)  # type: ignore[call-overload]
    return [(str(s), int(n)) for s, n in (await session.execute(query)).all()]
