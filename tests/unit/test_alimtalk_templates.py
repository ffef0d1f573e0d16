"""AlimTalk templates: the shipped files, `render`, and every rule `check` enforces (spec/alimtalk.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kakao_fallback.templates import (
    KINDS,
    LMS_LIMIT_BYTES,
    SMS_LIMIT_BYTES,
    TEMPLATE_DIR,
    Button,
    Rendered,
    Template,
    TemplateRuleError,
    check,
    load_templates,
    render,
    template_from_json,
)

# A full, realistic parameter set: every variable any shipped template uses.
REALISTIC: dict[str, str] = {
    "기관명": "한빛특례시",
    "부서명": "민원여권과",
    "안내문구": "여권 발급 관련 안내 전화입니다",
    "통화시각": "11월 24일 14:02",
    "회신번호": "031-5180-2114",
    "확인코드": "482913",
    "확인URL": "https://lettering.hanbit.go.kr/verify?code=482913",
    "수신거부URL": "https://lettering.hanbit.go.kr/o/eyJrIjoiYTFiMmMzIn0.Zm9vYmFy",
    "카드뉴스URL": "https://lettering.hanbit.go.kr/c/42",
    "정책URL": "https://www.hanbit.go.kr/policy/passport-2026",
    "변경내용": "한빛특례시 - 모든 안내 수신 거부",
    "변경일시": "2026년 11월 24일(화) 14:02",
}


def params_for(template: Template, **overrides: str) -> dict[str, str]:
    """The realistic parameters this template uses, with overrides."""
    values = {name: REALISTIC[name] for name in template.variables}
    values.update(overrides)
    return values


def custom(**fields: Any) -> Template:
    """A small valid template with some fields replaced (built through the loader's validation)."""
    raw: dict[str, Any] = {
        "code": "TEST_01",
        "kind": "identity_notice",
        "text": "[#{기관명}] #{부서명}에서 전화드렸습니다.\n회신번호: #{회신번호}",
        "buttons": [{"type": "WL", "name": "수신거부", "linkMo": "#{수신거부URL}"}],
        "resend_title": "[#{기관명}] 전화 안내",
        "resend_text": "[#{기관명}] #{부서명} 회신 #{회신번호}",
    }
    raw.update(fields)
    return template_from_json(raw)


def custom_params(**overrides: str) -> dict[str, str]:
    values = {k: REALISTIC[k] for k in ("기관명", "부서명", "회신번호", "수신거부URL")}
    values.update(overrides)
    return values


def rule_of(exc: pytest.ExceptionInfo[TemplateRuleError]) -> str:
    assert str(exc.value).startswith(f"{exc.value.rule}: ")
    return exc.value.rule


# ---- the shipped templates --------------------------------------------------------------------


def test_shipped_templates_cover_every_kind() -> None:
    templates = load_templates()
    assert {t.kind for t in templates.values()} == set(KINDS)
    assert set(templates) == {
        "IDENTITY_NOTICE_01",
        "IDENTITY_NOTICE_02",
        "MISSED_CALL_01",
        "POST_CALL_01",
        "POST_CALL_02",
        "OPTOUT_NOTICE_01",
    }


@pytest.mark.parametrize("code", sorted(load_templates()))
def test_every_shipped_template_renders_with_realistic_parameters(code: str) -> None:
    template = load_templates()[code]
    rendered = render(template, params_for(template))
    assert rendered.code == code
    assert "#{" not in rendered.text
    # A call's notices name the department; the opt-out result notice speaks for the agency.
    assert rendered.text.startswith(
        "[한빛특례시] 수신 설정" if template.kind == "optout_notice" else "[한빛특례시] 민원여권과"
    )
    assert len(rendered.text) <= 1000
    # Every notice lets the citizen opt out (or change the choice again), by a web-link button.
    button = "수신 설정 변경" if template.kind == "optout_notice" else "수신거부"
    opt_out = [b for b in rendered.buttons if b.name == button]
    assert [b.link_mo for b in opt_out] == [REALISTIC["수신거부URL"]]
    assert rendered.resend_text.startswith("[한빛특례시]")
    size = len(rendered.resend_text.encode("euc_kr"))
    if rendered.resend_type == "SMS":
        assert size <= SMS_LIMIT_BYTES
        assert rendered.resend_title is None
    else:
        assert SMS_LIMIT_BYTES < size <= LMS_LIMIT_BYTES
        assert rendered.resend_title == template.resend_title.replace("#{기관명}", "한빛특례시")


def test_identity_notice_text_is_exact() -> None:
    template = load_templates()["IDENTITY_NOTICE_01"]
    assert template.kind == "identity_notice"
    assert template.variables == (
        "기관명",
        "부서명",
        "안내문구",
        "통화시각",
        "회신번호",
        "확인코드",
        "확인URL",
        "수신거부URL",
    )
    rendered = render(template, params_for(template))
    assert rendered.text == (
        "[한빛특례시] 민원여권과에서 전화드렸습니다.\n"
        "\n"
        "여권 발급 관련 안내 전화입니다\n"
        "\n"
        "■ 통화시각: 11월 24일 14:02\n"
        "■ 회신번호: 031-5180-2114\n"
        "■ 확인코드: 482913\n"
        "\n"
        "휴대전화에 발신 정보가 표시되지 않아 알림톡으로 알려 드립니다. "
        "사칭 전화가 의심되시면 확인코드로 실제 발신 여부를 확인하실 수 있습니다."
    )
    assert rendered.resend_type == "LMS"


def test_missed_call_has_a_call_back_button_and_an_sms_failover() -> None:
    template = load_templates()["MISSED_CALL_01"]
    assert template.kind == "missed_call"
    rendered = render(template, params_for(template))
    assert rendered.buttons[0] == Button(type="TN", name="전화 연결", tel_number="031-5180-2114")
    assert rendered.resend_type == "SMS"
    assert rendered.resend_text == "[한빛특례시] 민원여권과 부재중 전화(11월 24일 14:02). 회신 031-5180-2114"


def test_post_call_buttons_carry_the_links() -> None:
    template = load_templates()["POST_CALL_01"]
    rendered = render(template, params_for(template))
    assert [(b.name, b.link_mo) for b in rendered.buttons] == [
        ("카드뉴스 보기", REALISTIC["카드뉴스URL"]),
        ("정책 자세히 보기", REALISTIC["정책URL"]),
        ("수신거부", REALISTIC["수신거부URL"]),
    ]
    assert rendered.buttons[0].to_json(1) == {
        "ordering": 1,
        "type": "WL",
        "name": "카드뉴스 보기",
        "linkMo": REALISTIC["카드뉴스URL"],
    }


def test_templates_are_loaded_once() -> None:
    assert load_templates() is load_templates()
    assert load_templates(TEMPLATE_DIR) is load_templates()


# ---- variables ----------------------------------------------------------------------------------


def test_missing_parameter_is_an_unfilled_variable() -> None:
    template = load_templates()["IDENTITY_NOTICE_01"]
    params = params_for(template)
    del params["확인코드"]
    with pytest.raises(TemplateRuleError) as exc:
        render(template, params)
    assert rule_of(exc) == "unfilled_variable"
    assert "#{확인코드}" in str(exc.value)


def test_missing_url_parameter_is_an_unfilled_variable_in_the_button() -> None:
    template = load_templates()["POST_CALL_01"]
    params = params_for(template)
    del params["정책URL"]
    with pytest.raises(TemplateRuleError, match=r"^unfilled_variable: #\{정책URL\} left in the button 2$"):
        render(template, params)


def test_parameter_not_in_the_template_is_refused() -> None:
    template = load_templates()["MISSED_CALL_01"]
    with pytest.raises(TemplateRuleError) as exc:
        render(template, params_for(template, 확인코드="482913"))
    assert rule_of(exc) == "unknown_variable"
    assert "#{확인코드}" in str(exc.value)


def test_parameter_must_be_text() -> None:
    template = custom()
    params: dict[str, Any] = custom_params()
    params["회신번호"] = 3151802114
    with pytest.raises(TemplateRuleError) as exc:
        render(template, params)
    assert rule_of(exc) == "variable_not_text"


def test_a_value_that_looks_like_a_slot_is_not_expanded_and_is_refused() -> None:
    template = custom()
    with pytest.raises(TemplateRuleError) as exc:
        render(template, custom_params(부서명="#{기관명}"))
    assert rule_of(exc) == "unfilled_variable"


# ---- the text must be the template ------------------------------------------------------------------


def _rendered(template: Template) -> Rendered:
    return render(template, params_for(template))


def test_text_differing_from_the_template_is_refused() -> None:
    template = load_templates()["MISSED_CALL_01"]
    rendered = _rendered(template)
    for changed in (
        rendered.text.replace("\n\n", "\n", 1),  # a line break less
        rendered.text + " ",  # a trailing space
        rendered.text.replace("전화 주시기", "연락 주시기"),  # a word changed
    ):
        with pytest.raises(TemplateRuleError) as exc:
            check(template, dataclasses.replace(rendered, text=changed))
        assert rule_of(exc) == "text_mismatch"


def test_a_repeated_variable_must_have_one_value() -> None:
    template = custom(text="[#{기관명}] #{부서명}\n#{기관명} 회신 #{회신번호}")
    rendered = render(template, custom_params())
    assert rendered.text == "[한빛특례시] 민원여권과\n한빛특례시 회신 031-5180-2114"
    check(template, rendered)
    with pytest.raises(TemplateRuleError, match="^text_mismatch"):
        check(
            template, dataclasses.replace(rendered, text="[한빛특례시] 민원여권과\n두리시 회신 031-5180-2114")
        )


def test_rendered_for_another_template_is_refused() -> None:
    templates = load_templates()
    rendered = _rendered(templates["POST_CALL_02"])
    with pytest.raises(TemplateRuleError, match="^template_mismatch"):
        check(templates["POST_CALL_01"], rendered)


def test_a_value_with_a_line_break_keeps_the_template_lines() -> None:
    template = custom()
    rendered = render(template, custom_params(부서명="민원여권과\n여권팀"))
    assert rendered.text.count("\n") == 2


# ---- body -------------------------------------------------------------------------------------------


def test_body_over_1000_characters_is_refused_with_the_counts() -> None:
    template = load_templates()["IDENTITY_NOTICE_01"]
    base = len(_rendered(template).text) - len(REALISTIC["안내문구"])
    guidance = "가" * (1043 - base)
    with pytest.raises(TemplateRuleError) as exc:
        render(template, params_for(template, 안내문구=guidance))
    assert str(exc.value) == "body_too_long: 1,043 > 1,000 characters"
    assert exc.value.rule == "body_too_long"


def test_body_of_exactly_1000_characters_is_accepted() -> None:
    template = load_templates()["MISSED_CALL_01"]
    base = len(_rendered(template).text) - len(REALISTIC["부서명"])
    rendered = render(template, params_for(template, 부서명="가" * (1000 - base)))
    assert len(rendered.text) == 1000


def test_template_text_over_1000_characters_is_refused_at_load() -> None:
    with pytest.raises(TemplateRuleError, match="^body_too_long"):
        custom(text="가" * 1001)


# ---- buttons ------------------------------------------------------------------------------------------


def _wl(name: str = "보기", link: str = "https://example.org/#{카드뉴스URL}") -> dict[str, str]:
    return {"type": "WL", "name": name, "linkMo": link}


def test_more_than_five_buttons_is_refused() -> None:
    with pytest.raises(TemplateRuleError) as exc:
        custom(buttons=[_wl(f"보기{i}") for i in range(6)])
    assert rule_of(exc) == "too_many_buttons"
    template = custom(buttons=[_wl(f"보기{i}") for i in range(5)])
    params = {k: v for k, v in custom_params().items() if k != "수신거부URL"}
    rendered = render(template, params | {"카드뉴스URL": "c/42"})
    assert len(rendered.buttons) == 5
    six = dataclasses.replace(rendered, buttons=(*rendered.buttons, rendered.buttons[0]))
    with pytest.raises(TemplateRuleError, match="^too_many_buttons: 6 > 5 buttons$"):
        check(template, six)


def test_button_name_over_14_characters_is_refused() -> None:
    with pytest.raises(TemplateRuleError) as exc:
        custom(buttons=[_wl("가" * 15)])
    assert rule_of(exc) == "button_name_too_long"
    custom(buttons=[_wl("가" * 14)])  # 14 is fine


def test_button_name_cannot_carry_a_variable() -> None:
    with pytest.raises(TemplateRuleError, match="^button_name_variable"):
        custom(buttons=[_wl("#{부서명}")])


def test_button_name_is_required() -> None:
    with pytest.raises(TemplateRuleError, match="^button_name_missing"):
        custom(buttons=[_wl(" ")])


def test_button_type_must_be_known() -> None:
    with pytest.raises(TemplateRuleError, match="^button_type_unknown"):
        custom(buttons=[{"type": "AL", "name": "앱 열기", "linkMo": "https://x"}])


def test_web_link_needs_link_mo() -> None:
    with pytest.raises(TemplateRuleError, match="^button_link_missing"):
        custom(buttons=[{"type": "WL", "name": "보기", "linkPc": "https://x"}])
    template = load_templates()["IDENTITY_NOTICE_01"]
    with pytest.raises(TemplateRuleError, match="^button_link_missing"):
        render(template, params_for(template, 수신거부URL=""))


def test_link_over_500_characters_after_substitution_is_refused() -> None:
    template = load_templates()["POST_CALL_02"]
    long_url = "https://lettering.hanbit.go.kr/c/" + "a" * (501 - len("https://lettering.hanbit.go.kr/c/"))
    with pytest.raises(TemplateRuleError) as exc:
        render(template, params_for(template, 카드뉴스URL=long_url))
    assert rule_of(exc) == "button_link_too_long"
    assert "501 > 500" in str(exc.value)
    render(template, params_for(template, 카드뉴스URL=long_url[:500]))


def test_link_pc_is_optional_and_checked_when_present() -> None:
    template = custom(
        buttons=[{"type": "WL", "name": "보기", "linkMo": "#{수신거부URL}", "linkPc": "#{수신거부URL}?pc=1"}]
    )
    rendered = render(template, custom_params())
    assert rendered.buttons[0].link_pc == REALISTIC["수신거부URL"] + "?pc=1"
    with pytest.raises(TemplateRuleError, match="^button_link_too_long: button 1 linkPc"):
        render(template, custom_params(수신거부URL="https://x/" + "a" * 490))  # linkMo 500, linkPc 505


def test_link_must_be_http() -> None:
    template = load_templates()["POST_CALL_02"]
    with pytest.raises(TemplateRuleError, match="^button_link_scheme"):
        render(template, params_for(template, 카드뉴스URL="javascript:alert(1)"))


def test_call_button_needs_a_number() -> None:
    with pytest.raises(TemplateRuleError, match="^button_tel_missing"):
        custom(buttons=[{"type": "TN", "name": "전화 연결"}])
    template = load_templates()["MISSED_CALL_01"]
    with pytest.raises(TemplateRuleError, match="^button_tel_missing"):
        render(template, params_for(template, 회신번호=""))


def test_call_button_number_is_digits_and_hyphens() -> None:
    template = load_templates()["MISSED_CALL_01"]
    with pytest.raises(TemplateRuleError, match="^button_tel_invalid"):
        render(template, params_for(template, 회신번호="+82-31-5180-2114"))
    render(template, params_for(template, 회신번호="0315180211"))


def test_rendered_buttons_must_be_the_approved_ones() -> None:
    template = load_templates()["MISSED_CALL_01"]
    rendered = _rendered(template)
    renamed = dataclasses.replace(rendered.buttons[0], name="지금 전화")
    with pytest.raises(TemplateRuleError, match="^buttons_mismatch"):
        check(template, dataclasses.replace(rendered, buttons=(renamed, rendered.buttons[1])))
    with pytest.raises(TemplateRuleError, match="^buttons_mismatch"):
        check(template, dataclasses.replace(rendered, buttons=rendered.buttons[:1]))


def test_button_kinds_cannot_mix_fields() -> None:
    with pytest.raises(TemplateRuleError, match="^template_invalid"):
        custom(buttons=[{"type": "TN", "name": "전화", "telNumber": "#{회신번호}", "linkMo": "https://x"}])
    with pytest.raises(TemplateRuleError, match="^template_invalid"):
        custom(buttons=[{"type": "WL", "name": "보기", "linkMo": "https://x", "telNumber": "0315180"}])


# ---- SMS / LMS failover ---------------------------------------------------------------------------


def _failover_is_department() -> Template:
    """A template whose failover text is exactly the value of #{부서명}."""
    return custom(resend_text="#{부서명}")


def test_failover_is_sms_up_to_90_bytes_and_lms_beyond() -> None:
    template = _failover_is_department()
    at_limit = render(template, custom_params(부서명="가" * 45))  # 90 bytes
    assert (at_limit.resend_type, at_limit.resend_title) == ("SMS", None)
    over = render(template, custom_params(부서명="가" * 45 + "a"))  # 91 bytes
    assert (over.resend_type, over.resend_title) == ("LMS", "[한빛특례시] 전화 안내")


def test_failover_with_a_character_euc_kr_cannot_encode_is_refused() -> None:
    template = load_templates()["IDENTITY_NOTICE_01"]
    for guidance in ("여권 발급 안내 😀", "똠양꿍 축제 안내"):
        with pytest.raises(TemplateRuleError) as exc:
            render(template, params_for(template, 안내문구=guidance))
        assert rule_of(exc) == "failover_not_encodable"
        assert "U+" in str(exc.value)


def test_failover_title_must_be_encodable() -> None:
    template = custom(resend_text="#{부서명}")
    with pytest.raises(TemplateRuleError, match="^failover_not_encodable: the failover title"):
        render(template, custom_params(기관명="똠시", 부서명="가" * 60))


def test_lms_over_2000_bytes_is_refused() -> None:
    template = custom(resend_text="#{부서명}#{부서명}")
    render(template, custom_params(부서명="가" * 500))  # 2,000 bytes: the limit
    with pytest.raises(TemplateRuleError) as exc:
        render(template, custom_params(부서명="가" * 500 + "a"))
    assert str(exc.value) == "lms_too_long: 2,002 > 2,000 bytes EUC-KR"


def test_sms_over_90_bytes_is_refused_by_check() -> None:
    template = _failover_is_department()
    rendered = render(template, custom_params(부서명="가" * 46))
    forced = dataclasses.replace(rendered, resend_type="SMS", resend_title=None)
    with pytest.raises(TemplateRuleError, match=r"^sms_too_long: 92 > 90 bytes EUC-KR"):
        check(template, forced)


def test_lms_title_over_40_bytes_is_refused() -> None:
    template = custom(resend_text="#{부서명}")
    with pytest.raises(TemplateRuleError, match="^lms_title_too_long"):
        render(template, custom_params(기관명="가" * 15, 부서명="나" * 60))


def test_lms_needs_a_title() -> None:
    template = _failover_is_department()
    rendered = render(template, custom_params(부서명="가" * 60))
    with pytest.raises(TemplateRuleError, match="^lms_title_missing"):
        check(template, dataclasses.replace(rendered, resend_title=None))


def test_failover_cannot_be_empty() -> None:
    template = custom(resend_text="#{부서명}")
    with pytest.raises(TemplateRuleError, match="^failover_empty"):
        render(template, custom_params(부서명=""))


def test_failover_may_only_use_the_messages_variables() -> None:
    with pytest.raises(TemplateRuleError, match="^template_invalid.*확인코드"):
        custom(resend_text="#{기관명} #{확인코드}")


# ---- loading ------------------------------------------------------------------------------------------


def _write(directory: Path, name: str, raw: object) -> None:
    (directory / name).write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")


def _valid_raw(code: str = "TEST_01") -> dict[str, Any]:
    return {
        "code": code,
        "kind": "missed_call",
        "text": "#{기관명} 부재중",
        "buttons": [],
        "resend_title": "#{기관명}",
        "resend_text": "#{기관명} 부재중",
    }


def test_load_from_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, "TEST_01.json", _valid_raw())
    templates = load_templates(tmp_path)
    assert list(templates) == ["TEST_01"]
    assert templates["TEST_01"].variables == ("기관명",)


