"""What the directory's routes take and answer: holdout shares and promo freezes.

Shares are given in percent with at most two decimals (stored as basis points). Rule: each share
is 0-20 % and so is their sum, so at least 80 % of an agency's (or department's) calls are always
lettered: the experiment may never cost the service more than a fifth of its calls.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lettering.decision.arms import MAX_SHARE_BP
from lettering.directory.service import ELECTION_FREEZE_DAYS, election_freeze_range

MAX_PERCENT = MAX_SHARE_BP / 100

Percent = Annotated[float, Field(ge=0, le=MAX_PERCENT, allow_inf_nan=False)]


def _basis_points(value: float) -> float:
    if abs(round(value * 100) - value * 100) > 1e-6:
        raise ValueError("at most two decimals (a share is kept in 1/100 %)")
    return value


def bp(percent: float) -> int:
    return round(percent * 100)


class HoldoutSharesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holdout_percent: Percent = Field(description="Share of calls that get no lettering at all (0-20 %).")
    identity_only_percent: Percent = Field(
        default=0.0,
        description="Share of calls that get identity without any campaign (0-20 %, sum <= 20 %).",
    )

    @field_validator("holdout_percent", "identity_only_percent", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("a JSON number of percent, e.g. 10 or 2.5")
        return value

    @field_validator("holdout_percent", "identity_only_percent")
    @classmethod
    def _two_decimals(cls, value: float) -> float:
        return _basis_points(value)

    @field_validator("identity_only_percent")
    @classmethod
    def _sum_at_most_max(cls, value: float, info: ValidationInfo) -> float:
        holdout = info.data.get("holdout_percent")
        if holdout is not None and bp(holdout) + bp(value) > MAX_SHARE_BP:
            raise ValueError(f"holdout_percent + identity_only_percent must be at most {MAX_PERCENT:g} %")
        return value


class HoldoutSharesOut(BaseModel):
    holdout_percent: float
    identity_only_percent: float


class DepartmentSharesOut(HoldoutSharesOut):
    department: str  # the department code
    department_name: str


class HoldoutSettingsOut(BaseModel):
    agency: str
    holdout_percent: float
    identity_only_percent: float
    # The departments with shares of their own (the others follow the agency's).
    departments: list[DepartmentSharesOut]


class FreezeIn(BaseModel):
    """A promo freeze. Give `starts_on` and `ends_on`, or `election_day` alone for the preset
    (공직선거법 §86 ⑤: from 180 days before the election day to the election day); dates given
    with an election day are kept as given (the admin edited the preset)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[
        str, Field(min_length=1, max_length=120, description="Shown in the decision's explanation.")
    ]
    starts_on: date | None = Field(default=None, description="First day (Seoul), included.")
    ends_on: date | None = Field(default=None, description="Last day (Seoul), included.")
    election_day: date | None = Field(
        default=None, description=f"Presets the range: {ELECTION_FREEZE_DAYS} days before it to the day."
    )

    @field_validator("election_day")
    @classmethod
    def _preset_fits_the_calendar(cls, value: date | None) -> date | None:
        if value is not None:
            try:
                election_freeze_range(value)
            except OverflowError:
                raise ValueError(f"too early: {ELECTION_FREEZE_DAYS} days before it is not a date") from None
        return value

    @model_validator(mode="after")
    def _range(self) -> FreezeIn:
        if self.election_day is not None:
            first, last = election_freeze_range(self.election_day)
            self.starts_on = self.starts_on or first
            self.ends_on = self.ends_on or last
        return self

    def range_errors(self) -> list[dict[str, object]]:
        """What is wrong with the range, each error naming its field (FastAPI's 422 list)."""
        errors: list[dict[str, object]] = []
        for name in ("starts_on", "ends_on"):
            if getattr(self, name) is None:
                errors.append(
                    {"loc": ("body", name), "msg": "Field required (or give election_day)", "type": "missing"}
                )
        if self.starts_on is not None and self.ends_on is not None and self.ends_on < self.starts_on:
            errors.append(
                {"loc": ("body", "ends_on"), "msg": "must not be before starts_on", "type": "value_error"}
            )
        return errors

    def dates(self) -> tuple[date, date]:
        assert self.starts_on is not None
        assert self.ends_on is not None
        return self.starts_on, self.ends_on


class FreezeOut(BaseModel):
    id: int
    starts_on: date
    ends_on: date
    reason: str
    election_day: date | None
