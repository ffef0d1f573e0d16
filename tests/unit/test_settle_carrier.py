"""The carrier a failed push reports: the one whose push failed last, never one that said "not ours"."""

from __future__ import annotations

from carriers.base import Outcome, PushResult
from carriers.routing import RouteResult
from lettering.decision.service import FallbackPolicy
from lettering.dispatch.service import settle

ALL_ON = FallbackPolicy(True, True, True)


def failed(*attempts: tuple[str, Outcome]) -> RouteResult:
    pushes = [PushResult(carrier, outcome, "x", 5) for carrier, outcome in attempts]
    return RouteResult(attempts=pushes, final=pushes[-1] if pushes else None, outcome="failed")


def test_an_skt_failure_then_not_subscribers_reports_skt() -> None:
    result = failed(
        ("skt", Outcome.unavailable), ("kt", Outcome.not_subscriber), ("lgu", Outcome.not_subscriber)
    )
    assert settle(result, ALL_ON).carrier == "skt"


def test_only_not_subscribers_before_the_window_closed_report_none() -> None:
    result = failed(("skt", Outcome.not_subscriber), ("kt", Outcome.not_subscriber))
    assert settle(result, ALL_ON).carrier is None
    assert settle(failed(), ALL_ON).carrier is None


def test_the_last_failure_counts() -> None:
    result = failed(("skt", Outcome.unavailable), ("kt", Outcome.throttled), ("lgu", Outcome.not_subscriber))
    assert settle(result, ALL_ON).carrier == "kt"
