"""Figures of the AlimTalk fallback, per agency (the dashboard reads them).

Console users and API tokens authenticate (`CurrentUser`): a platform admin may read any agency,
every other user only their own; another agency's code answers 404 like an unknown one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from kakao_fallback import service as kakao_service
from lettering.core.deps import SessionDep
from lettering.dashboard.schemas import AlimtalkSummary
from lettering.users.deps import CurrentUser, resolve_agency

router = APIRouter()


@router.get("/v1/agencies/{agency_code}/alimtalk", tags=["alimtalk"], response_model=AlimtalkSummary)
async def alimtalk_summary(
    agency_code: str,
    session: SessionDep,
    principal: CurrentUser,
    since: Annotated[datetime | None, Query(description="Only messages queued since then.")] = None,
) -> AlimtalkSummary:
    """Messages by status, and what reached phones by channel (AlimTalk, SMS, LMS)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    summary = await kakao_service.agency_summary(session, agency_id, since)
    return AlimtalkSummary.model_validate({"agency": agency_code, **summary})
