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

Each package declares its number columns in its repository (`KEY_COLUMNS`, descriptors from
lettering.core.keycolumns); the statements over them are in lettering.keyring.repository, the one
declared module that writes other packages' tables. This module holds the logic only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import session_scope
from lettering.core.keycolumns import HashColumn, SealedColumns, SealedSecrets
from lettering.core.phone import PhoneVault, UnknownKeyVersion
from lettering.keyring import repository as keyring_repository
from lettering.keyring.repository import KeyColumns
from lettering.snapshots.service import bump

log = logging.getLogger(__name__)

# (step, rows done so far, rows in the step): drives the CLI's progress bar.
Progress = Callable[[str, int, int], None]
BATCH = 1000


class RotationError(Exception):
    """The rotation cannot go on (a key version is missing or a key does not open a row)."""


def key_columns() -> list[KeyColumns]:
    """Every place the service keeps a number (or a secret sealed with the number keys)."""
    return keyring_repository.key_columns()


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
                # A table may declare several sealed columns (a PBX's secret and the one it replaced).
                done = await _reseal_secrets(sessions, vault, spec, progress)
                report.secrets[spec.table.name] = report.secrets.get(spec.table.name, 0) + done
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


async def _reseal(
    sessions: async_sessionmaker[AsyncSession],
    vault: PhoneVault,
    spec: SealedColumns,
    batch: int,
    progress: Progress,
) -> int:
    name = spec.table.name
    step = f"re-encrypt {name}"
    async with sessions() as session:
        total = await keyring_repository.count_stale(session, spec, vault.key_version)
    done = 0
    after: Any = None
    progress(step, 0, total)
    while True:
        async with session_scope(sessions) as session:
            rows = await keyring_repository.stale_batch(session, spec, vault.key_version, after, batch)
            if not rows:
                return done
            for row in rows:
                number = _open(vault, row.ciphertext, row.version, name, row.id)
                sealed = vault.seal(number)
                if row.hash is not None and row.hash != sealed.hash_hex:
                    await keyring_repository.record_alias(
                        session, row.hash, sealed.hash_hex, vault.key_version
                    )
                if spec.merge == "newest" and not await keyring_repository.keep_newest_sealed(
                    session, spec, row.id, sealed.hash_hex
                ):
                    continue
                await keyring_repository.store_resealed(
                    session, spec, row, sealed.hash_hex, sealed.ciphertext, sealed.key_version
                )
            after = rows[-1].id
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


async def _reseal_secrets(
    sessions: async_sessionmaker[AsyncSession], vault: PhoneVault, spec: SealedSecrets, progress: Progress
) -> int:
    name = spec.table.name
    step = f"re-encrypt {name}"
    async with session_scope(sessions) as session:
        rows = await keyring_repository.stale_secrets(session, spec, vault.key_version)
        progress(step, 0, len(rows))
        for row in rows:
            try:
                secret = vault.open_secret(row.sealed, row.version)
            except UnknownKeyVersion:
                raise RotationError(
                    f"{name} {row.id} is sealed under key version {row.version}, which is not configured"
                ) from None
            except (InvalidTag, ValueError):
                raise RotationError(f"{name} {row.id}: key version {row.version} does not open it") from None
            await keyring_repository.store_resealed_secret(
                session, spec, row, vault.seal_secret(secret), vault.key_version
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
    step = "re-index hashes"
    async with sessions() as session:
        total = await keyring_repository.count_aliases(session, version)
    done = 0
    after = ""
    progress(step, 0, total)
    for spec in specs:
        report.reindexed.setdefault(spec.table.name, 0)
        report.merged.setdefault(spec.table.name, 0)
    while True:
        async with session_scope(sessions) as session:
            pairs = await keyring_repository.alias_batch(session, version, after, batch)
            if not pairs:
                return
            mapping = dict(pairs)
            bumped: set[str] = set()
            for spec in specs:
                moved, merged = await _reindex_table(session, spec, mapping)
                report.reindexed[spec.table.name] += moved
                report.merged[spec.table.name] += merged
                if (moved or merged) and spec.snapshot and spec.snapshot not in bumped:
                    await bump(session, spec.snapshot)
                    bumped.add(spec.snapshot)
            after = pairs[-1][0]
        done += len(pairs)
        progress(step, done, total)


async def _reindex_table(session: AsyncSession, spec: HashColumn, mapping: dict[str, str]) -> tuple[int, int]:
    """Move the rows of `spec` under old hashes to the new ones; (rows moved, rows merged)."""
    return await keyring_repository.reindex_table(session, spec, mapping)


async def adopt(session: AsyncSession, vault: PhoneVault, e164: str) -> str:
    """One citizen's rotation, now: rows under an older version's hash move to the current one.

    For a change made while keys rotate (an opt-out by link or by an admin): the change must apply
    to the choice in force, wherever it is indexed. Runs in the caller's transaction; returns the
    number's current hash.
    """
    current, *previous = vault.hashes(e164)
    specs = [s for s in key_columns() if isinstance(s, HashColumn)]
    for old in previous:
        await keyring_repository.record_alias(session, old, current, vault.key_version)
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
    sealed: dict[str, dict[int, int]] = {}
    not_reindexed: dict[str, int] = {}
    async with sessions() as session:
        for spec in specs:
            if isinstance(spec, SealedColumns | SealedSecrets):
                counts = sealed.setdefault(spec.table.name, {})
                for version, n in (await keyring_repository.sealed_counts(session, spec)).items():
                    counts[version] = counts.get(version, 0) + n
            else:
                not_reindexed[spec.table.name] = await keyring_repository.count_not_reindexed(
                    session, spec, vault.key_version
                )
        by_hash_only = await keyring_repository.optouts_by_hash_only(session, vault.key_version)
    return KeyStatus(vault.key_version, vault.versions, sealed, not_reindexed, by_hash_only)


async def current_hash(session: AsyncSession, callee_hash: str) -> str:
    """The hash an old hash stands for now, followed through key rotations (hash aliases)."""
    for _ in range(8):  # one hop per rotation since the hash was written
        target = await keyring_repository.alias_target(session, callee_hash)
        if target is None:
            break
        callee_hash = target
    return callee_hash


async def purge_aliases(session: AsyncSession, older_than: datetime) -> int:
    """Delete aliases recorded before `older_than` (no link naming their old hash is valid any more)."""
    return await keyring_repository.purge_aliases(session, older_than)


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
