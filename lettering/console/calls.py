"""The console's call pages: the search of call records, a call's page, revealing its number with
a reason, and the access log (thin: read the form, call the services, render a page).

Who sees which calls (the console's rule; tests/integration/test_console_calls.py):
- a platform admin: every agency's calls;
- an agency admin or approver: every call of their agency;
- an editor of a department: only that department's calls (an editor answers for their own
  department's calls, not for the rest of the agency's citizens); an editor with no department,
  the agency's.
A call outside this scope answers 404, exactly like one that does not exist.

Citizens' numbers: a page shows a number masked (010-****-5678) while the call still keeps its
encrypted copy, else only the keyed hash's prefix. The clear number is shown once, on the page
answering a reveal: agency admins only (the API's `CurrentAdmin`), a reason required, through the
audit service's one rule (`audit_service.reveal_call_number`, the API's own), written to the
access log; the page, like every console page, is `Cache-Control: no-store`, and the number never
travels in an address (the reason is a form post).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from kakao_fallback import service as kakao_service
from lettering.audit import service as audit_service
from lettering.audit.errors import ReasonRequired
from lettering.calls import service as call_service
from lettering.console.pages import ConsoleRoute, page, user_name
from lettering.core.clock import SEOUL
from lettering.core.deps import SessionDep, VaultDep
from lettering.core.errors import NotFound
from lettering.core.ids import RowId
from lettering.core.phone import PhoneVault, format_national, hash_prefix, mask_national
from lettering.directory.service import DirectorySnapshot
from lettering.snapshots.deps import SnapshotsDep
from lettering.users import service as user_service
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentAdmin, CurrentUser, Principal, ensure_in_scope
from lettering.verify import service as verify_service

log = logging.getLogger(__name__)

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

PAGE_SIZE = 50
MAX_DAYS = 31  # the widest search: the range bounds the index scan
OUTCOME_NAMES = {
    "accepted": "레터링 표시",
    "pending": "처리 중",
    "fallback": "알림톡 대체",
    "suppressed": "보내지 않음",
    "skipped": "건너뜀",
    "failed": "실패",
}
CARRIER_NAMES = {"skt": "SKT", "kt": "KT", "lgu": "LG U+"}
ATTEMPT_NAMES = {
    "accepted": "접수됨",
    "not_subscriber": "가입자 아님",
    "unsupported_device": "지원하지 않는 단말",
    "rejected": "거절됨",
    "throttled": "속도 제한",
    "unavailable": "응답 없음",
    "error": "오류",
    "timeout": "시간 초과",
}
MESSAGE_STATUS_NAMES = {
    "queued": "발송 대기",
    "sending": "발송 중",
    "accepted": "중계사 접수",
    "sent_unknown": "결과 미확인",
    "delivered": "전달됨",
    "failed": "전달 실패",
    "dead": "발송 포기",
    "dropped": "보내지 않음 (수신 거부)",
}
MESSAGE_KIND_NAMES = {
    "identity_notice": "발신 안내",
    "missed_call": "부재중 안내",
    "post_call": "통화 후 안내",
    "optout_notice": "수신 거부 결과 안내",
}
ACTION_NAMES = {
    "reveal_number": "통화 번호 열람",
    "optout_lookup": "수신 거부 조회",
    "optout_change": "수신 거부 변경",
    "spoof_handled": "사칭 신고 처리",
}


# -- who sees what --------------------------------------------------------------------------------


def call_scope(principal: Principal) -> tuple[int | None, int | None]:
    """(agency id, department id) a user's call search is limited to (None: not limited)."""
    if principal.is_platform_admin:
        return None, None
    department = principal.department_id if principal.role == "editor" else None
    return principal.agency_id, department


async def visible_call(
    session: AsyncSession, principal: Principal, call_id: int
) -> call_service.CallRecordView:
    """The call, if this user may see it (module docstring); 404 otherwise."""
    record = await call_service.get_call(session, call_id)
    if record is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(principal, record.agency_id)
    _, department = call_scope(principal)
    if department is not None and record.department_id != department:
        raise NotFound(NOT_FOUND_MESSAGE)
    return record


# -- how a call is shown --------------------------------------------------------------------------


def masked_callee(vault: PhoneVault, record: call_service.CallRecordView) -> str:
    """010-****-5678 while the call keeps the number; else the keyed hash's prefix only."""
    if record.callee_ciphertext is not None:
        try:
            return mask_national(vault.open(record.callee_ciphertext, record.callee_key_version or 1))
        except (InvalidTag, ValueError):  # sealed under a retired key: the hash prefix instead
            pass
    if record.callee_hash:
        return f"#{hash_prefix(record.callee_hash)}"
    return "-"


