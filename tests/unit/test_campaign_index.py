"""The campaign index picks exactly what the plain linear scan picked, and explains itself.

`reference_select` below is the selection as it was before the index (every campaign of the
agency checked in turn); seeded random snapshots and calls compare the two.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import pytest

from campaigns.selection import (
    NAMED_SKIPS,
    SEOUL,
    ActiveCampaign,
    CampaignSnapshot,
    Counts,
    explain_campaign,
    select_campaign,
    tie_break,
)

SUMMARY = re.compile(
    r"campaigns targeting this call: (\d+); (\d+) out of schedule, (\d+) capped, (\d+) not drawn, "
    r"(\d+) at a lower priority \(not checked\)"
)


# -- the reference: the linear scan, rule by rule ------------------------------------------


def ref_target(c: ActiveCampaign, department_id: int, extension: str) -> str | None:
    if extension in c.extensions:
        return "extension target"
    if department_id in c.departments:
        return "department target"
    if c.agency_wide:
        return "agency target"
    return None


def ref_skip(c: ActiveCampaign, at: datetime, counts: Counts) -> str | None:
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


@dataclass
class Reference:
    chosen: ActiveCampaign | None
    reason: str | None
    targeting: dict[int, str]  # campaign id -> target reason
    skipped: dict[int, str]  # campaign id -> skip reason
    best: list[ActiveCampaign]


def reference_select(
    campaigns: tuple[ActiveCampaign, ...],
    department_id: int,
    extension: str,
    call_id: str,
    at: datetime,
    counts: Counts,
) -> Reference:
    targeting: dict[int, str] = {}
    skipped: dict[int, str] = {}
    eligible: list[tuple[ActiveCampaign, str]] = []
    for c in campaigns:
        target = ref_target(c, department_id, extension)
        if target is None:
            continue
        targeting[c.id] = target
        skip = ref_skip(c, at, counts)
        if skip is not None:
            skipped[c.id] = skip
        else:
            eligible.append((c, target))
    if not eligible:
        return Reference(None, None, targeting, skipped, [])
    top = max(c.priority for c, _ in eligible)
    best = sorted(((c, r) for c, r in eligible if c.priority == top), key=lambda cr: cr[0].id)
    chosen, reason = best[0]
    if len(best) > 1:
        weights = [max(c.weight, 0) for c, _ in best]
        if not any(weights):
            weights = [1] * len(best)
        point = tie_break(call_id, 0) * sum(weights)
        for (c, r), w in zip(best, weights, strict=True):
            point -= w
            if point < 0:
                chosen, reason = c, r
                break
    return Reference(chosen, reason, targeting, skipped, [c for c, _ in best])


# -- random worlds --------------------------------------------------------------------------

EXTENSIONS = [str(e) for e in range(2000, 2012)]
DEPARTMENTS = [10, 11, 12, 13]
DEPARTMENT_OF = {ext: DEPARTMENTS[i % len(DEPARTMENTS)] for i, ext in enumerate(EXTENSIONS)}
MONTH = datetime(2026, 11, 1, tzinfo=SEOUL)


def random_campaign(rng: random.Random, cid: int, agency_id: int) -> ActiveCampaign:
    starts = date(2026, 10, 25) + timedelta(days=rng.randrange(20))
    hour_from = rng.randrange(0, 20)
    hours = (0, 24) if rng.random() < 0.4 else (hour_from, rng.randrange(hour_from + 1, 25))
    weekdays = "0123456" if rng.random() < 0.4 else "".join(sorted(rng.sample("0123456", rng.randint(1, 6))))
    kinds = rng.random()
    return ActiveCampaign(
        id=cid,
        agency_id=agency_id,
        title=f"c{cid}",
        kind="emergency" if kinds < 0.1 else "promo",
        slug=f"s{cid}",
        starts_on=starts,
        ends_on=starts + timedelta(days=rng.randrange(0, 20)),
        weekdays=weekdays,
        hour_from=hours[0],
        hour_until=hours[1],
        priority=rng.randrange(4),  # few levels: many ties
        weight=rng.choice((0, 0, 1, 2, 5)),
        cap_per_day=rng.choice((None, None, 1, 2)),
        cap_per_week=rng.choice((None, None, 2, 4)),
        cap_total=rng.choice((None, None, None, 10)),
        agency_wide=rng.random() < 0.3,
        departments=frozenset(rng.sample(DEPARTMENTS, rng.choice((0, 0, 1, 2)))),
        extensions=frozenset(rng.sample(EXTENSIONS, rng.choice((0, 0, 1, 3)))),
    )


def random_world(rng: random.Random) -> CampaignSnapshot:
    by_agency: dict[int, tuple[ActiveCampaign, ...]] = {}
    cid = 0
    for agency_id in (1, 2):
        own = []
        for _ in range(rng.randrange(0, 25)):
            cid += 1
            own.append(random_campaign(rng, cid, agency_id))
        by_agency[agency_id] = tuple(own)
    return CampaignSnapshot(MappingProxyType(by_agency))


def random_counts(rng: random.Random, snapshot: CampaignSnapshot) -> Counts:
    ids = [c.id for cs in snapshot.by_agency.values() for c in cs]
    return Counts(
        MappingProxyType({i: rng.randrange(3) for i in ids if rng.random() < 0.5}),
        MappingProxyType({i: rng.randrange(5) for i in ids if rng.random() < 0.5}),
        MappingProxyType({i: rng.randrange(12) for i in ids if rng.random() < 0.3}),
    )


CASES = [
    pytest.param(seed, id=f"seed-{seed}")
    for seed in range(40)  # each seed: one world, 50 calls
]


@pytest.mark.parametrize("seed", CASES)
def test_the_index_chooses_what_the_linear_scan_chose(seed: int) -> None:
    rng = random.Random(seed)
    snapshot = random_world(rng)
    for n in range(50):
        agency_id = rng.choice((1, 2))
        extension = rng.choice(EXTENSIONS)
        department_id = DEPARTMENT_OF[extension]
        at = (MONTH + timedelta(minutes=rng.randrange(30 * 24 * 60))).astimezone(UTC)
        counts = random_counts(rng, snapshot)
        call_id = f"call-{seed}-{n}"
        got = select_campaign(
            snapshot,
            agency_id=agency_id,
            department_id=department_id,
            extension=extension,
            call_id=call_id,
            at=at,
            counts=counts,
            promo_allowed=True,
        )
        ref = reference_select(snapshot.by_agency[agency_id], department_id, extension, call_id, at, counts)
        assert got.campaign == ref.chosen, (seed, n, got.explanation)
        if not snapshot.by_agency[agency_id]:
            assert got.explanation == ("content: none (no active campaign)",)
            continue
        if not ref.targeting:
            assert got.explanation == ("content: none (no campaign applies)",)
            continue
        (summary,) = [line for line in got.explanation if line.startswith("campaigns targeting")]
        match = SUMMARY.fullmatch(summary)
        assert match is not None, summary
        targeting, out_of_schedule, capped, not_drawn, lower = map(int, match.groups())
        assert targeting == len(ref.targeting)
        assert not_drawn == max(len(ref.best) - 1, 0)
        top = ref.chosen.priority if ref.chosen is not None else None
        # Every campaign at or above the winning priority was checked; the skipped ones among them
        # are counted by their kind of reason, and the rest (lower priorities) are not checked.
        checked_skips = [
            cid
            for cid in ref.skipped
            if top is None or next(c for c in snapshot.by_agency[agency_id] if c.id == cid).priority >= top
        ]
        schedule_reasons = ("outside its dates", "not on this weekday", "outside its hours")
        assert out_of_schedule == sum(1 for cid in checked_skips if ref.skipped[cid] in schedule_reasons)
        assert capped == len(checked_skips) - out_of_schedule
        assert lower == targeting - len(checked_skips) - len(ref.best)
        named = [line for line in got.explanation if " skipped: " in line]
        assert len(named) == min(len(checked_skips), NAMED_SKIPS)
        priority_of = {c.id: c.priority for c in snapshot.by_agency[agency_id]}
        for line in named:
            cid = int(line.split()[1])
            assert line == f"campaign {cid} skipped: {ref.skipped[cid]}"
        # The named ones are the highest-priority skipped ones.
        if named:
            lowest_named = min(priority_of[int(line.split()[1])] for line in named)
            assert all(
                priority_of[cid] <= lowest_named
                for cid in checked_skips
                if f"campaign {cid} " not in " ".join(named) + " "
            )
        if ref.chosen is None:
            assert got.explanation[-1] == "content: none (no campaign applies)"
        else:
            assert (
                got.explanation[0]
                == f"campaign {ref.chosen.id}: priority {ref.chosen.priority}, {ref.reason}"
            )
            drawn_against = {int(line.split()[1]) for line in got.explanation if " not drawn: " in line}
            assert drawn_against == {c.id for c in ref.best} - {ref.chosen.id}
        for cid, target in ref.targeting.items():
            expected = (
                f"campaign {cid} skipped: {ref.skipped[cid]}"
                if cid in ref.skipped
                else f"campaign {cid}: eligible, priority {priority_of[cid]}, {target}"
            )
            found = explain_campaign(
                snapshot,
                cid,
                agency_id=agency_id,
                department_id=department_id,
                extension=extension,
                at=at,
                counts=counts,
            )
            assert found == expected


def test_a_campaign_targeting_an_extension_its_department_and_the_agency_counts_once() -> None:
    everywhere = ActiveCampaign(
        id=7,
        agency_id=1,
        title="c7",
        kind="promo",
        slug="s7",
        starts_on=date(2026, 11, 1),
        ends_on=date(2026, 11, 30),
        weekdays="0123456",
        hour_from=0,
        hour_until=24,
        priority=3,
        weight=1,
        agency_wide=True,
        departments=frozenset({10}),
        extensions=frozenset({"2114"}),
    )
    snapshot = CampaignSnapshot(MappingProxyType({1: (everywhere,)}))
    s = select_campaign(
        snapshot,
        agency_id=1,
        department_id=10,
        extension="2114",
        call_id="c",
        at=datetime(2026, 11, 24, 14, tzinfo=SEOUL),
        counts=Counts(),
        promo_allowed=True,
    )
    assert s.explanation[0] == "campaign 7: priority 3, extension target"
    assert "campaigns targeting this call: 1;" in s.explanation[-1]


def test_the_capped_ids_are_the_campaigns_with_a_cap() -> None:
    rng = random.Random(5)
    snapshot = random_world(rng)
    for agency_id, campaigns in snapshot.by_agency.items():
        expected = sorted(c.id for c in campaigns if c.cap_per_day or c.cap_per_week or c.cap_total)
        assert list(snapshot.capped_ids(agency_id)) == expected
    assert snapshot.capped_ids(99) == ()


def test_skipped_campaigns_beyond_the_named_ones_are_counted_and_explainable() -> None:
    at = datetime(2026, 11, 24, 14, tzinfo=SEOUL)  # a Tuesday
    late = [
        ActiveCampaign(
            id=cid,
            agency_id=1,
            title=f"c{cid}",
            kind="promo",
            slug=f"s{cid}",
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 31),
            weekdays="0123456",
            hour_from=0,
            hour_until=24,
            priority=9,
            weight=1,
            agency_wide=True,
        )
        for cid in range(1, NAMED_SKIPS + 6)
    ]
    snapshot = CampaignSnapshot(MappingProxyType({1: tuple(late)}))
    s = select_campaign(
        snapshot,
        agency_id=1,
        department_id=10,
        extension="2114",
        call_id="c",
        at=at,
        counts=Counts(),
        promo_allowed=True,
    )
    assert s.campaign is None
    assert sum(" skipped: outside its dates" in line for line in s.explanation) == NAMED_SKIPS
    assert f"campaigns targeting this call: {len(late)}; {len(late)} out of schedule," in " ".join(
        s.explanation
    )
    last = late[-1].id
    assert f"campaign {last} " not in " ".join(s.explanation)
    assert (
        explain_campaign(
            snapshot, last, agency_id=1, department_id=10, extension="2114", at=at, counts=Counts()
        )
        == f"campaign {last} skipped: outside its dates"
    )
    assert explain_campaign(
        snapshot, 999, agency_id=1, department_id=10, extension="2114", at=at, counts=Counts()
    ).endswith("not an active campaign of this agency")
