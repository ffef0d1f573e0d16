"""The staff console (/admin) in real headless Chromium, on an isolated network: an editor logs in,
drafts a campaign, drops a card-news series onto it, sees the three carriers' previews, reorders
the series by drag and drop and submits it; an approver approves it and, after a call, sees it
counted on the dashboard; an agency admin sets a holdout share and an election's promo freeze. Every page is
photographed on a laptop (1366x768) and a tablet (820x1180) under var/screenshots/admin/; no
request leaves the service and the browser reports no CSP violation."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Route

from campaigns import service as campaign_service
from lettering.core.db import session_scope
from lettering.users import service as user_service
from lettering.users.deps import Principal
from tests.integration.callpath.conftest import Service

PASSWORD = "correct horse battery"
SHOTS = Path(__file__).resolve().parent.parent.parent / "var" / "screenshots" / "admin"
VIEWPORTS = {"laptop": (1366, 768), "tablet": (820, 1180)}
SHOOTING = [0.0]  # seconds spent taking screenshots, in this process


class Watched:
    """A browser context that blocks every outside request and collects CSP refusals."""

    def __init__(self, context: BrowserContext, own: str) -> None:
        self.context, self.own = context, own
        self.outside: list[str] = []
        self.refused: list[str] = []

    async def only_the_service(self, route: Route) -> None:
        if urlsplit(route.request.url).netloc == self.own:
            await route.continue_()
        else:  # what a city network without internet does to it
            self.outside.append(route.request.url)
            await route.abort()

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.refused.append(message.text)

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on("console", self.on_console)
        return page


class Walkthrough:
    """The time each step of the editor's first campaign took, from the login page to approval,
    written beside the screenshots (walkthrough.txt) for the console's note: what a person waits
    for, not counting their typing. Measured, never asserted (the machines are shared)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self.restart()

    def restart(self) -> None:
        """The next step starts now (what came before it is not part of the walk-through)."""
        self.last, self.shooting = time.monotonic(), SHOOTING[0]

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self.last - (SHOOTING[0] - self.shooting)))  # screenshots aside
        self.last, self.shooting = now, SHOOTING[0]

    def write(self) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        lines = [f"{seconds:7.2f} s  {name}" for name, seconds in self.steps]
        lines.append(f"{sum(s for _, s in self.steps):7.2f} s  in all, login page to approved")
        (SHOTS / "walkthrough.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


async def shoot(page: Page, name: str) -> None:
    """The page as it is now, at both sizes (the laptop's last, as the test goes on with it)."""
    started = time.monotonic()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("tablet", VIEWPORTS["tablet"]), ("laptop", VIEWPORTS["laptop"])):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    SHOOTING[0] += time.monotonic() - started


