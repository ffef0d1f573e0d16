"""The console's PBX page (/admin/pbx): registering with the secret or token shown once, rotating
with a grace, disabling and enabling, the last event and the last 24 hours' counts, and who may see
and change which PBX (an agency admin only their agency's, a platform admin every one)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.console import pbx as console_pbx
from lettering.core.db import session_scope, utcnow
from lettering.users import service as user_service
from lettering.webhook import admin as pbx_admin
from lettering.webhook.auth import token_digest
from lettering.webhook.models import WebhookDelivery, WebhookPbx
from tests.integration.test_console import PASSWORD, Console, log_in, running

pytestmark = pytest.mark.integration

SHOWN = re.compile(r'<code class="secret" id="shown-once">([^<]+)</code>')


@pytest.fixture
async def console(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Console]:
    async with running(database_url, sessions) as console:
        async with session_scope(sessions) as session:
            await user_service.create_user(
                session, "admin@pureun.go.kr", "pureun", PASSWORD, "admin", "PUREUN", None
            )
        yield console


async def row(sessions: async_sessionmaker[AsyncSession], pbx_id: str) -> WebhookPbx | None:
    async with sessions() as session:
        return await session.get(WebhookPbx, pbx_id)


async def test_register_shows_the_secret_once_then_rotate_with_grace_and_disable(console: Console) -> None:
    async with console.client() as client:
        csrf = await log_in(client, "admin@hanbit.go.kr")
        empty = await client.get("/admin/pbx")
        assert empty.status_code == 200
        assert "등록된 PBX가 없습니다" in empty.text
        assert 'href="/admin/pbx"' in empty.text  # in the nav

        created = await client.post(
            "/admin/pbx",
            data={"csrf_token": csrf, "pbx_id": "hanbit-main", "auth_mode": "signed", "hold_ms": "700"},
        )
        assert created.status_code == 200, created.text
        assert "지금만 보입니다" in created.text
        shown = SHOWN.search(created.text)
        assert shown is not None
        assert shown.group(1).startswith("whsec_")
        secret = shown.group(1)
        listed = await client.get("/admin/pbx")
        assert "hanbit-main" in listed.text
        assert "700 ms" in listed.text
        assert secret not in listed.text  # shown only once
        assert "지금만 보입니다" not in listed.text
        stored = await row(console.sessions, "hanbit-main")
        assert stored is not None
        assert stored.agency_id > 0
        assert stored.hold_ms == 700

        rotated = await client.post(
            "/admin/pbx/hanbit-main/rotate", data={"csrf_token": csrf, "grace_hours": "1"}
        )
        assert rotated.status_code == 200, rotated.text
        new = SHOWN.search(rotated.text)
        assert new is not None
        assert new.group(1).startswith("whsec_")
        assert new.group(1) != secret
        assert "까지는 통과하니" in rotated.text
        after = await row(console.sessions, "hanbit-main")
        assert after is not None
        assert after.previous_secret_sealed == stored.secret_sealed
        assert after.previous_until is not None
        assert "기존 값" in (await client.get("/admin/pbx")).text

        now = await client.post(
            "/admin/pbx/hanbit-main/rotate", data={"csrf_token": csrf, "grace_hours": "0"}
        )
        assert "기존 값은 바로 중지했습니다" in now.text
        ended = await row(console.sessions, "hanbit-main")
        assert ended is not None
        assert ended.previous_secret_sealed is None
        assert ended.previous_until is None

        bad = await client.post(
            "/admin/pbx/hanbit-main/rotate", data={"csrf_token": csrf, "grace_hours": "-3"}
        )
        assert bad.status_code == 422
        assert "유예 시간은 목록에 있는 값 중에서 골라 주세요" in bad.text

        disabled = await client.post("/admin/pbx/hanbit-main/disable", data={"csrf_token": csrf})
        assert disabled.status_code == 200
        assert "중지됨" in disabled.text
        assert (await row(console.sessions, "hanbit-main")).enabled is False  # type: ignore[union-attr]
        enabled = await client.post("/admin/pbx/hanbit-main/enable", data={"csrf_token": csrf})
        assert enabled.status_code == 200
        assert (await row(console.sessions, "hanbit-main")).enabled is True  # type: ignore[union-attr]


async def test_token_pbx_needs_networks_and_its_token_rotates(console: Console) -> None:
    async with console.client() as client:
        csrf = await log_in(client, "admin@hanbit.go.kr")
        form = {"csrf_token": csrf, "pbx_id": "hanbit-legacy", "auth_mode": "token", "hold_ms": "500"}
        refused = await client.post("/admin/pbx", data=form)
        assert refused.status_code == 422
        assert "허용 네트워크(CIDR)를 하나 이상" in refused.text
        assert 'value="hanbit-legacy"' in refused.text  # the form keeps what was typed
        wrong = await client.post("/admin/pbx", data={**form, "allowed_nets": "10.20.0.0/99"})
        assert wrong.status_code == 422
        assert "CIDR 형식" in wrong.text
        created = await client.post(
            "/admin/pbx", data={**form, "allowed_nets": "10.20.0.0/16, 192.168.1.0/24"}
        )
        assert created.status_code == 200, created.text
        token = SHOWN.search(created.text)
        assert token is not None
        stored = await row(console.sessions, "hanbit-legacy")
        assert stored is not None
        assert stored.token_sha256 == token_digest(token.group(1))
        assert "10.20.0.0/16, 192.168.1.0/24" in (await client.get("/admin/pbx")).text

        rotated = await client.post(
            "/admin/pbx/hanbit-legacy/rotate", data={"csrf_token": csrf, "grace_hours": "168"}
        )
        new = SHOWN.search(rotated.text)
        assert new is not None
        assert new.group(1) != token.group(1)
        after = await row(console.sessions, "hanbit-legacy")
        assert after is not None
        assert after.token_sha256 == token_digest(new.group(1))
        assert after.previous_token_sha256 == token_digest(token.group(1))

        for data, says in (
            ({"pbx_id": "bad id!"}, "PBX ID는 영문·숫자로 시작하고"),
            ({"pbx_id": "ok", "hold_ms": "abc"}, "대기 시간은 ms 단위 숫자로"),
            ({"pbx_id": "ok", "hold_ms": "5"}, "대기 시간은 50~10000ms"),
            (
                {"pbx_id": "hanbit-legacy", "allowed_nets": "10.0.0.0/8"},
                "「hanbit-legacy」 PBX는 이미 등록되어 있습니다",
            ),
            ({"pbx_id": "ok", "auth_mode": "basic"}, "인증 방식은 서명 또는 토큰 중에서"),
        ):
            answer = await client.post("/admin/pbx", data={**form, **data})
            assert answer.status_code == 422, data
            assert says in answer.text, data


async def test_last_event_and_the_last_24_hours_counts_in_one_query(console: Console) -> None:
    async with console.client() as client:
        csrf = await log_in(client, "platform@lettering.kr")
        for pbx_id, code in (("hanbit-main", "HANBIT"), ("pureun-main", "PUREUN")):
            added = await client.post(
                "/admin/pbx", data={"csrf_token": csrf, "pbx_id": pbx_id, "agency": code}
            )
            assert added.status_code == 200, added.text
    now = utcnow()
    async with session_scope(console.sessions) as session:
        for n, (event_type, age_h) in enumerate(
            [
                ("call.setup", 1),
                ("call.setup", 2),
                ("call.ended", 1),
                ("call.answered", 1),
                ("call.answered", 3),  # answers are neither setups nor ends
                ("call.setup", 30),  # older than 24 h: not counted, though the last event is newer
            ]
        ):
            session.add(
                WebhookDelivery(
                    pbx_id="hanbit-main",
                    dedupe_key=f"k{n}",
                    event_type=event_type,
                    call_id=f"c{n}",
                    received_at=now - timedelta(hours=age_h, minutes=n),
                )
            )
    async with console.sessions() as session:
        activity = await pbx_admin.pbx_activity(session, now - timedelta(hours=24))
    assert set(activity) == {"hanbit-main"}
    assert (activity["hanbit-main"].setups, activity["hanbit-main"].ends) == (2, 1)
    last = activity["hanbit-main"].last_event_at
    assert last is not None
    assert abs((last - (now - timedelta(hours=1))).total_seconds()) < 5 * 60

    async with console.client() as client:
        await log_in(client, "platform@lettering.kr")
        page = await client.get("/admin/pbx")
    main = page.text.split('id="pbx-hanbit-main"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="counts">2 / 1</td>' in main
    pureun = page.text.split('id="pbx-pureun-main"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="counts">0 / 0</td>' in pureun
    assert re.search(r"<td>-</td>", pureun)


async def test_scope_other_agency_admin_cannot_see_or_change_and_editor_is_refused(console: Console) -> None:
    async with console.client() as hanbit:
        hanbit_csrf = await log_in(hanbit, "admin@hanbit.go.kr")
        created = await hanbit.post("/admin/pbx", data={"csrf_token": hanbit_csrf, "pbx_id": "hanbit-main"})
        assert created.status_code == 200, created.text
    before = await row(console.sessions, "hanbit-main")
    assert before is not None

    async with console.client() as pureun:
        csrf = await log_in(pureun, "admin@pureun.go.kr")
        listed = await pureun.get("/admin/pbx")
        assert listed.status_code == 200
        assert 'id="pbx-hanbit-main"' not in listed.text
        assert "hanbit-main" not in listed.text
        # Every console route on one PBX, from the page's route table (a new one is covered the day
        # it is added): another agency's admin gets the 404 page, never a 2xx.
        actions = sorted(
            r.path.rsplit("/", 1)[1]
            for r in console_pbx.router.routes
            if isinstance(r, APIRoute) and r.path.startswith("/pbx/{pbx_id}/")
        )
        assert actions == ["disable", "enable", "rotate"]
        for action in actions:
            answer = await pureun.post(
                f"/admin/pbx/hanbit-main/{action}", data={"csrf_token": csrf, "grace_hours": "0"}
            )
            assert answer.status_code == 404, action
            assert "찾을 수 없습니다" in answer.text
        # An agency admin registers for their own agency whatever the form says.
        mine = await pureun.post(
            "/admin/pbx", data={"csrf_token": csrf, "pbx_id": "pureun-x", "agency": "HANBIT"}
        )
        assert mine.status_code == 200, mine.text
    after = await row(console.sessions, "hanbit-main")
    assert after is not None
    assert after.secret_sealed == before.secret_sealed
    assert after.enabled
    hanbit_row, pureun_row = before, await row(console.sessions, "pureun-x")
    assert pureun_row is not None
    assert pureun_row.agency_id != hanbit_row.agency_id

    for email in ("editor@hanbit.go.kr", "approver@hanbit.go.kr"):
        async with console.client() as client:
            csrf = await log_in(client, email)
            page = await client.get("/admin/pbx")
            assert page.status_code == 403
            assert "PBX 관리는 기관 관리자만 할 수 있습니다" in page.text
            assert 'href="/admin/pbx"' not in page.text
            for path in ("/admin/pbx", "/admin/pbx/hanbit-main/rotate", "/admin/pbx/hanbit-main/disable"):
                answer = await client.post(path, data={"csrf_token": csrf, "pbx_id": "x", "grace_hours": "0"})
                assert answer.status_code == 403, path
                assert "text/html" in answer.headers["content-type"]
    assert (await row(console.sessions, "x")) is None

    async with console.client() as platform:
        csrf = await log_in(platform, "platform@lettering.kr")
        everyone = await platform.get("/admin/pbx")
        assert 'id="pbx-hanbit-main"' in everyone.text
        assert 'id="pbx-pureun-x"' in everyone.text
        no_agency = await platform.post("/admin/pbx", data={"csrf_token": csrf, "pbx_id": "p1"})
        assert no_agency.status_code == 422
        assert "기관을 골라 주세요" in no_agency.text
        rotated = await platform.post(
            "/admin/pbx/hanbit-main/rotate", data={"csrf_token": csrf, "grace_hours": "24"}
        )
        assert rotated.status_code == 200
        assert SHOWN.search(rotated.text)


async def test_a_post_without_the_csrf_token_is_refused_in_korean(console: Console) -> None:
    async with console.client() as client:
        _ = await log_in(client, "admin@hanbit.go.kr")
        answer = await client.post("/admin/pbx", data={"pbx_id": "hanbit-main"})
        assert answer.status_code == 403
        assert "text/html" in answer.headers["content-type"]
        assert "권한이 없습니다" in answer.text
        assert (await client.get("/admin/pbx/nope")).status_code == 404
    assert (await row(console.sessions, "hanbit-main")) is None
