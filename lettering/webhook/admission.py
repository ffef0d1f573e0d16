"""Admission control per worker: take only the setups that can be answered inside the hold budget.

A setup's local stages (authenticate, claim, decide, record, up to its push; then record the push's
outcome and answer) are where an overloaded worker makes calls late. The limit on setups in those
stages is found by AIMD, as TCP finds its
window: every setup whose local stages took at most `TARGET_SHARE` of its hold budget raises the
limit a little (by `INCREASE / limit`), and one that took longer cuts it by `BACKOFF` (at most one
cut per target period, so a burst of late setups counts once). Past the limit a setup is shed:
answered at once, recorded as such, never pushed (the PBX carries on without lettering).

Why not Little's law on the local stage's duration (the first version): under a closed loop such
as wrk's, shed answers come back at once and bring the next request, so the worker's time went to
shedding, every admitted setup's local stage grew with it, the estimate fell, more was shed, and it
settled at the floor with almost nothing decided. AIMD lowers the limit only while admitted setups
are actually late, and raises it again as soon as they are not. A carrier that is slow does not
lower it: the time a setup waits on its push is not counted, nor is the setup while it waits.
"""

from __future__ import annotations

import time

# The share of the hold budget a setup's local stages may take (the rest is for the carrier and
# for the time a request waits before the worker sees it, which it cannot measure). Measured with
# bench/load.py on PostgreSQL at 2x / 5x capacity: 0.5 gave 96.5 / 97.7 % answered in time, 0.4
# gave 99.8 / 98.6 %; 0.4 tips wrk's closed loop at 128 connections into shedding on one SQLite
# worker (see bench/RESULTS.md), which a PBX's open loop does not do.
TARGET_SHARE = 0.4
# Never admit fewer at once than this (a quiet worker must not shed a small burst).
MIN_LIMIT = 8
# A late setup cuts the limit to this share of itself; a timely one adds INCREASE / limit.
BACKOFF = 0.75
INCREASE = 4.0


class Ticket:
    """One admitted setup, from its arrival to its answer; the time it waits on a carrier (between
    `pause` and `resume`) is not local. `leave` (at the answer) ends it; all three are idempotent."""

    __slots__ = ("_admission", "_received", "_hold_s", "_open", "_paused_at", "_carrier_s")

    def __init__(self, admission: Admission, received: float, hold_s: float) -> None:
        self._admission = admission
        self._received = received
        self._hold_s = hold_s
        self._open = True
        self._paused_at: float | None = None
        self._carrier_s = 0.0

    def pause(self) -> None:
        """The push starts: waiting on the carrier is not the worker's doing, nor counted in it."""
        if self._open and self._paused_at is None:
            self._paused_at = time.monotonic()
            self._admission.local -= 1

    def resume(self) -> None:
        """The push ended: recording its outcome and answering are local again."""
        if self._open and self._paused_at is not None:
            self._carrier_s += time.monotonic() - self._paused_at
            self._paused_at = None
            self._admission.local += 1

    def leave(self) -> None:
        if self._open:
            now = time.monotonic()
            if self._paused_at is not None:  # answered (`pending`) while the carrier still works
                self._carrier_s += now - self._paused_at
                self._paused_at = None
                self._admission.local += 1
            self._open = False
            self._admission._left(now - self._received - self._carrier_s, self._hold_s, now)


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
