"""Who is posting: the PBX registry snapshot and the two authentication modes of the spec.

Signed (Standard Webhooks): the signature over the raw body is checked before the body is parsed;
the PBX is the one whose secret verifies. The body does not say which PBX it is until it is
trusted, so every signed PBX's key is tried: one HMAC-SHA256 of the signed content each, computed
here with the stdlib (`standardwebhooks`' own verify re-parses the headers and the timestamp for
each key, ~25 µs a PBX against ~2 µs: bench/pbx_auth.py). Token: a bearer token
(only its SHA-256 is stored) from one of the PBX's allowed networks.

After a rotation (`lettering pbx rotate`) the replaced secret or token still verifies until its
grace ends (`previous_until`, compared with the request's clock, so no snapshot refresh is needed
when it ends); the current one is always tried first, the previous one only when that fails.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession

from lettering.core.errors import AppError
from lettering.core.phone import PhoneVault
from lettering.webhook import repository as webhook_repo

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "pbx"


def open_pbx_secret(vault: PhoneVault, sealed: bytes, key_version: int) -> str:
    """A PBX's whsec_ secret. Rows sealed before the key version was recorded say version 1 (the
    migration's default) while they were sealed under the version then current: try that too."""
    try:
        return vault.open_secret(sealed, key_version)
    except Exception:
        for version in vault.versions:
            if version != key_version:
                with contextlib.suppress(Exception):
                    return vault.open_secret(sealed, version)
        raise


_V1_SIGNATURE = re.compile(r"^v1,[A-Za-z0-9+/]+={0,2}$")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (Standard Webhooks: the base64 after the prefix)."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error as exc:
        raise ValueError("a PBX secret is whsec_ followed by base64") from exc


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


@dataclass(frozen=True, slots=True)
class PbxView:
    id: str
    agency_id: int
    auth_mode: str
    hold_ms: int
    enabled: bool
    key: bytes | None = None  # the HMAC key of its whsec_ secret (signed PBXs)
    token_sha256: str | None = None
    allowed_nets: tuple[IpNetwork, ...] = ()
    # The replaced secret or token digest and until when (Unix seconds) it still verifies.
    previous_key: bytes | None = None
    previous_token_sha256: str | None = None
    previous_until_s: float = 0.0

    def in_grace(self, now_s: float) -> bool:
        return now_s < self.previous_until_s


@dataclass(frozen=True, slots=True)
class PbxRegistry:
    by_id: Mapping[str, PbxView] = field(default_factory=lambda: MappingProxyType({}))
    signed: tuple[PbxView, ...] = ()
    by_token: Mapping[str, PbxView] = field(default_factory=lambda: MappingProxyType({}))
    # Replaced tokens still in (or past) their grace; each view says until when.
    by_previous_token: Mapping[str, PbxView] = field(default_factory=lambda: MappingProxyType({}))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_networks(raw: str) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in json.loads(raw or "[]"))


def make_registry_builder(vault: PhoneVault):  # type: ignore[no-untyped-def]
    """The snapshot builder for PBX registrations (needs the vault to open the secrets)."""

    async def build(session: AsyncSession) -> PbxRegistry:
        views: dict[str, PbxView] = {}
        for pbx in await webhook_repo.all_pbx(session):
            key = previous = None
            until_s = pbx.previous_until.timestamp() if pbx.previous_until is not None else 0.0
            if pbx.auth_mode == "signed" and pbx.secret_sealed:
                try:
                    key = signing_key(open_pbx_secret(vault, pbx.secret_sealed, pbx.secret_key_version))
                except Exception:  # a broken row must not take the other PBXs down
                    log.error("PBX %s: stored secret cannot be opened or decoded; it cannot sign in", pbx.id)
            if pbx.auth_mode == "signed" and pbx.previous_secret_sealed and until_s:
                try:
                    previous = signing_key(
                        open_pbx_secret(vault, pbx.previous_secret_sealed, pbx.previous_secret_key_version)
                    )
                except Exception:
                    log.error(
                        "PBX %s: its previous secret cannot be opened; only the current one verifies", pbx.id
                    )
            views[pbx.id] = PbxView(
                id=pbx.id,
                agency_id=pbx.agency_id,
                auth_mode=pbx.auth_mode,
                hold_ms=pbx.hold_ms,
                enabled=pbx.enabled,
                key=key,
                token_sha256=pbx.token_sha256,
                allowed_nets=parse_networks(pbx.allowed_nets),
                previous_key=previous,
                previous_token_sha256=pbx.previous_token_sha256 if until_s else None,
                previous_until_s=until_s,
            )
        # Disabled PBXs stay in the registry, so that their requests are told they are disabled
        # (403) rather than that their credentials are unknown.
        listed = sorted(views.values(), key=lambda v: not v.enabled)  # enabled ones first
        return PbxRegistry(
            by_id=MappingProxyType(views),
            signed=tuple(v for v in listed if v.key is not None or v.previous_key is not None),
            by_token=MappingProxyType(
                {v.token_sha256: v for v in listed if v.auth_mode == "token" and v.token_sha256}
            ),
            by_previous_token=MappingProxyType(
                {
                    v.previous_token_sha256: v
                    for v in listed
                    if v.auth_mode == "token" and v.previous_token_sha256
                }
            ),
        )

    return build


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The PBXs whose credentials this request carries, and the dedupe key it brings."""

    candidates: tuple[PbxView, ...]
    webhook_id: str | None
    mode: str


def authenticate(
    registry: PbxRegistry,
    headers: Mapping[str, str],
    raw_body: bytes,
    client_host: str | None,
    now_s: float,
    tolerance_s: int,
) -> Authenticated:
    """Check the request's credentials over the raw body; raises Unauthorized / Forbidden."""
    signature = headers.get("webhook-signature")
    authorization = headers.get("authorization", "")
    if signature is not None:
        return _signed(registry, headers, signature, raw_body, now_s, tolerance_s)
    if authorization:
        return _token(registry, authorization, client_host, headers.get("webhook-id"), now_s)
    raise Unauthorized(
        "missing credentials: send webhook-id, webhook-timestamp and webhook-signature, "
        "or Authorization: Bearer <token>"
    )


