"""kill -9 under load, N times: every acknowledged call record and outbox row survives and settles.

    .venv/bin/python bench/crash.py [--kills 20] [--target service|relay] [--pg-url URL]

Real processes over real sockets, as tests/integration/test_carrier_faults.py starts them (its
`service_env` and `seed`, tests/processes.py): `lettering serve`, the carrier simulator as
`lettering simulate carriers`, the AlimTalk dealer simulator in this process (a thread). Load
threads post signed `call.setup` and `call.ended` deliveries like a PBX (a fifth of the callees are
iPhones, so their setups queue an AlimTalk in the outbox) and keep what was acknowledged (a 200 or
202). Meanwhile the target is killed with SIGKILL at random moments (0.3-1.5 s apart) and restarted:

- `service`: `lettering serve` with the relay inside it;
- `relay`: the service runs without a relay and `lettering worker` runs it; only the worker dies.

Afterwards (load stopped, the target running once more) it waits for every acknowledged setup's
call record to have a final outcome and every outbox row a terminal status, then prints the counts:
acknowledged setups and ends, records missing, records without an outcome, ends not recorded, outbox
rows not terminal, and at the dealer the messages sent more than once (by the row's grouping key)
and idempotency keys accepted more than once. Exit status 1 when something acknowledged was lost or
a crash cost more than one duplicate.

SQLite by default (a fresh migrated file); `--pg-url` a PostgreSQL server's admin URL
(scripts/pg-test start): a fresh database is made on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kakao_fallback.models import KakaoMessage  # noqa: E402
from kakao_fallback.simulator.app import create_alimtalk_simulator  # noqa: E402
from lettering.calls.models import CallRecord  # noqa: E402
from lettering.core import migrate  # noqa: E402
from lettering.core.db import make_engine, make_sessionmaker  # noqa: E402
from tests.integration import test_carrier_faults as rig  # noqa: E402
from tests.live import serve, stop  # noqa: E402
from tests.processes import Proc, free_port, start, wait_ready  # noqa: E402

CALLS = CallRecord.__table__  # type: ignore[attr-defined]
MESSAGES = KakaoMessage.__table__  # type: ignore[attr-defined]
# Simulator profile: last digit 1 SKT, 4 KT, 7 LG U+; a 1 in the next-to-last place an iPhone.
KINDS = ("51", "64", "77", "12", "51")
THREADS = 4


@dataclass
class Acked:
    setups: set[str] = field(default_factory=set)
    answers: dict[str, str] = field(default_factory=dict)  # call_id -> the setup's `lettering`
    ends: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def signed(body: dict[str, object], webhook_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":"))
    now = datetime.now(UTC)
    return raw.encode(), {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(rig.SECRET).sign(webhook_id, now, raw),
    }


def load(url: str, acked: Acked, stop_at: threading.Event, seed: int) -> None:
    """One PBX line: a setup, then its end, over and over; what got a 2xx is acknowledged."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=5) as http:
        n = 0
        while not stop_at.is_set():
            n += 1
            call_id = f"crash-{seed}-{n}-{uuid.uuid4().hex[:6]}"
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            base: dict[str, object] = {
                "pbx_id": rig.PBX_ID,
                "call_id": call_id,
                "occurred_at": now,
                "extension": "2114",
            }
            callee = f"010-0{rng.randrange(100, 999)}-{rng.randrange(100):02d}{rng.choice(KINDS)}"
            setup: dict[str, object] = base | {
                "type": "call.setup",
                "caller_number": "031-5180-2114",
                "callee_number": callee,
            }
            answer = post(http, setup, f"msg_{call_id}_s")
            if answer is None:
                time.sleep(0.2)  # the service is down: wait for it, as a PBX retries later
                continue
            with acked.lock:
                acked.setups.add(call_id)
                acked.answers[call_id] = answer
            ended: dict[str, object] = base | {
                "type": "call.ended",
                "callee_number": callee,
                "answered": False,
                "talk_seconds": 0,
                "end_cause": "no_answer",
            }
            for _ in range(20):  # the PBX retries an end until it is acknowledged
                if post(http, ended, f"msg_{call_id}_e") is not None:
                    with acked.lock:
                        acked.ends.add(call_id)
                    break
                time.sleep(0.2)


def post(http: httpx.Client, body: dict[str, object], webhook_id: str) -> str | None:
    """The acknowledged answer (a setup's `lettering`, "recorded" for an end), or None."""
    raw, headers = signed(body, webhook_id)
    try:
        response = http.post("/v1/pbx/events", content=raw, headers=headers)
    except httpx.TransportError:
        return None
    if response.status_code not in (200, 202):
        return None
    return str(response.json().get("lettering", "recorded"))


