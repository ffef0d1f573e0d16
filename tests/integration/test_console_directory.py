"""The console's 조직·내선 pages in process: search, roles and agency scope (another agency's
directory is a 404), guidance edits that reach the next call's decision, the CSV export (and that
importing it back changes nothing), the CSV import's preview and 적용, a stale preview, encodings
and refusals naming their line and column."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lettering.app import create_app
from lettering.core.db import session_scope
from lettering.core.deps import lookup
from lettering.decision.service import CallFacts, decide
from lettering.directory import service as directory_service
from lettering.snapshots.callpath import CallPathStore
from lettering.snapshots.service import SnapshotStore, read_versions
from lettering.users import service as user_service
from tests.factories import PASSPORT_GUIDANCE, seed_directory
from tests.integration.callpath.conftest import service_settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
BASE = "http://testserver"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PENDING = re.compile(r'action="/admin/directory/import/([A-Za-z0-9_-]{32})/apply"')
HEADER = ",".join(directory_service.COLUMNS)
REAL_DIRECTORY = Path(__file__).resolve().parents[2] / "data" / "directory.csv"


@dataclass
class Console:
    app: FastAPI
    app_client: httpx.AsyncClient
    sessions: async_sessionmaker[AsyncSession]
    ids: dict[str, int]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.app_client._transport, base_url=BASE)

    async def guidance_of_next_call(self, agency: str, extension: str) -> str:
        """The guidance decide() gives a call from this extension, once the snapshots caught up."""
        store: CallPathStore = lookup(self.app.state, SnapshotStore)
        await store.refresh()
        call = CallFacts(
            call_id=f"c-{extension}",
            agency_id=self.ids[agency],
            extension=extension,
            callee_hash="h" * 64,
            caller_e164=None,
            occurred_at=datetime(2026, 12, 3, 5, 0, tzinfo=UTC),
        )
        decision = decide(call, store.current.decision_inputs)
        assert decision.identity is not None, decision
        return decision.identity.guidance


@contextlib.asynccontextmanager
async def running(
    database_url: str, sessions: async_sessionmaker[AsyncSession], media: Path
) -> AsyncIterator[Console]:
    ids = await seed_directory(sessions)
    async with session_scope(sessions) as session:
        for email, role, agency, department in (
            ("editor@hanbit.go.kr", "editor", "HANBIT", "HANBIT-0100"),
            ("approver@hanbit.go.kr", "approver", "HANBIT", None),
            ("admin@hanbit.go.kr", "admin", "HANBIT", None),
            ("admin2@hanbit.go.kr", "admin", "HANBIT", None),
            ("admin@pureun.go.kr", "admin", "PUREUN", None),
            ("platform@lettering.kr", "platform_admin", None, None),
        ):
            await user_service.create_user(
                session, email, email.split("@")[0], PASSWORD, role, agency, department
            )
    app = create_app(service_settings(database_url, BASE, media_dir=str(media)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Console(app, client, sessions, ids)


@pytest.fixture
async def console(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[Console]:
    async with running(database_url, sessions, tmp_path / "media") as console:
        yield console


async def log_in(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await client.get("/admin/directory" + ("?agency=HANBIT" if email.startswith("platform") else ""))
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def rows_of(text: str) -> list[str]:
    """The table's extension cells (the third column of the results table)."""
    return re.findall(r"</td>\s*<td>[^<]*</td>\s*<td>(\d+)</td>", text)


async def export(client: httpx.AsyncClient, query: str = "") -> bytes:
    response = await client.get(f"/admin/directory/export.csv{query}")
    assert response.status_code == 200, response.text
    return response.content


async def upload(client: httpx.AsyncClient, csrf: str, data: bytes, agency: str = "") -> httpx.Response:
    fields = {"csrf_token": csrf, **({"agency": agency} if agency else {})}
    return await client.post(
        "/admin/directory/import",
        params={"csrf_token": csrf},  # as the form's action carries it
        data=fields,
        files={"file": ("directory.csv", data, "text/csv")},
    )


