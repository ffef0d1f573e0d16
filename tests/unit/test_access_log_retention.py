"""The access log of revealed numbers is kept as the PIPA safety standard asks: two years by
default, and a setting below one year is refused with a message naming the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from lettering.core.settings import Settings, describe_refusal


@pytest.fixture(autouse=True)
def dev_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LETTERING_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LETTERING_ENV", "dev")


def test_the_default_is_two_years() -> None:
    assert Settings(_env_file=None).access_log_retention_days == 730  # type: ignore[call-arg]


def test_one_year_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETTERING_ACCESS_LOG_RETENTION_DAYS", "365")
    assert Settings(_env_file=None).access_log_retention_days == 365  # type: ignore[call-arg]


@pytest.mark.parametrize("days", ["364", "90", "0", "-1"])
def test_less_than_a_year_is_refused(monkeypatch: pytest.MonkeyPatch, days: str) -> None:
    monkeypatch.setenv("LETTERING_ACCESS_LOG_RETENTION_DAYS", days)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    message = describe_refusal(refused.value)
    assert "LETTERING_ACCESS_LOG_RETENTION_DAYS" in message
    assert "at least 365 days" in message
