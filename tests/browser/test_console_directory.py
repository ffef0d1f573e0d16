"""The console's 조직·내선 pages in real headless Chromium, on an isolated network: an agency admin
searches the directory, edits a department's guidance (and sees which carrier will cut it), then
uploads a CSV, reads its preview and applies it. Every page is photographed at 1366x768 and
820x1180 under var/screenshots/admin/; no request leaves the service and the browser reports no
CSP violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser

from lettering.core.db import session_scope
from lettering.directory import service as directory_service
from lettering.users import service as user_service
from tests.browser.test_console import PASSWORD, SHOTS, VIEWPORTS, Watched, log_in, shoot
from tests.factories import PASSPORT_GUIDANCE
from tests.integration.callpath.conftest import Service

LONG_GUIDANCE = "여권 발급과 재발급, 분실 신고 관련 민원여권과 안내 전화입니다"
HEADER = ",".join(directory_service.COLUMNS)
# 2114 kept, 2115's number changed, 2116 added, 2000 (기획예산과) not in the file: removed.
UPLOAD = "\r\n".join(
    [
        HEADER,
        f'HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2114,031-5180-2114,"{LONG_GUIDANCE}"',
        f'HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2115,031-5180-2199,"{LONG_GUIDANCE}"',
        f'HANBIT,한빛특례시,HANBIT-0100,민원여권과,,,2116,031-5180-2116,"{LONG_GUIDANCE}"',
        "",
    ]
)


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    """Uploads awaiting 적용 are kept next to the media: a folder of this test's own."""
    return {"media_dir": str(tmp_path / "media")}


async def extensions(service: Service, agency_id: int) -> dict[str, str]:
    async with session_scope(service.sessions) as session:
        entries = await directory_service.agency_entries(session, agency_id)
        return {e.extension: e.caller_number for e in entries}


@pytest.mark.integration
async def test_search_edit_guidance_and_import_a_csv(service: Service, browser: Browser) -> None:
    async with session_scope(service.sessions) as session:
        await user_service.create_user(session, "admin@hanbit.go.kr", "박관리", PASSWORD, "admin", "HANBIT")
        hanbit = await directory_service.agency_id_for_code(session, "HANBIT")
    assert hanbit is not None
    own, base = urlsplit(service.url).netloc, service.url

    admin = Watched(await browser.new_context(locale="ko-KR"), own)
    await admin.context.route("**/*", admin.only_the_service)
    page = await admin.page()
    await log_in(page, base, "admin@hanbit.go.kr")

    # Search.
    await page.get_by_role("link", name="조직·내선", exact=True).click()
    await page.wait_for_url(f"{base}/admin/directory")
    assert "전체 내선 3건" in await page.locator("caption").inner_text()
    await shoot(page, "directory")
    await page.get_by_label("검색").fill("031-5180-2114")
    await page.get_by_role("button", name="찾기").click()
    await page.get_by_text("「031-5180-2114」 검색 결과 1건").wait_for()
    row = page.locator("tbody tr")
    assert await row.count() == 1
    assert "민원여권과" in await row.inner_text()
    assert "부서 문구" in await row.inner_text()
    await shoot(page, "directory-search")

    # A department's guidance: long enough that SKT cuts it, and the page says so.
    await page.get_by_role("link", name="민원여권과").click()
    await page.wait_for_url(f"{base}/admin/directory/departments/HANBIT-0100")
    assert await page.get_by_label("안내 문구 (60자 이하)").input_value() == PASSPORT_GUIDANCE
    await shoot(page, "directory-department")
    await page.get_by_label("안내 문구 (60자 이하)").fill(LONG_GUIDANCE)
    await page.get_by_role("button", name="저장").click()
    await page.get_by_text("안내 문구를 저장했습니다. 다음 통화부터 나갑니다").wait_for()
    warnings = await page.get_by_role("list", name="통신사별 글자 수 경고").inner_text()
    assert "SKT: 안내 문구가 28자(확인코드 자리를 뺀 길이)를 넘어" in warnings
    assert LONG_GUIDANCE in await page.locator("#in-force").inner_text()
    await shoot(page, "directory-department-saved")
    async with session_scope(service.sessions) as session:
        info = await directory_service.department_info(session, "HANBIT-0100")
    assert info is not None
    assert info.guidance == LONG_GUIDANCE

    # A CSV: uploaded, previewed (nothing written yet), then applied.
    await page.get_by_role("link", name="조직·내선 목록으로").click()
    await page.get_by_role("link", name="CSV 올리기 (미리보기 후 적용)").click()
    await page.wait_for_url(f"{base}/admin/directory/import")
    await shoot(page, "directory-import")
    await page.get_by_label("CSV 파일 (10MB 이하)").set_input_files(
        files=[{"name": "조직도.csv", "mimeType": "text/csv", "buffer": UPLOAD.encode("cp949")}]
    )
    await page.get_by_role("button", name="미리보기").click()
    await page.locator("#summary").wait_for()
    assert "CP949 (EUC-KR)로 읽었습니다" in await page.locator("#encoding").inner_text()
    summary = await page.locator("#summary").inner_text()
    assert summary == "추가 1건, 변경 1건, 삭제 1건, 그대로 1건"
    assert "031-5180-2199" in await page.locator("#updated").inner_text()
    assert "기획예산과" in await page.locator("#removed").inner_text()
    assert "2000" in await extensions(service, hanbit)  # the preview wrote nothing
    await shoot(page, "directory-import-preview")
    await page.get_by_role("button", name="적용").click()
    await page.get_by_text("조직도를 적용했습니다: 추가 1건, 변경 1건, 삭제 1건").wait_for()
    assert await extensions(service, hanbit) == {
        "2114": "031-5180-2114",
        "2115": "031-5180-2199",
        "2116": "031-5180-2116",
    }
    await shoot(page, "directory-applied")

    assert admin.outside == []
    assert admin.refused == []
    await admin.context.close()
    for name in (
        "directory",
        "directory-search",
        "directory-department",
        "directory-department-saved",
        "directory-import",
        "directory-import-preview",
        "directory-applied",
    ):
        for label in VIEWPORTS:
            assert (SHOTS / f"{name}-{label}.png").stat().st_size > 0
