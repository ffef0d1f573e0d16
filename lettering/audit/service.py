"""The access log (who saw a citizen's number, when and why) and pseudonymous client identifiers.

The access log is append-only: rows are only ever added, and the retention job deletes a row
only once it is older than the period the log is kept (two years by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.audit import repository
from lettering.audit.errors import NumberNoLongerKept, ReasonRequired
from lettering.audit.repository import AccessLogView
from lettering.calls import service as call_service
from lettering.core.errors import NotFound
from lettering.core.phone import PhoneVault
from lettering.users.deps import NOT_FOUND_MESSAGE, Principal, ensure_in_scope

REVEAL_NUMBER = "reveal_number"
MIN_REASON = 2
MAX_REASON = 300


async def log_access(
    session: AsyncSession, user_id: int, action: str, record_kind: str, record_id: int, reason: str
) -> AccessLogView:
    """Append one access-log row in the caller's transaction (it commits with what it records)."""
    return await repository.add_access(
        session, user_id, action[:32], record_kind[:32], record_id, reason.strip()[:300]
    )


async def reveal_call_number(
    session: AsyncSession, vault: PhoneVault, principal: Principal, call_id: int, reason: str
) -> tuple[str, AccessLogView]:
    """The E.164 number of one call of the caller's agency and the access-log row that records
    who saw it and why (in the caller's transaction: the row commits with the answer).

    One rule for the API (`GET /v1/calls/{id}/number`) and the console: the route decides who may
    ask (agency admins); here another agency's call is a 404, a reason is required, and a number
    the retention rules dropped (or sealed under a retired key) is a 410.
    """
    record = await call_service.get_call(session, call_id)
    if record is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(principal, record.agency_id)
    why = reason.strip()
    if not MIN_REASON <= len(why) <= MAX_REASON:
        raise ReasonRequired(
            "a reason of 2 to 300 characters is required",
            korean=f"열람 사유를 {MIN_REASON}자 이상 {MAX_REASON}자 이하로 입력해 주세요 (예: 민원 회신)",
        )
    if record.callee_ciphertext is None:
        raise NumberNoLongerKept("이 통화의 전화번호는 보관 기간이 지나 삭제되었습니다")
    try:
        number = vault.open(record.callee_ciphertext, record.callee_key_version or 1)
    except (InvalidTag, ValueError):
        raise NumberNoLongerKept("이 통화의 전화번호를 복호화할 수 없습니다 (폐기된 키)") from None
    row = await log_access(session, principal.user_id, REVEAL_NUMBER, "call_record", call_id, why)
    return number, row


async def access_log(
    session: AsyncSession,
    *,
    record_kind: str | None = None,
    record_id: int | None = None,
    limit: int = 100,
    user_ids: Sequence[int] | None = None,
    before_id: int | None = None,
) -> list[AccessLogView]:
    """Access-log rows, newest first, optionally for one record, by some users, below an id."""
    return await repository.access_log(
        session,
        record_kind=record_kind,
        record_id=record_id,
        limit=limit,
        user_ids=user_ids,
        before_id=before_id,
    )


async def entries_for(
    session: AsyncSession, action: str, record_kind: str, record_ids: Sequence[int]
) -> dict[int, AccessLogView]:
    """The first row of `action` on each of these records (record id -> row), e.g. who marked a
    spoof report handled and when."""
    found: dict[int, AccessLogView] = {}
    for row in await repository.entries_for(session, action, record_kind, record_ids):
        found.setdefault(row.record_id, row)
    return found


async def purge_access_log(session: AsyncSession, older_than: datetime) -> int:
    """Delete access-log rows written before `older_than` (only the retention job calls this)."""
    return await repository.purge_access_log(session, older_than)


def hash_client(key_b64: str, kind: str, value: str) -> str:
    """A keyed pseudonym of a client detail (IP address, user agent) for records and limits.

    HMAC-SHA256 under the phone hash key, with the kind as a domain prefix so it never equals a
    number's hash: without the key the small IPv4 space cannot be searched for a match.
    """
    key = base64.b64decode(key_b64)
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
