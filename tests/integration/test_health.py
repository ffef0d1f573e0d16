"""Liveness and readiness: /livez never needs the database; /readyz names what keeps a worker out.

The service runs with its real lifespan (engine, snapshot poller) on each database. A stale
snapshot store is made the real way: the `snapshot_version` table the poller reads is renamed
away, so every refresh fails while the database itself still answers. A stalled database
(PostgreSQL) is a TCP proxy between the service and the server that stops forwarding bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from lettering.app import create_app
from lettering.core.settings import (
    CarrierSettings,
    KakaoAgencySettings,
    KakaoSettings,
    KtSettings,
    LguSettings,
    Settings,
    SktSettings,
)
from lettering.observability.health import DB_TIMEOUT_S
from tests.factories import random_key

pytestmark = [pytest.mark.integration, pytest.mark.serial]


def health_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "phone_hash_key": SecretStr(random_key()),
        "phone_enc_key": SecretStr(random_key()),
        "link_secret": SecretStr("health-link-secret"),
        "carriers": CarrierSettings(
            skt=SktSettings(client_secret=SecretStr("health-skt-secret")),
            kt=KtSettings(secret=SecretStr("health-kt-secret")),
            lgu=LguSettings(api_key=SecretStr("health-lgu-key"), callback_secret=SecretStr("health-lgu-cb")),
        ),
        "kakao": KakaoSettings(
            agencies={"*": KakaoAgencySettings(secret_key=SecretStr("health-kakao-secret"))},
            relay_in_process=False,
        ),
        "scheduler_enabled": False,
        "snapshot_poll_s": 0.1,
        "ready_snapshot_max_age_s": 0.5,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its lifespan run (engine, snapshots, poller), and a client for it."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    # Bounded here, so a probe that hangs fails the test instead of stalling it.
    return await asyncio.wait_for(client.get(path), timeout=10)


async def wait_for_status(client: httpx.AsyncClient, status: int, timeout_s: float) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await get(client, "/readyz")
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_ready_while_nothing_changes_longer_than_the_max_age(database_url: str) -> None:
    async with running(health_settings(database_url)) as client:
        assert (await get(client, "/livez")).json() == {"status": "ok"}
        # Well past the max age with no snapshot change: polls that find nothing new still count.
        for _ in range(6):
            await asyncio.sleep(0.25)
            response = await get(client, "/readyz")
            assert response.status_code == 200, response.json()
        body = response.json()
        assert body["status"] == "ready"
        assert body["problems"] == []
        assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
        assert body["checks"]["snapshots"]["ok"] is True
        assert body["checks"]["snapshots"]["age_s"] <= 0.5
        assert (await get(client, "/healthz")).status_code == 200


async def test_not_ready_while_the_snapshots_cannot_refresh(database_url: str, engine: AsyncEngine) -> None:
    async with running(health_settings(database_url)) as client:
        assert (await wait_for_status(client, 200, 5)).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE snapshot_version RENAME TO snapshot_version_away"))
        try:
            response = await wait_for_status(client, 503, 5)
            body = response.json()
            assert response.status_code == 503, body
            assert body["status"] == "not_ready"
            assert [p.split(":")[0] for p in body["problems"]] == ["snapshots"]
            assert "last successful refresh" in body["checks"]["snapshots"]["detail"]
            assert body["checks"]["snapshots"]["age_s"] > 0.5
            assert body["checks"]["database"]["ok"] is True
            # Still alive: restarting the process would not bring the table back.
            assert (await get(client, "/livez")).status_code == 200
        finally:
            async with engine.begin() as conn:
                await conn.execute(text("ALTER TABLE snapshot_version_away RENAME TO snapshot_version"))
        assert (await wait_for_status(client, 200, 5)).status_code == 200


class StallingProxy:
    """A TCP proxy to the database that can stop forwarding (a stall) or go away (an outage)."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def test_not_ready_within_the_timeout_while_the_database_stalls(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a stalled database server needs a network database (PostgreSQL)")
    proxy = StallingProxy(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    proxied = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    try:
        # A max age long enough that only the database check can fail here.
        async with running(health_settings(proxied, ready_snapshot_max_age_s=60)) as client:
            assert (await wait_for_status(client, 200, 5)).status_code == 200
            proxy.flowing.clear()
            for _ in range(2):  # the second finds the first's query still stuck, or stalls itself
                started = time.monotonic()
                response = await get(client, "/readyz")
                elapsed = time.monotonic() - started
                body = response.json()
                assert response.status_code == 503, body
                assert [p.split(":")[0] for p in body["problems"]] == ["database"]
                assert body["checks"]["database"]["ok"] is False
                assert elapsed < DB_TIMEOUT_S + 1.0, elapsed
            assert (await get(client, "/livez")).status_code == 200
            proxy.flowing.set()
            assert (await wait_for_status(client, 200, 10)).status_code == 200
    finally:
        proxy.flowing.set()
        await proxy.close()
