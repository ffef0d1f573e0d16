"""The whole service on a real socket, with the carrier simulator mounted in it, over each database.

The service runs in uvicorn in its own thread and loop, exactly as `lettering serve` runs it; the
test talks to it over HTTP like a PBX does, and reads the database with its own engine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.util.concurrency import await_, in_greenlet
from standardwebhooks.webhooks import Webhook

from lettering.app import create_app
from lettering.calls.models import CallAttempt, CallRecord
from lettering.core.db import session_scope
from lettering.core.phone import PhoneVault, make_vault
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
from lettering.directory.models import DirectoryAgency
from lettering.snapshots.service import bump
from lettering.webhook.admin import add_pbx
from tests.factories import random_key, seed_directory
from tests.live import LiveServer, free_socket, serve, stop

SECRET = "whsec_" + base64.b64encode(b"hanbit-main-test-secret-0123456789ab").decode()
TOKEN = "token-for-the-legacy-pbx-0123456789"
TEST_HOLD_MS = 1500


def service_settings(database_url: str, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "public_base_url": base_url,
        "phone_hash_key": SecretStr(random_key()),
        "phone_enc_key": SecretStr(random_key()),
        "link_secret": SecretStr("test-link-secret"),
        "carriers": CarrierSettings(
            skt=SktSettings(client_id="test-client", client_secret=SecretStr("skt-test-secret")),
            kt=KtSettings(api_key="kt-test-key", secret=SecretStr("kt-test-secret")),
            lgu=LguSettings(api_key=SecretStr("lgu-test-key"), callback_secret=SecretStr("lgu-cb-secret")),
        ),
        "simulator": SimulatorSettings(latency_min_ms=0, latency_max_ms=5),
        "kakao": KakaoSettings(
            agencies={
                "*": KakaoAgencySettings(secret_key=SecretStr("kakao-test-secret"), missed_call_notice=True)
            },
            send_from="00:00",
            send_until="24:00",  # tests run at any hour; the window itself is unit-tested
            card_news_button=True,  # the simulated dealer knows IDENTITY_NOTICE_02
            relay_interval_s=0.1,
            result_poll_base_s=0.2,
            retry_base_s=0.1,
        ),
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def stall_database(seconds: float) -> None:
    """Inside a unit of the group commit: the database takes `seconds` to answer. On SQLite the
    unit runs in the writer's thread, which waits; on PostgreSQL it runs in SQLAlchemy's greenlet
    on the event loop, where a stalled server is an await (the loop goes on meanwhile)."""
    if seconds <= 0:
        return
    if in_greenlet():
        await_(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


@dataclass
class Service:
    """The running service and what a test needs to drive and inspect it."""

    live: LiveServer
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    vault: PhoneVault
    agencies: dict[str, int]
    client: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.live.url

    def event(self, type_: str = "call.setup", **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": type_,
            "pbx_id": "hanbit-main",
            "call_id": f"c-{uuid.uuid4().hex[:16]}",
            "occurred_at": datetime.now().astimezone().isoformat(),
            "extension": "2114",
            "caller_number": "031-5180-2114",
            "callee_number": "010-0123-4560",
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not None}

    def signed_headers(
        self, raw: bytes, *, msg_id: str | None = None, secret: str = SECRET, at: float | None = None
    ) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        when = datetime.fromtimestamp(at if at is not None else time.time()).astimezone()
        return {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, raw.decode()),
        }

    async def post(self, body: dict[str, Any], **header_options: Any) -> httpx.Response:
        raw = json.dumps(body, ensure_ascii=False).encode()
        return await self.client.post(
            "/v1/pbx/events", content=raw, headers=self.signed_headers(raw, **header_options)
        )

    async def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, f"/sim/carriers/_control{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    async def alimtalk(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, f"/sim/alimtalk/_control{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    async def pushes(self, callee_e164: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.sim("GET", "/pushes")
        return [r for r in rows if callee_e164 is None or r["callee"] == callee_e164]

    async def call(self, call_id: str, pbx_id: str = "hanbit-main") -> CallRecord:
        async with self.sessions() as session:
            return (
                await session.execute(
                    select(CallRecord).where(CallRecord.pbx_id == pbx_id, CallRecord.call_id == call_id)  # type: ignore[arg-type]
                )
            ).scalar_one()

    async def attempts(self, record_id: int) -> list[CallAttempt]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(CallAttempt).where(CallAttempt.call_record_id == record_id).order_by(CallAttempt.id)  # type: ignore[arg-type]
            )
            return list(rows.scalars())

    async def wait_for(self, check: Callable[[], Any], timeout_s: float = 8.0) -> Any:
        """Poll an async check until it returns something truthy."""
        import asyncio

        deadline = time.monotonic() + timeout_s
        while True:
            value = await check()
            if value or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.05)

    async def set_agency(self, code: str, **values: Any) -> None:
        async with session_scope(self.sessions) as session:
            await session.execute(
                update(DirectoryAgency).where(DirectoryAgency.code == code).values(**values)
            )  # type: ignore[arg-type]
            await bump(session, "directory")


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    """Settings a test module wants changed (override the fixture)."""
    return {}


@pytest.fixture
async def service(
    database_url: str, sessions: async_sessionmaker[AsyncSession], service_overrides: dict[str, Any]
) -> AsyncIterator[Service]:
    agencies = await seed_directory(sessions)
    sock = free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        settings = service_settings(database_url, base_url, **service_overrides)
    except Exception:
        sock.close()
        raise
    vault = make_vault(settings)
    async with session_scope(sessions) as session:
        # A hold budget of 1.5 s (the default is 0.5 s): on a loaded CI machine a setup may take
        # longer than 0.5 s, and the answer would then be `pending` instead of the outcome a test
        # checks. The hold budget itself is tested with stalls longer than this.
        await add_pbx(
            session, vault, pbx_id="hanbit-main", agency_code="HANBIT", secret=SECRET, hold_ms=TEST_HOLD_MS
        )
        await add_pbx(
            session,
            vault,
            pbx_id="hanbit-legacy",
            agency_code="HANBIT",
            auth_mode="token",
            token=TOKEN,
            allow_nets=["127.0.0.0/8"],
            hold_ms=TEST_HOLD_MS,
        )
        await add_pbx(
            session,
            vault,
            pbx_id="hanbit-remote",
            agency_code="HANBIT",
            auth_mode="token",
            token=TOKEN + "-remote",
            allow_nets=["10.20.0.0/16"],
        )
        await add_pbx(
            session,
            vault,
            pbx_id="pureun-main",
            agency_code="PUREUN",
            secret=SECRET.replace("a", "b"),
            hold_ms=TEST_HOLD_MS,
        )
    live = serve(create_app(settings), sock)
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as client:
        svc = Service(live, settings, sessions, vault, agencies, client)
        await svc.sim("PUT", "/config", json={"lgu_report_delay_ms": [10, 30], "stall_ms": 3000})
        await svc.alimtalk("PUT", "/config", json={"result_delay_s": [0.1, 0.3], "latency_max_ms": 5})
        try:
            yield svc
        finally:
            stop(live)
