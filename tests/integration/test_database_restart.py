"""PostgreSQL restarted under load (issue 15, database faults).

The real processes of tests/integration/test_carrier_faults.py (its `rig` fixture), on a PostgreSQL
cluster of this test's own (scripts/pg-test), so that stopping it disturbs no other test. While
setups keep coming, the cluster is stopped (fast shutdown: every session is cut), stays down 2 s,
and starts again on the same port. Each setup is answered within the hold budget, never a hang: a
503 with Retry-After while it cannot be recorded (`NotRecorded`, or `DatabaseUnavailable` when the
connection is refused), which the test retries as a PBX does. Afterwards, without a restart of the
service: every setup is acknowledged and has its call record with a final outcome, and the next
setup goes through the carrier again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lettering.core import migrate
from tests.integration import test_carrier_faults as faults
from tests.integration.test_carrier_faults import (
    Answered,
    Rig,
    outcomes,
    setup,
    until,
)
from tests.integration.test_database_faults import check_answers_through_the_fault, pbx_setup

pytestmark = [pytest.mark.integration, pytest.mark.serial]

rig = faults.rig
dealer_sim = faults.dealer_sim

PG_TEST = Path(__file__).resolve().parents[2] / "scripts" / "pg-test"
DOWN_S = 2.0
LOAD_S = 6.0
EVERY_S = 0.2
RESTART_AFTER_S = 1.0


@pytest.fixture
def cluster() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL cluster of this test's own: its folder and its URL."""
    folder = Path(tempfile.mkdtemp(prefix="lettering-pg-restart."))
    started = subprocess.run([str(PG_TEST), "start", str(folder)], capture_output=True, text=True)
    if started.returncode != 0:
        folder.rmdir() if folder.exists() and not any(folder.iterdir()) else None
        reason = f"scripts/pg-test start failed: {started.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield folder, started.stdout.strip()
    finally:
        subprocess.run([str(PG_TEST), "stop", str(folder)], capture_output=True, check=False)


@pytest.fixture
def database_url(cluster: tuple[Path, str]) -> str:
    """This module's database: the cluster's, at the newest revision (overrides the conftest's)."""
    url = cluster[1]
    migrate.upgrade_head(url)
    return url


async def test_postgresql_restarted_under_load_setups_answered_in_time_and_nothing_lost(
    cluster: tuple[Path, str], rig: Rig, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    folder = cluster[0]
    async with httpx.AsyncClient(base_url=rig.url, timeout=httpx.Timeout(30.0)) as http:
        assert (await setup(http, "before")).lettering == "accepted"
        tries: list[Answered] = []
        pbx: list[asyncio.Task[Answered]] = []

        async def restart() -> float:
            await asyncio.sleep(RESTART_AFTER_S)
            began = time.monotonic()
            await asyncio.to_thread(
                subprocess.run, [str(PG_TEST), "restart", str(folder), str(DOWN_S)], check=True
            )
            return time.monotonic() - began

        restarting = asyncio.create_task(restart())
        load_until = time.monotonic() + LOAD_S
        while time.monotonic() < load_until:
            pbx.append(asyncio.create_task(pbx_setup(http, "restart", tries)))
            await asyncio.sleep(EVERY_S)
        took = await restarting
        assert took >= DOWN_S
        answers = await asyncio.gather(*pbx)
        check_answers_through_the_fault(tries, answers, "the database was down")
        # The test's own pool held connections the restart cut.
        await engine.dispose()
        ids = [a.call_id for a in answers]
        settled = await until(lambda: outcomes(sessions, ids), timeout_s=40, interval_s=0.5)
        assert settled is not None, (
            await outcomes(sessions, ids, require_all=False),
            rig.service.text()[-3000:],
        )
        # The service reconnected by itself.
        assert (await setup(http, "after")).lettering == "accepted"
    assert rig.service.popen.poll() is None
