"""Campaign API for editors and approvers (thin: parse, authorise, call the service, answer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from campaigns import service as campaign_service
from lettering.core.deps import SessionDep
from lettering.core.errors import AppError
from lettering.users.deps import CurrentUser

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


class UploadTooLarge(AppError):
    status_code = 413


class BadUpload(AppError):
    status_code = 422


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=80)]
    starts_on: date
    ends_on: date
    kind: str = "promo"
    department_id: int | None = None
    weekdays: str = "0123456"
    hour_from: Annotated[int, Field(ge=0, le=23)] = 0
    hour_until: Annotated[int, Field(ge=1, le=24)] = 24
    priority: Annotated[int, Field(ge=0, le=100)] = 0
    weight: Annotated[int, Field(ge=0, le=1000)] = 1
    cap_per_day: Annotated[int | None, Field(ge=1)] = None
    cap_per_week: Annotated[int | None, Field(ge=1)] = None
    cap_total: Annotated[int | None, Field(ge=1)] = None
    post_call_card_news: bool = True
    youtube_url: Annotated[str | None, Field(max_length=500)] = None
    policy_url: Annotated[str | None, Field(max_length=500)] = None
    agency_wide: bool = False
    target_departments: list[int] = Field(default_factory=list, max_length=200)
    target_extensions: list[str] = Field(default_factory=list, max_length=5000)
    agency_id: int | None = None


class RejectIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


async def _view(session: AsyncSession, user: Any, campaign_id: int) -> dict[str, Any]:
    return campaign_service.as_dict(await campaign_service.campaign_view(session, user, campaign_id))


@router.post("", status_code=201)
async def create(body: CampaignIn, session: SessionDep, user: CurrentUser) -> JSONResponse:
    data = campaign_service.CampaignInput(
        **{
            **body.model_dump(),
            "target_departments": tuple(body.target_departments),
            "target_extensions": tuple(body.target_extensions),
        }
    )
    campaign = await campaign_service.create_campaign(session, user, data)
    assert campaign.id is not None
    return JSONResponse(await _view(session, user, campaign.id), status_code=201)


@router.get("")
async def list_(session: SessionDep, user: CurrentUser, state: str | None = None) -> JSONResponse:
    rows = await campaign_service.list_campaigns(session, user, state)
    return JSONResponse(
        [{"id": c.id, "title": c.title, "state": c.state, "agency_id": c.agency_id} for c in rows]
    )


@router.get("/{campaign_id}")
async def read(campaign_id: int, session: SessionDep, user: CurrentUser) -> JSONResponse:
    return JSONResponse(await _view(session, user, campaign_id))


@router.post("/{campaign_id}/images", status_code=201)
async def upload_image(
    campaign_id: int, request: Request, session: SessionDep, user: CurrentUser
) -> JSONResponse:
    """multipart/form-data: `file` (JPEG or PNG, by content) and `alt_text` (required)."""
    limits: campaign_service.UploadLimits = request.app.state.upload_limits
    # The byte cap is enforced before the body is parsed: by its declared length, then per part.
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes + 64 * 1024:
        raise UploadTooLarge(f"upload larger than {limits.max_bytes} bytes")
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=limits.max_bytes)
    except MultiPartException as exc:
        raise BadUpload(f"multipart body refused: {exc.message}") from None
    try:
        upload = form.get("file")
        alt_text = form.get("alt_text")
        problems = []
        if not isinstance(upload, UploadFile):
            problems.append(
                {"loc": ["body", "file"], "msg": "a file field named 'file' is required", "type": "missing"}
            )
        if not isinstance(alt_text, str) or not alt_text.strip():
            problems.append(
                {
                    "loc": ["body", "alt_text"],
                    "msg": "alt_text is required (describe the image)",
                    "type": "missing",
                }
            )
        if problems:
            return JSONResponse({"detail": problems}, status_code=422)
        assert isinstance(upload, UploadFile)
        assert isinstance(alt_text, str)
        data = await upload.read(limits.max_bytes + 1)
    finally:
        await form.close()
    if len(data) > limits.max_bytes:
        raise UploadTooLarge(f"upload larger than {limits.max_bytes} bytes")
    image = await campaign_service.add_image(
        session, user, campaign_id, data, alt_text, request.app.state.media, limits
    )
    return JSONResponse(
        {
            "position": image.position,
            "sha256": image.clean_sha256,
            "width": image.width,
            "height": image.height,
        },
        status_code=201,
    )


async def _transition(
    session: AsyncSession, user: Any, campaign_id: int, step: Any, *args: Any
) -> JSONResponse:
    """One workflow step in the request's transaction, answered with the campaign as it now is."""
    await step(session, user, campaign_id, *args)
    return JSONResponse(await _view(session, user, campaign_id))


@router.post("/{campaign_id}/submit")
async def submit(campaign_id: int, session: SessionDep, user: CurrentUser) -> JSONResponse:
    return await _transition(session, user, campaign_id, campaign_service.submit_campaign)


@router.post("/{campaign_id}/approve")
async def approve(campaign_id: int, session: SessionDep, user: CurrentUser) -> JSONResponse:
    return await _transition(session, user, campaign_id, campaign_service.approve_campaign)


@router.post("/{campaign_id}/reject")
async def reject(campaign_id: int, body: RejectIn, session: SessionDep, user: CurrentUser) -> JSONResponse:
    return await _transition(session, user, campaign_id, campaign_service.reject_campaign, body.reason)


@router.post("/{campaign_id}/end")
async def end(campaign_id: int, session: SessionDep, user: CurrentUser) -> JSONResponse:
    return await _transition(session, user, campaign_id, campaign_service.end_campaign)


@router.get("/{campaign_id}/preview/{carrier}.png")
async def preview(
    campaign_id: int, carrier: str, request: Request, session: SessionDep, user: CurrentUser
) -> Response:
    """How the lettering looks on a ringing phone of this carrier (before submitting)."""
    png = await campaign_service.phone_preview_png(
        session, user, campaign_id, carrier, request.app.state.media
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})
