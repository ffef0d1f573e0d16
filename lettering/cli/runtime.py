"""What every `lettering` command group shares: failing with exit 1, the settings, one committed
transaction, the service's logging, printable database URLs and the directory import."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core import logs
from lettering.core.db import make_engine, make_sessionmaker, session_scope
from lettering.core.errors import AppError
from lettering.core.settings import Settings, announce_environment, describe_refusal, get_settings
from lettering.directory import service as directory_service

T = TypeVar("T")

LOG_FORMAT = logs.TEXT_FORMAT


def fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def configure_logging(settings: Settings) -> None:
    """The service's logging in this process (lettering/core/logs.py): one redacted format for
    lettering, uvicorn and the libraries; httpx's and the scheduler's INFO lines off."""
    logs.configure_logging(settings.log_level, settings.log_format)
    announce_environment(settings)


def serve_log_config(settings: Settings) -> dict[str, Any]:
    """The same as a dictConfig for uvicorn, which applies it in every worker process: with
    `--workers N` the workers are spawned afresh and would otherwise keep none of it."""
    return logs.log_config(settings.log_level, settings.log_format)


def settings_or_exit() -> Settings:
    """The settings, or exit 1 printing what is wrong with them (one list, no traceback, no values)."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise fail(describe_refusal(exc)) from None
    except ValueError as exc:
        raise fail(f"settings refused: {exc}") from None


async def with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work(session)` in one committed transaction on the configured database."""
    engine = make_engine(settings.database_url)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def import_directory_file(
    settings: Settings, file: Path, *, prune: bool = False
) -> directory_service.ImportSummary:
    """Parse, report bad rows (exit 1, nothing changed), else import with a progress bar."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    read = directory_service.read_directory_file(file)
    parsed = read.result
    if read.encoding and read.encoding != "UTF-8":
        typer.echo(f"{file}: read as {read.encoding}", err=True)
    if isinstance(parsed, list):
        for error in parsed:
            typer.secho(f"{file}: {error}", fg=typer.colors.RED, err=True)
        raise fail(f"{len(parsed)} bad row(s); nothing was imported")

    async def run() -> directory_service.ImportSummary:
        engine = make_engine(settings.database_url)
        try:
            with typer.progressbar(length=len(parsed.extensions), label="extensions", file=sys.stderr) as bar:
                done = 0

                def progress(n: int) -> None:
                    nonlocal done
                    bar.update(n - done)
                    done = n

                return await directory_service.import_directory(
                    make_sessionmaker(engine), parsed, progress, prune=prune
                )
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        raise fail(f"import refused, nothing changed: {exc.detail}") from None
