"""SessionDep: a route's writes commit when it returns and roll back when it raises, before the
answer leaves (CONVENTIONS.md, Database)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.core.deps import SessionDep
from lettering.core.errors import AppError, install_error_handlers
from lettering.snapshots.service import bump, read_versions

pytestmark = pytest.mark.integration


class Refused(AppError):
    status_code = 409


def probe_app(sessions: async_sessionmaker[AsyncSession]) -> FastAPI:
    app = FastAPI()
    app.state.sessions = sessions
    install_error_handlers(app)

    @app.post("/write/{name}")
    async def write(name: str, session: SessionDep) -> dict[str, int]:
        await bump(session, name)
        return await read_versions(session)

    @app.post("/write-then-refuse/{name}")
    async def write_then_refuse(name: str, session: SessionDep) -> dict[str, int]:
        await bump(session, name)
        raise Refused(f"{name} refused after writing")

    return app


async def test_a_route_commits_on_success_and_rolls_back_on_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    transport = httpx.ASGITransport(app=probe_app(sessions))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        done = await client.post("/write/kept")
        refused = await client.post("/write-then-refuse/dropped")
    assert done.status_code == 200
    assert done.json()["kept"] == 1
    assert refused.status_code == 409
    assert refused.json() == {"error": "Refused", "detail": "dropped refused after writing"}
    async with sessions() as session:
        versions = await read_versions(session)
    assert versions.get("kept") == 1
    assert "dropped" not in versions
