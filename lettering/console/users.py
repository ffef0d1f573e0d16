"""The console's user accounts (/admin/users), for agency admins (their agency's accounts) and
platform admins (every agency's): add an account with a temporary password shown once, stop an
account (its sessions and tokens stop at once), give a new temporary password, and issue or revoke
API tokens (shown once; only their hash is kept). The rules are the users service's own
(`lettering.users.service`: roles, agency and department, `may_manage`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.console.pages import ROLE_NAMES, ConsoleRoute, error_page, page, user_name
from lettering.core.deps import SessionDep
from lettering.core.errors import AppError
from lettering.core.ids import RowId
from lettering.directory import service as directory_service
from lettering.snapshots.deps import SnapshotsDep
from lettering.users import service as user_service
from lettering.users.deps import CurrentUser, Principal

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

ONLY_ADMINS = "사용자 관리는 기관 관리자만 할 수 있습니다"


async def _visible(session: AsyncSession, user: Principal) -> list[user_service.UserView]:
    everyone = await user_service.list_users(session, None if user.is_platform_admin else user.agency_id)
    return sorted(everyone, key=lambda u: (not u.active, u.agency_code or "", u.display_name))


async def _page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    snapshots: SnapshotsDep,
    *,
    problems: list[str] | None = None,
    shown_once: str = "",
    shown_for: str = "",
    shown_note: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    users = await _visible(session, user)
    tokens = {u.id: await user_service.api_tokens(session, u.id) for u in users}
    directory = snapshots.current.directory
    agencies = sorted(directory.agencies.values(), key=lambda a: a.name)
    own = [a for a in agencies if user.is_platform_admin or a.id == user.agency_id]
    departments = sorted(
        {
            (ext.agency_id, ext.department_code, ext.department_name)
            for ext in directory.extensions.values()
            if user.is_platform_admin or ext.agency_id == user.agency_id
        },
        key=lambda d: (d[0], d[2]),
    )
    roles = {
        k: v for k, v in ROLE_NAMES.items() if user.is_platform_admin or k != user_service.PLATFORM_ADMIN
    }
    return page(
        request,
        "users.html",
        principal=user,
        name=await user_name(session, user),
        active="users",
        users=users,
        tokens=tokens,
        manageable={u.id for u in users if user_service.may_manage(user.role, user.agency_id, u)},
        agencies=own,
        departments=departments,
        roles=roles,
        role_names=ROLE_NAMES,
        problems=problems or [],
        shown_once=shown_once,
        shown_for=shown_for,
        shown_note=shown_note,
        form=form or {},
        status_code=status_code,
    )


@router.get("/users")
async def users(
    request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    return await _page(request, session, user, snapshots)


async def _managed(session: AsyncSession, user: Principal, user_id: int) -> user_service.UserView | None:
    """The account, when this admin may change it (another agency's is as unknown)."""
    target = await user_service.get_user(session, user_id) if 1 <= user_id <= 2**31 - 1 else None
    if target is None or not user_service.may_manage(user.role, user.agency_id, target):
        return None
    return target


@router.post("/users")
async def add_user(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    email: Annotated[str, Form(max_length=300)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=32)] = "editor",
    agency: Annotated[str, Form(max_length=64)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A new account with a temporary password, shown once on the page that follows."""
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    form = {
        "email": email,
        "display_name": display_name,
        "role": role,
        "agency": agency,
        "department": department,
    }
    if role == user_service.PLATFORM_ADMIN and not user.is_platform_admin:
        problems = ["플랫폼 관리자 계정은 플랫폼 관리자만 만들 수 있습니다"]
        return await _page(request, session, user, snapshots, problems=problems, form=form, status_code=403)
    if not user.is_platform_admin:
        codes = await directory_service.agency_codes(session, [user.agency_id or 0])
        agency = codes.get(user.agency_id or 0, "")
    password = user_service.temporary_password()
    try:
        created = await user_service.create_user(
            session,
            email,
            display_name,
            password,
            role,
            agency or None if role != user_service.PLATFORM_ADMIN else None,
            department or None,
        )
    except AppError as exc:
        await session.rollback()
        return await _page(
            request, session, user, snapshots, problems=exc.in_korean(), form=form, status_code=422
        )
    return await _page(
        request,
        session,
        user,
        snapshots,
        shown_once=password,
        shown_for=f"{created.display_name} ({created.email})의 임시 비밀번호",
    )


@router.post("/users/{user_id}/disable")
async def disable(
    user_id: RowId, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    target = await _managed(session, user, user_id)
    if target is None:
        return error_page(request, 404)
    if target.id == user.user_id:
        return await _page(
            request, session, user, snapshots, problems=["자기 계정은 중지할 수 없습니다"], status_code=409
        )
    await user_service.disable_user(session, target.email)
    return await _page(request, session, user, snapshots)


@router.post("/users/{user_id}/password")
async def new_password(
    user_id: RowId, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    target = await _managed(session, user, user_id)
    if target is None:
        return error_page(request, 404)
    password = await user_service.reset_password(session, target.id)
    return await _page(
        request,
        session,
        user,
        snapshots,
        shown_once=password,
        shown_for=f"{target.display_name} ({target.email})의 새 임시 비밀번호",
        shown_note="이 계정의 기존 로그인은 모두 끊었습니다.",
    )


@router.post("/users/{user_id}/tokens")
async def new_token(
    user_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    token_name: Annotated[str, Form(max_length=200)] = "",
    expires_days: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    target = await _managed(session, user, user_id)
    if target is None:
        return error_page(request, 404)
    days = expires_days.strip()
    if days and not days.isdigit():
        problems = ["유효 기간은 일 수(숫자)로 입력해 주세요"]
        return await _page(request, session, user, snapshots, problems=problems, status_code=422)
    try:
        token = await user_service.create_api_token(
            session, target.id, token_name, int(days) if days else None
        )
    except AppError as exc:
        await session.rollback()
        return await _page(request, session, user, snapshots, problems=exc.in_korean(), status_code=422)
    return await _page(
        request,
        session,
        user,
        snapshots,
        shown_once=token,
        shown_for=f"{target.display_name}의 API 토큰 「{token_name.strip()}」",
    )


@router.post("/users/{user_id}/tokens/{token_id}/revoke")
async def revoke_token(
    user_id: RowId,
    token_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
) -> Response:
    target = await _managed(session, user, user_id)
    if target is None or token_id not in {t.id for t in await user_service.api_tokens(session, target.id)}:
        return error_page(request, 404)
    await user_service.revoke_api_token(session, token_id)
    return await _page(request, session, user, snapshots)
