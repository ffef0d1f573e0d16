"""A held-out call shed at the admission limit gets no AlimTalk notice either, even when its agency
wants notices for shed calls; its record keeps its arm."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.calls import service as call_service
from lettering.decision.arms import assign_arm
from tests.integration.callpath.conftest import TEST_HOLD_MS, Service, stall_database
from tests.integration.callpath.test_admission import LIMIT, limit_filled

pytestmark = [pytest.mark.integration, pytest.mark.serial]

SALT = bytes.fromhex("c0ffee00" * 4)


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"setup_max_unanswered": LIMIT}


def first_in(arm: str, prefix: str) -> str:
    return next(
        f"{prefix}-{i}" for i in range(10_000) if assign_arm(f"{prefix}-{i}", SALT, 2000, 0)[0] == arm
    )


async def test_held_out_shed_call_gets_no_notice(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    await service.set_agency("HANBIT", fallback_shed=True, holdout_bp=2000, holdout_salt=SALT.hex())

    async def policy_seen() -> bool:
        health = (await service.client.get("/healthz")).json()
        return bool(health["snapshots"].get("directory", 0) >= 2)

    await service.wait_for(policy_seen, timeout_s=3)
    original = call_service.open_setup
    stalled_until = time.monotonic() + TEST_HOLD_MS / 1000 + 0.5

    def stalled_open_setup(*args: Any, **kwargs: Any) -> Any:
        stall_database(stalled_until - time.monotonic())  # the admitted ones fill the limit
        return original(*args, **kwargs)

    monkeypatch.setattr(call_service, "open_setup", stalled_open_setup)
    admitted = [
        asyncio.create_task(
            service.post(
                service.event(call_id=first_in("lettered", f"adm{i}"), callee_number=f"010-0{760 + i}-1230")
            )
        )
        for i in range(LIMIT)
    ]
    await limit_filled(service)
    held = service.event(call_id=first_in("holdout", "shed"), callee_number="010-0770-1230")
    lettered = service.event(call_id=first_in("lettered", "shed"), callee_number="010-0771-1230")
    shed = await asyncio.gather(service.post(held), service.post(lettered))
    assert [(r.json()["lettering"], r.json()["reason"]) for r in shed] == [("skipped", "overloaded")] * 2
    await asyncio.gather(*admitted)

    async def recorded() -> Any:
        try:
            return [await service.call(body["call_id"]) for body in (held, lettered)]
        except Exception:
            return None

    held_record, lettered_record = await service.wait_for(recorded)
    assert (held_record.arm, held_record.fallback, held_record.callee_ciphertext) == ("holdout", None, None)
    assert (lettered_record.arm, lettered_record.fallback) == ("lettered", "alimtalk")
    async with service.sessions() as session:
        messages = (
            await session.execute(
                select(KakaoMessage.call_record_id).where(  # type: ignore[call-overload]
                    KakaoMessage.call_record_id.in_([held_record.id, lettered_record.id])  # type: ignore[union-attr]
                )
            )
        ).scalars()
        assert list(messages) == [lettered_record.id]
