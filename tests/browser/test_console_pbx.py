"""The console's PBX page in headless Chromium: an agency admin registers a PBX and sees its secret
once, rotates it with a grace, and disables it after confirming. Photographed on a laptop
(1366x768) and a tablet (820x1180) under var/screenshots/admin/; no request leaves the service and
the browser reports no CSP violation."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Browser, Dialog

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.browser.test_console import PASSWORD, Watched, log_in, shoot
from tests.integration.callpath.conftest import Service


async def test_register_see_the_secret_once_rotate_and_disable(service: Service, browser: Browser) -> None:
    async with session_scope(service.sessions) as session:
        await user_service.create_user(session, "admin@hanbit.go.kr", "박관리", PASSWORD, "admin", "HANBIT")
    own, base = urlsplit(service.url).netloc, service.url
    admin = Watched(await browser.new_context(locale="ko-KR"), own)
    await admin.context.route("**/*", admin.only_the_service)
    page = await admin.page()
    confirmations: list[str] = []

    async def confirm(dialog: Dialog) -> None:
        confirmations.append(dialog.message)
        await dialog.accept()

    page.on("dialog", confirm)
    await log_in(page, base, "admin@hanbit.go.kr")
    await page.get_by_role("link", name="PBX", exact=True).click()
    await page.wait_for_url(f"{base}/admin/pbx")
    assert await page.locator("#pbx-hanbit-main").count() == 1  # the agency's PBXs are listed
    assert await page.locator("#pbx-pureun-main").count() == 0  # another agency's are not
    await shoot(page, "pbx")

    await page.get_by_label("PBX ID").fill("hanbit-annex")
    await page.get_by_label("대기 시간 (ms)").fill("800")
    await page.get_by_role("button", name="PBX 등록").click()
    notice = page.get_by_role("status")
    await notice.wait_for()
    assert "지금만 보입니다" in await notice.inner_text()
    secret = await page.locator("#shown-once").inner_text()
    assert secret.startswith("whsec_")
    await shoot(page, "pbx-registered")
    await page.goto(f"{base}/admin/pbx")
    assert secret not in await page.content()  # shown once only
    assert "800 ms" in await page.locator("#pbx-hanbit-annex").inner_text()

    await page.get_by_text("hanbit-annex 관리").click()
    await page.locator("#grace-hanbit-annex").select_option("1")
    await page.locator('form[action="/admin/pbx/hanbit-annex/rotate"] button').click()
    await page.get_by_role("status").wait_for()
    rotated = await page.locator("#shown-once").inner_text()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    assert "까지는 통과하니" in await page.get_by_role("status").inner_text()
    assert "비밀키를 새로 발급할까요?" in confirmations[-1]
    await shoot(page, "pbx-rotated")

    await page.get_by_text("hanbit-annex 관리").click()
    await page.locator('form[action="/admin/pbx/hanbit-annex/disable"] button').click()
    await page.locator("#pbx-hanbit-annex .state").get_by_text("중지됨").wait_for()
    assert "사용을 중지할까요?" in confirmations[-1]
    await shoot(page, "pbx-disabled")
    assert not admin.outside
    assert not admin.refused
