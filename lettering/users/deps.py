"""Who is calling, what they may do, and which agency's rows they may see.

Routes of every package authenticate with `CurrentUser` (or `require_roles(...)`) and read tenant
data only through `scope()` / `ensure_in_scope()`, so one agency never sees another's rows.

Credentials, in this order:
- `Authorization: Bearer <API token>` (scripts): no CSRF check - a browser never adds this header
  on its own. A present but bad bearer token is a 401; the cookie is then not looked at.
- the `lettering_session` cookie (console): requests with an unsafe method (POST, PUT, PATCH,
  DELETE) must carry the session's CSRF token in the `X-CSRF-Token` header, or, for plain HTML
  forms, in the form field `csrf_token`.

Tenants: every user but a platform admin belongs to one agency and only ever sees it; an object of
another agency answers 404, exactly like one that does not exist. A platform admin sees every
agency; a route that needs one agency (to create something in it, or for figures) takes it as the
`?agency=CODE` query parameter through `AgencyScope`, or from its own path with `resolve_agency()`.
Other users may pass their own agency's code there, or nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar, overload

from fastapi import Depends, Query, Request, Response
from sqlalchemy import Delete, Select, Update
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.db import session_scope, utcnow
from lettering.core.deps import SessionDep, SessionsDep, request_settings
from lettering.core.errors import NotFound
from lettering.core.settings import Settings
from lettering.directory import service as directory_service
from lettering.users import repository, service
from lettering.users.errors import AgencyRequired, CsrfRejected, NotAuthenticated, RoleForbidden
from lettering.users.models import ROLES, UserAccount
from lettering.users.service import NewSession

SESSION_COOKIE = "lettering_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MULTIPART = "multipart/form-data"

NOT_FOUND_MESSAGE = "요청한 항목을 찾을 수 없습니다"

S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    email: str
    role: str
    agency_id: int | None
    department_id: int | None

    @property
    def is_platform_admin(self) -> bool:
        return self.role == service.PLATFORM_ADMIN

    @property
    def is_admin(self) -> bool:
        """Administers an agency (or, as platform admin, every agency)."""
        return self.role in ("admin", service.PLATFORM_ADMIN)

    @property
    def can_approve(self) -> bool:
        return self.role in service.APPROVER_ROLES

    @classmethod
    def of(cls, user: UserAccount) -> Principal:
        assert user.id is not None
        return cls(user.id, user.email, user.role, user.agency_id, user.department_id)


@dataclass(frozen=True, slots=True)
class Credential:
    """How the principal of this request authenticated (kept in request.state.credential)."""

    kind: str  # "session" | "token"
    session_sha256: str | None = None
    csrf_token: str | None = None


def set_session_cookie(response: Response, new: NewSession, *, public_base_url: str) -> None:
    """The console session cookie, one rule for the API login and the console's login form."""
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=max(1, round((new.expires_at - utcnow()).total_seconds())),
        expires=new.expires_at,
        path="/",
        secure=_https(public_base_url),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, *, public_base_url: str) -> None:
    """Remove the session cookie (with the attributes it was set with)."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_https(public_base_url), httponly=True, samesite="lax"
    )


def session_ttl(settings: Settings) -> timedelta:
    """A console session's absolute lifetime (the setting `session_absolute_s`)."""
    return timedelta(seconds=settings.session_absolute_s)


def _https(public_base_url: str) -> bool:
    """Cookies are `Secure` when the service is reached over HTTPS."""
    return public_base_url.lower().startswith("https://")


