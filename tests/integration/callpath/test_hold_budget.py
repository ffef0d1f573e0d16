"""A `call.setup` is answered when the PBX's hold budget runs out, whatever holds the processing up
(a stalled database, a duplicate waiting for its first delivery); the processing goes on. The answer
is `pending` once the setup is recorded, and a 503 the PBX retries while it is not."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy.exc import NoResultFound, OperationalError

from lettering.calls import service as call_service
from lettering.webhook import repository as webhook_repo
from tests.integration.callpath.conftest import TEST_HOLD_MS, Service, stall_database

pytestmark = [pytest.mark.integration, pytest.mark.serial]

STALL_S = 4.0  # well past the test PBX's hold budget (TEST_HOLD_MS, 1.5 s)


@pytest.fixture
def stalled_database(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The first write of each call.setup stalls STALL_S; the event is set once a stall has ended."""
    ended = threading.Event()
    original = call_service.open_setup

    def slow_open_setup(*args: Any, **kwargs: Any) -> Any:
        stall_database(STALL_S)
        ended.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(call_service, "open_setup", slow_open_setup)
    return ended


async def test_a_setup_not_recorded_within_the_budget_is_refused_and_still_pushed_once(
    service: Service, stalled_database: threading.Event
) -> None:
    """The database stalls before the setup's claim and call record commit: a `pending` (200) then
    would acknowledge what a crash could lose, and the PBX never retries a 200. So the setup is
    refused with 503 and Retry-After inside the budget; the processing goes on, and the PBX's retry
    of the same delivery gets its stored answer, with one push."""
    callee = "010-0600-1230"  # an SKT subscriber: accepted when processed
    body = service.event(callee_number=callee)
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = service.signed_headers(raw, msg_id="msg_stalled_setup")

    first = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    answered_before_the_stall_ended = not stalled_database.is_set()
    assert first.status_code == 503, first.text
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"] == "NotRecorded"
    assert answered_before_the_stall_ended
    # The PBX retries the same delivery while the first is still stalled: refused in time too.
    again = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert again.status_code == 503
    assert not stalled_database.is_set()

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
    # The retry after the processing ended gets the stored answer (`pending` when the push began
    # past the budget), and nothing is sent again.
    late = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert late.status_code == 200
    assert (late.json()["call_id"], late.json()["lettering"]) == (body["call_id"], record.lettering)
    assert len(await service.pushes("+82" + callee.replace("-", "")[1:])) == 1


async def test_call_end_events_wait_for_their_recording(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the setup has a hold budget: a call.ended is answered once it is recorded."""
    body = service.event(callee_number="010-0601-1230")
    assert (await service.post(body)).json()["lettering"] == "accepted"
    original = call_service.record_progress

    def slow_record_progress(*args: Any, **kwargs: Any) -> Any:
        stall_database(2.5)  # past the hold budget
        return original(*args, **kwargs)

    monkeypatch.setattr(call_service, "record_progress", slow_record_progress)
    ended = await service.post(
        service.event(
            "call.ended", call_id=body["call_id"], answered=True, talk_seconds=30, end_cause="normal"
        )
    )
    assert ended.status_code == 202
    assert ended.json() == {"call_id": body["call_id"], "recorded": True}
    record = await service.call(body["call_id"])  # recorded when answered, not later
    assert (record.end_cause, record.talk_seconds) == ("normal", 30)


async def test_an_outcome_whose_commit_fails_after_the_pending_answer_is_still_recorded(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The setup was recorded, then the unit recording its push's outcome stalled past the budget
    and failed: the PBX got 200 `pending` and will not retry, so the service commits the outcome
    again (the push is not repeated: processing the delivery afresh would never learn it)."""
    original = webhook_repo.store_reply
    calls = {"n": 0}

    def stall_then_fail_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the unit that records the push's outcome
            stall_database(TEST_HOLD_MS / 1000 + 1.0)  # past the hold budget
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        return original(*args, **kwargs)

    monkeypatch.setattr(webhook_repo, "store_reply", stall_then_fail_once)
    callee = "010-0602-1230"
    body = service.event(callee_number=callee)
    reply = await service.post(body)
    assert (reply.status_code, reply.json()["lettering"]) == (200, "pending")

    async def recorded() -> Any:
        try:
            record = await service.call(body["call_id"])
        except NoResultFound:
            return None
        return record if record.final_outcome is not None else None

    record = await service.wait_for(recorded, timeout_s=8)
    assert record is not None, "the setup was dropped after its pending answer"
    assert record.final_outcome == "accepted"
    assert calls["n"] >= 2
    assert len(await service.pushes("+82" + callee.replace("-", "")[1:])) == 1


async def test_a_setup_failing_before_it_is_recorded_is_refused_and_the_retry_processed(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's unit stalls past the budget and fails: the PBX got 503 (nothing was
    acknowledged), the claim is released, and the PBX's retry is processed afresh and pushed once."""
    original = call_service.open_setup
    calls = {"n": 0}

    def stall_then_fail_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            stall_database(TEST_HOLD_MS / 1000 + 1.0)  # past the hold budget
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return original(*args, **kwargs)

    monkeypatch.setattr(call_service, "open_setup", stall_then_fail_once)
    callee = "010-0604-1230"
    body = service.event(callee_number=callee)
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = service.signed_headers(raw, msg_id="msg_fails_before_record")
    first = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert (first.status_code, first.headers.get("retry-after")) == (503, "1")

    async def retried() -> Any:
        reply = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
        return reply if reply.status_code == 200 else None

    reply = await service.wait_for(retried, timeout_s=8)
    assert reply is not None, "the retry was never processed"
    assert reply.json()["lettering"] == "accepted"
    record = await service.call(body["call_id"])
    assert record.final_outcome == "accepted"
    assert calls["n"] == 2
    assert len(await service.pushes("+82" + callee.replace("-", "")[1:])) == 1


async def test_an_outcome_committed_after_the_budget_ran_out_is_recorded_as_pending(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push was quick but its outcome's commit was slow: the PBX got `pending` when the hold
    budget ran out, so the record and the stored reply say `pending` (what the PBX was told) and a
    copy of the delivery is answered the same, word for word; the outcome itself is still kept."""
    original = webhook_repo.store_reply
    calls = {"n": 0}

    def slow_first_store(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the unit that records the push's outcome
            stall_database(TEST_HOLD_MS / 1000 + 0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(webhook_repo, "store_reply", slow_first_store)
    body = service.event(callee_number="010-0603-1230")  # an SKT subscriber: accepted
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = service.signed_headers(raw, msg_id="msg_slow_outcome_commit")
    first = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert first.json()["lettering"] == "pending"

    async def settled() -> Any:
        # Until the record says what the PBX was told. The count of store_reply calls alone is no
        # sign: it goes up when the correcting unit starts, before that unit has committed.
        record = await service.call(body["call_id"])
        return record.final_outcome is not None and record.lettering == "pending"

    await service.wait_for(settled, timeout_s=10)
    record = await service.call(body["call_id"])
    assert (record.lettering, record.final_outcome) == ("pending", "accepted")
    assert calls["n"] >= 2
    again = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert again.json() == first.json()