def hanbit_csv(*rows: tuple[str, ...]) -> str:
    """A HANBIT directory file: the rows (department code, department name, extension, caller
    number, guidance), the other columns as the seed has them."""
    lines = [HEADER]
    for code, name, extension, number, guidance in rows:
        lines.append(f"HANBIT,한빛특례시,{code},{name},,,{extension},{number},{guidance}")
    return "\r\n".join(lines) + "\r\n"


SEEDED = (
    ("HANBIT-0001", "기획예산과", "2000", "031-5180-2000", ""),
    ("HANBIT-0100", "민원여권과", "2114", "031-5180-2114", PASSPORT_GUIDANCE),
    ("HANBIT-0100", "민원여권과", "2115", "031-5180-2115", PASSPORT_GUIDANCE),
)


# -- search ----------------------------------------------------------------------------------------


async def test_search_by_extension_caller_number_and_department(console: Console) -> None:
    async with console.client() as admin:
        await log_in(admin, "admin@hanbit.go.kr")
        everything = await admin.get("/admin/directory")
        assert everything.status_code == 200
        assert "전체 내선 3건" in everything.text
        assert sorted(rows_of(everything.text)) == ["2000", "2114", "2115"]
        assert 'aria-current="page">조직·내선' in everything.text
        for query, expected in (
            ("2114", ["2114"]),
            ("21", ["2114", "2115"]),
            ("031-5180-2114", ["2114"]),
            ("0315180211", ["2114", "2115"]),
            ("+82 31-5180-2000", ["2000"]),
            ("(031) 5180 2115", ["2115"]),
            ("민원여권", ["2114", "2115"]),
            ("hanbit-0001", ["2000"]),
            ("7000", []),  # PUREUN's extension: never in HANBIT's directory
        ):
            found = await admin.get("/admin/directory", params={"q": query})
            assert found.status_code == 200
            assert sorted(rows_of(found.text)) == expected, query
        nothing = await admin.get("/admin/directory", params={"q": "없는부서"})
        assert "「없는부서」에 맞는 내선이 없습니다" in nothing.text
        planning = await admin.get("/admin/directory", params={"q": "기획예산과"})
        # No phrase of its own: the agency default is in force, and said to be.
        assert (
            '한빛특례시 공식 안내 전화입니다 <span class="chip chip-default">기관 기본</span>'
            in planning.text
        )
        passport = await admin.get("/admin/directory", params={"q": "2114"})
        assert f'{PASSPORT_GUIDANCE} <span class="chip chip-own">부서 문구</span>' in passport.text


async def test_results_are_paginated(console: Console) -> None:
    rows = [("HANBIT-0100", "민원여권과", str(3000 + i), f"031-5180-{3000 + i}", "") for i in range(120)]
    async with session_scope(console.sessions) as session:
        parsed = directory_service.parse_directory(hanbit_csv(*rows))
        assert isinstance(parsed, directory_service.ParsedDirectory)
        await directory_service.apply_directory(session, parsed)
    async with console.client() as admin:
        await log_in(admin, "admin@hanbit.go.kr")
        first = await admin.get("/admin/directory", params={"q": "민원여권과"})
        assert "검색 결과 122건 · 1/3쪽 (50건씩)" in first.text  # with 2114 and 2115
        assert len(rows_of(first.text)) == 50
        assert (
            'href="/admin/directory?q=%EB%AF%BC%EC%9B%90%EC%97%AC%EA%B6%8C%EA%B3%BC&amp;page=2" rel="next"'
            in first.text
        )
        last = await admin.get("/admin/directory", params={"q": "민원여권과", "page": "3"})
        assert len(rows_of(last.text)) == 22
        beyond = await admin.get("/admin/directory", params={"q": "민원여권과", "page": "99"})
        assert beyond.status_code == 200
        assert "3/3쪽" in beyond.text
        junk = await admin.get("/admin/directory", params={"page": "abc"})
        assert junk.status_code == 404  # a malformed address, as the console answers it


# -- roles and the agency scope -------------------------------------------------------------------


