"""Citizens' "this wasn't us" reports. Owned by lettering.verify."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class VerifySpoofReport(SQLModel, table=True):
    """A citizen says a call showing one of the city's numbers did not come from the city."""

    __tablename__ = "verify_spoof_report"

    id: int | None = Field(default=None, primary_key=True)
    shown_number: str = Field(max_length=20)  # the number the citizen saw (E.164), a public number
    agency_id: int | None = Field(default=None, index=True)  # the agency whose number it is, if any
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=500)
    ip_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
