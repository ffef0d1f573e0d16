"""People, roles, passwords, console sessions and API tokens. Other packages import this module only,
as `from lettering.users import service as user_service` (and `lettering.users.deps` for routes).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.db import utcnow
from lettering.directory import service as directory_service
from lettering.users import repository
from lettering.users.errors import EmailTaken, PasswordRejected, TokenNameTaken, UserInvalid, UserNotFound
from lettering.users.models import ROLES, UserAccount, UserApiToken, UserSession
from lettering.users.passwords import MAX_LENGTH, burn_time, hash_password, password_problem, verify_password

PLATFORM_ADMIN = "platform_admin"
APPROVER_ROLES = frozenset({"approver", "admin", PLATFORM_ADMIN})
# A console session's defaults (the settings `session_absolute_s` and `session_idle_s` override):
# it ends this long after login whatever happens, and after this long without a request.
SESSION_TTL = timedelta(hours=12)
SESSION_IDLE = timedelta(minutes=30)
# A session's last_seen_at is written at most this often (not once per request).
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)
# An API token's last_used_at is written at most this often (a script may call many times a second).
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
API_TOKEN_PREFIX = "lt_"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as other packages and the API see it (never the password hash)."""

    id: int
    email: str
    display_name: str
    role: str
    agency_id: int | None
    agency_code: str | None
    department_id: int | None
    department_code: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewSession:
    """A console login: `token` goes into the cookie and is not kept; `csrf_token` to the page."""

    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiTokenView:
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


# -- users ------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    email: str,
    display_name: str,
    password: str,
    role: str,
    agency_code: str | None = None,
    department_code: str | None = None,
) -> UserView:
    """Create a user after checking the role's rules: platform admins belong to no agency, everyone
    else to one; editors also to a department of that agency."""
    email = normalize_email(email)
    display_name = display_name.strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise UserInvalid(f"이메일 주소 형식이 올바르지 않습니다: {email!r}")
    if not 0 < len(display_name) <= 64:
        raise UserInvalid("이름은 1자 이상 64자 이하여야 합니다")
    if role not in ROLES:
        raise UserInvalid(f"역할은 {', '.join(ROLES)} 중 하나여야 합니다 (받은 값: {role!r})")
    check_new_password(password, email)
    agency_id: int | None = None
    department_id: int | None = None
    if role == PLATFORM_ADMIN:
        if agency_code or department_code:
            raise UserInvalid("platform_admin은 기관이나 부서에 속하지 않습니다; 기관·부서 코드를 빼 주세요")
    else:
        if not agency_code:
            raise UserInvalid(f"{role} 사용자는 기관 코드가 필요합니다")
        agency_id = await directory_service.agency_id_for_code(session, agency_code)
        if agency_id is None:
            raise UserInvalid(f"디렉터리에 없는 기관 코드입니다: {agency_code!r}")
        if role == "editor" and not department_code:
            raise UserInvalid("editor 사용자는 부서 코드가 필요합니다")
        if department_code:
            found = await directory_service.department_for_code(session, department_code)
            if found is None:
                raise UserInvalid(f"디렉터리에 없는 부서 코드입니다: {department_code!r}")
            department_id, department_agency_id = found
            if department_agency_id != agency_id:
                raise UserInvalid(f"부서 {department_code!r}: 기관 {agency_code!r}에 속하지 않습니다")
    if await repository.user_by_email(session, email) is not None:
        raise EmailTaken(f"이미 등록된 이메일입니다: {email}")
    user = UserAccount.model_validate(
        {
            "email": email,
            "display_name": display_name,
            "password_hash": await asyncio.to_thread(hash_password, password),
            "role": role,
            "agency_id": agency_id,
            "department_id": department_id,
        }
    )
    try:
        await repository.add(session, user)
    except IntegrityError:
        # Another transaction registered the same email between the check and the insert.
        raise EmailTaken(f"이미 등록된 이메일입니다: {email}") from None
    return (await _views(session, [user]))[0]


async def get_user(session: AsyncSession, user_id: int) -> UserView | None:
    """One user, or None."""
    user = await repository.user_by_id(session, user_id)
    return (await _views(session, [user]))[0] if user is not None else None


async def find_user(session: AsyncSession, email: str) -> UserView | None:
    """The user with this email (any case), or None."""
    user = await repository.user_by_email(session, normalize_email(email))
    return (await _views(session, [user]))[0] if user is not None else None


async def list_users(session: AsyncSession, agency_id: int | None = None) -> list[UserView]:
    """Every user, or one agency's."""
    return await _views(session, await repository.list_users(session, agency_id))


