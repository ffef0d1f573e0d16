"""`lettering db ...`: the database schema (alembic) and backups."""

from __future__ import annotations

from pathlib import Path

import typer

from lettering.cli.runtime import _safe_url, fail, settings_or_exit
from lettering.core.backup import BackupRefused, backup_sqlite, postgresql_commands
from lettering.core.db import is_sqlite
from lettering.core.migrate import upgrade_head

db_app = typer.Typer(help="The database schema (alembic) and backups.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head) to LETTERING_DATABASE_URL."""
    settings = settings_or_exit()
    upgrade_head(settings.database_url)
    typer.echo(f"database is at the latest schema ({_safe_url(settings.database_url)})")


@db_app.command("backup")
def db_backup(
    file: Path = typer.Argument(..., help="The backup file to write (it must not exist yet)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace FILE if it exists."),
) -> None:
    """Back up LETTERING_DATABASE_URL to FILE while the service runs.

    SQLite: an online copy (SQLite's backup API), safe while the service writes. PostgreSQL:
    prints the pg_dump and pg_restore commands for the configured database and exits 1.
    """
    settings = settings_or_exit()
    url = settings.database_url
    if not is_sqlite(url):
        dump, restore = postgresql_commands(url, file)
        typer.echo(
            "On PostgreSQL the backup tools are pg_dump and pg_restore (a consistent snapshot while\n"
            "the service writes). Give the password by PGPASSWORD or ~/.pgpass.\n"
            f"  back up:  {dump}\n"
            f"  restore:  {restore}\n"
            "Restore into a database created for it, then point LETTERING_DATABASE_URL at it.",
            err=True,
        )
        raise typer.Exit(1)
    try:
        result = backup_sqlite(url, file, overwrite=overwrite)
    except BackupRefused as exc:
        raise fail(f"backup refused: {exc}") from None
    revision = result.revision or "no alembic revision"
    typer.echo(f"backup written: {result.path} ({result.size_bytes} bytes, schema {revision})")
