"""Admission control per worker: take only the setups that can be answered inside the hold budget.

A setup's local stage (authenticate, claim, decide, record: up to its push) is where an overloaded
worker makes calls late. The limit on setups in that stage is found by AIMD, as TCP finds its
window: every setup whose local stage took at most `TARGET_SHARE` of its hold budget raises the
limit a little (by `INCREASE / limit`), and one that took longer cuts it by `BACKOFF` (at most one
cut per target period, so a burst of late setups counts once). Past the limit a setup is shed:
answered at once, recorded as such, never pushed (the PBX carries on without lettering).

Why not Little's law on the local stage's duration (the first version): under a closed loop such
as wrk's, shed answers come back at once and bring the next request, so the worker's time went to
shedding, every admitted setup's local stage grew with it, the estimate fell, more was shed, and it
settled at the floor with almost nothing decided. AIMD lowers the limit only while admitted setups
are actually late, and raises it again as soon as they are not. A carrier that is slow does not
lower it: a setup waiting on its push has left the local stage.
"""

from __future__ import annotations

import time

# The share of the hold budget the local stage may take (the rest is for the carrier's answer
# and the record of its outcome).
TARGET_SHARE = 0.5
# Never admit fewer at once than this (a quiet worker must not shed a small burst).
MIN_LIMIT = 8
# A late setup cuts the limit to this share of itself; a timely one adds INCREASE / limit.
BACKOFF = 0.75
INCREASE = 4.0


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
            now = time.monotonic()
            self._admission._left(now - self._received, self._hold_s, now)


class Admission:
    def __init__(self, max_local: int) -> None:
        self.max_local = max_local
        self.limit = float(max_local)
        self.local = 0
        self._next_cut = 0.0  # monotonic: no second cut before this

    def admit(self) -> bool:
        return self.local < self.limit

    def enter(self, received: float, hold_s: float) -> Ticket:
        self.local += 1
        return Ticket(self, received, hold_s)

    def _left(self, local_s: float, hold_s: float, now: float) -> None:
        self.local -= 1
        target_s = hold_s * TARGET_SHARE
        if local_s <= target_s:
            self.limit = min(float(self.max_local), self.limit + INCREASE / self.limit)
        elif now >= self._next_cut:
            self.limit = max(float(MIN_LIMIT), self.limit * BACKOFF)
            self._next_cut = now + target_s
