"""Citizens' opt-out state and its append-only history. Owned by lettering.optout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow

# agency_id 0: the choice covers every agency on this platform.
ALL_AGENCIES = 0


class OptoutState(SQLModel, table=True):
    __tablename__ = "optout_state"
    __table_args__ = (UniqueConstraint("callee_hash", "agency_id"),)

    id: int | None = Field(default=None, primary_key=True)
    callee_hash: str = Field(max_length=64, index=True)
    agency_id: int = ALL_AGENCIES
    scope: str = Field(max_length=8)  # "none" | "promo" | "all"
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OptoutHistory(SQLModel, table=True):
    """Append-only: one row per change, never updated or deleted."""

    __tablename__ = "optout_history"

    id: int | None = Field(default=None, primary_key=True)
    callee_hash: str = Field(max_length=64, index=True)
    agency_id: int = ALL_AGENCIES
    from_scope: str = Field(max_length=8)
    to_scope: str = Field(max_length=8)
    via: str = Field(max_length=8)  # "link" | "admin"
    admin_id: int | None = None
    ip_hash: str | None = Field(default=None, max_length=64)
    user_agent_hash: str | None = Field(default=None, max_length=64)
    # The result notice (정보통신망법 §50 ⑦): "queued" in the outbox as optout-<id>, or "not_sent"
    # when no number (or sending agency) was left to send it with.
    notice: str | None = Field(default=None, max_length=16)
    # Why an admin made the change (the citizen's request, as the admin recorded it).
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CitizenNumber(SQLModel, table=True):
    """The encrypted number behind a keyed hash, kept only while the service owes it something.

    A number is kept here while an opt-out link sent to it may still be used (the result of
    using it must be notified to that number, 정보통신망법 §50 ⑦) and while an opt-out is in force
    for it (so the opt-out survives a key rotation, which must re-index it). The retention sweep
    moves a call's ciphertext here when the call no longer needs it, and deletes rows whose last
    contact is older than the link lifetime and that no opt-out needs.
    """

    __tablename__ = "citizen_number"

    id: int | None = Field(default=None, primary_key=True)
    callee_hash: str = Field(max_length=64, unique=True)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    key_version: int
    # The agency that last contacted the number (sends the notice when the link named none).
    agency_id: int | None = None
    last_contact_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
