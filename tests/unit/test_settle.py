"""settle(): the router's outcome and the agency's fallback policy, in the PBX response's terms."""

from __future__ import annotations

import pytest

from carriers.base import Outcome, PushResult
from carriers.routing import RouteOutcome, RouteResult
from lettering.decision.service import FallbackPolicy
from lettering.dispatch.service import Settled, settle

ALL_ON = FallbackPolicy(True, True, True)
ALL_OFF = FallbackPolicy(False, False, False)


def result(outcome: RouteOutcome, carrier: str | None = "kt") -> RouteResult:
    final = PushResult(carrier or "skt", Outcome.unavailable, "503", 10)
    return RouteResult(attempts=[final], final=final, outcome=outcome, subscriber_carrier=carrier)


@pytest.mark.parametrize(
    ("outcome", "policy", "expected"),
    [
        ("accepted", ALL_OFF, Settled("accepted", None, "kt", None)),
        ("unsupported_device", ALL_ON, Settled("fallback", "unsupported_device", "kt", "alimtalk")),
        ("unsupported_device", ALL_OFF, Settled("failed", "unsupported_device", "kt", None)),
        ("no_subscriber", ALL_ON, Settled("fallback", "no_subscriber", None, "alimtalk")),
        ("no_subscriber", ALL_OFF, Settled("failed", "no_subscriber", None, None)),
        ("rejected", ALL_ON, Settled("fallback", "carrier_rejected", "kt", "alimtalk")),
        ("failed", ALL_ON, Settled("fallback", "carrier_failure", "kt", "alimtalk")),
        ("failed", ALL_OFF, Settled("failed", "carrier_failure", "kt", None)),
        # Sent, but the service was too late to read the answer: overloaded, never a carrier
        # failure, and no notice whatever the policy (as for `expired`).
        ("late", ALL_ON, Settled("failed", "overloaded", "kt", None)),
    ],
)
def test_settle(outcome: RouteOutcome, policy: FallbackPolicy, expected: Settled) -> None:
    assert settle(result(outcome), policy) == expected