async def test_editors_and_approvers_read_but_do_not_change(console: Console) -> None:
    for email in ("editor@hanbit.go.kr", "approver@hanbit.go.kr"):
        async with console.client() as reader:
            csrf = await log_in(reader, email)
            page = await reader.get("/admin/directory")
            assert page.status_code == 200
            assert 'action="/admin/directory/guidance"' not in page.text
            assert "/admin/directory/import" not in page.text
            assert (await reader.get("/admin/directory/departments/HANBIT-0100")).status_code == 200
            assert (await export(reader)).startswith(b"\xef\xbb\xbf")
            for response in (
                await reader.post(
                    "/admin/directory/departments/HANBIT-0100", data={"csrf_token": csrf, "guidance": "바꿈"}
                ),
                await reader.post("/admin/directory/guidance", data={"csrf_token": csrf, "guidance": "바꿈"}),
                await reader.get("/admin/directory/import"),
                await upload(reader, csrf, hanbit_csv(*SEEDED).encode()),
            ):
                assert response.status_code == 403, email
                assert "기관 관리자만 바꿀 수 있습니다" in response.text
    async with console.sessions() as session:
        info = await directory_service.department_info(session, "HANBIT-0100")
        assert info is not None
        assert info.guidance == PASSPORT_GUIDANCE


async def test_another_agencys_directory_is_a_404(console: Console) -> None:
    async with console.client() as pureun:
        csrf = await log_in(pureun, "admin@pureun.go.kr")
        own = await pureun.get("/admin/directory")
        assert rows_of(own.text) == ["7000"]
        assert "민원여권과" not in own.text
        for response in (
            await pureun.get("/admin/directory?agency=HANBIT"),
            await pureun.get("/admin/directory?agency=NOSUCH"),
            await pureun.get("/admin/directory/departments/HANBIT-0100"),
            await pureun.get("/admin/directory/departments/NO-SUCH"),
            await pureun.get("/admin/directory/export.csv?agency=HANBIT"),
            await pureun.get("/admin/directory/import?agency=HANBIT"),
            await pureun.post(
                "/admin/directory/departments/HANBIT-0100", data={"csrf_token": csrf, "guidance": "남의 것"}
            ),
            await pureun.post(
                "/admin/directory/guidance",
                data={"csrf_token": csrf, "guidance": "남의 것", "agency": "HANBIT"},
            ),
            await upload(pureun, csrf, hanbit_csv(*SEEDED).encode(), agency="HANBIT"),
        ):
            assert response.status_code == 404, response.request.url
            assert "찾을 수 없습니다" in response.text
            assert "민원여권과" not in response.text
        # A HANBIT file uploaded for PUREUN is refused row by row, naming nothing of HANBIT's.
        refused = await upload(pureun, csrf, hanbit_csv(*SEEDED).encode())
        assert refused.status_code == 422
        assert "2번째 줄, 기관 코드(agency_code): 「HANBIT」는 이 기관의 코드가 아닙니다" in refused.text
        assert "부서 코드 「HANBIT-0001」은 다른 기관이 이미 쓰고 있습니다" in refused.text
    async with console.sessions() as session:
        info = await directory_service.department_info(session, "HANBIT-0100")
        assert info is not None
        assert info.guidance == PASSPORT_GUIDANCE


