"""The change counter every in-memory snapshot watches. Owned by lettering.snapshots."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class SnapshotVersion(SQLModel, table=True):
    """One row per snapshot source; bumped in the same transaction as the change it announces."""

    __tablename__ = "snapshot_version"

    name: str = Field(primary_key=True, max_length=32)
    version: int = 0
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
