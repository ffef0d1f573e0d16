"""Key rotation for the citizens' numbers: re-encrypt and re-index under the current key version.

How a rotation goes (README, "Rotating the number keys"):

1. `lettering keys generate --next` prints a new key pair; the current pair moves to
   `LETTERING_PHONE_KEYS_OLD` under its version and `LETTERING_KEY_VERSION` goes up by one.
   Restart the service: it now hashes and seals under the new version, and while old versions
   are configured it also looks every citizen up by their old-version hash (opt-outs, learned
   routes, caps), so nothing is missed while the rows are being rewritten.
2. `lettering keys rotate` walks every table that keeps a number's ciphertext, in batches of
   `batch` rows, one transaction each: opens the number with its version's key, seals it and
   hashes it under the current one, and records `old hash -> new hash` (phone_hash_alias).
   Then it re-indexes every table that keeps only the hash through those aliases, merging a
   row with one the running service already wrote under the new hash. PBX secrets are
   re-sealed. Every step selects only what is still to do, so an interrupted run is resumed by
   running it again.
3. `lettering keys status` shows what still depends on an old version; when nothing does, the
   old pair can be removed from `LETTERING_PHONE_KEYS_OLD`. Opt-out links signed before the
   rotation keep working through the aliases, which the retention sweep deletes once those
   links have expired.

Each package declares its number columns in its service (`KEY_COLUMNS`, see columns.py); this
module never reads another package's models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Table, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from campaigns import repository as campaign_repository
from carriers import routes as carrier_routes
from kakao_fallback import repository as kakao_repository
from lettering.calls import repository as call_repository
from lettering.core.db import rows_touched, session_scope, table_of, utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.keycolumns import HashColumn, SealedColumns, SealedSecrets
from lettering.core.phone import PhoneVault, UnknownKeyVersion
from lettering.keyring.models import PhoneHashAlias
from lettering.optout import repository as optout_repository
from lettering.snapshots.service import bump
from lettering.webhook import repository as webhook_repository

log = logging.getLogger(__name__)

# (step, rows done so far, rows in the step): drives the CLI's progress bar.
Progress = Callable[[str, int, int], None]
KeyColumns = SealedColumns | HashColumn | SealedSecrets
BATCH = 1000


class RotationError(Exception):
    """The rotation cannot go on (a key version is missing or a key does not open a row)."""


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


@dataclass(slots=True)
class RotationReport:
    key_version: int
    resealed: dict[str, int] = field(default_factory=dict)
    reindexed: dict[str, int] = field(default_factory=dict)
    merged: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, int] = field(default_factory=dict)


def _quiet(step: str, done: int, total: int) -> None:
    return None


async def rotate(
    sessions: async_sessionmaker[AsyncSession],
    vault: PhoneVault,
    *,
    batch: int = BATCH,
    progress: Progress = _quiet,
    columns: Sequence[KeyColumns] | None = None,
) -> RotationReport:
    """Bring every number and secret to the vault's current key version (resumable; see module doc)."""
    specs = list(columns if columns is not None else key_columns())
    report = RotationReport(vault.key_version)
    try:
        for spec in specs:
            if isinstance(spec, SealedColumns):
                name = spec.table.name
                report.resealed[name] = await _reseal(sessions, vault, spec, batch, progress)
        for spec in specs:
            if isinstance(spec, SealedSecrets):
                report.secrets[spec.table.name] = await _reseal_secrets(sessions, vault, spec, progress)
        hash_specs = [s for s in specs if isinstance(s, HashColumn)]
        await _reindex(sessions, vault.key_version, hash_specs, batch, progress, report)
    except IntegrityError as exc:
        # The running service wrote a row under the new hash between this batch's check and its
        # write: the batch was rolled back, everything before it is kept.
        raise RotationError(
            f"a row was written under a new hash while its batch ran ({type(exc.orig).__name__}); "
            "the batch was rolled back: run `lettering keys rotate` again"
        ) from None
    log.info(
        "key rotation to version %s: resealed %s, re-indexed %s, merged %s, secrets %s",
        vault.key_version,
        report.resealed,
        report.reindexed,
        report.merged,
        report.secrets,
    )
    return report


def _stale(spec: SealedColumns, current: int) -> Any:
    c = spec.table.c
    return and_(c[spec.ciphertext].is_not(None), func.coalesce(c[spec.version], 1) != current)


async def _count(sessions: async_sessionmaker[AsyncSession], table: Table, where: Any) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table).where(where))).scalar_one())