async def test_platform_admins_choose_the_agency(console: Console) -> None:
    async with console.client() as platform:
        csrf = await log_in(platform, "platform@lettering.kr")
        chooser = await platform.get("/admin/directory")
        assert chooser.status_code == 200
        assert '<option value="PUREUN">푸른군 (PUREUN)</option>' in chooser.text
        pureun = await platform.get("/admin/directory?agency=PUREUN")
        assert rows_of(pureun.text) == ["7000"]
        assert "플랫폼 관리자로 푸른군을 보고 있습니다" in pureun.text
        assert 'name="agency" value="PUREUN"' in pureun.text
        assert b"PUREUN,\xed\x91\xb8\xeb\xa5\xb8\xea\xb5\xb0" in await export(platform, "?agency=PUREUN")
        saved = await platform.post(
            "/admin/directory/guidance",
            data={"csrf_token": csrf, "agency": "PUREUN", "guidance": "푸른군청 안내 전화입니다"},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/directory?agency=PUREUN&saved=default"
        assert await console.guidance_of_next_call("PUREUN", "7000") == "푸른군청 안내 전화입니다"
        missing = await platform.post("/admin/directory/guidance", data={"csrf_token": csrf, "guidance": "x"})
        assert missing.status_code == 404
        for response in (
            await platform.get("/admin/directory/departments/NO-SUCH"),
            await platform.post(
                "/admin/directory/departments/NO-SUCH", data={"csrf_token": csrf, "guidance": "x"}
            ),
            await platform.get("/admin/directory/export.csv"),
        ):
            assert response.status_code == 404
            assert "찾을 수 없습니다" in response.text
        assert (await platform.get("/admin/directory/departments/PUREUN-0001")).status_code == 200


# -- guidance ------------------------------------------------------------------------------------------


async def test_a_department_guidance_reaches_the_next_call(console: Console) -> None:
    async with console.sessions() as session:
        before = (await read_versions(session)).get(directory_service.SNAPSHOT_NAME, 0)
    assert await console.guidance_of_next_call("HANBIT", "2114") == PASSPORT_GUIDANCE
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        saved = await admin.post(
            "/admin/directory/departments/HANBIT-0100",
            data={"csrf_token": csrf, "guidance": "  여권 수령 일정 안내 전화입니다  "},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/directory/departments/HANBIT-0100?saved=1"
        assert await console.guidance_of_next_call("HANBIT", "2114") == "여권 수령 일정 안내 전화입니다"
        page = await admin.get(saved.headers["location"])
        assert "안내 문구를 저장했습니다. 다음 통화부터 나갑니다" in page.text
        assert "통신사별 글자 수 경고" not in page.text  # short enough for every carrier
        async with console.sessions() as session:
            after = (await read_versions(session)).get(directory_service.SNAPSHOT_NAME, 0)
        assert after == before + 1

        # Long enough that SKT cuts it (28 characters after the verify code), not KT or LG U+.
        long = "여권 발급과 재발급, 분실 신고 관련 민원여권과 안내 전화입니다"
        assert 28 < len(long) <= 48
        await admin.post(
            "/admin/directory/departments/HANBIT-0100", data={"csrf_token": csrf, "guidance": long}
        )
        page = await admin.get("/admin/directory/departments/HANBIT-0100")
        assert "SKT: 안내 문구가 28자(확인코드 자리를 뺀 길이)를 넘어" in page.text
        assert "<li>KT:" not in page.text
        assert "<li>LG U+:" not in page.text
        assert await console.guidance_of_next_call("HANBIT", "2115") == long

        # Empty: the department uses the agency default again.
        cleared = await admin.post(
            "/admin/directory/departments/HANBIT-0100", data={"csrf_token": csrf, "guidance": " "}
        )
        assert cleared.status_code == 303
        assert await console.guidance_of_next_call("HANBIT", "2114") == "한빛특례시 공식 안내 전화입니다"
        page = await admin.get("/admin/directory/departments/HANBIT-0100")
        assert '<span class="chip chip-default">기관 기본</span>' in page.text


async def test_refused_phrases_say_why_and_change_nothing(console: Console) -> None:
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        for phrase, why in (
            ("가" * 61, "안내 문구가 61자입니다. 60자 이하로 줄여 주세요"),
            ("여권\n안내", "줄바꿈이나 보이지 않는 제어 문자가 있습니다 (U+000A)"),
            ("여권\u202e안내", "(U+202E)"),
            ("탭\t문자", "(U+0009)"),
        ):
            refused = await admin.post(
                "/admin/directory/departments/HANBIT-0100", data={"csrf_token": csrf, "guidance": phrase}
            )
            assert refused.status_code == 422, phrase
            assert why in refused.text
            assert 'id="problems"' in refused.text
        empty_default = await admin.post(
            "/admin/directory/guidance", data={"csrf_token": csrf, "guidance": ""}
        )
        assert empty_default.status_code == 422
        assert "기관 기본 안내 문구는 비워 둘 수 없습니다" in empty_default.text
    assert await console.guidance_of_next_call("HANBIT", "2114") == PASSPORT_GUIDANCE
    assert await console.guidance_of_next_call("HANBIT", "2000") == "한빛특례시 공식 안내 전화입니다"


async def test_the_agency_default_reaches_departments_without_their_own(console: Console) -> None:
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        saved = await admin.post(
            "/admin/directory/guidance",
            data={"csrf_token": csrf, "guidance": "한빛특례시청에서 드리는 전화입니다"},
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == "/admin/directory?saved=default"
        page = await admin.get(saved.headers["location"])
        assert "기관 기본 안내 문구를 저장했습니다" in page.text
    assert await console.guidance_of_next_call("HANBIT", "2000") == "한빛특례시청에서 드리는 전화입니다"
    assert await console.guidance_of_next_call("HANBIT", "2114") == PASSPORT_GUIDANCE  # its own stays


# -- CSV export ------------------------------------------------------------------------------------------


async def test_export_opens_in_excel_and_imports_back_as_a_no_op(console: Console) -> None:
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        response = await admin.get("/admin/directory/export.csv")
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="directory-HANBIT.csv"'
        data = response.content
        assert data.startswith(b"\xef\xbb\xbf")
        text = data.decode("utf-8-sig")
        assert text.count("\r\n") == 4
        assert "\n" not in text.replace("\r\n", "")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert tuple(rows[0]) == directory_service.COLUMNS
        assert sorted(r[6] for r in rows[1:]) == ["2000", "2114", "2115"]
        assert [
            "HANBIT",
            "한빛특례시",
            "HANBIT-0100",
            "민원여권과",
            "",
            "",
            "2114",
            "031-5180-2114",
            PASSPORT_GUIDANCE,
        ] in rows

        async with console.sessions() as session:
            version = (await read_versions(session)).get(directory_service.SNAPSHOT_NAME, 0)
        preview = await upload(admin, csrf, data)
        assert preview.status_code == 200
        assert "<strong>UTF-8 (BOM)</strong>으로 읽었습니다" in preview.text
        assert (
            "추가 <strong>0</strong>건, 변경 <strong>0</strong>건, 삭제 <strong>0</strong>건, 그대로 3건"
            in preview.text
        )
        assert "지금 조직도와 같습니다" in preview.text
        assert PENDING.search(preview.text) is None  # nothing to apply
        async with console.sessions() as session:
            applied = await directory_service.apply_import(
                session,
                console.ids["HANBIT"],
                data,
                await directory_service.directory_fingerprint(session, console.ids["HANBIT"]),
            )
            assert not applied.changed
            await session.commit()
            assert (await read_versions(session)).get(directory_service.SNAPSHOT_NAME, 0) == version
        assert await export(admin) == data


# -- CSV import ------------------------------------------------------------------------------------------


async def test_preview_then_apply_exactly_that_file(console: Console) -> None:
    changed = hanbit_csv(
        ("HANBIT-0100", "민원여권과", "2114", "031-5180-2114", PASSPORT_GUIDANCE),
        ("HANBIT-0100", "민원여권과", "2115", "031-5180-2199", PASSPORT_GUIDANCE),
        ("HANBIT-0100", "민원여권과", "2116", "031-5180-2116", PASSPORT_GUIDANCE),
    )
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        form = await admin.get("/admin/directory/import")
        assert form.status_code == 200
        assert 'enctype="multipart/form-data"' in form.text
        preview = await upload(admin, csrf, changed.encode())
        assert preview.status_code == 200, preview.text
        assert "<strong>UTF-8</strong>로 읽었습니다" in preview.text
        assert (
            "추가 <strong>1</strong>건, 변경 <strong>1</strong>건, 삭제 <strong>1</strong>건, 그대로 1건"
            in preview.text
        )
        assert "발신번호: 「031-5180-2115」 → 「031-5180-2199」" in preview.text
        assert "파일에 없는 내선 1개는 적용하면 조직도에서 지워집니다" in preview.text
        assert re.search(r"<td>2000</td><td>기획예산과</td><td>-</td>", preview.text)
        found = PENDING.search(preview.text)
        assert found is not None
        # Nothing is written by the preview.
        assert await console.guidance_of_next_call("HANBIT", "2000") == "한빛특례시 공식 안내 전화입니다"
        async with console.sessions() as session:
            entries = await directory_service.agency_entries(session, console.ids["HANBIT"])
            assert sorted(e.extension for e in entries) == ["2000", "2114", "2115"]

        # Another admin of the same agency cannot apply this person's upload.
        async with console.client() as other:
            other_csrf = await log_in(other, "admin2@hanbit.go.kr")
            theirs = await other.post(
                f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": other_csrf}
            )
            assert theirs.status_code == 404

        applied = await admin.post(
            f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf}
        )
        assert applied.status_code == 303, applied.text
        assert applied.headers["location"] == "/admin/directory?added=1&updated=1&removed=1"
        page = await admin.get(applied.headers["location"])
        assert "조직도를 적용했습니다: 추가 1건, 변경 1건, 삭제 1건" in page.text
        async with console.sessions() as session:
            entries = await directory_service.agency_entries(session, console.ids["HANBIT"])
        assert {e.extension: e.caller_number for e in entries} == {
            "2114": "031-5180-2114",
            "2115": "031-5180-2199",
            "2116": "031-5180-2116",
        }
        assert await console.guidance_of_next_call("HANBIT", "2116") == PASSPORT_GUIDANCE
        store: CallPathStore = lookup(console.app.state, SnapshotStore)
        assert store.current.directory.extension(console.ids["HANBIT"], "2000") is None

        again = await admin.post(f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf})
        assert again.status_code == 409
        assert "이미 적용했거나 1시간이 지나 만료되었습니다" in again.text


async def test_a_stale_preview_is_refused(console: Console) -> None:
    changed = hanbit_csv(*SEEDED[:2])  # 2115 removed
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        preview = await upload(admin, csrf, changed.encode())
        found = PENDING.search(preview.text)
        assert found is not None
        # Meanwhile the directory changes (here: a department's phrase).
        await admin.post(
            "/admin/directory/departments/HANBIT-0001",
            data={"csrf_token": csrf, "guidance": "예산 안내 전화입니다"},
        )
        stale = await admin.post(f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf})
        assert stale.status_code == 409
        assert "미리보기를 만든 뒤에 조직도가 바뀌었습니다. 적용하지 않았습니다" in stale.text
    async with console.sessions() as session:
        entries = await directory_service.agency_entries(session, console.ids["HANBIT"])
    assert sorted(e.extension for e in entries) == ["2000", "2114", "2115"]
    assert await console.guidance_of_next_call("HANBIT", "2000") == "예산 안내 전화입니다"