def _signed(
    registry: PbxRegistry,
    headers: Mapping[str, str],
    signature: str,
    raw_body: bytes,
    now_s: float,
    tolerance_s: int,
) -> Authenticated:
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    if not msg_id:
        raise Unauthorized("missing webhook-id header")
    if len(msg_id) > 255:
        raise Unauthorized("webhook-id is longer than 255 characters")
    if not timestamp:
        raise Unauthorized("missing webhook-timestamp header")
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized("webhook-timestamp is not Unix seconds") from None
    skew = int(now_s) - ts
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "in the future"
        raise Unauthorized(
            f"webhook-timestamp is {abs(skew)} s {direction} (at most {tolerance_s} s from the service clock)"
        )
    if not signature.strip():
        raise Unauthorized("webhook-signature is empty")
    # Only well-formed "v1,<base64>" entries count (others are skipped, not fatal): one valid
    # signature among several is enough (spec/pbx-webhook.md, secret rotation).
    usable = [part for part in signature.split() if _V1_SIGNATURE.match(part)]
    if not usable:
        raise Unauthorized("webhook-signature has no v1,<base64> signature")
    try:
        raw_body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized("body is not UTF-8, so its signature cannot be checked") from None
    sent = [sig for part in usable if (sig := _decoded(part[3:])) is not None]
    if not sent:
        raise Unauthorized("webhook-signature has no v1,<base64> signature")
    content = f"{msg_id}.{timestamp}.".encode() + raw_body
    matches: list[PbxView] = []
    for pbx in registry.signed:
        if _signs(pbx.key, content, sent) or (
            pbx.previous_key is not None and pbx.in_grace(now_s) and _signs(pbx.previous_key, content, sent)
        ):
            matches.append(pbx)
    if not matches:
        raise Unauthorized("webhook-signature does not verify with the secret of any registered PBX")
    enabled = tuple(pbx for pbx in matches if pbx.enabled)
    if not enabled:
        raise _disabled(matches[0])
    return Authenticated(candidates=enabled, webhook_id=msg_id, mode="signed")


def _decoded(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return None


def _signs(key: bytes | None, content: bytes, sent: list[bytes]) -> bool:
    """Whether one of the signatures sent is HMAC-SHA256(key, content) (compared in constant time)."""
    if key is None:
        return False
    expected = hmac.digest(key, content, "sha256")
    return any(hmac.compare_digest(expected, signature) for signature in sent)


def _disabled(pbx: PbxView) -> Forbidden:
    return Forbidden(
        f"PBX {pbx.id} is disabled: its events are refused until an operator runs "
        f"`lettering pbx enable {pbx.id}`"
    )


def _token(
    registry: PbxRegistry,
    authorization: str,
    client_host: str | None,
    webhook_id: str | None,
    now_s: float,
) -> Authenticated:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <token>'")
    digest = token_digest(token.strip())
    pbx = registry.by_token.get(digest)
    if pbx is None:
        pbx = registry.by_previous_token.get(digest)
        if pbx is not None and not pbx.in_grace(now_s):
            raise Unauthorized(
                f"bearer token was replaced by a rotation of PBX {pbx.id} and its grace has ended: "
                "use the new token"
            )
    if pbx is None:
        raise Unauthorized("bearer token is not recognised")
    if not pbx.enabled:
        raise _disabled(pbx)
    try:
        source = ipaddress.ip_address(client_host or "")
    except ValueError:
        raise Forbidden(
            f"source address of the request is unknown; PBX {pbx.id} accepts only its networks"
        ) from None
    if not any(source in net for net in pbx.allowed_nets):
        raise Forbidden(f"source address {source} is not in the allowed networks of PBX {pbx.id}")
    return Authenticated(candidates=(pbx,), webhook_id=webhook_id, mode="token")


def pbx_for_body(auth: Authenticated, pbx_id: str) -> PbxView:
    """The authenticated PBX named by the body's pbx_id; 403 when the body names another one."""
    for pbx in auth.candidates:
        if pbx.id == pbx_id:
            return pbx
    names = ", ".join(p.id for p in auth.candidates)
    raise Forbidden(f"pbx_id {pbx_id!r} does not match the authenticated PBX ({names})")