async def disable_user(session: AsyncSession, email: str) -> bool:
    """Stop a user: no login, their sessions end now, their API tokens stop working. False if unknown."""
    user = await repository.user_by_email(session, normalize_email(email))
    if user is None or user.id is None:
        return False
    user.active = False
    await repository.delete_sessions(session, user_id=user.id)
    await session.flush()
    return True


def check_new_password(password: str, email: str) -> None:
    """PasswordRejected (a UserInvalid: English detail, Korean words) unless it passes the rules."""
    problem = password_problem(password, email)
    if problem is not None:
        raise PasswordRejected(problem.english, korean=problem.korean)


def temporary_password() -> str:
    """A password to hand over once (16 characters from 12 random bytes); its owner changes it."""
    return secrets.token_urlsafe(12)


async def reset_password(session: AsyncSession, user_id: int) -> str:
    """A new temporary password for the user (returned once, stored only as its hash); every
    session of theirs ends now, so whoever had the old one is logged out."""
    user = await repository.user_by_id(session, user_id)
    if user is None or user.id is None:
        raise UserNotFound("사용자를 찾을 수 없습니다")
    password = temporary_password()
    user.password_hash = await asyncio.to_thread(hash_password, password)
    await repository.delete_sessions(session, user_id=user.id)
    await session.flush()
    return password


def may_manage(actor_role: str, actor_agency_id: int | None, user: UserView) -> bool:
    """Whether an admin may change this account: a platform admin any but another platform
    admin's; an agency admin those of their own agency (never a platform admin's)."""
    if actor_role == PLATFORM_ADMIN:
        return user.role != PLATFORM_ADMIN
    return actor_role == "admin" and user.role != PLATFORM_ADMIN and user.agency_id == actor_agency_id


async def _views(session: AsyncSession, users: Sequence[UserAccount]) -> list[UserView]:
    agency_codes = await directory_service.agency_codes(
        session, sorted({u.agency_id for u in users if u.agency_id is not None})
    )
    department_codes = await directory_service.department_codes(
        session, sorted({u.department_id for u in users if u.department_id is not None})
    )
    views: list[UserView] = []
    for user in users:
        assert user.id is not None
        views.append(
            UserView(
                id=user.id,
                email=user.email,
                display_name=user.display_name,
                role=user.role,
                agency_id=user.agency_id,
                agency_code=agency_codes.get(user.agency_id) if user.agency_id is not None else None,
                department_id=user.department_id,
                department_code=(
                    department_codes.get(user.department_id) if user.department_id is not None else None
                ),
                active=user.active,
                created_at=user.created_at,
                last_login_at=user.last_login_at,
            )
        )
    return views


# -- passwords and console sessions -----------------------------------------------------------


async def authenticate(
    session: AsyncSession, email: str, password: str, *, now: datetime | None = None
) -> UserView | None:
    """The user these credentials name, or None - in about the same time whether the email is
    unknown, the password wrong or the account disabled. Upgrades an outdated hash on success."""
    user = await repository.user_by_email(session, normalize_email(email))
    if user is None or len(password) > MAX_LENGTH:
        await asyncio.to_thread(burn_time, password[:MAX_LENGTH])
        return None
    matches, new_hash = await asyncio.to_thread(verify_password, password, user.password_hash)
    if not matches or not user.active:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
    user.last_login_at = now or utcnow()
    await session.flush()
    return (await _views(session, [user]))[0]


async def start_session(
    session: AsyncSession, user_id: int, *, now: datetime | None = None, ttl: timedelta = SESSION_TTL
) -> NewSession:
    """A new console session ending `ttl` after now at the latest; only the token's SHA-256 is stored."""
    now = now or utcnow()
    await repository.delete_sessions(session, user_id=user_id, expired_before=now)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    await repository.add(
        session,
        UserSession.model_validate(
            {
                "token_sha256": sha256_hex(token),
                "user_id": user_id,
                "csrf_token": csrf_token,
                "created_at": now,
                "expires_at": expires_at,
                "last_seen_at": now,
            }
        ),
    )
    return NewSession(token=token, csrf_token=csrf_token, expires_at=expires_at)


async def end_session(session: AsyncSession, token_sha256: str) -> None:
    """Log out: the session (by the SHA-256 of its cookie) is gone."""
    await repository.delete_session(session, token_sha256)


