"""Failed logins counted in memory, per (email, client IP), in a sliding window.

Per process: with several workers an attacker gets `max_failures` per worker, which still bounds
guessing to a few dozen tries per window. Argon2 makes each try cost the attacker as much as us.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

Key = tuple[str, str]


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 15 * 60,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[Key, deque[float]] = {}

    def _recent(self, key: Key, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: Key) -> int | None:
        """Seconds until this key may try again, or None when it may try now."""
        now = self.clock()
        times = self._recent(key, now)
        if times is None or len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[-self.max_failures] + self.window_s - now))

    def failed(self, key: Key) -> None:
        now = self.clock()
        times = self._recent(key, now)
        if times is None:
            if len(self._failures) >= self.max_keys:
                self._prune(now)
            times = self._failures[key] = deque(maxlen=self.max_failures)
        times.append(now)

    def succeeded(self, key: Key) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget expired keys; if still full, the oldest half (memory stays bounded)."""
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= self.max_keys:
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) // 2 + 1]:
                del self._failures[key]
