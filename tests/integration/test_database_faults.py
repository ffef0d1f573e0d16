"""The SQLite database locked by another process for 10 s under load (issue 15, database faults).

The same real processes as tests/integration/test_carrier_faults.py (its `rig` fixture). While a
subprocess holds `BEGIN EXCLUSIVE` on the service's database file, setups keep coming: each is
answered within the hold budget, never a hang: a 503 with Retry-After while its claim and call
record cannot be committed (a 200 `pending` then would acknowledge what a crash could lose), which
the test retries as a PBX does, with the same delivery. Once the lock is gone, without a restart,
every setup is acknowledged (200) and has its call record with a final outcome, and the next setup
goes through the carrier again.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration import test_carrier_faults as faults
from tests.integration.test_carrier_faults import (
    ANSWER_MARGIN_S,
    HOLD_MS,
    Answered,
    Rig,
    outcomes,
    setup,
    signed_setup,
    until,
)

pytestmark = [pytest.mark.integration, pytest.mark.serial]

# The fault test's processes (its fixtures, used here by name).
rig = faults.rig
dealer_sim = faults.dealer_sim

LOCK_S = 10.0
SETUPS = 8

RETRY_FOR_S = 40.0
# What a setup may be refused with while the database is unavailable (each a 503 with Retry-After).
REFUSALS = {"NotRecorded", "DatabaseUnavailable", "StillProcessing"}


async def pbx_setup(http: httpx.AsyncClient, tag: str, tries: list[Answered]) -> Answered:
    """A call.setup sent as a PBX sends it: a 503 is retried with the same delivery after its
    Retry-After. Every try's answer is appended to `tries`; the acknowledgement (200) is returned."""
    call_id, body, headers = signed_setup(tag)
    give_up = time.monotonic() + RETRY_FOR_S
    while True:
        started = time.monotonic()
        response = await http.post("/v1/pbx/events", content=body, headers=headers)
        answered = Answered(call_id, time.monotonic() - started, response.json())
        tries.append(answered)
        if response.status_code == 200:
            return answered
        assert response.status_code == 503, response.text
        assert answered.body["error"] in REFUSALS, answered.body
        retry_after = float(response.headers["retry-after"])
        assert time.monotonic() < give_up, f"{call_id} still refused after {RETRY_FOR_S} s"
        await asyncio.sleep(retry_after)


# What a setup may be answered while the database is away and after (a setup recorded only once it
# came back is past its ring window: never pushed late, answered `failed` for `overloaded`).
DEFINED_ANSWERS = {
    ("pending", None),
    ("accepted", None),
    ("fallback", "not_subscriber"),
    ("fallback", "unsupported_device"),
    ("failed", "overloaded"),
}


def check_answers_through_the_fault(tries: list[Answered], answers: list[Answered], fault: str) -> None:
    """Every try answered within the hold budget, some refused (the fault was felt), and every
    final answer one of DEFINED_ANSWERS."""
    late = [
        (a.call_id, round(a.elapsed_s, 3), a.body)
        for a in tries
        if a.elapsed_s > HOLD_MS / 1000 + ANSWER_MARGIN_S
    ]
    assert not late, late
    assert [a for a in tries if "error" in a.body], f"no setup was refused while {fault}: it was not felt"
    assert {(a.lettering, a.body["reason"]) for a in answers} <= DEFINED_ANSWERS, [a.body for a in answers]


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def test_sqlite_locked_for_10_s_setups_answered_in_time_and_nothing_lost(
    database_url: str, rig: Rig, sessions: async_sessionmaker[AsyncSession]
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a file lock is SQLite's fault; PostgreSQL restarting is test_database_restart.py")
    path = make_url(database_url).database
    assert path
    async with httpx.AsyncClient(base_url=rig.url, timeout=httpx.Timeout(30.0)) as http:
        assert (await setup(http, "before")).lettering == "accepted"
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, path, str(LOCK_S), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert locker.stdout is not None
            assert (await locker.stdout.readline()).strip() == b"locked"
            locked_at = time.monotonic()
            tries: list[Answered] = []
            pbx: list[asyncio.Task[Answered]] = []
            last_started = locked_at
            for _ in range(SETUPS):  # spread over the lock's first seconds
                last_started = time.monotonic()
                pbx.append(asyncio.create_task(pbx_setup(http, "locked", tries)))
                await asyncio.sleep(0.3)
            # Each waits out the lock: the last one began well before it was released.
            assert last_started - locked_at < LOCK_S - 1, "the setups did not all land while it was locked"
            answers = await asyncio.gather(*pbx)
        finally:
            await asyncio.wait_for(locker.wait(), 30)
        check_answers_through_the_fault(tries, answers, "the database was locked")
        # Released: every acknowledged setup is recorded and settles, the service carries on by itself.
        ids = [a.call_id for a in answers]
        settled = await until(lambda: outcomes(sessions, ids), timeout_s=40, interval_s=0.5)
        assert settled is not None, (
            await outcomes(sessions, ids, require_all=False),
            rig.service.text()[-3000:],
        )
        assert (await setup(http, "after")).lettering == "accepted"
    assert rig.service.popen.poll() is None
