"""`lettering serve --workers 2`: /metrics sums both workers' values, whichever worker answers.

A real process, as a deployment runs it (uvicorn's two spawned workers, the carrier and AlimTalk
simulators inside each). The serve command empties the PROMETHEUS_MULTIPROC_DIR it is given; each
worker writes its values there; a scrape adds them up. What is checked:

- the setups counter at scrape equals the setups the PBX was answered, and both workers counted
  some of them (read from each worker's own file);
- a live gauge (the breaker states, one per worker) counts live workers only: the file of a
  worker that died without its shutdown is marked dead at scrape (two, not three);
- once the service stops, no live gauge file is left.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from lettering.core.db import session_scope
from lettering.core.phone import make_vault
from lettering.core.settings import Settings
from lettering.webhook.admin import add_pbx
from tests.factories import seed_directory
from tests.integration.callpath.conftest import SECRET
from tests.processes import child_env, free_port, start_cli, stop_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.serial]

BATCH = 8
CALLEES = ["010-0180-1230", "010-0181-1254", "010-0182-1210", "031-5180-2000"]


def setup_event() -> bytes:
    body = {
        "type": "call.setup",
        "pbx_id": "hanbit-main",
        "call_id": f"c-{uuid.uuid4().hex[:16]}",
        "occurred_at": datetime.now().astimezone().isoformat(),
        "extension": "2114",
        "callee_number": CALLEES[uuid.uuid4().int % len(CALLEES)],
    }
    return json.dumps(body).encode()


async def post_setup(url: str) -> dict[str, object]:
    """On a connection of its own, so that either worker may accept it."""
    raw = setup_event()
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now().astimezone()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, raw.decode()),
    }
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.post("/v1/pbx/events", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    reply: dict[str, object] = response.json()
    return reply


def setups_by_worker(folder: Path) -> dict[int, float]:
    """Each worker's own setups counter, from its file (`counter_<pid>.db`)."""
    counts: dict[int, float] = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        total = 0.0
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "lettering_setups_total":
                total += value
        counts[pid] = total
    return counts


def dead_process_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def live_pids(folder: Path) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in folder.glob("gauge_livesum_*.db")}


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def skt_states(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    """The SKT breaker gauge by state, summed over the live workers."""
    return {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "lettering_carrier_breaker_state" and dict(labels)["carrier"] == "skt"
    }


async def test_two_workers_metrics_are_summed_and_dead_workers_stop_counting(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, env="dev", database_url=database_url)  # type: ignore[call-arg]
    await seed_directory(sessions)
    async with session_scope(sessions) as session:
        await add_pbx(
            session,
            make_vault(settings),
            pbx_id="hanbit-main",
            agency_code="HANBIT",
            secret=SECRET,
            hold_ms=3000,
        )
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by an earlier run")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = child_env(
        {
            "LETTERING_ENV": "dev",
            "LETTERING_DATABASE_URL": database_url,
            "LETTERING_SCHEDULER_ENABLED": "false",
            "LETTERING_LOG_LEVEL": "INFO",
            "LETTERING_SIMULATOR__LATENCY_MIN_MS": "0",
            "LETTERING_SIMULATOR__LATENCY_MAX_MS": "5",
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
        }
    )
    log = tmp_path / "serve.log"
    process = start_cli(["serve", "--workers", "2", "--port", str(port)], env=env, log=log, cwd=tmp_path)
    try:

        async def workers_up(count: int) -> bool:
            assert process.poll() is None, log.read_text()
            return (
                log.read_text().count("Application startup complete.") >= count
                and len(live_pids(folder)) >= 2
            )

        assert await wait_until(lambda: workers_up(2), timeout_s=30), log.read_text()
        assert not (folder / "counter_999999.db").exists()  # emptied at start

        answered: Counter[str] = Counter()
        # Until both workers took some, each request on a new connection. Which worker accepts is
        # the kernel's and the event loops' race: the first loop to wake accepts every queued
        # connection at once, so a fast worker can win several batches in a row; a pause between
        # batches lets the other one be the first awake.
        for _ in range(40):
            for reply in await asyncio.gather(*(post_setup(url) for _ in range(BATCH))):
                answered[str(reply["lettering"])] += 1
            by_worker = setups_by_worker(folder)
            if len([n for n in by_worker.values() if n > 0]) >= 2:
                break
            await asyncio.sleep(0.05)
        by_worker = setups_by_worker(folder)
        assert len([n for n in by_worker.values() if n > 0]) == 2, by_worker
        assert sum(by_worker.values()) == answered.total()

        samples = await scrape(url)
        assert total(samples, "lettering_setups_total") == answered.total()
        by_outcome = Counter[str]()
        for (name, labels), value in samples.items():
            if name == "lettering_setups_total":
                by_outcome[dict(labels)["lettering"]] += int(value)
        assert by_outcome == answered
        # Breakers: a one-hot gauge per worker, summed over the live ones: each worker is in one state
        # (which one is the worker's own: a push timing out on a loaded machine may open a breaker).
        assert sum(skt_states(samples).values()) == 2, skt_states(samples)

        # A worker that died without its shutdown (SIGKILL) leaves its live gauge file behind:
        # the next scrape marks it dead, so it stops counting (a stand-in file, of a pid that has
        # exited, instead of waiting seconds for uvicorn to start a replacement worker).
        dead_pid = dead_process_pid()
        leftover = MmapedDict(str(folder / f"gauge_livesum_{dead_pid}.db"))
        key = mmap_key(
            "lettering_carrier_breaker_state",
            "lettering_carrier_breaker_state",
            ["carrier", "state"],
            ["skt", "closed"],
            "",
        )
        leftover.write_value(key, 1.0, 0.0)
        leftover.close()
        samples = await scrape(url)
        assert sum(skt_states(samples).values()) == 2, skt_states(samples)  # the dead one not counted
        assert dead_pid not in live_pids(folder)
        assert total(samples, "lettering_setups_total") == answered.total()
    finally:
        stop_group(process)
    assert live_pids(folder) == set(), sorted(p.name for p in folder.iterdir())
