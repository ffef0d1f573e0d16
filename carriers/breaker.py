"""A circuit breaker per carrier: while a gateway keeps failing, calls go straight to fallback."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class Breaker:
    """closed → open after `failures` consecutive failures → half-open after `open_s` (one trial
    call) → closed on its success, open again on its failure.

    A trial whose verdict never arrives (the caller was cancelled) stops blocking after another
    `open_s`, so the breaker cannot stay stuck in half-open.
    """

    def __init__(self, failures: int, open_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if open_s < 0:
            raise ValueError("open_s must not be negative")
        self._threshold = failures
        self._open_s = open_s
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The state as of now (an open breaker whose wait has passed reports half-open)."""
        if self._opened_at is None:
            return BreakerState.closed
        if self._trial_started_at is not None or self._clock() - self._opened_at >= self._open_s:
            return BreakerState.half_open
        return BreakerState.open

    @property
    def consecutive_failures(self) -> int:
        """Failures recorded since the last success."""
        return self._consecutive

    def allow(self) -> bool:
        """May a call go to the carrier now? In half-open, True for the one trial call only."""
        if self._opened_at is None:
            return True
        now = self._clock()
        if self._trial_started_at is not None:
            if now - self._trial_started_at < self._open_s:
                return False
            self._trial_started_at = now  # the previous trial never reported back
            return True
        if now - self._opened_at < self._open_s:
            return False
        self._trial_started_at = now
        return True

    def record_success(self) -> None:
        """The carrier answered: close the breaker."""
        self._consecutive = 0
        self._opened_at = None
        self._trial_started_at = None

    def record_inconclusive(self) -> None:
        """A call ended without a verdict on the carrier (the service itself was too late): the
        count stands, and a half-open trial is over, so the next call may be the trial."""
        self._trial_started_at = None

    def record_failure(self) -> None:
        """The carrier failed (5xx, timeout, connect error): count it, open at the threshold."""
        self._consecutive += 1
        if self._trial_started_at is not None or self._consecutive >= self._threshold:
            self._opened_at = self._clock()
            self._trial_started_at = None
