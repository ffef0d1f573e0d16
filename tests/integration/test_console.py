"""The staff console (/admin) in process: login, the pages' headers, the CSRF rule reused from the
API, an editor's draft through approval, and the roles and agency scope the services enforce."""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from campaigns import renditions
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
            ("admin@hanbit.go.kr", "admin", "HANBIT", None),
            ("platform@lettering.kr", "platform_admin", None, None),
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
    campaign_id = await new_draft(editor, csrf, title)
    assert await state_of(console, campaign_id) == ("draft", None)

    early = await editor.post(f"/admin/campaigns/{campaign_id}/submit", data={"csrf_token": csrf})
    assert early.status_code == 422
    assert "이미지를 하나 이상 올려 주세요" in early.text
    uploaded = await editor.post(
        f"/admin/campaigns/{campaign_id}/images",
        params={"csrf_token": csrf},  # as the form's action carries it
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
        fields |= {"hour_from": "9", "hour_until": "18", "priority": "0", "target_departments": "HANBIT-0100"}
        for extra in ({}, {"csrf_token": "not-the-token"}):
            refused = await editor.post("/admin/campaigns/new", data={**fields, **extra})
            assert refused.status_code == 403
            assert "CSRF" in refused.text
            assert "content-security-policy" in refused.headers
        still_in = await editor.post("/admin/logout")
        assert still_in.status_code == 403
        accepted = await editor.post("/admin/campaigns/new", data={**fields, "csrf_token": csrf})
        assert accepted.status_code == 303


async def test_an_upload_is_not_parsed_before_its_csrf_token_is_known(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multipart body (megabytes, files spooled to disk) is refused on its query string's token,
    never parsed to look for one: with the token only inside the body it is a 403, and the form
    parser is never called for the check."""
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await new_draft(editor, csrf, "토큰 확인")
        parsed: list[str] = []
        real_form = Request.form

        def counting_form(self: Request, **limits: Any) -> Any:
            parsed.append(self.url.path)
            return real_form(self, **limits)

        monkeypatch.setattr(Request, "form", counting_form)
        fields = {"csrf_token": csrf, "alt_text": "포스터"} | {f"f{n}": "x" for n in range(1001)}
        upload = {"file": ("poster.png", png(), "image/png")}
        path = f"/admin/campaigns/{campaign_id}/images"
        for query in ({}, {"csrf_token": "not-the-token"}):
            refused = await editor.post(path, params=query, data=fields, files=upload)
            assert refused.status_code == 403
            assert "?csrf_token=" in refused.text  # the refusal says where an upload's token goes
        assert parsed == []
        accepted = await editor.post(
            path, params={"csrf_token": csrf}, data={"alt_text": "포스터"}, files=upload
        )
        assert accepted.status_code == 303, accepted.text
        assert parsed == [path]  # by the route, once the token was good
        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert f'/images?csrf_token={csrf}"' in page.text  # the page's form sends it so


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


def draft_fields(csrf: str, title: str, **more: object) -> dict[str, object]:
    return {
        "csrf_token": csrf,
        "title": title,
        "starts_on": "2026-01-01",
        "ends_on": "2027-12-31",
        "weekdays": ["0", "1", "2", "3", "4"],
        "hour_from": "9",
        "hour_until": "18",
        "priority": "10",
        "target_departments": "HANBIT-0100",
        **more,
    }


async def new_draft(client: httpx.AsyncClient, csrf: str, title: str, **more: object) -> int:
    created = await client.post("/admin/campaigns/new", data=draft_fields(csrf, title, **more))
    assert created.status_code == 303, created.text
    match = re.fullmatch(r"/admin/campaigns/(\d+)", created.headers["location"])
    assert match is not None, created.headers["location"]
    return int(match.group(1))


async def view_of(console: Console, campaign_id: int) -> campaign_service.CampaignView:
    async with console.sessions() as session:
        admin = await user_service.find_user(session, "admin@hanbit.go.kr")
        assert admin is not None
        actor = Principal(admin.id, admin.email, admin.role, admin.agency_id, None)
        return await campaign_service.campaign_view(session, actor, campaign_id)


async def test_every_field_of_the_form_reaches_the_campaign(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        form = await editor.get("/admin/campaigns/new")
        # An editor's draft starts aimed at their own department; no other department is offered.
        assert 'name="target_departments" value="HANBIT-0100" checked' in form.text
        assert "HANBIT-0001" not in form.text
        campaign_id = await new_draft(
            editor,
            csrf,
            "긴급 안내",
            kind="emergency",
            weight="3",
            cap_per_day="2",
            cap_per_week="",
            cap_total="1,000",
            post_call_card_news="",
            policy_url="https://www.hanbit.go.kr/passport",
            youtube_url="https://youtu.be/abc",
            target_departments="",
            target_extensions="2114, 2115\n2114",
        )
        c = (await view_of(console, campaign_id)).campaign
        assert (c.kind, c.weight, c.cap_per_day, c.cap_per_week, c.cap_total) == (
            "emergency",
            3,
            2,
            None,
            1000,
        )
        assert (c.post_call_card_news, c.policy_url, c.youtube_url) == (
            False,
            "https://www.hanbit.go.kr/passport",
            "https://youtu.be/abc",
        )
        targets = campaign_service.input_of(await view_of(console, campaign_id))
        assert targets.target_departments == ()
        assert [(t.department, t.extension) for t in targets.target_extensions] == [
            ("HANBIT-0100", "2114"),
            ("HANBIT-0100", "2115"),
        ]
        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert "긴급" in page.text
        assert "한 시민에게 하루 2회" in page.text
        assert "내선 2114, 2115" in page.text


async def test_extensions_the_directory_does_not_know_or_of_another_department_are_refused(
    console: Console,
) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        unknown = await editor.post(
            "/admin/campaigns/new", data=draft_fields(csrf, "없는 내선", target_extensions="2114 9999")
        )
        assert unknown.status_code == 422
        assert "조직도에 없는 내선입니다: 9999" in unknown.text
        assert "2114 9999" in unknown.text  # what was typed is kept
        other = await editor.post(
            "/admin/campaigns/new", data=draft_fields(csrf, "남의 내선", target_extensions="2000")
        )
        assert other.status_code == 422
        assert "다른 부서의 내선(HANBIT-0001 2000)을 대상으로 하려면 기관 관리자여야 합니다" in other.text


async def test_an_agency_admin_picks_departments_and_owner_and_a_platform_admin_picks_the_agency(
    console: Console,
) -> None:
    async with console.client() as admin, console.client() as platform:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        form = await admin.get("/admin/campaigns/new")
        assert 'data-filter-text="기획예산과 HANBIT-0001"' in form.text
        assert 'data-filter-text="민원여권과 HANBIT-0100"' in form.text
        assert "PUREUN-0001" not in form.text  # another agency's departments are never listed
        campaign_id = await new_draft(
            admin,
            csrf,
            "두 부서",
            department="HANBIT-0001",
            target_departments=["HANBIT-0001", "HANBIT-0100"],
        )
        view = await view_of(console, campaign_id)
        assert view.department_codes[view.campaign.department_id or 0] == "HANBIT-0001"
        assert sorted(campaign_service.input_of(view).target_departments) == ["HANBIT-0001", "HANBIT-0100"]

        csrf = await log_in(platform, "platform@lettering.kr")
        choose = await platform.get("/admin/campaigns/new")
        assert "먼저 캠페인을 만들 기관을 골라 주세요" in choose.text
        assert 'name="title"' not in choose.text
        chosen = await platform.get("/admin/campaigns/new?agency=PUREUN")
        assert 'data-filter-text="민원과 PUREUN-0001"' in chosen.text
        assert "HANBIT-0100" not in chosen.text
        pureun_id = await new_draft(
            platform,
            csrf,
            "푸른군 안내",
            agency="PUREUN",
            target_departments="PUREUN-0001",
            target_extensions="7000",
        )
        async with console.sessions() as session:
            codes = await campaign_service.directory_service.agency_codes(
                session, [(await view_of_any(session, pureun_id)).agency_id]
            )
        assert list(codes.values()) == ["PUREUN"]


async def view_of_any(session: AsyncSession, campaign_id: int) -> campaign_service.Campaign:
    from campaigns import repository

    found = await repository.campaign_by_id(session, campaign_id)
    assert found is not None
    return found


async def test_a_draft_is_edited_and_deleted_but_not_once_submitted(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await new_draft(editor, csrf, "처음 제목")
        form = await editor.get(f"/admin/campaigns/{campaign_id}/edit")
        assert 'value="처음 제목"' in form.text
        assert 'name="target_departments" value="HANBIT-0100" checked' in form.text
        bad = await editor.post(
            f"/admin/campaigns/{campaign_id}/edit",
            data=draft_fields(csrf, "", youtube_url="https://example.com/v"),
        )
        assert bad.status_code == 422
        assert "제목은 1자 이상 80자 이하로 입력해 주세요" in bad.text
        assert "유튜브 주소는 youtube.com 또는 youtu.be 주소여야 합니다" in bad.text
        assert (await view_of(console, campaign_id)).campaign.title == "처음 제목"
        saved = await editor.post(
            f"/admin/campaigns/{campaign_id}/edit",
            data=draft_fields(
                csrf, "고친 제목", priority="55", target_departments="", target_extensions="2115"
            ),
        )
        assert saved.status_code == 303, saved.text
        view = await view_of(console, campaign_id)
        assert (view.campaign.title, view.campaign.priority) == ("고친 제목", 55)
        assert [(t.kind, t.extension) for t in view.targets] == [("extension", "2115")]

        submitted_id = await submitted_draft(console, editor, csrf, "제출한 것")
        for path in (f"/admin/campaigns/{submitted_id}/edit", f"/admin/campaigns/{submitted_id}/delete"):
            late = await editor.post(path, data=draft_fields(csrf, "늦은 수정"))
            assert late.status_code == 409, path
            assert "작성 중인 캠페인만 고칠 수 있습니다 (지금은 승인 대기)" in late.text
        assert (await view_of(console, submitted_id)).campaign.title == "제출한 것"

        deleted = await editor.post(f"/admin/campaigns/{campaign_id}/delete", data={"csrf_token": csrf})
        assert deleted.status_code == 303
        gone = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert gone.status_code == 404


async def test_images_upload_together_reorder_lose_one_and_keep_their_descriptions(console: Console) -> None:
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await new_draft(editor, csrf, "카드뉴스")
        uploaded = await editor.post(
            f"/admin/campaigns/{campaign_id}/images",
            params={"csrf_token": csrf},  # as the form's action carries it
            data={"csrf_token": csrf, "alt_text": ["첫째 장", "너무 작은 장", "셋째 장", ""]},
            files=[
                ("file", ("one.png", png(720, 1280), "image/png")),
                ("file", ("tiny.png", png(40, 40), "image/png")),
                ("file", ("three.png", png(1080, 1920), "image/png")),
                ("file", ("four.png", png(720, 1280), "image/png")),
            ],
        )
        # The two good files are kept; each refusal names its file.
        assert uploaded.status_code == 422
        assert "이미지 2장을 올렸습니다" in uploaded.text
        assert "tiny.png: 이미지가 너무 작습니다" in uploaded.text
        assert "four.png: 이미지 설명(대체 텍스트)을 입력해 주세요" in uploaded.text
        images = (await view_of(console, campaign_id)).images
        assert [(i.position, i.alt_text) for i in images] == [(0, "첫째 장"), (1, "셋째 장")]

        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        assert "확대됩니다" in page.text  # 720x1280 is enlarged for a carrier's frame
        assert page.text.count('class="chip chip-') == 6  # three carriers' copies of each image
        for carrier in ("skt", "kt", "lgu"):
            assert f"/v1/campaigns/{campaign_id}/preview/{carrier}.png?v=" in page.text
        shown = await editor.get(f"/admin/campaigns/{campaign_id}/images/1")
        assert (shown.status_code, shown.headers["content-type"]) == (200, "image/png")

        moved = await editor.post(
            f"/admin/campaigns/{campaign_id}/images/1/move", data={"csrf_token": csrf, "direction": "up"}
        )
        assert moved.status_code == 303
        images = (await view_of(console, campaign_id)).images
        assert [i.alt_text for i in images] == ["셋째 장", "첫째 장"]
        wrong = await editor.post(
            f"/admin/campaigns/{campaign_id}/images/order", data={"csrf_token": csrf, "order": ["0", "0"]}
        )
        assert wrong.status_code == 422
        assert "이미지 순서가 맞지 않습니다" in wrong.text
        ordered = await editor.post(
            f"/admin/campaigns/{campaign_id}/images/order", data={"csrf_token": csrf, "order": ["1", "0"]}
        )
        assert ordered.status_code == 303
        described = await editor.post(
            f"/admin/campaigns/{campaign_id}/images/1/describe",
            params={"csrf_token": csrf},  # as the form's action carries it
            data={"csrf_token": csrf, "alt_text": "둘째 장"},
        )
        assert described.status_code == 303
        images = (await view_of(console, campaign_id)).images
        assert [i.alt_text for i in images] == ["첫째 장", "둘째 장"]
        removed = await editor.post(
            f"/admin/campaigns/{campaign_id}/images/0/remove", data={"csrf_token": csrf}
        )
        assert removed.status_code == 303
        images = (await view_of(console, campaign_id)).images
        assert [(i.position, i.alt_text) for i in images] == [(0, "둘째 장")]


async def test_an_upload_of_several_images_leaves_the_write_lock_free_while_it_works(
    console: Console, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making an image's renditions takes seconds of CPU. Meanwhile another writer (the call path's,
    a job) must be able to commit, and its commit must not make the upload fail: on SQLite a
    transaction that read before that work could not take the write lock after it (a 500)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    path = database_url.split("///", 1)[1]
    real = renditions.make_all_renditions
    committed: list[int] = []

    def renditions_while_another_writes(clean: bytes) -> dict[str, renditions.Rendition]:
        made = real(clean)
        with contextlib.closing(sqlite3.connect(path, timeout=2)) as other, other:
            other.execute("CREATE TABLE IF NOT EXISTS lock_probe (n INTEGER)")
            other.execute("INSERT INTO lock_probe VALUES (?)", (len(committed),))
        committed.append(len(committed))
        return made

    monkeypatch.setattr(renditions, "make_all_renditions", renditions_while_another_writes)
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await new_draft(editor, csrf, "카드뉴스")
        uploaded = await editor.post(
            f"/admin/campaigns/{campaign_id}/images",
            params={"csrf_token": csrf},  # as the form's action carries it
            data={"csrf_token": csrf, "alt_text": ["첫째 장", "둘째 장", "셋째 장"]},
            files=[("file", (f"card{n}.png", png(1080, 1920 - n), "image/png")) for n in range(3)],
        )
    assert uploaded.status_code == 303, uploaded.text
    assert committed == [0, 1, 2]
    images = (await view_of(console, campaign_id)).images
    assert [i.alt_text for i in images] == ["첫째 장", "둘째 장", "셋째 장"]


async def test_long_identity_texts_warn_what_each_carrier_cuts(console: Console) -> None:
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        async with session_scope(console.sessions) as session:
            from sqlalchemy import update

            from lettering.directory.models import DirectoryDepartment

            await session.execute(
                update(DirectoryDepartment)
                .where(DirectoryDepartment.code == "HANBIT-0100")  # type: ignore[arg-type]
                .values(
                    guidance="여권 발급이 끝났습니다. 신분증을 가지고 본관 1층 민원실로 오셔서 받아 가세요"
                )
            )
        campaign_id = await new_draft(admin, csrf, "긴 안내", department="HANBIT-0100")
        page = await admin.get(f"/admin/campaigns/{campaign_id}")
        assert "SKT: 안내 문구가 28자(확인코드 자리를 뺀 길이)를 넘어" in page.text


async def test_the_campaign_page_and_the_queue_show_who_did_what_and_the_carriers_review(
    console: Console,
) -> None:
    async with console.client() as editor, console.client() as approver:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        campaign_id = await submitted_draft(console, editor, csrf, "이력 보기")
        await log_in(approver, "approver@hanbit.go.kr")
        queue = await approver.get("/admin/approvals")
        assert "통신사 콘텐츠 심사" in queue.text
        assert queue.text.count("등록 대기") == 2  # SKT and KT register content; LG U+ takes it inline
        assert "바로 전송" in queue.text
        assert "이미지 추가: 여권 발급 안내 포스터" in queue.text
        page = await editor.get(f"/admin/campaigns/{campaign_id}")
        history = page.text[page.text.index("이력</h2>") :]
        for words in ("editor", "초안 작성", "이미지 추가", "승인 요청"):
            assert words in history, words


async def test_a_promo_whose_schedule_runs_into_a_freeze_is_warned(console: Console) -> None:
    from datetime import date

    from lettering.directory import service as directory_service

    async with session_scope(console.sessions) as session:
        agency_id = await directory_service.agency_id_for_code(session, "HANBIT")
        assert agency_id is not None
        await directory_service.create_freeze(
            session, agency_id, starts_on=date(2027, 3, 1), ends_on=date(2027, 6, 3), reason="지방선거"
        )
    async with console.client() as editor:
        csrf = await log_in(editor, "editor@hanbit.go.kr")
        promo = await new_draft(editor, csrf, "봄 홍보", starts_on="2027-05-01", ends_on="2027-07-31")
        page = await editor.get(f"/admin/campaigns/{promo}")
        assert "홍보 제한 기간(2027-03-01 ~ 2027-06-03, 지방선거)과 겹칩니다" in page.text
        before = await new_draft(editor, csrf, "겨울 홍보", starts_on="2027-01-01", ends_on="2027-02-28")
        assert "홍보 제한 기간" not in (await editor.get(f"/admin/campaigns/{before}")).text
        urgent = await new_draft(
            editor, csrf, "재난 안내", kind="emergency", starts_on="2027-05-01", ends_on="2027-05-31"
        )
        assert "홍보 제한 기간" not in (await editor.get(f"/admin/campaigns/{urgent}")).text


async def holdout_of(console: Console, code: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
    from lettering.directory import service as directory_service

    async with console.sessions() as session:
        agency_id = await directory_service.agency_id_for_code(session, code)
        assert agency_id is not None
        settings = await directory_service.holdout_settings(session, agency_id)
        return (
            settings.agency.holdout_bp,
            settings.agency.identity_only_bp,
            {
                d.department_code: (d.shares.holdout_bp, d.shares.identity_only_bp)
                for d in settings.departments
            },
        )


async def test_agency_settings_holdout_shares_and_freezes_for_admins_only(console: Console) -> None:
    async with console.client() as editor, console.client() as admin, console.client() as platform:
        await log_in(editor, "editor@hanbit.go.kr")
        assert 'href="/admin/agency"' not in (await editor.get("/admin/campaigns")).text
        refused = await editor.get("/admin/agency")
        assert refused.status_code == 403
        assert "기관 관리자만" in refused.text

        csrf = await log_in(admin, "admin@hanbit.go.kr")
        assert 'href="/admin/agency"' in (await admin.get("/admin/campaigns")).text
        for holdout, identity, said in (
            ("25", "0", "보류군 비율: 0에서 20% 사이로 입력해 주세요"),
            ("15", "10", "두 비율의 합은 20%를 넘을 수 없습니다"),
            ("열", "0", "보류군 비율: 숫자로 입력해 주세요"),
            ("2.555", "0", "소수점 둘째 자리까지만"),
        ):
            bad = await admin.post(
                "/admin/agency/shares",
                data={"csrf_token": csrf, "holdout": holdout, "identity_only": identity},
            )
            assert bad.status_code == 422, holdout
            assert said in bad.text, (holdout, bad.text[-2000:])
        assert await holdout_of(console, "HANBIT") == (0, 0, {})
        saved = await admin.post(
            "/admin/agency/shares", data={"csrf_token": csrf, "holdout": "10", "identity_only": "2.5%"}
        )
        assert saved.status_code == 303
        assert "보류군 비율을 저장했습니다" in (await admin.get(saved.headers["location"])).text
        assert await holdout_of(console, "HANBIT") == (1000, 250, {})
        own = await admin.post(
            "/admin/agency/departments",
            data={"csrf_token": csrf, "department": "HANBIT-0100", "holdout": "5", "identity_only": "0"},
        )
        assert own.status_code == 303
        assert (await holdout_of(console, "HANBIT"))[2] == {"HANBIT-0100": (500, 0)}
        foreign = await admin.post(
            "/admin/agency/departments",
            data={"csrf_token": csrf, "department": "PUREUN-0001", "holdout": "5"},
        )
        assert foreign.status_code == 422
        assert "PUREUN-0001 부서를 이 기관에서 찾을 수 없습니다" in foreign.text
        back = await admin.post(
            "/admin/agency/departments",
            data={"csrf_token": csrf, "department": "HANBIT-0100", "follow_agency": "1"},
        )
        assert back.status_code == 303
        assert (await holdout_of(console, "HANBIT"))[2] == {}

        # The election preset: 180 days before the day to the day, shown to edit, then saved.
        preset = await admin.get("/admin/agency?election_day=2026-06-03&reason=지방선거")
        assert 'name="starts_on" type="date" value="2025-12-05"' in preset.text
        assert 'name="ends_on" type="date" value="2026-06-03"' in preset.text
        bad = await admin.post(
            "/admin/agency/freezes",
            data={"csrf_token": csrf, "reason": "", "starts_on": "2026-06-03", "ends_on": "2026-01-01"},
        )
        assert bad.status_code == 422
        assert "사유를 1자 이상" in bad.text
        added = await admin.post(
            "/admin/agency/freezes",
            data={
                "csrf_token": csrf,
                "reason": "지방선거",
                "election_day": "2026-06-03",
                "starts_on": "2026-01-01",  # the preset, edited
                "ends_on": "",
            },
        )
        assert added.status_code == 303
        page = await admin.get("/admin/agency")
        assert "2026-01-01 ~ 2026-06-03" in page.text
        freeze_id = re.search(r'action="/admin/agency/freezes/(\d+)/delete"', page.text)
        assert freeze_id is not None

        await log_in(platform, "platform@lettering.kr")
        pick = await platform.get("/admin/agency")
        assert "먼저 기관을 골라 주세요" in pick.text
        platform_csrf = CSRF.search(pick.text)
        assert platform_csrf is not None
        pureun = await platform.post(
            "/admin/agency/shares",
            data={"csrf_token": platform_csrf.group(1), "agency": "PUREUN", "holdout": "3"},
        )
        assert pureun.status_code == 303
        assert await holdout_of(console, "PUREUN") == (300, 0, {})
        assert (await holdout_of(console, "HANBIT"))[:2] == (1000, 250)
        # HANBIT's freeze is not PUREUN's to delete.
        other = await platform.post(
            f"/admin/agency/freezes/{freeze_id.group(1)}/delete",
            data={"csrf_token": platform_csrf.group(1), "agency": "PUREUN"},
        )
        assert other.status_code == 404
        removed = await admin.post(
            f"/admin/agency/freezes/{freeze_id.group(1)}/delete", data={"csrf_token": csrf}
        )
        assert removed.status_code == 303
        assert "정해 둔 기간이 없습니다" in (await admin.get("/admin/agency")).text


async def test_admins_add_and_stop_accounts_reset_passwords_and_issue_tokens(console: Console) -> None:
    async with console.client() as editor, console.client() as admin, console.client() as newcomer:
        await log_in(editor, "editor@hanbit.go.kr")
        assert (await editor.get("/admin/users")).status_code == 403
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        listed = await admin.get("/admin/users")
        assert "editor@hanbit.go.kr" in listed.text
        assert "approver@pureun.go.kr" not in listed.text  # another agency's accounts stay unseen
        assert "platform@lettering.kr" not in listed.text
        assert 'value="platform_admin"' not in listed.text

        refused = await admin.post(
            "/admin/users",
            data={
                "csrf_token": csrf,
                "email": "new@hanbit.go.kr",
                "display_name": "새편집",
                "role": "editor",
            },
        )
        assert refused.status_code == 422
        assert "editor 사용자는 부서 코드가 필요합니다" in refused.text
        assert 'value="new@hanbit.go.kr"' in refused.text  # what was typed is kept
        added = await admin.post(
            "/admin/users",
            data={
                "csrf_token": csrf,
                "email": "new@hanbit.go.kr",
                "display_name": "새편집",
                "role": "editor",
                "department": "HANBIT-0100",
            },
        )
        assert added.status_code == 200
        shown = re.search(r'<code class="secret" id="shown-once">([^<]+)</code>', added.text)
        assert shown is not None
        assert added.headers["cache-control"] == "no-store"
        login = await newcomer.post(
            "/admin/login", data={"email": "new@hanbit.go.kr", "password": shown.group(1)}
        )
        assert login.status_code == 303
        assert (await newcomer.get("/admin/campaigns")).status_code == 200

        async with console.sessions() as session:
            new = await user_service.find_user(session, "new@hanbit.go.kr")
            other = await user_service.find_user(session, "approver@pureun.go.kr")
            assert new is not None
            assert other is not None
        reset = await admin.post(f"/admin/users/{new.id}/password", data={"csrf_token": csrf})
        fresh = re.search(r'<code class="secret" id="shown-once">([^<]+)</code>', reset.text)
        assert fresh is not None
        assert fresh.group(1) != shown.group(1)
        assert (await newcomer.get("/admin/campaigns")).status_code == 303  # logged out by the reset

        token_page = await admin.post(
            f"/admin/users/{new.id}/tokens",
            data={"csrf_token": csrf, "token_name": "민원 연동", "expires_days": "30"},
        )
        token = re.search(r'<code class="secret" id="shown-once">([^<]+)</code>', token_page.text)
        assert token is not None
        me = await newcomer.get("/v1/auth/me", headers={"authorization": f"Bearer {token.group(1)}"})
        assert me.status_code == 200
        assert token.group(1) not in (await admin.get("/admin/users")).text  # shown once only

        for path in (f"/admin/users/{other.id}/password", f"/admin/users/{other.id}/disable"):
            assert (await admin.post(path, data={"csrf_token": csrf})).status_code == 404, path
        stopped = await admin.post(f"/admin/users/{new.id}/disable", data={"csrf_token": csrf})
        assert stopped.status_code == 200
        me = await newcomer.get("/v1/auth/me", headers={"authorization": f"Bearer {token.group(1)}"})
        assert me.status_code == 401
