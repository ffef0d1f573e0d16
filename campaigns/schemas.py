"""What the campaign API takes and answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=80)]
    starts_on: date
    ends_on: date
    kind: str = "promo"
    department_id: int | None = None
    weekdays: str = "0123456"
    hour_from: Annotated[int, Field(ge=0, le=23)] = 0
    hour_until: Annotated[int, Field(ge=1, le=24)] = 24
    priority: Annotated[int, Field(ge=0, le=100)] = 0
    weight: Annotated[int, Field(ge=0, le=1000)] = 1
    cap_per_day: Annotated[int | None, Field(ge=1)] = None
    cap_per_week: Annotated[int | None, Field(ge=1)] = None
    cap_total: Annotated[int | None, Field(ge=1)] = None
    post_call_card_news: bool = True
    youtube_url: Annotated[str | None, Field(max_length=500)] = None
    policy_url: Annotated[str | None, Field(max_length=500)] = None
    agency_wide: bool = False
    target_departments: list[int] = Field(default_factory=list, max_length=200)
    target_extensions: list[str] = Field(default_factory=list, max_length=5000)
    agency_id: int | None = None


class RejectIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class Caps(BaseModel):
    per_day: int | None
    per_week: int | None
    total: int | None


class PostCall(BaseModel):
    card_news: bool
    youtube_url: str | None
    policy_url: str | None


class ImageOut(BaseModel):
    position: int
    alt_text: str
    sha256: str
    width: int
    height: int


class TargetOut(BaseModel):
    kind: str
    department_id: int | None
    extension: str | None


class CampaignOut(BaseModel):
    id: int
    agency_id: int
    department_id: int | None
    title: str
    kind: str
    state: str
    reject_reason: str | None
    slug: str | None
    starts_on: str  # ISO date
    ends_on: str
    weekdays: str
    hour_from: int
    hour_until: int
    priority: int
    weight: int
    caps: Caps
    impressions: int
    post_call: PostCall
    images: list[ImageOut]
    targets: list[TargetOut]
    created_by: int | None
    decided_by: int | None


class CampaignSummary(BaseModel):
    id: int
    title: str
    state: str
    agency_id: int


class UploadedImage(BaseModel):
    position: int
    sha256: str
    width: int
    height: int
