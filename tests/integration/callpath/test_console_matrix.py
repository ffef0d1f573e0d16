"""Console route x role x agency: a user of one agency neither sees nor changes another agency's
objects through any page or form of the staff console (/admin).

The routes come from the console's own router, so a page added later is covered the day it is
added (an unknown path parameter fails this test until it is given a foreign value here). Every
user of PUREUN (editor, approver, admin) logs in through the console's form and, with a valid CSRF
token, opens every page and posts every form against HANBIT's objects, with HANBIT named in every
agency and department field. None of it may succeed (no 2xx or redirect on a HANBIT object), no
answer is a 5xx, no page shows HANBIT's data, and HANBIT's own pages read the same afterwards.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi.routing import APIRoute, APIRouter

from lettering.console.router import router as console_router
from lettering.core.db import session_scope
from lettering.directory import service as directory_service
from lettering.users import service as user_service
from lettering.verify import service as verify_service
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_tenant_matrix import PASSWORD, ROLES, foreign_objects, tokens

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# What differs between two readings of an unchanged page: the session's token, the reader's own
# last login, and the carriers' review of the images, which the content sync job moves on by itself.
UNSTABLE = re.compile(
    r'data-csrf="[^"]+"|csrf_token=[^"&]+|<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>|<p class="content-status">.*</p>'
)
PENDING = re.compile(r'action="/admin/directory/import/([A-Za-z0-9_-]{32})/apply"')
# HANBIT's data that no PUREUN page may show: its campaign's title, and names given here.
MARKERS = ("한빛 축제", "한빛매트릭스")
# What HANBIT's admin reads before and after; none of it may change.
HANBIT_PAGES = (
    "/admin/campaigns",
    "/admin/campaigns/{campaign_id}",
    "/admin/agency",
    "/admin/users",
    "/admin/spoof-reports",
    "/admin/directory/departments/HANBIT-0100",
    "/admin/directory?q=2115",
    "/admin/pbx",
)
# Path parameters that name no object of an agency (the user's own agency's table, any path).
NOT_OBJECTS = {"table", "rest"}
# Every agency or department field a form might read, pointed at HANBIT.
HANBIT_FIELDS = {
    "agency": "HANBIT",
    "agency_code": "HANBIT",
    "department": "HANBIT-0100",
    "department_code": "HANBIT-0100",
    "code": "HANBIT-0100",
    "owner_department": "HANBIT-0100",
    "target_departments": "HANBIT-0100",
    "extensions": "2114",
    "number": "010-0400-1230",
    "scope": "all",
    "reason": "테스트",
    "title": "교차 기관 시험",
    "starts_on": "2026-01-01",
    "ends_on": "2027-12-31",
    "guidance": "바뀌면 안 되는 안내",
    "email": "cross@hanbit.go.kr",
    "name": "교차",
    "role": "editor",
    "no_lettering": "20",
    "identity_only": "20",
    "election_day": "2030-06-03",
}


def console_routes(router: APIRouter, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every console route, nested routers included."""
    found: list[tuple[str, str]] = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            path = route.path if route.path.startswith("/admin") else "/admin" + route.path
            found.extend((method, path) for method in sorted(route.methods))
        elif hasattr(route, "original_router"):  # an included router
            found.extend(console_routes(route.original_router))
    return found


