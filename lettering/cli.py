"""The `lettering` command: database, directory, PBXs, serving, simulators, demo."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from lettering.core.settings import Settings, get_settings
from lettering.users.cli import users_app

T = TypeVar("T")

app = typer.Typer(help="Smart lettering service for Korean local governments.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema (alembic).", no_args_is_help=True)
directory_app = typer.Typer(
    help="The directory of agencies, departments and extensions.", no_args_is_help=True
)
pbx_app = typer.Typer(help="PBXs allowed to post call events.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulators of the outside world.", no_args_is_help=True)
demo_app = typer.Typer(help="Try the service with demo data.", no_args_is_help=True)
outbox_app = typer.Typer(help="The AlimTalk outbox, for operators.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys for the citizens' numbers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(directory_app, name="directory")
app.add_typer(pbx_app, name="pbx")
app.add_typer(simulate_app, name="simulate")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(outbox_app, name="outbox")
app.add_typer(users_app, name="user")

REPO_DIRECTORY_CSV = Path(__file__).resolve().parent.parent / "data" / "directory.csv"


def fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(1)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    """The service's log format; the scheduler's line per job run (every 10 s) only from WARNING."""
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    logging.getLogger("apscheduler").setLevel(_scheduler_level(settings))


def _scheduler_level(settings: Settings) -> int:
    level = logging.getLevelName(settings.log_level)
    return max(logging.WARNING, level if isinstance(level, int) else 0)


def serve_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging config plus the service's own (root logger, format, level), which uvicorn
    applies in every worker process: with `--workers N` the workers are spawned afresh and would
    otherwise keep none of `configure_logging`, so lettering's own lines were lost there."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["service"] = {"format": LOG_FORMAT}
    config["handlers"]["service"] = {
        "class": "logging.StreamHandler",
        "formatter": "service",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"level": settings.log_level, "handlers": ["service"]}
    config["loggers"]["apscheduler"] = {"level": _scheduler_level(settings)}
    return config


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        raise fail(f"settings refused: {exc}") from None


async def with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` in one committed transaction on the configured database."""
    from lettering.core.db import make_engine, make_sessionmaker, session_scope

    engine = make_engine(settings.database_url)
    try:
        async with session_scope(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


# -- db -------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (alembic upgrade head) to LETTERING_DATABASE_URL."""
    from lettering.core.migrate import upgrade_head

    settings = settings_or_exit()
    upgrade_head(settings.database_url)
    typer.echo(f"database is at the latest schema ({_safe_url(settings.database_url)})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- directory ------------------------------------------------------------------------------


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


def import_directory_file(settings: Settings, file: Path, *, prune: bool = False) -> Any:
    """Parse, report bad rows (exit 1, nothing changed), else import with a progress bar."""
    from lettering.core.db import make_engine, make_sessionmaker
    from lettering.core.errors import AppError
    from lettering.directory import service as directory_service

    if not file.is_file():
        raise fail(f"{file}: no such file")
    parsed = directory_service.parse_directory(file)
    if isinstance(parsed, list):
        for error in parsed:
            typer.secho(f"{file}: {error}", fg=typer.colors.RED, err=True)
        raise fail(f"{len(parsed)} bad row(s); nothing was imported")

    async def run() -> Any:
        engine = make_engine(settings.database_url)
        try:
            with typer.progressbar(length=len(parsed.extensions), label="extensions", file=sys.stderr) as bar:
                done = 0

                def progress(n: int) -> None:
                    nonlocal done
                    bar.update(n - done)
                    done = n

                return await directory_service.import_directory(
                    make_sessionmaker(engine), parsed, progress, prune=prune
                )
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        raise fail(f"import refused, nothing changed: {exc.detail}") from None


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
    from lettering.directory import service as directory_service

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


# -- pbx ------------------------------------------------------------------------------------


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
    from lettering.core.errors import AppError
    from lettering.core.phone import make_vault
    from lettering.webhook.admin import add_pbx

    settings = settings_or_exit()
    vault = make_vault(settings)

    async def work(session: Any) -> Any:
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


@pbx_app.command("list")
def pbx_list() -> None:
    """The registered PBXs (never their secrets)."""
    from lettering.webhook.admin import list_pbx

    settings = settings_or_exit()
    rows = asyncio.run(with_session(settings, list_pbx))
    for row in rows:
        nets = ", ".join(json.loads(row.allowed_nets)) or "-"
        state = "enabled" if row.enabled else "disabled"
        typer.echo(
            f"{row.id}\tagency={row.agency_id}\t{row.auth_mode}\thold={row.hold_ms}ms\tnets={nets}\t{state}"
        )


# -- serve / simulate -------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the service with uvicorn."""
    import uvicorn

    from lettering.core.serving import http_protocol

    if "LETTERING_PUBLIC_BASE_URL" not in os.environ:
        # The in-process simulators and LG U+ callbacks are reached at the address actually served.
        reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["LETTERING_PUBLIC_BASE_URL"] = f"http://{reachable}:{port}"
        get_settings.cache_clear()
    settings = settings_or_exit()
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.secho("several workers on SQLite: writes will queue; use PostgreSQL in production", fg="yellow")
    configure_logging(settings)
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


@simulate_app.command("carriers")
def simulate_carriers(
    port: Annotated[int, typer.Option()] = 8101,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """The SKT / KT / LG U+ simulator as its own process (spec/carriers.md profile)."""
    from carriers.simulator.app import run_simulator

    run_simulator(host, port, settings_or_exit())


@simulate_app.command("alimtalk")
def simulate_alimtalk(
    port: Annotated[int, typer.Option()] = 8102,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """The AlimTalk dealer simulator (NHN Cloud v2.3 shapes) as its own process."""
    from kakao_fallback.simulator.app import run_alimtalk_simulator

    run_alimtalk_simulator(host, port, settings_or_exit())


@app.command()
def worker() -> None:
    """The AlimTalk outbox relay as its own process (set LETTERING_KAKAO__RELAY_IN_PROCESS=false)."""
    from kakao_fallback.client import build_client
    from kakao_fallback.relay import Relay
    from lettering.core.db import make_engine, make_sessionmaker
    from lettering.core.phone import make_vault
    from lettering.optout import service as optout_service

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


# -- outbox ---------------------------------------------------------------------------------


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="queued, sending, accepted, delivered, failed, dead, dropped")
    ] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Outbox messages, newest first; dead letters with their last error. Never a phone number."""
    from kakao_fallback import service as kakao_service

    settings = settings_or_exit()
    rows = asyncio.run(
        with_session(settings, lambda s: kakao_service.list_messages(s, status=status, limit=limit))
    )
    if not rows:
        typer.echo("no messages")
    for row in rows:
        error = f"\t{row.last_error}" if row.last_error else ""
        typer.echo(
            f"{row.id}\t{row.status}\t{row.kind}\tagency={row.agency_id}\tcall={row.call_record_id}\t"
            f"to={row.recipient_hash[:12]}\tattempts={row.attempts}\t{row.created_at:%Y-%m-%d %H:%M}{error}"
        )


@outbox_app.command("retry")
def outbox_retry(ids: Annotated[list[int], typer.Argument(help="Message ids (dead or failed).")]) -> None:
    """Queue dead or failed messages again."""
    from kakao_fallback import service as kakao_service
    from lettering.core.db import utcnow
    from lettering.optout import service as optout_service

    settings = settings_or_exit()

    async def retry(session: Any) -> int:
        async def number_of(recipient_hash: str) -> tuple[bytes, int] | None:
            kept = await optout_service.retained_number(session, recipient_hash)
            return (kept.ciphertext, kept.key_version) if kept is not None else None

        return await kakao_service.retry_messages(session, ids, utcnow(), number_of)

    count = asyncio.run(with_session(settings, retry))
    typer.echo(f"{count} of {len(ids)} message(s) queued again")
    if count < len(ids):
        typer.echo("the others are not dead/failed, or their number was already purged", err=True)


@outbox_app.command("purge")
def outbox_purge(
    older_than_days: Annotated[int, typer.Option(help="Finished messages last changed this long ago.")] = 90,
) -> None:
    """Delete finished messages (delivered, failed, dead, dropped) older than N days."""
    from datetime import timedelta

    from kakao_fallback import service as kakao_service
    from lettering.core.db import utcnow

    settings = settings_or_exit()
    cutoff = utcnow() - timedelta(days=older_than_days)
    count = asyncio.run(with_session(settings, lambda s: kakao_service.purge_messages(s, cutoff)))
    typer.echo(f"{count} finished message(s) purged")


# -- keys -----------------------------------------------------------------------------------


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@keys_app.command("generate")
def keys_generate(
    next_version: Annotated[
        bool,
        typer.Option("--next", help="A new version for a rotation: the current keys move to PHONE_KEYS_OLD."),
    ] = False,
) -> None:
    """Print fresh keys for the citizens' numbers as .env lines."""
    if not next_version:
        typer.echo(f"LETTERING_PHONE_HASH_KEY={_new_key()}")
        typer.echo(f"LETTERING_PHONE_ENC_KEY={_new_key()}")
        return
    settings = settings_or_exit()
    old = {
        str(v): {"hash_key": pair.hash_key.get_secret_value(), "enc_key": pair.enc_key.get_secret_value()}
        for v, pair in settings.phone_keys_old.items()
    }
    old[str(settings.key_version)] = {
        "hash_key": settings.phone_hash_key.get_secret_value(),
        "enc_key": settings.phone_enc_key.get_secret_value(),
    }
    typer.echo(f"# Rotation from key version {settings.key_version} to {settings.key_version + 1}:")
    typer.echo("# replace these settings, restart every process, then run `lettering keys rotate`.")
    typer.echo(f"LETTERING_KEY_VERSION={settings.key_version + 1}")
    typer.echo(f"LETTERING_PHONE_HASH_KEY={_new_key()}")
    typer.echo(f"LETTERING_PHONE_ENC_KEY={_new_key()}")
    typer.echo(f"LETTERING_PHONE_KEYS_OLD='{json.dumps(old, sort_keys=True)}'")


class _StepBars:
    """One progress bar per step of a long job, on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._step = ""
        self._done = 0

    def update(self, step: str, done: int, total: int) -> None:
        if step != self._step:
            self.close()
            self._bar = typer.progressbar(length=max(total, 1), label=step.ljust(30), file=sys.stderr)
            self._bar.__enter__()
            self._step, self._done = step, 0
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@keys_app.command("rotate")
def keys_rotate(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 1000,
) -> None:
    """Re-encrypt and re-index every stored number under the current key version (resumable)."""
    from lettering.core.db import make_engine, make_sessionmaker
    from lettering.core.phone import make_vault
    from lettering.keyring import service as keyring_service

    settings = settings_or_exit()
    vault = make_vault(settings)
    bars = _StepBars()

    async def run() -> keyring_service.RotationReport:
        engine = make_engine(settings.database_url)
        try:
            return await keyring_service.rotate(
                make_sessionmaker(engine), vault, batch=batch, progress=bars.update
            )
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except keyring_service.RotationError as exc:
        raise fail(f"rotation stopped: {exc}") from None
    finally:
        bars.close()
    typer.echo(f"key version {report.key_version}:")
    for name, count in report.resealed.items():
        typer.echo(f"  re-encrypted {name}: {count}")
    for name, count in report.secrets.items():
        typer.echo(f"  re-sealed secrets {name}: {count}")
    for name, count in report.reindexed.items():
        typer.echo(f"  re-indexed {name}: {count} (merged {report.merged.get(name, 0)})")
    _print_key_status(settings)


def _print_key_status(settings: Settings) -> None:
    from lettering.core.db import make_engine, make_sessionmaker
    from lettering.core.phone import make_vault
    from lettering.keyring import service as keyring_service

    async def run() -> keyring_service.KeyStatus:
        engine = make_engine(settings.database_url)
        try:
            return await keyring_service.status(make_sessionmaker(engine), make_vault(settings))
        finally:
            await engine.dispose()

    state = asyncio.run(run())
    typer.echo(f"current key version {state.key_version}; configured {list(state.configured)}")
    for name, counts in state.sealed.items():
        shown = ", ".join(f"v{v}: {n}" for v, n in sorted(counts.items())) or "none"
        typer.echo(f"  {name}: {shown}")
    for name, count in state.not_reindexed.items():
        if count:
            typer.echo(f"  {name}: {count} rows still under an old hash")
    old = sorted(set(state.configured) - {state.key_version})
    if state.optouts_by_hash_only:
        typer.secho(
            f"  {state.optouts_by_hash_only} opt-out(s) in force are known by their keyed hash only (no copy "
            "of the number is kept): a rotation cannot re-index them; they stay in force only while the "
            "key version they were made under stays configured",
            fg="yellow",
        )
    if state.done:
        if old:
            typer.echo(f"nothing depends on key versions {old} any more: remove them from PHONE_KEYS_OLD")
        else:
            typer.echo("nothing depends on an old key version")
    else:
        in_use = sorted(state.old_versions_in_use) or old
        typer.echo(f"still in use: key versions {in_use}; run `lettering keys rotate`")


@keys_app.command("status")
def keys_status() -> None:
    """Which key versions the stored numbers and secrets are under."""
    _print_key_status(settings_or_exit())


# -- demo -----------------------------------------------------------------------------------


@demo_app.command("setup")
def demo_setup(
    directory: Annotated[Path, typer.Option(help="The directory CSV to import.")] = REPO_DIRECTORY_CSV,
    pbx_id: Annotated[str, typer.Option("--pbx", help="The demo PBX id.")] = "hanbit-main",
    agency: Annotated[str, typer.Option(help="The demo PBX's agency.")] = "HANBIT",
) -> None:
    """Migrate, import the demo directory and register the demo PBX (safe to run again)."""
    from lettering.core.migrate import upgrade_head
    from lettering.core.phone import make_vault
    from lettering.webhook.admin import add_pbx, pbx_secret

    settings = settings_or_exit()
    upgrade_head(settings.database_url)
    typer.echo(f"database ready ({_safe_url(settings.database_url)})")
    for line in import_directory_file(settings, directory).lines():
        typer.echo(line)
    vault = make_vault(settings)

    async def ensure_pbx(session: Any) -> tuple[str | None, str]:
        from lettering.core.errors import AppError

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
    import httpx
    from standardwebhooks.webhooks import Webhook

    from lettering.core.errors import AppError
    from lettering.core.phone import make_vault
    from lettering.webhook.admin import pbx_secret

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
    if reply.status_code == 200 and reply.json().get("fallback") == "alimtalk":
        follow_alimtalk(settings, pbx_id, call_id)
    if end and reply.status_code == 200:
        for event in (
            {"type": "call.answered"},
            {"type": "call.ended", "answered": True, "talk_seconds": 42, "end_cause": "normal"},
        ):
            r = send({**event, "occurred_at": datetime.now().astimezone().isoformat(), **base})
            typer.echo(f"{event['type']} -> {r.status_code} {r.text}")
    if reply.status_code >= 400:
        raise typer.Exit(1)


def follow_alimtalk(settings: Settings, pbx_id: str, call_id: str, timeout_s: float = 15.0) -> None:
    """Print the AlimTalk's way through the outbox until it is final (or `timeout_s`)."""
    from datetime import timedelta

    from kakao_fallback import service as kakao_service
    from lettering.calls import service as call_service
    from lettering.core.clock import SEOUL
    from lettering.core.db import utcnow

    async def state(session: Any) -> Any:
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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
