"""The relay killed with SIGKILL while it holds a batch: every message still goes out exactly once."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback.simulator.app import create_alimtalk_simulator
from lettering.core.phone import PhoneVault
from tests.factories import citizen_numbers, outbox_statuses, seed_outbox
from tests.live import LiveServer, serve, stop
from tests.processes import start_cli, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.serial]

HASH_KEY = base64.b64encode(b"h" * 32).decode()
ENC_KEY = base64.b64encode(b"e" * 32).decode()
APP_KEY, SECRET, SENDER = "crash-app", "crash-secret", "s" * 40
MESSAGES = 30


@pytest.fixture
def dealer() -> Iterator[LiveServer]:
    # Slow enough that the relay is killed with a request in flight.
    live = serve(
        create_alimtalk_simulator(
            accounts={APP_KEY: (SECRET, SENDER)}, latency_ms=(1200, 1200), result_delay_s=(0.1, 0.2)
        )
    )
    yield live
    stop(live)


def worker_env(database_url: str, dealer_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "LETTERING_ENV": "dev",
            "LETTERING_DATABASE_URL": database_url,
            "LETTERING_PHONE_HASH_KEY": HASH_KEY,
            "LETTERING_PHONE_ENC_KEY": ENC_KEY,
            "LETTERING_KAKAO__BASE_URL": dealer_url,
            "LETTERING_KAKAO__AGENCIES": json.dumps(
                {"*": {"app_key": APP_KEY, "secret_key": SECRET, "sender_key": SENDER}}
            ),
            "LETTERING_KAKAO__BATCH_SIZE": "10",
            "LETTERING_KAKAO__LEASE_S": "3",
            "LETTERING_KAKAO__RELAY_INTERVAL_S": "0.1",
            "LETTERING_KAKAO__RESULT_POLL_BASE_S": "0.2",
            "LETTERING_KAKAO__SEND_FROM": "00:00",
            "LETTERING_KAKAO__SEND_UNTIL": "24:00",
            "LETTERING_LOG_LEVEL": "INFO",
        }
    )
    return env


async def test_sigkill_mid_batch_loses_nothing_and_sends_nothing_twice(
    database_url: str, sessions: async_sessionmaker[AsyncSession], dealer: LiveServer, tmp_path: Path
) -> None:
    numbers = citizen_numbers(MESSAGES, ending="1230")
    await seed_outbox(sessions, PhoneVault(HASH_KEY, ENC_KEY), numbers, key_prefix="crash-")
    env = worker_env(database_url, dealer.url)
    log = tmp_path / "worker.log"
    first = start_cli(["worker"], env=env, log=log)
    try:
        assert await wait_until(lambda: _holding_a_batch(sessions), timeout_s=20, interval_s=0.05), (
            log.read_text()
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    after_kill = await outbox_statuses(sessions)
    assert after_kill["sending"] > 0  # it died holding leased rows

    second = start_cli(["worker"], env=env, log=log)
    try:
        assert await wait_until(lambda: _all_sent(sessions), timeout_s=60, interval_s=0.05), (
            await outbox_statuses(sessions),
            log.read_text(),
        )
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=10)
        except subprocess.TimeoutExpired:
            second.kill()

    async with httpx.AsyncClient(base_url=dealer.url) as client:
        messages = (await client.get("/_control/messages")).json()
        sends = (await client.get("/_control/sends")).json()
    grouping = Counter(m["grouping_key"] for m in messages)
    assert len(grouping) == MESSAGES  # every message reached the dealer ...
    assert set(grouping.values()) == {1}  # ... exactly once
    assert all(use["accepted"] == 1 for use in sends.values())
    text = log.read_text()
    for number in numbers:
        assert number not in text
        assert "0" + number[3:] not in text


async def _holding_a_batch(sessions: async_sessionmaker[AsyncSession]) -> bool:
    return (await outbox_statuses(sessions))["sending"] > 0


async def _all_sent(sessions: async_sessionmaker[AsyncSession]) -> bool:
    counts = await outbox_statuses(sessions)
    return counts["accepted"] + counts["delivered"] + counts["sent_unknown"] == MESSAGES