async def session_user(
    session: AsyncSession, token: str, *, now: datetime | None = None, idle: timedelta = SESSION_IDLE
) -> tuple[UserAccount, UserSession] | None:
    """The active user and the live session of a session cookie, or None (used by deps).

    A session past its absolute end, or idle for `idle`, is deleted; a live one's last_seen_at
    moves to now when it is older than SESSION_TOUCH_INTERVAL (one write a minute, not a request)."""
    now = now or utcnow()
    digest = sha256_hex(token)
    found = await repository.session_with_user(session, digest)
    if found is None:
        return None
    user_session, user = found
    last_seen = user_session.last_seen_at or user_session.created_at
    if user_session.expires_at <= now or last_seen + idle <= now:
        await repository.delete_session(session, digest)
        return None
    if not user.active:
        return None
    if now - last_seen >= SESSION_TOUCH_INTERVAL:
        await repository.touch_session(session, digest, now)
    return user, user_session


async def change_password(
    session: AsyncSession, user_id: int, current: str, new: str, *, ttl: timedelta = SESSION_TTL
) -> NewSession:
    """The user's own password change: the current password must match and the new one pass the
    rules; every session of theirs ends (whoever knew the old password is logged out) and a new
    one starts for the caller. UserInvalid says in Korean what is wrong."""
    user = await repository.user_by_id(session, user_id)
    if user is None or user.id is None or not user.active:
        raise UserNotFound("사용자를 찾을 수 없습니다")
    matches, _ = await asyncio.to_thread(verify_password, current[:MAX_LENGTH], user.password_hash)
    if not matches or len(current) > MAX_LENGTH:
        raise UserInvalid("현재 비밀번호가 올바르지 않습니다")
    if new == current:
        raise UserInvalid("새 비밀번호가 현재 비밀번호와 같습니다")
    check_new_password(new, user.email)
    user.password_hash = await asyncio.to_thread(hash_password, new)
    await repository.delete_sessions(session, user_id=user.id)
    await session.flush()
    return await start_session(session, user.id, ttl=ttl)


async def purge_expired_sessions(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete every expired session; how many (for a periodic job)."""
    return await repository.delete_sessions(session, expired_before=now or utcnow())


# -- API tokens -------------------------------------------------------------------------------


async def create_api_token(
    session: AsyncSession, user_id: int, name: str, expires_days: int | None = None
) -> str:
    """A bearer token acting as this user. Returned once; only its SHA-256 is stored."""
    name = name.strip()
    if not 0 < len(name) <= 64:
        raise UserInvalid("토큰 이름은 1자 이상 64자 이하여야 합니다")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise UserInvalid("토큰 유효 기간은 1일에서 3650일 사이여야 합니다")
    user = await repository.user_by_id(session, user_id)
    if user is None or not user.active:
        raise UserNotFound("사용자를 찾을 수 없거나 사용이 중지된 계정입니다")
    now = utcnow()
    for existing in await repository.tokens_of_user(session, user_id):
        if existing.name == name and existing.revoked_at is None:
            raise TokenNameTaken(f"이미 같은 이름의 토큰이 있습니다: {name!r} (먼저 폐기하세요)")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    await repository.add(
        session,
        UserApiToken.model_validate(
            {
                "user_id": user_id,
                "name": name,
                "token_sha256": sha256_hex(token),
                "created_at": now,
                "expires_at": now + timedelta(days=expires_days) if expires_days is not None else None,
            }
        ),
    )
    return token


async def api_tokens(session: AsyncSession, user_id: int) -> list[ApiTokenView]:
    """A user's API tokens, revoked ones included (never the token itself)."""
    return [
        ApiTokenView(
            id=t.id,
            name=t.name,
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
        )
        for t in await repository.tokens_of_user(session, user_id)
        if t.id is not None
    ]


async def revoke_api_token(session: AsyncSession, token_id: int, *, now: datetime | None = None) -> bool:
    """Revoke a token; False when there is no such token or it was already revoked."""
    token = await repository.token_by_id(session, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = now or utcnow()
    await session.flush()
    return True


async def token_user(session: AsyncSession, token: str, *, now: datetime | None = None) -> UserAccount | None:
    """The active user of a live API token, or None (used by deps); notes the use once a minute."""
    now = now or utcnow()
    found = await repository.token_with_user(session, sha256_hex(token))
    if found is None:
        return None
    api_token, user = found
    if api_token.revoked_at is not None or not user.active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    if api_token.id is not None and (
        api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_TOUCH_INTERVAL
    ):
        await repository.touch_token(session, api_token.id, now)
    return user


__all__ = [
    "APPROVER_ROLES",
    "PLATFORM_ADMIN",
    "ROLES",
    "SESSION_TTL",
    "ApiTokenView",
    "NewSession",
    "UserView",
    "api_tokens",
    "authenticate",
    "create_api_token",
    "create_user",
    "disable_user",
    "end_session",
    "find_user",
    "get_user",
    "list_users",
    "normalize_email",
    "purge_expired_sessions",
    "revoke_api_token",
    "session_user",
    "sha256_hex",
    "start_session",
    "token_user",
]
