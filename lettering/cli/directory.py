"""`lettering directory ...`: import the directory, show or change an agency's switches."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from lettering.cli.runtime import fail, import_directory_file, settings_or_exit, with_session
from lettering.directory import service as directory_service

directory_app = typer.Typer(
    help="The directory of agencies, departments and extensions.", no_args_is_help=True
)


@directory_app.command("import")
def directory_import(
    file: Annotated[Path, typer.Argument(help="CSV with the columns of data/directory.csv (UTF-8).")],
    prune: Annotated[
        bool, typer.Option(help="Delete extensions of the file's agencies that the file no longer lists.")
    ] = False,
) -> None:
    """Validate every row, then upsert agencies, departments and extensions (all or nothing)."""
    settings = settings_or_exit()
    summary = import_directory_file(settings, file, prune=prune)
    for line in summary.lines():
        typer.echo(line)


@directory_app.command("agency")
def directory_agency(
    code: Annotated[str, typer.Argument(help="Agency code, e.g. HANBIT.")],
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Letter its calls at all.")
    ] = None,
    fallback_unsupported: Annotated[
        bool | None,
        typer.Option("--fallback-unsupported/--no-fallback-unsupported", help="AlimTalk for iPhones."),
    ] = None,
    fallback_no_subscriber: Annotated[
        bool | None,
        typer.Option(
            "--fallback-no-subscriber/--no-fallback-no-subscriber", help="AlimTalk when no carrier has it."
        ),
    ] = None,
    fallback_carrier_failure: Annotated[
        bool | None,
        typer.Option(
            "--fallback-carrier-failure/--no-fallback-carrier-failure", help="AlimTalk when carriers fail."
        ),
    ] = None,
    fallback_shed: Annotated[
        bool | None,
        typer.Option(
            "--fallback-shed/--no-fallback-shed",
            help="AlimTalk for calls shed when the service is overloaded (off by default).",
        ),
    ] = None,
    default_guidance: Annotated[
        str | None, typer.Option(help="Guidance for departments without their own.")
    ] = None,
) -> None:
    """Show or change an agency's switches: enabled, fallback policy, default guidance."""
    settings = settings_or_exit()
    changes = {
        name: value
        for name, value in {
            "enabled": enabled,
            "fallback_unsupported": fallback_unsupported,
            "fallback_no_subscriber": fallback_no_subscriber,
            "fallback_carrier_failure": fallback_carrier_failure,
            "fallback_shed": fallback_shed,
            "default_guidance": default_guidance,
        }.items()
        if value is not None
    }
    if default_guidance is not None and not 0 < len(default_guidance) <= 60:
        raise fail("--default-guidance must be 1-60 characters")
    values = asyncio.run(
        with_session(settings, lambda s: directory_service.set_agency_policy(s, code, **changes))
    )
    if values is None:
        raise fail(f"no agency {code!r} in the directory")
    for name, value in values.items():
        typer.echo(f"{name}: {value}")
