"""Opt-outs taken by an administrator on a citizen's request (phone, counter, letter)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from lettering.audit import service as audit_service
from lettering.core.db import utcnow
from lettering.core.deps import SessionDep, SettingsDep, VaultDep
from lettering.core.errors import errors
from lettering.core.phone import NotAPhoneNumber, mask_national, parse_number
from lettering.directory import service as directory_service
from lettering.optout import service
from lettering.optout.errors import NotAMobileNumber
from lettering.optout.models import ALL_AGENCIES
from lettering.optout.schemas import OptoutIn, OptoutOut
from lettering.users.deps import CurrentAdmin, resolve_agency
from lettering.users.errors import RoleForbidden

router = APIRouter(prefix="/v1/optouts", tags=["optouts"])

EVERY_AGENCY_CODE = "*"


@router.post(
    "",
    response_model=OptoutOut,
    # 400: a platform admin names no agency; 404: an agency not visible to this user.
    responses=errors(400, 401, 403, 404),
)
async def change_optout(
    body: OptoutIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    principal: CurrentAdmin,
) -> OptoutOut:
    """Set a citizen's choice as they asked; history (via admin), access-log reason and notice included."""
    try:
        number = parse_number(body.number)
    except NotAPhoneNumber:
        number = None
    if number is None or not number.is_kr_mobile:
        raise NotAMobileNumber("휴대전화 번호가 아닙니다 (예: 010-1234-5678)")
    if body.agency_code == EVERY_AGENCY_CODE:
        if not principal.is_platform_admin:
            raise RoleForbidden("모든 기관에 대한 수신 거부는 platform_admin만 설정할 수 있습니다")
        agency_id = ALL_AGENCIES
    else:
        agency_id = await resolve_agency(session, principal, body.agency_code)
    key = settings.phone_hash_key.get_secret_value()
    client = request.client.host if request.client else "unknown"
    result = await service.apply_change(
        session,
        vault,
        subject=service.OptoutSubject(vault.hash(number.e164), agency_id),
        to_scope=body.scope,
        via="admin",
        now=utcnow(),
        admin_id=principal.user_id,
        ip_hash=audit_service.hash_client(key, "ip", client),
        user_agent_hash=audit_service.hash_client(key, "ua", request.headers.get("user-agent", "")),
        number_e164=number.e164,
        reason=body.reason,
    )
    if result.change.history_id is not None:
        await audit_service.log_access(
            session, principal.user_id, "optout_change", "optout", result.change.history_id, body.reason
        )
    codes = await directory_service.agency_codes(session, [agency_id])
    return OptoutOut(
        changed=result.change.changed,
        from_scope=result.change.from_scope,
        to_scope=result.change.to_scope,
        agency_code=codes.get(agency_id, EVERY_AGENCY_CODE),
        masked_number=mask_national(number.e164),
        history_id=result.change.history_id,
        notice=result.notice,
    )
