"""The breaker's states under a fake clock."""

from __future__ import annotations

import pytest

from carriers.breaker import Breaker, BreakerState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _open(breaker: Breaker, failures: int) -> None:
    for _ in range(failures):
        assert breaker.allow()
        breaker.record_failure()


def test_closed_until_n_consecutive_failures(clock: FakeClock) -> None:
    breaker = Breaker(3, 10.0, clock=clock)
    assert breaker.state is BreakerState.closed
    _open(breaker, 2)
    assert breaker.consecutive_failures == 2
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is not BreakerState.closed
    assert str(breaker.state) == "open"
    assert not breaker.allow()


def test_success_resets_the_count(clock: FakeClock) -> None:
    breaker = Breaker(3, 10.0, clock=clock)
    _open(breaker, 2)
    breaker.record_success()
    assert breaker.consecutive_failures == 0
    _open(breaker, 2)
    assert breaker.state is BreakerState.closed


def test_half_open_lets_exactly_one_trial_through(clock: FakeClock) -> None:
    breaker = Breaker(2, 10.0, clock=clock)
    _open(breaker, 2)
    clock.advance(9.99)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.state is BreakerState.half_open
    assert breaker.allow()
    assert not breaker.allow()  # the trial is in flight
    assert breaker.state is BreakerState.half_open


def test_trial_success_closes(clock: FakeClock) -> None:
    breaker = Breaker(2, 10.0, clock=clock)
    _open(breaker, 2)
    clock.advance(10)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.closed
    assert breaker.allow()
    assert breaker.allow()


def test_trial_failure_opens_again_for_a_full_period(clock: FakeClock) -> None:
    breaker = Breaker(2, 10.0, clock=clock)
    _open(breaker, 2)
    clock.advance(10)
    assert breaker.allow()
    clock.advance(1)
    breaker.record_failure()  # one failure is enough in half-open
    assert breaker.state is BreakerState.open
    clock.advance(9.5)
    assert not breaker.allow()
    clock.advance(0.5)
    assert breaker.allow()


def test_a_trial_that_never_reports_does_not_block_forever(clock: FakeClock) -> None:
    breaker = Breaker(1, 5.0, clock=clock)
    _open(breaker, 1)
    clock.advance(5)
    assert breaker.allow()
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_an_inconclusive_call_neither_counts_nor_closes(clock: FakeClock) -> None:
    breaker = Breaker(2, 10.0, clock=clock)
    assert breaker.allow()
    breaker.record_failure()
    breaker.record_inconclusive()
    assert breaker.consecutive_failures == 1
    assert breaker.state is BreakerState.closed
    breaker.record_failure()
    assert breaker.state is BreakerState.open


def test_an_inconclusive_trial_lets_the_next_call_be_the_trial(clock: FakeClock) -> None:
    breaker = Breaker(1, 10.0, clock=clock)
    _open(breaker, 1)
    clock.advance(10)
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_inconclusive()
    assert breaker.state is BreakerState.half_open
    assert breaker.allow()  # a new trial at once, not after another 10 s
    assert not breaker.allow()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="failures"):
        Breaker(0, 1.0)
    with pytest.raises(ValueError, match="open_s"):
        Breaker(1, -1.0)
