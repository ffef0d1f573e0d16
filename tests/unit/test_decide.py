"""decide(): identity, suppression, opt-out scopes, fallback policy, and the explanation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType

import pytest

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


def test_same_inputs_same_decision() -> None:
    assert decide(call(), inputs()) == decide(call(), inputs())
