"""`lettering serve` and `lettering worker`: the service and the AlimTalk outbox relay.

Plain functions: the package's root app registers them as its own commands.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from typing import Annotated

import typer
import uvicorn

from kakao_fallback.client import build_client
from kakao_fallback.relay import Relay
from lettering.cli.runtime import configure_logging, serve_log_config, settings_or_exit
from lettering.core.db import make_engine, make_sessionmaker
from lettering.core.phone import make_vault
from lettering.core.serving import http_protocol
from lettering.core.settings import get_settings
from lettering.observability.metrics import prepare_multiprocess_dir
from lettering.optout import service as optout_service


def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the service with uvicorn."""
    if "LETTERING_PUBLIC_BASE_URL" not in os.environ:
        # The in-process simulators and LG U+ callbacks are reached at the address actually served.
        reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["LETTERING_PUBLIC_BASE_URL"] = f"http://{reachable}:{port}"
        get_settings.cache_clear()
    settings = settings_or_exit()
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.secho("several workers on SQLite: writes will queue; use PostgreSQL in production", fg="yellow")
    configure_logging(settings)
    made = _metrics_dir() if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR") else None
    try:
        uvicorn.run(
            "lettering.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=serve_log_config(settings),
            http=http_protocol(),
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _metrics_dir() -> str | None:
    """Several workers share their metrics through files in PROMETHEUS_MULTIPROC_DIR, which each
    worker reads when it starts (spawned, it inherits this environment). A folder given there is
    emptied of an earlier run's values; else a fresh one is made, and removed (returned) on exit."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        prepare_multiprocess_dir(given)
        return None
    made = tempfile.mkdtemp(prefix="lettering-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def worker() -> None:
    """The AlimTalk outbox relay as its own process (set LETTERING_KAKAO__RELAY_IN_PROCESS=false)."""
    settings = settings_or_exit()
    configure_logging(settings)

    async def run() -> None:
        engine = make_engine(settings.database_url)
        client = build_client(settings)
        try:
            await Relay(
                make_sessionmaker(engine),
                client,
                settings,
                make_vault(settings),
                hooks=optout_service.relay_hooks(),
            ).run()
        finally:
            await client.aclose()
            await engine.dispose()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo("worker stopped")
