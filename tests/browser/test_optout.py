"""The opt-out link's page in real headless Chromium, JavaScript off: the form a citizen sees."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from lettering.optout import service as optout_service
from tests.integration.callpath.conftest import Service

NUMBER = "010-0700-5678"


@pytest.mark.integration
async def test_the_opt_out_link_starts_on_opting_out(service: Service, browser: Browser) -> None:
    await service.post(service.event(callee_number=NUMBER))
    keys = optout_service.link_keys(service.settings)
    callee_hash = service.vault.hash("+82" + NUMBER.replace("-", "")[1:])
    token = optout_service.optout_token(keys, callee_hash, service.agencies["HANBIT"])
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, java_script_enabled=False, locale="ko-KR"
    )
    page = await context.new_page()
    response = await page.goto(f"{service.url}/o/{token}")
    assert response is not None
    assert response.status == 200
    assert await page.get_by_role("radio", name="홍보만 받지 않기").is_checked()
    assert not await page.get_by_role("radio", name="다시 받기").is_checked()
    assert not await page.get_by_role("radio", name="모두 받지 않기").is_checked()

    await page.get_by_role("radio", name="모두 받지 않기").check()
    async with page.expect_navigation():
        await page.get_by_role("button", name="설정 저장").click()
    assert "변경했습니다" in await page.locator("main").inner_text()
    await page.goto(f"{service.url}/o/{token}")
    assert await page.get_by_role("radio", name="모두 받지 않기").is_checked()
    assert not await page.get_by_role("radio", name="다시 받기").is_checked()
    await context.close()
