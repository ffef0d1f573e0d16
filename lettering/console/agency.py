"""The console's agency settings (/admin/agency), for agency admins (platform admins choose the
agency): the holdout shares that let the dashboard prove the lift of lettering, per agency and
per department, and the promo freezes (election periods: identity only, emergency campaigns still
go). The rules are the directory service's and the API's (`lettering.directory.schemas`: 0-20 %
each and together, two decimals; a freeze's range, or the 공직선거법 §86 ⑤ preset from an election
day); this module reads the form and says each refusal in Korean.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.console.pages import (
    PREFIX,
    ConsoleRoute,
    departments_of,
    error_page,
    page,
    see_other,
    user_name,
)
from lettering.core.deps import SessionDep
from lettering.core.ids import RowId
from lettering.decision.arms import MAX_SHARE_BP
from lettering.directory import service as directory_service
from lettering.directory.schemas import bp
from lettering.snapshots.deps import SnapshotsDep
from lettering.users.deps import CurrentUser, Principal

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

MAX_PERCENT = MAX_SHARE_BP / 100


@dataclass
class SharesForm:
    holdout: str = "0"
    identity_only: str = "0"

    def shares(self) -> tuple[directory_service.HoldoutShares | None, list[str]]:
        """The shares in basis points, or what is wrong (each field named in Korean)."""
        problems: list[str] = []
        values: list[int] = []
        for label, raw in (("보류군 비율", self.holdout), ("기관·부서만 비율", self.identity_only)):
            text = raw.strip().removesuffix("%").strip() or "0"
            try:
                percent = float(text)
            except ValueError:
                problems.append(f"{label}: 숫자로 입력해 주세요 (예: 10 또는 2.5)")
                continue
            if not 0 <= percent <= MAX_PERCENT or percent != percent:
                problems.append(f"{label}: 0에서 {MAX_PERCENT:g}% 사이로 입력해 주세요")
            elif abs(round(percent * 100) - percent * 100) > 1e-6:
                problems.append(f"{label}: 소수점 둘째 자리까지만 쓸 수 있습니다")
            else:
                values.append(bp(percent))
        if not problems and sum(values) > MAX_SHARE_BP:
            problems.append(
                f"두 비율의 합은 {MAX_PERCENT:g}%를 넘을 수 없습니다 (통화의 80% 이상은 늘 레터링을 받습니다)"
            )
        if problems:
            return None, problems
        return directory_service.HoldoutShares(values[0], values[1]), []


@dataclass
class FreezeForm:
    reason: str = ""
    starts_on: str = ""
    ends_on: str = ""
    election_day: str = ""

    def values(self) -> tuple[tuple[date, date, str, date | None] | None, list[str]]:
        """(first day, last day, reason, election day) or what is wrong; an election day alone
        fills the range (180 days before it to the day), dates typed with it are kept."""
        problems: list[str] = []
        reason = self.reason.strip()
        if not 1 <= len(reason) <= 120:
            problems.append("사유를 1자 이상 120자 이하로 입력해 주세요 (예: 제9회 전국동시지방선거)")
        dates: dict[str, date | None] = {}
        for name, label in (("starts_on", "시작일"), ("ends_on", "종료일"), ("election_day", "선거일")):
            raw = getattr(self, name).strip()
            try:
                dates[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                problems.append(f"{label}: YYYY-MM-DD 형식으로 입력해 주세요")
        election = dates.get("election_day")
        first, last = dates.get("starts_on"), dates.get("ends_on")
        if election is not None:
            try:
                preset_first, preset_last = directory_service.election_freeze_range(election)
            except OverflowError:
                problems.append("선거일이 너무 이릅니다")
            else:
                first, last = first or preset_first, last or preset_last
        if not problems and (first is None or last is None):
            problems.append("시작일과 종료일을 입력하거나 선거일을 입력해 주세요")
        if not problems and first is not None and last is not None and last < first:
            problems.append("종료일이 시작일보다 앞섭니다")
        if problems or first is None or last is None:
            return None, problems
        return (first, last, reason, election), []


async def _agency(session: AsyncSession, user: Principal, code: str) -> tuple[int | None, str]:
    """(agency id, code) the page is for: the admin's own, or the one a platform admin chose."""
    if user.is_platform_admin:
        if not code:
            return None, ""
        return await directory_service.agency_id_for_code(session, code), code
    codes = await directory_service.agency_codes(session, [user.agency_id] if user.agency_id else [])
    return user.agency_id, codes.get(user.agency_id or 0, "")


