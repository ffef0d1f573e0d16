"""What the campaign API takes and answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from campaigns.service import CampaignInput, ExtensionTarget


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
