"""Campaign API for editors and approvers (thin: parse, authorise, call the service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from campaigns import service as campaign_service
from campaigns.errors import BadUpload, UploadTooLarge
from campaigns.media import MediaStore
from campaigns.schemas import (
    UPLOAD_FORM,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignSummary,
    FieldProblems,
    HistoryEntry,
    ImageOrderIn,
    ImageTextIn,
    RejectIn,
    UploadedImage,
    UploadWarning,
)
from lettering.core.deps import SessionDep, provided
from lettering.core.errors import ErrorOut, errors, multipart_problem
from lettering.core.ids import RowId
from lettering.users.deps import CurrentUser

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

MediaDep = Annotated[MediaStore, Depends(provided(MediaStore))]
ImagePosition = Annotated[int, Path(ge=0, le=1000, description="The image's position, from 0.")]
UploadLimitsDep = Annotated[campaign_service.UploadLimits, Depends(provided(campaign_service.UploadLimits))]


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses for these refusals; a 422 is either FastAPI's list of fields or one of
    this package's refusals (`{"error": ..., "detail": ...}`, every problem named)."""
    out = errors(*(code for code in codes if code != 422))
    if 422 in codes:
        out[422] = {
            "model": FieldProblems | ErrorOut,
            "description": "The input is not valid: `detail` names each field and what is wrong with it.",
        }
    return out


async def _view(session: AsyncSession, user: Any, campaign_id: int) -> CampaignOut:
    view = await campaign_service.campaign_view(session, user, campaign_id)
    return CampaignOut.model_validate(campaign_service.as_dict(view))


@router.post("", status_code=201, response_model=CampaignOut, responses=refusals(401, 403, 422))
async def create(body: CampaignIn, session: SessionDep, user: CurrentUser) -> CampaignOut:
    campaign = await campaign_service.create_campaign(session, user, body.as_input())
    assert campaign.id is not None
    return await _view(session, user, campaign.id)


@router.get("", response_model=list[CampaignSummary], responses=refusals(401, 422))
async def list_(session: SessionDep, user: CurrentUser, state: str | None = None) -> list[CampaignSummary]:
    rows = await campaign_service.list_campaigns(session, user, state)
    return [
        CampaignSummary.model_validate(
            {"id": c.id, "title": c.title, "state": c.state, "agency_id": c.agency_id}
        )
        for c in rows
    ]


