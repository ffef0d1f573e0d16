"""Admin views that reveal a citizen's number: each one is written to the access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from lettering.audit import service
from lettering.audit.schemas import RevealedNumber
from lettering.core.deps import SessionDep, VaultDep
from lettering.core.errors import ErrorOut, errors
from lettering.core.ids import RowId
from lettering.core.phone import format_national
from lettering.users.deps import CurrentAdmin

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
    number, row = await service.reveal_call_number(session, vault, principal, call_id, reason)
    response.headers["Cache-Control"] = "no-store"
    return RevealedNumber(call_id=call_id, number=format_national(number), access_log_id=row.id)
