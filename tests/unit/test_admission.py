"""Admission control follows what the worker manages: the limit falls when setups spend too much
of the hold budget before their push, and recovers when they are quick again."""

from __future__ import annotations

from unittest import mock

from lettering.webhook.admission import BACKOFF, MIN_LIMIT, Admission


def _run(
    admission: Admission, concurrent: int, local_s: float, rounds: int = 60, start: float = 1000.0
) -> None:
    clock = start
    for _ in range(rounds):
        tickets = [admission.enter(clock, 0.5) for _ in range(concurrent)]
        with mock.patch("lettering.webhook.admission.time.monotonic", return_value=clock + local_s):
            for ticket in tickets:
                ticket.leave()
                ticket.leave()  # idempotent
        clock += 1


def test_slow_local_stage_lowers_the_limit_and_quick_raises_it() -> None:
    admission = Admission(128)
    assert admission.admit()
    _run(admission, concurrent=60, local_s=0.45)  # 90 % of the budget before the push
    assert admission.local == 0
    assert MIN_LIMIT <= admission.limit < 60 * 0.3 / 0.9 + 5  # about what fits in 30 %
    slow = admission.limit
    _run(admission, concurrent=20, local_s=0.01)  # quick again
    assert admission.limit > 3 * slow


def test_never_below_the_floor_nor_above_the_setting() -> None:
    admission = Admission(16)
    _run(admission, concurrent=4, local_s=5.0)
    assert admission.limit >= MIN_LIMIT
    _run(admission, concurrent=4, local_s=0.0001)
    assert admission.limit <= 16
    for _ in range(16):
        admission.enter(0.0, 0.5)
    assert not admission.admit()


def test_a_burst_of_late_setups_cuts_the_limit_once() -> None:
    """Setups that were late together (one stall) are one signal, not sixty: one cut per target
    period, so one stalled batch does not take the limit to its floor."""
    admission = Admission(128)
    _run(admission, concurrent=60, local_s=0.45, rounds=1)
    assert admission.limit == 128 * BACKOFF
    _run(admission, concurrent=60, local_s=0.45, rounds=1, start=1001.0)  # a second later: cut again
    assert admission.limit == 128 * BACKOFF * BACKOFF


def test_time_waiting_on_a_carrier_is_neither_counted_nor_held_against_the_limit() -> None:
    admission = Admission(16)
    clock = "lettering.webhook.admission.time.monotonic"
    ticket = admission.enter(100.0, 0.5)
    with mock.patch(clock, return_value=100.05):
        ticket.pause()  # the push starts after 50 ms
    assert admission.local == 0  # not in a local stage while the carrier works
    with mock.patch(clock, return_value=103.05):
        ticket.resume()  # the carrier took 3 s
    assert admission.local == 1
    with mock.patch(clock, return_value=103.1):
        ticket.leave()  # 100 ms of local work in all: timely, although answered 3.1 s after arrival
    assert (admission.local, admission.limit) == (0, 16)
    late = admission.enter(200.0, 0.5)
    with mock.patch(clock, return_value=200.4):
        late.pause()
        late.leave()  # 400 ms before the push: over half the budget, late
    assert (admission.local, admission.limit) == (0, 16 * BACKOFF)
