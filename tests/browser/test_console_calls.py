"""The console's call pages in real headless Chromium, on an isolated network: an agency admin
searches the calls that real setups recorded, opens one, reveals its number with a reason and
finds that in 접속 기록; then looks a citizen's opt-out up and changes it, and marks a spoof report
handled. Every page is photographed on a laptop (1366x768) and a tablet (820x1180) under
var/screenshots/admin/ (calls-*.png); no request leaves the service and the browser reports no CSP
violation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.browser.test_console import PASSWORD, Watched, shoot
from tests.integration.callpath.conftest import Service

CALLEE = "010-0126-1210"  # unsupported device: the AlimTalk fallback
OTHER = "010-0123-4560"


@pytest.mark.integration
async def test_search_open_reveal_and_the_access_log(service: Service, browser: Browser) -> None:
    async with session_scope(service.sessions) as session:
        await user_service.create_user(session, "admin@hanbit.go.kr", "한관리", PASSWORD, "admin", "HANBIT")
    for extension, callee in (("2114", OTHER), ("2000", CALLEE)):
        body = service.event(extension=extension, caller_number=None, callee_number=callee)
        assert (await service.post(body)).status_code == 200
    ended = service.event(
        "call.ended", call_id=body["call_id"], answered=True, talk_seconds=95, end_cause="normal"
    )
    assert (await service.post(ended)).status_code in (200, 202)

    async def settled() -> bool:
        return (await service.call(body["call_id"])).fallback is not None

    assert await service.wait_for(settled)
    report = await service.client.post(
        "/verify/report", data={"shown_number": "031-5180-2114", "note": "택배 사칭"}
    )
    assert report.status_code in (200, 303)

    own, base = urlsplit(service.url).netloc, service.url
    admin = Watched(await browser.new_context(locale="ko-KR"), own)
    await admin.context.route("**/*", admin.only_the_service)
    page = await admin.page()
    await page.goto(f"{base}/admin/calls")
    assert "/admin/login?next=/admin/calls" in page.url
    await page.get_by_label("이메일").fill("admin@hanbit.go.kr")
    await page.get_by_label("비밀번호").fill(PASSWORD)
    await page.get_by_role("button", name="로그인").click()
    await page.wait_for_url(f"{base}/admin/calls")
    await page.get_by_role("link", name="통화 기록").wait_for()
    assert await page.locator("table.calls tbody tr").count() == 2
    await shoot(page, "calls-list")

    await page.get_by_label("내선 번호").fill("2000")
    await page.get_by_role("button", name="찾기").click()
    await page.wait_for_url("**/admin/calls?*extension=2000*")
    rows = page.locator("table.calls tbody tr")
    assert await rows.count() == 1
    assert await rows.first.locator("td.masked").inner_text() == "010-****-1210"
    await shoot(page, "calls-search")

    await rows.first.get_by_role("link").click()
    await page.wait_for_url("**/admin/calls/*")
    await page.get_by_role("heading", name="결정 설명").wait_for()
    assert CALLEE not in await page.content()
    assert "받음 (95초)" in await page.content()
    await shoot(page, "calls-call")

    await page.get_by_role("button", name="번호 보기").click()  # the browser asks for the reason first
    assert "/number" not in page.url
    await page.get_by_label("열람 사유 (필수)").fill("민원 회신")
    await page.get_by_role("button", name="번호 보기").click()
    await page.locator(".revealed .number").wait_for()
    assert await page.locator(".revealed .number").inner_text() == CALLEE
    await shoot(page, "calls-revealed")

    await page.get_by_role("link", name="접속 기록").click()
    await page.wait_for_url(f"{base}/admin/access-log")
    entry = page.locator("table.access tbody tr").first
    assert "통화 번호 열람" in await entry.inner_text()
    assert "민원 회신" in await entry.inner_text()
    assert "한관리" in await entry.inner_text()
    assert CALLEE not in await page.content()
    await shoot(page, "calls-access-log")

    await page.get_by_role("link", name="수신 거부").click()
    await page.wait_for_url(f"{base}/admin/optouts")
    await shoot(page, "calls-optouts")
    await page.get_by_label("휴대전화 번호").fill(CALLEE)
    await page.get_by_label("조회 사유 (필수)").fill("전화 수신 거부 요청")
    await page.get_by_role("button", name="조회").click()
    await page.locator("section.result").wait_for()
    assert CALLEE not in await page.content()
    await page.get_by_label("홍보만 받지 않기").check()
    await page.get_by_label("변경 사유 (필수)").fill("전화 요청")
    await page.get_by_role("button", name="바꾸기").click()
    await page.get_by_text("수신 설정을 「홍보만 받지 않기」로 바꿨습니다").wait_for()
    assert CALLEE not in await page.content()
    await shoot(page, "calls-optout-changed")

    await page.get_by_role("link", name="사칭 신고").click()
    await page.wait_for_url(f"{base}/admin/spoof-reports")
    await shoot(page, "calls-spoof-reports")
    await page.get_by_label("처리 메모 (선택)").fill("경찰청 통보")
    await page.get_by_role("button", name="처리 완료로 표시").click()
    await page.get_by_text("처리함", exact=True).wait_for()
    await shoot(page, "calls-spoof-handled")

    assert admin.outside == []
    assert admin.refused == []
    await admin.context.close()
