"""This package's SQL."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import table_of
from lettering.core.keycolumns import HashColumn, SealedColumns
from lettering.optout.models import CitizenNumber, OptoutHistory, OptoutState

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
