"""The staff console (/admin) in process: login, the pages' headers, the CSRF rule reused from the
API, an editor's draft through approval, and the roles and agency scope the services enforce."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import service as campaign_service
from lettering.app import create_app
from lettering.core.db import session_scope
from lettering.users import service as user_service
from lettering.users.deps import Principal
from tests.factories import seed_directory
from tests.integration.callpath.conftest import service_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
BASE = "http://testserver"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    app_client: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]

    def client(self) -> httpx.AsyncClient:
        """A browser of its own (its own cookie jar) on the same app."""
        return httpx.AsyncClient(transport=self.app_client._transport, base_url=BASE)


@contextlib.asynccontextmanager
async def running(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Console]:
    await seed_directory(sessions)
    async with session_scope(sessions) as session:
        for email, role, agency, department in (
            ("editor@hanbit.go.kr", "editor", "HANBIT", "HANBIT-0100"),
            ("approver@hanbit.go.kr", "approver", "HANBIT", None),
            ("approver@pureun.go.kr", "approver", "PUREUN", None),
        ):
            await user_service.create_user(
                session, email, email.split("@")[0], PASSWORD, role, agency, department
            )
    app = create_app(service_settings(database_url, BASE))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Console(client, sessions)


@pytest.fixture
async def console(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Console]:
    async with running(database_url, sessions) as console:
        yield console


async def log_in(client: httpx.AsyncClient, email: str) -> str:
    """Log in through the console's form; the CSRF token the pages then carry."""
    response = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await client.get("/admin/campaigns")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def png(width: int = 720, height: int = 1280) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


async def state_of(console: Console, campaign_id: int) -> tuple[str, str | None]:
    """The campaign's state and reject reason, as the campaigns service has it."""
    async with console.sessions() as session:
        approver = await user_service.find_user(session, "approver@hanbit.go.kr")
        assert approver is not None
        actor = Principal(approver.id, approver.email, approver.role, approver.agency_id, None)
        campaign = await campaign_service.get_campaign(session, actor, campaign_id)
        return campaign.state, campaign.reject_reason


async def submitted_draft(console: Console, editor: httpx.AsyncClient, csrf: str, title: str) -> int:
    created = await editor.post(
        "/admin/campaigns/new",
        data={
            "csrf_token": csrf,
            "title": title,
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "weekdays": ["0", "1", "2", "3", "4"],
            "hour_from": "9",
            "hour_until": "18",
            "priority": "10",
            "target": "department",
        },
    )
    assert created.status_code == 303, created.text
    match = re.fullmatch(r"/admin/campaigns/(\d+)", created.headers["location"])
    assert match is not None, created.headers["location"]
    campaign_id = int(match.group(1))
    assert await state_of(console, campaign_id) == ("draft", None)

    early = await editor.post(f"/admin/campaigns/{campaign_id}/submit", data={"csrf_token": csrf})
    assert early.status_code == 422
    assert "이미지를 하나 이상 올려 주세요" in early.text
    uploaded = await editor.post(
        f"/admin/campaigns/{campaign_id}/images",
        data={"csrf_token": csrf, "alt_text": "여권 발급 안내 포스터"},
        files={"file": ("poster.png", png(), "image/png")},
    )
    assert uploaded.status_code == 303, uploaded.text
    submitted = await editor.post(f"/admin/campaigns/{campaign_id}/submit", data={"csrf_token": csrf})
    assert submitted.status_code == 303, submitted.text
    assert await state_of(console, campaign_id) == ("submitted", None)
    return campaign_id


async def test_login_good_and_bad(console: Console) -> None:
    async with console.client() as client:
        form = await client.get("/admin/login")
        assert form.status_code == 200
        assert '<label for="email">이메일</label>' in form.text
        bad = await client.post(
            "/admin/login", data={"email": "editor@hanbit.go.kr", "password": "wrong one"}
        )
        assert bad.status_code == 401
        assert "이메일 또는 비밀번호가 올바르지 않습니다" in bad.text
        assert 'value="editor@hanbit.go.kr"' in bad.text  # the email is kept
        assert "lettering_session" not in client.cookies
        good = await client.post(
            "/admin/login",
            data={"email": "editor@hanbit.go.kr", "password": PASSWORD, "next": "/admin/approvals"},
        )
        assert good.status_code == 303
        assert good.headers["location"] == "/admin/approvals"
        assert "lettering_session" in client.cookies
        page = await client.get("/admin/campaigns")
        assert page.status_code == 200
        assert "editor (편집자)" in page.text
        assert "로그아웃" in page.text
        assert "승인 대기함" not in page.text  # the nav lists only what an editor may open
        assert 'href="/admin/campaigns/new"' in page.text


