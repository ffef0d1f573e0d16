"""Admission control per worker: take only the setups that can be answered inside the hold budget.

A setup's local stage (authenticate, claim, decide, record: up to its push) is where an overloaded
worker makes calls late. The limit on setups in that stage adapts to what the worker manages now,
by Little's law: with `n` setups in the local stage each taking `t` of the hold budget, about
`n × target / t` fit when each may take `target`. Past the limit a setup is shed: answered at once,
recorded as such, never pushed (the PBX carries on without lettering). A carrier that is slow does
not lower the limit: a setup waiting on its push has left the local stage.
"""

from __future__ import annotations

import time

# The share of the hold budget the local stage may take (the rest is for the carrier's answer).
TARGET_SHARE = 0.3
# Never admit fewer at once than this (a quiet worker must not shed a small burst).
MIN_LIMIT = 8
SMOOTHING = 0.2


class Ticket:
    """One admitted setup in its local stage; `leave` ends that stage (idempotent)."""

    __slots__ = ("_admission", "_received", "_hold_s", "_open")

    def __init__(self, admission: Admission, received: float, hold_s: float) -> None:
        self._admission = admission
        self._received = received
        self._hold_s = hold_s
        self._open = True

    def leave(self) -> None:
        if self._open:
            self._open = False
            self._admission._left(time.monotonic() - self._received, self._hold_s)


class Admission:
    def __init__(self, max_local: int) -> None:
        self.max_local = max_local
        self.limit = float(max_local)
        self.local = 0
        self._share: float | None = None  # smoothed local time, as a share of the hold budget

    def admit(self) -> bool:
        return self.local < self.limit

    def enter(self, received: float, hold_s: float) -> Ticket:
        self.local += 1
        return Ticket(self, received, hold_s)

    def _left(self, local_s: float, hold_s: float) -> None:
        inflight = self.local
        self.local -= 1
        share = local_s / max(hold_s, 1e-3)
        self._share = share if self._share is None else (1 - SMOOTHING) * self._share + SMOOTHING * share
        fits = inflight * TARGET_SHARE / max(self._share, 1e-3)
        wanted = min(float(self.max_local), max(float(MIN_LIMIT), fits))
        self.limit = (1 - SMOOTHING) * self.limit + SMOOTHING * wanted
