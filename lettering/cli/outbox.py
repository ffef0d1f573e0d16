"""`lettering outbox ...`: the AlimTalk outbox, for operators (list, retry, purge)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kakao_fallback import service as kakao_service
from lettering.cli.runtime import fail, settings_or_exit, with_session
from lettering.cli.table import echo_table, seoul
from lettering.core.db import utcnow
from lettering.directory import service as directory_service
from lettering.optout import service as optout_service

outbox_app = typer.Typer(help="The AlimTalk outbox, for operators.", no_args_is_help=True)


class OutboxStatus(StrEnum):
    """An outbox message's status, as `outbox list --status` takes it (kakao_service.STATUSES)."""

    queued = "queued"
    sending = "sending"
    accepted = "accepted"
    sent_unknown = "sent_unknown"
    delivered = "delivered"
    failed = "failed"
    dead = "dead"
    dropped = "dropped"


@outbox_app.command("list")
def outbox_list(
    status: Annotated[OutboxStatus | None, typer.Option(help="Only messages in this status.")] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Outbox messages, newest first; dead letters with their last error. Never a phone number.

    Times are in Asia/Seoul; TO is the start of the recipient's keyed hash, never the number."""
    settings = settings_or_exit()

    async def listed(session: AsyncSession) -> list[tuple[str, ...]]:
        rows = await kakao_service.list_messages(
            session, status=status.value if status else None, limit=limit
        )
        codes = await directory_service.agency_codes(session, sorted({row.agency_id for row in rows}))
        return [
            (
                str(row.id),
                row.status,
                row.kind,
                codes.get(row.agency_id, f"#{row.agency_id}"),
                str(row.call_record_id) if row.call_record_id is not None else "-",
                row.recipient_hash[:12],
                str(row.attempts),
                seoul(row.created_at),
                row.last_error or "",
            )
            for row in rows
        ]

    rows = asyncio.run(with_session(settings, listed))
    if not rows:
        typer.echo("no messages")
        return
    echo_table(("ID", "STATUS", "KIND", "AGENCY", "CALL", "TO", "ATTEMPTS", "CREATED", "LAST ERROR"), rows)


@outbox_app.command("retry")
def outbox_retry(ids: Annotated[list[int], typer.Argument(help="Message ids (dead or failed).")]) -> None:
    """Queue dead or failed messages again."""
    settings = settings_or_exit()

    async def retry(session: AsyncSession) -> int | list[int]:
        in_range = [i for i in ids if 0 < i < 2**31]  # what an INTEGER id can be
        missing = sorted(set(ids) - await kakao_service.existing_ids(session, in_range))
        if missing:
            return missing  # nothing is queued when an id is wrong: the operator fixes the list first

        async def number_of(recipient_hash: str) -> tuple[bytes, int] | None:
            kept = await optout_service.retained_number(session, recipient_hash)
            return (kept.ciphertext, kept.key_version) if kept is not None else None

        return await kakao_service.retry_messages(session, ids, utcnow(), number_of)

    count = asyncio.run(with_session(settings, retry))
    if isinstance(count, list):
        raise fail(f"no message with id {', '.join(map(str, count))}; nothing was queued")
    typer.echo(f"{count} of {len(ids)} message(s) queued again")
    if count < len(ids):
        typer.echo("the others are not dead/failed, or their number was already purged", err=True)


@outbox_app.command("purge")
def outbox_purge(
    older_than_days: Annotated[int, typer.Option(help="Finished messages last changed this long ago.")] = 90,
) -> None:
    """Delete finished messages (delivered, failed, dead, dropped) older than N days."""
    settings = settings_or_exit()
    cutoff = utcnow() - timedelta(days=older_than_days)
    count = asyncio.run(with_session(settings, lambda s: kakao_service.purge_messages(s, cutoff)))
    typer.echo(f"{count} finished message(s) purged")
