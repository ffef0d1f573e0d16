"""The citizen call check `/verify`: by the call's code, by the directory, and "this wasn't us"."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lettering.core.clock import SEOUL
from lettering.verify import service as verify_service
from lettering.verify.models import VerifySpoofReport
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"verify_rate_limit": 8, "verify_report_limit": 3}


async def test_a_real_calls_code_shows_who_called(service: Service) -> None:
    # An hour ago in Seoul (an event time more than a day away is refused).
    at = (datetime.now(UTC) - timedelta(hours=1)).astimezone(SEOUL).replace(second=0, microsecond=0)
    body = service.event(callee_number="010-0600-1234", occurred_at=at.isoformat())
    assert (await service.post(body)).json()["lettering"] == "accepted"
    record = await service.call(body["call_id"])
    assert record.verify_code is not None
    assert len(record.verify_code) == 6

    page = await service.client.get("/verify", params={"code": record.verify_code.lower()})
    assert page.status_code == 200
    assert "이 기관에서 실제로 건 전화입니다" in page.text
    assert "한빛특례시" in page.text
    assert "민원여권과" in page.text
    assert f"{at.year}년 {at.month}월 {at.day}일({'월화수목금토일'[at.weekday()]}) {at:%H:%M}" in page.text
    assert "010-****-1234" in page.text
    assert "<script" not in page.text
    spaced = await service.client.get(
        "/verify", params={"code": f" {record.verify_code[:3]}-{record.verify_code[3:]} "}
    )
    assert "민원여권과" in spaced.text

    unknown = "222222" if record.verify_code != "222222" else "333333"
    none = await service.client.get("/verify", params={"code": unknown})
    assert none.status_code == 200
    assert "그런 통화 기록이 없습니다" in none.text
    assert "민원여권과" not in none.text
    bad = await service.client.get("/verify", params={"code": "O0I1L"})
    assert "영문과 숫자 6자리" in bad.text


async def test_is_this_number_the_citys(service: Service) -> None:
    for typed in ("031-5180-2114", "03151802114", "+82 31-5180-2114", "(031) 5180 2114"):
        page = await service.client.post("/verify", data={"number": typed})
        assert page.status_code == 200
        assert "031-5180-2114는 등록된 기관 번호입니다" in page.text, typed
        assert "한빛특례시 민원여권과" in page.text
        assert page.headers["cache-control"] == "no-store"
    other = await service.client.post("/verify", data={"number": "031-5180-9999"})
    assert other.status_code == 200
    assert "등록된 기관 번호가 아닙니다" in other.text
    pureun = await service.client.post("/verify", data={"number": "061-530-7000"})
    assert "푸른군 민원과" in pureun.text
    as_multipart = await service.client.post(
        "/verify", files={"number": (None, "031-5180-2114")}
    )  # a browser may send any form encoding
    assert "한빛특례시 민원여권과" in as_multipart.text


async def test_the_number_form_posts_and_the_page_has_no_number_in_links(service: Service) -> None:
    page = await service.client.get("/verify")
    assert page.status_code == 200
    forms = re.findall(r"<form[^>]*>", page.text)
    number_form = next(f for f in forms if "#number-title" in f)
    assert 'method="post"' in number_form
    assert 'action="/verify#number-title"' in number_form
    assert "<script" not in page.text


async def test_a_number_in_the_url_is_never_looked_up(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def must_not_run(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a number from the URL was looked up")

    monkeypatch.setattr(verify_service, "lookup_number", must_not_run)
    for _ in range(20):  # more than the limit: an ignored number is no lookup, so it is not counted
        page = await service.client.get("/verify", params={"number": "031-5180-2114"})
        assert page.status_code == 200
        assert "등록된 기관 번호" not in page.text
        assert "형식이 올바르지 않습니다" not in page.text
        assert 'name="number" value=""' in page.text  # the empty form: nothing echoed back
        assert "5180-2114" not in page.text.replace("예: 031-5180-2114", "")
    head = await service.client.head("/verify", params={"number": "031-5180-2114"})
    assert head.status_code == 200


async def test_number_refusals_are_korean_pages(service: Service) -> None:
    junk = await service.client.post("/verify", data={"number": "hello"})
    assert junk.status_code == 400
    assert "전화번호 형식이 올바르지 않습니다" in junk.text
    empty = await service.client.post("/verify", data={"number": "   "})
    assert empty.status_code == 400
    assert "확인할 전화번호를 넣어 주세요" in empty.text
    missing = await service.client.post("/verify", data={})
    assert missing.status_code == 400
    assert "확인할 전화번호를 넣어 주세요" in missing.text
    as_json = await service.client.post("/verify", json={"number": "031-5180-2114"})
    assert as_json.status_code == 400
    assert "확인할 전화번호를 넣어 주세요" in as_json.text
    broken = await service.client.post(
        "/verify",
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name--",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400
    assert "입력 내용을 읽을 수 없습니다" in broken.text
    as_file = await service.client.post(
        "/verify", files={"number": ("n.txt", b"031-5180-2114", "text/plain")}
    )
    assert as_file.status_code == 400
    for response in (junk, empty, missing, as_json, broken, as_file):
        assert response.headers["content-type"].startswith("text/html")
        assert "기관 전화번호 확인" in response.text
    code_only = await service.client.post("/verify", data={"code": "ABCDEF"})
    assert code_only.status_code == 400  # the code check is the GET form; a POST only checks numbers


async def test_spoofing_report_is_stored_counted_and_told_to_the_agency(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lettering.verify")
    form = {
        "shown_number": "031-5180-2114",
        "seen_at": "2026-11-24T14:02",
        "note": "제 번호 010-0601-1234로 대출 권유",
    }
    response = await service.client.post("/verify/report", data=form)
    assert response.status_code == 200, response.text
    assert "신고가 접수되었습니다" in response.text
    assert "한빛특례시의 번호입니다" in response.text
    private = await service.client.post("/verify/report", data={"shown_number": "010-0601-9876"})
    assert private.status_code == 200

    async with service.sessions() as session:
        reports = list(
            (await session.execute(select(VerifySpoofReport).order_by(VerifySpoofReport.id))).scalars()
        )  # type: ignore[arg-type]
        counts = await verify_service.spoof_report_counts(session)
        numbers = await verify_service.spoofed_numbers(session, service.agencies["HANBIT"])
    assert [(r.shown_number, r.agency_id) for r in reports] == [
        ("+823151802114", service.agencies["HANBIT"]),
        ("010-****-9876", None),  # no agency's number, maybe a person's: kept masked
    ]
    assert reports[0].seen_at is not None
    assert reports[0].seen_at.isoformat() == "2026-11-24T05:02:00+00:00"
    assert reports[0].note == "제 번호 [번호 삭제]로 대출 권유"
    assert reports[0].ip_hash is not None
    assert len(reports[0].ip_hash) == 64
    assert counts == {service.agencies["HANBIT"]: 1}
    assert numbers == [("+823151802114", 1)]
    warnings = [r for r in caplog.records if r.name == "lettering.verify" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HANBIT" in warnings[0].getMessage()
    assert "031-5180-2114" in warnings[0].getMessage()

    bad = await service.client.post("/verify/report", data={"shown_number": "not a number"})
    assert bad.status_code == 400
    assert "형식이 올바르지 않습니다" in bad.text
    limited = await service.client.post("/verify/report", data=form)
    assert limited.status_code == 429
    assert "요청이 너무 많습니다" in limited.text
    assert int(limited.headers["retry-after"]) > 0


async def test_lookups_are_rate_limited_per_ip(service: Service) -> None:
    assert (await service.client.get("/verify")).status_code == 200  # the empty form does not count
    for _ in range(4):
        assert (await service.client.get("/verify", params={"code": "ABCDEF"})).status_code == 200
    for _ in range(4):  # the number check shares the code check's budget
        assert (await service.client.post("/verify", data={"number": "031-5180-2114"})).status_code == 200
    limited = await service.client.post("/verify", data={"number": "031-5180-2114"})
    assert limited.status_code == 429
    assert "잠시 후 다시 시도해 주세요" in limited.text
    assert int(limited.headers["retry-after"]) > 0
    assert "한빛특례시" not in limited.text
    by_code = await service.client.get("/verify", params={"code": "ABCDEF"})
    assert by_code.status_code == 429
    assert (await service.client.get("/verify")).status_code == 200


async def test_the_number_check_alone_is_rate_limited_per_ip(service: Service) -> None:
    for _ in range(8):
        assert (await service.client.post("/verify", data={"number": "061-530-7000"})).status_code == 200
    limited = await service.client.post("/verify", data={"number": "061-530-7000"})
    assert limited.status_code == 429
    assert "요청이 너무 많습니다" in limited.text
    assert "푸른군" not in limited.text
    # Another address has its own budget.
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"), base_url=service.url
    ) as other:
        elsewhere = await other.post("/verify", data={"number": "061-530-7000"})
    assert elsewhere.status_code == 200
    assert "푸른군 민원과" in elsewhere.text


async def test_the_report_form_names_the_agency_in_question_not_a_city_hall(service: Service) -> None:
    # Two agencies share this service: until an answer names one, the form names none.
    empty = await service.client.get("/verify")
    assert "이 전화는 기관이 건 것이 아닙니다" in empty.text
    assert "시청" not in empty.text
    county = await service.client.post("/verify", data={"number": "061-530-7000"})
    assert "이 전화는 푸른군이 건 것이 아닙니다" in county.text
    city = await service.client.post("/verify/report", data={"shown_number": "031-5180-2114"})
    assert "이 전화는 한빛특례시가 건 것이 아닙니다" in city.text
    assert "031-5180-2114는 한빛특례시의 번호입니다" in city.text
    unknown = await service.client.post("/verify", data={"number": "031-5180-9999"})
    assert "이 전화는 기관이 건 것이 아닙니다" in unknown.text
