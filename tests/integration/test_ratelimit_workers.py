"""`lettering serve --workers 2`: the login and /verify limits are one budget for the service, not
one per worker (lettering/ratelimit counts in the database).

A real process, as a deployment runs it. A burst of concurrent requests, each on a connection of
its own (so both workers take some), gets exactly the configured budget in total.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.factories import seed_directory
from tests.processes import child_env, free_port, start_cli, stop_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.serial]

LOGIN_LIMIT = 6
LOOKUP_LIMIT = 7
BURST = 24


async def one_request(url: str, method: str, path: str, **kwargs: object) -> int:
    """On a connection of its own, so that either worker may accept it."""
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response.status_code


async def test_two_workers_share_one_login_and_verify_budget(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await seed_directory(sessions)
    async with session_scope(sessions) as session:
        await user_service.create_user(
            session,
            "editor@hanbit.go.kr",
            "홍길동",
            "correct-horse-battery",
            "editor",
            "HANBIT",
            "HANBIT-0100",
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(
        {
            "LETTERING_ENV": "dev",
            "LETTERING_DATABASE_URL": database_url,
            "LETTERING_SCHEDULER_ENABLED": "false",
            "LETTERING_LOGIN_RATE_LIMIT": str(LOGIN_LIMIT),
            "LETTERING_VERIFY_RATE_LIMIT": str(LOOKUP_LIMIT),
        }
    )
    log = tmp_path / "serve.log"
    process = start_cli(["serve", "--workers", "2", "--port", str(port)], env=env, log=log, cwd=tmp_path)
    try:

        async def workers_up() -> bool:
            assert process.poll() is None, log.read_text()
            return log.read_text().count("Application startup complete.") >= 2

        assert await wait_until(workers_up, timeout_s=90), log.read_text()

        wrong = {"email": "editor@hanbit.go.kr", "password": "guess-guess-guess"}
        logins = Counter(
            await asyncio.gather(
                *(one_request(url, "POST", "/v1/auth/login", json=wrong) for _ in range(BURST))
            )
        )
        assert logins == {401: LOGIN_LIMIT, 429: BURST - LOGIN_LIMIT}, logins

        lookups = Counter(
            await asyncio.gather(
                *(one_request(url, "GET", "/verify", params={"code": "ABCDEF"}) for _ in range(BURST))
            )
        )
        assert lookups == {200: LOOKUP_LIMIT, 429: BURST - LOOKUP_LIMIT}, lookups
    finally:
        stop_group(process)
