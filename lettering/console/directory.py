"""The console's 조직·내선 (directory) pages: search the agency's extensions, edit the guidance
phrases (each department's and the agency default), export the directory as CSV, and import a
CSV after a preview of what it changes (thin: read the form, call the directory service, render
a page; the phrases' and the file's rules and refusals are the service's).

Who may do what, from the roles of lettering/users:
- every role reads: editors, approvers and agency admins their own agency's directory (search,
  a department's page, the CSV export); a platform admin chooses the agency (`?agency=CODE`);
- only agency admins (and platform admins, for the agency they chose) change it: the guidance
  phrases and the CSV import, preview included. An editor or approver gets a 403 page.
Another agency's directory is never shown: its code, a department of it, or a preview made for it
answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from lettering.console.pages import PREFIX, ConsoleRoute, error_page, page, see_other, user_name
from lettering.core.deps import SessionDep, SettingsDep
from lettering.core.errors import NotFound
from lettering.core.settings import Settings
from lettering.directory import service as directory_service
from lettering.directory.service import AgencyInfo, DirectoryConflict, GuidanceRefused, ImportPreview
from lettering.users.deps import NOT_FOUND_MESSAGE, CurrentUser, Principal, ensure_in_scope, resolve_agency

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

BASE = f"{PREFIX}/directory"
DepartmentCode = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]{1,32}$")]
PendingId = Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]{32}$")]
AgencyField = Annotated[str, Form(max_length=32)]
ONLY_ADMINS = "조직·내선은 기관 관리자만 바꿀 수 있습니다. 편집자와 승인자는 조회만 할 수 있습니다"
PENDING_GONE = (
    "이 미리보기는 이미 적용했거나 1시간이 지나 만료되었습니다."
    " 파일을 다시 올려 미리보기를 새로 만들어 주세요"
)


def pending_imports(settings: Settings) -> directory_service.PendingImports:
    """Uploads awaiting 적용 live next to the campaign media (a folder every worker shares)."""
    return directory_service.PendingImports(FilePath(settings.media_dir) / "directory-imports")


def _query(agency: AgencyInfo, user: Principal, **more: object) -> str:
    """The query string that keeps a platform admin on the agency they chose."""
    parts = {"agency": agency.code} if user.is_platform_admin else {}
    parts.update({k: str(v) for k, v in more.items() if v not in ("", None)})
    return f"?{urlencode(parts)}" if parts else ""


async def _acting_agency(session: AsyncSession, user: Principal, code: str) -> AgencyInfo | None:
    """The agency the page is for: the user's own (another code is a 404), or the one a platform
    admin chose (None while they have not chosen)."""
    if user.is_platform_admin and not code:
        return None
    agency_id = await resolve_agency(session, user, code.strip() or None)
    agency = await directory_service.agency_info(session, agency_id)
    if agency is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return agency


async def _chosen_agency(session: AsyncSession, user: Principal, code: str) -> AgencyInfo:
    agency = await _acting_agency(session, user, code)
    if agency is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    return agency


# -- search and the agency default ---------------------------------------------------------------


async def _directory_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    agency_code: str,
    *,
    q: str = "",
    page_number: int = 1,
    notice: str = "",
    problems: list[str] | None = None,
    typed_default: str | None = None,
    status_code: int = 200,
) -> Response:
    agency = await _acting_agency(session, user, agency_code)
    name = await user_name(session, user)
    if agency is None:
        agencies = await directory_service.list_agencies(session)
        return page(
            request,
            "directory_choose.html",
            principal=user,
            name=name,
            active="directory",
            agencies=agencies,
            status_code=status_code,
        )
    results = await directory_service.search_directory(session, agency.id, q, page_number)
    return page(
        request,
        "directory.html",
        principal=user,
        name=name,
        active="directory",
        agency=agency,
        platform=user.is_platform_admin,
        q=q,
        results=results,
        may_change=user.is_admin,
        notice=notice,
        problems=problems or [],
        default_value=agency.default_guidance if typed_default is None else typed_default,
        default_warnings=directory_service.guidance_warnings(agency.default_guidance),
        guidance_max=directory_service.PHRASE_MAX,
        keep=_query(agency, user),
        page_link=lambda n: f"{BASE}{_query(agency, user, q=q, page=n)}",
        status_code=status_code,
    )


@router.get("/directory")
async def directory(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    agency: str = "",
    q: str = "",
    page_number: Annotated[int, Query(alias="page")] = 1,
    saved: str = "",
    added: int = -1,
    updated: int = -1,
    removed: int = -1,
) -> Response:
    """The search: extension, caller number in any form, department name or code; 50 a page."""
    notice = ""
    if saved == "default":
        notice = "기관 기본 안내 문구를 저장했습니다. 다음 통화부터 나갑니다"
    elif min(added, updated, removed) >= 0:
        notice = f"조직도를 적용했습니다: 추가 {added}건, 변경 {updated}건, 삭제 {removed}건"
    return await _directory_page(
        request,
        session,
        user,
        agency[:32],
        q=q[:100],
        page_number=max(1, min(page_number, 10_000)),
        notice=notice,
    )


@router.post("/directory/guidance")
async def save_default_guidance(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    agency: AgencyField = "",
    guidance: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The agency default (what a department without a phrase of its own shows)."""
    chosen = await _chosen_agency(session, user, agency)
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    try:
        await directory_service.set_agency_default_guidance(session, chosen.id, guidance)
    except GuidanceRefused as exc:
        await session.rollback()
        return await _directory_page(
            request,
            session,
            user,
            agency,
            problems=exc.in_korean(),
            typed_default=guidance,
            status_code=422,
        )
    return see_other(f"{BASE}{_query(chosen, user, saved='default')}")


