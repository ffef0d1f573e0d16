"""Every start in dev says, as a WARNING, that it runs on development keys and simulators."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lettering.app import create_app
from lettering.core import settings as settings_module
from lettering.core.settings import Settings

pytestmark = pytest.mark.integration


async def start_and_stop(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass


async def test_a_dev_start_logs_one_warning_saying_so(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the start's log does not depend on the database")
    monkeypatch.setattr(settings_module, "_announced", False)  # as in a fresh process
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="dev",
        database_url=database_url,
        media_dir=str(tmp_path / "media"),
        scheduler_enabled=False,
    )
    with caplog.at_level(logging.WARNING):
        await start_and_stop(settings)
        await start_and_stop(settings)
    said = [
        r for r in caplog.records if r.levelno == logging.WARNING and "LETTERING_ENV=dev" in r.getMessage()
    ]
    assert len(said) == 1, caplog.text  # once per process
    assert "development keys" in said[0].getMessage()
    assert "simulators" in said[0].getMessage()
