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
from lettering.calls import service as call_service
from lettering.core.deps import SessionDep
from lettering.core.errors import NotFound, errors
from lettering.dashboard.schemas import (
    AlimtalkSummary,
    ArmOut,
    DifferenceOut,
    HoldoutReportOut,
    IntervalOut,
)
from lettering.dashboard.stats import ArmCounts, arm_report
from lettering.directory import service as directory_service
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentUser, resolve_agency

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


MessagesUntil = Annotated[
    AwareDatetime | None,
    Query(description="Only messages queued before then (RFC 3339 with a time zone)."),
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
    until: MessagesUntil = None,
    department: Annotated[
        str | None, Query(description="A department code of the agency: only its calls' messages.")
    ] = None,
) -> AlimtalkSummary:
    """Messages by status, and what reached phones by channel (AlimTalk, SMS, LMS)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    call_ids = None
    if department is not None:
        department_id = await directory_service.department_of_agency(session, agency_id, department)
        if department_id is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        call_ids = call_service.call_ids_of_department(agency_id, department_id)
    summary = await kakao_service.agency_summary(session, agency_id, since, until, call_ids)
    return AlimtalkSummary.model_validate({"agency": agency_code, **summary})


Until = Annotated[
    AwareDatetime | None,
    Query(description="Only calls recorded before then (RFC 3339 with a time zone)."),
    AfterValidator(_in_utc),
]
CallsSince = Annotated[
    AwareDatetime | None,
    Query(description="Only calls recorded since then (RFC 3339 with a time zone)."),
    AfterValidator(_in_utc),
]


@router.get(
    "/v1/agencies/{agency_code}/holdout",
    tags=["dashboard"],
    response_model=HoldoutReportOut,
    responses=errors(401, 404),
)
async def holdout_report(
    agency_code: str,
    session: SessionDep,
    principal: CurrentUser,
    since: CallsSince = None,
    until: Until = None,
    department: Annotated[str | None, Query(description="A department code of the agency.")] = None,
) -> HoldoutReportOut:
    """Per holdout arm: calls, answered, answer rate, mean talk time, and the lettered arm's lift
    over each arm with its 95 % interval (lettering/dashboard/stats.py), from the calls whose
    call.ended was recorded."""
    agency_id = await resolve_agency(session, principal, agency_code)
    department_id: int | None = None
    if department is not None:
        department_id = await directory_service.department_of_agency(session, agency_id, department)
        if department_id is None:
            raise NotFound(NOT_FOUND_MESSAGE)
    counts = await call_service.arm_counts(session, agency_id, since, until, department_id)
    report = arm_report({arm: ArmCounts(*values) for arm, values in counts.items()})
    return HoldoutReportOut(
        agency=agency_code,
        department=department,
        since=since,
        until=until,
        arms=[
            ArmOut(
                arm=a.arm,
                calls=a.calls,
                answered=a.answered,
                answer_rate=a.answer_rate,
                mean_talk_seconds=a.mean_talk_seconds,
                difference_to_lettered=None
                if a.difference is None
                else DifferenceOut(
                    estimate=a.difference.estimate,
                    ci95=IntervalOut(lower=a.difference.interval.lower, upper=a.difference.interval.upper),
                    sufficient=a.difference.sufficient,
                ),
            )
            for a in report.arms
        ],
        sufficient=report.sufficient,
        rule=report.rule,
    )
