"""The learned route per callee (keyed hash -> carrier, with an expiry)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from carriers.models import CarrierRoute
from lettering.db_upsert import insert_for
from lettering.keyring.columns import HashColumn

# Learned routes are keyed by the number's hash: re-indexed by `lettering keys rotate`.
KEY_COLUMNS = (
    HashColumn(
        CarrierRoute.__table__,  # type: ignore[attr-defined]
        hash="callee_hash",
        merge="newest",
        newer_by="learned_at",
    ),
)


async def learned_carrier(session: AsyncSession, callee_hashes: Sequence[str], now: datetime) -> str | None:
    """The carrier that last knew this callee, unless that knowledge has expired.

    `callee_hashes`: the callee's hash under every configured key version, current first.
    """
    for callee_hash in callee_hashes:
        row = await session.get(CarrierRoute, callee_hash)
        if row is not None and row.expires_at > now:
            return row.carrier
    return None


async def learn_route(
    session: AsyncSession, callee_hash: str, carrier: str, now: datetime, days: int
) -> None:
    table = CarrierRoute.__table__  # type: ignore[attr-defined]
    expires = now + timedelta(days=days)
    stmt = insert_for(session, table).values(
        callee_hash=callee_hash, carrier=carrier, learned_at=now, expires_at=expires
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.callee_hash],
        set_={"carrier": carrier, "learned_at": now, "expires_at": expires},
    )
    await session.execute(stmt)


async def forget_route(session: AsyncSession, callee_hash: str) -> None:
    """The number was ported away: ask every carrier again next time."""
    await session.execute(delete(CarrierRoute).where(CarrierRoute.callee_hash == callee_hash))  # type: ignore[arg-type]


async def purge_expired_routes(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(CarrierRoute).where(CarrierRoute.expires_at <= now))  # type: ignore[arg-type]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = ["forget_route", "learn_route", "learned_carrier", "purge_expired_routes"]
