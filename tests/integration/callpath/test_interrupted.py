"""A call whose push never got an outcome recorded (the process died, or the unit that records the
outcome failed, between recording the setup and recording the push) is settled by the
`dispatch.settle_interrupted` job: as a carrier failure by the agency's policy, its AlimTalk
notice queued when the policy wants one, so no fallback is lost with the process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from carriers.registry import build_carriers
from kakao_fallback.models import KakaoMessage
from lettering.directory.snapshot import build_directory_snapshot
from lettering.dispatch.service import Dispatcher
from lettering.optout.service import build_optout_index
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def _left_open(service: Service, monkeypatch: pytest.MonkeyPatch, callee: str) -> Any:
    """A setup whose outcome could not be recorded: the record of the setup stays open."""

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(Dispatcher, "record", broken)
        body = service.event(callee_number=callee)
        assert (await service.post(body)).status_code == 500  # the PBX got no answer: it retries
    record = await service.call(body["call_id"])
    assert (record.setup_received_at is not None, record.final_outcome) == (True, None)
    return record


async def _job(service: Service) -> Dispatcher:
    """The job's dispatcher on the service's database (the service runs in its own loop)."""
    async with service.sessions() as session:
        directory = await build_directory_snapshot(session)
        optout = await build_optout_index(session)
    return Dispatcher(
        service.sessions,
        build_carriers(service.settings),
        callback_url="",
        learned_route_days=30,
        directory=lambda: directory,
        kakao=service.settings.kakao,
        optout=lambda: optout,
    )


async def _outbox(service: Service, record_id: int) -> list[KakaoMessage]:
    async with service.sessions() as session:
        rows = await session.execute(select(KakaoMessage).where(KakaoMessage.call_record_id == record_id))  # type: ignore[arg-type]
        return list(rows.scalars())


async def test_a_call_left_open_is_settled_with_its_fallback(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = await _left_open(service, monkeypatch, "010-0604-1230")
    job = await _job(service)
    assert await job.settle_interrupted(older_than=timedelta(minutes=5)) == 0  # too recent to tell
    assert await job.settle_interrupted(older_than=timedelta(0)) == 1
    settled = await service.call(record.call_id)
    assert (settled.final_outcome, settled.final_reason, settled.fallback) == (
        "fallback",
        "interrupted",
        "alimtalk",
    )
    (message,) = await _outbox(service, settled.id or 0)
    assert (message.kind, message.reason) == ("identity_notice", "interrupted")  # the relay may have sent it
    assert await job.settle_interrupted(older_than=timedelta(0)) == 0  # once


async def test_without_the_carrier_failure_policy_it_is_settled_failed(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.set_agency("HANBIT", fallback_carrier_failure=False)
    record = await _left_open(service, monkeypatch, "010-0605-1230")
    job = await _job(service)
    assert await job.settle_interrupted(older_than=timedelta(0)) == 1
    settled = await service.call(record.call_id)
    assert (settled.final_outcome, settled.final_reason, settled.fallback) == ("failed", "interrupted", None)
    assert await _outbox(service, settled.id or 0) == []
