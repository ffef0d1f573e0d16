"""`lettering user ...`: add people, give scripts tokens, list and disable accounts.

Passwords are never argv options (they would end up in shell history and `ps`): they are
prompted for twice with hidden input, or read from stdin with --password-stdin.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from lettering.cli.runtime import fail, settings_or_exit, with_session
from lettering.core.errors import AppError
from lettering.directory import service as directory_service
from lettering.users import service

users_app = typer.Typer(help="People who use the console and scripts.", no_args_is_help=True)


@users_app.command("add")
def user_add(
    email: Annotated[str, typer.Option(help="Login email (stored lower-case).")],
    name: Annotated[str, typer.Option(help="Display name, e.g. 홍길동.")],
    role: Annotated[str, typer.Option(help="editor, approver, admin or platform_admin.")],
    agency: Annotated[
        str | None, typer.Option(help="Agency code, e.g. HANBIT (not for platform_admin).")
    ] = None,
    department: Annotated[
        str | None, typer.Option(help="Department code, e.g. HANBIT-0100 (required for editors).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (twice, hidden) or read from stdin."""
    settings = settings_or_exit()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> service.UserView:
        return await service.create_user(session, email, name, password, role, agency, department)

    try:
        user = asyncio.run(with_session(settings, work))
    except AppError as exc:
        raise fail(exc.detail) from None
    where = " ".join(p for p in (user.agency_code, user.department_code) if p) or "all agencies"
    typer.echo(f"user {user.id} {user.email} added: {user.role}, {where}")


@users_app.command("token")
def user_token(
    email: Annotated[str, typer.Option(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. nightly-report.")],
    days: Annotated[int | None, typer.Option(help="Expire after this many days (default: never).")] = None,
) -> None:
    """Create an API token for scripts (Authorization: Bearer ...); printed only now."""
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> str | None:
        user = await service.find_user(session, email)
        if user is None:
            return None
        return await service.create_api_token(session, user.id, name, days)

    try:
        token = asyncio.run(with_session(settings, work))
    except AppError as exc:
        raise fail(exc.detail) from None
    if token is None:
        raise fail(f"no user {email!r}")
    typer.echo(f"token {name!r} for {email} (store it now; it is not shown again):", err=True)
    typer.echo(token)


@users_app.command("revoke-token")
def user_revoke_token(
    email: Annotated[str, typer.Option(help="The token's user.")],
    name: Annotated[str, typer.Option(help="The token's name.")],
) -> None:
    """Revoke a user's API token by its name."""
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> bool:
        user = await service.find_user(session, email)
        if user is None:
            return False
        for token in await service.api_tokens(session, user.id):
            if token.name == name and token.revoked_at is None:
                return await service.revoke_api_token(session, token.id)
        return False

    if not asyncio.run(with_session(settings, work)):
        raise fail(f"no live token {name!r} of {email!r}")
    typer.echo(f"token {name!r} of {email} revoked")


@users_app.command("list")
def user_list(
    agency: Annotated[str | None, typer.Option(help="Only this agency's users (code).")] = None,
) -> None:
    """The users: email, name, role, agency, department, state, last login."""
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> list[service.UserView] | None:
        agency_id = None
        if agency is not None:
            agency_id = await directory_service.agency_id_for_code(session, agency)
            if agency_id is None:
                return None
        return await service.list_users(session, agency_id)

    users = asyncio.run(with_session(settings, work))
    if users is None:
        raise fail(f"no agency {agency!r} in the directory")
    if not users:
        typer.echo("no users")
    for user in users:
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        typer.echo(
            f"{user.email}\t{user.display_name}\t{user.role}\t{user.agency_code or '-'}\t"
            f"{user.department_code or '-'}\t{'active' if user.active else 'disabled'}\tlast login {last}"
        )


@users_app.command("disable")
def user_disable(email: Annotated[str, typer.Option(help="The user to stop.")]) -> None:
    """Disable a user: no more logins, sessions ended, API tokens refused."""
    settings = settings_or_exit()
    if not asyncio.run(with_session(settings, lambda s: service.disable_user(s, email))):
        raise fail(f"no user {email!r}")
    typer.echo(f"user {email} disabled")
