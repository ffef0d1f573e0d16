"""A citizen's choice per agency and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import rows_touched, table_of
from lettering.core.db_upsert import insert_for
from lettering.optout.index import SCOPES, SNAPSHOT_NAME, Scope
from lettering.optout.models import ALL_AGENCIES, OptoutHistory, OptoutState
from lettering.snapshots.service import bump


@dataclass(frozen=True, slots=True)
class OptoutChange:
    callee_hash: str
    agency_id: int
    from_scope: Scope
    to_scope: Scope
    history_id: int | None  # None when nothing changed

    @property
    def changed(self) -> bool:
        return self.from_scope != self.to_scope


def as_scope(value: str) -> Scope | None:
    """`value` as a scope, or None if it is not one."""
    return next((scope for scope in SCOPES if scope == value), None)


def _scope(value: str | None) -> Scope:
    return "all" if value == "all" else "promo" if value == "promo" else "none"


async def current_scopes(session: AsyncSession, callee_hash: str, agency_id: int) -> dict[int, Scope]:
    """The citizen's own choices for this agency and for every agency (agency id -> scope)."""
    rows = await session.execute(
        select(OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.callee_hash == callee_hash,
            col(OptoutState.agency_id).in_(sorted({agency_id, ALL_AGENCIES})),
        )
    )
    return {int(a): _scope(s) for a, s in rows.all()}


async def change_optout(
    session: AsyncSession,
    *,
    callee_hash: str,
    agency_id: int,
    to_scope: Scope,
    via: Literal["link", "admin"],
    now: datetime,
    admin_id: int | None = None,
    ip_hash: str | None = None,
    user_agent_hash: str | None = None,
    reason: str | None = None,
) -> OptoutChange:
    """Set the citizen's choice for one agency (0: all); history row and snapshot bump when it changes.

    Runs in the caller's transaction (only flushes): the state, its history row and the bump that
    makes every worker apply it within seconds commit together or not at all.
    """
    if to_scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    table = table_of(OptoutState)
    # Make sure the row exists, then lock it: two changes at once are applied one after the other,
    # and each history row names the scope it really changed from.
    inserted = await session.execute(
        insert_for(session, table)
        .values(callee_hash=callee_hash, agency_id=agency_id, scope="none", updated_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash, table.c.agency_id])
    )
    state = (
        await session.execute(
            select(OptoutState)
            .where(col(OptoutState.callee_hash) == callee_hash, col(OptoutState.agency_id) == agency_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    from_scope = _scope(state.scope)
    if from_scope == to_scope:
        if rows_touched(inserted):
            # Nothing changes: leave no row behind (a fresh "none" row would look like a newer
            # choice than one kept under an older key version's hash, see lettering/keyring).
            await session.delete(state)
            await session.flush()
        return OptoutChange(callee_hash, agency_id, from_scope, to_scope, None)
    state.scope = to_scope
    state.updated_at = now
    history = OptoutHistory.model_validate(
        {
            "callee_hash": callee_hash,
            "agency_id": agency_id,
            "from_scope": from_scope,
            "to_scope": to_scope,
            "via": via,
            "admin_id": admin_id,
            "ip_hash": ip_hash,
            "user_agent_hash": user_agent_hash,
            "reason": reason,
            "created_at": now,
        }
    )
    session.add(history)
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return OptoutChange(callee_hash, agency_id, from_scope, to_scope, history.id)


async def history_of(session: AsyncSession, callee_hash: str) -> list[OptoutHistory]:
    """Every change of one citizen's choices, oldest first."""
    rows = await session.execute(
        select(OptoutHistory)
        .where(col(OptoutHistory.callee_hash) == callee_hash)
        .order_by(col(OptoutHistory.id))
    )
    return list(rows.scalars())
