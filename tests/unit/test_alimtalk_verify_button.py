"""A message that gives the citizen a 확인코드 takes them to /verify: a web-link button, checked by the
template rules when a template is loaded and when a message is rendered."""

from __future__ import annotations

from typing import Any

import pytest

from kakao_fallback.relay import template_parameters
from kakao_fallback.templates import TemplateRuleError, load_templates, render, template_from_json


def raw(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": "TEST_01",
        "kind": "identity_notice",
        "text": "[#{기관명}] 전화드렸습니다.\n확인코드: #{확인코드}",
        "buttons": [
            {"type": "WL", "name": "발신 확인", "linkMo": "#{확인URL}"},
            {"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"},
        ],
        "resend_title": "[#{기관명}] 전화 안내",
        "resend_text": "[#{기관명}] 확인코드 #{확인코드}",
    }
    values.update(fields)
    return values


def test_a_template_mentioning_the_code_without_the_button_is_refused() -> None:
    with pytest.raises(TemplateRuleError) as exc:
        template_from_json(raw(buttons=[{"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"}]))
    assert exc.value.rule == "verify_button_missing"
    assert "확인코드" in str(exc.value)
    assert "#{확인URL}" in str(exc.value)
    # A call button cannot stand in for it, nor can the word in the failover text alone go without.
    with pytest.raises(TemplateRuleError, match="^verify_button_missing"):
        template_from_json(
            raw(
                text="[#{기관명}] #{회신번호}에서 전화드렸습니다.",
                buttons=[{"type": "TN", "name": "전화", "telNumber": "#{회신번호}"}],
                resend_text="[#{기관명}] 확인코드 안내",
            )
        )


def test_a_template_without_the_code_needs_no_button() -> None:
    template = template_from_json(
        raw(
            text="[#{기관명}] 전화드렸습니다.",
            buttons=[{"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"}],
            resend_text="[#{기관명}] 전화 안내",
        )
    )
    assert [b.name for b in template.buttons] == ["수신거부"]


def test_the_button_must_open_the_verify_page() -> None:
    template = template_from_json(raw())
    params = {
        "기관명": "한빛특례시",
        "확인코드": "482913",
        "수신거부URL": "https://lettering.hanbit.go.kr/o/abc",
    }
    ok = render(template, {**params, "확인URL": "https://lettering.hanbit.go.kr/verify?code=482913"})
    assert ok.buttons[0].link_mo == "https://lettering.hanbit.go.kr/verify?code=482913"
    with pytest.raises(TemplateRuleError, match="^verify_link_invalid"):
        render(template, {**params, "확인URL": "https://elsewhere.example/phish?code=482913"})


def test_the_shipped_identity_notice_has_the_button_filled_by_the_relay() -> None:
    template = load_templates()["IDENTITY_NOTICE_01"]
    links = {
        "optout": "https://lettering.hanbit.go.kr/o/abc",
        "verify": "https://lettering.hanbit.go.kr/verify?code=482913",
    }
    params = template_parameters("identity_notice", {"agency": "한빛특례시", "verify_code": "482913"}, links)
    rendered = render(template, {k: v for k, v in params.items() if k in template.variables})
    assert [(b.type, b.name, b.link_mo) for b in rendered.buttons] == [
        ("WL", "발신 확인", "https://lettering.hanbit.go.kr/verify?code=482913"),
        ("WL", "수신거부", "https://lettering.hanbit.go.kr/o/abc"),
    ]
    # Every shipped template that mentions the code carries the button.
    for shipped in load_templates().values():
        if "확인코드" in shipped.text:
            assert any("#{확인URL}" in (b.link_mo or "") for b in shipped.buttons), shipped.code
