"""The staff console's routes under /admin (thin: read the form, call the services, render a page).

Authentication and CSRF are the API's own (`CurrentUser`: the `lettering_session` cookie, and for a
form post its `csrf_token` field); roles and the agency scope are the services' own, so a console
page allows exactly what the API allows. Refusals become pages in `pages.ConsoleRoute`. Each area
of the console is a module of its own (`campaigns`, …) with its router, included here before the
catch-all 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from lettering.console import account, agency, calls, campaigns, dashboard, directory, optouts, pbx, users
from lettering.console.pages import (
    HOME_PATH,
    LOGIN_PATH,
    PREFIX,
    ConsoleRoute,
    error_page,
    local_path,
    page,
    see_other,
)
from lettering.core.deps import SessionDep, SettingsDep, provided
from lettering.users import service as user_service
from lettering.users.deps import (
    CurrentUser,
    clear_session_cookie,
    credential_of,
    session_ttl,
    set_session_cookie,
)
from lettering.users.router import LOGIN_FAILED
from lettering.users.throttle import LoginThrottle

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

ThrottleDep = Annotated[LoginThrottle, Depends(provided(LoginThrottle))]


# -- login and logout ---------------------------------------------------------------------------


@router.get("")
async def home() -> Response:
    return see_other(HOME_PATH)


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", next=local_path(next), email="", message="")


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The API login's rules (lettering/users/router.py): the same throttle, the same cookie."""
    target = local_path(next)
    key = (user_service.normalize_email(email), request.client.host if request.client else "")
    wait = await throttle.attempt(key)
    if wait is not None:
        message = f"로그인 실패가 너무 많습니다. {-(-wait // 60)}분 후에 다시 시도해 주세요"
        return page(request, "login.html", status_code=429, next=target, email=email, message=message)
    user = await user_service.authenticate(session, email, password) if email and password else None
    new = (
        await user_service.start_session(session, user.id, ttl=session_ttl(settings))
        if user is not None
        else None
    )
    if user is None or new is None:
        message = f"{LOGIN_FAILED}. 다시 확인해 주세요"
        return page(request, "login.html", status_code=401, next=target, email=email, message=message)
    await throttle.succeeded(session, key)
    response = see_other(target)
    set_session_cookie(response, new, public_base_url=settings.public_base_url)
    return response


@router.post("/logout")
async def logout(
    request: Request, session: SessionDep, settings: SettingsDep, _user: CurrentUser
) -> Response:
    """End the session (CSRF-checked by `CurrentUser`, like every form post) and clear its cookie."""
    credential = credential_of(request)
    if credential is not None and credential.session_sha256 is not None:
        await user_service.end_session(session, credential.session_sha256)
    response = see_other(LOGIN_PATH)
    clear_session_cookie(response, public_base_url=settings.public_base_url)
    return response


# -- the console's areas, then any other address ------------------------------------------------

router.include_router(campaigns.router)
router.include_router(dashboard.router)
router.include_router(agency.router)
router.include_router(users.router)
router.include_router(pbx.router)
router.include_router(account.router)
router.include_router(calls.router)
router.include_router(optouts.router)
router.include_router(directory.router)


@router.get("/{rest:path}")
async def unknown(request: Request, rest: str) -> Response:
    """Any other console address: the console's 404 page (with its headers), not the API's JSON."""
    return error_page(request, 404)
