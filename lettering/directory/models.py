"""Directory tables: agency -> department -> extension. Owned by lettering.directory."""

from __future__ import annotations

import secrets
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class DirectoryAgency(SQLModel, table=True):
    __tablename__ = "directory_agency"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=64)
    default_guidance: str = Field(max_length=120)
    enabled: bool = True
    # Fallback policy: which push outcomes go to AlimTalk instead.
    fallback_unsupported: bool = True
    fallback_no_subscriber: bool = True
    fallback_carrier_failure: bool = True
    # A setup shed at the admission limit (the service was overloaded) gets an AlimTalk notice:
    # off unless the agency turns it on (under overload it adds outbox rows and dealer traffic).
    fallback_shed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Holdout arms (the answer-rate lift, lettering/holdout): shares of calls in basis points
    # (1/100 %) that get no lettering at all / identity without any campaign. Off (0) by default.
    holdout_bp: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    identity_only_bp: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The key of the arm's hash (hex of 16 random bytes): made with the agency, never shown.
    holdout_salt: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DirectoryDepartment(SQLModel, table=True):
    __tablename__ = "directory_department"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="directory_agency.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=64)
    parent_unit: str = Field(default="", max_length=64)
    guidance: str = Field(default="", max_length=120)
    # The department's own holdout shares (basis points); None: the agency's apply.
    holdout_bp: int | None = None
    identity_only_bp: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DirectoryExtension(SQLModel, table=True):
    __tablename__ = "directory_extension"
    __table_args__ = (UniqueConstraint("agency_id", "extension"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="directory_agency.id")
    department_id: int = Field(foreign_key="directory_department.id", index=True)
    extension: str = Field(max_length=8)
    team_name: str = Field(default="", max_length=64)
    caller_number: str = Field(max_length=20)  # national form as published, e.g. 031-5180-2114
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DirectoryFreeze(SQLModel, table=True):
    """A promo freeze: from `starts_on` to `ends_on` (Seoul dates, both included) no promo
    campaign is sent for the agency's calls; identity and emergency campaigns still are."""

    __tablename__ = "directory_freeze"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="directory_agency.id", index=True)
    starts_on: date
    ends_on: date
    reason: str = Field(max_length=120)
    election_day: date | None = None  # when the range was preset from an election
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
