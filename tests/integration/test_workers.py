"""`lettering serve --workers 2` on one PostgreSQL: scheduled jobs and the AlimTalk relay run once.

Real processes: the command a deployment runs, with uvicorn's two worker processes, against the
test's PostgreSQL database, the carrier simulator and the AlimTalk dealer simulator (each a real
HTTP server in this process). What is counted is what the outside world receives:

- the content sync job (interval shortened to 1 s by LETTERING_CONTENT_SYNC_INTERVAL_S) asks the
  carrier for the status of a pending content on every run, so the status requests the carrier
  simulator receives are the job's runs;
- the relays in both workers drain one outbox, and the dealer simulator records every message
  it accepted by its grouping key (the row's idempotency key).

The job test is PostgreSQL only: on SQLite the scheduler takes no lock (the embedded service is
one process). The relay test runs on both: its claims are conditional updates with a lease, and
FOR UPDATE SKIP LOCKED on PostgreSQL only lets concurrent relays pass each other's rows.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from PIL import Image
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware.base import RequestResponseEndpoint

from campaigns.models import CampaignRendition
from carriers.simulator.app import create_simulator_app
from kakao_fallback.simulator.app import create_alimtalk_simulator
from lettering.core.db import session_scope
from lettering.core.phone import PhoneVault
from tests.factories import citizen_numbers, outbox_statuses, seed_outbox
from tests.live import LiveServer, serve, stop
from tests.processes import child_env, free_port, start_cli, stop_group, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.serial]

HASH_KEY = base64.b64encode(b"H" * 32).decode()
ENC_KEY = base64.b64encode(b"E" * 32).decode()
SKT_ID, SKT_SECRET = "workers-skt", "workers-skt-secret"
KT_KEY, KT_SECRET = "workers-kt", "workers-kt-secret"
LGU_KEY, LGU_CALLBACK = "workers-lgu-key", "workers-lgu-callback"
APP_KEY, KAKAO_SECRET, SENDER = "workers-app", "workers-kakao-secret", "w" * 40
SYNC_INTERVAL_S = 1.0
WATCH_S = 8.0
MESSAGES = 40


@dataclass
class Seen:
    """Requests an outside service received: (monotonic time, "METHOD /path", client port)."""

    requests: list[tuple[float, str, int]] = field(default_factory=list)

    def paths(self, prefix: str) -> list[tuple[float, str, int]]:
        return [r for r in self.requests if r[1].startswith(prefix)]


def recorded(app: FastAPI, seen: Seen) -> FastAPI:
    @app.middleware("http")
    async def record(request: Request, call_next: RequestResponseEndpoint) -> Response:
        port = request.client.port if request.client else 0
        seen.requests.append((time.monotonic(), f"{request.method} {request.url.path}", port))
        return await call_next(request)

    return app


@dataclass
class Outside:
    carriers: LiveServer
    dealer: LiveServer
    carrier_seen: Seen
    dealer_seen: Seen


@pytest.fixture
def pg_database_url(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("one process per tick is decided by a PostgreSQL advisory lock")
    return database_url


@pytest.fixture
def outside() -> Iterator[Outside]:
    carrier_seen, dealer_seen = Seen(), Seen()
    carriers = serve(
        recorded(
            create_simulator_app(
                lgu_callback_secret=LGU_CALLBACK,
                skt_client_id=SKT_ID,
                skt_client_secret=SKT_SECRET,
                kt_api_key=KT_KEY,
                kt_secret=KT_SECRET,
                lgu_api_key=LGU_KEY,
                latency_ms=(0, 5),
            ),
            carrier_seen,
        )
    )
    # Slow enough that both workers' relays hold batches at the same time.
    dealer = serve(
        recorded(
            create_alimtalk_simulator(
                accounts={APP_KEY: (KAKAO_SECRET, SENDER)}, latency_ms=(300, 300), result_delay_s=(0.1, 0.2)
            ),
            dealer_seen,
        )
    )
    try:
        yield Outside(carriers, dealer, carrier_seen, dealer_seen)
    finally:
        stop(carriers)
        stop(dealer)


def service_env(database_url: str, outside: Outside, port: int) -> dict[str, str]:
    return child_env(
        {
            "LETTERING_ENV": "test",
            "LETTERING_DATABASE_URL": database_url,
            "LETTERING_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "LETTERING_PHONE_HASH_KEY": HASH_KEY,
            "LETTERING_PHONE_ENC_KEY": ENC_KEY,
            "LETTERING_LINK_SECRET": "workers-link-secret",
            "LETTERING_SIMULATORS_IN_PROCESS": "false",
            "LETTERING_CARRIERS__SKT__BASE_URL": f"{outside.carriers.url}/skt",
            "LETTERING_CARRIERS__SKT__CLIENT_ID": SKT_ID,
            "LETTERING_CARRIERS__SKT__CLIENT_SECRET": SKT_SECRET,
            "LETTERING_CARRIERS__KT__BASE_URL": f"{outside.carriers.url}/kt",
            "LETTERING_CARRIERS__KT__API_KEY": KT_KEY,
            "LETTERING_CARRIERS__KT__SECRET": KT_SECRET,
            "LETTERING_CARRIERS__LGU__BASE_URL": f"{outside.carriers.url}/lgu",
            "LETTERING_CARRIERS__LGU__API_KEY": LGU_KEY,
            "LETTERING_CARRIERS__LGU__CALLBACK_SECRET": LGU_CALLBACK,
            "LETTERING_KAKAO__BASE_URL": outside.dealer.url,
            "LETTERING_KAKAO__AGENCIES": json.dumps(
                {"*": {"app_key": APP_KEY, "secret_key": KAKAO_SECRET, "sender_key": SENDER}}
            ),
            "LETTERING_KAKAO__BATCH_SIZE": "5",
            "LETTERING_KAKAO__RELAY_INTERVAL_S": "0.1",
            "LETTERING_KAKAO__RESULT_POLL_BASE_S": "0.2",
            "LETTERING_KAKAO__SEND_FROM": "00:00",
            "LETTERING_KAKAO__SEND_UNTIL": "24:00",
            "LETTERING_CONTENT_SYNC_INTERVAL_S": str(SYNC_INTERVAL_S),
            "LETTERING_LOG_LEVEL": "INFO",
        }
    )


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def start_service(env: dict[str, str], port: int, tmp_path: Path) -> Service:
    """`lettering serve --workers 2`, in its own process group (so cleanup reaches the workers)."""
    log = tmp_path / "serve.log"
    process = start_cli(["serve", "--workers", "2", "--port", str(port)], env=env, log=log, cwd=tmp_path)
    return Service(process, f"http://127.0.0.1:{port}", log)


async def both_workers_started(service: Service) -> None:
    async def started() -> bool:
        assert service.process.poll() is None, service.log.read_text()
        return service.log.read_text().count("Application startup complete.") == 2

    assert await wait_until(started, timeout_s=40), service.log.read_text()
    async with httpx.AsyncClient(base_url=service.url) as client:
        assert (await client.get("/livez")).status_code == 200
    # Each worker logs the service's own lines in the service's format (lettering serve's
    # log config reaches the spawned workers).
    assert service.log.read_text().count("INFO lettering.snapshots.service: snapshots rebuilt") >= 2


async def pending_skt_content(outside: Outside) -> str:
    """A content the carrier keeps pending for an hour: every sync run asks for its status."""
    async with httpx.AsyncClient(base_url=outside.carriers.url) as client:
        (await client.put("/_control/config", json={"content_approval_delay_s": 3600})).raise_for_status()
        token = await client.post(
            "/skt/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": SKT_ID, "client_secret": SKT_SECRET},
        )
        image = io.BytesIO()
        Image.new("RGB", (720, 1280), (20, 90, 160)).save(image, "JPEG", quality=80)
        stored = await client.post(
            "/skt/v1/contents",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            files={"file": ("c.jpg", image.getvalue(), "image/jpeg")},
        )
        assert stored.status_code == 201, stored.text
        content_id: str = stored.json()["content_id"]
        return content_id


async def test_each_job_runs_once_per_tick_across_two_workers(
    pg_database_url: str, sessions: async_sessionmaker[AsyncSession], outside: Outside, tmp_path: Path
) -> None:
    content_id = await pending_skt_content(outside)
    async with session_scope(sessions) as session:
        session.add(
            CampaignRendition(
                clean_sha256="c" * 64,
                carrier="skt",
                sha256="d" * 64,
                mime_type="image/jpeg",
                width=720,
                height=1280,
                byte_size=1000,
                carrier_ref=content_id,
            )
        )
    port = free_port()
    service = start_service(service_env(pg_database_url, outside, port), port, tmp_path)
    try:
        await both_workers_started(service)
        await asyncio.sleep(2 * SYNC_INTERVAL_S)  # the lock holder's first tick is one interval in
        start = time.monotonic()
        await asyncio.sleep(WATCH_S)
        end = time.monotonic()
        assert service.process.poll() is None, service.log.read_text()
    finally:
        stop_group(service.process, grace_s=20)

    runs = [
        r for r in outside.carrier_seen.paths(f"GET /skt/v1/contents/{content_id}") if start <= r[0] < end
    ]
    ticks = WATCH_S / SYNC_INTERVAL_S
    # Once per tick: as many runs as ticks (one of slack at each end of the window) ...
    assert ticks - 1 <= len(runs) <= ticks + 1, (len(runs), runs, service.log.read_text())
    # ... and never two runs in one tick (a second process would add its own, out of phase).
    times = [t for t, _, _ in runs]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) > SYNC_INTERVAL_S / 2, gaps
    async with sessions() as session:
        rendition = (await session.execute(select(CampaignRendition))).scalars().one()
    assert rendition.carrier_status == "pending"
    assert rendition.checked_at is not None  # the job recorded its runs


async def test_two_workers_relays_post_every_queued_message_exactly_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession], outside: Outside, tmp_path: Path
) -> None:
    numbers = citizen_numbers(MESSAGES, ending="4560")
    await seed_outbox(
        sessions, PhoneVault(HASH_KEY, ENC_KEY), numbers, verify_prefix="W", key_prefix="workers-"
    )
    port = free_port()
    service = start_service(service_env(database_url, outside, port), port, tmp_path)

    async def all_sent() -> bool:
        counts = await outbox_statuses(sessions)
        return counts["accepted"] + counts["delivered"] + counts["sent_unknown"] == MESSAGES

    try:
        await both_workers_started(service)
        assert await wait_until(all_sent, timeout_s=60), (
            await outbox_statuses(sessions),
            service.log.read_text(),
        )
    finally:
        stop_group(service.process, grace_s=20)

    async with httpx.AsyncClient(base_url=outside.dealer.url) as client:
        messages = (await client.get("/_control/messages")).json()
        sends = (await client.get("/_control/sends")).json()
    grouping = Counter(m["grouping_key"] for m in messages)
    assert len(grouping) == MESSAGES  # every queued message reached the dealer ...
    assert set(grouping.values()) == {1}  # ... exactly once
    assert all(use == {"accepted": 1, "duplicates": 0} for use in sends.values()), sends
    # Both workers' relays took part (each process posts over its own connection).
    posts = outside.dealer_seen.paths(f"POST /alimtalk/v2.3/appkeys/{APP_KEY}/messages")
    assert len({port for _, _, port in posts}) >= 2, posts
    assert (await outbox_statuses(sessions))["sent_unknown"] == 0
    text = service.log.read_text()
    for number in numbers:
        assert number not in text
        assert "0" + number[3:] not in text
