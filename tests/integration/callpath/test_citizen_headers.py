"""Every citizen page (opt-out, /verify, card news and their error pages) sends the same protective
headers: no Referer leaves it, it loads nothing from elsewhere and cannot be framed, no sniffing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lettering.core.templates import TEMPLATE_DIR
from lettering.optout import service as optout_service
from tests.browser.test_card_news import published_card_news
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PROTECTIVE = {
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"verify_rate_limit": 2}


def assert_protected(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    for name, value in PROTECTIVE.items():
        assert response.headers.get(name) == value, (str(response.url), name)


async def test_every_citizen_page_sends_the_protective_headers(service: Service) -> None:
    client = service.client
    national = "010-0800-1234"
    await service.post(service.event(callee_number=national))
    keys = optout_service.link_keys(service.settings)
    token = optout_service.optout_token(
        keys, service.vault.hash("+82" + national.replace("-", "")[1:]), service.agencies["HANBIT"]
    )
    assert_protected(await client.get(f"/o/{token}"), 200)
    assert_protected(await client.head(f"/o/{token}"), 200)
    assert_protected(await client.get("/o/not-a-link"), 404)
    expired = await client.post(f"/o/{token}", data={"scope": "all", "csrf_token": "x"})
    assert_protected(expired, 403)
    assert (await client.get(f"/o/{token}")).headers["x-robots-tag"] == "noindex, nofollow"

    assert_protected(await client.get("/verify"), 200)
    assert_protected(await client.post("/verify", data={"number": ""}), 400)
    assert_protected(await client.post("/verify", data={"number": "031-5180-2114"}), 200)
    assert_protected(await client.get("/verify", params={"code": "ABCDEF"}), 200)
    too_many = await client.get("/verify", params={"code": "ABCDEF"})
    assert_protected(too_many, 429)
    assert too_many.headers["retry-after"]

    card = await published_card_news(service)
    page = await client.get(f"/c/{card['slug']}")
    assert_protected(page, 200)
    assert page.headers["cache-control"] == "public, max-age=300"
    assert_protected(await client.get("/c/nothing-here"), 404)
    assert_protected(await client.get(f"/c/{card['slug']}/img/99"), 404)


async def test_the_citizen_stylesheets_are_served_and_nothing_else(service: Service) -> None:
    for name in ("citizen.css", "card_news.css"):
        sheet = await service.client.get(f"/static/citizen/{name}")
        assert sheet.status_code == 200
        assert sheet.headers["content-type"].startswith("text/css")
        assert sheet.headers["x-content-type-options"] == "nosniff"
        assert "#12355b" in sheet.text
    for name in ("citizen.js", "CITIZEN.CSS", "nothing.css", ".citizen.css", "%2E%2E"):
        assert_protected(await service.client.get(f"/static/citizen/{name}"), 404)
    for path in ("..%2F..%2Fpyproject.toml", "..%2Ftemplates%2Fverify.html"):  # no route matches
        outside = await service.client.get(f"/static/citizen/{path}")
        assert outside.status_code == 404
        assert "lettering" not in outside.text


def test_no_citizen_template_has_inline_style_or_script() -> None:
    """`default-src 'self'` would block them: styles live in static/citizen/*.css."""
    for template in sorted(TEMPLATE_DIR.glob("*.html")):
        text = template.read_text(encoding="utf-8").lower()
        for inline in ("<style", "<script", " style=", " onclick=", " onload=", "javascript:"):
            assert inline not in text, f"{template.name}: {inline}"
