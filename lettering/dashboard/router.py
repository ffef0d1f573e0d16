"""Figures of the AlimTalk fallback, per agency (the dashboard reads them).

Console users and API tokens authenticate (`CurrentUser`): a platform admin may read any agency,
every other user only their own; another agency's code answers 404 like an unknown one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime

from kakao_fallback import service as kakao_service
from lettering.core.deps import SessionDep
from lettering.core.errors import errors
from lettering.dashboard.schemas import AlimtalkSummary
from lettering.users.deps import CurrentUser, resolve_agency

router = APIRouter()


def _in_utc(value: datetime | None) -> datetime | None:
    """The time in UTC (the columns' zone); a time at the calendar's ends has none, so it is refused."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: this time has no UTC equivalent (years 1 to 9999)") from None


Since = Annotated[
    AwareDatetime | None,
    Query(description="Only messages queued since then (RFC 3339 with a time zone)."),
    AfterValidator(_in_utc),
]


@router.get(
    "/v1/agencies/{agency_code}/alimtalk",
    tags=["alimtalk"],
    response_model=AlimtalkSummary,
    responses=errors(401, 404),
)
async def alimtalk_summary(
    agency_code: str,
    session: SessionDep,
    principal: CurrentUser,
    since: Since = None,
) -> AlimtalkSummary:
    """Messages by status, and what reached phones by channel (AlimTalk, SMS, LMS)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    summary = await kakao_service.agency_summary(session, agency_id, since)
    return AlimtalkSummary.model_validate({"agency": agency_code, **summary})
