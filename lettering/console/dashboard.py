"""The console's dashboard (/admin/dashboard): a date range and a department; calls per day and
hour, lettering outcomes per carrier, AlimTalk and its SMS/LMS failover, and the answer rate per
holdout arm with the lift of lettering and its 95 % interval. Each table is also a CSV (UTF-8
with BOM, so Excel opens it).

Charts are SVG drawn here, on the server: no script, nothing to load, readable without colour
(every bar has its number in the table beside it). Figures come from `lettering.calls.figures`
and the holdout statistics from `lettering.dashboard.stats`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from campaigns import service as campaign_service
from kakao_fallback import service as kakao_service
from lettering.calls import figures
from lettering.calls import service as call_service
from lettering.console.pages import (
    ConsoleRoute,
    agency_id_by_code,
    departments_of,
    error_page,
    page,
    user_name,
)
from lettering.core.clock import SEOUL
from lettering.core.deps import SessionDep, SettingsDep
from lettering.core.settings import Settings
from lettering.dashboard.stats import MAX_WIDTH, MIN_CALLS, ArmCounts, HoldoutReport, arm_report
from lettering.directory import service as directory_service
from lettering.directory.service import DirectorySnapshot
from lettering.optout import service as optout_service
from lettering.snapshots.deps import SnapshotsDep
from lettering.users.deps import CurrentUser, Principal
from lettering.verify import service as verify_service

# Under /admin: console.router includes it.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

DEFAULT_DAYS = 30
MAX_DAYS = 400
OUTCOME_NAMES = {
    "accepted": "표시됨",
    "pending": "응답 대기 후 계속",
    "fallback": "알림톡으로 대체",
    "suppressed": "보내지 않음",
    "skipped": "대상 아님",
    "failed": "실패",
}
ARM_NAMES = {"lettered": "레터링", "identity_only": "기관·부서만", "holdout": "레터링 없음 (보류군)"}
CARRIER_NAMES = {"skt": "SKT", "kt": "KT", "lgu": "LG U+"}
ALIMTALK_STATUS = {
    "queued": "대기",
    "sending": "보내는 중",
    "accepted": "접수됨",
    "delivered": "전달됨",
    "failed": "실패",
    "expired": "시간 초과",
    "dead": "포기",
    "dropped": "취소",
}
TABLES = ("daily", "hourly", "outcomes", "holdout", "alimtalk", "optouts", "spoof", "campaigns", "agencies")
CHANNEL_NAMES = {"alimtalk": "알림톡", "sms": "SMS", "lms": "LMS"}


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    max_value: int
    title: str


def bar_chart(title: str, points: list[tuple[str, int]], width: int = 720, height: int = 160) -> Chart:
    """Bars for `points` (label, value) in a width × height box (labels are the table's)."""
    top = max((v for _, v in points), default=0) or 1
    slot = width / max(len(points), 1)
    bars = tuple(
        Bar(
            x=round(i * slot + slot * 0.1),
            y=height - round(v / top * (height - 4)),
            width=max(1, round(slot * 0.8)),
            height=round(v / top * (height - 4)),
            label=label,
            value=v,
        )
        for i, (label, v) in enumerate(points)
    )
    return Chart(width, height, bars, top if top > 1 or any(v for _, v in points) else 0, title)


@dataclass(frozen=True, slots=True)
class Filters:
    since: date
    until: date  # included
    department: str
    agency: str

    def utc_range(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.since, time(0), SEOUL)
        end = datetime.combine(self.until + timedelta(days=1), time(0), SEOUL)
        return start, end


def _filters(since: str, until: str, department: str, agency: str) -> tuple[Filters, list[str]]:
    today = datetime.now(SEOUL).date()
    problems: list[str] = []
    try:
        last = date.fromisoformat(until) if until else today
    except ValueError:
        problems.append("끝 날짜를 YYYY-MM-DD 형식으로 입력해 주세요")
        last = today
    try:
        first = date.fromisoformat(since) if since else last - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        problems.append("시작 날짜를 YYYY-MM-DD 형식으로 입력해 주세요")
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        problems.append("시작 날짜가 끝 날짜보다 늦습니다")
        first = last
    if (last - first).days >= MAX_DAYS:
        problems.append(f"기간은 {MAX_DAYS}일까지 볼 수 있습니다. 앞의 {MAX_DAYS}일만 보여 드립니다")
        last = first + timedelta(days=MAX_DAYS - 1)
    return Filters(first, last, department.strip()[:64], agency.strip()[:64]), problems


@dataclass(frozen=True, slots=True)
class Figures:
    daily: list[figures.PeriodCount]
    hourly: list[figures.PeriodCount]
    outcomes: list[figures.OutcomeCount]
    holdout: HoldoutReport
    alimtalk: dict[str, object]
    mark: datetime | None  # the rollup's last run: past days are as of then
    optouts: list[tuple[str, int, int]]  # (day, opt-outs, opt-ins), every day of the range
    spoof: list[tuple[str, int]]  # (day, reports), every day of the range
    campaigns: list[tuple[str, figures.CampaignCount]]  # (title, counts), most shown first
    costs: list[tuple[str, int, float, float]]  # (channel, delivered, 원 each, 원)
    agencies: list[AgencyRow] | None  # platform admins: every agency of the range


@dataclass(frozen=True, slots=True)
class AgencyRow:
    code: str
    name: str
    calls: int
    answer_rate: float | None
    fallback_rate: float | None
    optouts: int


async def _figures(
    session: AsyncSession,
    agency_id: int,
    department_id: int | None,
    f: Filters,
    settings: Settings,
    directory: DirectorySnapshot | None,
    only: str | None = None,
) -> Figures:
    """Every figure of the page, or with `only` (one of TABLES) just what that CSV table needs,
    the others left empty; `directory` (platform admins only) adds the per-agency table."""

    def wanted(table: str) -> bool:
        return only is None or only == table

    since, until = f.utc_range()
    where = await figures.plan(session, since, until)
    days = figures.days_between(f.since, f.until)

    async def series(period: str, keys: list[str]) -> list[figures.PeriodCount]:
        """Calls per day or hour, every key of the range (zero where none)."""
        found = await figures.period_counts(
            session, agency_id, period, since, until, department_id, where=where
        )
        by_key = {p.key: p for p in found}
        return [by_key.get(k) or figures.PeriodCount(k, 0, 0, 0) for k in keys]

    daily = await series("day", days) if wanted("daily") else []
    hourly = await series("hour", [f"{h:02d}" for h in range(24)]) if wanted("hourly") else []
    counts = (
        await figures.arm_counts(session, agency_id, since, until, department_id, where=where)
        if wanted("holdout")
        else {}
    )
    alimtalk: dict[str, object] = {"by_status": {}, "delivered": {}}
    costs: list[tuple[str, int, float, float]] = []
    if wanted("alimtalk"):
        call_ids = None
        if department_id is not None:
            call_ids = call_service.call_ids_of_department(agency_id, department_id)
        alimtalk = await kakao_service.agency_summary(session, agency_id, since, until, call_ids)
        delivered = alimtalk["delivered"]
        assert isinstance(delivered, dict)
        prices = {
            "alimtalk": settings.message_cost_alimtalk_won,
            "sms": settings.message_cost_sms_won,
            "lms": settings.message_cost_lms_won,
        }
        costs = [
            (ch, int(delivered.get(ch, 0)), price, delivered.get(ch, 0) * price)
            for ch, price in prices.items()
        ]
    optouts = (
        {d: (o, b) for d, o, b in await optout_service.changes_per_day(session, agency_id, since, until)}
        if wanted("optouts")
        else {}
    )
    spoof = (
        dict(await verify_service.spoof_reports_per_day(session, agency_id, since, until))
        if wanted("spoof")
        else {}
    )
    campaign_counts = (
        await figures.campaign_counts(session, agency_id, since, until, department_id, where=where)
        if wanted("campaigns")
        else []
    )
    titles = await campaign_service.campaign_titles(session, [c.campaign_id for c in campaign_counts])
    return Figures(
        daily=daily,
        hourly=hourly,
        outcomes=await figures.outcome_counts(session, agency_id, since, until, department_id, where=where)
        if wanted("outcomes")
        else [],
        holdout=arm_report({arm: ArmCounts(*values) for arm, values in counts.items()}),
        alimtalk=alimtalk,
        mark=where.mark,
        optouts=[(d, *optouts.get(d, (0, 0))) for d in days] if wanted("optouts") else [],
        spoof=[(d, spoof.get(d, 0)) for d in days] if wanted("spoof") else [],
        campaigns=[(titles.get(c.campaign_id, f"캠페인 {c.campaign_id}"), c) for c in campaign_counts],
        costs=costs,
        agencies=None
        if directory is None or not wanted("agencies")
        else await _agency_rows(session, since, until, where, directory),
    )


async def _agency_rows(
    session: AsyncSession, since: datetime, until: datetime, where: figures.Plan, directory: DirectorySnapshot
) -> list[AgencyRow]:
    optouts = await optout_service.optouts_per_agency(session, since, until)
    counts = {a.agency_id: a for a in await figures.agency_counts(session, since, until, where=where)}
    rows = []
    for agency in sorted(directory.agencies.values(), key=lambda a: a.name):
        c = counts.get(agency.id) or figures.AgencyCount(agency.id, 0, 0, 0)
        rows.append(
            AgencyRow(
                code=agency.code,
                name=agency.name,
                calls=c.calls,
                answer_rate=c.answered / c.calls if c.calls else None,
                fallback_rate=c.fallbacks / c.calls if c.calls else None,
                optouts=optouts.get(agency.id, 0),
            )
        )
    return rows


async def _scope(
    session: AsyncSession, user: Principal, snapshots: SnapshotsDep, f: Filters
) -> tuple[int | None, int | None, list[str]]:
    """(agency id, department id, problems): the user's agency or (platform admins) the one chosen;
    a department code that is not the agency's is refused by name."""
    if user.is_platform_admin:
        agency_id = agency_id_by_code(snapshots.current.directory, f.agency)
    else:
        agency_id = user.agency_id
    if agency_id is None or not f.department:
        return agency_id, None, []
    department_id = await directory_service.department_of_agency(session, agency_id, f.department)
    if department_id is None:
        return agency_id, None, [f"{f.department} 부서를 찾을 수 없습니다. 기관 전체를 보여 드립니다"]
    return agency_id, department_id, []


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def points(value: float) -> str:
    return f"{value * 100:+.1f}%p"


@router.get("/dashboard")
async def dashboard(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    settings: SettingsDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    agency: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    f, problems = _filters(since, until, department, agency)
    agency_id, department_id, more = await _scope(session, user, snapshots, f)
    problems += more
    agencies = (
        sorted(snapshots.current.directory.agencies.values(), key=lambda a: a.name)
        if user.is_platform_admin
        else []
    )
    directory = snapshots.current.directory if user.is_platform_admin else None
    found = (
        await _figures(session, agency_id, department_id, f, settings, directory)
        if agency_id is not None
        else None
    )
    query = request.url.query
    return page(
        request,
        "dashboard.html",
        principal=user,
        name=await user_name(session, user),
        active="dashboard",
        f=f,
        problems=problems,
        agencies=agencies,
        departments=departments_of(snapshots.current.directory, agency_id),
        figures=found,
        daily_chart=bar_chart("하루 통화 수", [(p.key, p.calls) for p in found.daily]) if found else None,
        hourly_chart=bar_chart("시간대별 통화 수", [(f"{p.key}시", p.calls) for p in found.hourly])
        if found
        else None,
        optout_chart=bar_chart("하루 수신거부 수", [(d, o) for d, o, _ in found.optouts]) if found else None,
        spoof_chart=bar_chart("하루 사칭 신고 수", [(d, n) for d, n in found.spoof]) if found else None,
        channel_names=CHANNEL_NAMES,
        outcome_names=OUTCOME_NAMES,
        arm_names=ARM_NAMES,
        carrier_names=CARRIER_NAMES,
        alimtalk_status=ALIMTALK_STATUS,
        percent=percent,
        points=points,
        min_calls=MIN_CALLS,
        max_width_points=round(MAX_WIDTH * 100),
        csv_query=query,
    )


def _rows(table: str, found: Figures) -> list[list[object]]:
    if table in ("daily", "hourly"):
        series = found.daily if table == "daily" else found.hourly
        head: list[object] = ["날짜" if table == "daily" else "시", "통화", "받은 통화", "통화 시간(초)"]
        return [head, *([p.key, p.calls, p.answered, p.talk_seconds] for p in series)]
    if table == "outcomes":
        return [
            ["통신사", "결과", "최종 결과", "통화"],
            *(
                [
                    CARRIER_NAMES.get(c.carrier or "", "-"),
                    OUTCOME_NAMES.get(c.lettering, c.lettering),
                    c.final_outcome or "",
                    c.calls,
                ]
                for c in found.outcomes
            ),
        ]
    if table == "holdout":
        rows: list[list[object]] = [
            [
                "집단",
                "통화",
                "받은 통화",
                "응답률",
                "평균 통화(초)",
                "차이",
                "95% 하한",
                "95% 상한",
                "표본 충분",
            ]
        ]
        for a in found.holdout.arms:
            d = a.difference
            rows.append(
                [
                    ARM_NAMES.get(a.arm, a.arm),
                    a.calls,
                    a.answered,
                    "" if a.answer_rate is None else round(a.answer_rate, 4),
                    "" if a.mean_talk_seconds is None else round(a.mean_talk_seconds, 1),
                    "" if d is None else round(d.estimate, 4),
                    "" if d is None else round(d.interval.lower, 4),
                    "" if d is None else round(d.interval.upper, 4),
                    "" if d is None else ("예" if d.sufficient else "아니오"),
                ]
            )
        return rows
    if table == "optouts":
        return [["날짜", "수신거부", "수신거부 해제"], *([d, o, b] for d, o, b in found.optouts)]
    if table == "spoof":
        return [["날짜", "사칭 신고"], *([d, n] for d, n in found.spoof)]
    if table == "campaigns":
        return [
            ["캠페인", "캠페인 번호", "실린 통화", "표시된 통화(노출)"],
            *([title, c.campaign_id, c.calls, c.shown] for title, c in found.campaigns),
        ]
    if table == "agencies":
        return [
            ["기관", "기관 코드", "통화", "응답률", "알림톡 대체율", "수신거부"],
            *(
                list[object](
                    [
                        a.name,
                        a.code,
                        a.calls,
                        "" if a.answer_rate is None else round(a.answer_rate, 4),
                        "" if a.fallback_rate is None else round(a.fallback_rate, 4),
                        a.optouts,
                    ]
                )
                for a in found.agencies or []
            ),
        ]
    summary = found.alimtalk
    by_status = summary.get("by_status", {})
    delivered = summary.get("delivered", {})
    assert isinstance(by_status, dict)
    assert isinstance(delivered, dict)
    return [
        ["구분", "건수"],
        *([f"상태: {ALIMTALK_STATUS.get(k, k)}", v] for k, v in by_status.items()),
        *([f"전달: {k.upper() if k != 'alimtalk' else '알림톡'}", v] for k, v in delivered.items()),
        *(
            [f"예상 비용(원): {CHANNEL_NAMES[ch]} {price:g}원씩", round(cost)]
            for ch, _, price, cost in found.costs
        ),
    ]


@router.get("/dashboard/{table}.csv")
async def dashboard_csv(
    table: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    snapshots: SnapshotsDep,
    settings: SettingsDep,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    department: Annotated[str, Query(max_length=64)] = "",
    agency: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """One table of the dashboard as CSV (UTF-8 with BOM, CRLF: what Excel opens in Korean)."""
    if table not in TABLES or (table == "agencies" and not user.is_platform_admin):
        return error_page(request, 404)
    f, problems = _filters(since, until, department, agency)
    agency_id, department_id, more = await _scope(session, user, snapshots, f)
    if problems or more or agency_id is None:
        return error_page(request, 422, problems + more or ["기관을 골라 주세요"])
    directory = snapshots.current.directory if table == "agencies" else None
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        _rows(table, await _figures(session, agency_id, department_id, f, settings, directory, only=table))
    )
    name = f"{table}_{f.since.isoformat()}_{f.until.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
