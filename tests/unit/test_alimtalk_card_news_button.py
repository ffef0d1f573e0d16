"""The identity notice of a call whose campaign has post-call card news carries a 카드뉴스 보기 button
(IDENTITY_NOTICE_02); the template rules check the button when a template is loaded and its link
when a message is rendered."""

from __future__ import annotations

from typing import Any

import pytest

from kakao_fallback.relay import template_parameters
from kakao_fallback.templates import TemplateRuleError, load_templates, render, template_from_json

LINKS = {
    "optout": "https://lettering.hanbit.go.kr/o/abc",
    "verify": "https://lettering.hanbit.go.kr/verify?code=482913",
    "card_news": "https://lettering.hanbit.go.kr/c/light-festival?t=eyJhIjoxfQ.Zm9v.YmFy",
}


def raw(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": "TEST_01",
        "kind": "identity_notice",
        "text": "[#{기관명}] 전화드렸습니다.",
        "buttons": [
            {"type": "WL", "name": "카드뉴스 보기", "linkMo": "#{카드뉴스URL}"},
            {"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"},
        ],
        "resend_title": "[#{기관명}] 전화 안내",
        "resend_text": "[#{기관명}] 전화 안내",
    }
    values.update(fields)
    return values


def test_the_shipped_notice_with_card_news_has_the_button_filled_by_the_relay() -> None:
    template = load_templates()["IDENTITY_NOTICE_02"]
    assert template.kind == "identity_notice"
    variables = {"agency": "한빛특례시", "verify_code": "482913", "card_news_url": "ignored here"}
    params = template_parameters("identity_notice", variables, LINKS)
    rendered = render(template, {k: v for k, v in params.items() if k in template.variables})
    assert [(b.name, b.link_mo) for b in rendered.buttons] == [
        ("발신 확인", LINKS["verify"]),
        ("카드뉴스 보기", LINKS["card_news"]),
        ("수신거부", LINKS["optout"]),
    ]
    # The same text as the notice without it: only the button (and the failover's link) differ.
    assert template.text == load_templates()["IDENTITY_NOTICE_01"].text
    assert LINKS["card_news"] in rendered.resend_text


def test_a_card_news_button_must_open_the_card_news_variable() -> None:
    with pytest.raises(TemplateRuleError) as exc:
        template_from_json(
            raw(buttons=[{"type": "WL", "name": "카드뉴스 보기", "linkMo": "https://x.example/#{정책URL}"}])
        )
    assert exc.value.rule == "card_news_button_invalid"
    assert "#{카드뉴스URL}" in str(exc.value)
    assert "카드뉴스 보기" in str(exc.value)
    with pytest.raises(TemplateRuleError, match="^card_news_button_invalid"):
        template_from_json(raw(buttons=[{"type": "TN", "name": "카드뉴스 문의", "telNumber": "#{회신번호}"}]))
    # A template without the button is fine (the notice of a call without card news).
    assert template_from_json(raw(buttons=[{"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"}]))


@pytest.mark.parametrize(
    "link",
    [
        "https://lettering.hanbit.go.kr/c/light-festival?t=eyJhIjoxfQ.Zm9v.YmFy",
        "https://lettering.hanbit.go.kr/c/light-festival",
    ],
)
def test_a_card_news_link_to_the_page_is_accepted(link: str) -> None:
    template = template_from_json(raw())
    rendered = render(template, {"기관명": "한빛특례시", "수신거부URL": LINKS["optout"], "카드뉴스URL": link})
    assert rendered.buttons[0].link_mo == link


@pytest.mark.parametrize(
    "link",
    [
        "https://elsewhere.example/phish?t=abc",
        "https://lettering.hanbit.go.kr/c/light-festival?t=abc&next=https://elsewhere.example",
        "https://lettering.hanbit.go.kr/c/",
        "https://lettering.hanbit.go.kr/o/abc",
    ],
)
def test_a_card_news_link_elsewhere_is_refused(link: str) -> None:
    template = template_from_json(raw())
    with pytest.raises(TemplateRuleError) as exc:
        render(template, {"기관명": "한빛특례시", "수신거부URL": LINKS["optout"], "카드뉴스URL": link})
    assert exc.value.rule == "card_news_link_invalid"
    assert "button 1" in str(exc.value)
    assert "t=abc" not in str(exc.value)  # the refusal never repeats a token
