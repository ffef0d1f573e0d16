"""Choosing the campaign for one call: pure, over the active-campaign snapshot (no DB, no clock).

Rules (DESIGN.md, "Campaigns"): approved, in schedule (Asia/Seoul), targeting this extension,
allowed by the callee's opt-out scope, not capped for this callee; highest priority wins; ties
are broken by weight, deterministically from the call id, so a replayed call chooses the same.

Speed at province scale: the snapshot carries an index built once when it is made. Per agency,
the campaigns targeting each extension, each department (merged with the agency-wide ones) and
the agency as a whole, each ordered by priority (highest first), with their schedule reduced to
day ordinals and a 168-bit weekday x hour mask. A call walks its candidates in that order and
stops below the first priority that has an eligible campaign: lower priorities can never win,
so they are counted, not checked. The explanation names the winner, the ones it was drawn
against, and the highest-priority skipped ones with their reasons; the rest are summarised in
counts (`explain_campaign` gives any single campaign's reason on demand).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

from lettering.core.clock import SEOUL

SNAPSHOT_NAME = "campaigns"

# Skipped campaigns named one by one in a call's explanation (highest priority first); the
# others are in the summary's counts.
NAMED_SKIPS = 3
_EVERY_HOUR_OF_THE_WEEK = (1 << (7 * 24)) - 1


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


# One candidate in an index list: (priority, first day ordinal, last day ordinal, weekday x hour
# mask, whether caps apply, the campaign, the target reason). A plain tuple: unpacked per call.
_Entry = tuple[int, int, int, int, bool, ActiveCampaign, str]


@dataclass(frozen=True, slots=True)
class ExtensionTargets:
    """The campaigns that target one extension by extension, and how they overlap the others."""

    entries: tuple[_Entry, ...]
    ids: frozenset[int]
    # How many of them the department's list (or the agency-wide list) also holds.
    also_agency_wide: int
    also_by_department: Mapping[int, int]

    def overlap(self, department_id: int) -> int:
        return self.also_by_department.get(department_id, self.also_agency_wide)


@dataclass(frozen=True, slots=True)
class AgencyIndex:
    """One agency's campaigns by target, each list ordered by priority, highest first."""

    agency_wide: tuple[_Entry, ...] = ()
    # Department id -> its own campaigns merged with the agency-wide ones (each campaign once).
    departments: Mapping[int, tuple[_Entry, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Extension -> the campaigns that target it by extension.
    extensions: Mapping[str, ExtensionTargets] = field(default_factory=lambda: MappingProxyType({}))
    # The campaigns with a cap (their counts are read before deciding).
    capped_ids: tuple[int, ...] = ()


def _hour_mask(c: ActiveCampaign) -> int:
    """Bit weekday * 24 + hour is set when the campaign may run then (emergency: always)."""
    if c.kind == "emergency":
        return _EVERY_HOUR_OF_THE_WEEK
    hours = 0
    for hour in range(24):
        if c.hour_from <= hour < c.hour_until:
            hours |= 1 << hour
    mask = 0
    for weekday in range(7):
        if str(weekday) in c.weekdays:
            mask |= hours << (weekday * 24)
    return mask


def _has_caps(c: ActiveCampaign) -> bool:
    return c.kind != "emergency" and (
        c.cap_total is not None or c.cap_per_day is not None or c.cap_per_week is not None
    )


def _ordered(entries: Iterable[_Entry]) -> tuple[_Entry, ...]:
    return tuple(sorted(entries, key=lambda e: (-e[0], e[5].id)))


def build_agency_index(campaigns: Sequence[ActiveCampaign]) -> AgencyIndex:
    """The index of one agency's campaigns (made once per snapshot, never per call)."""

    def entry(c: ActiveCampaign, target: str) -> _Entry:
        return (
            c.priority,
            c.starts_on.toordinal(),
            c.ends_on.toordinal(),
            _hour_mask(c),
            _has_caps(c),
            c,
            target,
        )

    agency_wide = [entry(c, "agency target") for c in campaigns if c.agency_wide]
    by_department: dict[int, list[_Entry]] = {}
    by_extension: dict[str, list[_Entry]] = {}
    for c in campaigns:
        for department_id in c.departments:
            by_department.setdefault(department_id, []).append(entry(c, "department target"))
        for extension in c.extensions:
            by_extension.setdefault(extension, []).append(entry(c, "extension target"))
    departments: dict[int, tuple[_Entry, ...]] = {}
    for department_id, own in by_department.items():
        # A campaign that targets the department and the agency counts once, as a department target.
        ids = {e[5].id for e in own}
        departments[department_id] = _ordered([*own, *(e for e in agency_wide if e[5].id not in ids)])
    extensions: dict[str, ExtensionTargets] = {}
    for extension, own in by_extension.items():
        also_by_department: dict[int, int] = {}
        for department_id in {d for e in own for d in e[5].departments}:
            also_by_department[department_id] = sum(
                1 for e in own if e[5].agency_wide or department_id in e[5].departments
            )
        extensions[extension] = ExtensionTargets(
            entries=_ordered(own),
            ids=frozenset(e[5].id for e in own),
            also_agency_wide=sum(1 for e in own if e[5].agency_wide),
            also_by_department=MappingProxyType(also_by_department),
        )
    return AgencyIndex(
        agency_wide=_ordered(agency_wide),
        departments=MappingProxyType(departments),
        extensions=MappingProxyType(extensions),
        capped_ids=tuple(sorted(c.id for c in campaigns if c.cap_per_day or c.cap_per_week or c.cap_total)),
    )


@dataclass(frozen=True, slots=True)
class CampaignSnapshot:
    by_agency: Mapping[int, tuple[ActiveCampaign, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Built from `by_agency` when the snapshot is made (see the module docstring).
    index: Mapping[int, AgencyIndex] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {agency_id: build_agency_index(cs) for agency_id, cs in self.by_agency.items() if cs}
        object.__setattr__(self, "index", MappingProxyType(index))

    def capped_ids(self, agency_id: int) -> tuple[int, ...]:
        """The agency's campaigns that have a cap (whose counts `load_counts` reads)."""
        index = self.index.get(agency_id)
        return index.capped_ids if index is not None else ()


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


def _schedule_reason(c: ActiveCampaign, local: datetime) -> str | None:
    if not c.starts_on <= local.date() <= c.ends_on:
        return "outside its dates"
    if c.kind != "emergency":
        if str(local.weekday()) not in c.weekdays:
            return "not on this weekday"
        if not c.hour_from <= local.hour < c.hour_until:
            return "outside its hours"
    return None


def _cap_reason(c: ActiveCampaign, counts: Counts) -> str | None:
    if c.kind == "emergency":
        return None
    if c.cap_total is not None and counts.total.get(c.id, 0) >= c.cap_total:
        return "total impressions reached"
    if c.cap_per_day is not None and counts.today.get(c.id, 0) >= c.cap_per_day:
        return "capped for this callee today"
    if c.cap_per_week is not None and counts.week.get(c.id, 0) >= c.cap_per_week:
        return "capped for this callee this week"
    return None


OUTSIDE_CALENDAR = "the call's time is outside the calendar"


def _seoul(at: datetime) -> datetime | None:
    """`at` in Asia/Seoul; None for an instant whose local time datetime cannot hold (year 0 or 10000)."""
    try:
        return at.astimezone(SEOUL)
    except OverflowError:
        return None


def skip_reason(c: ActiveCampaign, at: datetime, counts: Counts) -> str | None:
    """Why `c` cannot run for this call now, or None."""
    local = _seoul(at)
    if local is None:
        return OUTSIDE_CALENDAR
    return _schedule_reason(c, local) or _cap_reason(c, counts)


def _merged(targets: ExtensionTargets, base: tuple[_Entry, ...]) -> Iterator[_Entry]:
    """The extension's own campaigns and its department's list, by priority, each campaign once."""
    own, ids = targets.entries, targets.ids
    i, n = 0, len(own)
    for e in base:
        priority = e[0]
        while i < n and own[i][0] >= priority:  # within one priority, the order does not matter
            yield own[i]
            i += 1
        if e[5].id not in ids:
            yield e
    yield from own[i:]


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
    promo_frozen: bool = False,
) -> Selection:
    """The campaign for this call, and why (the decisive candidates named, the others counted).

    `promo_frozen`: the agency's promo freeze is in force for this call (the caller explains
    which): only emergency campaigns may be chosen, promo ones are counted as frozen."""
    index = snapshot.index.get(agency_id)
    if index is None:
        return Selection(None, ("content: none (no active campaign)",))
    if not promo_allowed:
        return Selection(None, ("content: none (callee opted out of promotion)",))
    base = index.departments.get(department_id, index.agency_wide)
    own = index.extensions.get(extension)
    candidates: Iterable[_Entry]
    if own is not None:
        candidates = _merged(own, base)
        targeting = len(own.entries) + len(base) - own.overlap(department_id)
    else:
        candidates = base
        targeting = len(base)
    if not targeting:
        return Selection(None, ("content: none (no campaign applies)",))

    try:
        local = at.astimezone(SEOUL)  # once per call
    except OverflowError:  # Seoul's time of the instant is year 0 or 10000 (a try costs nothing here)
        return Selection(None, (f"content: none ({OUTSIDE_CALENDAR})",))
    day = local.toordinal()
    hour_bit = 1 << (local.weekday() * 24 + local.hour)
    top: int | None = None
    best: list[tuple[ActiveCampaign, str]] = []
    named: list[str] = []
    out_of_schedule = capped = examined = frozen = 0
    for priority, first_day, last_day, hours, has_caps, c, target in candidates:
        if top is not None and priority < top:
            break  # lower priorities can never win
        examined += 1
        if promo_frozen and c.kind != "emergency":
            frozen += 1
            continue
        if not (first_day <= day <= last_day and hours & hour_bit):
            out_of_schedule += 1
            if len(named) < NAMED_SKIPS:
                named.append(f"campaign {c.id} skipped: {_schedule_reason(c, local)}")
            continue
        if has_caps:
            reason = _cap_reason(c, counts)
            if reason is not None:
                capped += 1
                if len(named) < NAMED_SKIPS:
                    named.append(f"campaign {c.id} skipped: {reason}")
                continue
        best.append((c, target))
        top = priority

    summary = (
        f"campaigns targeting this call: {targeting}; "
        + (f"{frozen} promo frozen, " if promo_frozen else "")
        + f"{out_of_schedule} out of schedule, "
        f"{capped} capped, {max(len(best) - 1, 0)} not drawn, "
        f"{targeting - examined} at a lower priority (not checked)"
    )
    if not best:
        return Selection(None, (*named, summary, "content: none (no campaign applies)"))
    chosen, reason = best[0]
    why: list[str] = []
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
    return Selection(
        chosen, (f"campaign {chosen.id}: priority {chosen.priority}, {reason}", *why, *named, summary)
    )


def explain_campaign(
    snapshot: CampaignSnapshot,
    campaign_id: int,
    *,
    agency_id: int,
    department_id: int,
    extension: str,
    at: datetime,
    counts: Counts,
) -> str:
    """Why one campaign could or could not run for a call (for the ones a summary only counts)."""
    c = next((c for c in snapshot.by_agency.get(agency_id, ()) if c.id == campaign_id), None)
    if c is None:
        return f"campaign {campaign_id}: not an active campaign of this agency"
    target = target_reason(c, department_id, extension)
    if target is None:
        return f"campaign {campaign_id}: does not target this call"
    skipped = skip_reason(c, at, counts)
    if skipped is not None:
        return f"campaign {campaign_id} skipped: {skipped}"
    return f"campaign {campaign_id}: eligible, priority {c.priority}, {target}"
