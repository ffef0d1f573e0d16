"""All of the users package's SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from lettering.core.db import rows_touched
from lettering.users.models import UserAccount, UserApiToken, UserSession


async def user_by_id(session: AsyncSession, user_id: int) -> UserAccount | None:
    return await session.get(UserAccount, user_id)


async def user_by_email(session: AsyncSession, email: str) -> UserAccount | None:
    rows = await session.execute(select(UserAccount).where(col(UserAccount.email) == email))
    return rows.scalar_one_or_none()


async def list_users(session: AsyncSession, agency_id: int | None = None) -> Sequence[UserAccount]:
    """Every user, or one agency's; platform admins first, then by email."""
    query = select(UserAccount).order_by(col(UserAccount.agency_id).is_not(None), col(UserAccount.email))
    if agency_id is not None:
        query = query.where(col(UserAccount.agency_id) == agency_id)
    return (await session.execute(query)).scalars().all()


async def add(session: AsyncSession, row: UserAccount | UserSession | UserApiToken) -> None:
    session.add(row)
    await session.flush()


async def session_with_user(
    session: AsyncSession, token_sha256: str
) -> tuple[UserSession, UserAccount] | None:
    rows = await session.execute(
        select(UserSession, UserAccount)
        .join(UserAccount, col(UserAccount.id) == col(UserSession.user_id))
        .where(col(UserSession.token_sha256) == token_sha256)
    )
    row = rows.one_or_none()
    return (row[0], row[1]) if row is not None else None


async def delete_session(session: AsyncSession, token_sha256: str) -> None:
    await session.execute(delete(UserSession).where(col(UserSession.token_sha256) == token_sha256))


async def delete_sessions(
    session: AsyncSession, *, user_id: int | None = None, expired_before: datetime | None = None
) -> int:
    """Delete a user's sessions, or the expired ones (of a user, or of everyone); how many."""
    query = delete(UserSession)
    if user_id is not None:
        query = query.where(col(UserSession.user_id) == user_id)
    if expired_before is not None:
        query = query.where(col(UserSession.expires_at) <= expired_before)
    result = await session.execute(query)
    return rows_touched(result)


async def token_with_user(
    session: AsyncSession, token_sha256: str
) -> tuple[UserApiToken, UserAccount] | None:
    rows = await session.execute(
        select(UserApiToken, UserAccount)
        .join(UserAccount, col(UserAccount.id) == col(UserApiToken.user_id))
        .where(col(UserApiToken.token_sha256) == token_sha256)
    )
    row = rows.one_or_none()
    return (row[0], row[1]) if row is not None else None


async def tokens_of_user(session: AsyncSession, user_id: int) -> Sequence[UserApiToken]:
    rows = await session.execute(
        select(UserApiToken).where(col(UserApiToken.user_id) == user_id).order_by(col(UserApiToken.id))
    )
    return rows.scalars().all()


async def token_by_id(session: AsyncSession, token_id: int) -> UserApiToken | None:
    return await session.get(UserApiToken, token_id)


async def touch_token(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(
        update(UserApiToken).where(col(UserApiToken.id) == token_id).values(last_used_at=now)
    )


async def touch_session(session: AsyncSession, token_sha256: str, now: datetime) -> None:
    await session.execute(
        update(UserSession).where(col(UserSession.token_sha256) == token_sha256).values(last_seen_at=now)
    )


def no_rows() -> ColumnElement[bool]:
    """A condition no row meets (a tenant scope that must match nothing)."""
    return false()
