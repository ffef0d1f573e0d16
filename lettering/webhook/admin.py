"""Registering PBXs (the CLI; the console will use the same functions)."""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from lettering.core.db import utcnow
from lettering.core.errors import AppError
from lettering.core.phone import PhoneVault
from lettering.directory import service as directory_service
from lettering.snapshots.service import bump
from lettering.webhook import repository
from lettering.webhook.auth import SNAPSHOT_NAME, open_pbx_secret, token_digest
from lettering.webhook.models import WebhookPbx


class PbxProblem(AppError):
    status_code = 422


@dataclass(frozen=True, slots=True)
class PbxListing:
    """A registration as listed (never its secret or token)."""

    id: str
    agency_id: int
    agency_code: str
    auth_mode: str
    hold_ms: int
    allowed_nets: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    previous_until: datetime | None = None  # while a replaced credential still verifies


@dataclass(frozen=True, slots=True)
class PbxCreated:
    id: str
    agency_code: str
    auth_mode: str
    secret: str | None  # shown once when generated
    token: str | None


@dataclass(frozen=True, slots=True)
class PbxRotated:
    id: str
    auth_mode: str
    secret: str | None  # the new one, shown once when generated
    token: str | None
    previous_until: datetime | None  # None: the old credential stopped at once


# How long a replaced secret may keep verifying: long enough to reach every PBX of an agency, short
# enough that a leaked one is not kept alive by forgetting about it.
DEFAULT_GRACE_HOURS = 24.0
MAX_GRACE_HOURS = 7 * 24.0


def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


SECRET_FORMAT = "whsec_ followed by the base64 of 24-64 random bytes (omit --secret to have one generated)"


def check_secret(secret: str) -> None:
    """Refuse a secret that is not `whsec_` + standard base64 of 24-64 bytes, naming the format."""
    if not secret.startswith("whsec_"):
        raise PbxProblem(f"--secret does not start with whsec_; it must be {SECRET_FORMAT}")
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise PbxProblem(f"--secret is not valid base64 after whsec_; it must be {SECRET_FORMAT}") from None
    if not 24 <= len(raw) <= 64:
        raise PbxProblem(f"--secret holds {len(raw)} bytes; it must be {SECRET_FORMAT}")
    try:
        Webhook(secret)
    except Exception:
        raise PbxProblem(
            f"--secret is refused by the Standard Webhooks library; it must be {SECRET_FORMAT}"
        ) from None


async def add_pbx(
    session: AsyncSession,
    vault: PhoneVault,
    *,
    pbx_id: str,
    agency_code: str,
    auth_mode: str = "signed",
    secret: str | None = None,
    token: str | None = None,
    allow_nets: list[str] | None = None,
    hold_ms: int = 500,
) -> PbxCreated:
    """Register a PBX for an agency; generates the secret (signed) or token when none is given."""
    if not pbx_id or len(pbx_id) > 64:
        raise PbxProblem("--id must be 1-64 characters", korean="PBX ID는 1~64자로 입력해 주세요")
    if auth_mode not in ("signed", "token"):
        raise PbxProblem(
            "--auth must be 'signed' or 'token'", korean="인증 방식은 서명 또는 토큰 중에서 골라 주세요"
        )
    if not 50 <= hold_ms <= 10_000:
        raise PbxProblem(
            "--hold-ms must be between 50 and 10000", korean="대기 시간은 50~10000ms 사이로 입력해 주세요"
        )
    agency_id = await directory_service.agency_id_for_code(session, agency_code)
    if agency_id is None:
        raise PbxProblem(
            f"agency {agency_code!r} is not in the directory (import the directory first)",
            korean="선택한 기관이 조직도에 없습니다",
        )
    if await repository.pbx_exists(session, pbx_id):
        raise PbxProblem(
            f"PBX {pbx_id!r} is already registered", korean=f"「{pbx_id}」 PBX는 이미 등록되어 있습니다"
        )
    row = WebhookPbx(id=pbx_id, agency_id=agency_id, auth_mode=auth_mode, hold_ms=hold_ms)
    shown_secret: str | None = None
    shown_token: str | None = None
    if auth_mode == "signed":
        shown_secret = secret or generate_secret()
        check_secret(shown_secret)
        row.secret_sealed = vault.seal_secret(shown_secret)
        row.secret_key_version = vault.key_version
    else:
        shown_token = token or secrets.token_urlsafe(32)
        if len(shown_token) < 24:
            raise PbxProblem("--token must be at least 24 characters")
        if not allow_nets:
            raise PbxProblem(
                "token auth needs at least one --allow-net CIDR",
                korean="토큰 방식은 허용 네트워크(CIDR)를 하나 이상 입력해야 합니다",
            )
        try:
            nets = [str(ipaddress.ip_network(n, strict=False)) for n in allow_nets]
        except ValueError as exc:
            raise PbxProblem(
                f"--allow-net: {exc}",
                korean=f"허용 네트워크를 CIDR 형식(예: 10.20.0.0/16)으로 입력해 주세요 ({exc})",
            ) from None
        row.token_sha256 = token_digest(shown_token)
        row.allowed_nets = json.dumps(nets)
    await repository.add_pbx_row(session, row)
    await bump(session, SNAPSHOT_NAME)
    return PbxCreated(
        pbx_id,
        agency_code,
        auth_mode,
        shown_secret if secret is None else None,
        shown_token if token is None else None,
    )