async def _page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    snapshots: SnapshotsDep,
    code: str,
    *,
    problems: list[str] | None = None,
    freeze_form: FreezeForm | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    if not user.is_admin:
        return error_page(request, 403, ["기관 설정은 기관 관리자만 바꿀 수 있습니다"])
    agency_id, code = await _agency(session, user, code)
    agencies = (
        sorted(snapshots.current.directory.agencies.values(), key=lambda a: a.name)
        if user.is_platform_admin
        else []
    )
    if user.is_platform_admin and code and agency_id is None:
        return error_page(request, 404)
    settings = await directory_service.holdout_settings(session, agency_id) if agency_id is not None else None
    freezes = await directory_service.list_freezes(session, agency_id) if agency_id is not None else []
    departments = departments_of(snapshots.current.directory, agency_id)
    return page(
        request,
        "agency.html",
        principal=user,
        name=await user_name(session, user),
        active="agency",
        code=code,
        agencies=agencies,
        settings=settings,
        freezes=freezes,
        departments=departments,
        freeze_form=freeze_form or FreezeForm(),
        problems=problems or [],
        notice=notice,
        max_percent=MAX_PERCENT,
        freeze_days=directory_service.ELECTION_FREEZE_DAYS,
        status_code=status_code,
    )


def _back(code: str, notice: str) -> Response:
    query = urlencode({"agency": code, "notice": notice} if code else {"notice": notice})
    return see_other(f"{PREFIX}/agency?{query}")


NOTICES = {
    "shares": "보류군 비율을 저장했습니다. 몇 초 안에 다음 통화부터 적용됩니다",
    "department": "부서 설정을 저장했습니다",
    "freeze": "홍보 제한 기간을 저장했습니다",
    "unfrozen": "홍보 제한 기간을 지웠습니다",
}


@router.get("/agency")
async def agency_settings(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    agency: Annotated[str, Query(max_length=64)] = "",
    notice: Annotated[str, Query(max_length=16)] = "",
    election_day: Annotated[str, Query(max_length=10)] = "",
    reason: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The settings page; `election_day` (the 기간 채우기 button) fills the new freeze's range."""
    form = FreezeForm(reason=reason, election_day=election_day)
    problems: list[str] = []
    if election_day:
        try:
            first, last = directory_service.election_freeze_range(date.fromisoformat(election_day))
        except (ValueError, OverflowError):
            problems.append("선거일: YYYY-MM-DD 형식으로 입력해 주세요")
        else:
            form.starts_on, form.ends_on = first.isoformat(), last.isoformat()
    return await _page(
        request,
        session,
        user,
        snapshots,
        agency,
        freeze_form=form,
        problems=problems,
        notice=NOTICES.get(notice, ""),
    )


async def _target(session: AsyncSession, user: Principal, code: str) -> int | None:
    agency_id, _ = await _agency(session, user, code)
    return agency_id if user.is_admin else None


@router.post("/agency/shares")
async def save_shares(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    agency: Annotated[str, Form(max_length=64)] = "",
    holdout: Annotated[str, Form(max_length=16)] = "0",
    identity_only: Annotated[str, Form(max_length=16)] = "0",
) -> Response:
    agency_id = await _target(session, user, agency)
    if agency_id is None:
        return await _page(request, session, user, snapshots, agency)
    shares, problems = SharesForm(holdout, identity_only).shares()
    if shares is None:
        return await _page(request, session, user, snapshots, agency, problems=problems, status_code=422)
    await directory_service.set_agency_holdout(session, agency_id, shares)
    return _back(agency, "shares")


@router.post("/agency/departments")
async def save_department(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    agency: Annotated[str, Form(max_length=64)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
    holdout: Annotated[str, Form(max_length=16)] = "0",
    identity_only: Annotated[str, Form(max_length=16)] = "0",
    follow_agency: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """A department's own shares, or (`follow_agency`) back to the agency's."""
    agency_id = await _target(session, user, agency)
    if agency_id is None:
        return await _page(request, session, user, snapshots, agency)
    shares: directory_service.HoldoutShares | None = None
    if not follow_agency:
        shares, problems = SharesForm(holdout, identity_only).shares()
        if shares is None:
            return await _page(request, session, user, snapshots, agency, problems=problems, status_code=422)
    if await directory_service.set_department_holdout(session, agency_id, department, shares) is None:
        problems = [f"{department or '(빈 값)'} 부서를 이 기관에서 찾을 수 없습니다"]
        return await _page(request, session, user, snapshots, agency, problems=problems, status_code=422)
    return _back(agency, "department")


@router.post("/agency/freezes")
async def add_freeze(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    agency: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
    starts_on: Annotated[str, Form(max_length=10)] = "",
    ends_on: Annotated[str, Form(max_length=10)] = "",
    election_day: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    agency_id = await _target(session, user, agency)
    if agency_id is None:
        return await _page(request, session, user, snapshots, agency)
    form = FreezeForm(reason, starts_on, ends_on, election_day)
    values, problems = form.values()
    if values is None:
        return await _page(
            request, session, user, snapshots, agency, problems=problems, freeze_form=form, status_code=422
        )
    first, last, why, election = values
    await directory_service.create_freeze(
        session, agency_id, starts_on=first, ends_on=last, reason=why, election_day=election
    )
    return _back(agency, "freeze")


@router.post("/agency/freezes/{freeze_id}/delete")
async def remove_freeze(
    freeze_id: RowId,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    agency: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    agency_id = await _target(session, user, agency)
    if agency_id is None:
        return await _page(request, session, user, snapshots, agency)
    if not await directory_service.delete_freeze(session, agency_id, freeze_id):
        return error_page(request, 404)
    return _back(agency, "unfrozen")
