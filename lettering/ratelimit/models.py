"""Rate-limit counters shared by every worker. Owned by lettering.ratelimit."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class RateLimitBucket(SQLModel, table=True):
    """Uses of one key in one fixed window; the key is a keyed hash (never an email, IP or number)."""

    __tablename__ = "ratelimit_bucket"

    key: str = Field(primary_key=True, max_length=64)
    window_start: int = Field(primary_key=True)  # Unix seconds
    expires_at: int = Field(index=True)  # Unix seconds: window_start + the window's length
    count: int = 0
