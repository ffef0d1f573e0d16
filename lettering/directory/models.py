"""Directory tables: agency -> department -> extension. Owned by lettering.directory."""

from __future__ import annotations

from datetime import datetime

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
