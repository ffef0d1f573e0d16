"""Console login, logout and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lettering.core.deps import SessionDep, SettingsDep, provided
from lettering.core.errors import errors
from lettering.users import service
from lettering.users.deps import (
    FORM_TYPES,
    CurrentUser,
    clear_session_cookie,
    credential_of,
    session_ttl,
    set_session_cookie,
)
from lettering.users.errors import LoginFailed, NotAuthenticated, TooManyLoginAttempts
from lettering.users.schemas import LoginIn, LoginOut, MeOut, PasswordChangeIn, UserOut
from lettering.users.throttle import LoginThrottle

router = APIRouter(prefix="/v1/auth", tags=["auth"])
# The container's login-attempt counter (in the database, shared by every worker).
ThrottleDep = Annotated[LoginThrottle, Depends(provided(LoginThrottle))]

LOGIN_FAILED = "이메일 또는 비밀번호가 올바르지 않습니다"
LOGIN_BODY = {
    "required": True,
    "content": {
        media: {"schema": LoginIn.model_json_schema()}
        for media in ("application/json", "application/x-www-form-urlencoded")
    },
}


async def _read_login(request: Request) -> LoginIn:
    """Email and password from a JSON body or a form; 422 (never echoing the password) otherwise."""
    raw: Any
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        raw = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    else:
        try:
            raw = await request.json()
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            raw = None
    try:
        return LoginIn.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {**{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}, "loc": ("body", *e["loc"])}
            for e in exc.errors()
        ]
        raise RequestValidationError(errors) from None


# The body is read by hand (JSON or a form), so FastAPI does not document its validation list.
VALIDATION_LIST = {
    "description": "The input is not valid: `detail` names each field and what is wrong with it.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}


@router.post(
    "/login",
    response_model=LoginOut,
    openapi_extra={"requestBody": LOGIN_BODY},
    responses={**errors(401, 429), 422: VALIDATION_LIST},
)
async def login(
    request: Request, response: Response, session: SessionDep, throttle: ThrottleDep, settings: SettingsDep
) -> LoginOut:
    """Check email and password; set the session cookie; answer the user and the CSRF token."""
    credentials = await _read_login(request)
    key = (service.normalize_email(credentials.email), request.client.host if request.client else "")
    wait = await throttle.attempt(key)
    if wait is not None:
        raise TooManyLoginAttempts(
            f"로그인 실패가 너무 많습니다. {-(-wait // 60)}분 후에 다시 시도해 주세요",
            headers={"Retry-After": str(wait)},
        )
    user = await service.authenticate(session, credentials.email, credentials.password)
    new = (
        await service.start_session(session, user.id, ttl=session_ttl(settings)) if user is not None else None
    )
    if user is None or new is None:
        raise LoginFailed(LOGIN_FAILED)
    await throttle.succeeded(session, key)
    set_session_cookie(response, new, public_base_url=settings.public_base_url)
    return LoginOut(user=UserOut.of(user), csrf_token=new.csrf_token)


@router.post("/logout", status_code=204, response_class=Response, responses=errors(401, 403))
async def logout(
    request: Request, session: SessionDep, _principal: CurrentUser, settings: SettingsDep
) -> Response:
    """End the console session (CSRF-checked like every unsafe request) and clear its cookie."""
    credential = credential_of(request)
    if credential is not None and credential.session_sha256 is not None:
        await service.end_session(session, credential.session_sha256)
    response = Response(status_code=204)
    clear_session_cookie(response, public_base_url=settings.public_base_url)
    return response


@router.post("/password", response_model=LoginOut, responses=errors(400, 401, 403))
async def change_password(
    body: PasswordChangeIn,
    response: Response,
    session: SessionDep,
    principal: CurrentUser,
    settings: SettingsDep,
) -> LoginOut:
    """Change one's own password: every session of the user ends, a new one (cookie, CSRF token)
    starts for the caller. 400 names what is wrong with the new password."""
    new = await service.change_password(
        session, principal.user_id, body.current_password, body.new_password, ttl=session_ttl(settings)
    )
    view = await service.get_user(session, principal.user_id)
    if view is None:
        raise NotAuthenticated("로그인이 필요합니다")
    set_session_cookie(response, new, public_base_url=settings.public_base_url)
    return LoginOut(user=UserOut.of(view), csrf_token=new.csrf_token)


@router.get("/me", response_model=MeOut, responses=errors(401))
async def me(request: Request, session: SessionDep, principal: CurrentUser) -> MeOut:
    """The caller, and the session's CSRF token (so a reloaded console page can send it)."""
    view = await service.get_user(session, principal.user_id)
    if view is None:
        raise NotAuthenticated("로그인이 필요합니다")
    credential = credential_of(request)
    return MeOut(user=UserOut.of(view), csrf_token=credential.csrf_token if credential else None)
