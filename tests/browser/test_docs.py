"""`/docs` on an isolated network: Swagger UI comes from the package, so with every request outside
the service blocked the page still lists the API's operations."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Route

from tests.integration.callpath.conftest import Service


@pytest.mark.integration
async def test_the_api_docs_render_without_internet(service: Service, browser: Browser) -> None:
    context = await browser.new_context(locale="ko-KR")
    own = urlsplit(service.url).netloc
    outside: list[str] = []

    async def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            await route.continue_()
        else:  # what a city network without internet does to it
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_service)
    page = await context.new_page()
    response = await page.goto(f"{service.url}/docs")
    assert response is not None
    assert response.status == 200
    operation = page.locator(".opblock-summary-path", has_text="/v1/campaigns").first
    await operation.wait_for(timeout=15_000)
    assert "Smart lettering" in await page.title()
    assert outside == []
    await context.close()


@pytest.mark.integration
async def test_the_vendored_assets_keep_their_licence(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
            response = await client.get(f"/static/vendor/swagger-ui/{name}")
            assert response.status_code == 200, name
        assert "Apache License" in (await client.get("/static/vendor/swagger-ui/LICENSE")).text
        assert (await client.get("/redoc")).status_code == 404
