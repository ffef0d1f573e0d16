"""The console's pages of citizens' requests: opt-outs taken on a citizen's request (look a number
up, see its choice and history, change it with a reason) and the citizens' "this wasn't us"
spoof reports (list, mark handled). Agency admins only (platform admins: every agency), the API's
`CurrentAdmin` rule (POST /v1/optouts).

A typed number is only ever hashed with the service's key (`vault.hashes`, the opt-out index's
key) to find the citizen, and shown masked; it is never stored, logged or put in an address (the
lookup is a form post). The change form carries it only sealed (AES-GCM by the vault) inside a
signed, short-lived token, so the change can send the legally required result notice to the
number the citizen gave, as the API does. The lookup and the change are both written to the
access log with the admin's reason.

A spoof report marked handled is recorded as an append-only access-log row (action
`spoof_handled`: who, when, the memo); the report table itself has no column for it, and adding
one needs a migration.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.audit import service as audit_service
from lettering.console.calls import seoul
from lettering.console.pages import (
    PREFIX,
    ConsoleRoute,
    agency_id_by_code,
    error_page,
    page,
    see_other,
    user_name,
)
from lettering.core.db import utcnow
from lettering.core.deps import SessionDep, SettingsDep, VaultDep
from lettering.core.errors import AppError, NotFound
from lettering.core.ids import RowId
from lettering.core.phone import (
    NotAPhoneNumber,
    PhoneVault,
    format_national,
    hash_prefix,
    mask_national,
    parse_number,
)
from lettering.core.settings import Settings
from lettering.core.templates import particle_for
from lettering.directory.service import DirectorySnapshot
from lettering.optout import service as optout_service
from lettering.snapshots.deps import SnapshotsDep
from lettering.users import service as user_service
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentAdmin, Principal, ensure_in_scope
from lettering.verify import service as verify_service

log = logging.getLogger(__name__)

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

SUBJECT_SALT = "console-optout"
SUBJECT_MAX_AGE_S = 15 * 60  # the change form is good for a quarter of an hour after the lookup
EVERY_AGENCY_CODE = "*"
VIA_NAMES = {"link": "시민 (링크)", "admin": "관리자 (요청 접수)"}
NOTICE_NAMES = {
    "queued": "결과 안내 발송 대기",
    "not_sent": "결과 안내를 보낼 번호가 없음",
    "unchanged": "바뀐 것이 없어 안내하지 않음",
}
MIN_REASON, MAX_REASON = 2, 300


class Refused(AppError):
    status_code = 422


def _reason(raw: str) -> str:
    why = raw.strip()
    if not MIN_REASON <= len(why) <= MAX_REASON:
        raise Refused("reason required", korean="사유를 2자 이상 300자 이하로 입력해 주세요 (예: 전화 요청)")
    return why


def _mobile(raw: str) -> str:
    """The typed number in E.164, if it is a Korean mobile number (the API's rule)."""
    try:
        number = parse_number(raw.strip()) if 0 < len(raw.strip()) <= 32 else None
    except (NotAPhoneNumber, ValueError):
        number = None
    if number is None or not number.is_kr_mobile:
        raise Refused("not a mobile number", korean="휴대전화 번호가 아닙니다 (예: 010-1234-5678)")
    return number.e164


# -- the change form's token: the citizen's hash, the agency and the sealed number ---------------


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.link_secret.get_secret_value(), salt=SUBJECT_SALT)


def _subject_token(settings: Settings, vault: PhoneVault, e164: str, agency_id: int) -> str:
    sealed = vault.seal(e164)
    payload = [agency_id, base64.b64encode(sealed.ciphertext).decode(), sealed.key_version]
    return str(_serializer(settings).dumps(payload))