async def test_a_change_to_another_agency_does_not_make_a_preview_stale(console: Console) -> None:
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        preview = await upload(admin, csrf, hanbit_csv(*SEEDED[:2]).encode())
        found = PENDING.search(preview.text)
        assert found is not None
        async with session_scope(console.sessions) as session:
            await directory_service.set_agency_default_guidance(
                session, console.ids["PUREUN"], "푸른군 전화입니다"
            )
        applied = await admin.post(
            f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf}
        )
        assert applied.status_code == 303
        assert applied.headers["location"] == "/admin/directory?added=0&updated=0&removed=1"


async def test_cp949_files_as_excel_saves_them(console: Console) -> None:
    changed = hanbit_csv(
        ("HANBIT-0001", "기획예산과", "2000", "031-5180-2000", "예산 관련 안내 전화입니다"), *SEEDED[1:]
    )
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        preview = await upload(admin, csrf, changed.encode("cp949"))
        assert preview.status_code == 200
        assert "<strong>CP949 (EUC-KR)</strong>로 읽었습니다" in preview.text
        assert "안내 문구: 「」 → 「예산 관련 안내 전화입니다」" in preview.text
        found = PENDING.search(preview.text)
        assert found is not None
        applied = await admin.post(
            f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf}
        )
        assert applied.headers["location"] == "/admin/directory?added=0&updated=1&removed=0"
    assert await console.guidance_of_next_call("HANBIT", "2000") == "예산 관련 안내 전화입니다"

    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        garbage = await upload(admin, csrf, hanbit_csv(*SEEDED).encode() + b"\xff\xfe\xff\r\n")
        assert garbage.status_code == 422
        assert "5번째 줄, 파일: UTF-8도 CP949(EUC-KR)도 아닌 바이트(0xff)가 있습니다" in garbage.text
        assert PENDING.search(garbage.text) is None


