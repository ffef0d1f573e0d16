"""The opt-out API's bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OptoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(
        min_length=1, max_length=32, description="The citizen's mobile number, e.g. 010-1234-5678."
    )
    scope: Literal["promo", "all", "none"]
    agency_code: str | None = Field(
        default=None,
        max_length=32,
        description="The agency; '*' for every agency (platform admins only). Agency admins: their own.",
    )
    reason: str = Field(min_length=2, max_length=300, description="Why, e.g. 'phone request 2026-11-24'.")


class OptoutOut(BaseModel):
    changed: bool
    from_scope: str
    to_scope: str
    agency_code: str
    masked_number: str
    history_id: int | None
    notice: str  # queued | unchanged | not_sent
