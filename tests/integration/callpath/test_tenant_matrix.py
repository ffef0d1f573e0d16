"""Route x role x agency: no user of one agency gets a 2xx on another agency's objects.

The routes come from the app's own route table (its OpenAPI paths), so a new route with an object
in its path is covered the day it is added (an unknown path parameter fails this test until it is
given a foreign value here).
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

import pytest
from PIL import Image

from lettering.core.db import session_scope
from lettering.directory import service as directory_service
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
ROLES = ("editor", "approver", "admin")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 1000), (10, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


async def tokens(service: Service) -> dict[str, str]:
    """Bearer tokens: HANBIT's editor and approver, and one user of each role in PUREUN."""
    out: dict[str, str] = {}
    async with session_scope(service.sessions) as session:
        for agency, department in (("HANBIT", "HANBIT-0100"), ("PUREUN", "PUREUN-0001")):
            for role in ROLES:
                user = await user_service.create_user(
                    session,
                    f"{role}@{agency.lower()}.go.kr",
                    role,
                    PASSWORD,
                    role,
                    agency,
                    department if role == "editor" else None,
                )
                out[f"{agency}:{role}"] = await user_service.create_api_token(session, user.id, "matrix")
    return out


async def foreign_objects(service: Service, bearer: dict[str, str]) -> dict[str, str]:
    """HANBIT objects every path parameter can point at."""
    editor = {"authorization": f"Bearer {bearer['HANBIT:editor']}"}
    created = await service.client.post(
        "/v1/campaigns",
        json={
            "title": "한빛 축제",
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "target_departments": ["HANBIT-0100"],
        },
        headers=editor,
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    upload = await service.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        data={"alt_text": "축제 포스터"},
        headers=editor,
    )
    assert upload.status_code == 201, upload.text
    call = service.event(callee_number="010-0400-1230")
    await service.post(call)
    record = await service.call(call["call_id"])
    async with session_scope(service.sessions) as session:
        freeze = await directory_service.create_freeze(
            session,
            service.agencies["HANBIT"],
            starts_on=date(2030, 1, 1),
            ends_on=date(2030, 1, 2),
            reason="선거",
        )
    return {
        "department_code": "HANBIT-0100",
        "freeze_id": str(freeze.id),
        "campaign_id": str(cid),
        "position": "0",
        "carrier": "skt",
        "agency_code": "HANBIT",
        "call_id": str(record.id),
        "id": str(record.id),
        "record_id": str(record.id),
    }


def routes_with_objects(service: Service) -> list[tuple[str, str]]:
    """Every API route with an object in its path, from the app's route table."""
    found: list[tuple[str, str]] = []
    for path, operations in service.live.app.openapi()["paths"].items():
        if not path.startswith("/v1/") or "{" not in path or path.startswith("/v1/carriers/"):
            continue  # carriers' callbacks are signed by the carrier, not made by users
        for method in sorted(operations):
            found.append((method.upper(), path))
    return found


async def test_no_cross_agency_2xx(service: Service) -> None:
    bearer = await tokens(service)
    objects = await foreign_objects(service, bearer)
    routes = routes_with_objects(service)
    assert any("{campaign_id}" in path for _, path in routes)
    assert ("GET", "/v1/agencies/{agency_code}/alimtalk") in routes
    checked = 0
    for method, path in routes:
        names = re.findall(r"{(\w+)}", path)
        unknown = [n for n in names if n not in objects]
        assert not unknown, f"{method} {path}: give {unknown} a foreign value in this test"
        url = path
        for name in names:
            url = url.replace("{" + name + "}", objects[name])
        for role in ROLES:
            headers = {"authorization": f"Bearer {bearer[f'PUREUN:{role}']}"}
            kwargs: dict[str, Any] = {"headers": headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {"reason": "테스트", "scope": "all", "number": "010-0400-1230"}
            response = await service.client.request(method, url, params={"reason": "test"}, **kwargs)
            assert not 200 <= response.status_code < 300, (
                f"PUREUN {role}: {method} {url} -> {response.status_code}"
            )
            # A valid user's token is never a 401: a route that answers one does not authenticate
            # through lettering.users, so its tenant scoping is not what this test checks.
            assert response.status_code != 401, f"PUREUN {role}: {method} {url} -> 401 {response.text}"
            checked += 1
    assert checked >= 3 * 7
    listed = await service.client.get(
        "/v1/campaigns", headers={"authorization": f"Bearer {bearer['PUREUN:admin']}"}
    )
    assert listed.status_code == 200
    assert listed.json() == []
