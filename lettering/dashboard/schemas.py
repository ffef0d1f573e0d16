"""What the dashboard's figure routes answer."""

from __future__ import annotations

from pydantic import BaseModel


class AlimtalkSummary(BaseModel):
    agency: str  # the agency code asked for
    by_status: dict[str, int]  # every outbox status, 0 when none
    delivered: dict[str, int]  # alimtalk | sms | lms
    total: int