def seoul(at: datetime | None) -> str:
    return at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S") if at is not None else "-"


def _json_list(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class CallRow:
    id: int
    at: str
    extension: str
    department: str
    callee: str
    outcome: str
    outcome_name: str
    carrier: str
    verify_code: str
    answered: str


def _department_names(directory: DirectorySnapshot) -> dict[int, tuple[str, str]]:
    """Department id -> (code, name), from the directory snapshot."""
    return {e.department_id: (e.department_code, e.department_name) for e in directory.extensions.values()}


def _answered(record: call_service.CallRecordView) -> str:
    if record.answered is None:
        return "-"
    if not record.answered:
        return "받지 않음"
    return f"받음 ({record.talk_seconds}초)" if record.talk_seconds is not None else "받음"


def _row(
    vault: PhoneVault, record: call_service.CallRecordView, departments: dict[int, tuple[str, str]]
) -> CallRow:
    outcome = record.lettering or ""
    department = departments.get(record.department_id or 0, ("", ""))[1]
    return CallRow(
        id=record.id,
        at=seoul(record.occurred_at or record.created_at),
        extension=record.extension or "-",
        department=department or "-",
        callee=masked_callee(vault, record),
        outcome=outcome,
        outcome_name=OUTCOME_NAMES.get(outcome, outcome or "-"),
        carrier=CARRIER_NAMES.get(record.carrier or "", "-"),
        verify_code=record.verify_code or "-",
        answered=_answered(record),
    )


# -- the search -----------------------------------------------------------------------------------


@dataclass
class SearchForm:
    """The search form's fields as typed (kept to show the form again)."""

    day_from: str = ""
    time_from: str = "00:00"
    day_until: str = ""
    time_until: str = "23:59"
    extension: str = ""
    department: str = ""
    outcome: str = ""
    carrier: str = ""
    code: str = ""


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _clock(raw: str) -> time | None:
    try:
        return time.fromisoformat(raw) if len(raw) == 5 else None
    except ValueError:
        return None


def _cursor(raw: str) -> tuple[datetime, int] | None:
    """'<microseconds since the epoch>-<id>': the last row of the page before."""
    stamp, _, record_id = raw.partition("-")
    if not (stamp.isdigit() and record_id.isdigit() and len(stamp) <= 17 and len(record_id) <= 10):
        return None
    try:
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(stamp))
    except OverflowError:
        return None
    # Row ids are 32-bit on PostgreSQL: a larger one is no row's, and binding it would be an error.
    return at, min(int(record_id), 2**31 - 1)


def _cursor_of(record: call_service.CallRecordView) -> str:
    micros = (record.created_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}-{record.id}"


def _search_of(
    form: SearchForm,
    principal: Principal,
    directory: DirectorySnapshot,
) -> tuple[call_service.CallSearch | None, list[str]]:
    """The search the form asks for, limited to the user's scope; or the problems, in Korean."""
    problems: list[str] = []
    start_day, end_day = _day(form.day_from), _day(form.day_until)
    start_clock, end_clock = _clock(form.time_from), _clock(form.time_until)
    if start_day is None or end_day is None:
        problems.append("날짜를 2026-12-03 형식으로 입력해 주세요")
    if start_clock is None or end_clock is None:
        problems.append("시각을 09:30 형식으로 입력해 주세요")
    agency_id, department_id = call_scope(principal)
    if form.department:
        found = next(
            (
                e
                for e in directory.extensions.values()
                if e.department_code == form.department and (agency_id is None or e.agency_id == agency_id)
            ),
            None,
        )
        if found is None:
            problems.append("선택한 부서를 찾을 수 없습니다")
        elif department_id is not None and found.department_id != department_id:
            problems.append("소속 부서의 통화만 볼 수 있습니다")
        else:
            department_id = found.department_id
    if form.outcome and form.outcome not in call_service.OUTCOMES:
        problems.append("결과를 목록에서 골라 주세요")
    if form.carrier and form.carrier not in call_service.CARRIERS:
        problems.append("통신사를 목록에서 골라 주세요")
    code = form.code.replace("-", "").replace(" ", "").upper()
    if code and (len(code) != 6 or any(c not in call_service.VERIFY_ALPHABET for c in code)):
        problems.append("확인 코드는 6자리입니다 (예: K7M2QX)")
    extension = form.extension.strip()
    if extension and (not extension.isdigit() or len(extension) > 8):
        problems.append("내선 번호는 숫자 8자리 이하입니다")
    if problems or start_day is None or end_day is None or start_clock is None or end_clock is None:
        return None, problems
    since = datetime.combine(start_day, start_clock, SEOUL)
    until = datetime.combine(end_day, end_clock, SEOUL) + timedelta(minutes=1)
    if until <= since:
        return None, ["끝 시각이 시작 시각보다 뒤여야 합니다"]
    if until - since > timedelta(days=MAX_DAYS):
        return None, [f"한 번에 {MAX_DAYS}일까지 찾을 수 있습니다. 기간을 줄여 주세요"]
    search = call_service.CallSearch(
        since=since.astimezone(UTC),
        until=until.astimezone(UTC),
        agency_id=agency_id,
        department_id=department_id,
        extension=extension or None,
        lettering=form.outcome or None,
        carrier=form.carrier or None,
        verify_code=code or None,
    )
    return search, []


