"""What the dashboard's figure routes answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AlimtalkSummary(BaseModel):
    agency: str  # the agency code asked for
    by_status: dict[str, int]  # every outbox status, 0 when none
    delivered: dict[str, int]  # alimtalk | sms | lms
    total: int


class IntervalOut(BaseModel):
    lower: float
    upper: float


class DifferenceOut(BaseModel):
    """The lettered arm's answer rate minus this arm's (the lift), with its 95 % interval."""

    estimate: float
    ci95: IntervalOut
    method: str = "Newcombe hybrid score (Wilson intervals per proportion; Newcombe 1998, method 10)"
    sufficient: bool


class ArmOut(BaseModel):
    arm: str  # lettered | identity_only | holdout
    calls: int  # calls whose call.ended was recorded
    answered: int
    answer_rate: float | None
    mean_talk_seconds: float | None  # over the answered calls
    difference_to_lettered: DifferenceOut | None


class HoldoutReportOut(BaseModel):
    agency: str
    department: str | None
    since: datetime | None
    until: datetime | None
    arms: list[ArmOut]
    sufficient: bool
    rule: str  # when the sample is too small