async def test_next_is_only_a_local_path(console: Console) -> None:
    async with console.client() as client:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            response = await client.post(
                "/admin/login", data={"email": "editor@hanbit.go.kr", "password": PASSWORD, "next": target}
            )
            assert response.status_code == 303
            assert response.headers["location"] == "/admin/campaigns", target


async def test_logged_out_pages_redirect_to_login(console: Console) -> None:
    async with console.client() as client:
        for path in (
            "/admin/campaigns?state=draft",
            "/admin/campaigns/new",
            "/admin/approvals",
            "/admin/campaigns/1",
        ):
            response = await client.get(path)
            assert response.status_code == 303, path
            location = response.headers["location"]
            assert location.startswith("/admin/login?next=/admin/"), location
        login = await client.get("/admin/login?next=/admin/approvals")
        assert 'name="next" value="/admin/approvals"' in login.text


async def test_every_console_response_carries_the_csp(console: Console) -> None:
    async with console.client() as client:
        for response in (
            await client.get("/admin/login"),
            await client.get("/admin/campaigns"),
            await client.post("/admin/login", data={"email": "x@y.kr", "password": "nope nope"}),
        ):
            assert response.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        html = (await client.get("/admin/login")).text
        assert "<style" not in html
        assert "<script>" not in html
        assert (await client.get("/static/vendor/htmx/htmx.min.js")).status_code == 200
        assert (await client.get("/static/admin/console.css")).status_code == 200


