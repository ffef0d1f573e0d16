"""The console's own-account page (/admin/password): a signed-in user changes their password.
Every session of theirs ends (the users service's rule) and this browser carries on, on a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from lettering.console.pages import ConsoleRoute, page, user_name
from lettering.core.deps import SessionDep, SettingsDep
from lettering.core.errors import AppError
from lettering.users import service as user_service
from lettering.users.deps import CurrentUser, session_ttl, set_session_cookie

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)


@router.get("/password")
async def password_form(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    name = await user_name(session, user)
    return page(
        request, "password.html", principal=user, name=name, active="password", problems=[], done=False
    )


@router.post("/password")
async def change_password(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    new_password_again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Check the current password and the new one's rules; on success a new session cookie."""
    name = await user_name(session, user)
    problems: list[str] = []
    if not current_password:
        problems.append("현재 비밀번호를 넣어 주세요")
    if new_password != new_password_again:
        problems.append("새 비밀번호 두 칸이 서로 다릅니다")
    if not problems:
        try:
            new = await user_service.change_password(
                session, user.user_id, current_password, new_password, ttl=session_ttl(settings)
            )
        except AppError as exc:
            problems = exc.in_korean()
        else:
            response = page(
                request, "password.html", principal=user, name=name, active="password", problems=[], done=True
            )
            set_session_cookie(response, new, public_base_url=settings.public_base_url)
            return response
    return page(
        request,
        "password.html",
        principal=user,
        name=name,
        active="password",
        problems=problems,
        done=False,
        status_code=422,
    )
