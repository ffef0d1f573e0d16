"""The console's campaign pages: the list, the form (new and edit), a campaign's page with its
images and previews, and the approvers' queue (thin: read the form, call the campaigns service,
render a page; the service's rules and refusals are the API's own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from campaigns import service as campaign_service
from campaigns.media import MediaStore
from lettering.console.forms import CampaignForm
from lettering.console.pages import (
    HOME_PATH,
    PREFIX,
    ConsoleRoute,
    agency_id_by_code,
    departments_of,
    error_page,
    page,
    see_other,
    user_name,
)
from lettering.core.clock import SEOUL
from lettering.core.deps import SessionDep, provided
from lettering.core.errors import AppError
from lettering.core.ids import RowId
from lettering.directory.service import DirectorySnapshot
from lettering.snapshots.deps import SnapshotsDep
from lettering.users import service as user_service
from lettering.users.deps import CurrentApprover, CurrentUser, Principal

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

MediaDep = Annotated[MediaStore, Depends(provided(MediaStore))]
UploadLimitsDep = Annotated[campaign_service.UploadLimits, Depends(provided(campaign_service.UploadLimits))]
ImagePosition = Annotated[int, Path(ge=0, le=1000)]
FILTER_STATES = ("draft", "submitted", "approved", "ended")
CARRIER_NAMES = {"skt": "SKT", "kt": "KT", "lgu": "LG U+"}
# A campaign's history, in the console's words.
ACTION_NAMES = {
    "created": "초안 작성",
    "changed": "내용 수정",
    "image_added": "이미지 추가",
    "image_removed": "이미지 빼기",
    "images_reordered": "이미지 순서 변경",
    "image_described": "이미지 설명 수정",
    "submitted": "승인 요청",
    "approved": "승인",
    "rejected": "반려",
    "ended": "송출 종료",
    "ended_by_schedule": "기간이 끝나 자동 종료",
}
# A carrier's copy of an image, as the editor reads its state.
CONTENT_NAMES = {
    "pending": "등록 대기",
    "approved": "승인됨",
    "rejected": "거절됨",
    "inline": "바로 전송 (등록 불필요)",
}


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
        name=await user_name(session, user),
        active="campaigns",
        rows=rows,
        state=chosen,
        owner="mine" if owner == "mine" else "all",
        filter_states=FILTER_STATES,
    )


def _agency_of(directory: DirectorySnapshot, user: Principal, code: str) -> int | None:
    """The agency the form is for: the user's own, or (platform admins) the one chosen."""
    if not user.is_platform_admin:
        return user.agency_id
    return agency_id_by_code(directory, code)


async def _form_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    directory: DirectorySnapshot,
    form: CampaignForm,
    problems: list[str],
    *,
    campaign: campaign_service.Campaign | None = None,
    status_code: int = 200,
) -> Response:
    """The campaign form: a new draft, or (with `campaign`) a draft to change."""
    view = await user_service.get_user(session, user.user_id)
    agency_id = campaign.agency_id if campaign is not None else _agency_of(directory, user, form.agency)
    agencies = sorted(directory.agencies.values(), key=lambda a: a.name) if user.is_platform_admin else []
    return page(
        request,
        "campaign_form.html",
        principal=user,
        name=view.display_name if view else user.email,
        active="campaigns" if campaign is not None else "new",
        form=form,
        problems=problems,
        campaign=campaign,
        own_department=view.department_code if view else None,
        is_admin=user.is_admin,
        agencies=agencies if campaign is None else [],
        agency_chosen=agency_id is not None,
        departments=departments_of(directory, agency_id) if user.is_admin else [],
        status_code=status_code,
    )


def _department_of(directory: DirectorySnapshot, agency_id: int | None) -> Callable[[str], str | None]:
    def department_of(extension: str) -> str | None:
        found = directory.extension(agency_id, extension) if agency_id is not None else None
        return found.department_code if found is not None else None

    return department_of


