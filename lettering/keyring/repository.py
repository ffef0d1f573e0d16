"""All of key rotation's SQL: its own alias table, and the number columns every package declares.

Key rotation is the one declared place that writes other packages' tables (see
tests/unit/test_layering.py, `DECLARED`). It never reads their models: each package exports the
columns that keep a number (`KEY_COLUMNS` in its repository, descriptors from
lettering.core.keycolumns), and the statements here are built from those descriptors only.
Functions take the caller's session and only execute; the service decides the transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from campaigns import repository as campaign_repository
from carriers import routes as carrier_routes
from kakao_fallback import repository as kakao_repository
from lettering.calls import repository as call_repository
from lettering.core.db import rows_touched, table_of, utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.keycolumns import HashColumn, SealedColumns, SealedSecrets
from lettering.keyring.models import PhoneHashAlias
from lettering.optout import repository as optout_repository
from lettering.webhook import repository as webhook_repository

KeyColumns = SealedColumns | HashColumn | SealedSecrets


def key_columns() -> list[KeyColumns]:
    """Every place the service keeps a number (or a secret sealed with the number keys)."""
    return [
        *optout_repository.KEY_COLUMNS,
        *call_repository.KEY_COLUMNS,
        *kakao_repository.KEY_COLUMNS,
        *carrier_routes.KEY_COLUMNS,
        *campaign_repository.KEY_COLUMNS,
        *webhook_repository.KEY_COLUMNS,
    ]


@dataclass(frozen=True, slots=True)
class SealedRow:
    """A row whose number is sealed under an older key version (as read, before resealing)."""

    id: Any
    hash: str | None
    ciphertext: bytes
    version: int


@dataclass(frozen=True, slots=True)
class SealedSecretRow:
    id: Any
    sealed: bytes
    version: int


# -- re-encryption ----------------------------------------------------------------------------


def _stale(spec: SealedColumns, current: int) -> ColumnElement[bool]:
    c = spec.table.c
    return and_(c[spec.ciphertext].is_not(None), func.coalesce(c[spec.version], 1) != current)


async def count_stale(session: AsyncSession, spec: SealedColumns, current: int) -> int:
    """Rows of `spec` sealed under another version than `current`."""
    query = select(func.count()).select_from(spec.table).where(_stale(spec, current))
    return int((await session.execute(query)).scalar_one())


async def stale_batch(
    session: AsyncSession, spec: SealedColumns, current: int, after: Any, limit: int
) -> list[SealedRow]:
    """The next `limit` rows of `spec` not under `current`, by id after `after` (None: from the start)."""
    c = spec.table.c
    query = select(c[spec.id], c[spec.hash], c[spec.ciphertext], c[spec.version]).where(_stale(spec, current))
    if after is not None:
        query = query.where(c[spec.id] > after)
    rows = (await session.execute(query.order_by(c[spec.id]).limit(limit))).all()
    return [SealedRow(r[0], r[1], bytes(r[2]), int(r[3] or 1)) for r in rows]


async def store_resealed(
    session: AsyncSession, spec: SealedColumns, row: SealedRow, hash_hex: str, ciphertext: bytes, version: int
) -> None:
    """Write a row's new hash and ciphertext, only if the row is still as read.

    A sender that has just dropped the number (ciphertext NULL) must not get it back.
    """
    c = spec.table.c
    await session.execute(
        update(spec.table)
        .where(
            c[spec.id] == row.id,
            c[spec.ciphertext].is_not(None),
            func.coalesce(c[spec.version], 1) == row.version,
        )
        .values({spec.hash: hash_hex, spec.ciphertext: ciphertext, spec.version: version})
    )


async def keep_newest_sealed(session: AsyncSession, spec: SealedColumns, row_id: Any, new_hash: str) -> bool:
    """For a unique hash: whether the row being resealed survives a row already under `new_hash`.

    The older of the two is deleted.
    """
    t, c = spec.table, spec.table.c
    assert spec.newer_by is not None
    other = (
        await session.execute(
            select(c[spec.id], c[spec.newer_by]).where(c[spec.hash] == new_hash, c[spec.id] != row_id)
        )
    ).first()
    if other is None:
        return True
    mine = (await session.execute(select(c[spec.newer_by]).where(c[spec.id] == row_id))).scalar_one()
    if other[1] >= mine:
        await session.execute(delete(t).where(c[spec.id] == row_id))
        return False
    await session.execute(delete(t).where(c[spec.id] == other[0]))
    return True


async def stale_secrets(session: AsyncSession, spec: SealedSecrets, current: int) -> list[SealedSecretRow]:
    """The secrets of `spec` sealed under another version than `current`."""
    c = spec.table.c
    rows = (
        await session.execute(
            select(c[spec.id], c[spec.sealed], c[spec.version]).where(
                c[spec.sealed].is_not(None), c[spec.version] != current
            )
        )
    ).all()
    return [SealedSecretRow(r[0], bytes(r[1]), int(r[2])) for r in rows]


async def store_resealed_secret(
    session: AsyncSession, spec: SealedSecrets, row: SealedSecretRow, sealed: bytes, version: int
) -> None:
    """Write a secret's new sealing, only if it is still under the version it was read under."""
    c = spec.table.c
    await session.execute(
        update(spec.table)
        .where(c[spec.id] == row.id, c[spec.version] == row.version)
        .values({spec.sealed: sealed, spec.version: version})
    )


