"""The AlimTalk outbox: one row per message to send. Owned by kakao_fallback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, Text
from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class KakaoMessage(SQLModel, table=True):
    """Written in the same transaction as the call record it belongs to; the relay sends it."""

    __tablename__ = "kakao_message"

    id: int | None = Field(default=None, primary_key=True)
    # At most one AlimTalk per call, whatever the order of its events.
    call_record_id: int | None = Field(default=None, foreign_key="call_record.id", unique=True)
    agency_id: int = Field(index=True)
    kind: str = Field(max_length=24)  # identity_notice | missed_call | post_call | optout_notice
    reason: str = Field(default="", max_length=32)  # why: unsupported_device, no_subscriber, ...
    recipient_hash: str = Field(max_length=64, index=True)
    recipient_ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)
    key_version: int = 1
    variables: str = Field(default="{}", sa_type=Text)  # JSON: template variables
    # queued -> sending (leased) -> accepted (by the dealer) -> delivered | failed;
    # or dead (gave up: expired, template or configuration error) / dropped (policy: opted out).
    status: str = Field(default="queued", max_length=16, index=True)
    attempts: int = 0
    idempotency_key: str = Field(max_length=64, unique=True)  # the row's own key (grouping key)
    # The request this row goes out in: kept across retries, so a retry reuses its idempotency key.
    batch_key: str | None = Field(default=None, max_length=40, index=True)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    # What the dealer said: acceptance, then the delivery result (a monotonic state machine).
    request_id: str | None = Field(default=None, max_length=64)
    recipient_seq: int | None = None
    delivery_status: str | None = Field(default=None, max_length=16)  # READY | COMPLETED | FAILED | CANCEL
    delivery_rank: int = 0
    result_code: str | None = Field(default=None, max_length=8)
    resend_status: str | None = Field(default=None, max_length=16)
    resend_type: str | None = Field(default=None, max_length=4)  # SMS | LMS asked of the dealer, if any
    channel: str | None = Field(default=None, max_length=8)  # alimtalk | sms | lms: what reached the phone
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    poll_attempts: int = 0
    # When the row's batch was first posted to the dealer: the dealer remembers an idempotency key
    # for 10 minutes only, so a batch is never re-posted past that window (see relay.py).
    first_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
