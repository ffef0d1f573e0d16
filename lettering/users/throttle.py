"""Login attempts counted per (email, client IP) in the database (lettering/ratelimit), so the
budget is the same whatever the worker count. Argon2 makes each try cost the attacker as much as us.

Each attempt is counted before the password is checked (so a burst of concurrent tries gets the
budget exactly, not the budget plus the tries in flight), and a success resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.ratelimit import service as ratelimit_service

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    bucket: ratelimit_service.Bucket

    @staticmethod
    def _key(key: Key) -> str:
        email, client = key
        return f"{email}\x00{client}"

    async def attempt(self, key: Key) -> int | None:
        """Count one attempt; None if it may go ahead, else the seconds until it may try again."""
        return await self.bucket.hit(self._key(key))

    async def succeeded(self, session: AsyncSession, key: Key) -> None:
        """Reset the count, in the login's own transaction (committed with its session row)."""
        await self.bucket.forget(session, self._key(key))