def test_file_name_must_be_the_code(tmp_path: Path) -> None:
    _write(tmp_path, "OTHER_01.json", _valid_raw())
    with pytest.raises(TemplateRuleError, match="^template_invalid: OTHER_01.json holds code 'TEST_01'"):
        load_templates(tmp_path)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"kind": "promo"}, "kind"),
        ({"text": ""}, "text"),
        ({"buttons": {}}, "buttons"),
        ({"extra": 1}, "unknown fields"),
        ({"buttons": [{"type": "WL", "name": "x", "linkMo": "https://x", "scheme": "y"}]}, "unknown fields"),
        ({"buttons": ["WL"]}, "not an object"),
    ],
)
def test_malformed_template_is_refused(change: dict[str, Any], fragment: str) -> None:
    raw = _valid_raw() | change
    with pytest.raises(TemplateRuleError, match=f"^template_invalid: .*{fragment}"):
        template_from_json(raw)


def test_missing_field_and_bad_json_are_refused(tmp_path: Path) -> None:
    raw = _valid_raw()
    del raw["resend_text"]
    with pytest.raises(TemplateRuleError, match="^template_invalid: .*lacks"):
        template_from_json(raw)
    (tmp_path / "TEST_01.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TemplateRuleError, match="^template_invalid: TEST_01.json"):
        load_templates(tmp_path)
