"""The console's PBX page (/admin/pbx), for agency admins (their agency's PBXs) and platform admins
(every agency's): the registrations with their last event and the last 24 hours' setups and ends,
registering a PBX (its generated secret or token shown once), rotating its secret or token with a
grace during which the old one still verifies, and disabling or enabling it. The rules are the
webhook package's own (`lettering.webhook.admin`), the same as `lettering pbx …`."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.console.pages import ConsoleRoute, error_page, page, user_name
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.deps import SessionDep, VaultDep
from lettering.core.errors import AppError
from lettering.directory import service as directory_service
from lettering.snapshots.deps import SnapshotsDep
from lettering.users.deps import CurrentUser, Principal
from lettering.webhook import admin as pbx_admin

log = logging.getLogger(__name__)

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

ONLY_ADMINS = "PBX 관리는 기관 관리자만 할 수 있습니다"
AUTH_NAMES = {"signed": "서명 (Standard Webhooks)", "token": "토큰 (허용 네트워크)"}
# The grace choices the page offers, in hours (the CLI takes any value from 0 to 168).
GRACE_CHOICES = (("1", "1시간"), ("24", "24시간"), ("168", "7일"), ("0", "즉시 (기존 값 바로 중지)"))
_PBX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


async def _page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    snapshots: SnapshotsDep,
    *,
    problems: list[str] | None = None,
    shown_once: str = "",
    shown_for: str = "",
    shown_note: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    rows = [
        r
        for r in await pbx_admin.list_pbx(session)
        if user.is_platform_admin or r.agency_id == user.agency_id
    ]
    activity = await pbx_admin.pbx_activity(session, utcnow() - timedelta(hours=24))
    agencies = sorted(snapshots.current.directory.agencies.values(), key=lambda a: a.name)
    names = {a.id: a.name for a in agencies}
    return page(
        request,
        "pbx.html",
        principal=user,
        name=await user_name(session, user),
        active="pbx",
        pbxs=rows,
        activity=activity,
        agency_names=names,
        agencies=[a for a in agencies if user.is_platform_admin or a.id == user.agency_id],
        auth_names=AUTH_NAMES,
        grace_choices=GRACE_CHOICES,
        problems=problems or [],
        shown_once=shown_once,
        shown_for=shown_for,
        shown_note=shown_note,
        form=form or {},
        status_code=status_code,
    )


@router.get("/pbx")
async def pbx_list(
    request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    return await _page(request, session, user, snapshots)


async def _managed(session: AsyncSession, user: Principal, pbx_id: str) -> bool:
    """Whether this admin may change the PBX (another agency's is as unknown as a missing one)."""
    if not user.is_admin or not 1 <= len(pbx_id) <= 64:
        return False
    agency_id = await pbx_admin.pbx_agency(session, pbx_id)
    return agency_id is not None and (user.is_platform_admin or agency_id == user.agency_id)


@router.post("/pbx")
async def register(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    vault: VaultDep,
    pbx_id: Annotated[str, Form(max_length=200)] = "",
    auth_mode: Annotated[str, Form(max_length=16)] = "signed",
    hold_ms: Annotated[str, Form(max_length=12)] = "500",
    allowed_nets: Annotated[str, Form(max_length=2000)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A new PBX; its generated secret (or token) is shown once on the page that follows."""
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    form = {
        "pbx_id": pbx_id,
        "auth_mode": auth_mode,
        "hold_ms": hold_ms,
        "allowed_nets": allowed_nets,
        "agency": agency,
    }
    problems: list[str] = []
    pbx_id = pbx_id.strip()
    if not _PBX_ID.match(pbx_id):
        problems.append("PBX ID는 영문·숫자로 시작하고 영문·숫자·점·밑줄·하이픈만 쓸 수 있습니다 (64자 이내)")
    if not hold_ms.strip().isdigit():
        problems.append("대기 시간은 ms 단위 숫자로 입력해 주세요")
    if not user.is_platform_admin:
        codes = await directory_service.agency_codes(session, [user.agency_id or 0])
        agency = codes.get(user.agency_id or 0, "")
    elif not agency:
        problems.append("기관을 골라 주세요")
    if problems:
        return await _page(request, session, user, snapshots, problems=problems, form=form, status_code=422)
    nets = [n for n in re.split(r"[\s,]+", allowed_nets) if n] if auth_mode == "token" else []
    try:
        created = await pbx_admin.add_pbx(
            session,
            vault,
            pbx_id=pbx_id,
            agency_code=agency,
            auth_mode=auth_mode,
            allow_nets=nets,
            hold_ms=int(hold_ms.strip()),
        )
    except AppError as exc:
        await session.rollback()
        return await _page(
            request, session, user, snapshots, problems=exc.in_korean(), form=form, status_code=422
        )
    log.info("console: PBX %s registered for %s (%s) by user %s", pbx_id, agency, auth_mode, user.user_id)
    what = "서명 비밀키" if created.secret else "토큰"
    return await _page(
        request,
        session,
        user,
        snapshots,
        shown_once=created.secret or created.token or "",
        shown_for=f"「{pbx_id}」 PBX의 {what}",
        shown_note="PBX 설정에 넣어 주세요.",
    )


@router.post("/pbx/{pbx_id}/rotate")
async def rotate(
    pbx_id: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    vault: VaultDep,
    grace_hours: Annotated[str, Form(max_length=8)] = "24",
) -> Response:
    """A new secret (or token), shown once; the old one verifies for the chosen grace."""
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    if not await _managed(session, user, pbx_id):
        return error_page(request, 404)
    if grace_hours not in {value for value, _ in GRACE_CHOICES}:
        problems = ["유예 시간은 목록에 있는 값 중에서 골라 주세요"]
        return await _page(request, session, user, snapshots, problems=problems, status_code=422)
    try:
        rotated = await pbx_admin.rotate_pbx(session, vault, pbx_id, grace_hours=float(grace_hours))
    except AppError as exc:
        await session.rollback()
        return await _page(request, session, user, snapshots, problems=exc.in_korean(), status_code=422)
    log.info("console: PBX %s rotated (grace %s h) by user %s", pbx_id, grace_hours, user.user_id)
    what = "서명 비밀키" if rotated.secret else "토큰"
    if rotated.previous_until is not None:
        until = rotated.previous_until.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M")
        note = f"기존 값도 {until}까지는 통과하니 그 전에 PBX 설정을 바꿔 주세요."
    else:
        note = "기존 값은 바로 중지했습니다."
    return await _page(
        request,
        session,
        user,
        snapshots,
        shown_once=rotated.secret or rotated.token or "",
        shown_for=f"「{pbx_id}」 PBX의 새 {what}",
        shown_note=note,
    )


async def _switch(
    pbx_id: str,
    enabled: bool,
    request: Request,
    session: AsyncSession,
    user: Principal,
    snapshots: SnapshotsDep,
) -> Response:
    if not user.is_admin:
        return error_page(request, 403, [ONLY_ADMINS])
    if not await _managed(session, user, pbx_id):
        return error_page(request, 404)
    await pbx_admin.set_pbx_enabled(session, pbx_id, enabled)
    log.info("console: PBX %s %s by user %s", pbx_id, "enabled" if enabled else "disabled", user.user_id)
    return await _page(request, session, user, snapshots)


@router.post("/pbx/{pbx_id}/disable")
async def disable(
    pbx_id: str, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    return await _switch(pbx_id, False, request, session, user, snapshots)


@router.post("/pbx/{pbx_id}/enable")
async def enable(
    pbx_id: str, request: Request, session: SessionDep, user: CurrentUser, snapshots: SnapshotsDep
) -> Response:
    return await _switch(pbx_id, True, request, session, user, snapshots)