async def test_refusals_name_the_line_and_the_column(console: Console) -> None:
    bad = "\r\n".join(
        [
            HEADER,
            "HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2114,031-5180-2114,",
            "HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2115,010-1234-5678,",
            "HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,21a6,031-5180-2116,",
            "HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2114,031-5180-2117,",
            "HANBIT,한빛특례시,HANBIT-0100,민원여권과,,2118,031-5180-2118,",
        ]
    )
    async with console.client() as admin:
        csrf = await log_in(admin, "admin@hanbit.go.kr")
        refused = await upload(admin, csrf, bad.encode())
        assert refused.status_code == 422
        assert "이 파일은 적용할 수 없습니다. 아래 4곳을 고쳐 다시 올려 주세요" in refused.text
        for expected in (
            "3번째 줄, 발신번호(caller_number): 「010-1234-5678」은 기관의 사무실 번호가 아닙니다",
            "4번째 줄, 내선(extension): 「21a6」은 2~8자리 숫자가 아닙니다",
            "5번째 줄, 내선(extension): 내선 2114가 2번째 줄에도 있습니다",
            "6번째 줄, 행: 칸이 8개입니다. 9개여야 합니다",
        ):
            assert expected in refused.text
        assert PENDING.search(refused.text) is None
        header = await upload(admin, csrf, b"extension,caller_number\r\n2114,031-5180-2114\r\n")
        assert header.status_code == 422
        assert "1번째 줄, 머리글: 없는 열: agency_code" in header.text
        empty = await admin.post("/admin/directory/import", data={"csrf_token": csrf})
        assert empty.status_code == 422
        assert "CSV 파일을 골라 주세요" in empty.text
        unknown = await admin.post(f"/admin/directory/import/{'x' * 32}/apply", data={"csrf_token": csrf})
        assert unknown.status_code == 409
        malformed = await admin.post(f"/admin/directory/import/{'x' * 31}!/apply", data={"csrf_token": csrf})
        assert malformed.status_code == 404
    assert await console.guidance_of_next_call("HANBIT", "2114") == PASSPORT_GUIDANCE


