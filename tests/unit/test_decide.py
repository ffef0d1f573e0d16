"""decide(): identity, suppression, opt-out scopes, fallback policy, and the explanation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from types import MappingProxyType

import pytest

from campaigns.selection import ActiveCampaign, CampaignSnapshot, Counts
from lettering.decision.service import CallFacts, DecisionInputs, FallbackPolicy, decide
from lettering.directory.snapshot import AgencyView, DirectorySnapshot, ExtensionView
from lettering.optout.models import ALL_AGENCIES
from lettering.optout.service import OptoutIndex

HANBIT = AgencyView(
    id=1,
    code="HANBIT",
    name="한빛특례시",
    default_guidance="한빛특례시 공식 안내 전화입니다",
    enabled=True,
    fallback_unsupported=True,
    fallback_no_subscriber=False,
    fallback_carrier_failure=True,
)
PASSPORT = ExtensionView(
    agency_id=1,
    extension="2114",
    department_id=10,
    department_code="HANBIT-0100",
    department_name="민원여권과",
    guidance="여권 발급 관련 안내 전화입니다",
    team_name="여권팀",
    caller_e164="+823151802114",
)
BUDGET = replace(PASSPORT, extension="2000", department_id=11, department_name="기획예산과", guidance="")


def inputs(agency: AgencyView = HANBIT, optout: dict[tuple[str, int], str] | None = None) -> DecisionInputs:
    return DecisionInputs(
        directory=DirectorySnapshot(
            agencies=MappingProxyType({agency.id: agency}),
            extensions=MappingProxyType({(1, e.extension): e for e in (PASSPORT, BUDGET)}),
        ),
        optout=OptoutIndex(MappingProxyType(optout or {})),
    )


def call(extension: str = "2114", caller: str | None = None, agency_id: int = 1) -> CallFacts:
    return CallFacts(
        call_id="c1",
        agency_id=agency_id,
        extension=extension,
        callee_hash="h" * 64,
        caller_e164=caller,
        occurred_at=datetime(2026, 11, 24, 0, 15, tzinfo=UTC),
    )


def test_department_identity_and_guidance() -> None:
    d = decide(call(), inputs())
    assert d.verdict == "send"
    assert d.identity is not None
    assert (d.identity.agency_name, d.identity.department_name, d.identity.guidance) == (
        "한빛특례시",
        "민원여권과",
        "여권 발급 관련 안내 전화입니다",
    )
    assert d.caller_e164 == "+823151802114"
    assert d.department_id == 10
    assert d.campaign_id is None
    assert d.promo_allowed
    assert any("department's" in line for line in d.explanation)


def test_agency_default_guidance_when_the_department_has_none() -> None:
    d = decide(call("2000"), inputs())
    assert d.identity is not None
    assert d.identity.guidance == "한빛특례시 공식 안내 전화입니다"
    assert any("agency default" in line for line in d.explanation)


def test_presented_caller_number_wins_over_the_directory() -> None:
    assert decide(call(caller="+823151809999"), inputs()).caller_e164 == "+823151809999"


def test_fallback_policy_is_the_agencys() -> None:
    assert decide(call(), inputs()).fallback == FallbackPolicy(True, False, True)


@pytest.mark.parametrize(
    ("facts", "agency", "reason"),
    [
        (call("9999"), HANBIT, "extension_unknown"),
        (call(agency_id=2), HANBIT, "extension_unknown"),
        (call(), replace(HANBIT, enabled=False), "agency_disabled"),
    ],
)
def test_suppressed(facts: CallFacts, agency: AgencyView, reason: str) -> None:
    d = decide(facts, inputs(agency))
    assert (d.verdict, d.reason, d.identity) == ("suppressed", reason, None)
    assert d.explanation


@pytest.mark.parametrize("agency_key", [1, ALL_AGENCIES])
def test_opted_out_of_everything_is_suppressed(agency_key: int) -> None:
    d = decide(call(), inputs(optout={("h" * 64, agency_key): "all"}))
    assert (d.verdict, d.reason) == ("suppressed", "opted_out")


def test_opt_out_of_another_agency_does_not_apply() -> None:
    assert decide(call(), inputs(optout={("h" * 64, 2): "all"})).verdict == "send"


def test_promo_opt_out_keeps_the_identity_without_promotion() -> None:
    d = decide(call(), inputs(optout={("h" * 64, 1): "promo"}))
    assert d.verdict == "send"
    assert d.identity is not None
    assert not d.promo_allowed


def test_the_strictest_scope_wins() -> None:
    index = OptoutIndex(MappingProxyType({("x", 1): "promo", ("x", ALL_AGENCIES): "all"}))
    assert index.scope_for("x", 1) == "all"
    assert index.scope_for("x", 3) == "all"
    assert OptoutIndex(MappingProxyType({("x", 1): "promo"})).scope_for("x", 1) == "promo"
    assert OptoutIndex().scope_for("x", 1) == "none"


def with_campaigns(
    *campaigns: ActiveCampaign, optout: dict[tuple[str, int], str] | None = None
) -> DecisionInputs:
    return replace(inputs(optout=optout), campaigns=CampaignSnapshot(MappingProxyType({1: campaigns})))


def promo(cid: int, **changes: object) -> ActiveCampaign:
    base = ActiveCampaign(
        id=cid,
        agency_id=1,
        title=f"c{cid}",
        kind="promo",
        slug=f"s{cid}",
        starts_on=date(2026, 11, 1),
        ends_on=date(2026, 11, 30),
        weekdays="0123456",
        hour_from=9,
        hour_until=18,
        priority=1,
        weight=1,
        agency_wide=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_chosen_campaign_and_its_explanation() -> None:
    # 00:15 UTC is 09:15 in Seoul: inside 9-18, outside 10-18.
    d = decide(call(), with_campaigns(promo(1), promo(2, priority=4, hour_from=10), promo(3, priority=0)))
    assert d.campaign_id == 1
    assert "campaign 1: priority 1, agency target" in d.explanation
    assert "campaign 2 skipped: outside its hours" in d.explanation
    assert d.explanation[-1].startswith("campaigns targeting this call: 3; 1 out of schedule")


def test_the_call_time_is_read_in_seoul() -> None:
    # 2026-11-23 23:30 UTC is Tuesday 08:30 in Seoul: before 9, on a Tuesday.
    late = replace(call(), occurred_at=datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
    assert decide(late, with_campaigns(promo(1))).campaign_id is None
    assert decide(late, with_campaigns(promo(1, hour_from=8, weekdays="1"))).campaign_id == 1


def test_emergency_campaigns_bypass_caps_and_hours() -> None:
    capped = replace(call(), counts=Counts(today=MappingProxyType({1: 1, 2: 1})))
    campaigns = with_campaigns(
        promo(1, cap_per_day=1, priority=5), promo(2, kind="emergency", cap_per_day=1, hour_from=20)
    )
    d = decide(capped, campaigns)
    assert d.campaign_id == 2
    assert "campaign 1 skipped: capped for this callee today" in d.explanation


def test_promo_opt_out_gets_identity_but_no_campaign() -> None:
    d = decide(call(), with_campaigns(promo(1), optout={("h" * 64, 1): "promo"}))
    assert d.verdict == "send"
    assert d.campaign_id is None
    assert "content: none (callee opted out of promotion)" in d.explanation


def test_same_inputs_same_decision() -> None:
    assert decide(call(), inputs()) == decide(call(), inputs())