# -- aliases ----------------------------------------------------------------------------------


async def record_alias(session: AsyncSession, old_hash: str, new_hash: str, version: int) -> None:
    """Remember `old_hash -> new_hash` (a no-op when `old_hash` already has an alias)."""
    table = table_of(PhoneHashAlias)
    await session.execute(
        insert_for(session, table)
        .values(old_hash=old_hash, new_hash=new_hash, key_version=version, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.old_hash])
    )


async def count_aliases(session: AsyncSession, version: int) -> int:
    """Aliases recorded by the rotation to `version`."""
    alias = table_of(PhoneHashAlias)
    query = select(func.count()).select_from(alias).where(alias.c.key_version == version)
    return int((await session.execute(query)).scalar_one())


async def alias_batch(session: AsyncSession, version: int, after: str, limit: int) -> list[tuple[str, str]]:
    """The next `limit` (old hash, new hash) pairs of the rotation to `version`, by old hash after `after`."""
    alias = table_of(PhoneHashAlias)
    rows = (
        await session.execute(
            select(alias.c.old_hash, alias.c.new_hash)
            .where(alias.c.key_version == version, alias.c.old_hash > after)
            .order_by(alias.c.old_hash)
            .limit(limit)
        )
    ).all()
    return [(str(old), str(new)) for old, new in rows]


async def alias_target(session: AsyncSession, old_hash: str) -> str | None:
    """The hash `old_hash` was re-indexed to by one rotation, if any."""
    alias = await session.get(PhoneHashAlias, old_hash)
    return None if alias is None else alias.new_hash


async def purge_aliases(session: AsyncSession, older_than: datetime) -> int:
    """Delete aliases recorded before `older_than`; how many."""
    result = await session.execute(delete(PhoneHashAlias).where(col(PhoneHashAlias.created_at) < older_than))
    return rows_touched(result)


# -- re-indexing ------------------------------------------------------------------------------


async def reindex_table(session: AsyncSession, spec: HashColumn, mapping: dict[str, str]) -> tuple[int, int]:
    """Move the rows of `spec` under old hashes to the new ones; (rows moved, rows merged)."""
    t, c = spec.table, spec.table.c
    alias = table_of(PhoneHashAlias)
    olds = list(mapping)
    if spec.merge == "update":
        new_hash = select(alias.c.new_hash).where(alias.c.old_hash == c[spec.hash]).scalar_subquery()
        result = await session.execute(update(t).where(c[spec.hash].in_(olds)).values({spec.hash: new_hash}))
        return rows_touched(result), 0
    key = list(t.primary_key.columns)
    moved = merged = 0
    rows = (await session.execute(select(t).where(c[spec.hash].in_(olds)))).mappings().all()
    for row in rows:
        new = mapping[row[spec.hash]]
        same_row = and_(*(k == row[k.name] for k in key))
        other = (
            (
                await session.execute(
                    select(t).where(c[spec.hash] == new, *(c[u] == row[u] for u in spec.unique_with))
                )
            )
            .mappings()
            .first()
        )
        if other is None:
            await session.execute(update(t).where(same_row).values({spec.hash: new}))
            moved += 1
            continue
        merged += 1
        other_row = and_(*(k == other[k.name] for k in key))
        if spec.merge == "sum":
            assert spec.sum_column is not None
            await session.execute(
                update(t)
                .where(other_row)
                .values({spec.sum_column: c[spec.sum_column] + row[spec.sum_column]})
            )
            await session.execute(delete(t).where(same_row))
        else:  # newest: the later of the two rows is the citizen's (or the network's) latest word
            assert spec.newer_by is not None
            if other[spec.newer_by] >= row[spec.newer_by]:
                await session.execute(delete(t).where(same_row))
            else:
                await session.execute(delete(t).where(other_row))
                await session.execute(update(t).where(same_row).values({spec.hash: new}))
    return moved, merged


# -- status -----------------------------------------------------------------------------------


async def sealed_counts(session: AsyncSession, spec: SealedColumns | SealedSecrets) -> dict[int, int]:
    """{key version: rows sealed under it} for one table (a NULL version counts as 1)."""
    c = spec.table.c
    present = c[spec.ciphertext] if isinstance(spec, SealedColumns) else c[spec.sealed]
    version = func.coalesce(c[spec.version], 1)
    rows = await session.execute(select(version, func.count()).where(present.is_not(None)).group_by(version))
    return {int(v): int(n) for v, n in rows.all()}


async def count_not_reindexed(session: AsyncSession, spec: HashColumn, version: int) -> int:
    """Rows of `spec` still under a hash the rotation to `version` has an alias for."""
    alias = table_of(PhoneHashAlias)
    olds = select(alias.c.old_hash).where(alias.c.key_version == version)
    query = select(func.count()).select_from(spec.table).where(spec.table.c[spec.hash].in_(olds))
    return int((await session.execute(query)).scalar_one())


async def optouts_by_hash_only(session: AsyncSession, version: int) -> int:
    """Opt-outs in force whose number is not kept under `version` (the opt-out package's count)."""
    return await optout_repository.optouts_without_number(session, version)