@router.get("/campaigns/new")
async def new_campaign(
    request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep, agency: str = ""
) -> Response:
    today = datetime.now(SEOUL).date().isoformat()
    form = CampaignForm(starts_on=today, ends_on=today, agency=agency[:64])
    if not user.is_admin:  # an editor's campaign starts aimed at their whole department
        view = await user_service.get_user(session, user.user_id)
        form.target_departments = [view.department_code] if view and view.department_code else []
    return await _form_page(request, session, user, snapshots.current.directory, form, [])


@router.post("/campaigns/new")
async def create_campaign(
    request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    """A new draft from the form; the service's refusal is shown above the form, the input kept."""
    form = CampaignForm.of(await request.form())
    directory = snapshots.current.directory
    data, problems = form.as_input(_department_of(directory, _agency_of(directory, user, form.agency)))
    if data is not None:
        try:
            campaign = await campaign_service.create_campaign(session, user, data)
        except (campaign_service.CampaignProblem, campaign_service.NotAllowed) as exc:
            await session.rollback()
            problems = exc.in_korean()
        else:
            return see_other(f"{PREFIX}/campaigns/{campaign.id}")
    return await _form_page(request, session, user, directory, form, problems, status_code=422)


@router.get("/campaigns/{campaign_id}/edit")
async def edit_campaign(
    campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    view = await campaign_service.campaign_view(session, user, campaign_id)
    if not campaign_service.may_edit(user, view.campaign):
        return error_page(request, 403, [campaign_service.ONLY_OWNERS])
    form = CampaignForm.from_input(campaign_service.input_of(view))
    return await _form_page(
        request, session, user, snapshots.current.directory, form, [], campaign=view.campaign
    )


@router.post("/campaigns/{campaign_id}/edit")
async def update_campaign(
    campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    """The draft described anew; a refusal shows the form again with what was typed."""
    campaign = await campaign_service.get_campaign(session, user, campaign_id)
    form = CampaignForm.of(await request.form())
    directory = snapshots.current.directory
    data, problems = form.as_input(_department_of(directory, campaign.agency_id))
    if data is not None:
        try:
            await campaign_service.update_campaign(session, user, campaign_id, data)
        except (campaign_service.CampaignProblem, campaign_service.NotAllowed) as exc:
            await session.rollback()
            problems = exc.in_korean()
            campaign = await campaign_service.get_campaign(session, user, campaign_id)
        else:
            return see_other(f"{PREFIX}/campaigns/{campaign_id}")
    return await _form_page(
        request, session, user, directory, form, problems, campaign=campaign, status_code=422
    )


@router.post("/campaigns/{campaign_id}/delete")
async def delete_campaign(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    await campaign_service.delete_campaign(session, user, campaign_id)
    return see_other(f"{HOME_PATH}?deleted=1")


@dataclass(frozen=True, slots=True)
class HistoryLine:
    at: str  # Asia/Seoul, "2026-12-03 14:02"
    who: str
    action: str
    detail: str | None


async def _history(session: AsyncSession, user: Principal, campaign_id: int) -> list[HistoryLine]:
    events = await campaign_service.history(session, user, campaign_id)
    names: dict[int, str] = {}
    for actor_id in {e.actor_id for e in events if e.actor_id is not None}:
        view = await user_service.get_user(session, actor_id)
        names[actor_id] = view.display_name if view is not None else "(삭제된 계정)"
    return [
        HistoryLine(
            e.at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M"),
            names.get(e.actor_id, "?") if e.actor_id is not None else "시스템",
            ACTION_NAMES.get(e.action, e.action),
            e.detail,
        )
        for e in events
    ]


async def _campaign_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    campaign_id: int,
    problems: list[str] | None = None,
    status_code: int = 200,
    notice: str = "",
) -> Response:
    view = await campaign_service.campaign_view(session, user, campaign_id)
    c = view.campaign
    editable = campaign_service.may_edit(user, c)
    draft = editable and c.state == "draft"
    return page(
        request,
        "campaign.html",
        principal=user,
        name=await user_name(session, user),
        active="campaigns",
        c=c,
        facts=await campaign_service.editor_facts(session, view),
        history=await _history(session, user, campaign_id),
        department=view.department_codes.get(c.department_id) if c.department_id else None,
        targets=campaign_service.input_of(view),
        may_change=draft,
        may_submit=draft,
        may_upload=draft and len(view.images) < campaign_service.MAX_IMAGES,
        max_images=campaign_service.MAX_IMAGES,
        may_end=editable and c.state == "approved",
        may_decide=campaign_service.may_approve(user, c),
        version=int(c.updated_at.timestamp()),
        carriers=tuple(CARRIER_NAMES.items()),
        carrier_names=CARRIER_NAMES,
        content_names=CONTENT_NAMES,
        problems=problems or [],
        notice=notice,
        status_code=status_code,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign(
    campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser, uploaded: int = 0
) -> Response:
    notice = f"이미지 {uploaded}장을 올렸습니다" if 0 < uploaded <= campaign_service.MAX_IMAGES else ""
    return await _campaign_page(request, session, user, campaign_id, notice=notice)


@router.get("/campaigns/{campaign_id}/images/{position}")
async def campaign_image(
    campaign_id: RowId, position: ImagePosition, session: SessionDep, user: CurrentUser, media: MediaDep
) -> Response:
    data, mime_type = await campaign_service.staff_image(session, user, campaign_id, position, media)
    return Response(data, media_type=mime_type)


@router.post("/campaigns/{campaign_id}/images")
async def upload_image(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    media: MediaDep,
    limits: UploadLimitsDep,
) -> Response:
    """Images (JPEG or PNG), each with its description (the n-th `alt_text` describes the n-th
    `file`). Each is added on its own: what the service refuses is shown by file name, and the
    others are kept."""
    try:
        form: FormData = await request.form(
            max_files=campaign_service.MAX_IMAGES, max_fields=40, max_part_size=limits.max_bytes
        )
    except (MultiPartException, HTTPException):
        return await _campaign_page(
            request,
            session,
            user,
            campaign_id,
            ["올린 파일을 읽을 수 없습니다. 파일을 다시 골라 주세요"],
            422,
        )
    try:
        added, problems = await _add_images(session, user, campaign_id, form, media, limits)
    finally:
        await form.close()
    if not problems:
        return see_other(f"{PREFIX}/campaigns/{campaign_id}?uploaded={added}")
    notice = f"이미지 {added}장을 올렸습니다" if added else ""
    return await _campaign_page(request, session, user, campaign_id, problems, 422, notice=notice)


async def _add_images(
    session: AsyncSession,
    user: Principal,
    campaign_id: int,
    form: FormData,
    media: MediaStore,
    limits: campaign_service.UploadLimits,
) -> tuple[int, list[str]]:
    """The form's images added, each in a savepoint of its own; (how many, what was refused).

    Each image is prepared (seconds of CPU for a large photo) before its savepoint opens, so no
    transaction stays open across that work: on SQLite one would hold, or fail to take, the
    write lock that the call path's writer needs."""
    files = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    texts = [t if isinstance(t, str) else "" for t in form.getlist("alt_text")]
    if not files:
        return 0, ["이미지 파일을 골라 주세요"]
    added, problems = 0, []
    for n, upload in enumerate(files):
        name = upload.filename or f"{n + 1}번째 파일"
        alt_text = texts[n] if n < len(texts) else ""
        if not alt_text.strip():
            problems.append(f"{name}: 이미지 설명(대체 텍스트)을 입력해 주세요")
            continue
        data = await upload.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            problems.append(f"{name}: 이미지는 {limits.max_bytes // (1024 * 1024)}MB 이하여야 합니다")
            continue
        try:
            prepared = await campaign_service.prepare_image(
                session, user, campaign_id, data, alt_text, media, limits
            )
            async with session.begin_nested():
                await campaign_service.record_image(session, user, campaign_id, prepared)
        except AppError as exc:
            if exc.status_code in (403, 404):
                raise
            problems.extend(f"{name}: {text}" for text in exc.in_korean())
        else:
            added += 1
    return added, problems


async def _image_step(
    request: Request, session: AsyncSession, user: Principal, campaign_id: int, step: Awaitable[object]
) -> Response:
    """One change to a draft's images; a refusal the page can show (409, 422) is shown on it."""
    try:
        await step
    except (campaign_service.CampaignProblem, campaign_service.Conflict) as exc:
        await session.rollback()
        return await _campaign_page(request, session, user, campaign_id, exc.in_korean(), exc.status_code)
    return see_other(f"{PREFIX}/campaigns/{campaign_id}#images")


@router.post("/campaigns/{campaign_id}/images/order")
async def reorder_images(
    campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """The images in the order given (`order`, every position once; the page's drag and drop)."""
    form = await request.form()
    raw = [v for v in form.getlist("order") if isinstance(v, str)]
    order = [int(v) for v in raw if v.isdigit() and len(v) <= 4]
    step = campaign_service.reorder_images(session, user, campaign_id, order)
    return await _image_step(request, session, user, campaign_id, step)


@router.post("/campaigns/{campaign_id}/images/{position}/move")
async def move_image(
    campaign_id: RowId,
    position: ImagePosition,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    direction: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """One image a place earlier (`direction=up`) or later (`down`): the keyboard's way to reorder."""
    images = (await campaign_service.campaign_view(session, user, campaign_id)).images
    order = [i.position for i in images]
    if position in order:
        at = order.index(position)
        to = at - 1 if direction == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
    step = campaign_service.reorder_images(session, user, campaign_id, order)
    return await _image_step(request, session, user, campaign_id, step)


@router.post("/campaigns/{campaign_id}/images/{position}/remove")
async def remove_image(
    campaign_id: RowId, position: ImagePosition, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    step = campaign_service.remove_image(session, user, campaign_id, position)
    return await _image_step(request, session, user, campaign_id, step)


@router.post("/campaigns/{campaign_id}/images/{position}/describe")
async def describe_image(
    campaign_id: RowId,
    position: ImagePosition,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    alt_text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    step = campaign_service.describe_image(session, user, campaign_id, position, alt_text)
    return await _image_step(request, session, user, campaign_id, step)


@router.post("/campaigns/{campaign_id}/submit")
async def submit(campaign_id: RowId, request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        await campaign_service.submit_campaign(session, user, campaign_id)
    except campaign_service.CampaignProblem as exc:
        await session.rollback()
        return await _campaign_page(request, session, user, campaign_id, exc.in_korean(), 422)
    return see_other(f"{PREFIX}/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/end")
async def end(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    await campaign_service.end_campaign(session, user, campaign_id)
    return see_other(f"{PREFIX}/campaigns/{campaign_id}")


# -- approvals ----------------------------------------------------------------------------------


async def _approvals_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    problems: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = await campaign_service.list_campaigns(session, user, "submitted")
    facts = {}
    histories = {}
    for c in rows:
        assert c.id is not None
        facts[c.id] = await campaign_service.editor_facts(
            session, await campaign_service.campaign_view(session, user, c.id)
        )
        histories[c.id] = await _history(session, user, c.id)
    return page(
        request,
        "approvals.html",
        principal=user,
        name=await user_name(session, user),
        active="approvals",
        rows=rows,
        facts=facts,
        histories=histories,
        content_names=CONTENT_NAMES,
        carrier_names=CARRIER_NAMES,
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
    return see_other(f"{PREFIX}/approvals")


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
            return error_page(request, 403, ["승인자만 반려할 수 있습니다"])
        return await _approvals_page(
            request, session, user, {campaign_id: f"「{campaign.title}」 반려 사유를 입력해 주세요"}, 422
        )
    await campaign_service.reject_campaign(session, user, campaign_id, reason)
    return see_other(f"{PREFIX}/approvals")
