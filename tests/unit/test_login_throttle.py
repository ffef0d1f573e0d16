"""Failed logins per (email, IP) in a sliding window."""

from __future__ import annotations

from lettering.users.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_max_failures_until_the_window_slides() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    key = ("a@example.kr", "10.0.0.1")
    for _ in range(3):
        assert throttle.retry_after(key) is None
        throttle.failed(key)
        clock.now += 10
    assert throttle.retry_after(key) == 30  # the first failure (t=1000) leaves the window at t=1060
    assert throttle.retry_after(("a@example.kr", "10.0.0.2")) is None
    assert throttle.retry_after(("b@example.kr", "10.0.0.1")) is None
    clock.now = 1060
    assert throttle.retry_after(key) is None


def test_success_forgets_the_failures() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=Clock())
    key = ("a@example.kr", "10.0.0.1")
    throttle.failed(key)
    throttle.succeeded(key)
    throttle.failed(key)
    assert throttle.retry_after(key) is None


def test_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=2, window_s=60, clock=clock, max_keys=100)
    for i in range(1000):
        clock.now += 0.001
        throttle.failed((f"u{i}@example.kr", "10.0.0.1"))
    assert len(throttle._failures) <= 100
