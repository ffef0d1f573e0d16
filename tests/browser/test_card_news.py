"""The public card-news page in real headless Chromium: a phone-sized screen, JavaScript off."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

PASSWORD = "correct horse battery"
SHOTS = Path(__file__).resolve().parent.parent.parent / "var" / "screenshots"


def poster(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1080, 1350), colour).save(buffer, "JPEG")
    return buffer.getvalue()


async def published_card_news(service: Service) -> dict[str, str]:
    """A two-image card news, approved; returns its slug and a citizen's link with a token."""
    async with session_scope(service.sessions) as session:
        editor = await user_service.create_user(
            session, "e@hanbit.go.kr", "편집자", PASSWORD, "editor", "HANBIT", "HANBIT-0100"
        )
        approver = await user_service.create_user(
            session, "a@hanbit.go.kr", "승인자", PASSWORD, "approver", "HANBIT"
        )
        editor_token = await user_service.create_api_token(session, editor.id, "browser")
        approver_token = await user_service.create_api_token(session, approver.id, "browser")
    as_editor = {"authorization": f"Bearer {editor_token}"}
    created = await service.client.post(
        "/v1/campaigns",
        json={
            "title": "여권 발급 이렇게 빨라졌어요",
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "target_departments": ["HANBIT-0100"],
            "policy_url": "https://www.hanbit.go.kr/passport",
        },
        headers=as_editor,
    )
    cid = created.json()["id"]
    for colour, alt in (((20, 60, 120), "1쪽: 온라인 예약 안내"), ((120, 60, 20), "2쪽: 수령 시간 안내")):
        uploaded = await service.client.post(
            f"/v1/campaigns/{cid}/images",
            files={"file": ("p.jpg", poster(colour), "image/jpeg")},
            data={"alt_text": alt},
            headers=as_editor,
        )
        assert uploaded.status_code == 201, uploaded.text
    await service.client.post(f"/v1/campaigns/{cid}/submit", headers=as_editor)
    approved = await service.client.post(
        f"/v1/campaigns/{cid}/approve", headers={"authorization": f"Bearer {approver_token}"}
    )
    assert approved.json()["state"] == "approved"
    return {"slug": created.json()["slug"]}


@pytest.mark.integration
async def test_card_news_reads_on_a_phone_without_javascript(service: Service, browser: Browser) -> None:
    page_info = await published_card_news(service)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        java_script_enabled=False,
        locale="ko-KR",
    )
    page = await context.new_page()
    images: list[int] = []
    page.on("response", lambda r: images.append(r.status) if "/img/" in r.url else None)
    response = await page.goto(f"{service.url}/c/{page_info['slug']}?t=abcdefghijklmnopqrstuvwxyz012345")
    assert response is not None
    assert response.status == 200
    assert await page.get_attribute("html", "lang") == "ko"
    assert await page.locator("h1").inner_text() == "여권 발급 이렇게 빨라졌어요"
    alts = [await img.get_attribute("alt") for img in await page.locator("img").all()]
    assert alts == ["1쪽: 온라인 예약 안내", "2쪽: 수령 시간 안내"]
    await page.wait_for_load_state("load")
    assert images == [200, 200]
    policy = page.get_by_role("link", name="정책 자세히 보기")
    assert await policy.get_attribute("href") == "https://www.hanbit.go.kr/passport"
    optout = page.get_by_role("link", name="홍보 메시지 수신거부")
    assert (await optout.get_attribute("href") or "").startswith("/o/")
    # The anti-phishing check is one visible, labelled tap away.
    check = page.get_by_role("link", name="한빛특례시에서 건 전화가 맞는지 확인하기 (확인코드)")
    assert await check.is_visible()
    assert await check.get_attribute("href") == "/verify"
    # Mobile-first: the images fit the phone's width.
    box = await page.locator("img").first.bounding_box()
    assert box is not None
    assert box["width"] <= 390
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "card_news.png"), full_page=True)
    async with page.expect_navigation():
        await check.click()
    assert page.url == f"{service.url}/verify"
    assert "확인코드로 통화 확인" in await page.locator("main").inner_text()
    await context.close()


@pytest.mark.integration
async def test_unknown_card_news_is_a_korean_not_found_page(service: Service, browser: Browser) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{service.url}/c/nothing-here")
    assert response is not None
    assert response.status == 404
    assert "찾을 수 없는 페이지" in await page.locator("h1").inner_text()
    # The citizen pages' style, not the browser's defaults: the agency-blue header and Korean fonts.
    header = page.locator("header")
    assert await header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(18, 53, 91)"
    assert "Noto Sans KR" in await page.locator("body").evaluate("e => getComputedStyle(e).fontFamily")
    assert await page.get_by_role("link", name="기관 전화 확인").get_attribute("href") == "/verify"
