"""Bounded and honest under load: setups past the admission limit are shed (answered at once,
recorded as shed, never pushed), a push whose ring window has passed is never started, and two
processes given the same delivery push it once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.app import create_app
from lettering.calls import service as call_service
from lettering.core.deps import lookup
from lettering.webhook.service import WebhookService
from tests.integration.callpath.conftest import TEST_HOLD_MS, Service, stall_database
from tests.live import serve, stop

pytestmark = [pytest.mark.integration, pytest.mark.serial]

LIMIT = 3


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"setup_max_unanswered": LIMIT}


def e164(national: str) -> str:
    return "+82" + national.replace("-", "")[1:]


async def limit_filled(service: Service) -> None:
    """Until the stalled setups hold the admission limit (they are admitted, not yet answered)."""
    webhooks = lookup(service.live.app.state, WebhookService)

    async def filled() -> bool:
        return bool(webhooks.unanswered == LIMIT)

    assert await service.wait_for(filled, timeout_s=TEST_HOLD_MS / 1000 / 2)


async def test_a_burst_past_the_admission_limit_is_shed_promptly_and_recorded(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first LIMIT setups are held in their local stage (their recording stalls past the hold
    # budget): they fill the admission limit, and the rest of the burst is shed.
    original = call_service.open_setup
    stalled = [service.event(callee_number=f"010-0{690 + i}-1230") for i in range(LIMIT)]
    stalled_ids = {body["call_id"] for body in stalled}
    stalled_until = time.monotonic() + TEST_HOLD_MS / 1000 + 0.5

    def stalled_open_setup(conn: Any, pbx_id: str, call_id: str, facts: Any) -> Any:
        if call_id in stalled_ids:  # in the database writer: the database is stalled until then
            stall_database(stalled_until - time.monotonic())
        return original(conn, pbx_id, call_id, facts)

    monkeypatch.setattr(call_service, "open_setup", stalled_open_setup)
    admitted = [asyncio.create_task(service.post(body)) for body in stalled]
    await limit_filled(service)
    burst = [service.event(callee_number=f"010-0{700 + i}-1230") for i in range(8)]
    started = time.monotonic()
    shed = await asyncio.gather(*(service.post(body) for body in burst))
    took = time.monotonic() - started
    assert [(r.status_code, r.json()["lettering"], r.json()["reason"]) for r in shed] == [
        (200, "skipped", "overloaded")
    ] * len(burst)
    assert took < TEST_HOLD_MS / 1000 / 2  # prompt: not held for the budget
    # Not recorded within the budget (the database stalled): refused, for the PBX to retry.
    assert [(r.status_code, r.json()["error"]) for r in await asyncio.gather(*admitted)] == [
        (503, "NotRecorded")
    ] * LIMIT

    async def all_recorded() -> bool:
        try:
            records = [await service.call(body["call_id"]) for body in burst]
        except Exception:
            return False
        return all(r.final_reason == "overloaded" for r in records)

    assert await service.wait_for(all_recorded)
    for body in burst:
        record = await service.call(body["call_id"])
        assert (record.lettering, record.reason, record.final_outcome) == ("skipped", "overloaded", "skipped")
        assert record.callee_hash == service.vault.hash(e164(body["callee_number"]))
        assert record.callee_ciphertext is None  # nothing will be sent: the number is not kept
        assert await service.attempts(record.id or 0) == []
        assert await service.pushes(e164(body["callee_number"])) == []
    # Once the stalled ones are processed, setups are admitted again.
    webhooks = lookup(service.live.app.state, WebhookService)

    async def room() -> bool:
        return bool(webhooks.unanswered < LIMIT)

    assert await service.wait_for(room, timeout_s=6)
    after = await service.post(service.event(callee_number="010-0710-1230"))
    assert after.json()["lettering"] == "accepted"


async def test_shed_calls_get_an_alimtalk_notice_when_their_agency_wants_one(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fallback_shed` on: each shed call is recorded with its outbox row (the number sealed for
    it), and still answered `skipped`/`overloaded` at once; a call from an extension the directory
    does not know gets no notice (nobody to say it is from)."""
    await service.set_agency("HANBIT", fallback_shed=True)

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
        asyncio.create_task(service.post(service.event(callee_number=f"010-0{730 + i}-1230")))
        for i in range(LIMIT)
    ]
    await limit_filled(service)
    burst = [service.event(callee_number=f"010-0{740 + i}-1230") for i in range(3)]
    unknown = service.event(callee_number="010-0750-1230", extension="9999")
    shed = await asyncio.gather(*(service.post(body) for body in [*burst, unknown]))
    assert [(r.json()["lettering"], r.json()["reason"]) for r in shed] == [("skipped", "overloaded")] * 4
    await asyncio.gather(*admitted)

    async def notices() -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for body in [*burst, unknown]:
            try:
                record = await service.call(body["call_id"])
            except Exception:
                return None
            async with service.sessions() as session:
                found[body["call_id"]] = (
                    record,
                    (
                        await session.execute(
                            select(KakaoMessage).where(KakaoMessage.call_record_id == record.id)  # type: ignore[arg-type]
                        )
                    ).scalar_one_or_none(),
                )
        return found

    found = await service.wait_for(notices)
    for body in burst:
        record, message = found[body["call_id"]]
        assert (record.lettering, record.final_outcome, record.final_reason, record.fallback) == (
            "skipped",
            "fallback",
            "overloaded",
            "alimtalk",
        )
        assert record.callee_ciphertext is not None  # kept for the notice, as for any fallback
        assert message is not None
        assert (message.kind, message.reason) == (
            "identity_notice",
            "overloaded",
        )  # the relay may have sent it
        assert message.recipient_hash == service.vault.hash(e164(body["callee_number"]))
        assert await service.pushes(e164(body["callee_number"])) == []
    record, message = found[unknown["call_id"]]
    assert (record.final_outcome, record.fallback, record.callee_ciphertext, message) == (
        "skipped",
        None,
        None,
        None,
    )