async def fresh_database(pg_url: str | None, folder: Path) -> str:
    if pg_url is None:
        url = f"sqlite+aiosqlite:///{folder / 'crash.db'}"
    else:
        name = f"crash_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate.upgrade_head, url)
    return url


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--target", choices=("service", "relay"), default="service")
    parser.add_argument("--pg-url", help="PostgreSQL admin URL (postgresql+asyncpg://…); default SQLite")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="crash-"))
    url = await fresh_database(args.pg_url, folder)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    await rig.seed(sessions)

    dealer_sim = serve(
        create_alimtalk_simulator(
            accounts={rig.APP_KEY: (rig.KAKAO_SECRET, rig.SENDER)},
            latency_ms=(20, 80),
            result_delay_s=(0.1, 0.3),
        )
    )
    port, sim_port = free_port(), free_port()
    env = rig.service_env(url, port, f"http://127.0.0.1:{sim_port}", dealer_sim.url, folder)
    env["LETTERING_CARRIERS__ORDER"] = '["skt", "kt", "lgu"]'
    env["LETTERING_LOG_LEVEL"] = "ERROR"
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, not whatever the venv has installed
    if args.target == "relay":
        env["LETTERING_KAKAO__RELAY_IN_PROCESS"] = "false"
    service_url = f"http://127.0.0.1:{port}"
    simulator = start(["simulate", "carriers", "--port", str(sim_port)], env, folder / "sim.log", folder)
    await wait_ready(simulator, f"http://127.0.0.1:{sim_port}/_control/config")

    async def start_service() -> Proc:
        proc = start(["serve", "--port", str(port)], env, folder / "serve.log", folder)
        await wait_ready(proc, f"{service_url}/readyz")
        return proc

    def start_relay() -> Proc:
        return start(["worker"], env, folder / "worker.log", folder)

    service = await start_service()
    relay = start_relay() if args.target == "relay" else None
    acked = Acked()
    stop_load = threading.Event()
    threads = [
        threading.Thread(target=load, args=(service_url, acked, stop_load, i), daemon=True)
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        for _ in range(args.kills):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            if relay is not None:
                relay.kill()
                relay = start_relay()
            else:
                service.kill()
                service = await start_service()
        await asyncio.sleep(1.0)
        stop_load.set()
        for thread in threads:
            await asyncio.to_thread(thread.join, 30)
        loaded_s = time.monotonic() - started
        settled, missing_calls = await settle(sessions, acked, timeout_s=120)
        async with httpx.AsyncClient(base_url=dealer_sim.url) as http:
            sent = (await http.get("/_control/messages")).json()
            sends = (await http.get("/_control/sends")).json()
    finally:
        stop_load.set()
        service.stop()
        if relay is not None:
            relay.stop()
        simulator.stop()
        stop(dealer_sim, force_after=2)
        await engine.dispose()

    grouping = Counter(m["grouping_key"] for m in sent)
    duplicates = sum(n - 1 for n in grouping.values() if n > 1)
    keys_twice = sum(1 for use in sends.values() if use.get("accepted", 0) > 1)
    backend = "postgresql" if args.pg_url else "sqlite"
    print(f"crash bench: {backend}, target {args.target}, {args.kills} SIGKILLs in {loaded_s:.0f} s of load")
    for name, value in settled.items():
        print(f"  {name:<34} {value}")
    print(f"  {'AlimTalks at the dealer':<34} {len(sent)}")
    print(f"  {'duplicate AlimTalks (same row)':<34} {duplicates}")
    print(f"  {'idempotency keys accepted twice':<34} {keys_twice}")
    missing = Counter(acked.answers[c] for c in acked.setups if c in missing_calls)
    print(f"  {'answers of the missing records':<34} {dict(missing)}")
    lost = settled["records missing"] + settled["records without outcome"] + settled["ends not recorded"]
    bad = lost or settled["outbox rows not terminal"] or duplicates > args.kills or keys_twice
    print("  verdict:", "FAIL" if bad else "ok")
    return 1 if bad else 0


async def settle(
    sessions: async_sessionmaker[AsyncSession], acked: Acked, timeout_s: float
) -> tuple[dict[str, int], set[str]]:
    """Wait until every acknowledged setup has an outcome and the outbox is quiet; the counts."""
    factory = sessions
    deadline = time.monotonic() + timeout_s
    while True:
        async with factory() as session:
            calls = {
                row.call_id: row
                for row in (
                    await session.execute(
                        select(CALLS.c.call_id, CALLS.c.final_outcome, CALLS.c.ended_at).where(
                            CALLS.c.pbx_id == rig.PBX_ID
                        )
                    )
                ).all()
            }
            outbox = Counter(status for (status,) in (await session.execute(select(MESSAGES.c.status))).all())
        counts = {
            "acknowledged setups": len(acked.setups),
            "acknowledged ends": len(acked.ends),
            "call records": len(calls),
            "records missing": sum(1 for c in acked.setups if c not in calls),
            "records without outcome": sum(
                1 for c in acked.setups if c in calls and calls[c].final_outcome is None
            ),
            "ends not recorded": sum(1 for c in acked.ends if c not in calls or calls[c].ended_at is None),
            "outbox rows": sum(outbox.values()),
            "outbox rows not terminal": sum(n for s, n in outbox.items() if s not in rig.TERMINAL),
        }
        done = not counts["records without outcome"] and not counts["outbox rows not terminal"]
        if done or time.monotonic() > deadline:
            counts |= {f"outbox {s}": n for s, n in sorted(outbox.items())}
            return counts, {c for c in acked.setups if c not in calls}
        await asyncio.sleep(0.5)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
