"""What the audit routes answer."""

from __future__ import annotations

from pydantic import BaseModel


class RevealedNumber(BaseModel):
    call_id: int
    number: str  # national format, e.g. 010-1234-5678
    access_log_id: int | None