async def test_a_platform_admin_imports_for_the_agency_chosen(console: Console) -> None:
    pureun = (
        "\ufeff" + HEADER + "\r\n"
        "PUREUN,푸른군,PUREUN-0001,민원과,,,7000,061-530-7000,\r\n"
        "PUREUN,푸른군,PUREUN-0001,민원과,,민원1팀,7001,061-530-7001,\r\n"
    )
    async with console.client() as platform:
        csrf = await log_in(platform, "platform@lettering.kr")
        form = await platform.get("/admin/directory/import?agency=PUREUN")
        assert 'name="agency" value="PUREUN"' in form.text
        no_agency = await upload(platform, csrf, pureun.encode())
        assert no_agency.status_code == 404
        preview = await upload(platform, csrf, pureun.encode(), agency="PUREUN")
        assert preview.status_code == 200
        assert "<strong>UTF-8 (BOM)</strong>으로 읽었습니다" in preview.text
        found = PENDING.search(preview.text)
        assert found is not None
        elsewhere = await platform.post(
            f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf, "agency": "HANBIT"}
        )
        assert elsewhere.status_code == 404  # the upload was for PUREUN
        applied = await platform.post(
            f"/admin/directory/import/{found.group(1)}/apply", data={"csrf_token": csrf, "agency": "PUREUN"}
        )
        assert applied.status_code == 303
        assert applied.headers["location"] == "/admin/directory?agency=PUREUN&added=1&updated=0&removed=0"
    assert await console.guidance_of_next_call("PUREUN", "7001") == "푸른군 공식 안내 전화입니다"


async def test_the_real_directory_exports_and_imports_back_unchanged(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """data/directory.csv (2 agencies, 4,286 extensions): each agency's export previews as no change."""
    parsed = directory_service.parse_directory(REAL_DIRECTORY)
    assert isinstance(parsed, directory_service.ParsedDirectory)
    await directory_service.import_directory(sessions, parsed)
    total = 0
    async with sessions() as session:
        for agency in parsed.agencies:
            agency_id = await directory_service.agency_id_for_code(session, agency.code)
            assert agency_id is not None
            _, data = await directory_service.export_directory(session, agency_id)
            preview = await directory_service.preview_import(session, agency_id, data)
            assert preview.refusals == ()
            assert not preview.changed
            assert preview.unchanged == preview.rows
            total += preview.rows
    assert total == len(parsed.extensions)