@router.get("/{campaign_id}", response_model=CampaignOut, responses=refusals(401, 404, 422))
async def read(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> CampaignOut:
    return await _view(session, user, campaign_id)


@router.get("/{campaign_id}/history", response_model=list[HistoryEntry], responses=refusals(401, 404, 422))
async def history(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> list[HistoryEntry]:
    """What happened to the campaign, by whom (user id) and when, oldest first."""
    return [
        HistoryEntry(at=e.at, actor=e.actor_id, action=e.action, detail=e.detail)
        for e in await campaign_service.history(session, user, campaign_id)
    ]


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=refusals(401, 403, 404, 409, 422))
async def change(
    campaign_id: RowId, body: CampaignPatch, session: SessionDep, user: CurrentUser
) -> CampaignOut:
    """Change a draft: the fields sent (see the body's schema for the targets)."""
    current = campaign_service.input_of(await campaign_service.campaign_view(session, user, campaign_id))
    await campaign_service.update_campaign(session, user, campaign_id, body.applied_to(current))
    return await _view(session, user, campaign_id)


@router.delete("/{campaign_id}", status_code=204, responses=refusals(401, 403, 404, 409, 422))
async def delete(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a draft, with its targets and images."""
    await campaign_service.delete_campaign(session, user, campaign_id)
    return Response(status_code=204)


@router.put(
    "/{campaign_id}/image-order", response_model=CampaignOut, responses=refusals(401, 403, 404, 409, 422)
)
async def reorder_images(
    campaign_id: RowId, body: ImageOrderIn, session: SessionDep, user: CurrentUser
) -> CampaignOut:
    """Put a draft's images in a new order (a card-news series reads from position 0)."""
    await campaign_service.reorder_images(session, user, campaign_id, body.order)
    return await _view(session, user, campaign_id)


@router.patch(
    "/{campaign_id}/images/{position}",
    response_model=CampaignOut,
    responses=refusals(401, 403, 404, 409, 422),
)
async def describe_image(
    campaign_id: RowId, position: ImagePosition, body: ImageTextIn, session: SessionDep, user: CurrentUser
) -> CampaignOut:
    """A new description (alt text) for one image of a draft."""
    await campaign_service.describe_image(session, user, campaign_id, position, body.alt_text)
    return await _view(session, user, campaign_id)


@router.delete(
    "/{campaign_id}/images/{position}",
    response_model=CampaignOut,
    responses=refusals(401, 403, 404, 409, 422),
)
async def remove_image(
    campaign_id: RowId, position: ImagePosition, session: SessionDep, user: CurrentUser
) -> CampaignOut:
    """Remove one image of a draft; the others keep their order, numbered from 0."""
    await campaign_service.remove_image(session, user, campaign_id, position)
    return await _view(session, user, campaign_id)


@router.post(
    "/{campaign_id}/images",
    status_code=201,
    response_model=UploadedImage,
    responses=refusals(401, 403, 404, 409, 413, 422),
    openapi_extra={"requestBody": UPLOAD_FORM},
)
async def upload_image(
    campaign_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    media: MediaDep,
    limits: UploadLimitsDep,
) -> UploadedImage | JSONResponse:
    """multipart/form-data: `file` (JPEG or PNG, by content) and `alt_text` (required)."""
    # The byte cap is enforced before the body is parsed: by its declared length, then per part.
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes + 64 * 1024:
        raise UploadTooLarge(f"upload larger than {limits.max_bytes} bytes")
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=limits.max_bytes)
    except (MultiPartException, HTTPException) as exc:  # inside an app, Starlette raises a bare 400
        raise BadUpload(f"multipart body refused: {multipart_problem(exc)}") from None
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
    added = await campaign_service.add_image(session, user, campaign_id, data, alt_text, media, limits)
    image = added.image
    return UploadedImage(
        position=image.position,
        sha256=image.clean_sha256,
        width=image.width,
        height=image.height,
        warnings=[
            UploadWarning(
                code="upscaled",
                carrier=u.carrier,
                factor=u.factor,
                frame=f"{u.frame[0]}x{u.frame[1]}",
                message=u.message,
            )
            for u in added.upscaled
        ],
    )


async def _transition(
    session: AsyncSession, user: Any, campaign_id: int, step: Any, *args: Any
) -> CampaignOut:
    """One workflow step in the request's transaction, answered with the campaign as it now is."""
    await step(session, user, campaign_id, *args)
    return await _view(session, user, campaign_id)


@router.post("/{campaign_id}/submit", response_model=CampaignOut, responses=refusals(401, 403, 404, 409, 422))
async def submit(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> CampaignOut:
    return await _transition(session, user, campaign_id, campaign_service.submit_campaign)


@router.post(
    "/{campaign_id}/approve", response_model=CampaignOut, responses=refusals(401, 403, 404, 409, 422)
)
async def approve(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> CampaignOut:
    return await _transition(session, user, campaign_id, campaign_service.approve_campaign)


@router.post("/{campaign_id}/reject", response_model=CampaignOut, responses=refusals(401, 403, 404, 409, 422))
async def reject(campaign_id: RowId, body: RejectIn, session: SessionDep, user: CurrentUser) -> CampaignOut:
    return await _transition(session, user, campaign_id, campaign_service.reject_campaign, body.reason)


@router.post("/{campaign_id}/end", response_model=CampaignOut, responses=refusals(401, 403, 404, 422))
async def end(campaign_id: RowId, session: SessionDep, user: CurrentUser) -> CampaignOut:
    return await _transition(session, user, campaign_id, campaign_service.end_campaign)


@router.get(
    "/{campaign_id}/preview/{carrier}.png",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The ringing phone, as a PNG."},
        **refusals(401, 404, 422),
    },
)
async def preview(
    campaign_id: RowId, carrier: str, session: SessionDep, user: CurrentUser, media: MediaDep
) -> Response:
    """How the lettering looks on a ringing phone of this carrier (before submitting)."""
    png = await campaign_service.phone_preview_png(session, user, campaign_id, carrier, media)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})
