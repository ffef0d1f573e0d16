"""Whom the `/verify` report form names: the agency in question, else the service's own, else none."""

from __future__ import annotations

from types import MappingProxyType

from lettering.core.templates import render
from lettering.directory.service import CallerNumberMatch, DirectorySnapshot
from lettering.directory.snapshot import AgencyView
from lettering.verify import service


def _agency(agency_id: int, name: str, *, enabled: bool = True) -> AgencyView:
    return AgencyView(
        id=agency_id,
        code=f"A{agency_id}",
        name=name,
        default_guidance="",
        enabled=enabled,
        fallback_unsupported=False,
        fallback_no_subscriber=False,
        fallback_carrier_failure=False,
    )


def _directory(*agencies: AgencyView) -> DirectorySnapshot:
    return DirectorySnapshot(agencies=MappingProxyType({a.id: a for a in agencies}))


def test_a_single_agency_service_names_its_agency() -> None:
    assert service.home_agency(_directory(_agency(1, "푸른군"))) == "푸른군"
    assert (
        service.home_agency(_directory(_agency(1, "푸른군"), _agency(2, "한빛도", enabled=False))) == "푸른군"
    )
    assert service.home_agency(_directory(_agency(1, "푸른군"), _agency(2, "한빛특례시"))) is None
    assert service.home_agency(_directory()) is None


def test_the_last_answer_decides_then_the_home_agency() -> None:
    match = CallerNumberMatch(2, "B", "한빛도청", 3, "민원과", "")
    lookup = service.NumberLookup("061-530-7000", [match])
    assert service.agency_in_question("푸른군", lookup=lookup) == "한빛도청"
    assert service.agency_in_question("푸른군", lookup=service.NumberLookup("061-530-7001", [])) == "푸른군"
    assert service.agency_in_question(None) is None


def test_the_heading_takes_the_agencys_particle() -> None:
    for agency, heading in (
        ("푸른군", "푸른군이"),
        ("한빛특례시", "한빛특례시가"),
        ("한빛도청", "한빛도청이"),
    ):
        html = render("verify.html", agency=agency)
        assert f"이 전화는 {heading} 건 것이 아닙니다" in html
        assert "시청" not in html
    assert "이 전화는 기관이 건 것이 아닙니다" in render("verify.html", agency=None)
