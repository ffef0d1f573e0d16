"""`lettering dashboard ...`: the dashboard's rollup, for operators (a backfill by hand)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

import typer

from lettering.calls import rollup
from lettering.cli.runtime import fail, settings_or_exit
from lettering.core.db import make_engine, make_sessionmaker, utcnow

dashboard_app = typer.Typer(help="The dashboard's rollup.", no_args_is_help=True)


@dashboard_app.command("rollup")
def dashboard_rollup(
    since: Annotated[
        str | None, typer.Option(help="First Seoul day to rebuild (YYYY-MM-DD); default: the first call's.")
    ] = None,
) -> None:
    """Rebuild the rollup of every day from SINCE to today (what the calls.rollup job's first run
    does), one transaction per day; safe while the service runs."""
    settings = settings_or_exit()
    try:
        first = date.fromisoformat(since) if since else None
    except ValueError:
        raise fail(f"--since {since!r}: not a day (YYYY-MM-DD)") from None

    async def run() -> rollup.RollupReport:
        engine = make_engine(settings.database_url)
        try:
            return await rollup.backfill(make_sessionmaker(engine), utcnow(), first)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    typer.echo(f"rebuilt {len(report.days)} days" + (f" from {report.days[0]}" if report.days else ""))
