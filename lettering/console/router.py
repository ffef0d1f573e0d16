"""The staff console's routes under /admin (thin: read the form, call the services, render a page).

Authentication and CSRF are the API's own (`CurrentUser`: the `lettering_session` cookie, and for a
form post its `csrf_token` field); roles and the agency scope are the services' own, so a console
page allows exactly what the API allows. Refusals become pages in `pages.ConsoleRoute`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from campaigns import service as campaign_service
from campaigns.media import MediaStore
from lettering.console.forms import CampaignForm, problems_in_korean
from lettering.console.pages import HOME_PATH, LOGIN_PATH, PREFIX, ConsoleRoute, error_page, local_path, page
from lettering.core.clock import SEOUL
from lettering.core.deps import SessionDep, SettingsDep, provided
from lettering.core.ids import RowId
from lettering.users import service as user_service
from lettering.users.deps import (
    CurrentApprover,
    CurrentUser,
    Principal,
    clear_session_cookie,
    credential_of,
    set_session_cookie,
)
from lettering.users.router import LOGIN_FAILED
from lettering.users.throttle import LoginThrottle

router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

ThrottleDep = Annotated[LoginThrottle, Depends(provided(LoginThrottle))]
MediaDep = Annotated[MediaStore, Depends(provided(MediaStore))]
UploadLimitsDep = Annotated[campaign_service.UploadLimits, Depends(provided(campaign_service.UploadLimits))]
FILTER_STATES = ("draft", "submitted", "approved", "ended")


async def _name(session: AsyncSession, principal: Principal) -> str:
    view = await user_service.get_user(session, principal.user_id)
    return view.display_name if view is not None else principal.email


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# -- login and logout ---------------------------------------------------------------------------


@router.get("")
async def home() -> Response:
    return _see_other(HOME_PATH)


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
    wait = throttle.retry_after(key)
    if wait is not None:
        message = f"로그인 실패가 너무 많습니다. {-(-wait // 60)}분 후에 다시 시도해 주세요"
        return page(request, "login.html", status_code=429, next=target, email=email, message=message)
    user = await user_service.authenticate(session, email, password) if email and password else None
    new = await user_service.start_session(session, user.id) if user is not None else None
    if user is None or new is None:
        throttle.failed(key)
        message = f"{LOGIN_FAILED}. 다시 확인해 주세요"
        return page(request, "login.html", status_code=401, next=target, email=email, message=message)
    throttle.succeeded(key)
    response = _see_other(target)
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
    response = _see_other(LOGIN_PATH)
    clear_session_cookie(response, public_base_url=settings.public_base_url)
    return response


# -- campaigns ----------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns(
    request: Request, session: SessionDep, user: CurrentUser, state: str = "", owner: str = "all"
) -> Response:
    chosen = state if state in FILTER_STATES else ""
    rows = await campaign_service.list_campaigns(session, user, chosen or None)
    if owner == "mine":
        rows = [c for c in rows if c.created_by == user.user_id]
    return page(
        request,
        "campaigns.html",
        principal=user,
        name=await _name(session, user),
        active="campaigns",
        rows=rows,
        state=chosen,
        owner="mine" if owner == "mine" else "all",
        filter_states=FILTER_STATES,
    )


async def _new_page(
    request: Request,
    session: SessionDep,
    user: Principal,
    form: CampaignForm,
    problems: list[str],
    status_code: int = 200,
) -> Response:
    view = await user_service.get_user(session, user.user_id)
    return page(
        request,
        "campaign_new.html",
        principal=user,
        name=view.display_name if view else user.email,
        active="new",
        form=form,
        problems=problems,
        department=view.department_code if view else None,
        status_code=status_code,
    )


@router.get("/campaigns/new")
async def new_campaign(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    today = datetime.now(SEOUL).date().isoformat()
    return await _new_page(request, session, user, CampaignForm(starts_on=today, ends_on=today), [])


@router.post("/campaigns/new")
async def create_campaign(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """A new draft from the form; the service's refusal is shown above the form, the input kept."""
    form = CampaignForm.of(await request.form())
    view = await user_service.get_user(session, user.user_id)
    data, problems = form.as_input(view.department_code if view else None)
    if data is not None:
        try:
            campaign = await campaign_service.create_campaign(session, user, data)
        except (campaign_service.CampaignProblem, campaign_service.NotAllowed) as exc:
            await session.rollback()
            problems = problems_in_korean(exc.detail)
        else:
            return _see_other(f"{PREFIX}/campaigns/{campaign.id}")
    return await _new_page(request, session, user, form, problems, status_code=422)


