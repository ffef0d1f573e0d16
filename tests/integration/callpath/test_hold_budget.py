"""A `call.setup` is answered when the PBX's hold budget runs out, whatever holds the processing up
(a stalled database, a duplicate waiting for its first delivery); the processing goes on."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from lettering.calls import service as call_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

STALL_S = 2.5  # five times the default hold budget (500 ms)


@pytest.fixture
def stalled_database(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The first read of each call.setup stalls STALL_S; the event is set once a stall has ended."""
    ended = threading.Event()
    original = call_service.find_call

    async def slow_find_call(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(STALL_S)
        ended.set()
        return await original(*args, **kwargs)

    monkeypatch.setattr(call_service, "find_call", slow_find_call)
    return ended


async def test_a_stalled_setup_is_answered_pending_and_still_pushed_once(
    service: Service, stalled_database: threading.Event
) -> None:
    callee = "010-0600-1230"  # an SKT subscriber: accepted when processed
    body = service.event(callee_number=callee)
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = service.signed_headers(raw, msg_id="msg_stalled_setup")

    first = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    answered_before_the_stall_ended = not stalled_database.is_set()
    assert first.status_code == 200
    assert first.json()["lettering"] == "pending"
    assert answered_before_the_stall_ended
    # The PBX retries the same delivery while the first is still stalled: answered in time too.
    again = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert again.status_code == 200
    assert again.json()["lettering"] == "pending"

    async def pushed() -> list[dict[str, Any]]:
        record = None
        try:
            record = await service.call(body["call_id"])
        except Exception:
            return []
        if record.final_outcome is None:
            return []
        return await service.pushes("+82" + callee.replace("-", "")[1:])

    pushes = await service.wait_for(pushed, timeout_s=STALL_S * 4)
    assert len(pushes) == 1  # processed once, pushed once
    record = await service.call(body["call_id"])
    assert record.final_outcome == "accepted"
    # A retry after the processing ended gets the stored answer, and nothing is sent again.
    late = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert late.status_code == 200
    assert late.json()["call_id"] == body["call_id"]
    assert len(await service.pushes("+82" + callee.replace("-", "")[1:])) == 1


async def test_call_end_events_are_not_cut_short(service: Service, stalled_database: threading.Event) -> None:
    """Only the setup has a hold budget: a call.ended is answered once it is recorded."""
    body = service.event(callee_number="010-0601-1230")
    await service.post(body)  # (stalled, answered pending)
    ended = await service.post(
        service.event(
            "call.ended", call_id=body["call_id"], answered=True, talk_seconds=30, end_cause="normal"
        )
    )
    assert ended.status_code == 202
    assert ended.json() == {"call_id": body["call_id"], "recorded": True}
