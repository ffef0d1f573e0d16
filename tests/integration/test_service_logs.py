"""What `lettering serve` writes to its log, in a real process: uvicorn's access lines and the
service's own in one timestamped format (or JSON lines), and no link token, card-news token or
call-check code in clear text, though citizens' browsers put them in the address."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from lettering.core import migrate
from tests.processes import child_env, free_port, start_cli, stop_group, wait_until

pytestmark = pytest.mark.integration

TOKEN = "eyJhZ2VuY3kiOjF9.ZkQ3mW.secret-part_123"
SECRETS = (TOKEN, "CardTok3n.sig", "QW12ER")


async def _serve_and_visit(tmp_path: Path, log_format: str) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}"
    migrate.upgrade_head(url)
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_cli(
        ["serve", "--port", str(port)],
        env=child_env(
            {
                "LETTERING_ENV": "dev",
                "LETTERING_DATABASE_URL": url,
                "LETTERING_MEDIA_DIR": str(tmp_path / "media"),
                "LETTERING_LOG_FORMAT": log_format,
            }
        ),
        log=log,
        cwd=tmp_path,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/livez")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await wait_until(up, timeout_s=60), log.read_text()
            await client.get(f"/o/{TOKEN}")
            await client.get("/c/spring?t=CardTok3n.sig")
            await client.get("/verify?code=QW12ER")
    finally:
        stop_group(process)
    return log.read_text(encoding="utf-8")


async def test_text_lines_are_timestamped_and_redacted(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("what the log says does not depend on the database")
    text = await _serve_and_visit(tmp_path, "text")
    for secret in SECRETS:
        assert secret not in text
    access = [line for line in text.splitlines() if "uvicorn.access" in line]
    assert any('"GET /o/[redacted] HTTP/1.1"' in line for line in access), text
    assert any('"GET /verify?code=[redacted] HTTP/1.1"' in line for line in access), text
    # Every line of the service and of uvicorn starts with its date and time.
    for line in [*access, *(line for line in text.splitlines() if "uvicorn.error" in line)]:
        assert line[:4].isdigit(), line
        assert line[10] == " ", line


async def test_json_lines(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("what the log says does not depend on the database")
    text = await _serve_and_visit(tmp_path, "json")
    for secret in SECRETS:
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/c/spring?t=[redacted]" in r["message"] for r in access), text
    assert {"time", "level", "logger", "message"} <= set(access[0])
