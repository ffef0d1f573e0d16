"""Citizens' opt-out state and its append-only history. Owned by lettering.optout."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from lettering.db import UTCDateTime, utcnow

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
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