def _department_choices(directory: DirectorySnapshot, principal: Principal) -> list[tuple[str, str]]:
    agency_id, department_id = call_scope(principal)
    seen: dict[str, str] = {}
    for e in directory.extensions.values():
        if agency_id is not None and e.agency_id != agency_id:
            continue
        if department_id is not None and e.department_id != department_id:
            continue
        seen.setdefault(e.department_code, e.department_name)
    return sorted(seen.items(), key=lambda item: (item[1], item[0]))


@router.get("/calls")
async def calls(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    day_from: str = "",
    time_from: str = "00:00",
    day_until: str = "",
    time_until: str = "23:59",
    extension: str = "",
    department: str = "",
    outcome: str = "",
    carrier: str = "",
    code: str = "",
    before: str = "",
) -> Response:
    """Calls, newest first, 50 a page (keyset: `before` names the last row of the page before)."""
    today = datetime.now(SEOUL).date().isoformat()
    form = SearchForm(
        day_from=day_from[:10] or today,
        time_from=time_from[:5],
        day_until=day_until[:10] or today,
        time_until=time_until[:5],
        extension=extension[:8],
        department=department[:64],
        outcome=outcome[:16],
        carrier=carrier[:8],
        code=code[:12],
    )
    directory = snapshots.current.directory
    search, problems = _search_of(form, user, directory)
    rows: list[CallRow] = []
    next_cursor = ""
    if search is not None:
        found = await call_service.search_calls(session, search, before=_cursor(before), limit=PAGE_SIZE + 1)
        departments = _department_names(directory)
        rows = [_row(vault, r, departments) for r in found[:PAGE_SIZE]]
        if len(found) > PAGE_SIZE:
            next_cursor = _cursor_of(found[PAGE_SIZE - 1])
    query = {k: v for k, v in vars(form).items() if v}
    return page(
        request,
        "calls.html",
        principal=user,
        name=await user_name(session, user),
        active="calls",
        form=form,
        problems=problems,
        rows=rows,
        paged=bool(before),
        next_query=query | {"before": next_cursor} if next_cursor else None,
        departments=_department_choices(directory, user),
        outcomes=OUTCOME_NAMES,
        carriers=CARRIER_NAMES,
        status_code=422 if problems else 200,
    )


# -- one call -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRow:
    carrier: str
    outcome: str
    code: str
    latency_ms: int
    report: str


async def _call_page(
    request: Request,
    session: AsyncSession,
    vault: PhoneVault,
    user: Principal,
    directory: DirectorySnapshot,
    call_id: int,
    *,
    problems: list[str] | None = None,
    reason: str = "",
    revealed: str | None = None,
    status_code: int = 200,
) -> Response:
    record = await visible_call(session, user, call_id)
    attempts = await call_service.attempts_of(session, record.id)
    message = await kakao_service.message_for_call(session, record.id)
    departments = _department_names(directory)
    agency = directory.agencies.get(record.agency_id or 0)
    return page(
        request,
        "call.html",
        principal=user,
        name=await user_name(session, user),
        active="calls",
        call=record,
        row=_row(vault, record, departments),
        agency_name=agency.name if agency else "-",
        explanation=_json_list(record.explanation),
        notes=_json_list(record.notes),
        final_name=OUTCOME_NAMES.get(record.final_outcome or "", record.final_outcome or "-"),
        attempts=[
            AttemptRow(
                CARRIER_NAMES.get(a.carrier, a.carrier),
                ATTEMPT_NAMES.get(a.outcome, a.outcome),
                a.code,
                a.latency_ms,
                a.report_result or "-",
            )
            for a in attempts
        ],
        message=message,
        message_status=MESSAGE_STATUS_NAMES.get(message.status, message.status) if message else "",
        message_kind=MESSAGE_KIND_NAMES.get(message.kind, message.kind) if message else "",
        answered_at=seoul(record.answered_at),
        ended_at=seoul(record.ended_at),
        may_reveal=user.is_admin,
        number_kept=record.callee_ciphertext is not None,
        problems=problems or [],
        reason=reason,
        revealed=revealed,
        status_code=status_code,
    )