async def log_in(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/admin/campaigns")
    assert "/admin/login?next=/admin/campaigns" in page.url
    await page.get_by_label("이메일").fill(email)
    await page.get_by_label("비밀번호").fill(PASSWORD)
    await page.get_by_role("button", name="로그인").click()
    await page.wait_for_url(f"{base}/admin/campaigns")


async def state_of(service: Service, campaign_id: int) -> str:
    async with session_scope(service.sessions) as session:
        approver = await user_service.find_user(session, "approver@hanbit.go.kr")
        assert approver is not None
        actor = Principal(approver.id, approver.email, approver.role, approver.agency_id, None)
        return (await campaign_service.get_campaign(session, actor, campaign_id)).state


def card(n: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1080, 1920), (20 + 60 * n, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


async def drop_files(page: Page, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drop files onto the element as a person drags them from the desktop."""
    payload = [(name, base64.b64encode(data).decode()) for name, data in files]
    transfer = await page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: "image/png" }));
            }
            return transfer;
        }""",
        payload,
    )
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


async def drag(page: Page, source: str, target: str) -> None:
    """HTML drag and drop from `source` onto `target` (selectors): the events a browser sends, one
    shared DataTransfer (mouse-driven drags move with the page's scrolling and land unpredictably)."""
    transfer = await page.evaluate_handle("() => new DataTransfer()")
    # No dragend after the drop: the drop posts the new order, and the page it leaves for would
    # not know the DataTransfer handle (Playwright: "JSHandles can be evaluated only in the
    # context they were created").
    for selector, event in (
        (source, "dragstart"),
        (target, "dragenter"),
        (target, "dragover"),
        (target, "drop"),
    ):
        await page.dispatch_event(selector, event, {"dataTransfer": transfer})


async def alt_texts(service: Service, campaign_id: int) -> list[str]:
    """The campaign's images' descriptions, in their order, as the campaigns service has them."""
    async with session_scope(service.sessions) as session:
        approver = await user_service.find_user(session, "approver@hanbit.go.kr")
        assert approver is not None
        actor = Principal(approver.id, approver.email, approver.role, approver.agency_id, None)
        view = await campaign_service.campaign_view(session, actor, campaign_id)
        return [i.alt_text for i in view.images]


@pytest.mark.integration
async def test_a_draft_from_login_to_approval(service: Service, browser: Browser, tmp_path: Path) -> None:
    async with session_scope(service.sessions) as session:
        await user_service.create_user(
            session, "editor@hanbit.go.kr", "김편집", PASSWORD, "editor", "HANBIT", "HANBIT-0100"
        )
        await user_service.create_user(
            session, "approver@hanbit.go.kr", "이승인", PASSWORD, "approver", "HANBIT"
        )
        await user_service.create_user(session, "admin@hanbit.go.kr", "박관리", PASSWORD, "admin", "HANBIT")
    own, base = urlsplit(service.url).netloc, service.url

    editor = Watched(await browser.new_context(locale="ko-KR"), own)
    await editor.context.route("**/*", editor.only_the_service)
    page = await editor.page()
    walk = Walkthrough()
    await page.goto(f"{base}/admin/login")
    await shoot(page, "login")
    await page.get_by_label("이메일").fill("editor@hanbit.go.kr")
    await page.get_by_label("비밀번호").fill("wrong password")
    await page.get_by_role("button", name="로그인").click()
    await page.get_by_role("alert").wait_for()
    assert "올바르지 않습니다" in await page.get_by_role("alert").inner_text()
    await shoot(page, "login-failed")
    await log_in(page, base, "editor@hanbit.go.kr")
    assert "김편집 (편집자)" in await page.locator("header").inner_text()
    walk.step("editor logs in (after one wrong password)")
    await shoot(page, "campaigns-empty")

    await page.get_by_role("link", name="새 캠페인", exact=True).click()
    await page.get_by_label("제목").fill("여권 발급 안내")
    await page.get_by_label("시작일").fill("2026-01-01")
    await page.get_by_label("종료일").fill("2027-12-31")
    await page.get_by_label("우선순위 (0-100, 클수록 먼저)").fill("10")
    await shoot(page, "campaign-new")
    await page.get_by_role("button", name="초안 만들기").click()
    await page.wait_for_url(f"{base}/admin/campaigns/*")
    campaign_id = int(page.url.rsplit("/", 1)[1])
    assert await state_of(service, campaign_id) == "draft"
    walk.step("new draft: title, dates, priority")

    # A card-news series dropped onto the upload form: one description field per file appears.
    await drop_files(page, "[data-drop-target]", [(f"card{n}.png", card(n)) for n in range(3)])
    for n in range(3):
        await page.get_by_label(f"{n + 1}. card{n}.png 설명 (대체 텍스트)").fill(f"카드뉴스 {n + 1}쪽")
    await shoot(page, "campaign-dropped")
    await page.get_by_role("button", name="올리기").click()
    # Each image is made into every carrier's rendition: seconds of CPU on a loaded machine.
    await page.get_by_text("이미지 3장을 올렸습니다").wait_for(timeout=120_000)
    walk.step("three 1080x1920 cards dropped, described and uploaded (renditions made)")
    assert await alt_texts(service, campaign_id) == ["카드뉴스 1쪽", "카드뉴스 2쪽", "카드뉴스 3쪽"]
    # The three carriers' previews, side by side, each drawn.
    previews = page.locator(".previews img")
    assert await previews.count() == 3
    for n in range(3):
        assert await previews.nth(n).evaluate("img => img.decode().then(() => img.naturalWidth)") == 540
    # The third card dragged onto the first: the series is reordered.
    await drag(page, ".images > li:nth-child(3)", ".images > li:nth-child(1)")
    await page.wait_for_url(f"{base}/admin/campaigns/{campaign_id}#images")
    await page.locator(".image").first.wait_for()
    assert await alt_texts(service, campaign_id) == ["카드뉴스 3쪽", "카드뉴스 1쪽", "카드뉴스 2쪽"]
    await page.get_by_role("button", name="2번째 이미지를 뒤로").click()
    await page.wait_for_load_state()
    assert await alt_texts(service, campaign_id) == ["카드뉴스 3쪽", "카드뉴스 2쪽", "카드뉴스 1쪽"]
    walk.step("previews checked, series reordered by drag and drop and by button")
    await shoot(page, "campaign-draft")
    await page.get_by_role("button", name="승인 요청").click()
    await page.locator("#state", has_text="승인 대기").wait_for()
    assert await state_of(service, campaign_id) == "submitted"
    walk.step("submitted for approval")
    await shoot(page, "campaign-submitted")
    await page.goto(f"{base}/admin/campaigns")
    await shoot(page, "campaigns")

    approver = Watched(await browser.new_context(locale="ko-KR"), own)
    await approver.context.route("**/*", approver.only_the_service)
    page = await approver.page()
    walk.restart()  # the approver's turn: the pages in between are not part of the walk-through
    await log_in(page, base, "approver@hanbit.go.kr")
    await page.get_by_role("link", name="승인 대기함", exact=True).click()
    await page.get_by_role("heading", name="여권 발급 안내").wait_for()
    await shoot(page, "approvals")
    await page.get_by_role("button", name="승인", exact=True).click()
    await page.get_by_text("승인을 기다리는 캠페인이 없습니다").wait_for()
    assert await state_of(service, campaign_id) == "approved"
    walk.step("approver logs in, opens the queue and approves")
    walk.write()
    await shoot(page, "approvals-empty")
    await page.goto(f"{base}/admin/campaigns/{campaign_id}")
    assert await page.locator("#state").inner_text() == "승인됨"
    await shoot(page, "campaign-approved")

    # Keyboard: from the top, Tab reaches the skip link first, then the nav.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "본문으로 건너뛰기"

    # A call from the campaign's department: the dashboard counts it.
    setup = service.event(call_id="browser-demo-call", callee_number="010-0777-1230")
    assert (await service.post(setup)).json()["lettering"] == "accepted"
    await page.get_by_role("link", name="대시보드", exact=True).click()
    await page.get_by_role("heading", name="레터링 효과 (응답률)").wait_for()
    assert "1통" in await page.locator(".figures").first.inner_text()
    # Korean date fields (연도-월-일 in the screenshot), whatever the browser's own language.
    assert await page.locator("#since").get_attribute("lang") == "ko"
    await shoot(page, "dashboard")

    # An agency admin sets a holdout share and an election's promo freeze from its date.
    admin = Watched(await browser.new_context(locale="ko-KR"), own)
    await admin.context.route("**/*", admin.only_the_service)
    page = await admin.page()
    await log_in(page, base, "admin@hanbit.go.kr")
    await page.get_by_role("link", name="기관 설정", exact=True).click()
    await page.get_by_label("보류군 비율 (%)").fill("10")
    await page.get_by_role("button", name="저장", exact=True).click()
    await page.get_by_text("보류군 비율을 저장했습니다").wait_for()
    await page.get_by_label("선거일", exact=True).fill("2026-06-03")
    await page.locator("#preset-reason").fill("제9회 전국동시지방선거")
    await page.get_by_role("button", name="기간 채우기").click()
    await page.wait_for_url("**election_day=2026-06-03**")
    assert await page.locator("#starts_on").input_value() == "2025-12-05"
    await page.get_by_role("button", name="기간 추가").click()
    await page.get_by_text("2025-12-05 ~ 2026-06-03").wait_for()
    await shoot(page, "agency")

    for watched in (editor, approver, admin):
        assert watched.outside == []
        assert watched.refused == []
        await watched.context.close()
    for name in (
        "login",
        "campaigns",
        "campaign-new",
        "approvals",
        "campaign-approved",
        "dashboard",
        "agency",
    ):
        for label in VIEWPORTS:
            assert (SHOTS / f"{name}-{label}.png").stat().st_size > 0