async def current_principal(request: Request, sessions: SessionsDep) -> Principal:
    # Its own short transaction, not the route's: the bookkeeping of authentication (a token's
    # last use, an expired session deleted) stands whatever the route then does.
    """The caller, from a bearer token or the session cookie (with its CSRF rule); 401 otherwise."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated(
                "Authorization 헤더는 'Bearer <토큰>' 형식이어야 합니다",
                headers={"WWW-Authenticate": "Bearer"},
            )
        async with session_scope(sessions) as session:
            user = await service.token_user(session, token)
            principal = Principal.of(user) if user is not None else None
        if principal is None:
            raise NotAuthenticated(
                "API 토큰이 올바르지 않거나 만료 또는 폐기되었습니다", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.credential = Credential("token")
        return principal

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("로그인이 필요합니다")
    settings = request_settings(request)
    async with session_scope(sessions) as session:
        found = await service.session_user(session, cookie, idle=timedelta(seconds=settings.session_idle_s))
    if found is None:
        raise NotAuthenticated("로그인이 만료되었습니다. 다시 로그인해 주세요")
    user, user_session = found
    if request.method in UNSAFE_METHODS:
        await _check_csrf(request, user_session.csrf_token)
    request.state.credential = Credential("session", user_session.token_sha256, user_session.csrf_token)
    return Principal.of(user)


async def _check_csrf(request: Request, expected: str) -> None:
    """The session's CSRF token, from the header, else (HTML forms) from the request.

    A multipart body (an upload: megabytes, files spooled to disk) is not parsed before the token
    is known: its forms carry the token in their action's query string (`?csrf_token=`, redacted in
    the logs, never sent on as a referrer: the console is `no-referrer`). Only a small urlencoded
    form is parsed for its `csrf_token` field.
    """
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(MULTIPART):
        sent = request.query_params.get(CSRF_FORM_FIELD)
    elif sent is None and content_type.startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected(
            f"CSRF 토큰이 없거나 올바르지 않습니다. 로그인 때 받은 csrf_token을 {CSRF_HEADER} 헤더"
            f"(HTML 폼은 {CSRF_FORM_FIELD} 필드, 파일을 올리는 폼은 주소의 ?{CSRF_FORM_FIELD}=)로 보내 주세요"
        )


CurrentUser = Annotated[Principal, Depends(current_principal)]


def credential_of(request: Request) -> Credential | None:
    """How this request's principal authenticated (after `current_principal` ran), or None."""
    credential: Credential | None = getattr(request.state, "credential", None)
    return credential


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, when their role is one of `roles` (exactly; none is implied); else 403."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"require_roles needs roles among {ROLES}, got {roles}")
    allowed = frozenset(roles)

    async def dependency(principal: CurrentUser) -> Principal:
        if principal.role not in allowed:
            raise RoleForbidden(f"이 작업을 할 권한이 없습니다 (필요한 역할: {', '.join(roles)})")
        return principal

    return dependency


CurrentApprover = Annotated[Principal, Depends(require_roles("approver", "admin", "platform_admin"))]
CurrentAdmin = Annotated[Principal, Depends(require_roles("admin", "platform_admin"))]
CurrentPlatformAdmin = Annotated[Principal, Depends(require_roles("platform_admin"))]


# -- tenant scoping ---------------------------------------------------------------------------


@overload
def scope(query: S, agency_column: Any, principal: Principal) -> S: ...
@overload
def scope(query: Update, agency_column: Any, principal: Principal) -> Update: ...
@overload
def scope(query: Delete, agency_column: Any, principal: Principal) -> Delete: ...
def scope(query: Any, agency_column: Any, principal: Principal) -> Any:
    """`query` limited to the principal's agency (`agency_column == principal.agency_id`);
    a platform admin's query is left to all agencies. Every query of tenant data goes through here."""
    if principal.is_platform_admin:
        return query
    if principal.agency_id is None:
        # Cannot happen for a valid account; never let a NULL comparison widen the query.
        return query.where(repository.no_rows())
    return query.where(agency_column == principal.agency_id)


def ensure_in_scope(principal: Principal, agency_id: int | None) -> None:
    """404 unless the principal may see an object of `agency_id` (another agency's object must
    look exactly like one that does not exist)."""
    if principal.is_platform_admin:
        return
    if agency_id is None or principal.agency_id is None or agency_id != principal.agency_id:
        raise NotFound(NOT_FOUND_MESSAGE)


def agency_for(principal: Principal, agency_id: int | None = None) -> int:
    """The one agency a request acts on: the principal's own (`agency_id` may repeat it, else 404);
    a platform admin must name it (400 otherwise)."""
    if principal.is_platform_admin:
        if agency_id is None:
            raise AgencyRequired("platform_admin은 대상 기관을 지정해야 합니다 (예: ?agency=HANBIT)")
        return agency_id
    ensure_in_scope(principal, agency_id if agency_id is not None else principal.agency_id)
    assert principal.agency_id is not None
    return principal.agency_id


async def resolve_agency(session: AsyncSession, principal: Principal, agency_code: str | None) -> int:
    """`agency_for` from an agency code (query or path); an unknown code is a 404 like a foreign one."""
    agency_id: int | None = None
    if agency_code:
        agency_id = await directory_service.agency_id_for_code(session, agency_code)
        if agency_id is None:
            raise NotFound(NOT_FOUND_MESSAGE)
    return agency_for(principal, agency_id)


async def acting_agency(
    session: SessionDep,
    principal: CurrentUser,
    agency: Annotated[
        str | None, Query(description="Agency code; required for platform admins, optional for others.")
    ] = None,
) -> int:
    return await resolve_agency(session, principal, agency)


AgencyScope = Annotated[int, Depends(acting_agency)]
