"""The public call check `/verify`: Korean, mobile-first, plain HTML forms (no JavaScript).

- The number check ("is this the city's number?") is a POST: the number a citizen types never
  goes into a URL (access logs, browser history, Referer). A GET still carrying `?number=` from an
  old bookmark shows the empty form and looks nothing up.
- The code check stays a GET (`?code=`): the code is a random per-call code, not a phone
  number, and its answer only shows the called number masked.
- Both checks count against the same per-IP lookup limit; the empty form does not.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from lettering.audit import service as audit_service
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.deps import SessionDep, SettingsDep, VaultDep, provided
from lettering.core.pages import assets as citizen_assets
from lettering.core.pages import citizen_page
from lettering.core.templates import render
from lettering.snapshots.deps import SnapshotsDep
from lettering.verify import service

BAD_FORM = "입력 내용을 읽을 수 없습니다. 화면을 새로 고친 뒤 다시 입력해 주세요."

router = APIRouter(include_in_schema=False)
# The citizen pages' stylesheets (lettering/core/pages.py), with the page every citizen can reach.
router.include_router(citizen_assets)


LimitsDep = Annotated[service.VerifyLimits, Depends(provided(service.VerifyLimits))]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _page(home: str | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page; `home` is the service's own agency (None on a platform of several)."""
    code_result = context.get("code_result") or {}
    number_result = context.get("number_result") or {}
    agency = service.agency_in_question(
        home, code_result.get("call"), number_result.get("lookup"), context.get("report_result")
    )
    values: dict[str, Any] = {
        "agency": agency,
        "code_value": "",
        "number_value": "",
        "code_result": None,
        "number_result": None,
        "report_result": None,
        "report_error": None,
        "number_error": None,
    }
    values.update(context)
    return citizen_page(render("verify.html", **values), status_code)


def _too_many(retry_after_s: int) -> HTMLResponse:
    html = render("too_many_requests.html", minutes=max(1, math.ceil(retry_after_s / 60)))
    return citizen_page(html, 429, headers={"Retry-After": str(retry_after_s)})


async def _form_fields(request: Request) -> dict[str, str] | None:
    """The posted form's text fields; None when the body is not a form Starlette can parse."""
    try:
        async with request.form() as form:  # closes (deletes) any file part on the way out
            return {k: v for k, v in form.items() if isinstance(v, str)}
    except HTTPException:  # a malformed multipart body (Starlette would answer it in JSON)
        return None


@router.api_route("/verify", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def verify_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    limits: LimitsDep,
    snapshots: SnapshotsDep,
    code: str | None = None,
) -> HTMLResponse:
    """The forms; with `code`, the call it belongs to (counts against the limit).

    Any `number` in the query is ignored on purpose: the number check is a POST only."""
    home = service.home_agency(snapshots.current.directory)
    code = (code or "").strip()[:40]
    if not code:
        return _page(home)
    wait = await limits.lookups.hit(_client(request))
    if wait is not None:
        return _too_many(wait)
    normalized = service.normalize_code(code)
    call = None
    if normalized:
        call = await service.check_code(session, vault, normalized, utcnow(), settings.retention_days)
    return _page(home, code_value=code, code_result={"invalid": normalized is None, "call": call})


@router.post("/verify", response_class=HTMLResponse)
async def check_number(
    request: Request, session: SessionDep, limits: LimitsDep, snapshots: SnapshotsDep
) -> HTMLResponse:
    """ "Is this the city's number, and whose?": the directory's answer (counts against the limit)."""
    home = service.home_agency(snapshots.current.directory)
    fields = await _form_fields(request)
    if fields is None:
        return _page(home, 400, number_error=BAD_FORM)
    number = fields.get("number", "").strip()[:40]
    if not number:
        return _page(home, 400, number_error="확인할 전화번호를 넣어 주세요. 예: 031-5180-2114")
    wait = await limits.lookups.hit(_client(request))
    if wait is not None:
        return _too_many(wait)
    try:
        lookup = await service.lookup_number(session, number)
    except service.InvalidNumber:
        return _page(home, 400, number_value=number, number_result={"invalid": True, "lookup": None})
    return _page(home, number_value=number, number_result={"invalid": False, "lookup": lookup})


def _seen_at(raw: str) -> datetime | None:
    """'2026-11-24T14:02' (a datetime-local field, Asia/Seoul) or '2026-11-24 14:02'; None if blank."""
    text = raw.strip().replace("T", " ")
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=SEOUL)
        except ValueError:
            continue
    raise ValueError("not a date and time")


@router.post("/verify/report", response_class=HTMLResponse)
async def report_spoofing(
    request: Request, session: SessionDep, settings: SettingsDep, limits: LimitsDep, snapshots: SnapshotsDep
) -> HTMLResponse:
    """ "이 전화는 시청이 건 것이 아닙니다": store the report (hashed IP only) and warn the agency."""
    home = service.home_agency(snapshots.current.directory)
    client = _client(request)
    wait = await limits.reports.hit(client)
    if wait is not None:
        return _too_many(wait)
    fields = await _form_fields(request)
    if fields is None:
        return _page(home, 400, report_error=BAD_FORM)
    shown = fields.get("shown_number", "").strip()[:40]
    try:
        seen_at = _seen_at(fields.get("seen_at", "")[:40])
    except ValueError:
        return _page(home, 400, report_error="전화 받은 때의 형식이 올바르지 않습니다. 예: 2026-11-24 14:02")
    if seen_at is not None and seen_at > utcnow():
        return _page(home, 400, report_error="전화 받은 때가 미래입니다. 다시 확인해 주세요.")
    ip_hash = audit_service.hash_client(settings.phone_hash_key.get_secret_value(), "ip", client)
    try:
        result = await service.report_spoof(
            session, shown_number=shown, seen_at=seen_at, note=fields.get("note"), ip_hash=ip_hash
        )
    except service.InvalidNumber:
        await session.rollback()  # nothing of a refused report is kept
        return _page(home, 400, report_error="표시된 전화번호의 형식이 올바르지 않습니다. 예: 031-5180-2114")
    return _page(home, report_result=result)
