"""Campaigns: the editor's workflow, the active-campaign snapshot and per-citizen counts.

Other packages use this module only. The workflow: draft -> submitted -> approved (by someone
other than the uploader) -> ended; a rejection sends it back to draft with a reason. Only
approved campaigns inside their schedule are ever sent (selection.py decides per call).
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import media, preview, renditions, repository
from campaigns.models import Campaign as Campaign
from campaigns.models import CampaignEvent, CampaignImage, CampaignRendition, CampaignTarget
from campaigns.selection import SNAPSHOT_NAME as SNAPSHOT_NAME
from campaigns.selection import ActiveCampaign, CampaignSnapshot, Counts
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.errors import AppError, NotFound
from lettering.core.templates import with_particle
from lettering.directory import service as directory_service
from lettering.snapshots.service import bump
from lettering.users.deps import Principal, ensure_in_scope, scope

MAX_IMAGES = 10
CARRIERS_WITH_REGISTRATION = ("skt", "kt")
INLINE_CARRIERS = ("lgu",)


class CampaignProblem(AppError):
    status_code = 422


class NotAllowed(AppError):
    status_code = 403


class Conflict(AppError):
    status_code = 409


# The states as a person reads them (the console's words).
STATE_NAMES = {
    "draft": "작성 중",
    "submitted": "승인 대기",
    "approved": "승인됨",
    "rejected": "반려됨",
    "ended": "종료됨",
}
ONLY_OWNERS = "담당 부서 또는 승인자만 할 수 있습니다"


def state_name(campaign: Campaign) -> str:
    return STATE_NAMES.get(campaign.state, campaign.state)


def cannot(campaign: Campaign, verb: str) -> str:
    """'승인됨 상태의 캠페인은 승인할 수 없습니다'."""
    return f"{state_name(campaign)} 상태의 캠페인은 {verb} 수 없습니다"


# Who acts: the authenticated principal of the users package.
Actor = Principal


MAX_URL = 500
MAX_CAP = 1_000_000_000
MAX_TARGET_DEPARTMENTS = 200
MAX_TARGET_EXTENSIONS = 5000
MAX_CODE = 32
NO_CONTROL = "no control characters (NUL, line breaks, ...)"


def has_control(text: str) -> bool:
    """Control characters: never meant in a title, code or address, and NUL is refused by PostgreSQL."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


