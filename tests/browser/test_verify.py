"""The public call check `/verify` in real headless Chromium, JavaScript off: the number a citizen
types is sent in a POST body and never appears in the address bar (so not in history or logs)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Request

from tests.integration.callpath.conftest import Service

TYPED = "031-5180-2114"


@pytest.mark.integration
async def test_the_number_check_posts_without_javascript(service: Service, browser: Browser) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False, locale="ko-KR"
    )
    page = await context.new_page()
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.url.startswith(f"{service.url}/verify") else None)
    response = await page.goto(f"{service.url}/verify")
    assert response is not None
    assert response.status == 200

    await page.get_by_label("전화번호", exact=True).fill(TYPED)
    async with page.expect_navigation():
        await page.get_by_role("button", name="번호 확인").click()
    assert "031-5180-2114는 등록된 기관 번호입니다" in await page.locator("main").inner_text()
    assert "한빛특례시 민원여권과" in await page.locator("main").inner_text()
    posted = sent[-1]
    assert posted.method == "POST"
    assert posted.post_data is not None
    assert "5180" in posted.post_data
    for request in sent:
        assert "5180" not in request.url, request.url
    assert "5180" not in page.url
    assert page.url == f"{service.url}/verify#number-title"

    # The code check is still a plain GET form (a call code, not a phone number).
    await page.get_by_label("확인코드 (6자리)").fill("ABCDEF")
    async with page.expect_navigation():
        await page.get_by_role("button", name="통화 확인").click()
    assert sent[-1].method == "GET"
    assert "code=ABCDEF" in page.url
    assert "그런 통화 기록이 없습니다" in await page.locator("main").inner_text()

    # An old bookmark with the number in its address shows the empty form.
    await page.goto(f"{service.url}/verify?number={TYPED}")
    assert await page.get_by_label("전화번호", exact=True).input_value() == ""
    assert "등록된 기관 번호" not in await page.locator("main").inner_text()
    await context.close()