async def rotate_pbx(
    session: AsyncSession,
    vault: PhoneVault,
    pbx_id: str,
    *,
    grace_hours: float = DEFAULT_GRACE_HOURS,
    secret: str | None = None,
    token: str | None = None,
) -> PbxRotated:
    """Give a PBX a new secret (signed) or token (generated unless given); the one it replaces
    keeps verifying for `grace_hours` (0: it stops now). A rotation during a grace ends the older
    credential: only the current and the one it just replaced verify."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise PbxProblem(
            f"--grace-hours must be between 0 and {MAX_GRACE_HOURS:g} (0 stops the old credential now)",
            korean=f"유예 시간은 0시간에서 {MAX_GRACE_HOURS:g}시간 사이여야 합니다",
        )
    row = await repository.get_pbx(session, pbx_id)
    if row is None:
        raise PbxProblem(
            f"no PBX with id {pbx_id!r} is registered (see `lettering pbx list`)",
            status_code=404,
            korean=f"「{pbx_id}」 PBX는 등록되어 있지 않습니다",
        )
    until = utcnow() + timedelta(hours=grace_hours) if grace_hours > 0 else None
    mode = row.auth_mode
    shown_secret: str | None = None
    shown_token: str | None = None
    if mode == "signed":
        if token is not None:
            raise PbxProblem(f"PBX {pbx_id} signs its events: give --secret, not --token")
        shown_secret = secret or generate_secret()
        check_secret(shown_secret)
        await repository.store_rotation(
            session,
            pbx_id,
            secret_sealed=vault.seal_secret(shown_secret),
            secret_key_version=vault.key_version,
            previous_secret_sealed=row.secret_sealed if until else None,
            previous_secret_key_version=row.secret_key_version,
            previous_token_sha256=None,
            previous_until=until,
        )
    else:
        if secret is not None:
            raise PbxProblem(f"PBX {pbx_id} uses token auth: give --token, not --secret")
        shown_token = token or secrets.token_urlsafe(32)
        if len(shown_token) < 24:
            raise PbxProblem("--token must be at least 24 characters")
        await repository.store_rotation(
            session,
            pbx_id,
            token_sha256=token_digest(shown_token),
            previous_secret_sealed=None,
            previous_token_sha256=row.token_sha256 if until else None,
            previous_until=until,
        )
    await bump(session, SNAPSHOT_NAME)
    return PbxRotated(
        pbx_id,
        mode,
        shown_secret if secret is None else None,
        shown_token if token is None else None,
        until,
    )


async def pbx_secret(session: AsyncSession, vault: PhoneVault, pbx_id: str | None) -> tuple[str, str]:
    """(id, secret) of a signed PBX: the named one, else the first registered (demo tooling)."""
    row = await repository.first_signed_pbx(session, pbx_id)
    if row is None or row.secret_sealed is None:
        raise PbxProblem("no signed PBX registered" + (f" with id {pbx_id!r}" if pbx_id else ""))
    return row.id, open_pbx_secret(vault, row.secret_sealed, row.secret_key_version)


async def list_pbx(session: AsyncSession) -> list[PbxListing]:
    """The registered PBXs, by id, with their agency's code."""
    rows = await repository.all_pbx(session)
    codes = await directory_service.agency_codes(session, sorted({row.agency_id for row in rows}))
    now = utcnow()
    return [
        PbxListing(
            row.id,
            row.agency_id,
            codes.get(row.agency_id, f"#{row.agency_id}"),
            row.auth_mode,
            row.hold_ms,
            tuple(json.loads(row.allowed_nets or "[]")),
            row.enabled,
            row.created_at,
            row.updated_at,
            row.previous_until if row.previous_until and row.previous_until > now else None,
        )
        for row in rows
    ]


async def pbx_activity(session: AsyncSession, since: datetime) -> dict[str, repository.PbxActivity]:
    """Per PBX id: its latest event (within the deliveries kept) and its setups and ends since `since`."""
    return await repository.pbx_activity(session, since)


async def pbx_agency(session: AsyncSession, pbx_id: str) -> int | None:
    """The agency a PBX is registered for, or None when there is no such PBX."""
    row = await repository.get_pbx(session, pbx_id)
    return None if row is None else row.agency_id


async def set_pbx_enabled(session: AsyncSession, pbx_id: str, enabled: bool) -> None:
    """Enable or disable a PBX; running workers see it at their next snapshot refresh."""
    if not await repository.set_pbx_enabled(session, pbx_id, enabled):
        raise PbxProblem(f"no PBX with id {pbx_id!r} is registered (see `lettering pbx list`)")
    await bump(session, SNAPSHOT_NAME)


async def remove_pbx(session: AsyncSession, pbx_id: str) -> int:
    """Remove a PBX and its processed deliveries (kept only to answer retries); its call records
    stay, still naming it. How many deliveries were removed."""
    removed = await repository.delete_pbx(session, pbx_id)
    if removed is None:
        raise PbxProblem(f"no PBX with id {pbx_id!r} is registered (see `lettering pbx list`)")
    await bump(session, SNAPSHOT_NAME)
    return removed
