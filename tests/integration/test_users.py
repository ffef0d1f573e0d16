"""Users on each database: creation rules, console login with cookie and CSRF, API tokens, the
failed-login limit, disabling, tenant scoping, and the `lettering user` commands."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from lettering.app import create_app
from lettering.cli import app as cli_app
from lettering.core.db import session_scope, utcnow
from lettering.core.errors import NotFound
from lettering.core.settings import get_settings
from lettering.users import service
from lettering.users.deps import (
    AgencyScope,
    CurrentUser,
    Principal,
    agency_for,
    ensure_in_scope,
    require_roles,
    scope,
)
from lettering.users.errors import EmailTaken, TokenNameTaken, UserInvalid
from lettering.users.models import UserAccount, UserApiToken, UserSession
from tests.integration.callpath.conftest import seed_directory, service_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery"
LOGIN = "/v1/auth/login"
LOGOUT = "/v1/auth/logout"
ME = "/v1/auth/me"


@pytest.fixture
async def agencies(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    return await seed_directory(sessions)


async def add_user(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    role: str = "editor",
    agency: str | None = "HANBIT",
    department: str | None = "HANBIT-0100",
    password: str = PASSWORD,
) -> service.UserView:
    async with session_scope(sessions) as session:
        return await service.create_user(session, email, "홍길동", password, role, agency, department)


async def new_token(sessions: async_sessionmaker[AsyncSession], user_id: int, name: str = "script") -> str:
    async with session_scope(sessions) as session:
        return await service.create_api_token(session, user_id, name)


def add_probe_routes(app: FastAPI) -> None:
    """Routes shaped like other packages' routes, to check the dependencies end to end."""

    @app.get("/probe/users/{user_id}")
    async def probe_user(user_id: int, principal: CurrentUser) -> dict[str, Any]:
        async with app.state.sessions() as session:
            query = scope(
                select(UserAccount).where(UserAccount.id == user_id), UserAccount.agency_id, principal
            )  # type: ignore[arg-type]
            user = (await session.execute(query)).scalar_one_or_none()
        if user is None:
            raise NotFound("요청한 항목을 찾을 수 없습니다")
        return {"email": user.email}

    @app.post("/probe/admin")
    async def probe_admin(
        principal: Annotated[Principal, Depends(require_roles("admin", "platform_admin"))],
    ) -> dict[str, Any]:
        return {"role": principal.role}

    @app.get("/probe/agency")
    async def probe_agency(agency_id: AgencyScope) -> dict[str, Any]:
        return {"agency_id": agency_id}


@contextlib.asynccontextmanager
async def running(
    database_url: str, public_base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service_settings(database_url, public_base_url))
    add_probe_routes(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=public_base_url) as client:
            yield client


