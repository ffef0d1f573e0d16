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
from campaigns.models import Campaign, CampaignImage, CampaignRendition, CampaignTarget
from campaigns.selection import SNAPSHOT_NAME as SNAPSHOT_NAME
from campaigns.selection import ActiveCampaign, CampaignSnapshot, Counts
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.errors import AppError, NotFound
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

    def problems(self) -> list[str]:
        out: list[str] = []
        texts = {
            "title": self.title,
            "youtube_url": self.youtube_url,
            "policy_url": self.policy_url,
            "department": self.department,
            "agency": self.agency,
            "target_departments": "".join(self.target_departments),
            "target_extensions": "".join(f"{t.department}{t.extension}" for t in self.target_extensions),
        }
        out.extend(f"{name}: {NO_CONTROL}" for name, value in texts.items() if value and has_control(value))
        if not 1 <= len(self.title.strip()) <= 80:
            out.append("title: 1-80 characters")
        if self.ends_on < self.starts_on:
            out.append("ends_on: before starts_on")
        if self.kind not in ("promo", "emergency"):
            out.append("kind: promo or emergency")
        if (
            not self.weekdays
            or any(ch not in "0123456" for ch in self.weekdays)
            or len(set(self.weekdays)) != len(self.weekdays)
        ):
            out.append("weekdays: digits 0 (Monday) to 6 (Sunday), each at most once")
        if not 0 <= self.hour_from < self.hour_until <= 24:
            out.append("hours: 0 <= hour_from < hour_until <= 24")
        if not 0 <= self.priority <= 100:
            out.append("priority: 0-100")
        if not 0 <= self.weight <= 1000:
            out.append("weight: 0-1000")
        for name in ("cap_per_day", "cap_per_week", "cap_total"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_CAP:
                out.append(f"{name}: 1-{MAX_CAP} when set")
        for name in ("youtube_url", "policy_url"):
            value = getattr(self, name)
            if value and not value.startswith("https://"):
                out.append(f"{name}: an https:// address")
            if value and len(value) > MAX_URL:
                out.append(f"{name}: at most {MAX_URL} characters")
        if self.youtube_url and not any(
            host in self.youtube_url for host in ("://www.youtube.com/", "://youtube.com/", "://youtu.be/")
        ):
            out.append("youtube_url: a YouTube address")
        if not (self.agency_wide or self.target_departments or self.target_extensions):
            out.append("targets: the agency, departments or extensions")
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
            out.append(f"departments: a department code of 1-{MAX_CODE} characters, not {bad_codes[0]!r}")
        bad = [
            t for t in self.target_extensions if not (t.extension.isdigit() and 2 <= len(t.extension) <= 8)
        ]
        if bad:
            out.append(f"target_extensions: digits, 2-8, not {bad[0].extension!r}")
        if len(self.target_departments) > MAX_TARGET_DEPARTMENTS:
            out.append(f"target_departments: at most {MAX_TARGET_DEPARTMENTS}")
        if len(self.target_extensions) > MAX_TARGET_EXTENSIONS:
            out.append(f"target_extensions: at most {MAX_TARGET_EXTENSIONS}")
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
            raise CampaignProblem("agency: a platform admin names the agency by its code")
        found = await directory_service.agency_id_for_code(session, code)
        if found is None:
            raise CampaignProblem(f"agency: no agency {code}")
        return found
    if actor.agency_id is None:
        raise NotAllowed("your account belongs to no agency")
    if code is not None and await directory_service.agency_id_for_code(session, code) != actor.agency_id:
        raise CampaignProblem(f"agency: no agency {code}")
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
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


async def create_campaign(session: AsyncSession, actor: Actor, data: CampaignInput) -> Campaign:
    """A new draft. An editor's campaign belongs to their department and targets only its
    extensions; the whole agency or other departments need an agency admin."""
    problems = data.problems()
    if problems:
        raise CampaignProblem("; ".join(problems))
    agency_id = await _acting_agency(session, actor, data.agency)
    codes = await _department_ids(session, agency_id, data)
    department_id = codes[data.department] if data.department is not None else None
    if not actor.is_admin:
        department_id = await _check_own_department(session, actor, data, department_id)
    await _check_extensions(session, agency_id, data.target_extensions)
    campaign = Campaign(
        agency_id=agency_id,
        department_id=department_id,
        title=data.title.strip(),
        kind=data.kind,
        slug=secrets.token_urlsafe(8),
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        weekdays=data.weekdays,
        hour_from=data.hour_from,
        hour_until=data.hour_until,
        priority=data.priority,
        weight=data.weight,
        cap_per_day=data.cap_per_day,
        cap_per_week=data.cap_per_week,
        cap_total=data.cap_total,
        post_call_card_news=data.post_call_card_news,
        youtube_url=data.youtube_url,
        policy_url=data.policy_url,
        created_by=actor.user_id,
    )
    await repository.add_rows(session, [campaign])
    assert campaign.id is not None
    await repository.add_rows(session, _targets(campaign.id, data, codes))
    return campaign


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
        raise CampaignProblem(f"departments not of this agency: {', '.join(foreign)}")
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
        raise CampaignProblem(f"target_extensions: not an extension of that department: {', '.join(wrong)}")


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
            f"{refused}: targeting needs an agency admin or an account of that department (yours has none)"
        )
    own = (await directory_service.department_codes(session, [actor.department_id])).get(
        actor.department_id, ""
    )
    if department_id not in (None, actor.department_id):
        raise NotAllowed(
            f"department {data.department}: you create campaigns for your own department ({own}) only"
        )
    if data.agency_wide:
        raise NotAllowed(
            f"agency_wide: targeting the whole agency needs an agency admin; target {own} or its extensions"
        )
    others = [code for code in data.target_departments if code != own]
    if others:
        raise NotAllowed(
            f"target_departments {', '.join(others)}: another department needs an agency admin;"
            f" you target {own}"
        )
    outside = [str(t) for t in data.target_extensions if t.department != own]
    if outside:
        raise NotAllowed(
            f"target_extensions {', '.join(outside)}: another department's extensions need an agency admin;"
            f" you target {own}'s"
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
        raise NotAllowed("only the owning department or an approver may submit this campaign")
    if campaign.state != "draft":
        raise Conflict(f"a {campaign.state} campaign cannot be submitted")
    if not await repository.images_of(session, campaign_id):
        raise CampaignProblem("add at least one image before submitting")
    campaign.state, campaign.submitted_at, campaign.updated_at = "submitted", utcnow(), utcnow()
    await session.flush()
    return campaign


async def approve_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """Approve a submitted campaign; never one's own. It reaches calls within seconds."""
    campaign = await get_campaign(session, actor, campaign_id)
    if actor.role not in ("approver", "admin", "platform_admin"):
        raise NotAllowed("only approvers approve campaigns")
    if campaign.created_by == actor.user_id:
        raise NotAllowed("a campaign is approved by someone other than its author")
    if campaign.state != "submitted":
        raise Conflict(f"a {campaign.state} campaign cannot be approved")
    now = utcnow()
    campaign.state, campaign.decided_by, campaign.decided_at, campaign.updated_at = (
        "approved",
        actor.user_id,
        now,
        now,
    )
    campaign.reject_reason = None
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return campaign


async def reject_campaign(session: AsyncSession, actor: Actor, campaign_id: int, reason: str) -> Campaign:
    """Send a submitted campaign back to draft with the reason."""
    campaign = await get_campaign(session, actor, campaign_id)
    if actor.role not in ("approver", "admin", "platform_admin"):
        raise NotAllowed("only approvers reject campaigns")
    if campaign.state != "submitted":
        raise Conflict(f"a {campaign.state} campaign cannot be rejected")
    if not 1 <= len(reason.strip()) <= 500:
        raise CampaignProblem("reason: 1-500 characters")
    if "\x00" in reason:
        raise CampaignProblem("reason: no NUL characters")
    now = utcnow()
    campaign.state, campaign.reject_reason = "draft", reason.strip()
    campaign.decided_by, campaign.decided_at, campaign.updated_at = actor.user_id, now, now
    await session.flush()
    return campaign


async def end_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed("only the owning department or an approver may end this campaign")
    if campaign.state == "ended":
        return campaign
    was_live = campaign.state == "approved"
    now = utcnow()
    campaign.state, campaign.ended_at, campaign.updated_at = "ended", now, now
    if was_live:
        await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return campaign


async def end_past_campaigns(session: AsyncSession, today: date) -> int:
    """Job: approved campaigns whose last day has passed become `ended`."""
    ended = 0
    for campaign in await repository.live_campaigns(session, date.min):
        if campaign.ends_on < today:
            campaign.state, campaign.ended_at = "ended", utcnow()
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


async def add_image(
    session: AsyncSession,
    actor: Actor,
    campaign_id: int,
    data: bytes,
    alt_text: str,
    store: MediaStoreLike,
    limits: UploadLimits = UploadLimits(),
) -> AddedImage:
    """Validate and clean an upload, keep the original, make every carrier's rendition.

    An image a carrier's frame would enlarge more than `renditions.MAX_UPSCALE` times is refused,
    naming each carrier's minimum; a smaller enlargement is accepted and warned about.

    The image work is CPU-bound and runs off the event loop. Renditions for carriers that
    register content start `pending` (the content sync job registers them and follows approval);
    LG U+ takes its rendition inline.
    """
    campaign = await get_campaign(session, actor, campaign_id)
    if not may_edit(actor, campaign):
        raise NotAllowed("only the owning department or an approver may change this campaign")
    if campaign.state != "draft":
        raise Conflict(f"images can be added to a draft, not to a {campaign.state} campaign")
    alt = alt_text.strip()
    if not 1 <= len(alt) <= 300:
        raise CampaignProblem(
            "alt_text: describe the image in 1-300 characters (read aloud to blind citizens)"
        )
    if has_control(alt):
        raise CampaignProblem(f"alt_text: {NO_CONTROL}")
    existing = await repository.images_of(session, campaign_id)
    if len(existing) >= MAX_IMAGES:
        raise CampaignProblem(f"a campaign holds at most {MAX_IMAGES} images")
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
        for carrier, rendition in made.items()
        if carrier not in known
    ]
    image = CampaignImage(
        campaign_id=campaign_id,
        position=max((i.position for i in existing), default=-1) + 1,
        alt_text=alt,
        original_sha256=clean.original_sha256,
        clean_sha256=clean.sha256,
        mime_type=clean.mime_type,
        width=clean.width,
        height=clean.height,
    )
    campaign.updated_at = utcnow()
    await repository.add_rows(session, [*new_renditions, image])
    return AddedImage(image, tuple(upscaled))


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
