"""The access log: every admin view that reveals a citizen's number. Append-only. Owned by lettering.audit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from lettering.core.db import UTCDateTime, utcnow


class AuditAccessLog(SQLModel, table=True):
    __tablename__ = "audit_access_log"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True)
    action: str = Field(max_length=32)  # e.g. reveal_number
    record_kind: str = Field(max_length=32)  # call_record | kakao_message | optout
    record_id: int
    reason: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
