"""The `lettering` command: database, directory, PBXs, serving, simulators, demo.

One module per command group; their shared helpers are in `lettering.cli.runtime`. This module
builds the root app (the console entry point `lettering.cli:app`) and registers them all.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from lettering.cli.dashboard import dashboard_app
from lettering.cli.db import db_app
from lettering.cli.demo import REPO_DIRECTORY_CSV, demo_app, follow_alimtalk
from lettering.cli.directory import directory_app
from lettering.cli.keys import keys_app
from lettering.cli.outbox import outbox_app
from lettering.cli.pbx import pbx_app
from lettering.cli.runtime import (
    LOG_FORMAT,
    configure_logging,
    fail,
    import_directory_file,
    serve_log_config,
    settings_or_exit,
    with_session,
)
from lettering.cli.serve import serve, worker
from lettering.cli.simulate import simulate_app
from lettering.cli.users import users_app

__all__ = [
    "LOG_FORMAT",
    "REPO_DIRECTORY_CSV",
    "app",
    "configure_logging",
    "fail",
    "follow_alimtalk",
    "import_directory_file",
    "main",
    "serve",
    "serve_log_config",
    "settings_or_exit",
    "with_session",
    "worker",
]

app = typer.Typer(help="Smart lettering service for Korean local governments.", no_args_is_help=True)


def package_version() -> str:
    """The installed `lettering` distribution's version (pyproject.toml), or why it is unknown."""
    try:
        return version("lettering")
    except PackageNotFoundError:
        return "unknown (the package is not installed: pip install -e .)"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"lettering {package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Smart lettering service for Korean local governments."""


app.add_typer(db_app, name="db")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(directory_app, name="directory")
app.add_typer(pbx_app, name="pbx")
app.add_typer(simulate_app, name="simulate")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(outbox_app, name="outbox")
app.add_typer(users_app, name="user")
app.command()(serve)
app.command()(worker)


def main() -> None:  # pragma: no cover - console entry
    app()