def _read_subject(settings: Settings, vault: PhoneVault, token: str) -> tuple[str, int] | None:
    """(E.164 number, agency id) of a token this service made within its lifetime, or None."""
    try:
        data = _serializer(settings).loads(token[:2000], max_age=SUBJECT_MAX_AGE_S)
        agency_id, ciphertext, key_version = data
        number = vault.open(base64.b64decode(ciphertext), int(key_version))
    except (BadData, InvalidTag, ValueError, TypeError):  # tampered, expired, retired key, malformed
        return None
    if not isinstance(agency_id, int) or agency_id < 0:
        return None
    return number, agency_id


# -- the lookup -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    at: str
    target: str
    change: str
    via: str
    who: str
    reason: str
    notice: str


def _agencies(directory: DirectorySnapshot) -> list[tuple[str, str]]:
    return sorted(((a.code, a.name) for a in directory.agencies.values()), key=lambda a: a[1])


def _agency_name(directory: DirectorySnapshot, agency_id: int) -> str:
    if agency_id == optout_service.ALL_AGENCIES:
        return optout_service.EVERY_AGENCY
    agency = directory.agencies.get(agency_id)
    return agency.name if agency is not None else f"기관 #{agency_id}"


def _target_agency(user: Principal, directory: DirectorySnapshot, code: str) -> int:
    """The agency the lookup is for: the admin's own; a platform admin's choice ('*': every agency)."""
    if not user.is_platform_admin:
        assert user.agency_id is not None
        return user.agency_id
    if code == EVERY_AGENCY_CODE:
        return optout_service.ALL_AGENCIES
    found = agency_id_by_code(directory, code)
    if found is None:
        raise Refused("agency required", korean="대상 기관을 골라 주세요")
    return found


async def _history(
    session: AsyncSession, user: Principal, directory: DirectorySnapshot, hashes: tuple[str, ...]
) -> tuple[list[HistoryRow], int]:
    """The citizen's changes this admin may see (their agency's and the platform-wide ones; a
    platform admin, all), newest first; and the newest change's id (0: none)."""
    changes = [h for callee_hash in hashes for h in await optout_service.history_of(session, callee_hash)]
    if not user.is_platform_admin:
        changes = [h for h in changes if h.agency_id in (user.agency_id, optout_service.ALL_AGENCIES)]
    changes.sort(key=lambda h: (h.created_at, h.id or 0), reverse=True)
    names: dict[int, str] = {}
    rows = []
    for h in changes:
        if h.admin_id is not None and h.admin_id not in names:
            admin = await user_service.get_user(session, h.admin_id)
            names[h.admin_id] = admin.display_name if admin is not None else f"사용자 #{h.admin_id}"
        rows.append(
            HistoryRow(
                at=seoul(h.created_at),
                target=_agency_name(directory, h.agency_id),
                change=f"{optout_service.SCOPE_LABELS.get(h.from_scope, h.from_scope)} → "
                f"{optout_service.SCOPE_LABELS.get(h.to_scope, h.to_scope)}",
                via=VIA_NAMES.get(h.via, h.via),
                who=names.get(h.admin_id, "") if h.admin_id is not None else "시민 본인",
                reason=h.reason or "",
                notice=NOTICE_NAMES.get(h.notice or "", h.notice or "-"),
            )
        )
    return rows, (changes[0].id or 0) if changes else 0


async def _scope_of(
    session: AsyncSession, hashes: tuple[str, ...], agency_id: int
) -> tuple[optout_service.Scope, optout_service.Scope]:
    """(the agency's own choice, the platform-wide choice) under the newest hash holding one."""
    own: optout_service.Scope | None = None
    every: optout_service.Scope | None = None
    for callee_hash in hashes:
        scopes = await optout_service.current_scopes(session, callee_hash, agency_id)
        if own is None and agency_id in scopes:
            own = scopes[agency_id]
        if every is None and optout_service.ALL_AGENCIES in scopes:
            every = scopes[optout_service.ALL_AGENCIES]
    return own or "none", every or "none"