async def _reseal(
    sessions: async_sessionmaker[AsyncSession],
    vault: PhoneVault,
    spec: SealedColumns,
    batch: int,
    progress: Progress,
) -> int:
    t, c = spec.table, spec.table.c
    step = f"re-encrypt {t.name}"
    total = await _count(sessions, t, _stale(spec, vault.key_version))
    done = 0
    after: Any = None
    progress(step, 0, total)
    while True:
        async with session_scope(sessions) as session:
            query = select(c[spec.id], c[spec.hash], c[spec.ciphertext], c[spec.version]).where(
                _stale(spec, vault.key_version)
            )
            if after is not None:
                query = query.where(c[spec.id] > after)
            rows = (await session.execute(query.order_by(c[spec.id]).limit(batch))).all()
            if not rows:
                return done
            for row_id, old_hash, ciphertext, version in rows:
                number = _open(vault, bytes(ciphertext), int(version or 1), t.name, row_id)
                sealed = vault.seal(number)
                if old_hash is not None and old_hash != sealed.hash_hex:
                    await _record_alias(session, old_hash, sealed.hash_hex, vault.key_version)
                if spec.merge == "newest" and not await _keep_newest_sealed(
                    session, spec, row_id, sealed.hash_hex
                ):
                    continue
                # Only if the row is still as read: a sender that has just dropped the number
                # (ciphertext NULL) must not get it back.
                await session.execute(
                    update(t)
                    .where(
                        c[spec.id] == row_id,
                        c[spec.ciphertext].is_not(None),
                        func.coalesce(c[spec.version], 1) == int(version or 1),
                    )
                    .values(
                        {
                            spec.hash: sealed.hash_hex,
                            spec.ciphertext: sealed.ciphertext,
                            spec.version: sealed.key_version,
                        }
                    )
                )
            after = rows[-1][0]
        done += len(rows)
        progress(step, done, total)


def _open(vault: PhoneVault, ciphertext: bytes, version: int, table: str, row_id: Any) -> str:
    try:
        return vault.open(ciphertext, version)
    except UnknownKeyVersion:
        raise RotationError(
            f"{table} row {row_id} is sealed under key version {version}, which is not configured: "
            f"put that version's keys in LETTERING_PHONE_KEYS_OLD and run again"
        ) from None
    except (InvalidTag, ValueError):
        raise RotationError(
            f"{table} row {row_id}: the configured key version {version} does not open it "
            f"(wrong key in LETTERING_PHONE_KEYS_OLD?)"
        ) from None


async def _record_alias(session: AsyncSession, old_hash: str, new_hash: str, version: int) -> None:
    table = table_of(PhoneHashAlias)
    await session.execute(
        insert_for(session, table)
        .values(old_hash=old_hash, new_hash=new_hash, key_version=version, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.old_hash])
    )


async def _keep_newest_sealed(session: AsyncSession, spec: SealedColumns, row_id: Any, new_hash: str) -> bool:
    """For a unique hash: whether the row being resealed survives a row already under `new_hash`."""
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


async def _reseal_secrets(
    sessions: async_sessionmaker[AsyncSession], vault: PhoneVault, spec: SealedSecrets, progress: Progress
) -> int:
    t, c = spec.table, spec.table.c
    step = f"re-encrypt {t.name}"
    async with session_scope(sessions) as session:
        rows = (
            await session.execute(
                select(c[spec.id], c[spec.sealed], c[spec.version]).where(
                    c[spec.sealed].is_not(None), c[spec.version] != vault.key_version
                )
            )
        ).all()
        progress(step, 0, len(rows))
        for row_id, sealed, version in rows:
            try:
                secret = vault.open_secret(bytes(sealed), int(version))
            except UnknownKeyVersion:
                raise RotationError(
                    f"{t.name} {row_id} is sealed under key version {version}, which is not configured"
                ) from None
            except (InvalidTag, ValueError):
                raise RotationError(f"{t.name} {row_id}: key version {version} does not open it") from None
            await session.execute(
                update(t)
                .where(c[spec.id] == row_id, c[spec.version] == version)
                .values({spec.sealed: vault.seal_secret(secret), spec.version: vault.key_version})
            )
        if rows and spec.snapshot:
            await bump(session, spec.snapshot)
    progress(step, len(rows), len(rows))
    return len(rows)


async def _reindex(
    sessions: async_sessionmaker[AsyncSession],
    version: int,
    specs: Sequence[HashColumn],
    batch: int,
    progress: Progress,
    report: RotationReport,
) -> None:
    alias = table_of(PhoneHashAlias)
    step = "re-index hashes"
    total = await _count(sessions, alias, alias.c.key_version == version)
    done = 0
    after = ""
    progress(step, 0, total)
    for spec in specs:
        report.reindexed.setdefault(spec.table.name, 0)
        report.merged.setdefault(spec.table.name, 0)
    while True:
        async with session_scope(sessions) as session:
            pairs = (
                await session.execute(
                    select(alias.c.old_hash, alias.c.new_hash)
                    .where(alias.c.key_version == version, alias.c.old_hash > after)
                    .order_by(alias.c.old_hash)
                    .limit(batch)
                )
            ).all()
            if not pairs:
                return
            mapping = {str(old): str(new) for old, new in pairs}
            bumped: set[str] = set()
            for spec in specs:
                moved, merged = await _reindex_table(session, spec, mapping)
                report.reindexed[spec.table.name] += moved
                report.merged[spec.table.name] += merged
                if (moved or merged) and spec.snapshot and spec.snapshot not in bumped:
                    await bump(session, spec.snapshot)
                    bumped.add(spec.snapshot)
            after = str(pairs[-1][0])
        done += len(pairs)
        progress(step, done, total)


