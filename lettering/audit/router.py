"""Admin views that reveal a citizen's number: each one is written to the access log."""

from __future__ import annotations

from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Query, Response

from lettering.audit import service
from lettering.audit.errors import NumberNoLongerKept
from lettering.audit.schemas import RevealedNumber
from lettering.calls import service as call_service
from lettering.core.deps import SessionDep, VaultDep
from lettering.core.errors import ErrorOut, NotFound, errors
from lettering.core.ids import RowId
from lettering.core.phone import format_national
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentAdmin, ensure_in_scope

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/calls/{call_id}/number",
    response_model=RevealedNumber,
    responses={
        **errors(401, 403, 404),
        410: {
            "model": ErrorOut,
            "description": "The call no longer keeps the number (retention, retired key).",
        },
    },
)
async def reveal_call_number(
    call_id: RowId,
    response: Response,
    session: SessionDep,
    vault: VaultDep,
    principal: CurrentAdmin,
    reason: Annotated[str, Query(min_length=2, max_length=300, description="Why the number is needed.")],
) -> RevealedNumber:
    """The citizen's number of one call of the admin's agency; the access-log row commits with it."""
    record = await call_service.get_call(session, call_id)
    if record is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(principal, record.agency_id)
    if record.callee_ciphertext is None:
        raise NumberNoLongerKept("이 통화의 전화번호는 보관 기간이 지나 삭제되었습니다")
    try:
        number = vault.open(record.callee_ciphertext, record.callee_key_version or 1)
    except (InvalidTag, ValueError):
        raise NumberNoLongerKept("이 통화의 전화번호를 복호화할 수 없습니다 (폐기된 키)") from None
    row = await service.log_access(
        session, principal.user_id, "reveal_number", "call_record", call_id, reason
    )
    response.headers["Cache-Control"] = "no-store"
    return RevealedNumber(call_id=call_id, number=format_national(number), access_log_id=row.id)
