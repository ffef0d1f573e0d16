"""`lettering pbx ...`: the PBXs allowed to post call events."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.cli.runtime import fail, settings_or_exit, with_session
from lettering.cli.table import echo_table, seoul
from lettering.core.errors import AppError
from lettering.core.phone import make_vault
from lettering.webhook.admin import (
    DEFAULT_GRACE_HOURS,
    add_pbx,
    list_pbx,
    remove_pbx,
    rotate_pbx,
    set_pbx_enabled,
)

pbx_app = typer.Typer(help="PBXs allowed to post call events.", no_args_is_help=True)


@pbx_app.command("add")
def pbx_add(
    pbx_id: Annotated[str, typer.Option("--id", help="The PBX id it sends as pbx_id.")],
    agency: Annotated[str, typer.Option(help="Agency code from the directory, e.g. HANBIT.")],
    secret: Annotated[str | None, typer.Option(help="whsec_... secret; generated when omitted.")] = None,
    auth: Annotated[str, typer.Option(help="signed (Standard Webhooks) or token.")] = "signed",
    token: Annotated[
        str | None, typer.Option(help="Bearer token (token auth); generated when omitted.")
    ] = None,
    allow_net: Annotated[list[str] | None, typer.Option(help="Allowed source network (token auth).")] = None,
    hold_ms: Annotated[int, typer.Option(help="How long the PBX waits for the setup answer.")] = 500,
) -> None:
    """Register a PBX; prints the secret or token it generated (shown only now)."""
    settings = settings_or_exit()
    vault = make_vault(settings)

    async def work(session: AsyncSession) -> Any:
        return await add_pbx(
            session,
            vault,
            pbx_id=pbx_id,
            agency_code=agency,
            auth_mode=auth,
            secret=secret,
            token=token,
            allow_nets=allow_net or [],
            hold_ms=hold_ms,
        )

    try:
        created = asyncio.run(with_session(settings, work))
    except AppError as exc:
        raise fail(exc.detail) from None
    typer.echo(f"PBX {created.id} registered for {created.agency_code} ({created.auth_mode})")
    if created.secret:
        typer.echo(f"secret (store it in the PBX; it is not shown again): {created.secret}")
    if created.token:
        typer.echo(f"token (store it in the PBX; it is not shown again): {created.token}")


@pbx_app.command("rotate")
def pbx_rotate(
    pbx_id: Annotated[str, typer.Argument(metavar="ID", help="The PBX id.")],
    grace_hours: Annotated[
        float,
        typer.Option(help="How long the old secret or token keeps verifying (0-168 h; 0 stops it now)."),
    ] = DEFAULT_GRACE_HOURS,
    secret: Annotated[str | None, typer.Option(help="New whsec_... secret; generated when omitted.")] = None,
    token: Annotated[
        str | None, typer.Option(help="New bearer token (token auth); generated when omitted.")
    ] = None,
) -> None:
    """Give a PBX a new secret (or token); the old one keeps verifying during the grace, so the PBX
    can switch without refused calls. Prints the new one (shown only now)."""
    settings = settings_or_exit()
    vault = make_vault(settings)

    async def work(session: AsyncSession) -> Any:
        return await rotate_pbx(session, vault, pbx_id, grace_hours=grace_hours, secret=secret, token=token)

    try:
        rotated = asyncio.run(with_session(settings, work))
    except AppError as exc:
        raise fail(exc.detail) from None
    what = "secret" if rotated.auth_mode == "signed" else "token"
    if rotated.previous_until is not None:
        typer.echo(
            f"PBX {rotated.id}: new {what}; the old one verifies until {seoul(rotated.previous_until)}"
        )
    else:
        typer.echo(f"PBX {rotated.id}: new {what}; the old one no longer verifies")
    if rotated.secret:
        typer.echo(f"secret (store it in the PBX; it is not shown again): {rotated.secret}")
    if rotated.token:
        typer.echo(f"token (store it in the PBX; it is not shown again): {rotated.token}")


@pbx_app.command("list")
def pbx_list() -> None:
    """The registered PBXs (never their secrets); times in Asia/Seoul."""
    settings = settings_or_exit()
    rows = asyncio.run(with_session(settings, list_pbx))
    if not rows:
        typer.echo("no PBX registered (add one with `lettering pbx add`)")
        return
    echo_table(
        ("ID", "AGENCY", "AUTH", "HOLD", "STATE", "REGISTERED", "NETWORKS", "GRACE"),
        [
            (
                row.id,
                row.agency_code,
                row.auth_mode,
                f"{row.hold_ms} ms",
                "enabled" if row.enabled else "disabled",
                seoul(row.created_at),
                ", ".join(row.allowed_nets) or "-",
                seoul(row.previous_until) if row.previous_until else "-",
            )
            for row in rows
        ],
    )


def _switch(pbx_id: str, enabled: bool) -> None:
    settings = settings_or_exit()
    try:
        asyncio.run(with_session(settings, lambda s: set_pbx_enabled(s, pbx_id, enabled)))
    except AppError as exc:
        raise fail(exc.detail) from None


@pbx_app.command("disable")
def pbx_disable(pbx_id: Annotated[str, typer.Argument(metavar="ID", help="The PBX id.")]) -> None:
    """Refuse the PBX's events (403, saying it is disabled) until it is enabled again.

    Running services pick the change up within their snapshot refresh; nothing is deleted."""
    _switch(pbx_id, False)
    typer.echo(
        f"PBX {pbx_id} disabled: its events are refused with 403 (`lettering pbx enable {pbx_id}` undoes it)"
    )


@pbx_app.command("enable")
def pbx_enable(pbx_id: Annotated[str, typer.Argument(metavar="ID", help="The PBX id.")]) -> None:
    """Accept the PBX's events again."""
    _switch(pbx_id, True)
    typer.echo(f"PBX {pbx_id} enabled: its events are accepted again")


@pbx_app.command("remove")
def pbx_remove(
    pbx_id: Annotated[str, typer.Argument(metavar="ID", help="The PBX id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a PBX: its secret or token and its processed deliveries (the records that answer a
    retry) go; the call records of its calls are kept, still naming it. To stop it only for a
    while, use `lettering pbx disable`."""
    settings = settings_or_exit()
    if not yes:
        typer.confirm(
            f"Remove PBX {pbx_id}? Its credentials go (it cannot post again unless added anew); "
            "its call records are kept",
            abort=True,
        )
    try:
        deliveries = asyncio.run(with_session(settings, lambda s: remove_pbx(s, pbx_id)))
    except AppError as exc:
        raise fail(exc.detail) from None
    typer.echo(f"PBX {pbx_id} removed ({deliveries} processed deliveries forgotten; call records kept)")
