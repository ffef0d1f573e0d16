"""Sending hours and the delivery-result state machine (property-tested)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from kakao_fallback.policy import DELIVERY_RANK, backoff_s, merge_delivery, next_send_time
from lettering.core.clock import SEOUL


def kst(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SEOUL).astimezone(UTC)


def test_inside_the_window_sends_now() -> None:
    assert next_send_time(kst(8, 0), "08:00", "21:00") is None
    assert next_send_time(kst(20, 59), "08:00", "21:00") is None


def test_late_evening_waits_for_tomorrow_morning() -> None:
    assert next_send_time(kst(21, 0), "08:00", "21:00") == kst(8, 0, day=25)
    assert next_send_time(kst(23, 30), "08:00", "21:00") == kst(8, 0, day=25)


def test_early_morning_waits_for_the_same_morning() -> None:
    assert next_send_time(kst(6, 15), "08:00", "21:00") == kst(8, 0)


statuses = st.sampled_from(sorted(DELIVERY_RANK))


@given(st.lists(statuses, min_size=1, max_size=30))
def test_any_order_and_duplication_ends_in_the_highest_precedence_state(results: list[str]) -> None:
    state: str | None = None
    for result in results:
        state = merge_delivery(state, result)
    assert state == max(results, key=DELIVERY_RANK.__getitem__)


@given(st.lists(statuses, min_size=1, max_size=30), st.randoms())
def test_the_end_state_does_not_depend_on_the_order(results: list[str], rnd: object) -> None:
    shuffled = list(results)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a: str | None = None
    b: str | None = None
    for x, y in zip(results, shuffled, strict=True):
        a, b = merge_delivery(a, x), merge_delivery(b, y)
    assert a == b


def test_a_late_ready_never_overwrites_completed() -> None:
    assert merge_delivery("COMPLETED", "READY") == "COMPLETED"
    assert merge_delivery("READY", "COMPLETED") == "COMPLETED"


@given(st.integers(0, 100), st.floats(0, 1))
def test_backoff_is_bounded(attempt: int, rnd: float) -> None:
    assert 0 <= backoff_s(attempt, 1.0, 300.0, rnd) <= 300.0


def test_a_window_to_midnight_includes_the_last_minute() -> None:
    assert next_send_time(kst(23, 59), "00:00", "24:00") is None
    assert next_send_time(kst(0, 0), "00:00", "24:00") is None
