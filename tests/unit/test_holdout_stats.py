"""The holdout figures: Wilson and Newcombe intervals against published values and an independent
computation, the sufficiency rule, and the per-arm report."""

from __future__ import annotations

import math

import pytest

from lettering.dashboard.stats import (
    MAX_WIDTH,
    MIN_CALLS,
    ArmCounts,
    Interval,
    arm_report,
    is_sufficient,
    newcombe_difference,
    wilson,
)

# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873-890, Table II, method 10 (hybrid
# score interval without continuity correction): (x1, n1, x2, n2) -> (difference, lower, upper).
# 56/70 - 48/80 is 0.8000 - 0.6000 = 0.2000 (the interval 0.0524 to 0.3339 is the paper's).
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
    ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
]


def wilson_by_bisection(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """An independent computation of the Wilson interval: the two roots of the score equation
    |p̂ - p| = z * sqrt(p (1 - p) / n), found by bisection (no closed form)."""
    p_hat = x / n

    def outside(p: float) -> bool:
        return abs(p_hat - p) > z * math.sqrt(p * (1 - p) / n)

    def root(inside: float, out: float) -> float:
        for _ in range(200):
            mid = (inside + out) / 2
            if outside(mid):
                out = mid
            else:
                inside = mid
        return (inside + out) / 2

    lower = 0.0 if x == 0 else root(p_hat, 0.0)
    upper = 1.0 if x == n else root(p_hat, 1.0)
    return lower, upper


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_matches_the_paper(
    counts: tuple[int, int, int, int], published: tuple[float, float, float]
) -> None:
    d, interval = newcombe_difference(*counts)
    assert (round(d, 4), round(interval.lower, 4), round(interval.upper, 4)) == published


@pytest.mark.parametrize(("x", "n"), [(0, 10), (1, 29), (48, 80), (56, 70), (10, 10), (523, 1000)])
def test_wilson_agrees_with_the_score_equation(x: int, n: int) -> None:
    lower, upper = wilson_by_bisection(x, n)
    got = wilson(x, n)
    assert got.lower == pytest.approx(lower, abs=1e-9)
    assert got.upper == pytest.approx(upper, abs=1e-9)


def test_newcombe_from_independent_wilson_bounds() -> None:
    l1, u1 = wilson_by_bisection(610, 1000)
    l2, u2 = wilson_by_bisection(52, 100)
    d = 0.61 - 0.52
    d_got, interval = newcombe_difference(610, 1000, 52, 100)
    assert d_got == pytest.approx(d)
    assert interval.lower == pytest.approx(d - math.hypot(0.61 - l1, u2 - 0.52), abs=1e-9)
    assert interval.upper == pytest.approx(d + math.hypot(u1 - 0.61, 0.52 - l2), abs=1e-9)


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson(3, 0)
    with pytest.raises(ValueError, match="successes"):
        wilson(5, 4)


def test_sufficiency_rule() -> None:
    narrow = Interval(0.0, MAX_WIDTH)
    assert is_sufficient(MIN_CALLS, 5000, narrow)
    assert not is_sufficient(MIN_CALLS - 1, 5000, narrow)
    assert not is_sufficient(5000, 5000, Interval(0.0, MAX_WIDTH + 0.001))


def test_report_per_arm() -> None:
    report = arm_report(
        {
            "lettered": ArmCounts(calls=9000, answered=5490, talk_seconds=5490 * 60),
            "holdout": ArmCounts(calls=1000, answered=520, talk_seconds=520 * 50),
        }
    )
    lettered, identity_only, holdout = report.arms
    assert (lettered.arm, identity_only.arm, holdout.arm) == ("lettered", "identity_only", "holdout")
    assert lettered.answer_rate == pytest.approx(0.61)
    assert lettered.mean_talk_seconds == pytest.approx(60)
    assert lettered.difference is None
    assert identity_only.calls == 0
    assert identity_only.answer_rate is None
    assert identity_only.difference is None
    assert holdout.answer_rate == pytest.approx(0.52)
    assert holdout.mean_talk_seconds == pytest.approx(50)
    assert holdout.difference is not None
    assert holdout.difference.estimate == pytest.approx(0.09)
    assert holdout.difference.interval.lower < 0.09 < holdout.difference.interval.upper
    assert holdout.difference.sufficient
    assert report.sufficient
    assert "30" in report.rule
    assert "10 percentage points" in report.rule


def test_small_sample_is_not_sufficient() -> None:
    report = arm_report({"lettered": ArmCounts(36, 22, 1000), "holdout": ArmCounts(4, 2, 100)})
    assert not report.sufficient
    assert report.arms[2].difference is not None
    assert not report.arms[2].difference.sufficient


def test_no_comparison_is_not_sufficient() -> None:
    assert not arm_report({"lettered": ArmCounts(5000, 3000, 0)}).sufficient
    assert not arm_report({}).sufficient
