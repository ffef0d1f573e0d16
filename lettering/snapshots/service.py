"""Immutable in-memory snapshots for the hot path, rebuilt when their source changes.

Every writer of a snapshot's source calls `bump(session, name)` in the same transaction as its
change. Each worker polls the small `snapshot_version` table (every `snapshot_poll_s`, 1 s by
default), rebuilds only the snapshots whose version moved, and swaps them in with one reference
assignment, so `decide()` always sees a consistent set and never waits for a rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.scheduler import stopped_within
from lettering.snapshots.models import SnapshotVersion

log = logging.getLogger(__name__)

Builder = Callable[[AsyncSession], Awaitable[Any]]


async def bump(session: AsyncSession, name: str) -> None:
    """Announce a change of snapshot source `name` (call inside the transaction that changes it)."""
    table = SnapshotVersion.__table__  # type: ignore[attr-defined]
    now = utcnow()
    stmt = insert_for(session, table).values(name=name, version=1, changed_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"version": table.c.version + 1, "changed_at": now},
    )
    await session.execute(stmt)


async def read_versions(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(SnapshotVersion.name, SnapshotVersion.version))  # type: ignore[call-overload]
    return dict(rows.all())


@dataclass(frozen=True, slots=True)
class Snapshots:
    """The set `decide()` reads: name -> immutable snapshot object, plus the versions they reflect."""

    parts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    versions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str) -> Any:
        return self.parts[name]


class SnapshotStore:
    """Holds the current `Snapshots` and refreshes the parts whose source version moved."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], builders: Mapping[str, Builder]) -> None:
        self._sessions = sessions
        self._builders = dict(builders)
        self._current = Snapshots()
        self._lock = asyncio.Lock()
        # time.monotonic() of the last refresh that read the versions without error (also when
        # nothing had changed): the readiness check (/readyz) calls the snapshots stale after it.
        self.refreshed_at: float | None = None

    @property
    def current(self) -> Snapshots:
        return self._current

    async def refresh(self, *, force: bool = False) -> list[str]:
        """Rebuild changed parts and swap them in; returns the names rebuilt."""
        async with self._lock:
            async with self._sessions() as session:
                versions = await read_versions(session)
                current = self._current
                stale = [
                    name
                    for name in self._builders
                    if force
                    or name not in current.parts
                    or versions.get(name, 0) != current.versions.get(name)
                ]
                if not stale:
                    self.refreshed_at = time.monotonic()
                    return []
                parts = dict(current.parts)
                seen = dict(current.versions)
                for name in stale:
                    parts[name] = await self._builders[name](session)
                    seen[name] = versions.get(name, 0)
            # One assignment: readers see either the old set or the new one, never a mix.
            self._current = Snapshots(parts=MappingProxyType(parts), versions=MappingProxyType(seen))
            self.refreshed_at = time.monotonic()
            log.info("snapshots rebuilt: %s", ", ".join(f"{n}@{seen[n]}" for n in stale))
            return stale

    async def run(self, interval_s: float, *, stop: asyncio.Event | None = None) -> None:
        """Poll until `stop` is set (or cancelled); a failed refresh is logged and retried on the
        next tick. Stopping waits for a refresh under way, so no query is cut off mid-flight."""
        stop = stop or asyncio.Event()
        while not await stopped_within(stop, interval_s):
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("snapshot refresh failed; keeping the previous snapshots")
