"""The holdout shares and freeze bodies: what is refused, each refusal naming its field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from lettering.directory.schemas import FreezeIn, HoldoutSharesIn, bp


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"holdout_percent": True}, "holdout_percent"),
        ({"holdout_percent": "5"}, "holdout_percent"),
        ({"holdout_percent": float("nan")}, "holdout_percent"),
        ({"holdout_percent": float("inf")}, "holdout_percent"),
        ({"holdout_percent": 20.01}, "holdout_percent"),
        ({"holdout_percent": 0.001}, "holdout_percent"),
        ({"holdout_percent": 10, "identity_only_percent": 10.01}, "identity_only_percent"),
        ({"holdout_percent": 1, "identity_only_percent": -0.5}, "identity_only_percent"),
    ],
)
def test_shares_refused(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        HoldoutSharesIn.model_validate(body)
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


def test_shares_kept_in_basis_points() -> None:
    shares = HoldoutSharesIn.model_validate({"holdout_percent": 0.1 + 0.2, "identity_only_percent": 19.7})
    assert (bp(shares.holdout_percent), bp(shares.identity_only_percent)) == (30, 1970)


def test_election_preset_and_its_edit() -> None:
    preset = FreezeIn.model_validate({"reason": " 대통령선거 ", "election_day": "2027-03-03"})
    assert preset.dates() == (date(2026, 9, 4), date(2027, 3, 3))
    assert preset.reason == "대통령선거"
    edited = FreezeIn.model_validate({"reason": "x", "election_day": "2027-03-03", "ends_on": "2027-03-04"})
    assert edited.dates() == (date(2026, 9, 4), date(2027, 3, 4))
    assert edited.range_errors() == []


def test_range_errors_name_their_field() -> None:
    assert [e["loc"] for e in FreezeIn.model_validate({"reason": "x"}).range_errors()] == [
        ("body", "starts_on"),
        ("body", "ends_on"),
    ]
    backwards = FreezeIn.model_validate({"reason": "x", "starts_on": "2026-02-02", "ends_on": "2026-02-01"})
    assert [e["loc"] for e in backwards.range_errors()] == [("body", "ends_on")]
    with pytest.raises(ValidationError) as early:
        FreezeIn.model_validate({"reason": "x", "election_day": "0001-01-01"})
    assert early.value.errors()[0]["loc"] == ("election_day",)
