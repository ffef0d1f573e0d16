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
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.scheduler import stopped_within
from lettering.snapshots import repository

log = logging.getLogger(__name__)

Builder = Callable[[AsyncSession], Awaitable[Any]]
T = TypeVar("T")


async def bump(session: AsyncSession, name: str) -> None:
    """Announce a change of snapshot source `name` (call inside the transaction that changes it)."""
    await repository.bump(session, name)


async def read_versions(session: AsyncSession) -> dict[str, int]:
    """Every snapshot source's version, by name (the poll each worker runs)."""
    return await repository.read_versions(session)


class SnapshotStore(Generic[T]):
    """Holds the current snapshot set (a frozen `T`, assembled from the parts by `assemble`) and
    refreshes the parts whose source version moved."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        builders: Mapping[str, Builder],
        assemble: Callable[[Mapping[str, object]], T],
    ) -> None:
        self._sessions = sessions
        self._builders = dict(builders)
        self._assemble = assemble
        self._parts: Mapping[str, object] = MappingProxyType({})
        self._versions: Mapping[str, int] = MappingProxyType({})
        self._current: T | None = None
        self._lock = asyncio.Lock()
        # time.monotonic() of the last refresh that read the versions without error (also when
        # nothing had changed): the readiness check (/readyz) calls the snapshots stale after it.
        self.refreshed_at: float | None = None

    @property
    def current(self) -> T:
        """The set in force (one reference: readers see the old set or the new one, never a mix)."""
        if self._current is None:
            raise RuntimeError("snapshots not loaded yet: refresh(force=True) first")
        return self._current

    @property
    def versions(self) -> Mapping[str, int]:
        """The source version each part reflects."""
        return self._versions

    async def refresh(self, *, force: bool = False) -> list[str]:
        """Rebuild changed parts and swap them in; returns the names rebuilt."""
        async with self._lock:
            async with self._sessions() as session:
                versions = await read_versions(session)
                stale = [
                    name
                    for name in self._builders
                    if force or name not in self._parts or versions.get(name, 0) != self._versions.get(name)
                ]
                if not stale:
                    self.refreshed_at = time.monotonic()
                    return []
                parts = dict(self._parts)
                seen = dict(self._versions)
                for name in stale:
                    parts[name] = await self._builders[name](session)
                    seen[name] = versions.get(name, 0)
            current = self._assemble(parts)
            self._parts, self._versions = MappingProxyType(parts), MappingProxyType(seen)
            self._current = current  # the one assignment readers see
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
