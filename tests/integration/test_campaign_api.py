"""The campaign API in process (both backends): path ids the database cannot hold, who may target
what, and the image sizes each carrier needs."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.app import create_app
from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import seed_directory, service_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
BEYOND_64_BITS = 2**63


@dataclass
class Api:
    client: httpx.AsyncClient
    editor: dict[str, str]  # headers: the 민원여권과 (HANBIT-0100) editor's bearer token
    admin: dict[str, str]  # the HANBIT agency admin
    approver: dict[str, str]
    platform: dict[str, str]  # a platform admin (no agency of their own)


async def bearer(
    session: AsyncSession, email: str, role: str, department: str | None = None, agency: str | None = "HANBIT"
) -> dict[str, str]:
    user = await user_service.create_user(
        session, email, email.split("@")[0], PASSWORD, role, agency, department
    )
    return {"authorization": f"Bearer {await user_service.create_api_token(session, user.id, 'test')}"}


@contextlib.asynccontextmanager
async def running(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Api]:
    await seed_directory(sessions)
    async with session_scope(sessions) as session:
        editor = await bearer(session, "editor@hanbit.go.kr", "editor", "HANBIT-0100")
        admin = await bearer(session, "admin@hanbit.go.kr", "admin")
        approver = await bearer(session, "approver@hanbit.go.kr", "approver")
        platform = await bearer(session, "platform@example.kr", "platform_admin", agency=None)
    app = create_app(service_settings(database_url, "http://testserver"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, editor, admin, approver, platform)


@pytest.fixture
async def api(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Api]:
    async with running(database_url, sessions) as api:
        yield api


# -- path ids -----------------------------------------------------------------------------------


ID_PATHS = (
    ("GET", "/v1/campaigns/{id}"),
    ("GET", "/v1/campaigns/{id}/history"),
    ("PATCH", "/v1/campaigns/{id}"),
    ("DELETE", "/v1/campaigns/{id}"),
    ("PUT", "/v1/campaigns/{id}/image-order"),
    ("PATCH", "/v1/campaigns/{id}/images/0"),
    ("DELETE", "/v1/campaigns/{id}/images/0"),
    ("GET", "/v1/campaigns/{id}/preview/skt.png"),
    ("POST", "/v1/campaigns/{id}/images"),
    ("POST", "/v1/campaigns/{id}/submit"),
    ("POST", "/v1/campaigns/{id}/approve"),
    ("POST", "/v1/campaigns/{id}/reject"),
    ("POST", "/v1/campaigns/{id}/end"),
)


BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/v1/campaigns/{id}/reject"): {"json": {"reason": "x"}},
    ("PATCH", "/v1/campaigns/{id}"): {"json": {"title": "x"}},
    ("PUT", "/v1/campaigns/{id}/image-order"): {"json": {"order": [0]}},
    ("PATCH", "/v1/campaigns/{id}/images/0"): {"json": {"alt_text": "x"}},
}


async def test_a_path_id_beyond_64_bits_is_a_422_naming_the_field(api: Api) -> None:
    for method, path in ID_PATHS:
        body = BODIES.get((method, path), {})
        for bad in (BEYOND_64_BITS, 10**30, 0, -1):
            response = await api.client.request(method, path.format(id=bad), headers=api.admin, **body)
            assert response.status_code == 422, (path, bad, response.text)
            assert response.json()["detail"][0]["loc"] == ["path", "campaign_id"], response.text
        largest = await api.client.request(
            method, path.format(id=BEYOND_64_BITS - 1), headers=api.admin, **body
        )
        assert largest.status_code in (404, 422), (path, largest.text)  # unknown (or no upload): never a 500


async def test_an_id_no_row_can_have_is_a_404_on_every_database(api: Api) -> None:
    """INTEGER ids are 32 bits on PostgreSQL: a larger one in range of the path is an unknown campaign."""
    for big in (2**31 - 1, 2**31, BEYOND_64_BITS - 1):
        for method, path in ID_PATHS:
            if path.endswith("images"):
                continue  # the upload's body is checked first
            body = BODIES.get((method, path), {})
            response = await api.client.request(method, path.format(id=big), headers=api.admin, **body)
            assert response.status_code == 404, (path, big, response.text)


# -- who may target what ------------------------------------------------------------------------

CAMPAIGN = {"title": "여권 발급 안내", "starts_on": "2026-01-01", "ends_on": "2027-12-31"}


def no_row_ids(value: object) -> bool:
    if isinstance(value, dict):
        return "department_id" not in value and all(no_row_ids(v) for v in value.values())
    if isinstance(value, list):
        return all(no_row_ids(v) for v in value)
    return True


async def test_an_editor_targets_only_their_own_departments_extensions(api: Api) -> None:
    """An editor of HANBIT-0100 (extensions 2114, 2115): nothing wider, and each refusal names the target."""
    for body, named, status in (
        ({"agency_wide": True}, "agency_wide", 403),
        ({"target_departments": ["HANBIT-0001"]}, "HANBIT-0001", 403),
        (
            {"target_extensions": [{"department": "HANBIT-0001", "extension": "2000"}]},
            "HANBIT-0001 2000",
            403,
        ),
        ({"department": "HANBIT-0001", "target_departments": ["HANBIT-0100"]}, "HANBIT-0001", 403),
        (
            {"target_extensions": [{"department": "HANBIT-0100", "extension": "2000"}]},
            "HANBIT-0100 2000",
            422,
        ),
        ({"target_departments": ["PUREUN-0001"]}, "PUREUN-0001", 422),
        ({"target_departments": ["NO-SUCH"]}, "NO-SUCH", 422),
    ):
        refused = await api.client.post("/v1/campaigns", json={**CAMPAIGN, **body}, headers=api.editor)
        assert refused.status_code == status, (body, refused.text)
        assert named in refused.json()["detail"], (body, refused.json())
    approver = await api.client.post(
        "/v1/campaigns", json={**CAMPAIGN, "agency_wide": True}, headers=api.approver
    )
    assert approver.status_code == 403, approver.text
    assert "agency_wide" in approver.json()["detail"]

    own = await api.client.post(
        "/v1/campaigns",
        json={
            **CAMPAIGN,
            "target_departments": ["HANBIT-0100"],
            "target_extensions": [{"department": "HANBIT-0100", "extension": "2115"}],
        },
        headers=api.editor,
    )
    assert own.status_code == 201, own.text
    assert own.json()["department"] == "HANBIT-0100"
    assert own.json()["targets"] == [
        {"kind": "department", "department": "HANBIT-0100", "extension": None},
        {"kind": "extension", "department": "HANBIT-0100", "extension": "2115"},
    ]
    assert no_row_ids(own.json())


async def test_an_agency_admin_targets_the_agency_and_any_of_its_departments(api: Api) -> None:
    wide = await api.client.post(
        "/v1/campaigns",
        json={**CAMPAIGN, "agency_wide": True, "target_departments": ["HANBIT-0001"]},
        headers=api.admin,
    )
    assert wide.status_code == 201, wide.text
    assert wide.json()["department"] is None
    assert wide.json()["targets"] == [
        {"kind": "agency", "department": None, "extension": None},
        {"kind": "department", "department": "HANBIT-0001", "extension": None},
    ]
    foreign = await api.client.post(
        "/v1/campaigns", json={**CAMPAIGN, "target_departments": ["PUREUN-0001"]}, headers=api.admin
    )
    assert foreign.status_code == 422
    assert "PUREUN-0001" in foreign.json()["detail"]


# -- image sizes --------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (20, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


async def upload(api: Api, cid: int, data: bytes) -> httpx.Response:
    return await api.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("poster.png", data, "image/png")},
        data={"alt_text": "여권 발급 안내 포스터"},
        headers=api.editor,
    )


async def test_an_image_below_a_carriers_minimum_is_refused_and_an_enlarged_one_warned(api: Api) -> None:
    created = await api.client.post(
        "/v1/campaigns", json={**CAMPAIGN, "target_departments": ["HANBIT-0100"]}, headers=api.editor
    )
    cid = created.json()["id"]
    tiny = await upload(api, cid, png(80, 60))
    assert tiny.status_code == 422, tiny.text
    assert tiny.json()["detail"]["code"] == "too_small"
    detail = tiny.json()["detail"]["message"]
    for minimum in (
        "SK텔레콤은 가로 360 또는 세로 640",
        "KT는 가로 540 또는 세로 960",
        "LG유플러스는 가로 320 또는 세로 480",
    ):
        assert minimum in detail, detail
    assert "80×60" in detail
    just_under_kt = await upload(api, cid, png(539, 959))
    assert just_under_kt.status_code == 422, just_under_kt.text
    assert "KT는 가로 540 또는 세로 960" in just_under_kt.json()["detail"]["message"]
    assert "SK텔레콤" not in just_under_kt.json()["detail"]["message"]

    enlarged = await upload(api, cid, png(800, 1000))
    assert enlarged.status_code == 201, enlarged.text
    assert [(w["code"], w["carrier"], w["factor"], w["frame"]) for w in enlarged.json()["warnings"]] == [
        ("upscaled", "kt", 1.35, "1080x1920")
    ]
    assert "1080×1920" in enlarged.json()["warnings"][0]["message"]
    full = await upload(api, cid, png(1080, 1920))
    assert full.status_code == 201, full.text
    assert full.json()["warnings"] == []
    view = await api.client.get(f"/v1/campaigns/{cid}", headers=api.editor)
    assert [(i["width"], i["height"]) for i in view.json()["images"]] == [(800, 1000), (1080, 1920)]


async def test_a_nul_character_is_a_422_naming_the_field_on_every_database(api: Api) -> None:
    """PostgreSQL refuses NUL in text: it was a 500 there (SQLite stored it)."""
    own = {**CAMPAIGN, "target_departments": ["HANBIT-0100"]}
    for body, field in (
        ({**own, "title": "여권\x00안내"}, "title"),
        ({**own, "policy_url": "https://www.hanbit.go.kr/\x00"}, "policy_url"),
        ({**CAMPAIGN, "target_departments": ["HANBIT\x000100"]}, "target_departments"),
        (
            {**CAMPAIGN, "target_extensions": [{"department": "HANBIT-0100\x00", "extension": "2114"}]},
            "target_extensions",
        ),
        ({**own, "department": "HANBIT-0100\x00"}, "department"),
    ):
        refused = await api.client.post("/v1/campaigns", json=body, headers=api.editor)
        assert refused.status_code == 422, (field, refused.text)
        assert f"{field}: no control characters" in refused.json()["detail"], refused.text
    cid = (await api.client.post("/v1/campaigns", json=own, headers=api.editor)).json()["id"]
    alt = await api.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("poster.png", png(720, 1280), "image/png")},
        data={"alt_text": "포스터\x00"},
        headers=api.editor,
    )
    assert alt.status_code == 422, alt.text
    assert "alt_text: no control characters" in alt.json()["detail"]
    uploaded = await upload(api, cid, png(720, 1280))
    assert uploaded.status_code == 201, uploaded.text
    assert (await api.client.post(f"/v1/campaigns/{cid}/submit", headers=api.editor)).status_code == 200
    reason = await api.client.post(
        f"/v1/campaigns/{cid}/reject", json={"reason": "다시\x00"}, headers=api.approver
    )
    assert reason.status_code == 422, reason.text
    assert "reason: no NUL" in reason.json()["detail"]


async def test_the_openapi_documents_every_answer_and_the_upload_form(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    expected = {
        ("post", "/v1/campaigns"): {"201", "401", "403", "422"},
        ("get", "/v1/campaigns/{campaign_id}"): {"200", "401", "404", "422"},
        ("post", "/v1/campaigns/{campaign_id}/images"): {"201", "401", "403", "404", "409", "413", "422"},
        ("post", "/v1/campaigns/{campaign_id}/approve"): {"200", "401", "403", "404", "409", "422"},
        ("get", "/v1/campaigns/{campaign_id}/preview/{carrier}.png"): {"200", "401", "404", "422"},
    }
    for (method, path), statuses in expected.items():
        assert set(spec["paths"][path][method]["responses"]) == statuses, (method, path)
    refused = spec["paths"]["/v1/campaigns"]["post"]["responses"]["422"]["content"]["application/json"][
        "schema"
    ]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in refused["anyOf"]} == {"FieldProblems", "ErrorOut"}
    form = spec["paths"]["/v1/campaigns/{campaign_id}/images"]["post"]["requestBody"]["content"]
    assert form["multipart/form-data"]["schema"]["required"] == ["file", "alt_text"]
    preview = spec["paths"]["/v1/campaigns/{campaign_id}/preview/{carrier}.png"]["get"]["responses"]["200"]
    assert list(preview["content"]) == ["image/png"]


async def test_a_multipart_body_the_parser_refuses_is_a_422_naming_why(api: Api) -> None:
    created = await api.client.post(
        "/v1/campaigns", json={**CAMPAIGN, "target_departments": ["HANBIT-0100"]}, headers=api.editor
    )
    cid = created.json()["id"]
    too_many = await api.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("poster.png", png(720, 1280), "image/png")},
        data={"alt_text": "포스터", **{f"extra{i}": "x" for i in range(6)}},
        headers=api.editor,
    )
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["error"] == "BadUpload"
    assert "Too many fields" in too_many.json()["detail"]


async def test_the_agency_is_named_by_its_code_never_by_row_id(api: Api) -> None:
    wide = {**CAMPAIGN, "agency_wide": True}
    for body, named in (
        (wide, "agency: a platform admin names the agency"),
        ({**wide, "agency": "NOPE"}, "agency: no agency NOPE"),
    ):
        refused = await api.client.post("/v1/campaigns", json=body, headers=api.platform)
        assert refused.status_code == 422, refused.text
        assert named in refused.json()["detail"]
    by_id = await api.client.post("/v1/campaigns", json={**wide, "agency_id": 999}, headers=api.platform)
    assert by_id.status_code == 422, by_id.text  # was a 500: the row id of no agency reached the insert
    assert by_id.json()["detail"][0]["loc"] == ["body", "agency_id"]
    made = await api.client.post("/v1/campaigns", json={**wide, "agency": "HANBIT"}, headers=api.platform)
    assert made.status_code == 201, made.text
    own = {**CAMPAIGN, "target_departments": ["HANBIT-0100"]}
    foreign = await api.client.post("/v1/campaigns", json={**own, "agency": "PUREUN"}, headers=api.editor)
    assert foreign.status_code == 422, foreign.text
    assert "agency: no agency PUREUN" in foreign.json()["detail"]
    repeated = await api.client.post("/v1/campaigns", json={**own, "agency": "HANBIT"}, headers=api.editor)
    assert repeated.status_code == 201, repeated.text
    assert repeated.json()["agency_id"] == made.json()["agency_id"]


async def test_weekdays_longer_than_the_week_are_a_422_naming_weekdays(api: Api) -> None:
    """Each digit at most once: '00000000' was a 500 on PostgreSQL (the column holds 7 characters)."""
    own = {**CAMPAIGN, "target_departments": ["HANBIT-0100"]}
    for weekdays in ("00000000", "01234560", "0" * 1000):
        refused = await api.client.post(
            "/v1/campaigns", json={**own, "weekdays": weekdays}, headers=api.editor
        )
        assert refused.status_code == 422, refused.text
        assert "weekdays" in refused.json()["detail"]
    kept = await api.client.post("/v1/campaigns", json={**own, "weekdays": "6543210"}, headers=api.editor)
    assert kept.status_code == 201, kept.text


# -- changing a draft ---------------------------------------------------------------------------


async def test_a_draft_is_patched_field_by_field_and_its_targets_as_a_whole(api: Api) -> None:
    created = await api.client.post(
        "/v1/campaigns",
        json={**CAMPAIGN, "target_departments": ["HANBIT-0100"], "cap_per_day": 3},
        headers=api.editor,
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    patched = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"title": "새 제목", "cap_per_day": None}, headers=api.editor
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["title"], body["caps"]["per_day"], body["starts_on"]) == ("새 제목", None, "2026-01-01")
    assert body["targets"] == [{"kind": "department", "department": "HANBIT-0100", "extension": None}]
    retarget = await api.client.patch(
        f"/v1/campaigns/{cid}",
        json={"target_extensions": [{"department": "HANBIT-0100", "extension": "2114"}]},
        headers=api.editor,
    )
    assert retarget.json()["targets"] == [
        {"kind": "extension", "department": "HANBIT-0100", "extension": "2114"}
    ]
    for change, named, status in (
        ({"title": None}, "title: may not be null", 422),
        ({"ends_on": "2025-01-01"}, "ends_on: before starts_on", 422),
        ({"target_departments": []}, "targets:", 422),
        ({"agency_wide": True}, "agency_wide", 403),
        ({"surprise": 1}, "surprise", 422),
    ):
        refused = await api.client.patch(f"/v1/campaigns/{cid}", json=change, headers=api.editor)
        assert refused.status_code == status, (change, refused.text)
        assert named in refused.text, (change, refused.text)
    again = await api.client.get(f"/v1/campaigns/{cid}", headers=api.editor)
    assert again.json()["title"] == "새 제목"  # nothing of a refused change was kept
    assert await upload(api, cid, png(720, 1280)) is not None
    submitted = await api.client.post(f"/v1/campaigns/{cid}/submit", headers=api.editor)
    assert submitted.status_code == 200, submitted.text
    late = await api.client.patch(f"/v1/campaigns/{cid}", json={"title": "늦게"}, headers=api.editor)
    assert late.status_code == 409
    rejected = await api.client.post(
        f"/v1/campaigns/{cid}/reject", json={"reason": "사진이 흐립니다"}, headers=api.approver
    )
    assert rejected.status_code == 200, rejected.text
    history = (await api.client.get(f"/v1/campaigns/{cid}/history", headers=api.editor)).json()
    assert [(h["action"], h["detail"]) for h in history] == [
        ("created", None),
        ("changed", None),
        ("changed", None),
        ("image_added", "여권 발급 안내 포스터"),
        ("submitted", None),
        ("rejected", "사진이 흐립니다"),
    ]
    assert len({h["actor"] for h in history}) == 2  # the editor, then the approver
    assert "only a draft can be changed; this campaign is submitted" in late.text
    resubmitted = await api.client.post(f"/v1/campaigns/{cid}/submit", headers=api.editor)
    assert resubmitted.status_code == 200, resubmitted.text
    assert (await api.client.delete(f"/v1/campaigns/{cid}", headers=api.editor)).status_code == 409


async def test_a_drafts_images_are_reordered_described_and_removed_and_the_draft_deleted(api: Api) -> None:
    created = await api.client.post(
        "/v1/campaigns", json={**CAMPAIGN, "target_departments": ["HANBIT-0100"]}, headers=api.editor
    )
    cid = created.json()["id"]
    for width in (720, 1080, 900):
        assert (await upload(api, cid, png(width, width * 16 // 9))).status_code == 201
    ordered = await api.client.put(
        f"/v1/campaigns/{cid}/image-order", json={"order": [2, 0, 1]}, headers=api.editor
    )
    assert ordered.status_code == 200, ordered.text
    assert [(i["position"], i["width"]) for i in ordered.json()["images"]] == [(0, 900), (1, 720), (2, 1080)]
    for order in ([0, 1], [0, 1, 1], [0, 1, 5]):
        refused = await api.client.put(
            f"/v1/campaigns/{cid}/image-order", json={"order": order}, headers=api.editor
        )
        assert refused.status_code == 422, (order, refused.text)
        assert "order: each of the positions [0, 1, 2] exactly once" in refused.text
    described = await api.client.patch(
        f"/v1/campaigns/{cid}/images/1", json={"alt_text": "둘째 장"}, headers=api.editor
    )
    assert described.json()["images"][1]["alt_text"] == "둘째 장"
    removed = await api.client.delete(f"/v1/campaigns/{cid}/images/0", headers=api.editor)
    assert removed.status_code == 200
    assert [(i["position"], i["width"], i["alt_text"]) for i in removed.json()["images"]] == [
        (0, 720, "둘째 장"),
        (1, 1080, "여권 발급 안내 포스터"),
    ]
    missing = await api.client.delete(f"/v1/campaigns/{cid}/images/7", headers=api.editor)
    assert missing.status_code == 404
    assert "no image at position 7" in missing.text
    other = await api.client.delete(f"/v1/campaigns/{cid}", headers=api.approver)
    assert other.status_code == 204  # an approver may change any campaign of the agency
    assert (await api.client.get(f"/v1/campaigns/{cid}", headers=api.editor)).status_code == 404
