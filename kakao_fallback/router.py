"""Operators' view of the AlimTalk fallback: per-agency figures (the dashboard will use this)."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from kakao_fallback import service as kakao_service
from lettering.directory import service as directory_service
from lettering.errors import AppError, NotFound

router = APIRouter()


class AdminTokenRequired(AppError):
    status_code = 401


def require_admin(request: Request, authorization: str | None) -> None:
    """Bearer LETTERING_ADMIN_TOKEN (operators' scripts) until console users and roles land."""
    expected: str = request.app.state.settings.admin_token.get_secret_value()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise AdminTokenRequired("send Authorization: Bearer <LETTERING_ADMIN_TOKEN>")


@router.get("/v1/agencies/{agency_code}/alimtalk", tags=["alimtalk"])
async def alimtalk_summary(
    agency_code: str,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    since: Annotated[datetime | None, Query(description="Only messages queued since then.")] = None,
) -> JSONResponse:
    """Messages by status, and what reached phones by channel (AlimTalk, SMS, LMS)."""
    require_admin(request, authorization)
    async with request.app.state.sessions() as session:
        agency_id = await directory_service.agency_id_for_code(session, agency_code)
        if agency_id is None:
            raise NotFound(f"no agency {agency_code!r}")
        summary = await kakao_service.agency_summary(session, agency_id, since)
    return JSONResponse({"agency": agency_code, **summary})