# -- a department and its guidance ---------------------------------------------------------------


async def _department_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    code: str,
    *,
    notice: str = "",
    problems: list[str] | None = None,
    typed: str | None = None,
    status_code: int = 200,
) -> Response:
    department = await directory_service.department_info(session, code)
    if department is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(user, department.agency_id)
    agency = await directory_service.agency_info(session, department.agency_id)
    if agency is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    in_force = department.guidance or agency.default_guidance
    return page(
        request,
        "directory_department.html",
        principal=user,
        name=await user_name(session, user),
        active="directory",
        agency=agency,
        department=department,
        in_force=in_force,
        own=bool(department.guidance),
        warnings=directory_service.guidance_warnings(in_force),
        may_change=user.is_admin,
        value=department.guidance if typed is None else typed,
        guidance_max=directory_service.PHRASE_MAX,
        back=f"{BASE}{_query(agency, user)}",
        notice=notice,
        problems=problems or [],
        status_code=status_code,
    )


@router.get("/directory/departments/{code}")
async def department(
    code: DepartmentCode, request: Request, session: SessionDep, user: CurrentUser, saved: int = 0
) -> Response:
    notice = "안내 문구를 저장했습니다. 다음 통화부터 나갑니다" if saved else ""
    return await _department_page(request, session, user, code, notice=notice)


@router.post("/directory/departments/{code}")
async def save_department_guidance(
    code: DepartmentCode,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    guidance: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A department's own phrase; empty: the department shows the agency default."""
    department = await directory_service.department_info(session, code)
    if department is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    ensure_in_scope(user, department.agency_id)
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    try:
        await directory_service.set_department_guidance(session, code, guidance)
    except GuidanceRefused as exc:
        await session.rollback()
        return await _department_page(
            request, session, user, code, problems=exc.in_korean(), typed=guidance, status_code=422
        )
    return see_other(f"{BASE}/departments/{code}?saved=1")


# -- CSV export ------------------------------------------------------------------------------------


@router.get("/directory/export.csv")
async def export(session: SessionDep, user: CurrentUser, agency: str = "") -> Response:
    """The agency's directory in the import's columns: UTF-8 with BOM, CRLF (Excel reads it)."""
    chosen = await _chosen_agency(session, user, agency[:32])
    _, data = await directory_service.export_directory(session, chosen.id)
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="directory-{chosen.code}.csv"'},
    )


