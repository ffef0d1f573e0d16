"""Korean particles chosen from the word they follow (pages never show "이(가)")."""

from __future__ import annotations

import re

import pytest

from lettering.core.templates import TEMPLATE_DIR, particle_for, render, with_particle


@pytest.mark.parametrize(
    ("word", "particle", "expected"),
    [
        ("한빛특례시", "이", "한빛특례시가"),
        ("푸른군", "이", "푸른군이"),
        ("모두 받기", "으로", "모두 받기로"),
        ("서울", "으로", "서울로"),
        ("민원여권과", "을", "민원여권과를"),
        ("도청", "은", "도청은"),
        ("KT", "이", "KT가"),
        # Digits as they are read: 3 삼, 4 사, 0 영, 1 일 (ㄹ: 로), 6 육, 7 칠, 8 팔, 2 이, 9 구.
        ("031-5180-2113", "은", "031-5180-2113은"),
        ("031-5180-2114", "은", "031-5180-2114는"),
        ("1120", "이", "1120이"),
        ("2111", "으로", "2111로"),
        ("2111", "을", "2111을"),
        ("16", "으로", "16으로"),
        ("7", "과", "7과"),
        ("8", "은", "8은"),
        ("2", "이", "2가"),
        ("9", "을", "9를"),
        ("5", "으로", "5로"),
        # Latin letters as they are read: M 엠, N 엔, L 엘 and R 알 (ㄹ), the others end in a vowel.
        ("ARS", "으로", "ARS로"),
        ("URL", "으로", "URL로"),
        ("URL", "이", "URL이"),
        ("CCTV", "을", "CCTV를"),
        ("PIN", "을", "PIN을"),
        ("sms", "은", "sms는"),
        ("SKT", "과", "SKT와"),
        ("LG U+", "이", "LG U+가"),  # "+" is not read: the word is taken as ending in a vowel
        # Closing marks are skipped: the particle follows the word inside them.
        ("「모두 받기」", "으로", "「모두 받기」로"),
        ("「홍보만 받지 않기」", "으로", "「홍보만 받지 않기」로"),
        ("(2113)", "은", "(2113)은"),
        ("", "이", "가"),
    ],
)
def test_the_particle_follows_the_word(word: str, particle: str, expected: str) -> None:
    assert with_particle(word, particle) == expected
    assert particle_for(word, particle) == expected[len(word) :]


def test_the_card_news_page_names_the_agency_with_its_particle() -> None:
    html = render(
        "card_news.html",
        title="t",
        agency="한빛특례시",
        department="민원여권과",
        ended=False,
        images=[],
        youtube_url=None,
        policy_url=None,
        optout_url=None,
    )
    assert "한빛특례시가 전화 안내와 함께" in html
    assert "(가)" not in html


def test_the_number_check_names_the_number_with_its_particle() -> None:
    def page(display: str, matches: list[str]) -> str:
        lookup = {
            "display": display,
            "matches": [{"agency_name": m, "department_name": "d"} for m in matches],
        }
        return render("verify.html", number_result={"invalid": False, "lookup": lookup})

    assert "031-5180-2113은 등록된 기관 번호입니다" in page("031-5180-2113", ["한빛특례시"])
    assert "031-5180-2114는 등록된 기관 번호입니다" in page("031-5180-2114", ["한빛특례시"])
    assert "031-5180-9990은 이 서비스에 등록된 기관 번호가 아닙니다" in page("031-5180-9990", [])
    assert "031-5180-9992는 이 서비스에 등록된 기관 번호가 아닙니다" in page("031-5180-9992", [])
    report = render(
        "verify.html", report_result={"display": "061-530-7001", "agency_name": "푸른군", "report_id": 1}
    )
    assert "061-530-7001은 푸른군의 번호입니다" in report


# "은(는)", "이(가)", "(으)로", "을(를)", "과(와)": a particle left for the reader to choose.
_MECHANICAL = re.compile(r"\((?:가|는|를|와|으|이|은|을|과|으로)\)")


def test_no_citizen_page_uses_a_mechanical_particle() -> None:
    for template in sorted(TEMPLATE_DIR.glob("*.html")):
        found = _MECHANICAL.findall(template.read_text(encoding="utf-8"))
        assert not found, f"{template.name}: {found}"
