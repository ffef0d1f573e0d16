"""Korean particles chosen from the word they follow (pages never show "이(가)")."""

from __future__ import annotations

import pytest

from lettering.core.templates import particle_for, render, with_particle


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
