"""This package's SQL: the learned route per callee (keyed hash -> carrier, with an expiry).

The call path's functions run on its Connection (a unit of the group commit); the purge on an
AsyncSession. None of them commits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from carriers.models import CarrierRoute
from lettering.core.db import rows_touched, table_of
from lettering.core.db_upsert import insert_of
from lettering.core.keycolumns import HashColumn
from lettering.core.prepared import execute

# Learned routes are keyed by the number's hash: re-indexed by `lettering keys rotate`.
KEY_COLUMNS = (
    HashColumn(
        table_of(CarrierRoute),
        hash="callee_hash",
        merge="newest",
        newer_by="learned_at",
    ),
)


ROUTE = table_of(CarrierRoute)
_LEARNED = select(ROUTE.c.carrier, ROUTE.c.expires_at).where(ROUTE.c.callee_hash == bindparam("b_hash"))
_FORGET = delete(ROUTE).where(ROUTE.c.callee_hash == bindparam("b_hash"))


@functools.cache
def _learn(dialect: str) -> Executable:
    insert = insert_of(dialect, ROUTE)
    return insert.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[ROUTE.c.callee_hash],
        set_={
            "carrier": insert.excluded.carrier,
            "learned_at": insert.excluded.learned_at,
            "expires_at": insert.excluded.expires_at,
        },
    )


def learned_carrier(conn: Connection, callee_hashes: Sequence[str], now: datetime) -> str | None:
    """The carrier that last knew this callee, unless that knowledge has expired.

    `callee_hashes`: the callee's hash under every configured key version, current first.
    """
    for callee_hash in callee_hashes:
        row = execute(conn, _LEARNED, {"b_hash": callee_hash}).first()
        if row is not None and row.expires_at > now:
            return str(row.carrier)
    return None


def learn_route(conn: Connection, callee_hash: str, carrier: str, now: datetime, days: int) -> None:
    execute(
        conn,
        _learn(conn.dialect.name),
        {
            "callee_hash": callee_hash,
            "carrier": carrier,
            "learned_at": now,
            "expires_at": now + timedelta(days=days),
        },
    )


def forget_route(conn: Connection, callee_hash: str) -> None:
    """The number was ported away: ask every carrier again next time."""
    execute(conn, _FORGET, {"b_hash": callee_hash})


async def purge_expired_routes(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(CarrierRoute).where(CarrierRoute.expires_at <= now))  # type: ignore[arg-type]
    return rows_touched(result)


__all__ = ["forget_route", "learn_route", "learned_carrier", "purge_expired_routes"]
