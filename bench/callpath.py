"""Benchmark of the call path: decide() alone, then call.setup through HTTP with the simulators.

Run: .venv/bin/python bench/callpath.py [--calls 400] [--concurrency 8]

Prints decide() throughput over the real directory (4,286 extensions), the in-memory size of the
directory snapshot, and call.setup latency percentiles (sequential and concurrent) on SQLite with
the carrier simulators mounted in-process (latency 20-80 ms per carrier request, as configured by
default). Figures vary with the machine: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import httpx
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lettering.app import create_app
from lettering.core.db import make_engine, make_sessionmaker, session_scope
from lettering.core.migrate import upgrade_head
from lettering.core.phone import make_vault
from lettering.core.settings import (
    CarrierSettings,
    KakaoAgencySettings,
    KakaoSettings,
    KtSettings,
    LguSettings,
    Settings,
    SimulatorSettings,
    SktSettings,
)
from lettering.decision.service import CallFacts, DecisionInputs, decide
from lettering.directory import service as directory_service
from lettering.optout.service import OptoutIndex
from lettering.webhook.admin import add_pbx
from tests.live import free_socket, serve, stop

SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdef012345").decode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


SIM_SECRETS = {
    "LETTERING_CARRIERS__SKT__CLIENT_SECRET": "bench-skt",
    "LETTERING_CARRIERS__KT__SECRET": "bench-kt",
    "LETTERING_CARRIERS__LGU__API_KEY": "bench-lgu",
    "LETTERING_CARRIERS__LGU__CALLBACK_SECRET": "bench-cb",
}


def start_external_simulator(sim_latency_ms: tuple[int, int]) -> tuple[subprocess.Popen[bytes], str]:
    """The carrier simulator in its own process, as a real gateway would be."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        **SIM_SECRETS,
        "LETTERING_ENV": "dev",
        "LETTERING_SIMULATOR__LATENCY_MIN_MS": str(sim_latency_ms[0]),
        "LETTERING_SIMULATOR__LATENCY_MAX_MS": str(sim_latency_ms[1]),
        "LETTERING_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lettering.cli", "simulate", "carriers", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/_control/config", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the carrier simulator did not start")


def settings_for(
    db: str, base_url: str, tmp: str, sim_latency_ms: tuple[int, int], carriers_url: str | None = None
) -> Settings:
    key = lambda: SecretStr(base64.b64encode(os.urandom(32)).decode())  # noqa: E731
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="test",
        database_url=db,
        public_base_url=base_url,
        phone_hash_key=key(),
        phone_enc_key=key(),
        link_secret=SecretStr("bench-link-secret"),
        media_dir=f"{tmp}/media",
        carriers=CarrierSettings(
            skt=SktSettings(
                client_secret=SecretStr("bench-skt"), base_url=f"{carriers_url}/skt" if carriers_url else ""
            ),
            kt=KtSettings(
                secret=SecretStr("bench-kt"), base_url=f"{carriers_url}/kt" if carriers_url else ""
            ),
            lgu=LguSettings(
                api_key=SecretStr("bench-lgu"),
                callback_secret=SecretStr("bench-cb"),
                base_url=f"{carriers_url}/lgu" if carriers_url else "",
            ),
        ),
        kakao=KakaoSettings(agencies={"*": KakaoAgencySettings(secret_key=SecretStr("bench-kakao"))}),
        simulator=SimulatorSettings(latency_min_ms=sim_latency_ms[0], latency_max_ms=sim_latency_ms[1]),
        log_level="WARNING",
    )


async def prepare(db: str, settings: Settings) -> None:
    upgrade_head(db)
    parsed = directory_service.parse_directory(ROOT / "data" / "directory.csv")
    assert not isinstance(parsed, list)
    engine = make_engine(db)
    sessions = make_sessionmaker(engine)
    await directory_service.import_directory(sessions, parsed)
    async with session_scope(sessions) as session:
        await add_pbx(session, make_vault(settings), pbx_id="bench", agency_code="HANBIT", secret=SECRET)
    await engine.dispose()


