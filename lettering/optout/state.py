"""A citizen's choice per agency and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.optout import repository
from lettering.optout.index import SCOPES, SNAPSHOT_NAME, Scope
from lettering.optout.models import ALL_AGENCIES, OptoutHistory
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
    stored = await repository.scopes_of(session, callee_hash, [agency_id, ALL_AGENCIES])
    return {a: _scope(s) for a, s in stored.items()}


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
    # Make sure the row exists, then lock it: two changes at once are applied one after the other,
    # and each history row names the scope it really changed from.
    inserted = await repository.ensure_state(session, callee_hash, agency_id, now)
    state = await repository.lock_state(session, callee_hash, agency_id)
    from_scope = _scope(state.scope)
    if from_scope == to_scope:
        if inserted:
            # Nothing changes: leave no row behind (a fresh "none" row would look like a newer
            # choice than one kept under an older key version's hash, see lettering/keyring).
            await repository.drop_state(session, state)
        return OptoutChange(callee_hash, agency_id, from_scope, to_scope, None)
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
    history_id = await repository.save_change(session, state, to_scope, now, history)
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return OptoutChange(callee_hash, agency_id, from_scope, to_scope, history_id)


async def history_of(session: AsyncSession, callee_hash: str) -> list[OptoutHistory]:
    """Every change of one citizen's choices, oldest first."""
    return await repository.history_of(session, callee_hash)
