"""`lettering demo ...`: try the service with demo data (setup, then a signed call)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from kakao_fallback import service as kakao_service
from lettering.calls import service as call_service
from lettering.cli.runtime import _safe_url, fail, import_directory_file, settings_or_exit, with_session
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.errors import AppError
from lettering.core.migrate import upgrade_head
from lettering.core.phone import make_vault
from lettering.core.settings import Settings
from lettering.webhook.admin import add_pbx, pbx_secret

demo_app = typer.Typer(help="Try the service with demo data.", no_args_is_help=True)

REPO_DIRECTORY_CSV = Path(__file__).resolve().parents[2] / "data" / "directory.csv"


@demo_app.command("setup")
def demo_setup(
    directory: Annotated[Path, typer.Option(help="The directory CSV to import.")] = REPO_DIRECTORY_CSV,
    pbx_id: Annotated[str, typer.Option("--pbx", help="The demo PBX id.")] = "hanbit-main",
    agency: Annotated[str, typer.Option(help="The demo PBX's agency.")] = "HANBIT",
) -> None:
    """Migrate, import the demo directory and register the demo PBX (safe to run again)."""
    settings = settings_or_exit()
    upgrade_head(settings.database_url)
    typer.echo(f"database ready ({_safe_url(settings.database_url)})")
    for line in import_directory_file(settings, directory).lines():
        typer.echo(line)
    vault = make_vault(settings)

    async def ensure_pbx(session: AsyncSession) -> tuple[str | None, str]:
        try:
            _id, secret = await pbx_secret(session, vault, pbx_id)
            return None, secret
        except AppError:
            created = await add_pbx(session, vault, pbx_id=pbx_id, agency_code=agency)
            assert created.secret is not None
            return created.secret, created.secret

    created, _secret = asyncio.run(with_session(settings, ensure_pbx))
    if created:
        typer.echo(f"demo PBX {pbx_id} registered for {agency}; its secret: {created}")
    else:
        typer.echo(f"demo PBX {pbx_id} already registered (`lettering demo call` signs with its secret)")


@demo_app.command("call")
def demo_call(
    extension: Annotated[str, typer.Option(help="The extension placing the call.")] = "2114",
    callee: Annotated[str, typer.Option(help="The citizen's number (test numbers: 010-0xxx-xxxx).")] = (
        "010-0123-4564"
    ),
    url: Annotated[str, typer.Option(help="The running service.")] = "http://127.0.0.1:8000",
    pbx: Annotated[str | None, typer.Option(help="PBX id (default: the first signed PBX).")] = None,
    end: Annotated[bool, typer.Option(help="Also send call.answered and call.ended.")] = False,
) -> None:
    """Send a correctly signed call.setup to the running service and print its answer."""
    settings = settings_or_exit()
    vault = make_vault(settings)
    try:
        pbx_id, secret = asyncio.run(with_session(settings, lambda s: pbx_secret(s, vault, pbx)))
    except AppError as exc:
        raise fail(exc.detail) from None
    signer = Webhook(secret)
    call_id = f"demo-{uuid.uuid4().hex[:12]}"

    def send(event: dict[str, Any]) -> httpx.Response:
        body = json.dumps(event, ensure_ascii=False)
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now().astimezone()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
        }
        return httpx.post(
            f"{url.rstrip('/')}/v1/pbx/events", content=body.encode(), headers=headers, timeout=10
        )

    base = {"pbx_id": pbx_id, "call_id": call_id, "extension": extension, "callee_number": callee}
    phone = PhoneWatch(url)
    started = time.monotonic()
    try:
        reply = send({"type": "call.setup", "occurred_at": datetime.now().astimezone().isoformat(), **base})
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc} (is `lettering serve` running?)") from None
    typer.echo(
        f"POST /v1/pbx/events call.setup -> {reply.status_code} "
        f"in {(time.monotonic() - started) * 1000:.0f} ms"
    )
    typer.echo(json.dumps(reply.json(), ensure_ascii=False, indent=2))
    if reply.status_code == 200:
        phone.show_pushes()
    if reply.status_code == 200 and reply.json().get("fallback") == "alimtalk":
        follow_alimtalk(settings, pbx_id, call_id)
        phone.show_alimtalk()
    if end and reply.status_code == 200:
        for event in (
            {"type": "call.answered"},
            {"type": "call.ended", "answered": True, "talk_seconds": 42, "end_cause": "normal"},
        ):
            r = send({**event, "occurred_at": datetime.now().astimezone().isoformat(), **base})
            typer.echo(f"{event['type']} -> {r.status_code} {r.text}")
    if reply.status_code >= 400:
        raise typer.Exit(1)


class PhoneWatch:
    """What the phone was shown, read from the simulators' inspection endpoints (dev only: they
    are mounted at /sim/carriers/_control/pushes and /sim/alimtalk/_control/messages)."""

    def __init__(self, url: str) -> None:
        self._base = url.rstrip("/")
        self._pushes = self._count(PUSHES)
        self._messages = self._count(MESSAGES)

    def _rows(self, path: str) -> list[dict[str, Any]] | None:
        try:
            response = httpx.get(f"{self._base}{path}", timeout=5)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        rows = response.json()
        return rows if isinstance(rows, list) else None

    def _count(self, path: str) -> int | None:
        rows = self._rows(path)
        return None if rows is None else len(rows)

    def show_pushes(self, wait_s: float = 3.0) -> None:
        """Print the carrier pushes this call made (once they have a result), as the phone shows them."""
        if self._pushes is None:
            typer.echo("phone: the carrier simulator is not mounted here; what the phone showed is not known")
            return
        deadline = time.monotonic() + wait_s
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = (self._rows(PUSHES) or [])[self._pushes :]
            if rows and all(row.get("result") is not None for row in rows):
                break
            time.sleep(0.1)
        if not rows:
            typer.echo("phone: no carrier push was made")
        for row in rows:
            typer.echo(f"phone via {row.get('carrier')} ({row.get('result') or 'no result yet'}):")
            for name, value in (row.get("display") or {}).items():
                typer.echo(f"  {name}: {value}")
            post_call = row.get("post_call") or {}
            if isinstance(post_call, dict) and post_call.get("url"):
                typer.echo(f"  after the call: {post_call.get('title') or ''} {post_call['url']}".rstrip())

    def show_alimtalk(self) -> None:
        """Print the AlimTalk text(s) the simulator accepted for this call."""
        if self._messages is None:
            typer.echo("phone: the AlimTalk simulator is not mounted here; its text is not known")
            return
        rows = (self._rows(MESSAGES) or [])[self._messages :]
        for row in rows:
            typer.echo(f"phone AlimTalk ({row.get('template_code')}, {row.get('status')}):")
            for line in str(row.get("text") or "").splitlines():
                typer.echo(f"  {line}")


PUSHES = "/sim/carriers/_control/pushes"
MESSAGES = "/sim/alimtalk/_control/messages"


def follow_alimtalk(settings: Settings, pbx_id: str, call_id: str, timeout_s: float = 15.0) -> None:
    """Print the AlimTalk's way through the outbox until it is final (or `timeout_s`)."""

    async def state(session: AsyncSession) -> Any:
        record = await call_service.find_call(session, pbx_id, call_id)
        return await kakao_service.message_for_call(session, record.id) if record and record.id else None

    seen: tuple[Any, ...] | None = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = asyncio.run(with_session(settings, state))
        if message is not None:
            now = (message.status, message.delivery_status, message.channel, message.last_error)
            if now != seen:
                parts = [f"AlimTalk: {message.status}"]
                parts += (
                    [f"result {message.delivery_status} {message.result_code or ''}".rstrip()]
                    if message.delivery_status
                    else []
                )
                parts += [f"via {message.channel}"] if message.channel else []
                parts += [f"({message.last_error})"] if message.last_error else []
                typer.echo(" ".join(parts))
                seen = now
            if message.status in ("delivered", "sent_unknown", "failed", "dead", "dropped"):
                return
            if message.status == "queued" and message.next_attempt_at > utcnow() + timedelta(seconds=5):
                opens = message.next_attempt_at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M")
                typer.echo(f"AlimTalk: waits for the sending hours; goes out at {opens} Asia/Seoul")
                return
        time.sleep(0.3)
