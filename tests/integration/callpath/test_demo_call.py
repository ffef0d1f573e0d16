"""`lettering demo call --url …` against a running service prints what the phone displayed."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from lettering.cli import app
from lettering.core.settings import get_settings
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def test_demo_call_prints_what_the_phone_displayed(
    service: Service, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETTERING_ENV", "dev")
    monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
    monkeypatch.setenv("LETTERING_PHONE_HASH_KEY", service.settings.phone_hash_key.get_secret_value())
    monkeypatch.setenv("LETTERING_PHONE_ENC_KEY", service.settings.phone_enc_key.get_secret_value())
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["demo", "call", "--url", service.url, "--pbx", "hanbit-main", "--callee", "010-0123-4560"],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    pushes = await service.pushes()
    assert pushes, result.output
    last = pushes[-1]
    assert f"phone via {last['carrier']}" in result.output
    for value in last["display"].values():
        assert f": {value}" in result.output
