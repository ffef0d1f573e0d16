"""Real headless Chromium (Debian's `chromium`, driven by Playwright) against the running service.

Playwright's own browser download is not used (it fails here): `executable_path` points at the
system Chromium. Without it the browser tests are skipped, except on CI, where they must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--lang=ko-KR",  # the browser's own words (file pickers, date fields) as a Korean PC shows them
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; on CI the browser tests are required", pytrace=False)
    pytest.skip(reason)


# Chromium on Linux takes its own language (date fields: 2026. 01. 01., not 01/01/2026) from the
# environment, and needs Debian's chromium-l10n for it; `--lang` alone is not enough.
KOREAN_PC = {**os.environ, "LANGUAGE": "ko", "LANG": "ko_KR.UTF-8"}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, env=KOREAN_PC)
        try:
            yield browser
        finally:
            await browser.close()


# The whole service on a real socket (SQLite is enough for what a browser sees).
from pathlib import Path  # noqa: E402

from lettering.core import migrate  # noqa: E402
from tests.integration.callpath.conftest import service, service_overrides  # noqa: E402,F401
from tests.integration.conftest import engine, sessions  # noqa: E402,F401


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    migrate.upgrade_head(url)
    return url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chromium tests wait on a real browser's timing: they run in `make test`'s serial part."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.serial)
