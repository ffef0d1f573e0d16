"""An agency's holdout shares and promo freezes (agency admins; platform admins for any agency).

Another agency's code, department or freeze answers 404 exactly like one that does not exist
(`resolve_agency`). Refusals of a value are FastAPI's 422 list, each naming its field.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from lettering.core.deps import SessionDep
from lettering.core.errors import NotFound, errors
from lettering.directory import service
from lettering.directory.schemas import (
    DepartmentSharesOut,
    FreezeIn,
    FreezeOut,
    HoldoutSettingsOut,
    HoldoutSharesIn,
    bp,
)
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentAdmin, CurrentUser, resolve_agency

router = APIRouter(tags=["directory"])


def _settings_out(code: str, settings: service.HoldoutSettings) -> HoldoutSettingsOut:
    return HoldoutSettingsOut(
        agency=code,
        holdout_percent=settings.agency.holdout_bp / 100,
        identity_only_percent=settings.agency.identity_only_bp / 100,
        departments=[
            DepartmentSharesOut(
                department=d.department_code,
                department_name=d.department_name,
                holdout_percent=d.shares.holdout_bp / 100,
                identity_only_percent=d.shares.identity_only_bp / 100,
            )
            for d in settings.departments
        ],
    )


def _shares(body: HoldoutSharesIn) -> service.HoldoutShares:
    return service.HoldoutShares(bp(body.holdout_percent), bp(body.identity_only_percent))


@router.get(
    "/v1/agencies/{agency_code}/holdout-settings",
    response_model=HoldoutSettingsOut,
    responses=errors(401, 403, 404),
)
async def get_holdout_settings(
    agency_code: str, session: SessionDep, principal: CurrentAdmin
) -> HoldoutSettingsOut:
    """The agency's holdout shares and the departments that have their own."""
    agency_id = await resolve_agency(session, principal, agency_code)
    return _settings_out(agency_code, await service.holdout_settings(session, agency_id))


@router.put(
    "/v1/agencies/{agency_code}/holdout-settings",
    response_model=HoldoutSettingsOut,
    responses=errors(401, 403, 404),
)
async def put_holdout_settings(
    agency_code: str, body: HoldoutSharesIn, session: SessionDep, principal: CurrentAdmin
) -> HoldoutSettingsOut:
    """Set the agency's shares (0-20 % each, sum at most 20 %; 0 and 0 turn the holdout off)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    await service.set_agency_holdout(session, agency_id, _shares(body))
    return _settings_out(agency_code, await service.holdout_settings(session, agency_id))


@router.put(
    "/v1/agencies/{agency_code}/departments/{department_code}/holdout-settings",
    response_model=DepartmentSharesOut,
    responses=errors(401, 403, 404),
)
async def put_department_holdout(
    agency_code: str,
    department_code: str,
    body: HoldoutSharesIn,
    session: SessionDep,
    principal: CurrentAdmin,
) -> DepartmentSharesOut:
    """Give a department shares of its own (they replace the agency's for its calls)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    changed = await service.set_department_holdout(session, agency_id, department_code, _shares(body))
    if changed is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return DepartmentSharesOut(
        department=changed.department_code,
        department_name=changed.department_name,
        holdout_percent=changed.shares.holdout_bp / 100,
        identity_only_percent=changed.shares.identity_only_bp / 100,
    )


@router.delete(
    "/v1/agencies/{agency_code}/departments/{department_code}/holdout-settings",
    status_code=204,
    responses=errors(401, 403, 404),
)
async def delete_department_holdout(
    agency_code: str, department_code: str, session: SessionDep, principal: CurrentAdmin
) -> Response:
    """The department follows the agency's shares again."""
    agency_id = await resolve_agency(session, principal, agency_code)
    if await service.set_department_holdout(session, agency_id, department_code, None) is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return Response(status_code=204)


# -- promo freezes ----------------------------------------------------------------------------


def _freeze_out(freeze: service.Freeze) -> FreezeOut:
    return FreezeOut(
        id=freeze.id,
        starts_on=freeze.starts_on,
        ends_on=freeze.ends_on,
        reason=freeze.reason,
        election_day=freeze.election_day,
    )


def _checked(body: FreezeIn) -> FreezeIn:
    problems = body.range_errors()
    if problems:
        raise RequestValidationError(problems)
    return body


@router.get("/v1/agencies/{agency_code}/freezes", response_model=list[FreezeOut], responses=errors(401, 404))
async def list_freezes(agency_code: str, session: SessionDep, principal: CurrentUser) -> list[FreezeOut]:
    """The agency's promo freezes, by start (every user of the agency may read them)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    return [_freeze_out(f) for f in await service.list_freezes(session, agency_id)]


@router.post(
    "/v1/agencies/{agency_code}/freezes",
    response_model=FreezeOut,
    status_code=201,
    responses=errors(401, 403, 404),
)
async def create_freeze(
    agency_code: str, body: FreezeIn, session: SessionDep, principal: CurrentAdmin
) -> FreezeOut:
    """A promo freeze: no promo campaign on these days (identity and emergency campaigns still go)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    starts_on, ends_on = _checked(body).dates()
    freeze = await service.create_freeze(
        session,
        agency_id,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=body.reason,
        election_day=body.election_day,
    )
    return _freeze_out(freeze)


@router.put(
    "/v1/agencies/{agency_code}/freezes/{freeze_id}",
    response_model=FreezeOut,
    responses=errors(401, 403, 404),
)
async def update_freeze(
    agency_code: str, freeze_id: int, body: FreezeIn, session: SessionDep, principal: CurrentAdmin
) -> FreezeOut:
    """Replace a freeze's range and reason."""
    agency_id = await resolve_agency(session, principal, agency_code)
    starts_on, ends_on = _checked(body).dates()
    freeze = await service.update_freeze(
        session,
        agency_id,
        freeze_id,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=body.reason,
        election_day=body.election_day,
    )
    if freeze is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return _freeze_out(freeze)


@router.delete(
    "/v1/agencies/{agency_code}/freezes/{freeze_id}", status_code=204, responses=errors(401, 403, 404)
)
async def delete_freeze(
    agency_code: str, freeze_id: int, session: SessionDep, principal: CurrentAdmin
) -> Response:
    """Remove a freeze (promo campaigns go out again from the next call)."""
    agency_id = await resolve_agency(session, principal, agency_code)
    if not await service.delete_freeze(session, agency_id, freeze_id):
        raise NotFound(NOT_FOUND_MESSAGE)
    return Response(status_code=204)