async def _campaign_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    campaign_id: int,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    view = await campaign_service.campaign_view(session, user, campaign_id)
    c = view.campaign
    editable = campaign_service.may_edit(user, c)
    return page(
        request,
        "campaign.html",
        principal=user,
        name=await _name(session, user),
        active="campaigns",
        c=c,
        images=view.images,
        department=view.department_codes.get(c.department_id) if c.department_id else None,
        may_submit=editable and c.state == "draft",
        may_upload=editable and c.state == "draft",
        may_end=editable and c.state == "approved",
        may_decide=campaign_service.may_approve(user, c),
        problems=problems or [],
        status_code=status_code,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign(campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return await _campaign_page(request, session, user, campaign_id)


@router.post("/campaigns/{campaign_id}/images")
async def upload_image(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    media: MediaDep,
    limits: UploadLimitsDep,
) -> Response:
    """An image (JPEG or PNG) with its description; what the service refuses is shown on the page."""
    form: FormData = await request.form()
    try:
        problems = await _add_image(session, user, campaign_id, form, media, limits)
    finally:
        await form.close()
    if not problems:
        return _see_other(f"{PREFIX}/campaigns/{campaign_id}")
    return await _campaign_page(request, session, user, campaign_id, problems, status_code=422)


async def _add_image(
    session: AsyncSession,
    user: Principal,
    campaign_id: int,
    form: FormData,
    media: MediaStore,
    limits: campaign_service.UploadLimits,
) -> list[str]:
    """The form's image added to the campaign, or what is wrong with it (nothing added then)."""
    upload, alt_text = form.get("file"), form.get("alt_text")
    problems = []
    if not isinstance(upload, UploadFile) or not upload.filename:
        problems.append("이미지 파일을 선택해 주세요")
    if not isinstance(alt_text, str) or not alt_text.strip():
        problems.append("이미지 설명(대체 텍스트)을 입력해 주세요")
    if problems:
        return problems
    assert isinstance(upload, UploadFile)
    assert isinstance(alt_text, str)
    data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        return [f"이미지는 {limits.max_bytes // (1024 * 1024)}MB 이하여야 합니다"]
    try:
        await campaign_service.add_image(session, user, campaign_id, data, alt_text, media, limits)
    except campaign_service.CampaignProblem as exc:
        await session.rollback()
        return problems_in_korean(exc.detail)
    return []


@router.post("/campaigns/{campaign_id}/submit")
async def submit(campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        await campaign_service.submit_campaign(session, user, campaign_id)
    except campaign_service.CampaignProblem as exc:
        await session.rollback()
        return await _campaign_page(request, session, user, campaign_id, problems_in_korean(exc.detail), 422)
    return _see_other(f"{PREFIX}/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/end")
async def end(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    await campaign_service.end_campaign(session, user, campaign_id)
    return _see_other(f"{PREFIX}/campaigns/{campaign_id}")


# -- approvals ----------------------------------------------------------------------------------


async def _approvals_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    problems: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = await campaign_service.list_campaigns(session, user, "submitted")
    return page(
        request,
        "approvals.html",
        principal=user,
        name=await _name(session, user),
        active="approvals",
        rows=rows,
        approvable={c.id for c in rows if campaign_service.may_approve(user, c)},
        problems=problems or {},
        status_code=status_code,
    )


@router.get("/approvals")
async def approvals(request: Request, session: SessionDep, user: CurrentApprover) -> Response:
    """Campaigns awaiting approval in the approver's agency (the service's scope)."""
    return await _approvals_page(request, session, user)


@router.post("/campaigns/{campaign_id}/approve")
async def approve(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    await campaign_service.approve_campaign(session, user, campaign_id)
    return _see_other(f"{PREFIX}/approvals")


@router.post("/campaigns/{campaign_id}/reject")
async def reject(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Back to draft with the reason; without one, the queue again with the reason asked for."""
    if not reason.strip():
        # Who may reject, and which campaign, are checked before the reason is asked for.
        campaign = await campaign_service.get_campaign(session, user, campaign_id)
        if not user.can_approve:
            return error_page(request, 403, "승인자만 반려할 수 있습니다")
        return await _approvals_page(
            request, session, user, {campaign_id: f"「{campaign.title}」 반려 사유를 입력해 주세요"}, 422
        )
    await campaign_service.reject_campaign(session, user, campaign_id, reason)
    return _see_other(f"{PREFIX}/approvals")


@router.get("/{rest:path}")
async def unknown(request: Request, rest: str) -> Response:
    """Any other console address: the console's 404 page (with its headers), not the API's JSON."""
    return error_page(request, 404)
