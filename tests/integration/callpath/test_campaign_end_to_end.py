"""Upload -> submit -> approve (by another user) -> a call shows the campaign, the carrier gets the
rendition it approved, and the citizen can open the card news."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"media_dir": str(tmp_path / "media"), "content_sync_interval_s": 0.2}


def poster() -> bytes:
    image = Image.new("RGB", (1200, 1600), (200, 40, 60))
    for x in range(0, 1200, 40):
        for y in range(0, 1600, 40):
            image.putpixel((x, y), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def people(service: Service) -> dict[str, str]:
    """An editor of 민원여권과 and an approver; their API tokens."""
    async with session_scope(service.sessions) as session:
        editor = await user_service.create_user(
            session, "editor@hanbit.go.kr", "편집자", PASSWORD, "editor", "HANBIT", "HANBIT-0100"
        )
        editor_token = await user_service.create_api_token(session, editor.id, "e2e")
        approver = await user_service.create_user(
            session, "approver@hanbit.go.kr", "승인자", PASSWORD, "approver", "HANBIT"
        )
        token = await user_service.create_api_token(session, approver.id, "e2e")
    return {"approver_token": token, "editor_token": editor_token}


async def login(service: Service, email: str) -> dict[str, str]:
    response = await service.client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"x-csrf-token": response.json()["csrf_token"]}


async def test_upload_submit_approve_then_a_call_carries_the_campaign(service: Service) -> None:
    tokens = await people(service)
    csrf = await login(service, "editor@hanbit.go.kr")
    created = await service.client.post(
        "/v1/campaigns",
        json={
            "title": "한빛 빛축제",
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "target_departments": ["HANBIT-0100"],
            "priority": 5,
        },
        headers=csrf,
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    cid = campaign["id"]
    assert campaign["state"] == "draft"

    without_alt = await service.client.post(
        f"/v1/campaigns/{cid}/images", files={"file": ("poster.png", poster(), "image/png")}, headers=csrf
    )
    assert without_alt.status_code == 422
    assert without_alt.json()["detail"][0]["loc"] == ["body", "alt_text"]
    uploaded = await service.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("poster.png", poster(), "image/png")},  # the name and type lie; content decides
        data={"alt_text": "한빛 빛축제 포스터: 12월 1일부터 31일까지 시청 광장"},
        headers=csrf,
    )
    assert uploaded.status_code == 201, uploaded.text

    preview = await service.client.get(f"/v1/campaigns/{cid}/preview/skt.png")
    assert preview.status_code == 200
    assert preview.content.startswith(b"\x89PNG")

    assert (await service.client.post(f"/v1/campaigns/{cid}/submit", headers=csrf)).json()[
        "state"
    ] == "submitted"
    own = await service.client.post(f"/v1/campaigns/{cid}/approve", headers=csrf)
    assert own.status_code == 403
    approver = {"authorization": f"Bearer {tokens['approver_token']}"}
    approved = await service.client.post(f"/v1/campaigns/{cid}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"

    async def call_with_campaign() -> bool:
        reply = (await service.post(service.event(callee_number="010-0301-1230"))).json()
        return bool(reply.get("campaign_id") == cid)

    # The approval reaches calls within 2 s (the snapshot poll), before any carrier approved content.
    assert await service.wait_for(call_with_campaign, timeout_s=2.0)

    async def call_with_content() -> dict[str, Any] | None:
        body = service.event(callee_number="010-0300-1230")
        reply = (await service.post(body)).json()
        pushes = await service.pushes("+821003001230")
        if reply.get("campaign_id") == cid and pushes and pushes[-1]["content_ref"]:
            return {"reply": reply, "push": pushes[-1]}
        return None

    # The carriers approve the registered rendition, the snapshot picks it up: within seconds.
    seen = await service.wait_for(call_with_content, timeout_s=10)
    assert seen is not None
    assert seen["reply"]["lettering"] == "accepted"
    link = seen["push"]["post_call"]["url"]
    assert f"/c/{campaign['slug']}?t=" in link  # the citizen's own opt-out token, never the number
    assert "1003001230" not in link
    with_token = await service.client.get(link.removeprefix(service.url))
    assert 'href="/o/' in with_token.text
    record = await service.call(seen["reply"]["call_id"])
    assert record.campaign_id == cid
    assert f"campaign {cid}: priority 5, department target" in record.explanation

    page = await service.client.get(f"/c/{campaign['slug']}")
    assert page.status_code == 200
    assert "한빛 빛축제" in page.text
    assert 'alt="한빛 빛축제 포스터: 12월 1일부터 31일까지 시청 광장"' in page.text
    image = await service.client.get(f"/c/{campaign['slug']}/img/0")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"


async def test_drafts_have_no_public_page(service: Service) -> None:
    assert (await service.client.get("/c/not-a-campaign")).status_code == 404


async def test_an_oversized_upload_is_refused_while_it_streams(service: Service) -> None:
    async def body():  # type: ignore[no-untyped-def]
        # A well-formed start of a file part, then 12.8 MB, chunked: no Content-Length to check up front.
        yield b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        yield b"Content-Type: image/jpeg\r\n\r\n"
        for _ in range(200):
            yield b"x" * 65536

    editor = {"authorization": f"Bearer {(await people(service))['editor_token']}"}
    created = await service.client.post(
        "/v1/campaigns",
        json={
            "title": "큰 파일",
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "target_departments": ["HANBIT-0100"],
        },
        headers=editor,
    )
    response = await service.client.post(
        f"/v1/campaigns/{created.json()['id']}/images",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=zzz", **editor},
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


async def test_the_api_checks_a_campaign_where_the_service_does_and_names_every_problem(
    service: Service,
) -> None:
    """One place checks a campaign's values (CampaignInput.problems()): the API refuses what the
    service would, hours the wrong way round included, and lists every problem in one 422."""
    await people(service)
    csrf = await login(service, "editor@hanbit.go.kr")
    good = {
        "title": "한빛 빛축제",
        "starts_on": "2026-01-01",
        "ends_on": "2027-12-31",
        "target_departments": ["HANBIT-0100"],
    }
    refused = await service.client.post(
        "/v1/campaigns",
        json={**good, "title": "가" * 81, "hour_from": 20, "hour_until": 8, "cap_per_day": 0},
        headers=csrf,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "CampaignProblem"
    for field in ("title", "hours", "cap_per_day"):
        assert field in refused.json()["detail"], (field, refused.json())
    kept = await service.client.post("/v1/campaigns", json=good, headers=csrf)
    assert kept.status_code == 201, kept.text
    listed = await service.client.get("/v1/campaigns", headers=csrf)
    assert [c["title"] for c in listed.json()] == ["한빛 빛축제"]