async def test_a_push_whose_ring_window_passed_is_not_started_nor_called_a_carrier_failure(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring_window_s = service.settings.carriers.ring_window_ms / 1000
    original = call_service.open_setup

    def late_open_setup(*args: Any, **kwargs: Any) -> Any:
        stall_database(ring_window_s + 0.2)  # recording took the whole ring window
        return original(*args, **kwargs)

    monkeypatch.setattr(call_service, "open_setup", late_open_setup)
    body = service.event(callee_number="010-0720-1230")
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = service.signed_headers(raw, msg_id="msg_ring_window_passed")
    reply = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert (reply.status_code, reply.json()["error"]) == (503, "NotRecorded")  # not recorded in time

    async def settled() -> Any:
        try:
            record = await service.call(body["call_id"])
        except Exception:
            return None
        return record if record.final_outcome is not None else None

    record = await service.wait_for(settled, timeout_s=ring_window_s + 6)
    assert record is not None
    assert (record.final_outcome, record.final_reason) == ("failed", "overloaded")
    assert await service.attempts(record.id or 0) == []
    assert await service.pushes(e164("010-0720-1230")) == []
    # The PBX's retry is told what was recorded: no push, and it was not the carriers' failure.
    again = await service.client.post("/v1/pbx/events", content=raw, headers=headers)
    assert (again.status_code, again.json()["lettering"], again.json()["reason"]) == (
        200,
        "failed",
        "overloaded",
    )


async def test_two_processes_given_one_delivery_push_it_once(service: Service) -> None:
    """The claim is an INSERT … ON CONFLICT in the transaction that records the call: of two
    services on one database receiving the same delivery at once, exactly one pushes."""
    other = serve(create_app(service.settings))
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=15) as second:
            for i in range(20):
                body = service.event(callee_number=f"010-0{730 + i}-1230")
                raw = json.dumps(body).encode()
                headers = service.signed_headers(raw)
                replies = await asyncio.gather(
                    service.client.post("/v1/pbx/events", content=raw, headers=headers),
                    second.post("/v1/pbx/events", content=raw, headers=headers),
                )
                # One is processed; the other waits for its stored answer (or, under a slow
                # machine, is told to retry): never a second push.
                assert sorted(r.status_code for r in replies) in ([200, 200], [200, 503])
                ok = [r.json() for r in replies if r.status_code == 200]
                assert all(o["lettering"] == ok[0]["lettering"] for o in ok)
            for i in range(20):
                assert len(await service.pushes(e164(f"010-0{730 + i}-1230"))) == 1
    finally:
        stop(other)
