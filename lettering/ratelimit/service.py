"""Rate limits counted in the database, so the budget is the same whatever the worker count.

A fixed window: a key may be used `limit` times in each window of `window_s` seconds, the
windows aligned on Unix time (so at a window's edge a burst may get up to twice the budget, in
two windows; never more in one). Each check is one statement (an upsert-increment answering the
new count) in a transaction of its own, committed at once: a route that later fails or raises
does not roll its count back, and two workers' checks are serialised by the database. So a
check must come before the route's own first write (on SQLite that write holds the one write lock).

Keys are stored as a keyed hash (the phone vault's HMAC) of the limit's name and the key, so no
email, IP or number is kept in clear. Rows of ended windows are deleted by `ratelimit.purge`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import session_scope
from lettering.ratelimit import repository


@dataclass(frozen=True, slots=True)
class Limit:
    """A budget: `limit` uses per key per window of `window_s` seconds; `name` separates buckets."""

    name: str
    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class RateLimiter:
    """The one counter every limit of the service goes through (the container builds it)."""

    sessions: async_sessionmaker[AsyncSession]
    keyed_hash: Callable[[str], str]
    clock: Callable[[], float] = field(default=time.time)

    def bucket_key(self, limit: Limit, key: str) -> str:
        return self.keyed_hash(f"ratelimit\x00{limit.name}\x00{key}")

    async def hit(self, limit: Limit, key: str) -> int | None:
        """Count one use; None if it is within the budget, else the seconds until the next window."""
        now = self.clock()
        window = max(1, math.ceil(limit.window_s))
        start = int(now // window) * window
        async with session_scope(self.sessions) as session:
            count = await repository.increment(session, self.bucket_key(limit, key), start, start + window)
        if count <= limit.limit:
            return None
        return max(1, math.ceil(start + window - now))

    async def forget(self, session: AsyncSession, limit: Limit, key: str) -> None:
        """Reset the key's count (a successful login clears its failures), in the caller's
        transaction: a route that has written holds SQLite's write lock, a second one would wait."""
        await repository.forget(session, self.bucket_key(limit, key))

    def bound(self, limit: Limit) -> Bucket:
        return Bucket(self, limit)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit with the counter it is checked on."""

    limiter: RateLimiter
    limit: Limit

    async def hit(self, key: str) -> int | None:
        return await self.limiter.hit(self.limit, key)

    async def forget(self, session: AsyncSession, key: str) -> None:
        await self.limiter.forget(session, self.limit, key)


async def purge_expired(sessions: async_sessionmaker[AsyncSession], *, now: float | None = None) -> int:
    """Delete the counters of ended windows; answers how many."""
    async with session_scope(sessions) as session:
        return await repository.delete_expired(session, int(time.time() if now is None else now))
