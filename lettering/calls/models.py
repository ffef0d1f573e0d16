"""Call records and carrier attempts. Owned by lettering.calls."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class CallRecord(SQLModel, table=True):
    """Everything known about one call; events may fill it in any order."""

    __tablename__ = "call_record"
    __table_args__ = (
        UniqueConstraint("pbx_id", "call_id"),
        # Calls still without a final outcome, for the dispatch.settle_interrupted job: a partial
        # index stays as small as the calls in flight, where a scan would read 90 days of calls.
        Index(
            "ix_call_record_open_setups",
            "setup_received_at",
            sqlite_where=text("final_outcome IS NULL"),
            postgresql_where=text("final_outcome IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=32, unique=True)  # request id sent to carriers
    # The short code a citizen checks this call with at /verify (shown in the lettering and AlimTalk).
    verify_code: str | None = Field(default=None, max_length=8, index=True)
    pbx_id: str = Field(max_length=64)
    call_id: str = Field(max_length=128)
    agency_id: int | None = Field(default=None, index=True)
    extension: str | None = Field(default=None, max_length=8)
    department_id: int | None = None
    caller_e164: str | None = Field(default=None, max_length=20)
    # The citizen: keyed hash for lookups, AES-GCM ciphertext while something may still need it.
    callee_hash: str | None = Field(default=None, max_length=64, index=True)
    callee_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    callee_key_version: int | None = None
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    setup_received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the PBX was told at setup ...
    lettering: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=32)
    elapsed_ms: int | None = None
    # ... and how the push finally ended (may be later than the response: `pending`).
    final_outcome: str | None = Field(default=None, max_length=16)
    final_reason: str | None = Field(default=None, max_length=32)
    carrier: str | None = Field(default=None, max_length=8)
    campaign_id: int | None = None
    fallback: str | None = Field(default=None, max_length=16)
    display_result: str | None = Field(default=None, max_length=16)  # LG U+ report
    # The holdout arm of the call: lettered | identity_only | holdout (lettering/holdout).
    arm: str = Field(default="lettered", max_length=16, sa_column_kwargs={"server_default": "lettered"})
    explanation: str = Field(default="[]", sa_type=Text)  # JSON list of strings
    notes: str = Field(default="[]", sa_type=Text)  # JSON list of strings (text cuts, dropped media)
    answered: bool | None = None
    talk_seconds: int | None = None
    end_cause: str | None = Field(default=None, max_length=16)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CallAttempt(SQLModel, table=True):
    """One push to one carrier for a call."""

    __tablename__ = "call_attempt"

    id: int | None = Field(default=None, primary_key=True)
    call_record_id: int = Field(foreign_key="call_record.id", index=True)
    carrier: str = Field(max_length=8)
    outcome: str = Field(max_length=24)
    code: str = Field(max_length=32)
    latency_ms: int
    provider_ref: str | None = Field(default=None, max_length=64, index=True)
    notes: str = Field(default="[]", sa_type=Text)
    report_result: str | None = Field(default=None, max_length=16)
    report_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CallDay(SQLModel, table=True):
    """The dashboard's rollup of call records: counts per Seoul day, agency, department, carrier,
    outcome and holdout arm (kept by the `calls.rollup` job, lettering/calls/rollup.py).

    Each (day, agency) has two sets of rows: `whole_agency` rows (department_id NULL) summing every
    department, which the unfiltered dashboard reads, and per-department rows (department_id NULL
    there: calls of an extension the directory did not know), which a department filter reads.
    """

    __tablename__ = "call_day"
    __table_args__ = (
        Index(
            "ix_call_day_agency_id_whole_agency_department_id_day",
            "agency_id",
            "whole_agency",
            "department_id",
            "day",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)  # Asia/Seoul, of `call_record.created_at`
    agency_id: int
    whole_agency: bool
    department_id: int | None = None
    carrier: str | None = Field(default=None, max_length=8)
    lettering: str | None = Field(default=None, max_length=16)
    final_outcome: str | None = Field(default=None, max_length=16)
    arm: str = Field(max_length=16)
    calls: int  # setups recorded
    answered: int
    talk_seconds: int  # over every call (the daily table's figure)
    # The holdout figures: calls that reached the arm's choice and whose call.ended was recorded.
    ended: int
    ended_answered: int
    ended_talk_seconds: int  # over the answered ones
    built_at: datetime = Field(sa_type=UTCDateTime)


class CallHour(SQLModel, table=True):
    """Calls per Seoul day and hour of day (the hourly chart), in the two sets of rows of CallDay."""

    __tablename__ = "call_hour"
    __table_args__ = (
        Index(
            "ix_call_hour_agency_id_whole_agency_department_id_day",
            "agency_id",
            "whole_agency",
            "department_id",
            "day",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    hour: int
    agency_id: int
    whole_agency: bool
    department_id: int | None = None
    calls: int
    answered: int
    talk_seconds: int


class CallCampaignDay(SQLModel, table=True):
    """Calls per Seoul day and campaign (impressions per campaign), in the two sets of rows of CallDay."""

    __tablename__ = "call_campaign_day"
    __table_args__ = (
        Index(
            "ix_call_campaign_day_agency_id_whole_agency_department_id_day",
            "agency_id",
            "whole_agency",
            "department_id",
            "day",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    campaign_id: int
    agency_id: int
    whole_agency: bool
    department_id: int | None = None
    calls: int  # calls that carried the campaign
    shown: int  # of which a carrier showed the lettering


class CallRollupMark(SQLModel, table=True):
    """One row: when the rollup was last brought up to date. Every day before that moment's Seoul
    day is in CallDay/CallHour; the dashboard reads the raw records from that day on."""

    __tablename__ = "call_rollup_mark"

    id: int | None = Field(default=None, primary_key=True)
    built_at: datetime = Field(sa_type=UTCDateTime)  # when the run that wrote it started
