"""Answer-rate figures of the holdout arms, and the lift of lettering with its 95 % interval.

Pure functions over per-arm counts (no database, no clock): `lettering.dashboard.router` reads the
counts from the call records (`call.ended` sets `answered` and `talk_seconds`) and hands them here.

The difference of an arm to the lettered arm is `p_lettered - p_arm` (the lift lettering gives
over that arm: positive when lettered calls are answered more often). Its interval is Newcombe's
hybrid score interval (Newcombe 1998, Statistics in Medicine 17:873-890, method 10): a Wilson
score interval (without continuity correction) for each proportion, combined as

    lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
    upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)

with p1 the lettered arm's rate and [l1, u1], [l2, u2] the Wilson intervals. It keeps close to
its nominal coverage for small samples and rates near 0 or 1, where the Wald interval does not.

The sample is too small (`sufficient` False) when either arm has fewer than MIN_CALLS ended calls
or the interval is wider than MAX_WIDTH (10 percentage points): below that the figure cannot
tell a lift of a few points from none, and the dashboard says so instead of showing a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lettering.decision.arms import ARMS

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile
MIN_CALLS = 30
MAX_WIDTH = 0.10
SUFFICIENCY_RULE = (
    f"too small when either arm has fewer than {MIN_CALLS} ended calls "
    f"or the 95 % interval is wider than {MAX_WIDTH * 100:g} percentage points"
)


@dataclass(frozen=True, slots=True)
class ArmCounts:
    """What the call records of one arm say: calls with `call.ended` recorded, how many of them
    were answered, and the talk seconds summed over the answered ones."""

    calls: int = 0
    answered: int = 0
    talk_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Interval:
    lower: float
    upper: float

    @property
    def width(self) -> float:
        return self.upper - self.lower


@dataclass(frozen=True, slots=True)
class Difference:
    """`p_lettered - p_arm` with its 95 % interval, and whether the sample is large enough."""

    estimate: float
    interval: Interval
    sufficient: bool


@dataclass(frozen=True, slots=True)
class ArmFigures:
    arm: str
    calls: int
    answered: int
    answer_rate: float | None  # None without calls
    mean_talk_seconds: float | None  # over answered calls; None without any
    # Against the lettered arm; None for the lettered arm itself, or when either arm has no calls.
    difference: Difference | None


@dataclass(frozen=True, slots=True)
class HoldoutReport:
    arms: tuple[ArmFigures, ...]
    sufficient: bool  # every compared arm's difference is sufficient (False when none can be compared)
    rule: str = SUFFICIENCY_RULE


def wilson(successes: int, n: int, z: float = Z_95) -> Interval:
    """The Wilson score interval of a proportion (no continuity correction)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    p = successes / n
    z2 = z * z
    centre = (2 * n * p + z2) / (2 * (n + z2))
    half = z * math.sqrt(4 * n * p * (1 - p) + z2) / (2 * (n + z2))
    # Clamped: at p = 0 or 1 the bound is exactly 0 or 1, rounding aside.
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z_95) -> tuple[float, Interval]:
    """`x1/n1 - x2/n2` and its hybrid score interval (Newcombe 1998, method 10)."""
    p1, p2 = x1 / n1, x2 / n2
    w1, w2 = wilson(x1, n1, z), wilson(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - w1.lower) ** 2 + (w2.upper - p2) ** 2)
    upper = d + math.sqrt((w1.upper - p1) ** 2 + (p2 - w2.lower) ** 2)
    return d, Interval(lower, upper)


def is_sufficient(n1: int, n2: int, interval: Interval) -> bool:
    """The rule of SUFFICIENCY_RULE."""
    return min(n1, n2) >= MIN_CALLS and interval.width <= MAX_WIDTH


def arm_report(counts: Mapping[str, ArmCounts]) -> HoldoutReport:
    """Per arm (lettered, identity_only, holdout, in that order): calls, answered, answer rate,
    mean talk time, and the lift of the lettered arm over it with its interval."""
    lettered = counts.get("lettered", ArmCounts())
    figures: list[ArmFigures] = []
    verdicts: list[bool] = []
    for arm in ARMS:
        c = counts.get(arm, ArmCounts())
        difference: Difference | None = None
        if arm != "lettered" and c.calls > 0 and lettered.calls > 0:
            estimate, interval = newcombe_difference(lettered.answered, lettered.calls, c.answered, c.calls)
            difference = Difference(estimate, interval, is_sufficient(lettered.calls, c.calls, interval))
            verdicts.append(difference.sufficient)
        figures.append(
            ArmFigures(
                arm=arm,
                calls=c.calls,
                answered=c.answered,
                answer_rate=c.answered / c.calls if c.calls else None,
                mean_talk_seconds=c.talk_seconds / c.answered if c.answered else None,
                difference=difference,
            )
        )
    return HoldoutReport(tuple(figures), bool(verdicts) and all(verdicts))
