"""This package's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import rows_touched, seoul_day_text, table_of, utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.keycolumns import HashColumn, SealedColumns
from lettering.optout.models import ALL_AGENCIES, CitizenNumber, OptoutHistory, OptoutState

SNAPSHOT_NAME = "optout"


# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedColumns(
        table_of(CitizenNumber),
        id="id",
        hash="callee_hash",
        ciphertext="ciphertext",
        version="key_version",
        merge="newest",
        newer_by="last_contact_at",
    ),
    HashColumn(
        table_of(OptoutState),
        hash="callee_hash",
        merge="newest",
        unique_with=("agency_id",),
        newer_by="updated_at",
        snapshot=SNAPSHOT_NAME,
    ),
    HashColumn(table_of(OptoutHistory), hash="callee_hash"),
)


async def optouts_without_number(session: AsyncSession, key_version: int) -> int:
    """Opt-outs in force whose number the register does not keep under `key_version`.

    They are found by their keyed hash only: a key rotation cannot re-index them, so they stay in
    force only while the key version they were made under stays configured.
    """
    kept = select(col(CitizenNumber.callee_hash)).where(col(CitizenNumber.key_version) == key_version)
    query = (
        select(func.count())
        .select_from(OptoutState)
        .where(col(OptoutState.scope) != "none", col(OptoutState.callee_hash).not_in(kept))
    )
    return int((await session.execute(query)).scalar_one())


# -- the opt-out index and the state -------------------------------------------------------------


async def scopes_in_force(session: AsyncSession) -> dict[tuple[str, int], str]:
    """Every opt-out in force, (callee_hash, agency_id) -> scope: one query, no row objects (the
    whole index is reloaded on every change, so this stays as cheap as the query itself)."""
    rows = await session.execute(
        select(col(OptoutState.callee_hash), col(OptoutState.agency_id), col(OptoutState.scope)).where(
            col(OptoutState.scope) != "none"
        )
    )
    return {(h, a): s for h, a, s in rows.all()}


async def scopes_of(session: AsyncSession, callee_hash: str, agency_ids: Sequence[int]) -> dict[int, str]:
    """One citizen's stored choices for these agencies (agency id -> scope; absent: none stored)."""
    rows = await session.execute(
        select(col(OptoutState.agency_id), col(OptoutState.scope)).where(
            col(OptoutState.callee_hash) == callee_hash,
            col(OptoutState.agency_id).in_(sorted(set(agency_ids))),
        )
    )
    return {int(a): str(s) for a, s in rows.all()}


async def ensure_state(session: AsyncSession, callee_hash: str, agency_id: int, now: datetime) -> bool:
    """Make sure the citizen's row for this agency exists ("none" if new); True when it was made."""
    table = table_of(OptoutState)
    inserted = await session.execute(
        insert_for(session, table)
        .values(callee_hash=callee_hash, agency_id=agency_id, scope="none", updated_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash, table.c.agency_id])
    )
    return rows_touched(inserted) > 0