async def _lookup_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    vault: PhoneVault,
    user: Principal,
    directory: DirectorySnapshot,
    *,
    e164: str | None = None,
    agency_id: int = 0,
    problems: list[str] | None = None,
    notice: str = "",
    status_code: int = 200,
    agency_code: str = "",
) -> Response:
    found = None
    if e164 is not None:
        hashes = vault.hashes(e164)
        history, _ = await _history(session, user, directory, hashes)
        own, every = await _scope_of(session, hashes, agency_id)
        found = {
            "masked": mask_national(e164),
            "target": _agency_name(directory, agency_id),
            "own": own,
            "every": every,
            "history": history,
            "token": _subject_token(settings, vault, e164, agency_id),
        }
    return page(
        request,
        "optouts.html",
        principal=user,
        name=await user_name(session, user),
        active="optouts",
        found=found,
        problems=problems or [],
        notice=notice,
        agencies=_agencies(directory) if user.is_platform_admin else [],
        agency_code=agency_code,
        scope_labels=optout_service.SCOPE_LABELS,
        status_code=status_code,
    )


@router.get("/optouts")
async def optouts(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    user: CurrentAdmin,
    snapshots: SnapshotsDep,
) -> Response:
    return await _lookup_page(request, session, settings, vault, user, snapshots.current.directory)


@router.post("/optouts/lookup")
async def lookup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    user: CurrentAdmin,
    snapshots: SnapshotsDep,
    number: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A citizen's choice and history, found by the keyed hash of the number typed; access-logged."""
    directory = snapshots.current.directory
    try:
        e164 = _mobile(number)
        why = _reason(reason)
        agency_id = _target_agency(user, directory, agency)
    except Refused as exc:
        return await _lookup_page(
            request,
            session,
            settings,
            vault,
            user,
            directory,
            problems=exc.in_korean(),
            status_code=422,
            agency_code=agency,
        )
    _, newest = await _history(session, user, directory, vault.hashes(e164))
    row = await audit_service.log_access(session, user.user_id, "optout_lookup", "optout", newest, why)
    log.info(
        "opt-out lookup of %s by user %s (access log %s)", hash_prefix(vault.hash(e164)), user.user_id, row.id
    )
    return await _lookup_page(
        request, session, settings, vault, user, directory, e164=e164, agency_id=agency_id, agency_code=agency
    )


