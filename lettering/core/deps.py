"""Request dependencies, as `Annotated` aliases every router uses.

`SessionDep` is the request's one database session: it commits when the route returns and rolls
back when it raises, before the response is sent (`scope="function"`), so a route never answers
success for a write that did not commit. Services and repositories only flush.

Services built by the container are reached by type through `provided(kind)` (core names no
domain type; each package declares its own alias, e.g. `WebhooksDep`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from lettering.core.phone import PhoneVault
from lettering.core.settings import Settings

T = TypeVar("T")


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit on success, roll back on error."""
    async with request_sessions(request)() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


def request_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The session factory, for a dependency that must commit on its own (authentication's
    bookkeeping), never for a route's own work."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def request_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def request_vault(request: Request) -> PhoneVault:
    vault: PhoneVault = request.app.state.vault
    return vault


def lookup(state: State, kind: type[T]) -> T:
    """The container's instance of `kind` (for an ASGI middleware, which has no dependencies)."""
    found = state.services.get(kind)
    if not isinstance(found, kind):
        raise LookupError(f"the container provides no {kind.__name__}")
    return found


def provided(kind: type[T]) -> Callable[[Request], T]:
    """A dependency answering the container's instance of `kind`."""

    def dependency(request: Request) -> T:
        return lookup(request.app.state, kind)

    dependency.__name__ = f"provided_{kind.__name__}"
    return dependency


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(request_sessions)]
SettingsDep = Annotated[Settings, Depends(request_settings)]
VaultDep = Annotated[PhoneVault, Depends(request_vault)]