@router.get("/calls/{call_id}")
async def call(
    call_id: RowId,
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
) -> Response:
    return await _call_page(request, session, vault, user, snapshots.current.directory, call_id)


@router.post("/calls/{call_id}/number")
async def reveal_number(
    call_id: RowId,
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    user: CurrentAdmin,
    snapshots: SnapshotsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The call's number, once, on the page answering the post (no-store, like every console
    page); the access-log row commits with it. Without a reason, the call's page asks for one."""
    directory = snapshots.current.directory
    try:
        number, row = await audit_service.reveal_call_number(session, vault, user, call_id, reason)
    except ReasonRequired as exc:
        return await _call_page(
            request, session, vault, user, directory, call_id, problems=exc.in_korean(), status_code=422
        )
    log.info("call %s: number revealed to user %s (access log %s)", call_id, user.user_id, row.id)
    return await _call_page(
        request, session, vault, user, directory, call_id, reason=row.reason, revealed=format_national(number)
    )


# -- the access log -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessRow:
    id: int
    at: str
    who: str
    action: str
    record: str
    href: str | None
    reason: str


def _record_text(kind: str, record_id: int) -> tuple[str, str | None]:
    if kind == "call_record":
        return f"통화 #{record_id}", f"/admin/calls/{record_id}"
    if kind == "optout":
        return (f"수신 거부 변경 #{record_id}" if record_id else "수신 거부 조회"), None
    if kind == "spoof_report":
        return f"사칭 신고 #{record_id}", None
    return f"{kind} #{record_id}", None


async def _about_agency(session: AsyncSession, kind: str, record_id: int, agency_id: int | None) -> bool:
    """Whether an access-log row of a platform admin is about this agency's data (a call, a
    spoof report); their opt-out rows name no agency of their own and stay out of its log."""
    if kind == "call_record":
        record = await call_service.get_call(session, record_id)
        return record is not None and record.agency_id == agency_id
    if kind == "spoof_report":
        report = await verify_service.get_report(session, record_id)
        return report is not None and report.agency_id == agency_id
    return False


@router.get("/access-log")
async def access_log(request: Request, session: SessionDep, user: CurrentAdmin, before: int = 0) -> Response:
    """Who saw or changed citizens' data, when and why (never the number itself).

    An agency admin sees what their agency's accounts did, and what platform admins did to the
    agency's calls and spoof reports; a platform admin sees every account's rows.
    """
    everyone = await user_service.list_users(session)
    platform_ids = {u.id for u in everyone if u.role == user_service.PLATFORM_ADMIN}
    visible = [
        u for u in everyone if user.is_platform_admin or u.agency_id == user.agency_id or u.id in platform_ids
    ]
    names = {u.id: f"{u.display_name} ({u.email})" for u in visible}
    entries = await audit_service.access_log(
        session,
        limit=PAGE_SIZE + 1,
        user_ids=None if user.is_platform_admin else list(names),
        before_id=before if 0 < before <= 2**31 - 1 else None,
    )
    rows = []
    for e in entries[:PAGE_SIZE]:
        if not user.is_platform_admin and e.user_id in platform_ids:
            if not await _about_agency(session, e.record_kind, e.record_id, user.agency_id):
                continue
        text, href = _record_text(e.record_kind, e.record_id)
        rows.append(
            AccessRow(
                e.id,
                seoul(e.created_at),
                names.get(e.user_id, f"사용자 #{e.user_id}"),
                ACTION_NAMES.get(e.action, e.action),
                text,
                href,
                e.reason,
            )
        )
    return page(
        request,
        "access_log.html",
        principal=user,
        name=await user_name(session, user),
        active="access-log",
        rows=rows,
        next_before=entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None,
        paged=before > 0,
    )