async def test_a_form_post_without_the_csrf_token_is_refused(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        fields = {"title": "토큰 없음", "starts_on": "2026-01-01", "ends_on": "2026-12-31", "weekdays": "0"}
        fields |= {"hour_from": "9", "hour_until": "18", "priority": "0"}
        for extra in ({}, {"csrf_token": "not-the-token"}):
            refused = await editor.post("/admin/campaigns/new", data={**fields, **extra})
            assert refused.status_code == 403
            assert "CSRF" in refused.text
            assert "content-security-policy" in refused.headers
        still_in = await editor.post("/admin/logout")
        assert still_in.status_code == 403
        accepted = await editor.post("/admin/campaigns/new", data={**fields, "csrf_token": csrf})
        assert accepted.status_code == 303


async def test_a_refused_draft_keeps_its_input_and_says_why(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        refused = await editor.post(
            "/admin/campaigns/new",
            data={
                "csrf_token": csrf,
                "title": "거꾸로 된 기간",
                "starts_on": "2026-05-01",
                "ends_on": "2026-04-01",
                "weekdays": ["5", "6"],
                "hour_from": "18",
                "hour_until": "9",
                "priority": "7",
            },
        )
        assert refused.status_code == 422
        assert "종료일이 시작일보다 앞섭니다" in refused.text
        assert "시작 시각은 종료 시각보다 앞서야 합니다" in refused.text
        assert 'value="거꾸로 된 기간"' in refused.text
        assert 'value="2026-04-01"' in refused.text
        assert 'value="6" checked' in refused.text
        unreadable = await editor.post(
            "/admin/campaigns/new", data={"csrf_token": csrf, "title": "날짜 없음", "priority": "x"}
        )
        assert unreadable.status_code == 422
        assert "시작일을 YYYY-MM-DD 형식으로 입력해 주세요" in unreadable.text
        assert "우선순위는 숫자로 입력해 주세요" in unreadable.text
        listed = await editor.get("/admin/campaigns")
        assert "거꾸로 된 기간" not in listed.text


async def test_editor_drafts_and_submits_then_an_approver_approves(console: Console) -> None:
    async with console.client() as editor, console.client() as approver:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await submitted_draft(console, editor, csrf, "여권 발급 안내")
        listed = await editor.get("/admin/campaigns?state=submitted&owner=mine")
        assert f'href="/admin/campaigns/{campaign_id}"' in listed.text
        drafts = await editor.get("/admin/campaigns?state=draft")
        assert f'href="/admin/campaigns/{campaign_id}"' not in drafts.text

        # An editor may not approve: a Korean 403 page, and the campaign unchanged.
        refused = await editor.post(f"/admin/campaigns/{campaign_id}/approve", data={"csrf_token": csrf})
        assert refused.status_code == 403
        assert "권한이 없습니다" in refused.text
        assert "승인자만 승인할 수 있습니다" in refused.text
        again = await editor.post(f"/admin/campaigns/{campaign_id}/submit", data={"csrf_token": csrf})
        assert again.status_code == 409
        assert "승인 대기 상태의 캠페인은 승인 요청할 수 없습니다" in again.text
        assert (await editor.get("/admin/approvals")).status_code == 403
        assert await state_of(console, campaign_id) == ("submitted", None)

        approver_csrf = await log_in(approver, "approver@hanbit.go.kr")
        queue = await approver.get("/admin/approvals")
        assert queue.status_code == 200
        assert 'href="/admin/campaigns/new"' not in queue.text  # an approver of no department creates none
        assert "여권 발급 안내" in queue.text
        approved = await approver.post(
            f"/admin/campaigns/{campaign_id}/approve", data={"csrf_token": approver_csrf}
        )
        assert approved.status_code == 303
        assert await state_of(console, campaign_id) == ("approved", None)
        assert "여권 발급 안내" not in (await approver.get("/admin/approvals")).text

        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert "승인됨" in page.text
        assert "송출 종료" in page.text
        ended = await editor.post(f"/admin/campaigns/{campaign_id}/end", data={"csrf_token": csrf})
        assert ended.status_code == 303
        assert (await state_of(console, campaign_id))[0] == "ended"


async def test_an_approver_rejects_only_with_a_reason(console: Console) -> None:
    async with console.client() as editor, console.client() as approver:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await submitted_draft(console, editor, csrf, "민원 안내")
        approver_csrf = await log_in(approver, "approver@hanbit.go.kr")
        no_reason = await approver.post(
            f"/admin/campaigns/{campaign_id}/reject", data={"csrf_token": approver_csrf, "reason": "  "}
        )
        assert no_reason.status_code == 422
        assert "「민원 안내」 반려 사유를 입력해 주세요" in no_reason.text
        assert await state_of(console, campaign_id) == ("submitted", None)
        rejected = await approver.post(
            f"/admin/campaigns/{campaign_id}/reject",
            data={"csrf_token": approver_csrf, "reason": "문구를 더 짧게 고쳐 주세요"},
        )
        assert rejected.status_code == 303
        assert await state_of(console, campaign_id) == ("draft", "문구를 더 짧게 고쳐 주세요")
        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert "문구를 더 짧게 고쳐 주세요" in page.text
        assert "승인 요청" in page.text


async def test_another_agencys_campaign_is_a_404_page(console: Console) -> None:
    async with console.client() as editor, console.client() as other:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await submitted_draft(console, editor, csrf, "한빛 안내")
        other_csrf = await log_in(other, "approver@pureun.go.kr")
        for response in (
            await other.get(f"/admin/campaigns/{campaign_id}"),
            await other.post(f"/admin/campaigns/{campaign_id}/approve", data={"csrf_token": other_csrf}),
            await other.post(
                f"/admin/campaigns/{campaign_id}/reject", data={"csrf_token": other_csrf, "reason": "x"}
            ),
            await other.get("/admin/campaigns/99999"),
            await other.get("/admin/campaigns/abc"),
            await other.get("/admin/no-such-page"),
        ):
            assert response.status_code == 404, response.text
            assert "찾을 수 없습니다" in response.text
            assert "한빛 안내" not in response.text
        assert "한빛 안내" not in (await other.get("/admin/approvals")).text
        assert await state_of(console, campaign_id) == ("submitted", None)


async def test_logout_ends_the_session(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        out = await editor.post("/admin/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/admin/login"
        assert "lettering_session" not in editor.cookies
        after = await editor.get("/admin/campaigns")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/admin/login")
