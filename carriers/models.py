"""Learned routes: which carrier last knew a callee. Owned by carriers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class CarrierRoute(SQLModel, table=True):
    __tablename__ = "carrier_route"

    callee_hash: str = Field(primary_key=True, max_length=64)
    carrier: str = Field(max_length=8)
    learned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
