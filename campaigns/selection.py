"""Choosing the campaign for one call: pure, over the active-campaign snapshot (no DB, no clock).

Rules (DESIGN.md, "Campaigns"): approved, in schedule (Asia/Seoul), targeting this extension,
allowed by the callee's opt-out scope, not capped for this callee; highest priority wins; ties
are broken by weight, deterministically from the call id, so a replayed call chooses the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")
SNAPSHOT_NAME = "campaigns"


@dataclass(frozen=True, slots=True)
class ActiveCampaign:
    id: int
    agency_id: int
    title: str
    kind: str  # promo | emergency (bypasses caps and hours)
    slug: str
    starts_on: date
    ends_on: date
    weekdays: str  # "0123456", Monday = 0
    hour_from: int
    hour_until: int
    priority: int
    weight: int
    cap_per_day: int | None = None
    cap_per_week: int | None = None
    cap_total: int | None = None
    # Targets: an agency-wide campaign, or these departments / extensions.
    agency_wide: bool = False
    departments: frozenset[int] = frozenset()
    extensions: frozenset[str] = frozenset()
    # Carrier -> content reference of an approved rendition (pushed only once the carrier approved it).
    content_refs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Carrier -> sha256 of a rendition sent inline (LG U+).
    inline: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    post_call_title: str = ""
    post_call_url: str | None = None


@dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    by_agency: Mapping[int, tuple[ActiveCampaign, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Counts:
    """What the database says about this callee and these campaigns (read before `decide`)."""

    today: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    week: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    total: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Selection:
    campaign: ActiveCampaign | None
    explanation: tuple[str, ...]


def tie_break(call_id: str, campaign_id: int) -> float:
    """A number in [0, 1) fixed by the call and the campaign."""
    digest = hashlib.sha256(f"{call_id}:{campaign_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def target_reason(c: ActiveCampaign, department_id: int, extension: str) -> str | None:
    if extension in c.extensions:
        return "extension target"
    if department_id in c.departments:
        return "department target"
    if c.agency_wide:
        return "agency target"
    return None


def skip_reason(c: ActiveCampaign, at: datetime, counts: Counts) -> str | None:
    """Why `c` cannot run for this call now, or None."""
    local = at.astimezone(SEOUL)
    if not c.starts_on <= local.date() <= c.ends_on:
        return "outside its dates"
    if c.kind != "emergency":
        if str(local.weekday()) not in c.weekdays:
            return "not on this weekday"
        if not c.hour_from <= local.hour < c.hour_until:
            return "outside its hours"
        if c.cap_total is not None and counts.total.get(c.id, 0) >= c.cap_total:
            return "total impressions reached"
        if c.cap_per_day is not None and counts.today.get(c.id, 0) >= c.cap_per_day:
            return "capped for this callee today"
        if c.cap_per_week is not None and counts.week.get(c.id, 0) >= c.cap_per_week:
            return "capped for this callee this week"
    return None


def select_campaign(
    snapshot: CampaignSnapshot,
    *,
    agency_id: int,
    department_id: int,
    extension: str,
    call_id: str,
    at: datetime,
    counts: Counts,
    promo_allowed: bool,
) -> Selection:
    """The campaign for this call, and why (every candidate considered is named)."""
    candidates = snapshot.by_agency.get(agency_id, ())
    if not candidates:
        return Selection(None, ("content: none (no active campaign)",))
    if not promo_allowed:
        return Selection(None, ("content: none (callee opted out of promotion)",))
    why: list[str] = []
    eligible: list[tuple[ActiveCampaign, str]] = []
    for c in candidates:
        reason = target_reason(c, department_id, extension)
        if reason is None:
            continue  # not for this extension: not worth a line in every call's explanation
        skipped = skip_reason(c, at, counts)
        if skipped is not None:
            why.append(f"campaign {c.id} skipped: {skipped}")
            continue
        eligible.append((c, reason))
    if not eligible:
        return Selection(None, (*why, "content: none (no campaign applies)"))
    top = max(c.priority for c, _ in eligible)
    best = [(c, r) for c, r in eligible if c.priority == top]
    for c, _ in eligible:
        if c.priority < top:
            why.append(f"campaign {c.id} skipped: priority {c.priority} < {top}")
    chosen, reason = best[0]
    if len(best) > 1:
        # Weighted choice with a point fixed by the call id: the same call always lands the same.
        ordered = sorted(best, key=lambda cr: cr[0].id)
        weights = [max(c.weight, 0) for c, _ in ordered]
        if not any(weights):
            weights = [1] * len(ordered)
        total = sum(weights)
        point = tie_break(call_id, 0) * total
        for (c, r), w in zip(ordered, weights, strict=True):
            point -= w
            if point < 0:
                chosen, reason = c, r
                break
        for c, _ in ordered:
            if c.id != chosen.id:
                why.append(f"campaign {c.id} not drawn: weight {c.weight} of {total} at priority {top}")
    why.insert(0, f"campaign {chosen.id}: priority {chosen.priority}, {reason}")
    return Selection(chosen, tuple(why))
