"""Campaigns, their images and carrier renditions, targets and per-citizen counts. Owned by campaigns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow

STATES = ("draft", "submitted", "approved", "rejected", "ended")


class Campaign(SQLModel, table=True):
    """A department's (or the whole agency's) promotion on the ringing screen and after the call."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="directory_agency.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="directory_department.id")  # None: agency
    title: str = Field(max_length=80)
    kind: str = Field(default="promo", max_length=16)  # promo | emergency
    state: str = Field(default="draft", max_length=16, index=True)
    reject_reason: str | None = Field(default=None, max_length=500)
    slug: str = Field(max_length=32, unique=True)  # the public card-news page /c/{slug}
    # Schedule, Asia/Seoul: dates inclusive, weekdays "0123456" (Monday = 0), hours [from, until).
    starts_on: date
    ends_on: date
    weekdays: str = Field(default="0123456", max_length=7)
    hour_from: int = 0
    hour_until: int = 24
    priority: int = 0
    weight: int = 1
    cap_per_day: int | None = None  # per citizen
    cap_per_week: int | None = None  # per citizen, last 7 days
    cap_total: int | None = None  # impressions of the campaign
    impressions: int = 0
    # After the call: the card-news page, a YouTube video, a policy page.
    post_call_card_news: bool = True
    youtube_url: str | None = Field(default=None, max_length=500)
    policy_url: str | None = Field(default=None, max_length=500)
    created_by: int = Field(foreign_key="user_account.id")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignImage(SQLModel, table=True):
    """One image of a campaign (one, or a card-news series of up to 10), stored by content hash."""

    __tablename__ = "campaign_image"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int = 0
    alt_text: str = Field(max_length=300)
    original_sha256: str = Field(max_length=64)  # the upload as received (kept)
    clean_sha256: str = Field(max_length=64, index=True)  # re-encoded from pixels, no metadata
    mime_type: str = Field(max_length=16)
    width: int
    height: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignRendition(SQLModel, table=True):
    """An image made to one carrier's spec, and that carrier's approval of it."""

    __tablename__ = "campaign_rendition"
    __table_args__ = (UniqueConstraint("clean_sha256", "carrier"),)

    id: int | None = Field(default=None, primary_key=True)
    clean_sha256: str = Field(max_length=64)
    carrier: str = Field(max_length=8)
    sha256: str = Field(max_length=64)
    mime_type: str = Field(max_length=16)
    width: int
    height: int
    byte_size: int
    quality: int | None = None
    carrier_ref: str | None = Field(default=None, max_length=64)  # content id / key once registered
    carrier_status: str = Field(default="pending", max_length=16)  # pending | approved | rejected | inline
    carrier_reason: str | None = Field(default=None, sa_type=Text)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignTarget(SQLModel, table=True):
    """Who a campaign is for: the whole agency, departments, or single extensions."""

    __tablename__ = "campaign_target"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    kind: str = Field(max_length=12)  # agency | department | extension
    department_id: int | None = Field(default=None, foreign_key="directory_department.id")
    extension: str | None = Field(default=None, max_length=8)


class CampaignImpression(SQLModel, table=True):
    """Per-citizen counts for caps, in the database so every worker sees them."""

    __tablename__ = "campaign_impression"
    __table_args__ = (UniqueConstraint("campaign_id", "callee_hash", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    callee_hash: str = Field(max_length=64, index=True)
    day: date  # Asia/Seoul
    count: int = 0


class CampaignEvent(SQLModel, table=True):
    """What happened to a campaign, by whom and when: its history on the approver's page."""

    __tablename__ = "campaign_event"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")  # None: a job
    # created | changed | image_added | image_removed | images_reordered | image_described
    # | submitted | approved | rejected | ended | ended_by_schedule
    action: str = Field(max_length=24)
    detail: str | None = Field(default=None, max_length=500)  # e.g. the reason of a rejection
