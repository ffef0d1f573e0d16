"""What the campaign API takes and answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from campaigns.service import CampaignInput, CampaignProblem, ExtensionTarget


class ExtensionTargetIn(BaseModel):
    """An extension as the directory publishes it: its department's code and its number."""

    model_config = ConfigDict(extra="forbid")

    department: str
    extension: str


class CampaignIn(BaseModel):
    """A new campaign as the API takes it: shapes and types only. What the values may be is
    checked in one place, `campaigns.service.CampaignInput.problems()` (the console's forms go
    through it too), and every problem is named in one 422."""

    model_config = ConfigDict(extra="forbid")

    title: str
    starts_on: date
    ends_on: date
    kind: str = "promo"
    department: str | None = Field(default=None, description="The owning department's code.")
    weekdays: str = "0123456"
    hour_from: int = 0
    hour_until: int = 24
    priority: int = 0
    weight: int = 1
    cap_per_day: int | None = None
    cap_per_week: int | None = None
    cap_total: int | None = None
    post_call_card_news: bool = True
    youtube_url: str | None = None
    policy_url: str | None = None
    agency_wide: bool = False
    target_departments: list[str] = Field(default_factory=list, description="Department codes.")
    target_extensions: list[ExtensionTargetIn] = Field(default_factory=list)
    agency: str | None = Field(
        default=None, description="The agency's code: required for platform admins, optional for others."
    )

    def as_input(self) -> CampaignInput:
        return CampaignInput(
            **{
                **self.model_dump(),
                "target_departments": tuple(self.target_departments),
                "target_extensions": tuple(
                    ExtensionTarget(t.department, t.extension) for t in self.target_extensions
                ),
            }
        )


class CampaignPatch(BaseModel):
    """A draft's changes: only the fields sent change. The targets (`agency_wide`,
    `target_departments`, `target_extensions`) are one whole: sending any of them replaces all
    three, the ones not sent being empty. The values are checked as a new campaign's are."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    kind: str | None = None
    department: str | None = Field(default=None, description="The owning department's code.")
    weekdays: str | None = None
    hour_from: int | None = None
    hour_until: int | None = None
    priority: int | None = None
    weight: int | None = None
    cap_per_day: int | None = None
    cap_per_week: int | None = None
    cap_total: int | None = None
    post_call_card_news: bool | None = None
    youtube_url: str | None = None
    policy_url: str | None = None
    agency_wide: bool | None = None
    target_departments: list[str] | None = None
    target_extensions: list[ExtensionTargetIn] | None = None

    def applied_to(self, current: CampaignInput) -> CampaignInput:
        """`current` with the fields sent (a field sent as null is cleared: caps, addresses)."""
        sent = self.model_dump(exclude_unset=True)
        targets = {"agency_wide", "target_departments", "target_extensions"}
        changes = {k: v for k, v in sent.items() if k not in targets}
        nullable = {"department", "cap_per_day", "cap_per_week", "cap_total", "youtube_url", "policy_url"}
        missing = [k for k, v in changes.items() if v is None and k not in nullable]
        if missing:
            raise CampaignProblem(
                "; ".join(f"{k}: may not be null (leave it out to keep it)" for k in missing),
                korean=[f"{k} 값을 비울 수 없습니다" for k in missing],
            )
        if targets & sent.keys():
            changes["agency_wide"] = bool(sent.get("agency_wide"))
            changes["target_departments"] = tuple(sent.get("target_departments") or ())
            changes["target_extensions"] = tuple(
                ExtensionTarget(t["department"], t["extension"]) for t in sent.get("target_extensions") or ()
            )
        return replace(current, **changes)


class ImageOrderIn(BaseModel):
    """The images' new order: every current position once, the new first image first."""

    model_config = ConfigDict(extra="forbid")

    order: Annotated[list[Annotated[int, Field(ge=0, le=1000)]], Field(min_length=1, max_length=10)]


class ImageTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alt_text: Annotated[str, Field(min_length=1, max_length=300)]


class FieldProblem(BaseModel):
    """One field FastAPI's own validation refused (or the upload's form), as FastAPI writes it."""

    loc: list[str | int]
    msg: str
    type: str


class FieldProblems(BaseModel):
    """A 422 from the input's shape: each field and what is wrong with it."""

    detail: list[FieldProblem]


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
    kind: str  # agency | department | extension
    department: str | None  # the department's code
    extension: str | None


class CampaignOut(BaseModel):
    id: int
    agency_id: int
    department: str | None  # the owning department's code; None: the agency
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


class UploadWarning(BaseModel):
    """Something about an accepted image the editor should know: `upscaled` for a carrier whose
    frame enlarges it (by `factor`, into `frame`, e.g. "1080x1920")."""

    code: str
    carrier: str
    factor: float
    frame: str
    message: str


UPLOAD_FORM = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "alt_text"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "A JPEG or PNG (decided by its content); at most the upload limit "
                        "(10 MB by default); at least half of each carrier's frame in one direction.",
                    },
                    "alt_text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 300,
                        "description": "What the image shows, read aloud to blind citizens.",
                    },
                },
            }
        }
    },
}


class UploadedImage(BaseModel):
    position: int
    sha256: str
    width: int
    height: int
    warnings: list[UploadWarning] = Field(default_factory=list)


class HistoryEntry(BaseModel):
    """One line of a campaign's history: `action` is created, changed, image_added, image_removed,
    images_reordered, image_described, submitted, approved, rejected (`detail`: the reason), ended,
    or ended_by_schedule (`actor` null: the service's job)."""

    at: datetime
    actor: int | None
    action: str
    detail: str | None