@pytest.fixture
async def client(database_url: str, agencies: dict[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    async with running(database_url) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in (the client keeps the cookie); the CSRF token."""
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


# -- creating users ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "role", "agency", "department", "password", "message"),
    [
        ("not-an-email", "editor", "HANBIT", "HANBIT-0100", PASSWORD, "이메일"),
        ("a@hanbit.go.kr", "superuser", "HANBIT", None, PASSWORD, "역할"),
        ("a@hanbit.go.kr", "editor", "HANBIT", "HANBIT-0100", "short-pw", "at least 10 characters"),
        ("a@hanbit.go.kr", "editor", "HANBIT", "HANBIT-0100", "1029384756", "commonly used"),
        ("a@hanbit.go.kr", "platform_admin", "HANBIT", None, PASSWORD, "platform_admin"),
        ("a@hanbit.go.kr", "approver", None, None, PASSWORD, "기관 코드가 필요"),
        ("a@hanbit.go.kr", "admin", "NOPE", None, PASSWORD, "'NOPE'"),
        ("a@hanbit.go.kr", "editor", "HANBIT", None, PASSWORD, "부서 코드가 필요"),
        ("a@hanbit.go.kr", "editor", "HANBIT", "HANBIT-9999", PASSWORD, "'HANBIT-9999'"),
        ("a@hanbit.go.kr", "editor", "HANBIT", "PUREUN-0001", PASSWORD, "속하지 않습니다"),
    ],
)
async def test_create_user_refuses(
    sessions: async_sessionmaker[AsyncSession],
    agencies: dict[str, int],
    email: str,
    role: str,
    agency: str | None,
    department: str | None,
    password: str,
    message: str,
) -> None:
    with pytest.raises(UserInvalid, match=message) as refused:
        await add_user(sessions, email, role, agency, department, password)
    assert refused.value.status_code == 400
    async with sessions() as session:
        assert (await session.execute(select(UserAccount))).first() is None


async def test_create_user_by_role(
    sessions: async_sessionmaker[AsyncSession], agencies: dict[str, int]
) -> None:
    editor = await add_user(sessions, "  Editor@Hanbit.GO.kr ")
    assert editor.email == "editor@hanbit.go.kr"
    assert (editor.agency_id, editor.agency_code) == (agencies["HANBIT"], "HANBIT")
    assert editor.department_code == "HANBIT-0100"
    approver = await add_user(sessions, "approver@hanbit.go.kr", "approver", department=None)
    assert (approver.agency_code, approver.department_id) == ("HANBIT", None)
    admin = await add_user(sessions, "admin@pureun.go.kr", "admin", "PUREUN", "PUREUN-0001")
    assert admin.department_code == "PUREUN-0001"
    platform = await add_user(sessions, "ops@platform.kr", "platform_admin", None, None)
    assert (platform.agency_id, platform.department_id) == (None, None)
    with pytest.raises(EmailTaken) as taken:
        await add_user(sessions, "EDITOR@hanbit.go.kr")
    assert taken.value.status_code == 409
    async with sessions() as session:
        stored = (await session.execute(select(UserAccount.password_hash))).scalars().all()
    assert len(stored) == 4
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in stored)
    listed = await _list(sessions, agencies["HANBIT"])
    assert [u.email for u in listed] == ["approver@hanbit.go.kr", "editor@hanbit.go.kr"]
    assert [u.email for u in await _list(sessions, None)][0] == "ops@platform.kr"


async def _list(sessions: async_sessionmaker[AsyncSession], agency_id: int | None) -> list[service.UserView]:
    async with sessions() as session:
        return await service.list_users(session, agency_id)


# -- console login ----------------------------------------------------------------------------


async def test_login_sets_a_hardened_cookie_and_keeps_only_its_hash(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await add_user(sessions, "editor@hanbit.go.kr")
    response = await client.post(LOGIN, json={"email": "Editor@Hanbit.go.kr", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == "editor@hanbit.go.kr"
    assert body["user"]["department_code"] == "HANBIT-0100"
    assert "password_hash" not in body["user"]
    csrf = body["csrf_token"]
    assert len(csrf) >= 32
    cookie = response.headers["set-cookie"]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert flags[0].startswith("lettering_session=")
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "max-age=43200" in flags
    assert "secure" not in flags  # http base URL
    token = client.cookies["lettering_session"]
    async with sessions() as session:
        row = (await session.execute(select(UserSession))).scalar_one()
        account = await session.get(UserAccount, user.id)
    assert row.token_sha256 == service.sha256_hex(token)
    assert token not in row.token_sha256
    assert row.csrf_token == csrf
    assert timedelta(hours=11, minutes=59) < row.expires_at - utcnow() <= timedelta(hours=12)
    assert account is not None
    assert account.last_login_at is not None
    me = await client.get(ME)
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user.id
    assert me.json()["csrf_token"] == csrf


async def test_login_by_form_and_secure_cookie_on_https(
    database_url: str, agencies: dict[str, int], sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    async with running(database_url, "https://lettering.hanbit.go.kr") as client:
        response = await client.post(LOGIN, data={"email": "editor@hanbit.go.kr", "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert "secure" in [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
        assert (await client.get(ME)).status_code == 200


async def test_login_input_problems_are_422_without_echoing_the_password(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, json={"email": "a@b.kr", "password": "x" * 2000})
    assert response.status_code == 422
    assert "x" * 100 not in response.text
    missing = await client.post(LOGIN, json={"email": "a@b.kr"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "password"]
    body = (await client.get("/openapi.json")).json()["paths"][LOGIN]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}


async def test_a_deeply_nested_login_body_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    deep = b"[" * 1100 + b"]" * 1100
    response = await client.post(LOGIN, content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


async def test_unknown_user_wrong_password_and_disabled_user_get_the_same_401(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    await add_user(sessions, "gone@hanbit.go.kr")
    async with session_scope(sessions) as session:
        assert await service.disable_user(session, "gone@hanbit.go.kr")
    unknown = await client.post(LOGIN, json={"email": "nobody@hanbit.go.kr", "password": PASSWORD})
    wrong = await client.post(LOGIN, json={"email": "editor@hanbit.go.kr", "password": PASSWORD + "!"})
    disabled = await client.post(LOGIN, json={"email": "gone@hanbit.go.kr", "password": PASSWORD})
    assert unknown.status_code == wrong.status_code == disabled.status_code == 401
    assert unknown.json() == wrong.json() == disabled.json()
    assert unknown.json() == {"error": "LoginFailed", "detail": "이메일 또는 비밀번호가 올바르지 않습니다"}
    assert "set-cookie" not in wrong.headers
    assert (await client.get(ME)).status_code == 401


async def test_failed_logins_are_limited_per_email_and_ip(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    await add_user(sessions, "other@hanbit.go.kr")
    for _ in range(10):
        r = await client.post(LOGIN, json={"email": "editor@hanbit.go.kr", "password": "guess-guess-guess"})
        assert r.status_code == 401
    blocked = await client.post(LOGIN, json={"email": "EDITOR@hanbit.go.kr", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "TooManyLoginAttempts"
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    assert "set-cookie" not in blocked.headers
    # Another account from the same address is not locked out.
    assert (
        await client.post(LOGIN, json={"email": "other@hanbit.go.kr", "password": PASSWORD})
    ).status_code == 200


# -- CSRF, logout, sessions -------------------------------------------------------------------


async def test_cookie_requests_need_the_csrf_token_for_unsafe_methods(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "admin@hanbit.go.kr", "admin", department=None)
    csrf = await login(client, "admin@hanbit.go.kr")
    missing = await client.post("/probe/admin")
    assert missing.status_code == 403
    assert missing.json()["error"] == "CsrfRejected"
    assert "X-CSRF-Token" in missing.json()["detail"]
    wrong_token = csrf[:-1] + ("B" if csrf.endswith("A") else "A")  # always differs from the real one
    wrong = await client.post("/probe/admin", headers={"X-CSRF-Token": wrong_token})
    assert wrong.status_code == 403
    assert (await client.get(ME)).status_code == 200  # safe methods need none
    ok = await client.post("/probe/admin", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert ok.json() == {"role": "admin"}


async def test_logout_with_the_form_field_ends_the_session(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    csrf = await login(client, "editor@hanbit.go.kr")
    cookie = client.cookies["lettering_session"]
    refused = await client.post(LOGOUT, data={"csrf_token": "not-it"})
    assert refused.status_code == 403
    done = await client.post(LOGOUT, data={"csrf_token": csrf})
    assert done.status_code == 204
    assert "lettering_session" not in client.cookies
    async with sessions() as session:
        assert (await session.execute(select(UserSession))).first() is None
    # The old cookie, sent again, is worth nothing.
    client.cookies.set("lettering_session", cookie)
    again = await client.get(ME)
    assert again.status_code == 401
    assert again.json()["error"] == "NotAuthenticated"


async def test_logout_with_the_header_and_expired_sessions(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    csrf = await login(client, "editor@hanbit.go.kr")
    assert (await client.post(LOGOUT, headers={"X-CSRF-Token": csrf})).status_code == 204
    assert (await client.get(ME)).status_code == 401
    await login(client, "editor@hanbit.go.kr")
    async with session_scope(sessions) as session:
        await session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(ME)).status_code == 401
    async with sessions() as session:
        assert (await session.execute(select(UserSession))).first() is None


async def test_disabling_a_user_ends_their_sessions_and_tokens(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await add_user(sessions, "editor@hanbit.go.kr")
    token = await new_token(sessions, user.id)
    await login(client, "editor@hanbit.go.kr")
    assert (await client.get(ME)).status_code == 200
    async with session_scope(sessions) as session:
        assert await service.disable_user(session, "editor@hanbit.go.kr")
    assert (await client.get(ME)).status_code == 401
    bearer = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    assert (
        await client.post(LOGIN, json={"email": "editor@hanbit.go.kr", "password": PASSWORD})
    ).status_code == 401


async def test_a_session_ends_after_the_idle_time_and_last_seen_is_written_once_a_minute(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    await login(client, "editor@hanbit.go.kr")

    async def last_seen() -> Any:
        async with sessions() as session:
            return (await session.execute(select(UserSession.last_seen_at))).scalar_one()

    first = await last_seen()
    assert (await client.get(ME)).status_code == 200
    assert await last_seen() == first  # not a write per request
    # 29 minutes idle: still live, and the request moves last_seen_at to now.
    async with session_scope(sessions) as session:
        await session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=29)))
    assert (await client.get(ME)).status_code == 200
    assert await last_seen() > utcnow() - timedelta(seconds=30)
    # 30 minutes idle (the default session_idle_s): gone.
    async with session_scope(sessions) as session:
        await session.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=30)))
    assert (await client.get(ME)).status_code == 401
    async with sessions() as session:
        assert (await session.execute(select(UserSession))).first() is None


async def test_a_session_ends_at_its_absolute_end_even_when_in_use(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    before = utcnow()
    await login(client, "editor@hanbit.go.kr")
    async with sessions() as session:
        row = (await session.execute(select(UserSession))).scalar_one()
    assert timedelta(hours=12) <= row.expires_at - before < timedelta(hours=12, minutes=1)
    # In use a minute ago, but started more than 12 hours ago.
    async with session_scope(sessions) as session:
        await session.execute(
            update(UserSession).values(
                created_at=utcnow() - timedelta(hours=12, minutes=1),
                expires_at=utcnow() - timedelta(seconds=1),
                last_seen_at=utcnow() - timedelta(minutes=1),
            )
        )
    assert (await client.get(ME)).status_code == 401


async def test_changing_ones_password_ends_every_session_and_starts_a_new_one(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    csrf = await login(client, "editor@hanbit.go.kr")
    async with running(database_url) as elsewhere:  # the same user on another device
        await login(elsewhere, "editor@hanbit.go.kr")
        old_cookie = client.cookies["lettering_session"]
        weak = await client.post(
            "/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "1029384756"},
            headers={"X-CSRF-Token": csrf},
        )
        assert weak.status_code == 400
        assert weak.json() == {"error": "PasswordRejected", "detail": weak.json()["detail"]}
        assert "commonly used" in weak.json()["detail"]
        wrong = await client.post(
            "/v1/auth/password",
            json={"current_password": "not-my-password", "new_password": "a-new-long-passphrase"},
            headers={"X-CSRF-Token": csrf},
        )
        assert wrong.status_code == 400
        assert (await elsewhere.get(ME)).status_code == 200  # refusals change nothing
        changed = await client.post(
            "/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "a-new-long-passphrase"},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["csrf_token"] != csrf
        assert (await elsewhere.get(ME)).status_code == 401  # the other device is logged out
        assert client.cookies["lettering_session"] != old_cookie
        assert (await client.get(ME)).status_code == 200  # the caller carries on, on a new session
        client.cookies.set("lettering_session", old_cookie)
        assert (await client.get(ME)).status_code == 401
    assert (
        await client.post(LOGIN, json={"email": "editor@hanbit.go.kr", "password": "a-new-long-passphrase"})
    ).status_code == 200


async def test_a_password_reset_ends_the_users_sessions(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    user = await add_user(sessions, "editor@hanbit.go.kr")
    await login(client, "editor@hanbit.go.kr")
    assert (await client.get(ME)).status_code == 200
    async with session_scope(sessions) as session:
        await service.reset_password(session, user.id)
    assert (await client.get(ME)).status_code == 401


# -- API tokens -------------------------------------------------------------------------------


async def test_bearer_tokens_work_without_csrf_and_stop_when_revoked_or_expired(
    database_url: str, agencies: dict[str, int], sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await add_user(sessions, "admin@hanbit.go.kr", "admin", department=None)
    token = await new_token(sessions, admin.id, "nightly")
    assert token.startswith("lt_")
    async with sessions() as session:
        row = (await session.execute(select(UserApiToken))).scalar_one()
    assert row.token_sha256 == service.sha256_hex(token)
    assert row.last_used_at is None
    auth = {"Authorization": f"Bearer {token}"}
    async with running(database_url) as client:
        me = await client.get(ME, headers=auth)
        assert me.status_code == 200
        assert me.json()["user"]["email"] == "admin@hanbit.go.kr"
        assert me.json()["csrf_token"] is None
        # Unsafe methods need no CSRF token with a bearer token.
        assert (await client.post("/probe/admin", headers=auth)).status_code == 200
        async with sessions() as session:
            first_use = (await session.execute(select(UserApiToken.last_used_at))).scalar_one()
        assert first_use is not None
        assert (await client.get(ME, headers=auth)).status_code == 200
        async with sessions() as session:
            assert (await session.execute(select(UserApiToken.last_used_at))).scalar_one() == first_use

        with pytest.raises(TokenNameTaken):
            await new_token(sessions, admin.id, "nightly")

        for bad in ("Bearer lt_not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer "):
            refused = await client.get(ME, headers={"Authorization": bad})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"

        async with session_scope(sessions) as session:
            assert await service.revoke_api_token(session, row.id)  # type: ignore[arg-type]
            assert not await service.revoke_api_token(session, row.id)  # type: ignore[arg-type]
        assert (await client.get(ME, headers=auth)).status_code == 401

        expiring = await new_token(sessions, admin.id, "nightly")  # the name is free again
        auth = {"Authorization": f"Bearer {expiring}"}
        assert (await client.get(ME, headers=auth)).status_code == 200
        async with session_scope(sessions) as session:
            await session.execute(
                update(UserApiToken)
                .where(UserApiToken.token_sha256 == service.sha256_hex(expiring))  # type: ignore[arg-type]
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert (await client.get(ME, headers=auth)).status_code == 401


async def test_a_bad_bearer_token_is_not_rescued_by_a_good_cookie(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    await login(client, "editor@hanbit.go.kr")
    assert (await client.get(ME, headers={"Authorization": "Bearer lt_wrong"})).status_code == 401


# -- roles and tenants ------------------------------------------------------------------------


async def test_roles_and_agency_scope_over_http(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], agencies: dict[str, int]
) -> None:
    editor = await add_user(sessions, "editor@hanbit.go.kr")
    pureun = await add_user(sessions, "admin@pureun.go.kr", "admin", "PUREUN", None)
    platform = await add_user(sessions, "ops@platform.kr", "platform_admin", None, None)
    tokens = {
        u.email: {"Authorization": f"Bearer {await new_token(sessions, u.id)}"}
        for u in (editor, pureun, platform)
    }

    refused = await client.post("/probe/admin", headers=tokens["editor@hanbit.go.kr"])
    assert refused.status_code == 403
    assert refused.json()["error"] == "RoleForbidden"

    # Another agency's user looks exactly like a user that does not exist.
    foreign = await client.get(f"/probe/users/{editor.id}", headers=tokens["admin@pureun.go.kr"])
    missing = await client.get("/probe/users/999999", headers=tokens["admin@pureun.go.kr"])
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    own = await client.get(f"/probe/users/{pureun.id}", headers=tokens["admin@pureun.go.kr"])
    assert own.json() == {"email": "admin@pureun.go.kr"}
    for user in (editor, pureun, platform):
        seen = await client.get(f"/probe/users/{user.id}", headers=tokens["ops@platform.kr"])
        assert seen.status_code == 200

    async def agency(email: str, code: str | None = None) -> httpx.Response:
        return await client.get(
            "/probe/agency", params={"agency": code} if code else {}, headers=tokens[email]
        )

    assert (await agency("editor@hanbit.go.kr")).json() == {"agency_id": agencies["HANBIT"]}
    assert (await agency("editor@hanbit.go.kr", "HANBIT")).json() == {"agency_id": agencies["HANBIT"]}
    assert (await agency("editor@hanbit.go.kr", "PUREUN")).status_code == 404
    assert (await agency("editor@hanbit.go.kr", "NOPE")).status_code == 404
    assert (await agency("ops@platform.kr", "PUREUN")).json() == {"agency_id": agencies["PUREUN"]}
    needs = await agency("ops@platform.kr")
    assert needs.status_code == 400
    assert needs.json()["error"] == "AgencyRequired"


async def test_scope_and_ensure_in_scope(
    sessions: async_sessionmaker[AsyncSession], agencies: dict[str, int]
) -> None:
    await add_user(sessions, "editor@hanbit.go.kr")
    await add_user(sessions, "approver@hanbit.go.kr", "approver", department=None)
    await add_user(sessions, "admin@pureun.go.kr", "admin", "PUREUN", None)
    await add_user(sessions, "ops@platform.kr", "platform_admin", None, None)
    hanbit = Principal(1, "editor@hanbit.go.kr", "editor", agencies["HANBIT"], None)
    pureun = Principal(2, "admin@pureun.go.kr", "admin", agencies["PUREUN"], None)
    platform = Principal(3, "ops@platform.kr", "platform_admin", None, None)
    broken = Principal(4, "x@y.kr", "admin", None, None)

    async def emails(principal: Principal) -> list[str]:
        query = scope(select(UserAccount).order_by(UserAccount.email), UserAccount.agency_id, principal)
        async with sessions() as session:
            return [u.email for u in (await session.execute(query)).scalars()]

    assert await emails(hanbit) == ["approver@hanbit.go.kr", "editor@hanbit.go.kr"]
    assert await emails(pureun) == ["admin@pureun.go.kr"]
    assert len(await emails(platform)) == 4
    assert await emails(broken) == []

    ensure_in_scope(hanbit, agencies["HANBIT"])
    ensure_in_scope(platform, agencies["PUREUN"])
    with pytest.raises(NotFound) as hidden:
        ensure_in_scope(hanbit, agencies["PUREUN"])
    assert hidden.value.status_code == 404
    with pytest.raises(NotFound):
        ensure_in_scope(broken, None)

    assert agency_for(hanbit) == agencies["HANBIT"]
    with pytest.raises(NotFound):
        agency_for(hanbit, agencies["PUREUN"])
    assert agency_for(platform, agencies["PUREUN"]) == agencies["PUREUN"]
    assert hanbit.can_approve is False
    assert pureun.can_approve
    assert pureun.is_admin
    assert not pureun.is_platform_admin
    assert platform.is_platform_admin
    assert platform.can_approve


# -- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, agencies: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LETTERING_ENV", "dev")
    monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_add_token_list_disable(cli: CliRunner) -> None:
    added = cli.invoke(
        cli_app,
        ["user", "add", "--email", "Editor@Hanbit.go.kr", "--name", "홍길동", "--role", "editor",
         "--agency", "HANBIT", "--department", "HANBIT-0100", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "editor@hanbit.go.kr added: editor, HANBIT HANBIT-0100" in added.output
    assert PASSWORD not in added.output

    prompted = cli.invoke(
        cli_app,
        ["user", "add", "--email", "ops@platform.kr", "--name", "운영", "--role", "platform_admin"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "all agencies" in prompted.output

    short = cli.invoke(
        cli_app,
        ["user", "add", "--email", "x@hanbit.go.kr", "--name", "x", "--role", "approver",
         "--agency", "HANBIT", "--password-stdin"],
        input="short\n",
    )  # fmt: skip
    assert short.exit_code == 1
    assert "at least 10 characters" in short.output

    duplicate = cli.invoke(
        cli_app,
        ["user", "add", "--email", "editor@hanbit.go.kr", "--name", "x", "--role", "editor",
         "--agency", "HANBIT", "--department", "HANBIT-0100", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert duplicate.exit_code == 1
    assert "이미 등록된 이메일" in duplicate.output

    token = cli.invoke(cli_app, ["user", "token", "--email", "editor@hanbit.go.kr", "--name", "nightly"])
    assert token.exit_code == 0, token.output
    printed = token.stdout.strip()
    assert printed.startswith("lt_")
    assert "not shown again" in token.stderr
    assert cli.invoke(cli_app, ["user", "token", "--email", "nobody@x.kr", "--name", "n"]).exit_code == 1

    listed = cli.invoke(cli_app, ["user", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert lines[0].startswith("ops@platform.kr\t운영\tplatform_admin\t-\t-\tactive")
    assert lines[1].startswith("editor@hanbit.go.kr\t홍길동\teditor\tHANBIT\tHANBIT-0100\tactive")
    assert printed not in listed.output
    only = cli.invoke(cli_app, ["user", "list", "--agency", "PUREUN"])
    assert only.output.strip() == "no users"
    assert cli.invoke(cli_app, ["user", "list", "--agency", "NOPE"]).exit_code == 1

    revoked = cli.invoke(
        cli_app, ["user", "revoke-token", "--email", "editor@hanbit.go.kr", "--name", "nightly"]
    )
    assert revoked.exit_code == 0, revoked.output
    assert (
        cli.invoke(
            cli_app, ["user", "revoke-token", "--email", "editor@hanbit.go.kr", "--name", "nightly"]
        ).exit_code
        == 1
    )

    disabled = cli.invoke(cli_app, ["user", "disable", "--email", "EDITOR@hanbit.go.kr"])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled" in cli.invoke(cli_app, ["user", "list", "--agency", "HANBIT"]).output
    assert cli.invoke(cli_app, ["user", "disable", "--email", "nobody@x.kr"]).exit_code == 1


def test_cli_password_prompt_must_match(cli: CliRunner) -> None:
    mismatch = cli.invoke(
        cli_app,
        ["user", "add", "--email", "ops@platform.kr", "--name", "운영", "--role", "platform_admin"],
        input=f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output.lower()
    assert PASSWORD not in mismatch.output
