"""`lettering keys ...`: keys for the citizens' numbers (generate, rotate, status)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
from typing import Annotated, Any

import typer

from lettering.cli.runtime import fail, settings_or_exit
from lettering.core.db import make_engine, make_sessionmaker
from lettering.core.phone import make_vault
from lettering.core.settings import OWN_SECRETS, SECRET_PURPOSES, Settings, env_line_name
from lettering.keyring import service as keyring_service

keys_app = typer.Typer(help="Keys for the citizens' numbers.", no_args_is_help=True)


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


# Not secrets, so not printed with a value: what a production start still needs set by hand.
STILL_TO_SET = (
    "LETTERING_DATABASE_URL (postgresql+asyncpg://...)",
    "LETTERING_PUBLIC_BASE_URL",
    "LETTERING_CARRIERS__SKT__BASE_URL and __CLIENT_ID",
    "LETTERING_CARRIERS__KT__BASE_URL and __API_KEY",
    "LETTERING_CARRIERS__LGU__BASE_URL",
    "LETTERING_KAKAO__BASE_URL",
    "each AlimTalk account's app_key, sender_key and sender_no in LETTERING_KAKAO__AGENCIES",
)


def _print_all_secrets() -> None:
    """Every secret the service refuses to start without outside dev, each freshly random."""
    own = {
        "phone_hash_key": _new_key(),
        "phone_enc_key": _new_key(),
        "link_secret": _new_secret(),
    }
    typer.echo("# The service's own secrets (keep them in the secret store; never change the phone keys")
    typer.echo("# except by a rotation: `lettering keys generate --next`).")
    for name, value in own.items():
        typer.echo(f"{env_line_name(name)}={value}")
    typer.echo("# Credentials shared with the carriers and the AlimTalk dealer: random here so that a start")
    typer.echo(
        "# passes the check; replace each with the value from that carrier's or the dealer's contract."
    )
    for name in SECRET_PURPOSES:
        if name in OWN_SECRETS or name.startswith("kakao."):
            continue
        typer.echo(f"{env_line_name(name)}={_new_secret()}")
    accounts = {"*": {"secret_key": _new_secret()}}
    typer.echo(f"LETTERING_KAKAO__AGENCIES='{json.dumps(accounts)}'")
    typer.echo("# Still to set (not secrets): " + "; ".join(STILL_TO_SET) + ".")


@keys_app.command("generate")
def keys_generate(
    next_version: Annotated[
        bool,
        typer.Option("--next", help="A new version for a rotation: the current keys move to PHONE_KEYS_OLD."),
    ] = False,
) -> None:
    """Print every secret a production start needs, freshly random, as .env lines."""
    if not next_version:
        _print_all_secrets()
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
