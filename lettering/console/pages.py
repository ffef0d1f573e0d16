"""How console pages go out: the one layout's values, the protective headers, the error pages.

Every console response (pages, redirects, refusals) carries the citizen pages' headers
(`lettering.core.pages.SECURITY_HEADERS`: `default-src 'self'; frame-ancestors 'none'`, nosniff,
no-referrer) and is never cached: `ConsoleRoute` adds them and turns the services' refusals into
Korean pages (a login redirect, 403, 404, 409, 422), so a console page never answers JSON or a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns.service import STATE_NAMES
from lettering.core.clock import SEOUL
from lettering.core.errors import AppError
from lettering.core.pages import SECURITY_HEADERS
from lettering.core.templates import render
from lettering.directory.service import DirectorySnapshot
from lettering.users import service as user_service
from lettering.users.deps import Principal, credential_of
from lettering.users.errors import NotAuthenticated

PREFIX = "/admin"
LOGIN_PATH = f"{PREFIX}/login"
HOME_PATH = f"{PREFIX}/campaigns"
NO_STORE = "no-store"

ROLE_NAMES: Mapping[str, str] = {
    "editor": "편집자",
    "approver": "승인자",
    "admin": "기관 관리자",
    "platform_admin": "플랫폼 관리자",
}
WEEKDAY_NAMES = ("월", "화", "수", "목", "금", "토", "일")
# The nav: only pages that exist; the approvals queue only for roles that approve.
NAV = (
    ("campaigns", HOME_PATH, "캠페인"),
    ("new", f"{PREFIX}/campaigns/new", "새 캠페인"),
    ("approvals", f"{PREFIX}/approvals", "승인 대기함"),
    ("calls", f"{PREFIX}/calls", "통화 기록"),
    ("directory", f"{PREFIX}/directory", "조직·내선"),
    ("dashboard", f"{PREFIX}/dashboard", "대시보드"),
    ("optouts", f"{PREFIX}/optouts", "수신 거부"),
    ("spoof-reports", f"{PREFIX}/spoof-reports", "사칭 신고"),
    ("access-log", f"{PREFIX}/access-log", "접속 기록"),
    ("agency", f"{PREFIX}/agency", "기관 설정"),
    ("users", f"{PREFIX}/users", "사용자"),
    ("pbx", f"{PREFIX}/pbx", "PBX"),
)
# Pages of citizens' data and the agency's settings: agency admins (and platform admins) only.
ADMIN_NAV = frozenset({"optouts", "spoof-reports", "access-log", "agency", "users", "pbx"})
ERROR_TITLES: Mapping[int, str] = {
    400: "요청을 처리할 수 없습니다",
    403: "권한이 없습니다",
    404: "찾을 수 없습니다",
    409: "지금 상태에서는 할 수 없습니다",
    422: "입력값을 확인해 주세요",
    429: "잠시 후 다시 시도해 주세요",
}
ERROR_TEXTS: Mapping[int, str] = {
    403: "이 작업을 할 권한이 없습니다. 역할이나 소속이 맞는지 확인해 주세요.",
    404: "요청한 항목을 찾을 수 없습니다. 주소가 맞는지, 우리 기관의 항목인지 확인해 주세요.",
}


async def user_name(session: AsyncSession, principal: Principal) -> str:
    """The name the header shows: the user's display name (their email if the account is gone)."""
    view = await user_service.get_user(session, principal.user_id)
    return view.display_name if view is not None else principal.email


class DepartmentChoice(NamedTuple):
    code: str
    name: str


def departments_of(directory: DirectorySnapshot, agency_id: int | None) -> list[DepartmentChoice]:
    """The agency's departments that have extensions (what calls and campaigns reach), by name:
    what the console's department pickers offer, read from the directory snapshot."""
    if agency_id is None:
        return []
    seen = {
        ext.department_code: ext.department_name
        for (owner, _), ext in directory.extensions.items()
        if owner == agency_id
    }
    return sorted(
        (DepartmentChoice(code, name) for code, name in seen.items()), key=lambda d: (d.name, d.code)
    )


def agency_id_by_code(directory: DirectorySnapshot, code: str) -> int | None:
    """The id of the agency with this code (a platform admin's choice), or None."""
    return next((a.id for a in directory.agencies.values() if a.code == code), None)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def local_path(target: str | None, default: str = HOME_PATH) -> str:
    """`target` if it is a path of this site (never another host: `//x`, `/\\x`, `https://x`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


def login_redirect(request: Request) -> RedirectResponse:
    """303 to the login page, coming back here afterwards (GET only; after a POST, the list)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = here if request.method == "GET" else HOME_PATH
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(back, safe='/')}", status_code=303)


def _may_open(principal: Principal, key: str) -> bool:
    """Whether the nav lists this page: the queue for approvers; a new draft for those the
    campaigns service lets create one here (an agency admin, or an account of a department)."""
    if key == "approvals":
        return principal.can_approve
    if key in ADMIN_NAV:
        return principal.is_admin
    if key == "new":
        return principal.is_admin or principal.department_id is not None
    return True


def page(
    request: Request,
    template: str,
    *,
    principal: Principal | None = None,
    name: str | None = None,
    active: str = "",
    status_code: int = 200,
    **values: object,
) -> HTMLResponse:
    """A console page in the one layout (admin/base.html), with the session's CSRF token."""
    credential = credential_of(request) if principal is not None else None
    nav = [item for item in NAV if principal is not None and _may_open(principal, item[0])]
    html = render(
        f"admin/{template}",
        principal=principal,
        user_name=name,
        role_name=ROLE_NAMES.get(principal.role, principal.role) if principal else "",
        nav=nav,
        active=active,
        csrf_token=credential.csrf_token if credential else "",
        states=STATE_NAMES,
        seoul=SEOUL,
        weekday_names=WEEKDAY_NAMES,
        **values,
    )
    return HTMLResponse(html, status_code)


def error_page(request: Request, status_code: int, details: Sequence[str] = ()) -> HTMLResponse:
    """A refusal as a Korean page: what happened, and the service's reasons when they say more."""
    status = status_code if status_code in ERROR_TITLES else 400
    return page(
        request,
        "error.html",
        status_code=status_code,
        title=ERROR_TITLES[status],
        text=ERROR_TEXTS.get(status, ""),
        details=list(details) if status != 404 else [],
    )


class ConsoleRoute(APIRoute):
    """Every console route: refusals become pages, and every answer gets the headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response: Response
            try:
                response = await original(request)
            except NotAuthenticated:
                response = login_redirect(request)
            except AppError as exc:
                response = error_page(request, exc.status_code, exc.in_korean())
            except RequestValidationError:
                # A path id that no row can have (`/admin/campaigns/abc`): like one that does not exist.
                response = error_page(request, 404)
            response.headers.update({**SECURITY_HEADERS, "Cache-Control": NO_STORE})
            return response

        return handler