async def lock_state(session: AsyncSession, callee_hash: str, agency_id: int) -> OptoutState:
    """The citizen's row for this agency, locked until the transaction ends (it must exist)."""
    result = await session.execute(
        select(OptoutState)
        .where(col(OptoutState.callee_hash) == callee_hash, col(OptoutState.agency_id) == agency_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one()


async def drop_state(session: AsyncSession, state: OptoutState) -> None:
    """Delete a state row (one just made for a change that changed nothing)."""
    await session.delete(state)
    await session.flush()


async def save_change(
    session: AsyncSession, state: OptoutState, to_scope: str, now: datetime, history: OptoutHistory
) -> int:
    """Set the locked row's scope and append its history row; the history row's id."""
    state.scope = to_scope
    state.updated_at = now
    session.add(history)
    await session.flush()
    assert history.id is not None
    return history.id


async def set_notice(session: AsyncSession, history_id: int | None, notice: str) -> None:
    """Record on a history row whether the result notice was queued (its one later write)."""
    history = await session.get(OptoutHistory, history_id) if history_id is not None else None
    if history is not None:
        history.notice = notice
        await session.flush()


async def history_of(session: AsyncSession, callee_hash: str) -> list[OptoutHistory]:
    """Every change of one citizen's choices, oldest first."""
    rows = await session.execute(
        select(OptoutHistory)
        .where(col(OptoutHistory.callee_hash) == callee_hash)
        .order_by(col(OptoutHistory.id))
    )
    return list(rows.scalars())


# -- the number register -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeptNumber:
    ciphertext: bytes
    key_version: int
    agency_id: int | None
    last_contact_at: datetime


async def kept_number(session: AsyncSession, callee_hash: str) -> KeptNumber | None:
    """The register's copy of this citizen's number, if it keeps one."""
    row = (
        await session.execute(
            select(
                col(CitizenNumber.ciphertext),
                col(CitizenNumber.key_version),
                col(CitizenNumber.agency_id),
                col(CitizenNumber.last_contact_at),
            ).where(col(CitizenNumber.callee_hash) == callee_hash)
        )
    ).first()
    return None if row is None else KeptNumber(bytes(row[0]), int(row[1]), row[2], row[3])


async def keep_number(
    session: AsyncSession,
    *,
    callee_hash: str,
    ciphertext: bytes,
    key_version: int,
    agency_id: int | None,
    contact_at: datetime,
) -> None:
    """Insert the citizen's row, or refresh it when `contact_at` is newer than the one kept."""
    table = table_of(CitizenNumber)
    await session.execute(
        insert_for(session, table)
        .values(
            callee_hash=callee_hash,
            ciphertext=ciphertext,
            key_version=key_version,
            agency_id=agency_id,
            last_contact_at=contact_at,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash])
    )
    await session.execute(
        update(CitizenNumber)
        .where(col(CitizenNumber.callee_hash) == callee_hash, col(CitizenNumber.last_contact_at) < contact_at)
        .values(
            ciphertext=ciphertext, key_version=key_version, agency_id=agency_id, last_contact_at=contact_at
        )
    )


async def forget_numbers(session: AsyncSession, older_than: datetime, *, batch: int) -> int:
    """Delete up to `batch` register rows last contacted before `older_than` that no opt-out in
    force needs; how many were deleted."""
    needed = select(col(OptoutState.callee_hash)).where(col(OptoutState.scope) != "none")
    ids = (
        (
            await session.execute(
                select(col(CitizenNumber.id))
                .where(
                    col(CitizenNumber.last_contact_at) < older_than,
                    col(CitizenNumber.callee_hash).not_in(needed),
                )
                .limit(batch)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    result = await session.execute(delete(CitizenNumber).where(col(CitizenNumber.id).in_(list(ids))))
    return rows_touched(result)


def _optout_counts() -> tuple[Any, Any]:
    history = table_of(OptoutHistory)
    out = func.coalesce(func.sum(case((history.c.to_scope != "none", 1), else_=0)), 0)
    back = func.coalesce(func.sum(case((history.c.to_scope == "none", 1), else_=0)), 0)
    return out, back


async def changes_per_day(
    session: AsyncSession, agency_id: int, since: datetime | None, until: datetime | None
) -> list[tuple[str, int, int]]:
    """(Seoul day, opt-outs, opt-ins) of the changes in [since, until) that apply to the agency
    (its own and those for every agency). An opt-out is a change to `promo` or `all`."""
    history = table_of(OptoutHistory)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    day = seoul_day_text(dialect, history.c.created_at).label("day")
    out, back = _optout_counts()
    query = select(day, out, back).where(history.c.agency_id.in_([agency_id, ALL_AGENCIES]))
    if since is not None:
        query = query.where(history.c.created_at >= since)
    if until is not None:
        query = query.where(history.c.created_at < until)
    rows = (await session.execute(query.group_by(day).order_by(day))).all()
    return [(str(d), int(o), int(b)) for d, o, b in rows]


async def changes_per_agency(
    session: AsyncSession, since: datetime | None, until: datetime | None
) -> dict[int, tuple[int, int]]:
    """Agency id (ALL_AGENCIES: those for every agency) -> (opt-outs, opt-ins) in [since, until)."""
    history = table_of(OptoutHistory)
    out, back = _optout_counts()
    query = select(history.c.agency_id, out, back)
    if since is not None:
        query = query.where(history.c.created_at >= since)
    if until is not None:
        query = query.where(history.c.created_at < until)
    rows = (await session.execute(query.group_by(history.c.agency_id))).all()
    return {int(a): (int(o), int(b)) for a, o, b in rows}
