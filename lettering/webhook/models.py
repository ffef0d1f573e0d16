"""PBX registrations and processed deliveries. Owned by lettering.webhook."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class WebhookPbx(SQLModel, table=True):
    """A PBX allowed to post events for one agency; `signed` (Standard Webhooks) or `token`."""

    __tablename__ = "webhook_pbx"

    id: str = Field(primary_key=True, max_length=64)
    agency_id: int = Field(foreign_key="directory_agency.id", index=True)
    auth_mode: str = Field(default="signed", max_length=8)
    # The whsec_ secret, AES-GCM sealed with the service key (it must be usable, so not hashed).
    secret_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    secret_key_version: int = 1
    # Bearer tokens are only compared, so only their SHA-256 is kept.
    token_sha256: str | None = Field(default=None, max_length=64)
    # After a rotation, the secret (or token digest) it replaced, accepted until `previous_until`
    # so that the PBX can switch without downtime; None when no grace is running.
    previous_secret_sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    previous_secret_key_version: int = 1
    previous_token_sha256: str | None = Field(default=None, max_length=64)
    previous_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    allowed_nets: str = Field(default="[]", sa_type=Text)  # JSON list of CIDRs
    hold_ms: int = 500
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One processed delivery: the unique key makes a retry return the first response."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("pbx_id", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    pbx_id: str = Field(max_length=64)
    dedupe_key: str = Field(max_length=300)  # webhook-id, or "{call_id}:{type}" under token auth
    event_type: str = Field(max_length=16)
    call_id: str = Field(max_length=128)
    response_status: int | None = None  # None while the first delivery is being processed
    response_body: str | None = Field(default=None, sa_type=Text)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