@contextlib.asynccontextmanager
async def logged_in(service: Service, email: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser of its own, logged in through the console's form, and its CSRF token."""
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        yield client, await log_in(client, email)


async def log_in(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await client.get("/admin/campaigns")
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def more_hanbit_objects(service: Service, bearer: dict[str, str]) -> dict[str, str]:
    """HANBIT objects the API matrix does not make: a user, a token, a spoof report, a freeze and
    a directory import waiting for 적용, with the names in MARKERS."""
    async with session_scope(service.sessions) as session:
        user = await user_service.create_user(
            session, "matrix@hanbit.go.kr", "한빛매트릭스담당", PASSWORD, "editor", "HANBIT", "HANBIT-0100"
        )
        await user_service.create_api_token(session, user.id, "한빛매트릭스토큰")
        token = (await user_service.api_tokens(session, user.id))[0]
        report = await verify_service.report_spoof(
            session, shown_number="031-5180-2114", seen_at=None, note="한빛매트릭스신고", ip_hash=None
        )
        freeze = await directory_service.create_freeze(
            session,
            service.agencies["HANBIT"],
            starts_on=date(2031, 1, 1),
            ends_on=date(2031, 1, 2),
            reason="한빛매트릭스동결",
        )
    async with logged_in(service, "admin@hanbit.go.kr") as (admin, csrf):
        exported = await admin.get("/admin/directory/export.csv")
        assert exported.status_code == 200, exported.text
        changed = exported.content.decode("utf-8-sig").replace("031-5180-2115", "031-5180-2199")
        preview = await admin.post(
            "/admin/directory/import",
            params={"csrf_token": csrf},
            files={"file": ("directory.csv", changed.encode("utf-8-sig"), "text/csv")},
        )
        assert preview.status_code == 200, preview.text
        pending = PENDING.search(preview.text)
        assert pending is not None, preview.text
    return {
        "user_id": str(user.id),
        "token_id": str(token.id),
        "report_id": str(report.report_id),
        "code": "HANBIT-0100",
        "pending_id": pending.group(1),
        "table": "daily",
        "rest": "nothing-here",
        "matrix_freeze_id": str(freeze.id),
        "pbx_id": "hanbit-main",
    }


async def hanbit_pages(service: Service, objects: dict[str, str]) -> dict[str, str]:
    async with logged_in(service, "admin@hanbit.go.kr") as (admin, _csrf):
        read: dict[str, str] = {}
        for path in HANBIT_PAGES:
            response = await admin.get(path.format(**objects))
            assert response.status_code == 200, f"{path}: {response.status_code}"
            read[path] = UNSTABLE.sub("", CSRF.sub("csrf", response.text))
        return read


# The scope rules are the services' Python, the same on both databases, and the API's matrix
# (test_tenant_matrix) runs on PostgreSQL too; this one (~40 s) runs on SQLite.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_console_route_lets_another_agency_see_or_change_anything(service: Service) -> None:
    bearer = await tokens(service)
    objects = {**await foreign_objects(service, bearer), **await more_hanbit_objects(service, bearer)}
    routes = console_routes(console_router)
    assert ("GET", "/admin/campaigns/{campaign_id}") in routes
    assert ("POST", "/admin/calls/{call_id}/number") in routes
    before = await hanbit_pages(service, objects)
    for marker in MARKERS:
        assert any(marker in text for text in before.values()), f"HANBIT's pages do not show {marker}"

    checked = 0
    for role in ROLES:
        async with logged_in(service, f"{role}@pureun.go.kr") as (client, csrf):
            for method, path in routes:
                if path in ("/admin/login", "/admin/logout"):
                    continue
                names = re.findall(r"{(\w+)(?::\w+)?}", path)
                unknown = [n for n in names if n not in objects]
                assert not unknown, f"{method} {path}: give {unknown} a foreign value in this test"
                url = re.sub(r"{(\w+)(?::\w+)?}", lambda m: objects[m.group(1)], path)
                if method == "GET":
                    response = await client.get(url, params=HANBIT_FIELDS)
                else:
                    response = await client.request(method, url, data={"csrf_token": csrf, **HANBIT_FIELDS})
                said = f"PUREUN {role}: {method} {url} -> {response.status_code}"
                assert response.status_code < 500, f"{said} {response.text[:300]}"
                assert response.status_code != 401, said  # logged in: a 401 means the check was skipped
                location = response.headers.get("location", "")
                assert "/admin/login" not in location, said
                if set(names) - NOT_OBJECTS:
                    assert not 200 <= response.status_code < 400, said
                text = response.text if "text" in response.headers.get("content-type", "") else ""
                leaked = [m for m in MARKERS if m in text]
                assert not leaked, f"{said} shows HANBIT's {leaked}"
                checked += 1
    assert checked >= 3 * 40

    after = await hanbit_pages(service, objects)
    for path, text in before.items():
        changed = "\n".join(difflib.unified_diff(text.splitlines(), after[path].splitlines(), lineterm=""))
        assert not changed, f"HANBIT's {path} changed:\n{changed}"
    async with service.sessions() as session:
        entries = await directory_service.agency_entries(session, service.agencies["HANBIT"])
        user = await user_service.find_user(session, "matrix@hanbit.go.kr")
        assert user is not None
        assert user.active
        tokens_now = await user_service.api_tokens(session, user.id)
    assert [t.revoked_at for t in tokens_now] == [None]
    numbers = {e.extension: e.caller_number for e in entries}
    assert numbers["2115"] == "031-5180-2115", "a PUREUN user applied HANBIT's pending import"