CAP_LABELS = {
    "cap_per_day": "하루 노출 한도",
    "cap_per_week": "주간 노출 한도",
    "cap_total": "전체 노출 한도",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, in English (the API's `detail`) and in Korean (the console)."""

    en: str
    ko: str


def refused(problems: Sequence[Problem]) -> CampaignProblem:
    """One 422 naming every problem, in both languages."""
    return CampaignProblem("; ".join(p.en for p in problems), korean=[p.ko for p in problems])


@dataclass(frozen=True, slots=True)
class ExtensionTarget:
    """One extension, named as the directory publishes it: its department's code and its number."""

    department: str
    extension: str

    def __str__(self) -> str:
        return f"{self.department} {self.extension}"


@dataclass(frozen=True, slots=True)
class CampaignInput:
    """A campaign as an editor describes it; `problems()` is the one place its values are checked."""

    title: str
    starts_on: date
    ends_on: date
    kind: str = "promo"
    department: str | None = None  # the owning department's code; None: the agency (agency admins)
    weekdays: str = "0123456"
    hour_from: int = 0
    hour_until: int = 24
    priority: int = 0
    weight: int = 1
    cap_per_day: int | None = None
    cap_per_week: int | None = None
    cap_total: int | None = None
    post_call_card_news: bool = True
    youtube_url: str | None = None
    policy_url: str | None = None
    # Targets: agency-wide, or departments (by code) and/or extensions of this agency. An editor
    # targets only their own department's extensions; anything wider needs an agency admin.
    agency_wide: bool = False
    target_departments: tuple[str, ...] = ()
    target_extensions: tuple[ExtensionTarget, ...] = ()
    agency: str | None = None  # the agency's code: platform admins name it; others may repeat their own

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        texts = {
            "title": ("title", "제목"),
            "youtube_url": ("youtube_url", "유튜브 주소"),
            "policy_url": ("policy_url", "정책 안내 주소"),
            "department": ("department", "담당 부서"),
            "agency": ("agency", "기관"),
            "target_departments": ("target_departments", "대상 부서"),
            "target_extensions": ("target_extensions", "대상 내선"),
        }
        values = {
            "title": self.title,
            "youtube_url": self.youtube_url,
            "policy_url": self.policy_url,
            "department": self.department,
            "agency": self.agency,
            "target_departments": "".join(self.target_departments),
            "target_extensions": "".join(f"{t.department}{t.extension}" for t in self.target_extensions),
        }
        out.extend(
            Problem(
                f"{name}: {NO_CONTROL}",
                f"{label}에는 줄바꿈 같은 제어 문자를 쓸 수 없습니다",
            )
            for name, (_, label) in texts.items()
            if (value := values[name]) and has_control(value)
        )
        if not 1 <= len(self.title.strip()) <= 80:
            out.append(Problem("title: 1-80 characters", "제목은 1자 이상 80자 이하로 입력해 주세요"))
        if self.ends_on < self.starts_on:
            out.append(Problem("ends_on: before starts_on", "종료일이 시작일보다 앞섭니다"))
        if self.kind not in ("promo", "emergency"):
            out.append(Problem("kind: promo or emergency", "종류는 홍보 또는 긴급 중에서 골라 주세요"))
        if (
            not self.weekdays
            or any(ch not in "0123456" for ch in self.weekdays)
            or len(set(self.weekdays)) != len(self.weekdays)
        ):
            out.append(
                Problem(
                    "weekdays: digits 0 (Monday) to 6 (Sunday), each at most once",
                    "요일을 하나 이상 골라 주세요",
                )
            )
        if not 0 <= self.hour_from < self.hour_until <= 24:
            out.append(
                Problem(
                    "hours: 0 <= hour_from < hour_until <= 24",
                    "시작 시각은 종료 시각보다 앞서야 합니다 (0-24시)",
                )
            )
        if not 0 <= self.priority <= 100:
            out.append(Problem("priority: 0-100", "우선순위는 0부터 100 사이여야 합니다"))
        if not 0 <= self.weight <= 1000:
            out.append(Problem("weight: 0-1000", "가중치는 0부터 1000 사이여야 합니다"))
        for name, label in CAP_LABELS.items():
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_CAP:
                out.append(
                    Problem(
                        f"{name}: 1-{MAX_CAP} when set",
                        f"{with_particle(label, '은')} 비워 두거나 1 이상 {MAX_CAP:,} 이하로 입력해 주세요",
                    )
                )
        for name in ("youtube_url", "policy_url"):
            value, label = getattr(self, name), texts[name][1]
            if value and not value.startswith("https://"):
                out.append(
                    Problem(
                        f"{name}: an https:// address",
                        f"{with_particle(label, '은')} https://로 시작해야 합니다",
                    )
                )
            if value and len(value) > MAX_URL:
                out.append(
                    Problem(
                        f"{name}: at most {MAX_URL} characters",
                        f"{with_particle(label, '은')} {MAX_URL}자 이하여야 합니다",
                    )
                )
        if self.youtube_url and not any(
            host in self.youtube_url for host in ("://www.youtube.com/", "://youtube.com/", "://youtu.be/")
        ):
            out.append(
                Problem(
                    "youtube_url: a YouTube address",
                    "유튜브 주소는 youtube.com 또는 youtu.be 주소여야 합니다",
                )
            )
        if not (self.agency_wide or self.target_departments or self.target_extensions):
            out.append(
                Problem(
                    "targets: the agency, departments or extensions",
                    "대상을 골라 주세요 (기관 전체, 부서 또는 내선)",
                )
            )
        bad_codes = [
            code
            for code in (
                self.department,
                *self.target_departments,
                *(t.department for t in self.target_extensions),
            )
            if code is not None and not 1 <= len(code.strip()) <= MAX_CODE
        ]
        if bad_codes:
            out.append(
                Problem(
                    f"departments: a department code of 1-{MAX_CODE} characters, not {bad_codes[0]!r}",
                    f"부서 코드는 1자 이상 {MAX_CODE}자 이하입니다: {bad_codes[0]!r}",
                )
            )
        bad = [
            t for t in self.target_extensions if not (t.extension.isdigit() and 2 <= len(t.extension) <= 8)
        ]
        if bad:
            out.append(
                Problem(
                    f"target_extensions: digits, 2-8, not {bad[0].extension!r}",
                    f"내선 번호는 숫자 2-8자리입니다: {bad[0].extension!r}",
                )
            )
        if len(self.target_departments) > MAX_TARGET_DEPARTMENTS:
            out.append(
                Problem(
                    f"target_departments: at most {MAX_TARGET_DEPARTMENTS}",
                    f"대상 부서는 {MAX_TARGET_DEPARTMENTS}개까지 고를 수 있습니다",
                )
            )
        if len(self.target_extensions) > MAX_TARGET_EXTENSIONS:
            out.append(
                Problem(
                    f"target_extensions: at most {MAX_TARGET_EXTENSIONS}",
                    f"대상 내선은 {MAX_TARGET_EXTENSIONS}개까지 고를 수 있습니다",
                )
            )
        return out


# -- the hot path's view ----------------------------------------------------------------------


def make_snapshot_builder(
    public_base_url: str,
) -> Callable[[AsyncSession], Awaitable[CampaignSnapshot]]:
    """The snapshot builder: approved campaigns with their targets and carrier-approved content."""

    async def build(session: AsyncSession) -> CampaignSnapshot:
        today = utcnow().astimezone(SEOUL).date()
        campaigns = await repository.live_campaigns(session, today - timedelta(days=1))
        ids = [c.id for c in campaigns if c.id is not None]
        targets: dict[int, list[CampaignTarget]] = {}
        for target in await repository.targets_of(session, ids):
            targets.setdefault(target.campaign_id, []).append(target)
        images = await repository.first_images(session, ids)
        renditions: dict[str, list[CampaignRendition]] = {}
        for r in await repository.renditions_for(session, [i.clean_sha256 for i in images.values()]):
            renditions.setdefault(r.clean_sha256, []).append(r)
        by_agency: dict[int, list[ActiveCampaign]] = {}
        for c in campaigns:
            assert c.id is not None
            own = targets.get(c.id, [])
            image = images.get(c.id)
            refs: dict[str, str] = {}
            inline: dict[str, str] = {}
            for r in renditions.get(image.clean_sha256, []) if image else []:
                if r.carrier_status == "approved" and r.carrier_ref:
                    refs[r.carrier] = r.carrier_ref
                elif r.carrier_status == "inline":
                    inline[r.carrier] = r.sha256
            by_agency.setdefault(c.agency_id, []).append(
                ActiveCampaign(
                    id=c.id,
                    agency_id=c.agency_id,
                    title=c.title,
                    kind=c.kind,
                    slug=c.slug,
                    starts_on=c.starts_on,
                    ends_on=c.ends_on,
                    weekdays=c.weekdays,
                    hour_from=c.hour_from,
                    hour_until=c.hour_until,
                    priority=c.priority,
                    weight=c.weight,
                    cap_per_day=c.cap_per_day,
                    cap_per_week=c.cap_per_week,
                    cap_total=c.cap_total,
                    agency_wide=any(t.kind == "agency" for t in own),
                    departments=frozenset(
                        t.department_id for t in own if t.kind == "department" and t.department_id is not None
                    ),
                    extensions=frozenset(t.extension for t in own if t.kind == "extension" and t.extension),
                    content_refs=MappingProxyType(refs),
                    inline=MappingProxyType(inline),
                    post_call_title=c.title[:20],
                    post_call_url=post_call_url(public_base_url, c),
                )
            )
        # The snapshot builds its per-call index (by extension, department, agency) here, once.
        return CampaignSnapshot(MappingProxyType({a: tuple(cs) for a, cs in by_agency.items()}))

    return build


def post_call_url(public_base_url: str, campaign: Campaign) -> str | None:
    """Where the phone sends the citizen after the call: the card news, else YouTube, else the policy."""
    if campaign.post_call_card_news:
        return f"{public_base_url.rstrip('/')}/c/{campaign.slug}"
    return campaign.youtube_url or campaign.policy_url


# A callee's counts when nothing of the agency is capped (no query needed).
NO_COUNTS = Counts()


async def load_counts(
    sessions: async_sessionmaker[AsyncSession],
    snapshot: CampaignSnapshot,
    agency_id: int,
    callee_hashes: Sequence[str],
    at: datetime,
) -> Counts:
    """The callee's impressions of this agency's active campaigns (read before `decide`).

    `callee_hashes`: the callee's hash under every configured key version (current first).
    No session is opened, nor any query run, when no campaign of the agency has a cap.
    """
    ids = list(snapshot.capped_ids(agency_id))  # listed once, when the snapshot was built
    if not ids:
        return NO_COUNTS
    today = at.astimezone(SEOUL).date()
    async with sessions() as session:
        day, week, total = await repository.impression_counts(
            session, callee_hashes, ids, today, today - timedelta(days=6)
        )
    return Counts(MappingProxyType(day), MappingProxyType(week), MappingProxyType(total))


def count_impression(conn: Connection, campaign_id: int, callee_hash: str, at: datetime) -> None:
    """Count one showing of a campaign to a callee: a carrier accepted a push that carried its
    content (in the transaction that records the push's outcome). Caps read these counts."""
    repository.count_impression(conn, campaign_id, callee_hash, at.astimezone(SEOUL).date())


async def count_delivered_impression(
    session: AsyncSession, campaign_id: int, callee_hash: str, at: datetime
) -> None:
    """Count one showing of a campaign to a callee: an AlimTalk notice with its card-news button
    was delivered (in the transaction that records the delivery result)."""
    await repository.count_impression_in(session, campaign_id, callee_hash, at.astimezone(SEOUL).date())


def mark_content_refused(conn: Connection, carrier: str, content_ref: str) -> int:
    """A carrier refused this content at push time (it forgot it, or withdrew its approval): the
    content sync registers the rendition again; until it is approved, calls get the identity alone.
    Runs in the call record's transaction (the dispatcher's `content_refused` hook); idempotent."""
    return repository.register_again(
        conn, carrier, content_ref, "refused at push time; registered again by the content sync"
    )


# -- the editor's workflow ------------------------------------------------------------------


async def _acting_agency(session: AsyncSession, actor: Actor, code: str | None) -> int:
    """The agency a new campaign belongs to: the actor's own, or (platform admins) the one named.
    A code that is not the actor's agency is refused like an unknown one (tenants stay invisible)."""
    if actor.is_platform_admin:
        if code is None:
            raise CampaignProblem(
                "agency: a platform admin names the agency by its code",
                korean="플랫폼 관리자는 캠페인을 만들 기관을 골라야 합니다",
            )
        found = await directory_service.agency_id_for_code(session, code)
        if found is None:
            raise CampaignProblem(f"agency: no agency {code}", korean=f"{code} 기관을 찾을 수 없습니다")
        return found
    if actor.agency_id is None:
        raise NotAllowed(
            "your account belongs to no agency", korean="계정이 어느 기관에도 속해 있지 않습니다"
        )
    if code is not None and await directory_service.agency_id_for_code(session, code) != actor.agency_id:
        raise CampaignProblem(f"agency: no agency {code}", korean=f"{code} 기관을 찾을 수 없습니다")
    return actor.agency_id


def visible(actor: Actor, campaign: Campaign) -> bool:
    """Tenant scoping (the users package's one helper): another agency's campaign is a 404."""
    try:
        ensure_in_scope(actor, campaign.agency_id)
    except NotFound:
        return False
    return True


def may_edit(actor: Actor, campaign: Campaign) -> bool:
    if actor.role == "editor":
        return campaign.department_id is not None and campaign.department_id == actor.department_id
    return actor.role in ("approver", "admin", "platform_admin")


def may_approve(actor: Actor, campaign: Campaign) -> bool:
    """Whether `approve_campaign` would accept it now: an approver, not its author, while submitted."""
    return (
        actor.role in ("approver", "admin", "platform_admin")
        and campaign.created_by != actor.user_id
        and campaign.state == "submitted"
    )


async def get_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    campaign = await repository.campaign_by_id(session, campaign_id)
    if campaign is None or not visible(actor, campaign):
        raise NotFound(f"no campaign {campaign_id}", korean="캠페인을 찾을 수 없습니다")
    return campaign


# The campaign's own fields, as CampaignInput names them (targets and agency are apart).
_FIELDS = (
    "title",
    "kind",
    "starts_on",
    "ends_on",
    "weekdays",
    "hour_from",
    "hour_until",
    "priority",
    "weight",
    "cap_per_day",
    "cap_per_week",
    "cap_total",
    "post_call_card_news",
    "youtube_url",
    "policy_url",
)


async def _happened(
    session: AsyncSession, campaign: Campaign, actor: Actor | None, action: str, detail: str | None = None
) -> None:
    """One line of the campaign's history (in the transaction of what happened)."""
    assert campaign.id is not None
    event = CampaignEvent(
        campaign_id=campaign.id,
        actor_id=actor.user_id if actor is not None else None,
        action=action,
        detail=detail[:500] if detail else None,
    )
    await repository.add_rows(session, [event])


async def history(session: AsyncSession, actor: Actor, campaign_id: int) -> list[CampaignEvent]:
    """What happened to the campaign, by whom and when, oldest first."""
    await get_campaign(session, actor, campaign_id)
    return await repository.events_of(session, campaign_id)


async def _checked(
    session: AsyncSession, actor: Actor, agency_id: int, data: CampaignInput
) -> tuple[int | None, dict[str, int]]:
    """The owning department's id and the named departments' ids, once every rule holds: values,
    departments of this agency, an editor's own department only, extensions of their department."""
    codes = await _department_ids(session, agency_id, data)
    department_id = codes[data.department] if data.department is not None else None
    if not actor.is_admin:
        department_id = await _check_own_department(session, actor, data, department_id)
    await _check_extensions(session, agency_id, data.target_extensions)
    return department_id, codes


async def create_campaign(session: AsyncSession, actor: Actor, data: CampaignInput) -> Campaign:
    """A new draft. An editor's campaign belongs to their department and targets only its
    extensions; the whole agency or other departments need an agency admin."""
    problems = data.problems()
    if problems:
        raise refused(problems)
    agency_id = await _acting_agency(session, actor, data.agency)
    department_id, codes = await _checked(session, actor, agency_id, data)
    campaign = Campaign(
        agency_id=agency_id,
        department_id=department_id,
        slug=secrets.token_urlsafe(8),
        created_by=actor.user_id,
        **{name: getattr(data, name) for name in _FIELDS},
    )
    campaign.title = data.title.strip()
    await repository.add_rows(session, [campaign])
    assert campaign.id is not None
    await repository.add_rows(session, _targets(campaign.id, data, codes))
    await _happened(session, campaign, actor, "created")
    return campaign


def input_of(view: CampaignView) -> CampaignInput:
    """The campaign as an editor described it: what an edit starts from."""
    c, codes = view.campaign, view.department_codes
    return CampaignInput(
        **{name: getattr(c, name) for name in _FIELDS},
        department=codes.get(c.department_id) if c.department_id is not None else None,
        agency_wide=any(t.kind == "agency" for t in view.targets),
        target_departments=tuple(
            codes[t.department_id] for t in view.targets if t.kind == "department" and t.department_id
        ),
        target_extensions=tuple(
            ExtensionTarget(codes[t.department_id], t.extension)
            for t in view.targets
            if t.kind == "extension" and t.department_id and t.extension
        ),
    )


async def _draft_to_change(session: AsyncSession, actor: Actor, campaign_id: int, verb: str) -> Campaign:
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed(
            f"only the owning department or an approver may {verb} this campaign", korean=ONLY_OWNERS
        )
    if campaign.state != "draft":
        raise Conflict(
            f"only a draft can be changed; this campaign is {campaign.state}",
            korean=f"작성 중인 캠페인만 고칠 수 있습니다 (지금은 {state_name(campaign)})",
        )
    return campaign


async def update_campaign(
    session: AsyncSession, actor: Actor, campaign_id: int, data: CampaignInput
) -> Campaign:
    """A draft described anew (the same rules as a new one; the agency stays); its targets replaced."""
    campaign = await _draft_to_change(session, actor, campaign_id, "change")
    problems = data.problems()
    if problems:
        raise refused(problems)
    if data.agency is not None and await _acting_agency(session, actor, data.agency) != campaign.agency_id:
        raise CampaignProblem(
            "agency: a campaign stays in its agency", korean="캠페인의 기관은 바꿀 수 없습니다"
        )
    department_id, codes = await _checked(session, actor, campaign.agency_id, data)
    for name in _FIELDS:
        setattr(campaign, name, getattr(data, name))
    campaign.title = data.title.strip()
    campaign.department_id = department_id
    campaign.updated_at = utcnow()
    assert campaign.id is not None
    await repository.delete_rows(session, await repository.targets_of(session, [campaign.id]))
    await repository.add_rows(session, _targets(campaign.id, data, codes))
    await _happened(session, campaign, actor, "changed")
    return campaign


async def delete_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> None:
    """A draft removed with its targets and images (the stored files stay: content-addressed,
    another campaign may show the same picture, and the retention job removes what nothing uses)."""
    campaign = await _draft_to_change(session, actor, campaign_id, "delete")
    await repository.delete_rows(
        session,
        [
            *await repository.targets_of(session, [campaign_id]),
            *await repository.images_of(session, campaign_id),
            *await repository.events_of(session, campaign_id),
        ],
    )
    await repository.delete_rows(session, [campaign])


async def remove_image(session: AsyncSession, actor: Actor, campaign_id: int, position: int) -> None:
    """One image of a draft removed; the rest keep their order, numbered from 0 again."""
    campaign = await _draft_to_change(session, actor, campaign_id, "change")
    images = await repository.images_of(session, campaign_id)
    gone = [i for i in images if i.position == position]
    if not gone:
        raise NotFound(f"no image at position {position}", korean="그 이미지를 찾을 수 없습니다")
    await repository.delete_rows(session, gone)
    await repository.set_positions(session, [i for i in images if i.position != position])
    campaign.updated_at = utcnow()
    await _happened(session, campaign, actor, "image_removed", gone[0].alt_text)


async def reorder_images(
    session: AsyncSession, actor: Actor, campaign_id: int, order: Sequence[int]
) -> list[CampaignImage]:
    """The draft's images in a new order: `order` lists every current position once, the new
    first image first."""
    campaign = await _draft_to_change(session, actor, campaign_id, "change")
    images = await repository.images_of(session, campaign_id)
    by_position = {i.position: i for i in images}
    if sorted(order) != sorted(by_position):
        raise CampaignProblem(
            f"order: each of the positions {sorted(by_position)} exactly once, not {list(order)}",
            korean="이미지 순서가 맞지 않습니다. 페이지를 새로 고친 뒤 다시 해 주세요",
        )
    ordered = [by_position[p] for p in order]
    await repository.set_positions(session, ordered)
    campaign.updated_at = utcnow()
    await _happened(session, campaign, actor, "images_reordered")
    return ordered


async def describe_image(
    session: AsyncSession, actor: Actor, campaign_id: int, position: int, alt_text: str
) -> CampaignImage:
    """A new description (alt text) for one image of a draft."""
    campaign = await _draft_to_change(session, actor, campaign_id, "change")
    alt = _alt_text(alt_text)
    found = [i for i in await repository.images_of(session, campaign_id) if i.position == position]
    if not found:
        raise NotFound(f"no image at position {position}", korean="그 이미지를 찾을 수 없습니다")
    found[0].alt_text = alt
    campaign.updated_at = utcnow()
    await _happened(session, campaign, actor, "image_described", alt)
    return found[0]


async def _department_ids(session: AsyncSession, agency_id: int, data: CampaignInput) -> dict[str, int]:
    """Department code -> id for every code the input names; codes of no department of this
    agency (unknown, or another agency's) are one 422 naming them."""
    named = {code for code in (data.department, *data.target_departments) if code is not None}
    named |= {t.department for t in data.target_extensions}
    ids: dict[str, int] = {}
    foreign: list[str] = []
    for code in sorted(named):
        found = await directory_service.department_for_code(session, code)
        if found is None or found[1] != agency_id:
            foreign.append(code)
        else:
            ids[code] = found[0]
    if foreign:
        raise CampaignProblem(
            f"departments not of this agency: {', '.join(foreign)}",
            korean=f"이 기관의 부서가 아닙니다: {', '.join(foreign)}",
        )
    return ids


async def _check_extensions(
    session: AsyncSession, agency_id: int, targets: Sequence[ExtensionTarget]
) -> None:
    """Each extension target is an extension of the department it names, per the directory."""
    if not targets:
        return
    directory = await directory_service.build_directory_snapshot(session)
    wrong = []
    for target in targets:
        found = directory.extension(agency_id, target.extension)
        if found is None or found.department_code != target.department:
            wrong.append(str(target))
    if wrong:
        raise CampaignProblem(
            f"target_extensions: not an extension of that department: {', '.join(wrong)}",
            korean=f"그 부서의 내선이 아닙니다: {', '.join(wrong)}",
        )


async def _check_own_department(
    session: AsyncSession, actor: Actor, data: CampaignInput, department_id: int | None
) -> int:
    """The owning department of a campaign by someone who is not an agency admin: their own,
    and every target inside it; a refusal names the target refused."""
    if actor.department_id is None:
        refused = (
            "agency_wide"
            if data.agency_wide
            else ", ".join([*data.target_departments, *map(str, data.target_extensions)])
        )
        raise NotAllowed(
            f"{refused}: targeting needs an agency admin or an account of that department (yours has none)",
            korean="부서에 속하지 않은 계정은 기관 관리자만 대상을 정할 수 있습니다",
        )
    own = (await directory_service.department_codes(session, [actor.department_id])).get(
        actor.department_id, ""
    )
    if department_id not in (None, actor.department_id):
        raise NotAllowed(
            f"department {data.department}: you create campaigns for your own department ({own}) only",
            korean=f"캠페인은 우리 부서({own})의 것만 만들 수 있습니다",
        )
    if data.agency_wide:
        raise NotAllowed(
            f"agency_wide: targeting the whole agency needs an agency admin; target {own} or its extensions",
            korean="기관 전체를 대상으로 하려면 기관 관리자여야 합니다. 우리 부서나 그 내선을 골라 주세요",
        )
    others = [code for code in data.target_departments if code != own]
    if others:
        raise NotAllowed(
            f"target_departments {', '.join(others)}: another department needs an agency admin;"
            f" you target {own}",
            korean=f"다른 부서({', '.join(others)})를 대상으로 하려면 기관 관리자여야 합니다",
        )
    outside = [str(t) for t in data.target_extensions if t.department != own]
    if outside:
        raise NotAllowed(
            f"target_extensions {', '.join(outside)}: another department's extensions need an agency admin;"
            f" you target {own}'s",
            korean=f"다른 부서의 내선({', '.join(outside)})을 대상으로 하려면 기관 관리자여야 합니다",
        )
    return actor.department_id


def _targets(campaign_id: int, data: CampaignInput, ids: Mapping[str, int]) -> list[CampaignTarget]:
    """The target rows of a new campaign (each named target once)."""
    rows = [CampaignTarget(campaign_id=campaign_id, kind="agency")] if data.agency_wide else []
    rows.extend(
        CampaignTarget(campaign_id=campaign_id, kind="department", department_id=ids[code])
        for code in dict.fromkeys(data.target_departments)
    )
    rows.extend(
        CampaignTarget(
            campaign_id=campaign_id,
            kind="extension",
            department_id=ids[target.department],
            extension=target.extension,
        )
        for target in dict.fromkeys(data.target_extensions)
    )
    return rows


async def submit_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed(
            "only the owning department or an approver may submit this campaign", korean=ONLY_OWNERS
        )
    if campaign.state != "draft":
        raise Conflict(
            f"a {campaign.state} campaign cannot be submitted", korean=cannot(campaign, "승인 요청할")
        )
    if not await repository.images_of(session, campaign_id):
        raise CampaignProblem(
            "add at least one image before submitting",
            korean="승인 요청하기 전에 이미지를 하나 이상 올려 주세요",
        )
    campaign.state, campaign.submitted_at, campaign.updated_at = "submitted", utcnow(), utcnow()
    await _happened(session, campaign, actor, "submitted")
    return campaign


async def approve_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """Approve a submitted campaign; never one's own. It reaches calls within seconds."""
    campaign = await get_campaign(session, actor, campaign_id)
    if actor.role not in ("approver", "admin", "platform_admin"):
        raise NotAllowed("only approvers approve campaigns", korean="승인자만 승인할 수 있습니다")
    if campaign.created_by == actor.user_id:
        raise NotAllowed(
            "a campaign is approved by someone other than its author",
            korean="자신이 만든 캠페인은 승인할 수 없습니다. 다른 승인자에게 맡겨 주세요",
        )
    if campaign.state != "submitted":
        raise Conflict(f"a {campaign.state} campaign cannot be approved", korean=cannot(campaign, "승인할"))
    now = utcnow()
    campaign.state, campaign.decided_by, campaign.decided_at, campaign.updated_at = (
        "approved",
        actor.user_id,
        now,
        now,
    )
    campaign.reject_reason = None
    await bump(session, SNAPSHOT_NAME)
    await _happened(session, campaign, actor, "approved")
    return campaign


async def reject_campaign(session: AsyncSession, actor: Actor, campaign_id: int, reason: str) -> Campaign:
    """Send a submitted campaign back to draft with the reason."""
    campaign = await get_campaign(session, actor, campaign_id)
    if actor.role not in ("approver", "admin", "platform_admin"):
        raise NotAllowed("only approvers reject campaigns", korean="승인자만 반려할 수 있습니다")
    if campaign.state != "submitted":
        raise Conflict(f"a {campaign.state} campaign cannot be rejected", korean=cannot(campaign, "반려할"))
    if not 1 <= len(reason.strip()) <= 500:
        raise CampaignProblem(
            "reason: 1-500 characters", korean="반려 사유는 1자 이상 500자 이하로 입력해 주세요"
        )
    if "\x00" in reason:
        raise CampaignProblem("reason: no NUL characters", korean="반려 사유에 NUL 문자를 쓸 수 없습니다")
    now = utcnow()
    campaign.state, campaign.reject_reason = "draft", reason.strip()
    campaign.decided_by, campaign.decided_at, campaign.updated_at = actor.user_id, now, now
    await _happened(session, campaign, actor, "rejected", campaign.reject_reason)
    return campaign


async def end_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed(
            "only the owning department or an approver may end this campaign", korean=ONLY_OWNERS
        )
    if campaign.state == "ended":
        return campaign
    was_live = campaign.state == "approved"
    now = utcnow()
    campaign.state, campaign.ended_at, campaign.updated_at = "ended", now, now
    if was_live:
        await bump(session, SNAPSHOT_NAME)
    await _happened(session, campaign, actor, "ended")
    return campaign


async def end_past_campaigns(session: AsyncSession, today: date) -> int:
    """Job: approved campaigns whose last day has passed become `ended`."""
    ended = 0
    for campaign in await repository.live_campaigns(session, date.min):
        if campaign.ends_on < today:
            campaign.state, campaign.ended_at = "ended", utcnow()
            await _happened(session, campaign, None, "ended_by_schedule")
            ended += 1
    if ended:
        await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return ended


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign: Campaign
    images: list[CampaignImage] = field(default_factory=list)
    targets: list[CampaignTarget] = field(default_factory=list)
    department_codes: Mapping[int, str] = field(default_factory=dict)  # id -> code, for the answer


async def campaign_view(session: AsyncSession, actor: Actor, campaign_id: int) -> CampaignView:
    campaign = await get_campaign(session, actor, campaign_id)
    targets = await repository.targets_of(session, [campaign_id])
    ids = {d for d in (campaign.department_id, *(t.department_id for t in targets)) if d is not None}
    return CampaignView(
        campaign,
        await repository.images_of(session, campaign_id),
        targets,
        await directory_service.department_codes(session, sorted(ids)),
    )


def as_dict(view: CampaignView) -> dict[str, Any]:
    """The campaign as the API answers it: departments by code, never by row id."""
    c, codes = view.campaign, view.department_codes
    return {
        "id": c.id,
        "agency_id": c.agency_id,
        "department": codes.get(c.department_id) if c.department_id is not None else None,
        "title": c.title,
        "kind": c.kind,
        "state": c.state,
        "reject_reason": c.reject_reason,
        "slug": c.slug,
        "starts_on": c.starts_on.isoformat(),
        "ends_on": c.ends_on.isoformat(),
        "weekdays": c.weekdays,
        "hour_from": c.hour_from,
        "hour_until": c.hour_until,
        "priority": c.priority,
        "weight": c.weight,
        "caps": {"per_day": c.cap_per_day, "per_week": c.cap_per_week, "total": c.cap_total},
        "impressions": c.impressions,
        "post_call": {
            "card_news": c.post_call_card_news,
            "youtube_url": c.youtube_url,
            "policy_url": c.policy_url,
        },
        "images": [
            {
                "position": i.position,
                "alt_text": i.alt_text,
                "sha256": i.clean_sha256,
                "width": i.width,
                "height": i.height,
            }
            for i in view.images
        ],
        "targets": [
            {
                "kind": t.kind,
                "department": codes.get(t.department_id) if t.department_id is not None else None,
                "extension": t.extension,
            }
            for t in view.targets
        ],
        "created_by": c.created_by,
        "decided_by": c.decided_by,
    }


# -- the public card-news page ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicPage:
    campaign: Campaign
    images: list[CampaignImage]
    ended: bool


async def public_page(session: AsyncSession, slug: str) -> PublicPage | None:
    """The campaign behind /c/{slug} if it is (or was) published; drafts never are."""
    campaign = await repository.by_slug(session, slug)
    if campaign is None or campaign.state not in ("approved", "ended") or campaign.id is None:
        return None
    ended = campaign.state == "ended" or campaign.ends_on < utcnow().astimezone(SEOUL).date()
    return PublicPage(campaign, await repository.images_of(session, campaign.id), ended)


# -- images -----------------------------------------------------------------------------------


class MediaStoreLike(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 8000


@dataclass(frozen=True, slots=True)
class AddedImage:
    """An accepted image and the carriers whose frame enlarges it (the editor is warned)."""

    image: CampaignImage
    upscaled: tuple[renditions.Upscale, ...] = ()


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An upload checked, cleaned and made into every carrier's rendition, its files stored; not
    yet part of the campaign (`record_image` adds it)."""

    alt_text: str
    clean: media.CleanImage
    made: dict[str, renditions.Rendition]
    upscaled: tuple[renditions.Upscale, ...]


async def add_image(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    data: bytes,
    alt_text: str,
    store: MediaStoreLike,
    limits: UploadLimits = UploadLimits(),
) -> AddedImage:
    """Validate and clean an upload, keep the original, make every carrier's rendition, and add
    the image to the draft (`prepare_image`, then `record_image`).

    An image a carrier's frame would enlarge more than `renditions.MAX_UPSCALE` times is refused,
    naming each carrier's minimum; a smaller enlargement is accepted and warned about.
    """
    prepared = await prepare_image(session, actor, campaign_id, data, alt_text, store, limits)
    return await record_image(session, actor, campaign_id, prepared)


async def prepare_image(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    data: bytes,
    alt_text: str,
    store: MediaStoreLike,
    limits: UploadLimits = UploadLimits(),
) -> PreparedImage:
    """The image work, which writes nothing to the database: seconds of CPU for a large photo, run
    off the event loop. Kept out of any transaction, so no database lock waits on it (on SQLite a
    transaction that read before this work could no longer take the write lock after it)."""
    await _image_target(session, actor, campaign_id)
    alt = _alt_text(alt_text)
    clean = await asyncio.to_thread(
        media.inspect_upload,
        data,
        max_bytes=limits.max_bytes,
        max_pixels=limits.max_pixels,
        max_side=limits.max_side,
    )
    upscaled = renditions.check_size((clean.width, clean.height))
    made = await asyncio.to_thread(renditions.make_all_renditions, clean.data)
    await asyncio.to_thread(store.put, data)  # the original, kept as received
    await asyncio.to_thread(store.put, clean.data)
    for rendition in made.values():
        await asyncio.to_thread(store.put, rendition.data)
    return PreparedImage(alt, clean, made, tuple(upscaled))


async def record_image(
    session: AsyncSession, actor: Actor, campaign_id: int, prepared: PreparedImage
) -> AddedImage:
    """Add a prepared image at the end of the draft's series. The checks run again: the campaign
    may have changed while the image was prepared. Renditions for carriers that register content
    start `pending` (the content sync job registers them and follows approval); LG U+ takes its
    rendition inline."""
    campaign, existing = await _image_target(session, actor, campaign_id)
    clean = prepared.clean
    known = {r.carrier for r in await repository.renditions_for(session, [clean.sha256])}
    # The same picture uploaded before keeps its renditions (and the carriers' approvals of them).
    new_renditions = [
        CampaignRendition(
            clean_sha256=clean.sha256,
            carrier=carrier,
            sha256=rendition.sha256,
            mime_type=rendition.mime_type,
            width=rendition.width,
            height=rendition.height,
            byte_size=len(rendition.data),
            quality=rendition.quality,
            carrier_status="inline" if carrier in INLINE_CARRIERS else "pending",
        )
        for carrier, rendition in prepared.made.items()
        if carrier not in known
    ]
    image = CampaignImage(
        campaign_id=campaign_id,
        position=max((i.position for i in existing), default=-1) + 1,
        alt_text=prepared.alt_text,
        original_sha256=clean.original_sha256,
        clean_sha256=clean.sha256,
        mime_type=clean.mime_type,
        width=clean.width,
        height=clean.height,
    )
    campaign.updated_at = utcnow()
    await repository.add_rows(session, [*new_renditions, image])
    await _happened(session, campaign, actor, "image_added", prepared.alt_text)
    return AddedImage(image, prepared.upscaled)


async def _image_target(
    session: AsyncSession, actor: Actor, campaign_id: int
) -> tuple[Campaign, Sequence[CampaignImage]]:
    """The draft an image may be added to, and its images; refused with the reason otherwise."""
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed(
            "only the owning department or an approver may change this campaign", korean=ONLY_OWNERS
        )
    if campaign.state != "draft":
        raise Conflict(
            f"images can be added to a draft, not to a {campaign.state} campaign",
            korean="이미지는 작성 중인 캠페인에만 올릴 수 있습니다",
        )
    existing = await repository.images_of(session, campaign_id)
    if len(existing) >= MAX_IMAGES:
        raise CampaignProblem(
            f"a campaign holds at most {MAX_IMAGES} images",
            korean=f"이미지는 캠페인마다 {MAX_IMAGES}장까지 올릴 수 있습니다",
        )
    return campaign, existing


def _alt_text(alt_text: str) -> str:
    alt = alt_text.strip()
    if not 1 <= len(alt) <= 300:
        raise CampaignProblem(
            "alt_text: describe the image in 1-300 characters (read aloud to blind citizens)",
            korean="이미지 설명(대체 텍스트)을 1자 이상 300자 이하로 입력해 주세요",
        )
    if has_control(alt):
        raise CampaignProblem(
            f"alt_text: {NO_CONTROL}", korean="이미지 설명에는 줄바꿈 같은 제어 문자를 쓸 수 없습니다"
        )
    return alt


async def list_campaigns(session: AsyncSession, actor: Actor, state: str | None = None) -> list[Campaign]:
    """The actor's agency's campaigns (platform admins: every agency's), newest first."""
    return await repository.list_campaigns(session, lambda query, agency: scope(query, agency, actor), state)


async def phone_preview_png(
    session: AsyncSession, actor: Actor, campaign_id: int, carrier: str, store: MediaStoreLike
) -> bytes:
    """A PNG of the ringing phone for `carrier`: the department's identity and the first image."""

    if carrier not in ("skt", "kt", "lgu"):
        raise NotFound(f"no carrier {carrier!r}")
    view = await campaign_view(session, actor, campaign_id)
    agency, department = await directory_service.names(
        session, view.campaign.agency_id, view.campaign.department_id
    )
    guidance = await directory_service.department_guidance(
        session, view.campaign.agency_id, view.campaign.department_id
    )
    image: bytes | None = None
    if view.images:
        renditions = [
            r
            for r in await repository.renditions_for(session, [view.images[0].clean_sha256])
            if r.carrier == carrier
        ]
        if renditions:
            image = await asyncio.to_thread(store.get, renditions[0].sha256)
    return await asyncio.to_thread(preview.phone_preview, carrier, agency, department or "", guidance, image)


# -- what the editor's campaign page shows ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentStatus:
    """One carrier's copy of one image: registered and approved by the carrier, or not (yet)."""

    carrier: str
    status: str  # pending | approved | rejected | inline
    reason: str | None
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImageFacts:
    image: CampaignImage
    warnings: tuple[str, ...]  # the carriers whose frame enlarges it, in the editor's words
    content: tuple[ContentStatus, ...]


@dataclass(frozen=True, slots=True)
class EditorFacts:
    """What the campaign page tells the editor beyond the campaign's own fields."""

    agency_name: str
    department_name: str | None
    text_warnings: tuple[str, ...]  # what each carrier's limits cut of the identity texts
    images: tuple[ImageFacts, ...]
    freeze_warnings: tuple[str, ...] = ()  # promo freezes the schedule runs into


def _size_warnings(size: tuple[int, int]) -> tuple[str, ...]:
    try:
        return tuple(u.message for u in renditions.check_size(size))
    except media.MediaRefused as exc:  # accepted under an older limit
        return (exc.detail,)


async def editor_facts(session: AsyncSession, view: CampaignView) -> EditorFacts:
    c = view.campaign
    agency, department = await directory_service.names(session, c.agency_id, c.department_id)
    guidance = await directory_service.department_guidance(session, c.agency_id, c.department_id)
    hashes = [i.clean_sha256 for i in view.images]
    by_hash: dict[str, list[CampaignRendition]] = {}
    for r in await repository.renditions_for(session, hashes):
        by_hash.setdefault(r.clean_sha256, []).append(r)
    order = {carrier: n for n, carrier in enumerate(("skt", "kt", "lgu"))}
    images = tuple(
        ImageFacts(
            image,
            _size_warnings((image.width, image.height)),
            tuple(
                ContentStatus(r.carrier, r.carrier_status, r.carrier_reason, r.checked_at)
                for r in sorted(by_hash.get(image.clean_sha256, []), key=lambda r: order.get(r.carrier, 9))
            ),
        )
        for image in view.images
    )
    freezes = await directory_service.freeze_overlaps(session, c.agency_id, c.starts_on, c.ends_on)
    frozen = tuple(
        f"선거 등 홍보 제한 기간({f.starts_on.isoformat()} ~ {f.ends_on.isoformat()}, {f.reason})과 "
        "겹칩니다. 그동안 이 홍보 캠페인은 나가지 않고 기관·부서 표시만 나갑니다."
        for f in freezes
        if c.kind != "emergency"
    )
    return EditorFacts(
        agency,
        department,
        tuple(preview.cut_warnings(agency, department or "", guidance)),
        images,
        frozen,
    )


async def staff_image(
    session: AsyncSession, actor: Actor, campaign_id: int, position: int, store: MediaStoreLike
) -> tuple[bytes, str]:
    """One image of a campaign as cleaned (no metadata), for staff who may see the campaign."""
    await get_campaign(session, actor, campaign_id)
    images = await repository.images_of(session, campaign_id)
    found = next((i for i in images if i.position == position), None)
    if found is None:
        raise NotFound(f"no image at position {position}", korean="그 이미지를 찾을 수 없습니다")
    try:
        data = await asyncio.to_thread(store.get, found.clean_sha256)
    except FileNotFoundError:
        raise NotFound(
            f"image {position}'s file is missing from the media store",
            korean="이미지 파일을 찾을 수 없습니다",
        ) from None
    return data, found.mime_type


async def campaign_titles(session: AsyncSession, campaign_ids: Sequence[int]) -> dict[int, str]:
    """Campaign id -> title (the dashboard's impressions per campaign)."""
    return await repository.titles_of(session, campaign_ids)