@router.post("/optouts/change")
async def change(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    user: CurrentAdmin,
    snapshots: SnapshotsDep,
    subject: Annotated[str, Form(max_length=2000)] = "",
    scope: Annotated[str, Form(max_length=8)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The choice changed as the citizen asked: the opt-out service's rules (history via admin,
    the result notice), and the access log with the reason, as `POST /v1/optouts` does."""
    directory = snapshots.current.directory
    read = _read_subject(settings, vault, subject)
    if read is None:
        return await _lookup_page(
            request,
            session,
            settings,
            vault,
            user,
            directory,
            problems=["조회한 지 15분이 지났거나 올바르지 않은 요청입니다. 번호를 다시 조회해 주세요"],
            status_code=422,
        )
    e164, agency_id = read
    if agency_id == optout_service.ALL_AGENCIES:
        if not user.is_platform_admin:
            return error_page(request, 403, ["모든 기관에 대한 수신 거부는 플랫폼 관리자만 바꿀 수 있습니다"])
    else:
        ensure_in_scope(user, agency_id)
    to_scope = optout_service.as_scope(scope)
    try:
        if to_scope is None:
            raise Refused("scope required", korean="바꿀 수신 설정을 골라 주세요")
        why = _reason(reason)
    except Refused as exc:
        return await _lookup_page(
            request,
            session,
            settings,
            vault,
            user,
            directory,
            e164=e164,
            agency_id=agency_id,
            problems=exc.in_korean(),
            status_code=422,
        )
    key = settings.phone_hash_key.get_secret_value()
    client = request.client.host if request.client else "unknown"
    result = await optout_service.apply_change(
        session,
        vault,
        subject=optout_service.OptoutSubject(vault.hash(e164), agency_id),
        to_scope=to_scope,
        via="admin",
        now=utcnow(),
        admin_id=user.user_id,
        ip_hash=audit_service.hash_client(key, "ip", client),
        user_agent_hash=audit_service.hash_client(key, "ua", request.headers.get("user-agent", "")),
        number_e164=e164,
        reason=why,
    )
    label = optout_service.SCOPE_LABELS[to_scope]
    if result.change.history_id is not None:
        await audit_service.log_access(
            session, user.user_id, "optout_change", "optout", result.change.history_id, why
        )
        notice = (
            f"수신 설정을 「{label}」{particle_for(label, '으로')} 바꿨습니다. {NOTICE_NAMES[result.notice]}."
        )
    else:
        notice = f"이미 「{label}」 상태라 바뀐 것이 없습니다."
    return await _lookup_page(
        request, session, settings, vault, user, directory, e164=e164, agency_id=agency_id, notice=notice
    )


# -- spoof reports --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportRow:
    id: int
    at: str
    agency: str
    shown: str
    seen_at: str
    note: str
    handled: str | None


SPOOF_HANDLED = "spoof_handled"


@router.get("/spoof-reports")
async def spoof_reports(
    request: Request, session: SessionDep, user: CurrentAdmin, snapshots: SnapshotsDep, before: int = 0
) -> Response:
    """The agency's "this wasn't us" reports, newest first, with who marked each handled and when."""
    directory = snapshots.current.directory
    reports = await verify_service.list_reports(
        session,
        None if user.is_platform_admin else user.agency_id,
        before_id=before if 0 < before <= 2**31 - 1 else None,
        limit=51,
    )
    handled = await audit_service.entries_for(session, SPOOF_HANDLED, "spoof_report", [r.id for r in reports])
    names: dict[int, str] = {}
    for done in handled.values():
        if done.user_id not in names:
            who = await user_service.get_user(session, done.user_id)
            names[done.user_id] = who.display_name if who is not None else f"사용자 #{done.user_id}"
    rows = []
    for r in reports[:50]:
        entry = handled.get(r.id)
        rows.append(
            ReportRow(
                id=r.id,
                at=seoul(r.created_at),
                agency=_agency_name(directory, r.agency_id) if r.agency_id is not None else "해당 기관 없음",
                shown=format_national(r.shown_number) if r.shown_number.startswith("+") else r.shown_number,
                seen_at=seoul(r.seen_at),
                note=r.note or "",
                handled=f"{names[entry.user_id]} · {seoul(entry.created_at)}"
                + (f" · {entry.reason}" if entry.reason and entry.reason != DEFAULT_MEMO else "")
                if entry is not None
                else None,
            )
        )
    return page(
        request,
        "spoof_reports.html",
        principal=user,
        name=await user_name(session, user),
        active="spoof-reports",
        rows=rows,
        next_before=reports[49].id if len(reports) > 50 else None,
        paged=before > 0,
    )


DEFAULT_MEMO = "처리 완료"


@router.post("/spoof-reports/{report_id}/handled")
async def mark_handled(
    report_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentAdmin,
    memo: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Mark one report handled: who and when, in the append-only access log; once only."""
    report = await verify_service.get_report(session, report_id)
    if report is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(user, report.agency_id)
    done = await audit_service.entries_for(session, SPOOF_HANDLED, "spoof_report", [report_id])
    if report_id in done:
        return error_page(request, 409, ["이미 처리한 신고입니다"])
    await audit_service.log_access(
        session, user.user_id, SPOOF_HANDLED, "spoof_report", report_id, memo.strip() or DEFAULT_MEMO
    )
    return see_other(f"{PREFIX}/spoof-reports#report-{report_id}")
