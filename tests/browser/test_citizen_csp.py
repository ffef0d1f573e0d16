"""Citizen pages under their Content-Security-Policy (`default-src 'self'`), in real headless
Chromium: the browser enforces it, the pages still get their style, and nothing is refused."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, ConsoleMessage

from lettering.optout import service as optout_service
from tests.browser.test_card_news import published_card_news
from tests.integration.callpath.conftest import Service

NUMBER = "010-0800-5678"
AGENCY_BLUE = "rgb(18, 53, 91)"


@pytest.mark.integration
async def test_citizen_pages_keep_their_style_under_the_policy(service: Service, browser: Browser) -> None:
    await service.post(service.event(callee_number=NUMBER))
    keys = optout_service.link_keys(service.settings)
    token = optout_service.optout_token(
        keys, service.vault.hash("+82" + NUMBER.replace("-", "")[1:]), service.agencies["HANBIT"]
    )
    card = await published_card_news(service)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    page = await context.new_page()
    refused: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            refused.append(message.text)

    page.on("console", on_console)
    for path, status in (
        ("/verify", 200),
        (f"/o/{token}", 200),
        ("/o/not-a-link", 404),
        (f"/c/{card['slug']}", 200),
        ("/c/nothing-here", 404),
    ):
        response = await page.goto(f"{service.url}{path}")
        assert response is not None
        assert response.status == status, path
        assert "default-src 'self'" in (await response.header_value("content-security-policy") or "")
        await page.wait_for_load_state("load")
        header = page.locator("header")
        assert await header.evaluate("e => getComputedStyle(e).backgroundColor") == AGENCY_BLUE, path
        body_font = await page.locator("body").evaluate("e => getComputedStyle(e).fontFamily")
        assert "Noto Sans KR" in body_font, path
    assert refused == []
    await context.close()
