"""select_campaign(): every rule, deterministic ties, explanations."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime
from types import MappingProxyType

import pytest

from campaigns.selection import ActiveCampaign, CampaignSnapshot, Counts, select_campaign, skip_reason
from lettering.core.clock import SEOUL

# Tuesday 2026-11-24, 14:00 in Seoul.
AT = datetime(2026, 11, 24, 14, 0, tzinfo=SEOUL)


def campaign(cid: int, **changes: object) -> ActiveCampaign:
    base = ActiveCampaign(
        id=cid,
        agency_id=1,
        title=f"c{cid}",
        kind="promo",
        slug=f"s{cid}",
        starts_on=date(2026, 11, 1),
        ends_on=date(2026, 11, 30),
        weekdays="0123456",
        hour_from=0,
        hour_until=24,
        priority=1,
        weight=1,
        agency_wide=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def pick(*campaigns: ActiveCampaign, counts: Counts | None = None, call_id: str = "call-1", **kw: object):  # type: ignore[no-untyped-def]
    snapshot = CampaignSnapshot(MappingProxyType({1: tuple(campaigns)}))
    args: dict[str, object] = {
        "agency_id": 1,
        "department_id": 10,
        "extension": "2114",
        "call_id": call_id,
        "at": AT,
        "counts": counts or Counts(),
        "promo_allowed": True,
    }
    args.update(kw)
    return select_campaign(snapshot, **args)  # type: ignore[arg-type]


def test_no_campaigns() -> None:
    assert pick().campaign is None


def test_highest_priority_wins_and_says_why() -> None:
    s = pick(
        campaign(17, priority=2), campaign(42, priority=5, agency_wide=False, departments=frozenset({10}))
    )
    assert s.campaign is not None
    assert s.campaign.id == 42
    assert s.explanation[0] == "campaign 42: priority 5, department target"
    # The lower priority can never win: counted, not checked, not given a line of its own.
    assert s.explanation[-1] == (
        "campaigns targeting this call: 2; 0 out of schedule, 0 capped, 0 not drawn, "
        "1 at a lower priority (not checked)"
    )
    assert not any("campaign 17" in line for line in s.explanation)


def test_a_higher_priority_campaign_out_of_schedule_is_named() -> None:
    s = pick(campaign(17, priority=2), campaign(42, priority=5, hour_from=15))
    assert s.campaign is not None
    assert s.campaign.id == 17
    assert "campaign 42 skipped: outside its hours" in s.explanation
    assert "campaigns targeting this call: 2; 1 out of schedule, 0 capped" in s.explanation[-1]


def test_ties_name_the_campaigns_not_drawn() -> None:
    s = pick(campaign(1, weight=3), campaign(2, weight=1), campaign(3, priority=0))
    assert s.campaign is not None
    loser = 2 if s.campaign.id == 1 else 1
    assert f"campaign {loser} not drawn: weight {3 if loser == 1 else 1} of 4 at priority 1" in s.explanation
    assert "1 not drawn, 1 at a lower priority" in s.explanation[-1]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"starts_on": date(2026, 11, 25)}, "outside its dates"),
        ({"ends_on": date(2026, 11, 23)}, "outside its dates"),
        ({"weekdays": "0"}, "not on this weekday"),  # Tuesday is 1
        ({"hour_from": 15}, "outside its hours"),
        ({"hour_until": 14}, "outside its hours"),
    ],
)
def test_schedule(changes: dict[str, object], reason: str) -> None:
    s = pick(campaign(1, **changes))
    assert s.campaign is None
    assert f"campaign 1 skipped: {reason}" in s.explanation


@pytest.mark.parametrize(
    ("changes", "counts", "reason"),
    [
        ({"cap_per_day": 1}, Counts(today={1: 1}), "capped for this callee today"),
        ({"cap_per_week": 3}, Counts(week={1: 3}), "capped for this callee this week"),
        ({"cap_total": 100}, Counts(total={1: 100}), "total impressions reached"),
    ],
)
def test_caps(changes: dict[str, object], counts: Counts, reason: str) -> None:
    s = pick(campaign(1, **changes), counts=counts)
    assert s.campaign is None
    assert f"campaign 1 skipped: {reason}" in s.explanation
    assert pick(campaign(1, **changes)).campaign is not None  # under the cap it runs


def test_emergency_bypasses_caps_and_hours_but_not_dates() -> None:
    urgent = campaign(9, kind="emergency", cap_per_day=1, hour_from=23, weekdays="0")
    assert pick(urgent, counts=Counts(today={9: 5})).campaign is not None
    assert pick(replace(urgent, ends_on=date(2026, 11, 1))).campaign is None


def test_targets() -> None:
    ext = campaign(1, agency_wide=False, extensions=frozenset({"2114"}))
    other_ext = campaign(2, agency_wide=False, extensions=frozenset({"2115"}))
    other_dept = campaign(3, agency_wide=False, departments=frozenset({11}))
    s = pick(ext, other_ext, other_dept)
    assert s.campaign is not None
    assert s.campaign.id == 1
    assert "extension target" in s.explanation[0]
    assert pick(other_ext, other_dept).campaign is None


def test_other_agencies_campaigns_never_apply() -> None:
    assert pick(campaign(1), agency_id=2).campaign is None


def test_promo_opt_out_gets_no_campaign() -> None:
    s = pick(campaign(1), promo_allowed=False)
    assert s.campaign is None
    assert "opted out" in s.explanation[0]


def test_ties_are_weighted_and_repeatable() -> None:
    a, b = campaign(1, weight=3), campaign(2, weight=1)
    chosen = [pick(a, b, call_id=f"call-{i}").campaign for i in range(2000)]
    counts = Counter(c.id for c in chosen if c is not None)
    assert 1300 < counts[1] < 1700  # about 3 in 4
    assert all(
        pick(a, b, call_id=f"call-{i}").campaign == chosen[i] for i in range(50)
    )  # replay: same choice
    assert pick(b, a, call_id="call-7").campaign == pick(a, b, call_id="call-7").campaign  # order-free


@pytest.mark.parametrize(
    "at",
    [
        datetime.fromisoformat("9999-12-31T23:59:59-10:00"),
        datetime.fromisoformat("9999-12-31T23:59:59+00:00"),
        datetime.fromisoformat("0001-01-01T00:30:00+01:00"),
    ],
)
def test_a_time_at_the_ends_of_the_calendar_selects_nothing_and_says_why(at: datetime) -> None:
    """Seoul's local time of such an instant is outside datetime's range: no campaign, never a crash."""
    s = pick(campaign(1), at=at)
    assert s.campaign is None
    assert s.explanation == ("content: none (the call's time is outside the calendar)",)
    assert skip_reason(campaign(1), at, Counts()) == "the call's time is outside the calendar"
