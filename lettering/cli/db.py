"""`lettering db ...`: the database schema (alembic)."""

from __future__ import annotations

import typer

from lettering.cli.runtime import _safe_url, settings_or_exit
from lettering.core.migrate import upgrade_head

db_app = typer.Typer(help="The database schema (alembic).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head) to LETTERING_DATABASE_URL."""
    settings = settings_or_exit()
    upgrade_head(settings.database_url)
    typer.echo(f"database is at the latest schema ({_safe_url(settings.database_url)})")