async def _reindex_table(session: AsyncSession, spec: HashColumn, mapping: dict[str, str]) -> tuple[int, int]:
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


async def adopt(session: AsyncSession, vault: PhoneVault, e164: str) -> str:
    """One citizen's rotation, now: rows under an older version's hash move to the current one.

    For a change made while keys rotate (an opt-out by link or by an admin): the change must apply
    to the choice in force, wherever it is indexed. Runs in the caller's transaction; returns the
    number's current hash.
    """
    current, *previous = vault.hashes(e164)
    specs = [s for s in key_columns() if isinstance(s, HashColumn)]
    for old in previous:
        await _record_alias(session, old, current, vault.key_version)
        bumped: set[str] = set()
        for spec in specs:
            moved, merged = await _reindex_table(session, spec, {old: current})
            if (moved or merged) and spec.snapshot and spec.snapshot not in bumped:
                await bump(session, spec.snapshot)
                bumped.add(spec.snapshot)
    return current


# -- status, aliases -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyStatus:
    key_version: int
    configured: tuple[int, ...]
    # table -> {key version: rows sealed under it}
    sealed: dict[str, dict[int, int]]
    # table -> rows still under a hash the last rotation has an alias for
    not_reindexed: dict[str, int]
    # Opt-outs in force known by their hash only (no copy of the number): not re-indexable.
    optouts_by_hash_only: int = 0

    @property
    def old_versions_in_use(self) -> set[int]:
        return {
            v for counts in self.sealed.values() for v, n in counts.items() if n and v != self.key_version
        }

    @property
    def done(self) -> bool:
        """Nothing needs the old key versions any more (they may leave the configuration)."""
        old_configured = set(self.configured) - {self.key_version}
        return (
            not self.old_versions_in_use
            and not any(self.not_reindexed.values())
            and not (old_configured and self.optouts_by_hash_only)
        )


async def status(
    sessions: async_sessionmaker[AsyncSession], vault: PhoneVault, columns: Sequence[KeyColumns] | None = None
) -> KeyStatus:
    """What depends on which key version (read only)."""
    specs = list(columns if columns is not None else key_columns())
    alias = table_of(PhoneHashAlias)
    sealed: dict[str, dict[int, int]] = {}
    not_reindexed: dict[str, int] = {}
    async with sessions() as session:
        for spec in specs:
            if isinstance(spec, SealedColumns | SealedSecrets):
                c = spec.table.c
                present = c[spec.ciphertext] if isinstance(spec, SealedColumns) else c[spec.sealed]
                version = func.coalesce(c[spec.version], 1)
                rows = await session.execute(
                    select(version, func.count()).where(present.is_not(None)).group_by(version)
                )
                sealed[spec.table.name] = {int(v): int(n) for v, n in rows.all()}
            else:
                c = spec.table.c
                olds = select(alias.c.old_hash).where(alias.c.key_version == vault.key_version)
                count = await session.execute(
                    select(func.count()).select_from(spec.table).where(c[spec.hash].in_(olds))
                )
                not_reindexed[spec.table.name] = int(count.scalar_one())
        by_hash_only = await optout_repository.optouts_without_number(session, vault.key_version)
    return KeyStatus(vault.key_version, vault.versions, sealed, not_reindexed, by_hash_only)


async def current_hash(session: AsyncSession, callee_hash: str) -> str:
    """The hash an old hash stands for now, followed through key rotations (hash aliases)."""
    for _ in range(8):  # one hop per rotation since the hash was written
        alias = await session.get(PhoneHashAlias, callee_hash)
        if alias is None:
            break
        callee_hash = alias.new_hash
    return callee_hash


async def purge_aliases(session: AsyncSession, older_than: datetime) -> int:
    """Delete aliases recorded before `older_than` (no link naming their old hash is valid any more)."""
    result = await session.execute(delete(PhoneHashAlias).where(col(PhoneHashAlias.created_at) < older_than))
    return rows_touched(result)


__all__ = [
    "RotationError",
    "RotationReport",
    "KeyStatus",
    "current_hash",
    "key_columns",
    "purge_aliases",
    "rotate",
    "status",
]