# -- CSV import: upload, preview, apply --------------------------------------------------------------


async def _import_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    agency: AgencyInfo,
    *,
    preview: ImportPreview | None = None,
    pending_id: str = "",
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "directory_import.html",
        principal=user,
        name=await user_name(session, user),
        active="directory",
        agency=agency,
        platform=user.is_platform_admin,
        preview=preview,
        pending_id=pending_id,
        shown=directory_service.SHOWN_CHANGES,
        max_mb=directory_service.MAX_UPLOAD_BYTES // (1024 * 1024),
        back=f"{BASE}{_query(agency, user)}",
        export=f"{BASE}/export.csv{_query(agency, user)}",
        problems=problems or [],
        status_code=status_code,
    )


@router.get("/directory/import")
async def import_form(request: Request, session: SessionDep, user: CurrentUser, agency: str = "") -> Response:
    chosen = await _chosen_agency(session, user, agency[:32])
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    return await _import_page(request, session, user, chosen)


@router.post("/directory/import")
async def preview_import(
    request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    """The uploaded file read and compared with the directory; nothing is written. A file that can
    be applied is kept (random id, with the agency and the user) for the page's 적용."""
    limit = directory_service.MAX_UPLOAD_BYTES
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=limit)
    except (MultiPartException, HTTPException):
        form = None
    try:
        code = form.get("agency") if form is not None else ""
        chosen = await _chosen_agency(session, user, code[:32] if isinstance(code, str) else "")
        if not user.is_admin:
            return error_page(request, 403, [ONLY_ADMINS])
        upload = form.get("file") if form is not None else None
        if form is None:
            problem = (
                f"올린 파일을 읽을 수 없습니다. {limit // (1024 * 1024)}MB 이하의 CSV 파일을 골라 주세요"
            )
            return await _import_page(request, session, user, chosen, problems=[problem], status_code=422)
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _import_page(
                request, session, user, chosen, problems=["CSV 파일을 골라 주세요"], status_code=422
            )
        data = await upload.read(limit + 1)
        if len(data) > limit:
            problem = f"파일이 {limit // (1024 * 1024)}MB를 넘습니다. 한 기관의 조직도만 담아 주세요"
            return await _import_page(request, session, user, chosen, problems=[problem], status_code=422)
    finally:
        if form is not None:
            await form.close()
    preview = await directory_service.preview_import(session, chosen.id, data)
    pending_id = ""
    if preview.applicable and preview.changed:
        pending_id = pending_imports(settings).save(chosen.id, user.user_id, preview, data)
    return await _import_page(
        request,
        session,
        user,
        chosen,
        preview=preview,
        pending_id=pending_id,
        status_code=200 if preview.applicable else 422,
    )


@router.post("/directory/import/{pending_id}/apply")
async def apply_import(
    pending_id: PendingId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    agency: AgencyField = "",
) -> Response:
    """Apply exactly the previewed file, unless the directory changed since the preview."""
    chosen = await _chosen_agency(session, user, agency)
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    store = pending_imports(settings)
    pending = store.load(pending_id, chosen.id, user.user_id)
    if pending is None:
        return await _import_page(request, session, user, chosen, problems=[PENDING_GONE], status_code=409)
    try:
        applied = await directory_service.apply_import(session, chosen.id, pending.data, pending.fingerprint)
    except (DirectoryConflict, GuidanceRefused) as exc:
        await session.rollback()
        store.discard(pending_id)
        return await _import_page(
            request, session, user, chosen, problems=exc.in_korean(), status_code=exc.status_code
        )
    store.discard(pending_id)
    counts = {"added": len(applied.added), "updated": len(applied.updated), "removed": len(applied.removed)}
    return see_other(f"{BASE}{_query(chosen, user, **counts)}")
