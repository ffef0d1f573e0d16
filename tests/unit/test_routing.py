"""route_push over fake adapters: order, stop rules, throttle retry, deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from carriers.base import CarrierAdapter, Lettering, Outcome, PushResult
from carriers.http import SERVICE_LATE
from carriers.routing import carrier_sequence, route_push
from lettering.decision.service import FallbackPolicy
from lettering.dispatch.service import Settled, settle

LETTERING = Lettering(
    request_id="call-1",
    caller="+823151802114",
    callee="+821000000030",
    agency_name="한빛특례시",
    department_name="민원여권과",
    guidance="여권 발급 관련 안내 전화입니다",
)


class FakeAdapter(CarrierAdapter):
    """Answers from a script; records when it was pushed."""

    def __init__(
        self,
        name: str,
        outcomes: Sequence[Outcome],
        *,
        retry_after_s: float | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self._outcomes = list(outcomes)
        self._retry_after_s = retry_after_s
        self._delay_s = delay_s
        self.calls: list[float] = []

    async def push(self, lettering: Lettering, deadline: float) -> PushResult:
        self.calls.append(time.monotonic())
        assert time.monotonic() < deadline, "pushed after the deadline"
        if self._delay_s:
            await asyncio.sleep(min(self._delay_s, max(0.0, deadline - time.monotonic())))
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        return PushResult(
            carrier=self.name,
            outcome=outcome,
            code=str(outcome),
            latency_ms=0,
            retry_after_s=self._retry_after_s if outcome is Outcome.throttled else None,
        )


def _adapters(**outcomes: Sequence[Outcome] | FakeAdapter) -> dict[str, FakeAdapter]:
    return {
        name: value if isinstance(value, FakeAdapter) else FakeAdapter(name, value)
        for name, value in outcomes.items()
    }


ORDER = ("skt", "kt", "lgu")
NS, OK, UNSUP, REJ, THR, DOWN = (
    Outcome.not_subscriber,
    Outcome.accepted,
    Outcome.unsupported_device,
    Outcome.rejected,
    Outcome.throttled,
    Outcome.unavailable,
)


def _deadline(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


def test_carrier_sequence_puts_learned_first_once() -> None:
    adapters = _adapters(skt=[NS], kt=[NS], lgu=[NS])
    assert carrier_sequence(adapters, ORDER, "lgu") == ["lgu", "skt", "kt"]
    assert carrier_sequence(adapters, ORDER, None) == ["skt", "kt", "lgu"]
    assert carrier_sequence(adapters, ORDER, "unknown") == ["skt", "kt", "lgu"]
    assert carrier_sequence(adapters, ("kt", "kt", "mvno"), None) == ["kt"]


async def test_learned_route_is_tried_first_and_accepts() -> None:
    adapters = _adapters(skt=[NS], kt=[NS], lgu=[OK])
    result = await route_push(adapters, ORDER, "lgu", LETTERING, _deadline())
    assert result.outcome == "accepted"
    assert [a.carrier for a in result.attempts] == ["lgu"]
    assert result.subscriber_carrier == "lgu"
    assert not result.forget_learned
    assert adapters["skt"].calls == []


async def test_not_subscriber_moves_on_to_the_next_carrier() -> None:
    adapters = _adapters(skt=[NS], kt=[OK], lgu=[OK])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "accepted"
    assert [a.carrier for a in result.attempts] == ["skt", "kt"]
    assert result.final is not None
    assert result.final.carrier == "kt"
    assert result.subscriber_carrier == "kt"
    assert adapters["lgu"].calls == []


async def test_unsupported_device_stops_and_is_learned() -> None:
    adapters = _adapters(skt=[UNSUP], kt=[OK], lgu=[OK])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "unsupported_device"
    assert result.subscriber_carrier == "skt"
    assert len(result.attempts) == 1


async def test_rejected_stops_without_learning() -> None:
    adapters = _adapters(skt=[NS], kt=[REJ], lgu=[OK])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "rejected"
    assert result.subscriber_carrier is None
    assert adapters["lgu"].calls == []


async def test_ported_away_number_forgets_the_learned_route() -> None:
    adapters = _adapters(skt=[OK], kt=[NS], lgu=[NS])
    result = await route_push(adapters, ORDER, "kt", LETTERING, _deadline())
    assert result.outcome == "accepted"
    assert result.forget_learned
    assert result.subscriber_carrier == "skt"
    assert [a.carrier for a in result.attempts] == ["kt", "skt"]


async def test_all_not_subscriber_is_no_subscriber() -> None:
    adapters = _adapters(skt=[NS], kt=[NS], lgu=[NS])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "no_subscriber"
    assert len(result.attempts) == 3
    assert result.subscriber_carrier is None


async def test_any_failure_makes_it_failed_not_no_subscriber() -> None:
    adapters = _adapters(skt=[NS], kt=[DOWN], lgu=[NS])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "failed"
    assert [a.outcome for a in result.attempts] == [NS, DOWN, NS]


async def test_unavailable_moves_on_and_a_later_carrier_may_accept() -> None:
    adapters = _adapters(skt=[DOWN], kt=[OK], lgu=[NS])
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert result.outcome == "accepted"
    assert result.subscriber_carrier == "kt"


async def test_throttle_is_retried_once_after_retry_after() -> None:
    skt = FakeAdapter("skt", [THR, OK], retry_after_s=0.05)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    result = await route_push({"skt": skt}, ORDER, None, LETTERING, _deadline(), sleep=fake_sleep)
    assert result.outcome == "accepted"
    assert [a.outcome for a in result.attempts] == [THR, OK]
    assert slept == [0.05]


async def test_throttle_without_retry_after_uses_short_jitter() -> None:
    skt = FakeAdapter("skt", [THR, OK])
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    result = await route_push(
        {"skt": skt}, ORDER, None, LETTERING, _deadline(), sleep=fake_sleep, rng=lambda: 0.5
    )
    assert result.outcome == "accepted"
    assert len(slept) == 1
    assert 0 < slept[0] <= 0.25


async def test_throttle_retried_only_once_then_moves_on() -> None:
    adapters = _adapters(skt=[THR], kt=[NS], lgu=[NS])
    adapters["skt"] = FakeAdapter("skt", [THR], retry_after_s=0.01)
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline())
    assert [a.carrier for a in result.attempts] == ["skt", "skt", "kt", "lgu"]
    assert result.outcome == "failed"


async def test_throttle_not_retried_when_the_wait_does_not_fit() -> None:
    adapters = _adapters(skt=[THR], kt=[OK])
    adapters["skt"] = FakeAdapter("skt", [THR, OK], retry_after_s=5.0)
    started = time.monotonic()
    result = await route_push(adapters, ORDER, None, LETTERING, _deadline(1.0))
    assert time.monotonic() - started < 0.5  # did not wait 5 s
    assert [a.carrier for a in result.attempts] == ["skt", "kt"]
    assert result.outcome == "accepted"


async def test_nothing_is_pushed_after_the_deadline() -> None:
    slow = FakeAdapter("skt", [DOWN], delay_s=1.0)
    adapters: dict[str, CarrierAdapter] = {"skt": slow, "kt": FakeAdapter("kt", [OK])}
    started = time.monotonic()
    result = await route_push(adapters, ORDER, None, LETTERING, started + 0.1)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3
    assert [a.carrier for a in result.attempts] == ["skt"]
    assert result.outcome == "failed"


async def test_deadline_already_passed_pushes_nothing() -> None:
    adapters = _adapters(skt=[OK])
    result = await route_push(adapters, ORDER, None, LETTERING, time.monotonic() - 1)
    assert result.attempts == []
    assert result.final is None
    # Not a carrier failure: the service was too late (recorded as overloaded, never carrier_failure).
    assert result.outcome == "expired"
    assert settle(result, FallbackPolicy()) == Settled("failed", "overloaded", None, None)


@pytest.mark.parametrize("learned", [None, "skt"])
async def test_no_adapters_is_failed(learned: str | None) -> None:
    result = await route_push({}, ORDER, learned, LETTERING, _deadline())
    assert result.outcome == "failed"
    assert result.attempts == []


class LateAdapter(FakeAdapter):
    """A push the service itself was too late for (what HttpAdapter answers then)."""

    async def push(self, lettering: Lettering, deadline: float) -> PushResult:
        self.calls.append(time.monotonic())
        return PushResult(carrier=self.name, outcome=DOWN, code=SERVICE_LATE, latency_ms=0)


async def test_a_push_the_service_was_too_late_for_is_overloaded_not_a_carrier_failure() -> None:
    adapters: dict[str, CarrierAdapter] = {"skt": LateAdapter("skt", [DOWN]), "kt": FakeAdapter("kt", [NS])}
    result = await route_push(adapters, ("kt", "skt"), None, LETTERING, _deadline())
    assert [a.carrier for a in result.attempts] == ["kt", "skt"]
    assert result.outcome == "late"
    assert settle(result, FallbackPolicy()) == Settled("failed", "overloaded", "skt", None)


async def test_a_carrier_that_failed_before_a_late_push_is_still_a_carrier_failure() -> None:
    adapters: dict[str, CarrierAdapter] = {"skt": FakeAdapter("skt", [DOWN]), "kt": LateAdapter("kt", [DOWN])}
    result = await route_push(adapters, ("skt", "kt"), None, LETTERING, _deadline())
    assert result.outcome == "failed"
    assert settle(result, FallbackPolicy()).reason == "carrier_failure"