async def bench_decide(db: str) -> None:
    engine = make_engine(db)
    async with make_sessionmaker(engine)() as session:
        tracemalloc.start()
        snapshot = await directory_service.build_directory_snapshot(session)
        size, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    await engine.dispose()
    inputs = DecisionInputs(directory=snapshot, optout=OptoutIndex(MappingProxyType({})))
    extensions = [ext for (_agency, ext) in snapshot.extensions]
    agency_of = {ext: agency for (agency, ext) in snapshot.extensions}
    now = datetime.now(UTC)
    n = 200_000
    started = time.perf_counter()
    for i in range(n):
        ext = extensions[i % len(extensions)]
        decide(CallFacts(f"c{i}", agency_of[ext], ext, "h" * 64, None, now), inputs)
    elapsed = time.perf_counter() - started
    print(
        f"directory snapshot: {len(snapshot.extensions)} extensions, {size / 1e6:.1f} MB allocated to build"
    )
    print(
        f"decide(): {n} calls in {elapsed:.2f} s = {n / elapsed:,.0f}/s, {elapsed / n * 1e6:.1f} us per call"
    )


async def bench_http(url: str, calls: int, concurrency: int) -> None:
    signer = Webhook(SECRET)

    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, str]:
        body = json.dumps(
            {
                "type": "call.setup",
                "pbx_id": "bench",
                "call_id": uuid.uuid4().hex,
                "occurred_at": datetime.now(UTC).isoformat(),
                "extension": str(2000 + i % 4000),
                "callee_number": f"010-0{i % 900 + 100:03d}-{1230 + i % 7}",
            }
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
        }
        started = time.perf_counter()
        response = await client.post("/v1/pbx/events", content=body, headers=headers)
        return (time.perf_counter() - started) * 1000, response.json().get(
            "lettering", str(response.status_code)
        )

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for i in range(20):  # warm up: tokens, connections
            await one(client, i)
        for label, width in (("sequential", 1), (f"{concurrency} concurrent", concurrency)):
            latencies, outcomes, wall = await measure(one, client, calls, width)
            print(
                f"call.setup {label}: {calls} calls, {calls / wall:.0f}/s; latency ms "
                f"p50 {statistics.median(latencies):.0f} p95 {percentile(latencies, 95):.0f} "
                f"p99 {percentile(latencies, 99):.0f} max {max(latencies):.0f}; outcomes {outcomes}"
            )


async def measure(one, client, calls: int, width: int):  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    sem = asyncio.Semaphore(width)

    async def run(i: int) -> None:
        async with sem:
            ms, outcome = await one(client, i)
        latencies.append(ms)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(calls)))
    return latencies, outcomes, time.perf_counter() - started


def _client_main(url: str, calls: int, concurrency: int) -> None:
    print("webhooks sent from their own process")
    asyncio.run(bench_http(url, calls, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--external-simulator",
        action="store_true",
        help="run the carrier simulator in its own process (else mounted in the service, sharing its loop)",
    )
    parser.add_argument(
        "--client-process",
        action="store_true",
        help="send the webhooks from another process (else from the service's process, another thread)",
    )
    parser.add_argument(
        "--sim-latency-ms", type=int, nargs=2, default=[20, 80], help="carrier simulator latency range"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite+aiosqlite:///{tmp}/bench.db"
        sock = free_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        latency = (args.sim_latency_ms[0], args.sim_latency_ms[1])
        simulator = start_external_simulator(latency) if args.external_simulator else None
        settings = settings_for(db, url, tmp, latency, simulator[1] if simulator else None)
        where = "in its own process" if simulator else "in the service process"
        print(f"carrier simulator {where}, latency {latency[0]}-{latency[1]} ms per request")
        asyncio.run(prepare(db, settings))
        asyncio.run(bench_decide(db))
        live = serve(create_app(settings), sock)
        try:
            if args.client_process:
                client = multiprocessing.get_context("spawn").Process(
                    target=_client_main, args=(url, args.calls, args.concurrency)
                )
                client.start()
                client.join()
            else:
                asyncio.run(bench_http(url, args.calls, args.concurrency))
        finally:
            stop(live)
            if simulator:
                simulator[0].terminate()
                simulator[0].wait(timeout=10)


if __name__ == "__main__":
    main()
