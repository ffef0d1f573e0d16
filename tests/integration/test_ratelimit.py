"""The database rate limiter (lettering/ratelimit): a fixed window per key, one statement a check,
keys stored only as a keyed hash, ended windows swept by the job."""

from __future__ import annotations

import asyncio
import base64

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import session_scope
from lettering.core.phone import PhoneVault
from lettering.ratelimit import service
from lettering.ratelimit.models import RateLimitBucket

pytestmark = pytest.mark.integration

HASH_KEY = base64.b64encode(b"h" * 32).decode()
ENC_KEY = base64.b64encode(b"e" * 32).decode()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(sessions: async_sessionmaker[AsyncSession], clock: Clock) -> service.RateLimiter:
    return service.RateLimiter(sessions, PhoneVault(HASH_KEY, ENC_KEY).hash, clock)


async def test_a_key_gets_its_budget_per_window_then_a_retry_after(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = Clock(1_000_040.0)  # 20 s into a 60 s window (1_000_020 is a multiple of 60)
    limits = limiter(sessions, clock)
    limit = service.Limit("login", 3, 60)
    assert [await limits.hit(limit, "a@example.kr\x0010.0.0.1") for _ in range(3)] == [None] * 3
    assert await limits.hit(limit, "a@example.kr\x0010.0.0.1") == 40
    # Other keys and other limits have budgets of their own.
    assert await limits.hit(limit, "a@example.kr\x0010.0.0.2") is None
    assert await limits.hit(service.Limit("verify.lookup", 3, 60), "a@example.kr\x0010.0.0.1") is None
    clock.now += 40  # the next window
    assert await limits.hit(limit, "a@example.kr\x0010.0.0.1") is None


async def test_forget_resets_and_concurrent_hits_get_exactly_the_budget(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    limits = limiter(sessions, Clock(2_000_000.0))
    limit = service.Limit("verify.lookup", 5, 600)
    answers = await asyncio.gather(*(limits.hit(limit, "10.0.0.9") for _ in range(12)))
    assert sum(a is None for a in answers) == 5
    async with session_scope(sessions) as session:
        await limits.forget(session, limit, "10.0.0.9")
    assert await limits.hit(limit, "10.0.0.9") is None


async def test_keys_are_stored_hashed_and_ended_windows_are_swept(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock = Clock(3_000_000.0)
    limits = limiter(sessions, clock)
    await limits.hit(service.Limit("login", 3, 60), "citizen@example.kr\x00203.0.113.7")
    await limits.hit(service.Limit("verify.lookup", 3, 600), "01012345678")
    async with sessions() as session:
        rows = (await session.execute(select(RateLimitBucket))).scalars().all()
    assert len(rows) == 2
    for row in rows:
        assert len(row.key) == 64
        assert "example" not in row.key
        assert "203.0.113" not in row.key
        assert "12345678" not in row.key
    assert await service.purge_expired(sessions, now=clock.now + 59) == 0
    assert await service.purge_expired(sessions, now=clock.now + 60) == 1  # the 60 s window ended
    assert await service.purge_expired(sessions, now=clock.now + 600) == 1
